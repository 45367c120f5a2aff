package workflows

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
	"gorm.io/gorm"

	"jardinier/activities/mail"
	"jardinier/activities/nextcloud"
	"jardinier/models"
	"jardinier/models/modeltest"
)

// adminsFleet is a database and a simulator where the spaces amis and bal have admins
// with addresses, one of them admin of both (written differently), cine is in service
// but its instance cannot be read, and dodo waits for its moderators.
func adminsFleet(t *testing.T) (*gorm.DB, *nextcloud.Simulator) {
	t.Helper()
	db := modeltest.NewDB(t)
	sim := nextcloud.NewSimulator(slog.New(slog.DiscardHandler))
	ctx := t.Context()
	now := time.Now().UTC()
	for _, sp := range []struct {
		slug      string
		status    models.Status
		installed bool
	}{{"amis", models.StatusActive, true}, {"bal", models.StatusDeactivated, true},
		{"cine", models.StatusActive, false}, {"dodo", models.StatusOnHold, true}} {
		app := modeltest.CreateApplication(t, db, sp.slug, now)
		require.NoError(t, db.Create(&models.Space{Slug: sp.slug, ApplicationID: &app.ID, Status: sp.status,
			NextcloudVersion: "31.0.9", OfficeSuite: models.OfficeCollabora, SubmittedAt: now}).Error)
		if sp.installed {
			require.NoError(t, sim.CreateDatabase(ctx, sp.slug))
			require.NoError(t, sim.Install(ctx, nextcloud.InstallSpec{Slug: sp.slug, Domain: sp.slug + ".example",
				Version: "31.0.9", Bucket: "space-" + sp.slug, AdminUser: "admin"}))
		}
	}
	sim.SetUserEmail("amis", "admin", "Claire@Asso.example", true)
	sim.SetUserEmail("amis", "bob", "bob@amis.example", true)
	sim.SetUserEmail("amis", "eve", "eve@amis.example", false) // not an admin
	sim.SetUserEmail("bal", "admin", "claire@asso.example ", true)
	sim.SetUserEmail("bal", "zoe", "zoe@bal.example", true)
	sim.SetUserEmail("dodo", "admin", "dan@dodo.example", true) // not a space in service
	return db, sim
}

// newAdminsAnnouncement stores a draft announcement to the spaces' admins.
func newAdminsAnnouncement(t *testing.T, db *gorm.DB) models.Announcement {
	t.Helper()
	a, err := models.NewAnnouncement("Mise à jour", "Nextcloud 32 arrive.", models.AudienceAdmins, models.AnnouncementFilter{}, "alix")
	require.NoError(t, err)
	require.NoError(t, models.CreateAnnouncement(t.Context(), db, &a))
	return a
}

func TestAnnouncementToAdmins(t *testing.T) {
	t.Run("the admins read from the instances each get the announcement once", func(t *testing.T) {
		db, sim := adminsFleet(t)
		a := newAdminsAnnouncement(t, db)

		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		env.SetTestTimeout(30 * time.Second)
		env.RegisterWorkflowWithOptions(AnnouncementWorkflow, workflow.RegisterOptions{Name: AnnouncementWorkflowType})
		env.RegisterActivity(&nextcloud.AudienceActivities{Driver: sim, DB: db})
		ma := &mail.Activities{DB: db}
		env.RegisterActivityWithOptions(ma.PrepareAnnouncement, activity.RegisterOptions{Name: "PrepareAnnouncement"})
		env.RegisterActivityWithOptions(ma.RecordAnnouncement, activity.RegisterOptions{Name: "RecordAnnouncement"})
		var mu sync.Mutex
		got := map[string]int{}
		env.RegisterActivityWithOptions(func(ctx context.Context, in mail.AnnouncementMailInput) (mail.SendResult, error) {
			r, found, err := models.Recipient(ctx, db, in.AnnouncementID, in.Seq)
			require.NoError(t, err)
			require.True(t, found, "recipient %d", in.Seq)
			mu.Lock()
			got[r.Address]++
			mu.Unlock()
			return mail.SendResult{MessageID: "m"}, nil
		}, activity.RegisterOptions{Name: "SendAnnouncement"})

		env.ExecuteWorkflow(AnnouncementWorkflow, AnnouncementInput{ID: a.ID, Requester: "alix", Window: 2})
		require.True(t, env.IsWorkflowCompleted())
		require.NoError(t, env.GetWorkflowError())
		var p AnnouncementProgress
		require.NoError(t, env.GetWorkflowResult(&p))

		assert.Equal(t, map[string]int{"bob@amis.example": 1, "claire@asso.example": 1, "zoe@bal.example": 1}, got,
			"the admins of the spaces in service or deactivated, once each; not the other users, not the spaces waiting")
		assert.Equal(t, models.AnnouncementDone, p.Status)
		assert.Equal(t, 3, p.Total)
		assert.Equal(t, 3, p.Sent)
		assert.Equal(t, 1, p.UnreadSpaces, "the space whose instance cannot be read is counted")
		row, err := models.FindAnnouncement(t.Context(), db, a.ID)
		require.NoError(t, err)
		assert.Equal(t, 1, row.UnreadSpaces, "and shown on the announcement's screen")
		assert.Equal(t, 3, row.Total)
	})

	t.Run("reading the admins again writes no duplicate", func(t *testing.T) {
		db, sim := adminsFleet(t)
		a := newAdminsAnnouncement(t, db)
		var s testsuite.WorkflowTestSuite
		env := s.NewTestActivityEnvironment()
		aa := &nextcloud.AudienceActivities{Driver: sim, DB: db}
		env.RegisterActivity(aa)
		var res nextcloud.CollectAdminsResult
		for attempt := range 2 {
			v, err := env.ExecuteActivity(aa.CollectAnnouncementAdmins, nextcloud.CollectAdminsInput{AnnouncementID: a.ID})
			require.NoError(t, err, "attempt %d", attempt)
			require.NoError(t, v.Get(&res))
			assert.Equal(t, 3, res.Recipients, "attempt %d", attempt)
			assert.Equal(t, 4-1, res.Spaces, "attempt %d: amis, bal and cine", attempt)
			assert.Equal(t, []string{"cine"}, res.UnreadSlugs)
		}
		var rows []models.AnnouncementRecipient
		require.NoError(t, db.Where("announcement_id = ?", a.ID).Order("seq").Find(&rows).Error)
		require.Len(t, rows, 3)
		for i, r := range rows {
			assert.Equal(t, i+1, r.Seq, "numbered from 1 without a gap")
		}

		total, err := models.PrepareRecipients(t.Context(), db, a.ID, time.Now())
		require.NoError(t, err)
		assert.Equal(t, 3, total)
		v, err := env.ExecuteActivity(aa.CollectAnnouncementAdmins, nextcloud.CollectAdminsInput{AnnouncementID: a.ID})
		require.NoError(t, err)
		require.NoError(t, v.Get(&res))
		assert.True(t, res.Skipped, "once the recipients are fixed, nothing is added")
		_, err = models.AddAdminRecipients(t.Context(), db, a.ID, []models.AdminAddress{{Address: "new@x.example", Slug: "amis"}})
		assert.ErrorIs(t, err, models.ErrAnnouncementFixed)
	})

	t.Run("an announcement to the contacts reads no instance", func(t *testing.T) {
		db, sim := adminsFleet(t)
		a, err := models.NewAnnouncement("Enquête", "Répondez.", models.AudienceContacts, models.AnnouncementFilter{}, "alix")
		require.NoError(t, err)
		require.NoError(t, models.CreateAnnouncement(t.Context(), db, &a))
		var s testsuite.WorkflowTestSuite
		env := s.NewTestActivityEnvironment()
		aa := &nextcloud.AudienceActivities{Driver: sim, DB: db}
		env.RegisterActivity(aa)
		v, err := env.ExecuteActivity(aa.CollectAnnouncementAdmins, nextcloud.CollectAdminsInput{AnnouncementID: a.ID})
		require.NoError(t, err)
		var res nextcloud.CollectAdminsResult
		require.NoError(t, v.Get(&res))
		assert.True(t, res.Skipped)
		assert.Zero(t, sim.Calls("amis", nextcloud.OpAdminEmails))
	})
}
