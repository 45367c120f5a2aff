package database_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"jardinier/activities/database"
	"jardinier/models"
	"jardinier/models/modeltest"
)

// statsNow is when the report of the population is made.
var statsNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func day(y, m, d int) time.Time { return time.Date(y, time.Month(m), d, 10, 0, 0, 0, time.UTC) }

// group is a set of identical organisations and what happens to their applications.
type group struct {
	name        string
	n           int
	typ         models.OrganizationType
	sectors     []string
	founded     int
	employees   int
	members     int
	benef       int
	budget      *int64
	accounts    int
	office      models.OfficeSuite
	submitted   time.Time
	steps       []step
	usage       func(i int) (accounts int, bytes int64) // measured by the quota rebalance; nil: not in service
	lastSeen    func(i int) time.Time                   // last activity seen; zero: none
	deletedOnly int                                     // only the first deletedOnly get the steps after the "split" step
}

// step is one transition of an application's space, as the workflows record it.
type step struct {
	status models.Status
	actor  string
	action string
	at     time.Time
	purge  bool
	split  bool // from here on, only the first deletedOnly organisations of the group
}

func budget(v int64) *int64 { return &v }

// population is applications of known types, sectors and sizes, accepted, held,
// rejected, withdrawn and deleted, across 2025 and 2026.
func population() []group {
	accept := func(at time.Time) []step {
		return []step{{status: models.StatusProvisioning, actor: "camille", action: "accept", at: at},
			{status: models.StatusActive, actor: "system", action: "provisioned", at: at.Add(time.Minute)}}
	}
	return []group{
		{name: "a", n: 8, typ: models.OrgAssociation1901, sectors: []string{"environment", "culture"}, founded: 2012,
			members: 20, benef: 150, budget: budget(0), accounts: 3, office: models.OfficeCollabora, submitted: day(2025, 3, 10),
			steps: append(accept(day(2025, 3, 15)),
				step{status: models.StatusDeleted, actor: "camille", action: "delete", at: day(2026, 3, 15), purge: true, split: true}),
			deletedOnly: 2,
			usage: func(i int) (int, int64) {
				if i == 2 {
					return 10, 2 << 30
				}
				return 3, 2 << 30
			},
			lastSeen: func(i int) time.Time {
				if i < 6 {
					return statsNow.Add(-24 * time.Hour)
				}
				return statsNow.AddDate(0, 0, -10)
			}},
		{name: "b", n: 6, typ: models.OrgInformalCollective, sectors: []string{"social"}, founded: 2019,
			members: 8, benef: 40, accounts: 1, office: models.OfficeCollabora, submitted: day(2025, 4, 2),
			steps: append(append([]step{{status: models.StatusOnHold, actor: "camille", action: "hold", at: day(2025, 4, 5)}},
				accept(day(2025, 6, 1))...),
				step{status: models.StatusDeactivated, actor: "system", action: "deactivate", at: day(2025, 9, 1)}),
			usage:    func(int) (int, int64) { return 1, 0 },
			lastSeen: func(int) time.Time { return statsNow.AddDate(0, 0, -100) }},
		{name: "c", n: 5, typ: models.OrgAssociation1901, sectors: []string{"education", "culture"}, founded: 1975,
			employees: 12, members: 300, benef: 5000, budget: budget(120_000), accounts: 12, office: models.OfficeOnlyOffice,
			submitted: day(2025, 5, 20),
			steps:     []step{{status: models.StatusRejected, actor: "camille", action: "reject", at: day(2025, 5, 25), purge: true}}},
		{name: "d", n: 3, typ: models.OrgUnion, sectors: []string{"fundamental_rights"}, founded: 2001,
			employees: 2, members: 600, benef: 0, budget: budget(3_000), accounts: 25, office: models.OfficeNone,
			submitted: day(2025, 6, 11),
			steps: append(accept(day(2025, 6, 12)),
				step{status: models.StatusDeleted, actor: "contact", action: "delete", at: day(2025, 11, 3), purge: true})},
		{name: "e", n: 2, typ: models.OrgFoundation, sectors: []string{"health"}, founded: 2023,
			employees: 60, members: 5, benef: 20_000, budget: budget(300_000), accounts: 50, office: models.OfficeCollabora,
			submitted: day(2025, 7, 1),
			steps: []step{{status: models.StatusOnHold, actor: "camille", action: "hold", at: day(2025, 7, 2)},
				{status: models.StatusRejected, actor: "contact", action: models.StatsActionWithdraw, at: day(2025, 7, 10), purge: true}}},
		{name: "g", n: 4, typ: models.OrgAssociation1901, sectors: []string{"environment"}, founded: 2016,
			members: 100, benef: 100, budget: budget(4_000), accounts: 5, office: models.OfficeCollabora, submitted: day(2025, 10, 15)},
		// 23:30 UTC on 31 December 2025 is January 2026 in Paris.
		{name: "f", n: 1, typ: models.OrgOther, sectors: []string{"tourism"}, founded: 1990, employees: 1, members: 50,
			benef: 10, budget: budget(45_000), accounts: 5, office: models.OfficeCollabora,
			submitted: time.Date(2025, 12, 31, 23, 30, 0, 0, time.UTC)},
		{name: "h", n: 5, typ: models.OrgAssociation1907, sectors: []string{"sport", "leisure"}, founded: 2020,
			members: 45, benef: 200, budget: budget(10_000), accounts: 8, office: models.OfficeCollabora, submitted: day(2026, 2, 3),
			steps: append(accept(day(2026, 2, 4)),
				step{status: models.StatusDeactivated, actor: "contact", action: "deactivate", at: day(2026, 5, 1)},
				step{status: models.StatusActive, actor: "contact", action: "reactivate", at: day(2026, 5, 10)},
				step{status: models.StatusDeactivated, actor: "system", action: "deactivate", at: day(2026, 8, 1)},
				step{status: models.StatusDeleted, actor: "system", action: "delete", at: day(2026, 9, 1), purge: true})},
	}
}

// statsFixture is a database holding the population, built through the code the API
// and the workflows run.
type statsFixture struct {
	*fixture
	apps map[string][]models.Application // by group
}

func buildPopulation(t *testing.T) *statsFixture {
	t.Helper()
	f := &statsFixture{fixture: &fixture{db: modeltest.NewDB(t)}, apps: map[string][]models.Application{}}
	f.act = &database.Activities{DB: f.db}
	var usage []database.SpaceUsage
	for _, g := range population() {
		for i := range g.n {
			slug := fmt.Sprintf("grp%s-%d", g.name, i) // no hexadecimal word: it cannot appear in an ID by chance
			app := f.submitApp(t, g, slug)
			f.apps[g.name] = append(f.apps[g.name], app)
			n := 1
			for _, s := range g.steps {
				if s.split && i >= g.deletedOnly {
					break
				}
				in := database.RecordTransitionInput{EventKey: fmt.Sprintf("%s/%d", app.ID, n), Slug: slug,
					ApplicationID: app.ID, Status: s.status, Actor: s.actor, Action: s.action, Reason: "motif", At: s.at}
				if s.status == models.StatusDeactivated && g.lastSeen != nil {
					in.LastActivityAt = g.lastSeen(i)
				}
				_, err := f.record(t, in)
				require.NoError(t, err, "%s: %s", slug, s.action)
				n++
				if s.purge {
					_, err := f.purge(t, app)
					require.NoError(t, err)
				}
			}
			sp := f.space(t, slug)
			if g.usage != nil && (sp.Status == models.StatusActive || sp.Status == models.StatusDeactivated) {
				accounts, bytes := g.usage(i)
				usage = append(usage, database.SpaceUsage{Slug: slug, Accounts: accounts, UsedBytes: bytes})
				if sp.Status == models.StatusActive {
					_, err := f.record(t, database.RecordTransitionInput{EventKey: fmt.Sprintf("%s/%d", app.ID, n), Slug: slug,
						ApplicationID: app.ID, Status: models.StatusActive, Actor: "system", Action: "activity_seen",
						At: statsNow.Add(-time.Hour), LastActivityAt: g.lastSeen(i)})
					require.NoError(t, err)
				}
			}
		}
	}
	_, err := f.environment(t).ExecuteActivity(f.act.RecordSpaceUsage, database.RecordSpaceUsageInput{Spaces: usage, At: statsNow.Add(-time.Hour)})
	require.NoError(t, err)
	return f
}

// submitApp stores an application as the API does: the form, its statistics record and
// its space row, in one transaction.
func (f *statsFixture) submitApp(t *testing.T, g group, slug string) models.Application {
	t.Helper()
	app := models.Application{ID: uuid.NewString(), Slug: slug, OrganizationName: "Organisation " + slug,
		OrganizationType: g.typ, Sectors: pq.StringArray(g.sectors), FoundedYear: g.founded, Employees: g.employees,
		Members: g.members, Beneficiaries: g.benef, AnnualBudgetEUR: g.budget, Mission: "Mission de " + slug,
		Actions: "Actions.", Needs: "Besoins.", AccountsNeeded: g.accounts, OfficeSuite: g.office,
		ContactEmail: slug + "@asso.example", TermsAcceptedAt: g.submitted, CreatedAt: g.submitted}
	require.NoError(t, f.db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&app).Error; err != nil {
			return err
		}
		if err := models.CreateStatsRecord(tx, &app, g.submitted); err != nil {
			return err
		}
		return tx.Create(&models.Space{Slug: slug, ApplicationID: &app.ID, Status: models.StatusSubmitted,
			OfficeSuite: app.OfficeSuite, SubmittedAt: g.submitted}).Error
	}))
	return app
}

// cells writes a breakdown as "code=count" (zero counts left out), "code=<5" and
// "code=hidden", checking on the way that every percentage shown is its count's share
// of the base.
func cells(t *testing.T, b *models.Breakdown) string {
	t.Helper()
	require.NotNil(t, b)
	var out []string
	for _, c := range b.Cells {
		switch {
		case c.Small:
			assert.Nil(t, c.Count, "%s/%s: a small cell has no count", b.Key, c.Code)
			assert.Nil(t, c.Percent, "%s/%s: a small cell has no percentage", b.Key, c.Code)
			out = append(out, c.Code+"=<5")
		case c.Hidden:
			assert.Nil(t, c.Count)
			assert.Nil(t, c.Percent)
			out = append(out, c.Code+"=hidden")
		default:
			require.NotNil(t, c.Count, "%s/%s", b.Key, c.Code)
			if b.Base > 0 {
				require.NotNil(t, c.Percent)
				assert.InDelta(t, 100*float64(*c.Count)/float64(b.Base), *c.Percent, 0.05, "%s/%s", b.Key, c.Code)
			}
			if *c.Count > 0 {
				out = append(out, fmt.Sprintf("%s=%d", c.Code, *c.Count))
			}
		}
		assert.NotEmpty(t, c.Label)
		if _, err := strconv.Atoi(c.Code); err != nil {
			assert.NotEqual(t, c.Code, c.Label, "%s/%s has French words", b.Key, c.Code)
		}
	}
	return strings.Join(out, " ")
}

func TestYearlyStats(t *testing.T) {
	f := buildPopulation(t)
	report, err := models.YearlyStats(t.Context(), f.db, 2025, statsNow)
	require.NoError(t, err)

	t.Run("the purges deleted every application at its end, and kept every record", func(t *testing.T) {
		var apps, records, links int64
		require.NoError(t, f.db.Model(&models.Application{}).Count(&apps).Error)
		require.NoError(t, f.db.Model(&models.StatsRecord{}).Count(&records).Error)
		require.NoError(t, f.db.Model(&models.StatsLink{}).Count(&links).Error)
		assert.EqualValues(t, 6+6+4+1, apps, "a and b in service (6 each), g and f waiting")
		assert.EqualValues(t, 34, records)
		assert.Equal(t, apps, links, "only living applications are linked to their record")
	})

	t.Run("the applications of the year, by every answer", func(t *testing.T) {
		assert.EqualValues(t, 28, report.Applications, "f is January 2026 in Paris")
		want := map[string]string{
			"organization_type":      "association_1901=17 informal_collective=6 union=<5 foundation=<5",
			"sectors":                "education=5 environment=12 culture=13 social=6 fundamental_rights=<5 health=<5",
			"founded_period":         "before-1980=5 2000-2004=<5 2010-2014=8 2015-2019=10 2020-2024=<5",
			"employees":              "0=18 1-2=<5 10-49=5 50+=<5",
			"members":                "0-9=8 10-29=8 30-100=<5 101-500=5 501+=<5",
			"beneficiaries":          "0-9=<5 10-99=6 100-999=12 1000-9999=5 10000+=<5",
			"budget":                 "0=8 1-3999=<5 4000-50000=<5 50001-200000=5 200001+=<5 not_given=6",
			"accounts_requested":     "1=6 2-4=8 5-9=<5 10-19=hidden 20-50=5",
			"office_suite_requested": "collabora=20 onlyoffice=hidden none=<5",
			"outcome":                "waiting=<5 accepted=17 rejected=5 withdrawn=<5",
			"decisions":              "on_hold=8 accepted=17 rejected=5",
			"deactivations":          "inactivity=6",
			"ends":                   "deleted_request=<5 withdrawn=<5",
		}
		for key, cellsWanted := range want {
			assert.Equal(t, cellsWanted, cells(t, report.Breakdown(key)), key)
		}
		assert.Len(t, report.Breakdowns, len(want), "every breakdown is checked")
		assert.EqualValues(t, 28, report.Breakdown("sectors").Base)
		assert.True(t, report.Breakdown("sectors").Multiple)
		assert.EqualValues(t, 30, report.Breakdown("decisions").Base)
		assert.InDelta(t, 60.7, *report.Breakdown("organization_type").Cell("association_1901").Percent, 0.001)
		assert.InDelta(t, 46.4, *report.Breakdown("sectors").Cell("culture").Percent, 0.001)
	})

	t.Run("month by month", func(t *testing.T) {
		var got []string
		for _, m := range report.Monthly {
			got = append(got, fmt.Sprintf("%s %d %d %d %d", m.Month, m.Applications, m.Decisions, m.SpacesCreated, m.SpacesDeleted))
		}
		assert.Equal(t, []string{"2025-01 0 0 0 0", "2025-02 0 0 0 0", "2025-03 8 8 8 0", "2025-04 6 6 0 0",
			"2025-05 5 5 0 0", "2025-06 3 9 9 0", "2025-07 2 2 0 0", "2025-08 0 0 0 0", "2025-09 0 0 0 0",
			"2025-10 4 0 0 0", "2025-11 0 0 0 3", "2025-12 0 0 0 0"}, got)
	})

	t.Run("the fleet now", func(t *testing.T) {
		assert.Equal(t, models.FleetFigures{Active: 6, Deactivated: 6, Rejected: 5, Withdrawn: 2, Deleted: 10,
			Measured: 12, Accounts: 31, AccountsMean: 2.6, AccountsMedian: 2, StorageBytes: 12 << 30, StorageMean: 1 << 30,
			WithData: 6, AboveOneGB: 6, UsedLast3Days: 4, UsedLast15Days: 6}, report.Fleet)
		want := map[string]string{
			"deactivated_now": "inactivity=6",
			"accounts":        "1=6 2-4=hidden 10-19=<5",
			"storage":         "0=6 1-10gb=6",
			"office_suite":    "collabora=12",
		}
		for key, cellsWanted := range want {
			assert.Equal(t, cellsWanted, cells(t, report.Breakdown(key)), key)
		}
		assert.Len(t, report.FleetTables, len(want))
	})

	t.Run("the next year counts its own applications and events", func(t *testing.T) {
		r, err := models.YearlyStats(t.Context(), f.db, 2026, statsNow)
		require.NoError(t, err)
		assert.EqualValues(t, 6, r.Applications)
		assert.Equal(t, "association_1907=hidden other=<5", cells(t, r.Breakdown("organization_type")))
		assert.Equal(t, "accepted=5", cells(t, r.Breakdown("decisions")))
		assert.Equal(t, "inactivity=5", cells(t, r.Breakdown("deactivations")), "the last deactivation of each space")
		assert.Equal(t, "deleted_inactivity=hidden deleted_moderators=<5", cells(t, r.Breakdown("ends")),
			"the total would tell the small cell: the smallest count shown goes with it")
		assert.Equal(t, "2026-01 1 0 0 0", monthLine(r.Monthly[0]))
		assert.Equal(t, "2026-02 5 5 5 0", monthLine(r.Monthly[1]))
		assert.Equal(t, "2026-03 0 0 0 2", monthLine(r.Monthly[2]))
		assert.Equal(t, "2026-09 0 0 0 5", monthLine(r.Monthly[8]))
		assert.Equal(t, report.Fleet, r.Fleet, "the fleet is the same whatever the year")
	})

	t.Run("a year outside the statistics is refused, naming the field", func(t *testing.T) {
		for _, y := range []int{2019, 2027, 0} {
			_, err := models.YearlyStats(t.Context(), f.db, y, statsNow)
			var e *models.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, "year", e.Field)
		}
	})

	t.Run("the CSV holds every table of the report, small cells as « < 5 »", func(t *testing.T) {
		var buf bytes.Buffer
		require.NoError(t, report.WriteCSV(&buf))
		text := buf.String()
		require.True(t, strings.HasPrefix(text, "\ufeff"))
		rd := csv.NewReader(strings.NewReader(strings.TrimPrefix(text, "\ufeff")))
		rd.Comma, rd.FieldsPerRecord = ';', -1
		rows, err := rd.ReadAll()
		require.NoError(t, err)
		find := func(prefix string) int {
			t.Helper()
			i := slices.IndexFunc(rows, func(r []string) bool { return len(r) == 1 && strings.HasPrefix(r[0], prefix) })
			require.GreaterOrEqual(t, i, 0, "table %q", prefix)
			return i
		}
		assert.Equal(t, []string{"Statistiques de l'année 2025"}, rows[0])
		for _, b := range append(slices.Clone(report.Breakdowns), report.FleetTables...) {
			i := find(b.Title + " (sur ")
			assert.Equal(t, []string{"Catégorie", "Nombre", "Part (%)"}, rows[i+1], b.Key)
			for j, c := range b.Cells {
				want := []string{c.Label, "< 5", ""}
				if c.Hidden {
					want[1] = "masqué"
				} else if !c.Small {
					want[1], want[2] = fmt.Sprint(*c.Count), strings.Replace(fmt.Sprintf("%.1f", *c.Percent), ".", ",", 1)
				}
				assert.Equal(t, want, rows[i+2+j], "%s/%s", b.Key, c.Code)
			}
		}
		i := find("Organisations par type")
		assert.Equal(t, []string{"Organisations par type (sur 28)"}, rows[i])
		assert.Equal(t, []string{"Association loi 1901", "17", "60,7"}, rows[i+2])
		assert.Equal(t, []string{"Syndicat", "< 5", ""}, rows[i+5])
		i = find("Organisations par budget annuel")
		assert.Equal(t, []string{"4000 à 50\u202f000 €", "< 5", ""}, rows[i+4])
		assert.Equal(t, []string{"Non renseigné", "6", "21,4"}, rows[i+7])
		i = find("Demandes, décisions et espaces par mois")
		assert.Equal(t, []string{"Mois", "Demandes", "Décisions", "Espaces créés", "Espaces supprimés"}, rows[i+1])
		assert.Equal(t, []string{"2025-06", "3", "9", "9", "0"}, rows[i+7])
		i = find("Les espaces aujourd'hui")
		fleet := map[string]string{}
		for _, r := range rows[i+2 : i+17] {
			fleet[r[0]] = r[1]
		}
		assert.Equal(t, map[string]string{"Espaces actifs": "6", "Espaces désactivés": "6", "Demandes refusées": "5",
			"Demandes retirées": "2", "Espaces supprimés": "10", "Espaces dont l'usage est mesuré": "12", "Comptes": "31",
			"Comptes par espace, moyenne": "2,6", "Comptes par espace, médiane": "2,0",
			"Espace disque occupé (octets)": fmt.Sprint(12 << 30), "Espace disque par espace, moyenne (octets)": fmt.Sprint(1 << 30),
			"Espaces contenant des fichiers": "6", "Espaces de plus de 1 Go": "6",
			"Espaces utilisés dans les 3 derniers jours": "4", "Espaces utilisés dans les 15 derniers jours": "6"}, fleet)
		assert.NotContains(t, text, "grp", "no slug in the CSV")
		assert.NotContains(t, text, "@", "no address in the CSV")
	})
}

func TestStatsTransitionRetried(t *testing.T) {
	f := setup(t)
	require.NoError(t, f.db.Transaction(func(tx *gorm.DB) error { return models.CreateStatsRecord(tx, &f.app, submitted) }))
	in := f.transition(1, models.StatusProvisioning, day(2026, 5, 6))
	_, err := f.record(t, in)
	require.NoError(t, err)
	in.At = day(2026, 7, 1) // a retry after a crash, recorded later
	res, err := f.record(t, in)
	require.NoError(t, err)
	assert.False(t, res.Recorded)
	var rec models.StatsRecord
	require.NoError(t, f.db.Take(&rec).Error)
	assert.Equal(t, 202605, rec.DecidedMonth, "the transition is applied once")
	assert.Equal(t, models.OutcomeAccepted, rec.Outcome)

	t.Run("the link goes with the application's row, the record stays", func(t *testing.T) {
		require.NoError(t, f.db.Delete(&models.Space{}, "application_id = ?", f.app.ID).Error)
		require.NoError(t, f.db.Delete(&f.app).Error)
		var links, records int64
		require.NoError(t, f.db.Model(&models.StatsLink{}).Count(&links).Error)
		require.NoError(t, f.db.Model(&models.StatsRecord{}).Count(&records).Error)
		assert.Zero(t, links)
		assert.EqualValues(t, 1, records)
	})
}

func monthLine(m models.MonthFigures) string {
	return fmt.Sprintf("%s %d %d %d %d", m.Month, m.Applications, m.Decisions, m.SpacesCreated, m.SpacesDeleted)
}

func TestStatsRecordIdentifiesNobody(t *testing.T) {
	f := buildPopulation(t)
	var dump string
	require.NoError(t, f.db.Raw("SELECT coalesce(string_agg(r::text, E'\\n'), '') FROM stats_records r").Scan(&dump).Error)
	for _, apps := range f.apps {
		for _, app := range apps {
			for _, secret := range []string{app.ID, app.Slug, app.ContactEmail, app.OrganizationName, app.Mission} {
				assert.False(t, strings.Contains(dump, secret), "the statistics hold %q", secret)
			}
		}
	}
}
