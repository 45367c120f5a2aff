package models

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Words of the CSV for withheld cells.
const (
	csvSmall  = "< 5"
	csvHidden = "masqué"
)

// WriteCSV writes the report as one CSV, a table after another, separated by an empty
// line, with French headers: ';' between fields and a decimal comma, as French
// spreadsheets expect, and a byte order mark so that they read it as UTF-8.
func (r *StatsReport) WriteCSV(w io.Writer) error {
	if _, err := io.WriteString(w, "\ufeff"); err != nil {
		return fmt.Errorf("write statistics CSV: %w", err)
	}
	cw := csv.NewWriter(w)
	cw.Comma = ';'
	generated, _ := FrenchDateTime(r.GeneratedAt)
	records := [][]string{
		{fmt.Sprintf("Statistiques de l'année %d", r.Year)},
		{"Établies le", generated},
		{"Demandes de l'année", strconv.FormatInt(r.Applications, 10)},
		{fmt.Sprintf("Les effectifs de moins de %d organisations sont indiqués « %s » ; « %s » : masqué pour que ce nombre ne puisse pas se déduire du total", SmallCell, csvSmall, csvHidden)},
		{},
	}
	for _, b := range r.Breakdowns {
		records = append(records, breakdownCSV(b)...)
	}
	records = append(records, []string{"Demandes, décisions et espaces par mois"},
		[]string{"Mois", "Demandes", "Décisions", "Espaces créés", "Espaces supprimés"})
	for _, m := range r.Monthly {
		records = append(records, []string{m.Month, itoa(m.Applications), itoa(m.Decisions), itoa(m.SpacesCreated), itoa(m.SpacesDeleted)})
	}
	f := r.Fleet
	records = append(records, []string{},
		[]string{"Les espaces aujourd'hui"},
		[]string{"Indicateur", "Valeur"},
		[]string{"Espaces actifs", itoa(f.Active)},
		[]string{"Espaces désactivés", itoa(f.Deactivated)},
		[]string{"Demandes refusées", itoa(f.Rejected)},
		[]string{"Demandes retirées", itoa(f.Withdrawn)},
		[]string{"Espaces supprimés", itoa(f.Deleted)},
		[]string{"Espaces dont l'usage est mesuré", itoa(f.Measured)},
		[]string{"Comptes", itoa(f.Accounts)},
		[]string{"Comptes par espace, moyenne", decimal(f.AccountsMean)},
		[]string{"Comptes par espace, médiane", decimal(f.AccountsMedian)},
		[]string{"Espace disque occupé (octets)", itoa(f.StorageBytes)},
		[]string{"Espace disque par espace, moyenne (octets)", itoa(f.StorageMean)},
		[]string{"Espaces contenant des fichiers", itoa(f.WithData)},
		[]string{"Espaces de plus de 1 Go", itoa(f.AboveOneGB)},
		[]string{"Espaces utilisés dans les 3 derniers jours", itoa(f.UsedLast3Days)},
		[]string{"Espaces utilisés dans les 15 derniers jours", itoa(f.UsedLast15Days)},
		[]string{})
	for _, b := range r.FleetTables {
		records = append(records, breakdownCSV(b)...)
	}
	if err := cw.WriteAll(records); err != nil {
		return fmt.Errorf("write statistics CSV: %w", err)
	}
	return nil
}

// breakdownCSV is one table: its title, its header, its cells, an empty line.
func breakdownCSV(b Breakdown) [][]string {
	title := fmt.Sprintf("%s (sur %d)", b.Title, b.Base)
	if b.Multiple {
		title = fmt.Sprintf("%s (sur %d organisations, plusieurs réponses possibles)", b.Title, b.Base)
	}
	out := [][]string{{title}, {"Catégorie", "Nombre", "Part (%)"}}
	for _, c := range b.Cells {
		switch {
		case c.Small:
			out = append(out, []string{c.Label, csvSmall, ""})
		case c.Hidden:
			out = append(out, []string{c.Label, csvHidden, ""})
		default:
			pct := ""
			if c.Percent != nil {
				pct = decimal(*c.Percent)
			}
			out = append(out, []string{c.Label, itoa(*c.Count), pct})
		}
	}
	return append(out, []string{})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// decimal writes a figure with one decimal and a decimal comma: "4,8".
func decimal(v float64) string {
	return strings.Replace(strconv.FormatFloat(v, 'f', 1, 64), ".", ",", 1)
}
