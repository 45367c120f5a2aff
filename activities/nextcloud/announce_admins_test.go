package nextcloud_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"jardinier/activities/nextcloud"
	"jardinier/models"
	"jardinier/models/modeltest"
)

func TestCollectAnnouncementAdmins(t *testing.T) {
	db := modeltest.NewDB(t)
	sim := nextcloud.NewSimulator(slog.New(slog.DiscardHandler))
	ctx := t.Context()
	now := time.Now().UTC()
	for _, slug := range []string{"amis", "bal", "cine"} {
		app := modeltest.CreateApplication(t, db, slug, now)
		require.NoError(t, db.Create(&models.Space{Slug: slug, ApplicationID: &app.ID, Status: models.StatusActive,
			NextcloudVersion: "31.0.9", OfficeSuite: models.OfficeCollabora, SubmittedAt: now}).Error)
		if slug != "cine" {
			require.NoError(t, sim.CreateDatabase(ctx, slug))
			require.NoError(t, sim.Install(ctx, nextcloud.InstallSpec{Slug: slug, Domain: slug + ".example", Version: "31.0.9",
				Bucket: "space-" + slug, AdminUser: "admin"}))
		}
	}
	sim.SetUserEmail("amis", "admin", "claire@asso.example", true)
	sim.SetUserEmail("bal", "admin", "Claire@asso.example", true)
	sim.SetUserEmail("bal", "zoe", "zoe@bal.example", true)
	a, err := models.NewAnnouncement("Mise à jour", "Nextcloud 32 arrive.", models.AudienceAdmins, models.AnnouncementFilter{}, "alix")
	require.NoError(t, err)
	require.NoError(t, models.CreateAnnouncement(ctx, db, &a))

	t.Run("a retry resumes after the last page its heartbeat recorded", func(t *testing.T) {
		var s testsuite.WorkflowTestSuite
		env := s.NewTestActivityEnvironment()
		aa := &nextcloud.AudienceActivities{Driver: sim, DB: db}
		env.RegisterActivity(aa)
		env.SetHeartbeatDetails(struct {
			After  string
			Result nextcloud.CollectAdminsResult
		}{After: "amis", Result: nextcloud.CollectAdminsResult{Spaces: 1}})
		v, err := env.ExecuteActivity(aa.CollectAnnouncementAdmins, nextcloud.CollectAdminsInput{AnnouncementID: a.ID})
		require.NoError(t, err)
		var res nextcloud.CollectAdminsResult
		require.NoError(t, v.Get(&res))
		assert.Zero(t, sim.Calls("amis", nextcloud.OpAdminEmails), "the page written is not read again")
		assert.Equal(t, 3, res.Spaces, "the count carries over")
		assert.Equal(t, 1, res.Unread)
		assert.Equal(t, []string{"cine"}, res.UnreadSlugs)
		assert.Equal(t, 2, res.Recipients, "claire@ and zoe@, read from bal")
		row, err := models.FindAnnouncement(ctx, db, a.ID)
		require.NoError(t, err)
		assert.Equal(t, 1, row.UnreadSpaces)
	})
}
