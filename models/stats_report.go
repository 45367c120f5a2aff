package models

import (
	"context"
	"database/sql"
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

// dimension is one breakdown: its codes, and for the answers of the form and the
// fleet, the SQL expression giving a row's code.
type dimension struct {
	key, title string
	codes      []string
	expr       string
	multiple   bool
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

// answerDimensions are the breakdowns of the applications submitted during the year,
// counted by one pass over their records; the sectors, several per organisation, by
// another.
func answerDimensions(year int) []dimension {
	return []dimension{
		{key: "organization_type", title: "Organisations par type", codes: codesOf(OrganizationTypes), expr: "organization_type"},
		{key: "founded_period", title: "Organisations par année de création", codes: FoundedPeriods(year), expr: "founded_period"},
		{key: "employees", title: "Organisations par nombre de salariés", codes: bandCodes(EmployeeBands), expr: "employees_band"},
		{key: "members", title: "Organisations par nombre de membres", codes: bandCodes(MemberBands), expr: "members_band"},
		{key: "beneficiaries", title: "Organisations par nombre de bénéficiaires", codes: bandCodes(BeneficiaryBands), expr: "beneficiaries_band"},
		{key: "budget", title: "Organisations par budget annuel", codes: append(bandCodes(BudgetBands), BudgetNotGiven), expr: "budget_band"},
		{key: "accounts_requested", title: "Comptes demandés", codes: bandCodes(AccountBands), expr: bandCase("accounts_requested", AccountBands)},
		{key: "office_suite_requested", title: "Suite bureautique demandée", codes: codesOf(OfficeSuites), expr: "office_suite"},
		{key: "outcome", title: "Suite donnée aux demandes de l'année", codes: codesOf(StatsOutcomes), expr: "outcome"},
	}
}

var (
	sectorsDimension = dimension{key: "sectors", title: "Organisations par secteur d'activité", codes: Sectors, multiple: true}
	// The events of the year, counted from the months they happened in.
	decisionsDimension = dimension{key: "decisions", title: "Décisions de l'année",
		codes: []string{string(OutcomeOnHold), string(OutcomeAccepted), string(OutcomeRejected)}}
	deactivationsDimension = dimension{key: "deactivations", title: "Désactivations de l'année", codes: StatsDeactivationCauses}
	endsDimension          = dimension{key: "ends", title: "Fins de l'année", codes: StatsEndCauses}
	deactivatedNow         = dimension{key: "deactivated_now", title: "Espaces désactivés, par cause", codes: StatsDeactivationCauses}
)

// fleetDimensions are the breakdowns of the spaces in service now; the accounts and
// storage ones count only the spaces the quota rebalance has measured.
func fleetDimensions() []dimension {
	measured := func(expr string) string {
		return "CASE WHEN usage_at IS NOT NULL THEN " + expr + " END"
	}
	return []dimension{
		{key: "accounts", title: "Espaces par nombre de comptes", codes: append([]string{"0"}, bandCodes(AccountBands)...),
			expr: measured(strings.Replace(bandCase("accounts", AccountBands), "ELSE ''", "ELSE '0'", 1))},
		{key: "storage", title: "Espaces par espace disque occupé", codes: bandCodes(storageBands),
			expr: measured(bandCase("storage_used_bytes", storageBands))},
		{key: "office_suite", title: "Suite bureautique des espaces", codes: codesOf(OfficeSuites), expr: "office_suite::text"},
	}
}

// countByGroupingSets counts the rows of from by each of dims in one pass (GROUPING
// SETS), into counts[dim][code]. A NULL code (a row a dimension leaves out) is skipped.
func countByGroupingSets(db *gorm.DB, from string, dims []dimension, counts map[string]map[string]int64, args ...any) error {
	cols := make([]string, len(dims))
	sets := make([]string, len(dims))
	for i, d := range dims {
		cols[i] = fmt.Sprintf("(%s)::text", d.expr)
		sets[i] = "(" + d.expr + ")"
	}
	rows, err := db.Raw(fmt.Sprintf("SELECT %s, count(*) FROM %s GROUP BY GROUPING SETS (%s)",
		strings.Join(cols, ", "), from, strings.Join(sets, ", ")), args...).Rows()
	if err != nil {
		return err
	}
	defer rows.Close()
	codes := make([]sql.NullString, len(dims))
	dest := make([]any, len(dims)+1)
	for i := range codes {
		dest[i] = &codes[i]
	}
	var n int64
	dest[len(dims)] = &n
	for rows.Next() {
		for i := range codes {
			codes[i] = sql.NullString{}
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		// The row of a set has the codes of the other sets NULL; a code NULL in its own
		// set is a row left out.
		for i, c := range codes {
			if c.Valid {
				add(counts, dims[i].key, c.String, n)
				break
			}
		}
	}
	return rows.Err()
}

func add(counts map[string]map[string]int64, key, code string, n int64) {
	if counts[key] == nil {
		counts[key] = map[string]int64{}
	}
	counts[key][code] += n
}

// YearlyStats computes the review of year as of now: every breakdown with counts and
// percentages (small cells withheld), the monthly series, and the fleet now.
func YearlyStats(ctx context.Context, db *gorm.DB, year int, now time.Time) (*StatsReport, error) {
	if err := ValidateStatsYear(year, now); err != nil {
		return nil, err
	}
	r, err := yearlyStats(db.WithContext(ctx), year, now)
	if err != nil {
		return nil, fmt.Errorf("statistics of %d: %w", year, err)
	}
	return r, nil
}

// yearlyStats reads every figure in one read-only transaction, so that they all
// describe the same moment.
func yearlyStats(db *gorm.DB, year int, now time.Time) (r *StatsReport, err error) {
	err = db.Transaction(func(tx *gorm.DB) error {
		r, err = readYearlyStats(tx, year, now)
		return err
	}, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	return r, err
}

func readYearlyStats(db *gorm.DB, year int, now time.Time) (*StatsReport, error) {
	r := &StatsReport{Year: year, GeneratedAt: now.UTC(), SmallCell: SmallCell, Monthly: make([]MonthFigures, 12)}
	first := year*100 + 1
	for i := range r.Monthly {
		r.Monthly[i].Month = monthLabel(first + i)
	}
	counts := map[string]map[string]int64{}
	if err := r.answers(db, counts); err != nil {
		return nil, fmt.Errorf("applications: %w", err)
	}
	if err := r.events(db, counts); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	if err := r.fleet(db, now, counts); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	for _, d := range answerDimensions(year) {
		r.Breakdowns = append(r.Breakdowns, newBreakdown(d, counts[d.key], r.Applications))
		if d.key == "organization_type" {
			r.Breakdowns = append(r.Breakdowns, newBreakdown(sectorsDimension, counts[sectorsDimension.key], r.Applications))
		}
	}
	for _, d := range []dimension{decisionsDimension, deactivationsDimension, endsDimension} {
		r.Breakdowns = append(r.Breakdowns, newBreakdown(d, counts[d.key], sum(counts[d.key])))
	}
	r.FleetTables = append(r.FleetTables, newBreakdown(deactivatedNow, counts[deactivatedNow.key], sum(counts[deactivatedNow.key])))
	for _, d := range fleetDimensions() {
		r.FleetTables = append(r.FleetTables, newBreakdown(d, counts[d.key], sum(counts[d.key])))
	}
	return r, nil
}

// answers counts the applications submitted during the year by each answer, and month
// by month.
func (r *StatsReport) answers(db *gorm.DB, counts map[string]map[string]int64) error {
	first, last := r.Year*100+1, r.Year*100+12
	dims := append(answerDimensions(r.Year), dimension{key: "month", expr: "submitted_month"})
	if err := countByGroupingSets(db, "stats_records WHERE submitted_month BETWEEN ? AND ?", dims, counts, first, last); err != nil {
		return err
	}
	for code, n := range counts["month"] {
		var m int
		fmt.Sscan(code, &m)
		r.Monthly[m-first].Applications += n
		r.Applications += n
	}
	var sectors []struct {
		Sector string
		N      int64
	}
	if err := db.Raw(`SELECT sector, count(*) AS n FROM stats_records, unnest(sectors) AS sector
		WHERE submitted_month BETWEEN ? AND ? GROUP BY 1`, first, last).Scan(&sectors).Error; err != nil {
		return err
	}
	for _, s := range sectors {
		add(counts, sectorsDimension.key, s.Sector, s.N)
	}
	return nil
}

// events counts what happened during the year: decisions, spaces created, deactivated
// and ended, from the records with an event in it; and what the records say now.
func (r *StatsReport) events(db *gorm.DB, counts map[string]map[string]int64) error {
	first, last := r.Year*100+1, r.Year*100+12
	in := func(m int) bool { return m >= first && m <= last }
	var rows []struct {
		HeldMonth, DecidedMonth, CreatedMonth, DeactivatedMonth, EndMonth int
		Outcome, DeactivationCause, EndCause                              string
		N                                                                 int64
	}
	err := db.Raw(`SELECT held_month, decided_month, created_month, deactivated_month, end_month,
		outcome, deactivation_cause, end_cause, count(*) AS n FROM stats_records
		WHERE held_month BETWEEN @first AND @last OR decided_month BETWEEN @first AND @last
			OR created_month BETWEEN @first AND @last OR deactivated_month BETWEEN @first AND @last
			OR end_month BETWEEN @first AND @last
		GROUP BY 1, 2, 3, 4, 5, 6, 7, 8`, map[string]any{"first": first, "last": last}).Scan(&rows).Error
	if err != nil {
		return err
	}
	for _, row := range rows {
		if in(row.HeldMonth) {
			add(counts, decisionsDimension.key, string(OutcomeOnHold), row.N)
			r.Monthly[row.HeldMonth-first].Decisions += row.N
		}
		if in(row.DecidedMonth) {
			add(counts, decisionsDimension.key, row.Outcome, row.N)
			r.Monthly[row.DecidedMonth-first].Decisions += row.N
		}
		if in(row.CreatedMonth) {
			r.Monthly[row.CreatedMonth-first].SpacesCreated += row.N
		}
		if in(row.DeactivatedMonth) {
			add(counts, deactivationsDimension.key, row.DeactivationCause, row.N)
		}
		if in(row.EndMonth) {
			add(counts, endsDimension.key, row.EndCause, row.N)
			if row.EndCause != StatsEndWithdrawn {
				r.Monthly[row.EndMonth-first].SpacesDeleted += row.N
			}
		}
	}
	// Since the statistics were first kept, purged or not; the index on state and
	// cause answers it alone.
	var all []struct {
		State             Status
		DeactivationCause string
		N                 int64
	}
	if err := db.Raw(`SELECT state, deactivation_cause, count(*) AS n FROM stats_records
		WHERE state IN ?
		GROUP BY 1, 2`, []Status{StatusRejected, StatsWithdrawn, StatusDeleted, StatusDeactivated}).Scan(&all).Error; err != nil {
		return err
	}
	for _, row := range all {
		switch row.State {
		case StatusRejected:
			r.Fleet.Rejected += row.N
		case StatsWithdrawn:
			r.Fleet.Withdrawn += row.N
		case StatusDeleted:
			r.Fleet.Deleted += row.N
		case StatusDeactivated:
			add(counts, deactivatedNow.key, row.DeactivationCause, row.N)
		}
	}
	return nil
}

// fleet reads the spaces in service now: their number, their usage as the quota
// rebalance last measured it, and their last activity.
func (r *StatsReport) fleet(db *gorm.DB, now time.Time, counts map[string]map[string]int64) error {
	var f struct {
		Active, Deactivated, Measured, Accounts, StorageBytes, WithData, AboveOneGB int64
		UsedLast3Days, UsedLast15Days                                               int64
		Median                                                                      *float64
	}
	err := db.Raw(`SELECT
		count(*) FILTER (WHERE status = 'active') AS active,
		count(*) FILTER (WHERE status = 'deactivated') AS deactivated,
		count(*) FILTER (WHERE m) AS measured,
		coalesce(sum(accounts) FILTER (WHERE m), 0) AS accounts,
		percentile_cont(0.5) WITHIN GROUP (ORDER BY accounts) FILTER (WHERE m) AS median,
		coalesce(sum(storage_used_bytes) FILTER (WHERE m), 0) AS storage_bytes,
		count(*) FILTER (WHERE m AND storage_used_bytes > 0) AS with_data,
		count(*) FILTER (WHERE m AND storage_used_bytes > ?) AS above_one_gb,
		count(*) FILTER (WHERE last_activity_at >= ?) AS used_last3_days,
		count(*) FILTER (WHERE last_activity_at >= ?) AS used_last15_days
		FROM (SELECT *, usage_at IS NOT NULL AS m FROM spaces WHERE status IN ('active', 'deactivated')) AS spaces`,
		int64(1<<30), now.Add(-3*24*time.Hour), now.Add(-15*24*time.Hour)).Scan(&f).Error
	if err != nil {
		return err
	}
	r.Fleet.Active, r.Fleet.Deactivated, r.Fleet.Measured = f.Active, f.Deactivated, f.Measured
	r.Fleet.Accounts, r.Fleet.StorageBytes, r.Fleet.WithData, r.Fleet.AboveOneGB = f.Accounts, f.StorageBytes, f.WithData, f.AboveOneGB
	r.Fleet.UsedLast3Days, r.Fleet.UsedLast15Days = f.UsedLast3Days, f.UsedLast15Days
	if f.Median != nil {
		r.Fleet.AccountsMedian = *f.Median
	}
	if f.Measured > 0 {
		r.Fleet.AccountsMean = round1(float64(f.Accounts) / float64(f.Measured))
		r.Fleet.StorageMean = f.StorageBytes / f.Measured
	}
	return countByGroupingSets(db, "spaces WHERE status IN ('active', 'deactivated')", fleetDimensions(), counts)
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
