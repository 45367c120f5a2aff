package models

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// StatsRecord holds the anonymous facts of one application for the yearly statistics:
// answers of the form in the bands the yearly review publishes, and months, never
// dates. It has no name, slug, address, free text, nor any column leading back to the
// application or its space: purges leave it alone, so next year's figures still count
// every rejected, withdrawn and deleted organisation. Its ID is random, so that neither
// it nor the order of records follows the order of the spaces.
//
// StatsColumns lists its columns; a test fails when the table gains another one.
type StatsRecord struct {
	ID                string           `gorm:"primaryKey;type:uuid"`
	OrganizationType  OrganizationType `gorm:"not null"`
	Sectors           pq.StringArray   `gorm:"type:text[];not null"`
	FoundedPeriod     string           `gorm:"not null"` // a FoundedPeriods code
	EmployeesBand     string           `gorm:"not null"` // an EmployeeBands code
	MembersBand       string           `gorm:"not null"` // a MemberBands code
	BeneficiariesBand string           `gorm:"not null"` // a BeneficiaryBands code
	BudgetBand        string           `gorm:"not null"` // a BudgetBands code, or BudgetNotGiven
	AccountsRequested int              `gorm:"not null"`
	OfficeSuite       OfficeSuite      `gorm:"not null"`
	// Months are YYYYMM in Paris time; 0 when it has not happened.
	SubmittedMonth int          `gorm:"not null"` // indexed by statsAnswersIndex
	Outcome        StatsOutcome `gorm:"not null"`
	HeldMonth      int          `gorm:"not null;default:0;index"` // first put on hold
	DecidedMonth   int          `gorm:"not null;default:0;index"` // accepted or rejected
	CreatedMonth   int          `gorm:"not null;default:0;index"` // first in service
	// State is where the space stands now: a Status, or StatsWithdrawn.
	State             Status `gorm:"not null;index:idx_stats_records_state_cause,priority:1"`
	DeactivatedMonth  int    `gorm:"not null;default:0;index"`                                           // the last deactivation
	DeactivationCause string `gorm:"not null;default:'';index:idx_stats_records_state_cause,priority:2"` // a StatsCause*; kept after a reactivation
	EndMonth          int    `gorm:"not null;default:0;index"`
	EndCause          string `gorm:"not null;default:''"` // a StatsEnd*
}

// StatsColumns are the only columns the statistics table may have: each is a fact
// that identifies nobody. Adding one is a decision to take here, not in passing.
var StatsColumns = []string{"id", "organization_type", "sectors", "founded_period",
	"employees_band", "members_band", "beneficiaries_band", "budget_band",
	"accounts_requested", "office_suite", "submitted_month", "outcome", "held_month",
	"decided_month", "created_month", "state", "deactivated_month", "deactivation_cause",
	"end_month", "end_cause"}

// StatsLink lets the transitions of a living application find its statistics record.
// It points from the application to the record, never the other way, and goes when
// the application reaches its end (rejected, withdrawn, space deleted), or with the
// application's row: from then on nothing relates the organisation to its record.
type StatsLink struct {
	ApplicationID string       `gorm:"primaryKey;type:uuid"`
	Application   *Application `gorm:"constraint:OnDelete:CASCADE"`
	StatsRecordID string       `gorm:"type:uuid;not null;uniqueIndex"`
}

// StatsOutcome is what became of an application.
type StatsOutcome string

// The outcomes of an application.
const (
	OutcomeWaiting   StatsOutcome = "waiting"
	OutcomeOnHold    StatsOutcome = "on_hold"
	OutcomeAccepted  StatsOutcome = "accepted"
	OutcomeRejected  StatsOutcome = "rejected"
	OutcomeWithdrawn StatsOutcome = "withdrawn"
)

// StatsOutcomes lists the outcomes, in the order of the report.
var StatsOutcomes = []StatsOutcome{OutcomeWaiting, OutcomeOnHold, OutcomeAccepted, OutcomeRejected, OutcomeWithdrawn}

// StatsWithdrawn is the State of an application its applicant withdrew.
const StatsWithdrawn Status = "withdrawn"

// Who deactivated a space.
const (
	StatsCauseAdmin      = "admin"      // its admin, through the signed link
	StatsCauseInactivity = "inactivity" // the inactivity policy
	StatsCauseModerators = "moderators"
)

// StatsDeactivationCauses lists the causes of a deactivation, in the order of the report.
var StatsDeactivationCauses = []string{StatsCauseAdmin, StatsCauseInactivity, StatsCauseModerators}

// How an application or a space ended.
const (
	StatsEndDeletedAtRequest  = "deleted_request"
	StatsEndDeletedInactivity = "deleted_inactivity"
	StatsEndDeletedModerators = "deleted_moderators"
	StatsEndWithdrawn         = "withdrawn"
)

// StatsEndCauses lists the ends, in the order of the report.
var StatsEndCauses = []string{StatsEndDeletedAtRequest, StatsEndDeletedInactivity, StatsEndDeletedModerators, StatsEndWithdrawn}

// The actors and actions of the audit trail the statistics tell apart. The actions are
// the workflows' UpdateXxx names (workflows/contracts_space.go); a test there checks
// they agree.
const (
	StatsActorSystem    = ActorSystem
	StatsActorContact   = ActorContact
	StatsActionWithdraw = "withdraw"
)

// Band is a range of answers to a numeric question; Max < 0 means no upper bound.
type Band struct {
	Code     string
	Min, Max int64
}

// EmployeeBands, MemberBands, BeneficiaryBands, BudgetBands and AccountBands are the
// bands of the yearly review (DOMAIN.md: 71 % with no employee; half the organisations
// under 30 members, 75 % at 100 or fewer; half with 100 beneficiaries or more; about
// 100 at 0 €, half of the others under 4,000 €, 25 % between 4,000 and 50,000 €;
// 300 spaces with one account, 42 % with 5 or more).
var (
	EmployeeBands = []Band{{"0", 0, 0}, {"1-2", 1, 2}, {"3-9", 3, 9}, {"10-49", 10, 49}, {"50+", 50, -1}}
	MemberBands   = []Band{{"0-9", 0, 9}, {"10-29", 10, 29}, {"30-100", 30, 100},
		{"101-500", 101, 500}, {"501+", 501, -1}}
	BeneficiaryBands = []Band{{"0-9", 0, 9}, {"10-99", 10, 99}, {"100-999", 100, 999},
		{"1000-9999", 1000, 9999}, {"10000+", 10000, -1}}
	BudgetBands = []Band{{"0", 0, 0}, {"1-3999", 1, 3999}, {"4000-50000", 4000, 50000},
		{"50001-200000", 50001, 200000}, {"200001+", 200001, -1}}
	AccountBands = []Band{{"1", 1, 1}, {"2-4", 2, 4}, {"5-9", 5, 9}, {"10-19", 10, 19}, {"20-50", 20, 50}}
)

// BudgetNotGiven is the budget band of an organisation that declined to say.
const BudgetNotGiven = "not_given"

// BandOf returns the code of the band holding v; "" if none does.
func BandOf(bands []Band, v int64) string {
	for _, b := range bands {
		if v >= b.Min && (b.Max < 0 || v <= b.Max) {
			return b.Code
		}
	}
	return ""
}

// FoundedBefore is the year before which founding years are one period: the review
// shows young organisations in detail.
const FoundedBefore = 1980

// foundedPeriodYears is the length of a founding period.
const foundedPeriodYears = 5

// FoundedPeriod returns the founding period of a year: "before-1980", then 5-year
// periods "1980-1984", "1985-1989"...
func FoundedPeriod(year int) string {
	if year < FoundedBefore {
		return fmt.Sprintf("before-%d", FoundedBefore)
	}
	start := year - (year-FoundedBefore)%foundedPeriodYears
	return fmt.Sprintf("%d-%d", start, start+foundedPeriodYears-1)
}

// FoundedPeriods lists the founding periods up to the one holding year.
func FoundedPeriods(year int) []string {
	periods := []string{FoundedPeriod(FoundedBefore - 1)}
	for y := FoundedBefore; y <= year; y += foundedPeriodYears {
		periods = append(periods, FoundedPeriod(y))
	}
	return periods
}

// StatsMonth is the month of t in Paris time, as YYYYMM.
func StatsMonth(t time.Time) int {
	t = t.In(Paris)
	return t.Year()*100 + int(t.Month())
}

// NewStatsRecord returns the statistics record of an application submitted at: its
// answers in bands, and nothing that would identify it.
func NewStatsRecord(app *Application, at time.Time) *StatsRecord {
	budget := BudgetNotGiven
	if app.AnnualBudgetEUR != nil {
		budget = BandOf(BudgetBands, *app.AnnualBudgetEUR)
	}
	return &StatsRecord{
		ID:                uuid.NewString(),
		OrganizationType:  app.OrganizationType,
		Sectors:           append(pq.StringArray{}, app.Sectors...),
		FoundedPeriod:     FoundedPeriod(app.FoundedYear),
		EmployeesBand:     BandOf(EmployeeBands, int64(app.Employees)),
		MembersBand:       BandOf(MemberBands, int64(app.Members)),
		BeneficiariesBand: BandOf(BeneficiaryBands, int64(app.Beneficiaries)),
		BudgetBand:        budget,
		AccountsRequested: app.AccountsNeeded,
		OfficeSuite:       app.OfficeSuite,
		SubmittedMonth:    StatsMonth(at),
		Outcome:           OutcomeWaiting,
		State:             StatusSubmitted,
	}
}

// ApplyTransition brings the record up to date with a transition of its space to
// status, by actor through action, at. It reports whether the application reached its
// end, after which nothing may relate it to the record any more.
func (r *StatsRecord) ApplyTransition(status Status, actor, action string, at time.Time) (ended bool) {
	month := StatsMonth(at)
	if action == StatsActionWithdraw || status == StatsWithdrawn {
		r.Outcome, r.State, r.EndMonth, r.EndCause = OutcomeWithdrawn, StatsWithdrawn, month, StatsEndWithdrawn
		return true
	}
	switch status {
	case StatusOnHold:
		r.Outcome = OutcomeOnHold
		if r.HeldMonth == 0 {
			r.HeldMonth = month
		}
	case StatusProvisioning:
		r.Outcome, r.DecidedMonth = OutcomeAccepted, month
	case StatusRejected:
		r.Outcome, r.DecidedMonth = OutcomeRejected, month
	case StatusActive:
		if r.CreatedMonth == 0 {
			r.CreatedMonth = month
		}
	case StatusDeactivated:
		if r.State != StatusDeactivated {
			r.DeactivatedMonth = month
			r.DeactivationCause = map[string]string{StatsActorContact: StatsCauseAdmin,
				StatsActorSystem: StatsCauseInactivity}[actor]
			if r.DeactivationCause == "" {
				r.DeactivationCause = StatsCauseModerators
			}
		}
	case StatusDeleted:
		r.EndMonth = month
		r.EndCause = map[string]string{StatsActorContact: StatsEndDeletedAtRequest,
			StatsActorSystem: StatsEndDeletedInactivity}[actor]
		if r.EndCause == "" {
			r.EndCause = StatsEndDeletedModerators
		}
	}
	r.State = status
	return status == StatusRejected || status == StatusDeleted
}

// CreateStatsRecord writes the statistics record of an application just submitted at,
// and the link its later transitions follow; tx is the submission's transaction.
func CreateStatsRecord(tx *gorm.DB, app *Application, at time.Time) error {
	rec := NewStatsRecord(app, at)
	if err := tx.Create(rec).Error; err != nil {
		return fmt.Errorf("create statistics record: %w", err)
	}
	if err := tx.Create(&StatsLink{ApplicationID: app.ID, StatsRecordID: rec.ID}).Error; err != nil {
		return fmt.Errorf("link statistics record: %w", err)
	}
	return nil
}

// DeleteStatsRecord deletes the record of an application that never was: its
// submission was taken back before its workflow started.
func DeleteStatsRecord(tx *gorm.DB, applicationID string) error {
	var link StatsLink
	err := tx.Take(&link, "application_id = ?", applicationID).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("find statistics record of %s: %w", applicationID, err)
	}
	if err := tx.Delete(&link).Error; err != nil {
		return fmt.Errorf("delete statistics link of %s: %w", applicationID, err)
	}
	if err := tx.Delete(&StatsRecord{}, "id = ?", link.StatsRecordID).Error; err != nil {
		return fmt.Errorf("delete statistics record: %w", err)
	}
	return nil
}

// RecordStatsTransition applies a transition of an application's space to its
// statistics record, in the transaction recording the transition. At the end it
// unlinks the record. An application without a record (already at its end) is left
// alone.
func RecordStatsTransition(tx *gorm.DB, applicationID string, status Status, actor, action string, at time.Time) error {
	var link StatsLink
	err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Take(&link, "application_id = ?", applicationID).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("find statistics record of %s: %w", applicationID, err)
	}
	var rec StatsRecord
	if err := tx.Take(&rec, "id = ?", link.StatsRecordID).Error; err != nil {
		return fmt.Errorf("read statistics record of %s: %w", applicationID, err)
	}
	before := rec
	ended := rec.ApplyTransition(status, actor, action, at)
	// Most actions (warnings, activity seen, upgrades) change nothing the statistics keep.
	if !reflect.DeepEqual(before, rec) {
		if err := tx.Select("*").Updates(&rec).Error; err != nil {
			return fmt.Errorf("update statistics record of %s: %w", applicationID, err)
		}
	}
	if ended {
		if err := tx.Delete(&link).Error; err != nil {
			return fmt.Errorf("unlink statistics record of %s: %w", applicationID, err)
		}
	}
	return nil
}

// statsAnswersIndex holds, by month of submission, every answer the report counts: the
// report of a year reads it alone, without the table (an index-only scan).
const statsAnswersIndex = `CREATE INDEX IF NOT EXISTS idx_stats_records_answers ON stats_records (submitted_month)
	INCLUDE (organization_type, founded_period, employees_band, members_band, beneficiaries_band, budget_band,
		accounts_requested, office_suite, outcome, sectors)`

// migrateStats completes the statistics tables AutoMigrate made, and fills them from
// the applications already there when they were just created.
func migrateStats(tx *gorm.DB, created bool) error {
	if err := tx.Exec(statsAnswersIndex).Error; err != nil {
		return fmt.Errorf("migrate: statistics index: %w", err)
	}
	if created {
		return backfillStats(tx)
	}
	return nil
}

// backfillStatusOf gives the status each recorded action led to, for the backfill.
// They are the workflows' UpdateXxx and the actions they record themselves.
var backfillStatusOf = map[string]Status{
	"hold": StatusOnHold, "reject": StatusRejected, "accept": StatusProvisioning,
	"provisioned": StatusActive, "provisioning_failed": StatusProvisioningFailed,
	"deactivate": StatusDeactivated, "reactivate": StatusActive, "delete": StatusDeleted,
	StatsActionWithdraw: StatsWithdrawn,
}

// backfillBatch is how many applications the backfill reads at once.
const backfillBatch = 500

// backfillStats gives every application without a statistics record one, replaying
// its audit trail: applications submitted before the statistics existed. Those already
// purged left nothing to count. It runs once, when the statistics table is created: an
// application at its end has no link, and must not get a second record.
func backfillStats(tx *gorm.DB) error {
	after := "00000000-0000-0000-0000-000000000000"
	for {
		var apps []Application
		if err := tx.Where("id > ? AND NOT EXISTS (SELECT 1 FROM stats_links l WHERE l.application_id = applications.id)", after).
			Order("id").Limit(backfillBatch).Find(&apps).Error; err != nil {
			return fmt.Errorf("backfill statistics: list applications: %w", err)
		}
		if len(apps) > 0 {
			after = apps[len(apps)-1].ID
		}
		// Write the batch in no particular order: the table's order must not follow the
		// applications'.
		rand.Shuffle(len(apps), func(i, j int) { apps[i], apps[j] = apps[j], apps[i] })
		for i := range apps {
			if err := backfillOne(tx, &apps[i]); err != nil {
				return err
			}
		}
		if len(apps) < backfillBatch {
			return nil
		}
	}
}

func backfillOne(tx *gorm.DB, app *Application) error {
	rec := NewStatsRecord(app, app.CreatedAt)
	var events []AuditEvent
	if err := tx.Where("application_id = ?", app.ID).Order("at, id").Find(&events).Error; err != nil {
		return fmt.Errorf("backfill statistics: audit trail of %s: %w", app.ID, err)
	}
	ended := false
	for _, ev := range events {
		if status, ok := backfillStatusOf[ev.Action]; ok {
			ended = rec.ApplyTransition(status, ev.Actor, ev.Action, ev.At)
		}
	}
	if err := tx.Create(rec).Error; err != nil {
		return fmt.Errorf("backfill statistics record: %w", err)
	}
	if ended {
		return nil
	}
	if err := tx.Create(&StatsLink{ApplicationID: app.ID, StatsRecordID: rec.ID}).Error; err != nil {
		return fmt.Errorf("backfill statistics link: %w", err)
	}
	return nil
}

// monthLabel formats a YYYYMM month as "2026-03".
func monthLabel(m int) string {
	return strconv.Itoa(m/100) + "-" + fmt.Sprintf("%02d", m%100)
}

// bandCase is the SQL expression giving the band code of column, built from the
// bands themselves so that the report and the records agree.
func bandCase(column string, bands []Band) string {
	var b strings.Builder
	b.WriteString("CASE")
	for _, band := range bands {
		if band.Max < 0 {
			fmt.Fprintf(&b, " WHEN %s >= %d THEN '%s'", column, band.Min, band.Code)
		} else {
			fmt.Fprintf(&b, " WHEN %s BETWEEN %d AND %d THEN '%s'", column, band.Min, band.Max, band.Code)
		}
	}
	b.WriteString(" ELSE '' END")
	return b.String()
}

// StatsBackfillActions lists the recorded actions the backfill replays.
func StatsBackfillActions() []string {
	actions := make([]string, 0, len(backfillStatusOf))
	for a := range backfillStatusOf {
		actions = append(actions, a)
	}
	return actions
}
