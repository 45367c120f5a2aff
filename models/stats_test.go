package models_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"jardinier/models"
	"jardinier/models/modeltest"
)

func TestStatsSchema(t *testing.T) {
	db := modeltest.NewDB(t)
	columns := func(table string) []string {
		var names []string
		require.NoError(t, db.Raw(`SELECT column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = ?`, table).Scan(&names).Error)
		return names
	}

	t.Run("the statistics table has only the allowed, non-identifying columns", func(t *testing.T) {
		got := columns("stats_records")
		require.NotEmpty(t, got)
		assert.ElementsMatch(t, models.StatsColumns, got,
			"a column was added to or removed from stats_records: it must identify nobody and be added to models.StatsColumns deliberately")
		for _, c := range got {
			for _, banned := range []string{"name", "slug", "email", "mail", "mission", "actions", "needs", "application", "space", "_at", "reason"} {
				assert.NotContains(t, c, banned, "column %q of stats_records could identify an organisation", c)
			}
		}
	})

	t.Run("nothing in the statistics table refers to another table", func(t *testing.T) {
		var fks int64
		require.NoError(t, db.Raw(`SELECT count(*) FROM information_schema.table_constraints
			WHERE table_schema = current_schema() AND table_name = 'stats_records' AND constraint_type = 'FOREIGN KEY'`).Scan(&fks).Error)
		assert.Zero(t, fks)
	})

	t.Run("only the link, from an application, points to a statistics record", func(t *testing.T) {
		assert.ElementsMatch(t, []string{"application_id", "stats_record_id"}, columns("stats_links"))
		var others []string
		require.NoError(t, db.Raw(`SELECT table_name || '.' || column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name <> 'stats_links' AND column_name LIKE '%stats%'`).Scan(&others).Error)
		assert.Empty(t, others)
	})
}

func TestStatsRecordFacts(t *testing.T) {
	budget := int64(4_000)
	app := &models.Application{ID: uuid.NewString(), Slug: "amis-du-jardin", OrganizationName: "Les Amis",
		OrganizationType: models.OrgUnion, Sectors: []string{"culture", "social"}, FoundedYear: 2017,
		Employees: 3, Members: 30, Beneficiaries: 100, AnnualBudgetEUR: &budget, AccountsNeeded: 7,
		OfficeSuite: models.OfficeOnlyOffice, ContactEmail: "contact@amis.example", Mission: "m"}
	// 23:30 UTC on 31 December is already January in Paris.
	rec := models.NewStatsRecord(app, time.Date(2025, 12, 31, 23, 30, 0, 0, time.UTC))
	assert.Equal(t, models.StatsRecord{ID: rec.ID, OrganizationType: models.OrgUnion,
		Sectors: []string{"culture", "social"}, FoundedPeriod: "2015-2019", EmployeesBand: "3-9",
		MembersBand: "30-100", BeneficiariesBand: "100-999", BudgetBand: "4000-50000", AccountsRequested: 7,
		OfficeSuite: models.OfficeOnlyOffice, SubmittedMonth: 202601, Outcome: models.OutcomeWaiting,
		State: models.StatusSubmitted}, *rec)

	app.AnnualBudgetEUR = nil
	app.FoundedYear = 1979
	rec = models.NewStatsRecord(app, time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))
	assert.Equal(t, models.BudgetNotGiven, rec.BudgetBand)
	assert.Equal(t, "before-1980", rec.FoundedPeriod)
	assert.Equal(t, 202503, rec.SubmittedMonth)
	assert.Equal(t, []string{"before-1980", "1980-1984", "1985-1989", "1990-1994", "1995-1999", "2000-2004",
		"2005-2009", "2010-2014", "2015-2019", "2020-2024", "2025-2029"}, models.FoundedPeriods(2025))
}

func TestStatsBackfill(t *testing.T) {
	db := modeltest.NewDB(t)
	at := func(month, day int) time.Time { return time.Date(2025, time.Month(month), day, 10, 0, 0, 0, time.UTC) }
	// Applications in the states the service had before the statistics existed, each
	// with its audit trail.
	histories := map[string][]models.AuditEvent{
		"en-attente": {{Actor: "applicant", Action: "submit", At: at(1, 5)}},
		"en-pause":   {{Actor: "applicant", Action: "submit", At: at(1, 5)}, {Actor: "camille", Action: "hold", At: at(2, 1)}},
		"active": {{Actor: "applicant", Action: "submit", At: at(1, 5)}, {Actor: "camille", Action: "hold", At: at(2, 1)},
			{Actor: "camille", Action: "accept", At: at(3, 1)}, {Actor: "system", Action: "provisioned", At: at(3, 1)},
			{Actor: "system", Action: "first_warning", At: at(5, 1)}},
		"desactivee": {{Actor: "applicant", Action: "submit", At: at(1, 5)}, {Actor: "camille", Action: "accept", At: at(1, 9)},
			{Actor: "system", Action: "provisioned", At: at(1, 9)}, {Actor: "contact", Action: "deactivate", At: at(4, 2)}},
		"refusee": {{Actor: "applicant", Action: "submit", At: at(1, 5)}, {Actor: "camille", Action: "reject", At: at(1, 20)}},
	}
	for slug, events := range histories {
		app := modeltest.CreateApplication(t, db, slug, at(1, 5))
		for i, ev := range events {
			ev.Key, ev.Slug, ev.ApplicationID = fmt.Sprintf("%s/%d", app.ID, i), slug, &app.ID
			require.NoError(t, db.Create(&ev).Error)
		}
	}
	require.NoError(t, db.Migrator().DropTable(&models.StatsLink{}, &models.StatsRecord{}))

	require.NoError(t, models.Migrate(db))

	var recs []models.StatsRecord
	require.NoError(t, db.Order("state, outcome").Find(&recs).Error)
	type fact struct {
		State                    models.Status
		Outcome                  models.StatsOutcome
		Held, Decided, Created   int
		Deactivated              int
		DeactivationCause        string
		Submitted, Accounts      int
		Type                     models.OrganizationType
		Founded, Members, Budget string
	}
	var got []fact
	for _, r := range recs {
		got = append(got, fact{r.State, r.Outcome, r.HeldMonth, r.DecidedMonth, r.CreatedMonth, r.DeactivatedMonth,
			r.DeactivationCause, r.SubmittedMonth, r.AccountsRequested, r.OrganizationType, r.FoundedPeriod, r.MembersBand, r.BudgetBand})
	}
	base := fact{Submitted: 202501, Accounts: 5, Type: models.OrgAssociation1901, Founded: "2010-2014", Members: "30-100", Budget: "4000-50000"}
	with := func(f func(*fact)) fact { c := base; f(&c); return c }
	assert.Equal(t, []fact{
		with(func(f *fact) {
			f.State, f.Outcome, f.Held, f.Decided, f.Created = models.StatusActive, models.OutcomeAccepted, 202502, 202503, 202503
		}),
		with(func(f *fact) {
			f.State, f.Outcome, f.Decided, f.Created, f.Deactivated, f.DeactivationCause =
				models.StatusDeactivated, models.OutcomeAccepted, 202501, 202501, 202504, models.StatsCauseAdmin
		}),
		with(func(f *fact) { f.State, f.Outcome, f.Held = models.StatusOnHold, models.OutcomeOnHold, 202502 }),
		with(func(f *fact) { f.State, f.Outcome, f.Decided = models.StatusRejected, models.OutcomeRejected, 202501 }),
		with(func(f *fact) { f.State, f.Outcome = models.StatusSubmitted, models.OutcomeWaiting }),
	}, got)

	t.Run("links the living applications only, and runs once", func(t *testing.T) {
		var links int64
		require.NoError(t, db.Model(&models.StatsLink{}).Count(&links).Error)
		assert.EqualValues(t, 4, links, "the rejected application is at its end: no link")
		require.NoError(t, models.Migrate(db))
		var n int64
		require.NoError(t, db.Model(&models.StatsRecord{}).Count(&n).Error)
		assert.EqualValues(t, 5, n)
	})

	t.Run("a record follows its application's transitions and is unlinked at the end", func(t *testing.T) {
		var app models.Application
		require.NoError(t, db.Take(&app, "slug = ?", "desactivee").Error)
		require.NoError(t, db.Transaction(func(tx *gorm.DB) error {
			return models.RecordStatsTransition(tx, app.ID, models.StatusDeleted, "system", "delete", at(6, 30))
		}))
		var link int64
		require.NoError(t, db.Model(&models.StatsLink{}).Where("application_id = ?", app.ID).Count(&link).Error)
		assert.Zero(t, link)
		var rec models.StatsRecord
		require.NoError(t, db.Take(&rec, "end_month = ?", 202506).Error)
		assert.Equal(t, models.StatsEndDeletedInactivity, rec.EndCause)
		assert.Equal(t, models.StatsCauseAdmin, rec.DeactivationCause)
		require.NoError(t, db.Transaction(func(tx *gorm.DB) error {
			return models.RecordStatsTransition(tx, app.ID, models.StatusActive, "system", "reactivate", at(7, 1))
		}), "an application at its end has no record to update")
	})
}
