package models

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// SmallCell is the fewest organisations a published cell may count: a smaller count
// is shown as "< 5", so that nobody can be recognised.
const SmallCell = 5

// FirstStatsYear is the earliest year a report may be asked for.
const FirstStatsYear = 2020

// StatsReport is the yearly review: who applied during the year, what was decided and
// how spaces ended, month by month, and the fleet as it stands now.
type StatsReport struct {
	Year        int       `json:"year"`
	GeneratedAt time.Time `json:"generated_at"`
	// SmallCell is the threshold under which counts are withheld.
	SmallCell int `json:"small_cell"`
	// Applications counts the applications submitted during the year: the base of the
	// breakdowns of organisations.
	Applications int64          `json:"applications"`
	Breakdowns   []Breakdown    `json:"breakdowns"`
	Monthly      []MonthFigures `json:"monthly"`
	Fleet        FleetFigures   `json:"fleet"`
	FleetTables  []Breakdown    `json:"fleet_breakdowns"`
}

// Breakdown is one table of the review: organisations (or spaces, or events) by one
// answer. Percentages are of Base; with several answers per organisation (Multiple)
// they add up to more than 100.
type Breakdown struct {
	Key      string `json:"key"`
	Title    string `json:"title"`
	Base     int64  `json:"base"`
	Multiple bool   `json:"multiple,omitempty"`
	Cells    []Cell `json:"cells"`
}

// Cell is one line of a breakdown. A withheld cell has neither count nor percentage:
// Small when it counts fewer than SmallCell, Hidden when it is withheld only so that a
// small cell cannot be worked out from the total.
type Cell struct {
	Code    string   `json:"code"`
	Label   string   `json:"label"`
	Count   *int64   `json:"count,omitempty"`
	Percent *float64 `json:"percent,omitempty"`
	Small   bool     `json:"small,omitempty"`
	Hidden  bool     `json:"hidden,omitempty"`
}

// MonthFigures are the events of one month.
type MonthFigures struct {
	Month         string `json:"month"` // "2026-03"
	Applications  int64  `json:"applications"`
	Decisions     int64  `json:"decisions"` // holds, acceptances and rejections
	SpacesCreated int64  `json:"spaces_created"`
	SpacesDeleted int64  `json:"spaces_deleted"`
}

// FleetFigures are the spaces as they stand when the report is made. Usage comes from
// the last quota rebalance; spaces it has not measured yet are left out of the means.
type FleetFigures struct {
	Active      int64 `json:"spaces_active"`
	Deactivated int64 `json:"spaces_deactivated"`
	// Rejected, Withdrawn and Deleted count every application and space since the
	// statistics were first kept, purged or not.
	Rejected  int64 `json:"applications_rejected"`
	Withdrawn int64 `json:"applications_withdrawn"`
	Deleted   int64 `json:"spaces_deleted"`
	// Measured counts the spaces in service whose usage was recorded.
	Measured       int64   `json:"spaces_measured"`
	Accounts       int64   `json:"accounts_total"`
	AccountsMean   float64 `json:"accounts_mean"`
	AccountsMedian float64 `json:"accounts_median"`
	StorageBytes   int64   `json:"storage_bytes"`
	StorageMean    int64   `json:"storage_bytes_mean"`
	WithData       int64   `json:"spaces_with_data"`
	AboveOneGB     int64   `json:"spaces_above_1gb"`
	UsedLast3Days  int64   `json:"spaces_used_last_3_days"`
	UsedLast15Days int64   `json:"spaces_used_last_15_days"`
}

// Breakdown returns the breakdown of the report with this key, or nil.
func (r *StatsReport) Breakdown(key string) *Breakdown {
	for i := range r.Breakdowns {
		if r.Breakdowns[i].Key == key {
			return &r.Breakdowns[i]
		}
	}
	for i := range r.FleetTables {
		if r.FleetTables[i].Key == key {
			return &r.FleetTables[i]
		}
	}
	return nil
}

// Cell returns the cell of this code, or nil.
func (b *Breakdown) Cell(code string) *Cell {
	for i := range b.Cells {
		if b.Cells[i].Code == code {
			return &b.Cells[i]
		}
	}
	return nil
}

// ValidateStatsYear checks the year a report is asked for, as of now.
func ValidateStatsYear(year int, now time.Time) error {
	if last := now.In(Paris).Year(); year < FirstStatsYear || year > last {
		return FieldError("year", "doit être une année entre %d et %d", FirstStatsYear, last)
	}
	return nil
}

// Storage bands of the fleet (DOMAIN.md: under 20 % of the spaces above 1 GB).
var storageBands = []Band{{"0", 0, 0}, {"1-100mb", 1, 100 << 20}, {"100mb-1gb", 100<<20 + 1, 1 << 30},
	{"1-10gb", 1<<30 + 1, 10 << 30}, {"10gb+", 10<<30 + 1, -1}}

// dimension is one breakdown of the applications of the year: its codes, and the SQL
// expression giving an application's code (several rows for a multiple answer).
type dimension struct {
	key, title string
	codes      []string
	expr       string // over the year's rows "y"
	from       string // rows to count; default the year's applications
	multiple   bool
}

func (d dimension) sql() string {
	from := d.from
	if from == "" {
		from = "y"
	}
	return fmt.Sprintf("SELECT '%s' AS dim, (%s)::text AS code, count(*) AS n FROM %s GROUP BY 2", d.key, d.expr, from)
}

func codesOf[T ~string](values []T) []string {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = string(v)
	}
	return s
}

func bandCodes(bands []Band) []string {
	s := make([]string, len(bands))
	for i, b := range bands {
		s[i] = b.Code
	}
	return s
}

// yearDimensions are the breakdowns of the applications submitted during the year,
// and of the decisions and ends of the year.
func yearDimensions(year int) []dimension {
	inYear := func(column string) string {
		return fmt.Sprintf("stats_records WHERE %s BETWEEN %d AND %d", column, year*100+1, year*100+12)
	}
	return []dimension{
		{key: "organization_type", title: "Organisations par type", codes: codesOf(OrganizationTypes), expr: "organization_type"},
		{key: "sectors", title: "Organisations par secteur d'activité", codes: Sectors, expr: "sector",
			from: "y, unnest(y.sectors) AS sector", multiple: true},
		{key: "founded_period", title: "Organisations par année de création", codes: FoundedPeriods(year), expr: "founded_period"},
		{key: "employees", title: "Organisations par nombre de salariés", codes: bandCodes(EmployeeBands), expr: "employees_band"},
		{key: "members", title: "Organisations par nombre de membres", codes: bandCodes(MemberBands), expr: "members_band"},
		{key: "beneficiaries", title: "Organisations par nombre de bénéficiaires", codes: bandCodes(BeneficiaryBands), expr: "beneficiaries_band"},
		{key: "budget", title: "Organisations par budget annuel", codes: append(bandCodes(BudgetBands), BudgetNotGiven), expr: "budget_band"},
		{key: "accounts_requested", title: "Comptes demandés", codes: bandCodes(AccountBands), expr: bandCase("accounts_requested", AccountBands)},
		{key: "office_suite_requested", title: "Suite bureautique demandée", codes: codesOf(OfficeSuites), expr: "office_suite"},
		{key: "outcome", title: "Suite donnée aux demandes de l'année", codes: codesOf(StatsOutcomes), expr: "outcome"},
		{key: "decisions", title: "Décisions de l'année", codes: []string{string(OutcomeOnHold), string(OutcomeAccepted), string(OutcomeRejected)},
			expr: "d.outcome", from: "(SELECT outcome::text FROM " + inYear("decided_month") +
				" UNION ALL SELECT 'on_hold' FROM " + inYear("held_month") + ") AS d"},
		{key: "deactivations", title: "Désactivations de l'année", codes: StatsDeactivationCauses, expr: "deactivation_cause", from: inYear("deactivated_month")},
		{key: "ends", title: "Fins de l'année", codes: StatsEndCauses, expr: "end_cause", from: inYear("end_month")},
	}
}

// fleetDimensions are the breakdowns of the spaces in service now.
func fleetDimensions() []dimension {
	measured := "spaces WHERE status IN ('active', 'deactivated') AND usage_at IS NOT NULL"
	return []dimension{
		{key: "deactivated_now", title: "Espaces désactivés, par cause", codes: StatsDeactivationCauses,
			expr: "deactivation_cause", from: "stats_records WHERE state = 'deactivated'"},
		{key: "accounts", title: "Espaces par nombre de comptes", codes: append([]string{"0"}, bandCodes(AccountBands)...),
			expr: strings.Replace(bandCase("accounts", AccountBands), "ELSE ''", "ELSE '0'", 1), from: measured},
		{key: "storage", title: "Espaces par espace disque occupé", codes: bandCodes(storageBands),
			expr: bandCase("storage_used_bytes", storageBands), from: measured},
		{key: "office_suite", title: "Suite bureautique des espaces", codes: codesOf(OfficeSuites),
			expr: "office_suite", from: "spaces WHERE status IN ('active', 'deactivated')"},
	}
}

// YearlyStats computes the review of year as of now: every breakdown with counts and
// percentages (small cells withheld), the monthly series, and the fleet now.
func YearlyStats(ctx context.Context, db *gorm.DB, year int, now time.Time) (*StatsReport, error) {
	if err := ValidateStatsYear(year, now); err != nil {
		return nil, err
	}
	db = db.WithContext(ctx)
	r := &StatsReport{Year: year, GeneratedAt: now.UTC(), SmallCell: SmallCell}
	from, to := year*100+1, year*100+12
	if err := db.Raw("SELECT count(*) FROM stats_records WHERE submitted_month BETWEEN ? AND ?", from, to).
		Scan(&r.Applications).Error; err != nil {
		return nil, fmt.Errorf("statistics of %d: applications: %w", year, err)
	}
	dims := yearDimensions(year)
	parts := make([]string, 0, len(dims)+4)
	for _, d := range append(dims, fleetDimensions()...) {
		parts = append(parts, d.sql())
	}
	query := fmt.Sprintf("WITH y AS MATERIALIZED (SELECT * FROM stats_records WHERE submitted_month BETWEEN %d AND %d) %s",
		from, to, strings.Join(parts, " UNION ALL "))
	var rows []struct {
		Dim, Code string
		N         int64
	}
	if err := db.Raw(query).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("statistics of %d: breakdowns: %w", year, err)
	}
	counts := map[string]map[string]int64{}
	for _, row := range rows {
		if counts[row.Dim] == nil {
			counts[row.Dim] = map[string]int64{}
		}
		counts[row.Dim][row.Code] += row.N
	}
	for _, d := range dims {
		base := r.Applications
		if d.from != "" && !d.multiple {
			base = sum(counts[d.key])
		}
		r.Breakdowns = append(r.Breakdowns, newBreakdown(d, counts[d.key], base))
	}
	if err := r.fleet(db, now, counts); err != nil {
		return nil, fmt.Errorf("statistics of %d: %w", year, err)
	}
	if err := r.monthly(db); err != nil {
		return nil, fmt.Errorf("statistics of %d: %w", year, err)
	}
	return r, nil
}

func (r *StatsReport) fleet(db *gorm.DB, now time.Time, counts map[string]map[string]int64) error {
	var f struct {
		FleetFigures
		Median *float64
	}
	err := db.Raw(`SELECT
		count(*) FILTER (WHERE status = 'active') AS active,
		count(*) FILTER (WHERE status = 'deactivated') AS deactivated,
		(SELECT count(*) FROM stats_records WHERE outcome = 'rejected') AS rejected,
		(SELECT count(*) FROM stats_records WHERE outcome = 'withdrawn') AS withdrawn,
		(SELECT count(*) FROM stats_records WHERE end_cause LIKE 'deleted%') AS deleted,
		count(*) FILTER (WHERE m) AS measured,
		coalesce(sum(accounts) FILTER (WHERE m), 0) AS accounts,
		percentile_cont(0.5) WITHIN GROUP (ORDER BY accounts) FILTER (WHERE m) AS median,
		coalesce(sum(storage_used_bytes) FILTER (WHERE m), 0) AS storage_bytes,
		count(*) FILTER (WHERE m AND storage_used_bytes > 0) AS with_data,
		count(*) FILTER (WHERE m AND storage_used_bytes > ?) AS above_one_gb,
		count(*) FILTER (WHERE s AND last_activity_at >= ?) AS used_last3_days,
		count(*) FILTER (WHERE s AND last_activity_at >= ?) AS used_last15_days
		FROM (SELECT *, status IN ('active', 'deactivated') AS s,
			status IN ('active', 'deactivated') AND usage_at IS NOT NULL AS m FROM spaces) AS spaces`,
		int64(1<<30), now.Add(-3*24*time.Hour), now.Add(-15*24*time.Hour)).Scan(&f).Error
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	r.Fleet = f.FleetFigures
	if f.Median != nil {
		r.Fleet.AccountsMedian = *f.Median
	}
	if f.Measured > 0 {
		r.Fleet.AccountsMean = round1(float64(f.Accounts) / float64(f.Measured))
		r.Fleet.StorageMean = f.StorageBytes / f.Measured
	}
	for _, d := range fleetDimensions() {
		r.FleetTables = append(r.FleetTables, newBreakdown(d, counts[d.key], sum(counts[d.key])))
	}
	return nil
}

func (r *StatsReport) monthly(db *gorm.DB) error {
	from, to := r.Year*100+1, r.Year*100+12
	var rows []struct {
		Series string
		Month  int
		N      int64
	}
	err := db.Raw(`SELECT 'applications' AS series, submitted_month AS month, count(*) AS n FROM stats_records WHERE submitted_month BETWEEN @from AND @to GROUP BY 2
		UNION ALL SELECT 'decisions', decided_month, count(*) FROM stats_records WHERE decided_month BETWEEN @from AND @to GROUP BY 2
		UNION ALL SELECT 'decisions', held_month, count(*) FROM stats_records WHERE held_month BETWEEN @from AND @to GROUP BY 2
		UNION ALL SELECT 'created', created_month, count(*) FROM stats_records WHERE created_month BETWEEN @from AND @to GROUP BY 2
		UNION ALL SELECT 'deleted', end_month, count(*) FROM stats_records WHERE end_month BETWEEN @from AND @to AND end_cause LIKE 'deleted%' GROUP BY 2`,
		map[string]any{"from": from, "to": to}).Scan(&rows).Error
	if err != nil {
		return fmt.Errorf("monthly series: %w", err)
	}
	r.Monthly = make([]MonthFigures, 12)
	for i := range r.Monthly {
		r.Monthly[i].Month = monthLabel(from + i)
	}
	for _, row := range rows {
		m := &r.Monthly[row.Month-from]
		switch row.Series {
		case "applications":
			m.Applications += row.N
		case "decisions":
			m.Decisions += row.N
		case "created":
			m.SpacesCreated += row.N
		case "deleted":
			m.SpacesDeleted += row.N
		}
	}
	return nil
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// newBreakdown builds the cells of d from its counts, withholding small ones. When the
// cells add up to the base, a single withheld cell could be worked out from the others:
// the smallest count shown is withheld with it.
func newBreakdown(d dimension, counts map[string]int64, base int64) Breakdown {
	b := Breakdown{Key: d.key, Title: d.title, Base: base, Multiple: d.multiple}
	codes := slices.Clone(d.codes)
	for code := range counts { // a code no longer offered still counts
		if !slices.Contains(codes, code) {
			codes = append(codes, code)
		}
	}
	slices.Sort(codes[len(d.codes):])
	small := 0
	for _, code := range codes {
		n := counts[code]
		c := Cell{Code: code, Label: StatsLabel(d.key, code)}
		if n > 0 && n < SmallCell {
			c.Small = true
			small++
		} else {
			c.Count = &n
			if base > 0 {
				p := round1(100 * float64(n) / float64(base))
				c.Percent = &p
			}
		}
		b.Cells = append(b.Cells, c)
	}
	if small == 1 && !d.multiple {
		smallest := -1
		for i, c := range b.Cells {
			if c.Count != nil && *c.Count > 0 && (smallest < 0 || *c.Count < *b.Cells[smallest].Count) {
				smallest = i
			}
		}
		if smallest >= 0 {
			b.Cells[smallest] = Cell{Code: b.Cells[smallest].Code, Label: b.Cells[smallest].Label, Hidden: true}
		}
	}
	return b
}
