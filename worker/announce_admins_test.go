package worker_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"jardinier/activities/mail/mailtest"
	"jardinier/activities/nextcloud"
	"jardinier/deploy/devstack/devstacktest"
	"jardinier/models"
	"jardinier/models/modeltest"
	"jardinier/worker"
	"jardinier/workflows"
)

// TestAnnouncementToAdminsThroughTheWorker sends an announcement to the spaces' admins
// with the worker the process runs, on the dev server, the admins read from the
// simulator: each address gets it once, by SMTP.
func TestAnnouncementToAdminsThroughTheWorker(t *testing.T) {
	srv := devstacktest.StartTemporal(t)
	db := modeltest.NewDB(t)
	smtp := mailtest.Start(t)
	logger := slog.New(slog.DiscardHandler)
	c, err := client.Dial(client.Options{HostPort: srv.HostPort, Namespace: srv.Namespace})
	require.NoError(t, err)
	t.Cleanup(c.Close)

	ctx := context.Background()
	sim := nextcloud.NewSimulator(logger)
	now := time.Now().UTC()
	for _, slug := range []string{"amis", "bal"} {
		app := modeltest.CreateApplication(t, db, slug, now)
		require.NoError(t, db.Create(&models.Space{Slug: slug, ApplicationID: &app.ID, Status: models.StatusActive,
			NextcloudVersion: "31.0.9", OfficeSuite: models.OfficeCollabora, SubmittedAt: now}).Error)
		require.NoError(t, sim.CreateDatabase(ctx, slug))
		require.NoError(t, sim.Install(ctx, nextcloud.InstallSpec{Slug: slug, Domain: slug + ".example", Version: "31.0.9",
			Bucket: "space-" + slug, AdminUser: "admin"}))
	}
	sim.SetUserEmail("amis", "admin", "claire@asso.example", true)
	sim.SetUserEmail("bal", "admin", "CLAIRE@asso.example", true)
	sim.SetUserEmail("bal", "zoe", "zoe@bal.example", true)

	cfg := models.DefaultConfig()
	cfg.SMTPURL, cfg.SecretKey = smtp.URL(), modeltest.SecretKey
	w, err := worker.New(worker.Options{Config: cfg, DB: db, Client: c, Logger: logger, Nextcloud: sim, MaxConcurrentActivities: 10})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	a, err := models.NewAnnouncement("Mise à jour", "Nextcloud 32 arrive.", models.AudienceAdmins, models.AnnouncementFilter{}, "alix")
	require.NoError(t, err)
	require.NoError(t, models.CreateAnnouncement(ctx, db, &a))
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.AnnouncementWorkflowID(a.ID),
		TaskQueue: workflows.TaskQueue}, workflows.AnnouncementWorkflow, workflows.AnnouncementInput{ID: a.ID, Requester: "alix"})
	require.NoError(t, err)
	var p workflows.AnnouncementProgress
	require.NoError(t, run.Get(ctx, &p))

	assert.Equal(t, models.AnnouncementDone, p.Status)
	assert.Equal(t, 2, p.Sent)
	to := map[string]int{}
	for _, m := range smtp.Messages() {
		to[m.To[0]]++
		assert.Contains(t, m.Body, "parce que vous administrez l'espace", "the mail says why an admin gets it")
	}
	assert.Equal(t, map[string]int{"claire@asso.example": 1, "zoe@bal.example": 1}, to)
}
