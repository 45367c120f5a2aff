package worker_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"gorm.io/gorm"

	"jardinier/activities/mail"
	"jardinier/activities/mail/mailtest"
	"jardinier/activities/nextcloud"
	"jardinier/deploy/devstack/devstacktest"
	"jardinier/models"
	"jardinier/models/modeltest"
	"jardinier/worker"
	"jardinier/workflows"
)

// insertAudience writes n spaces in service, each with its own contact
// <prefix>-<i>@audience.example, in batches.
func insertAudience(t *testing.T, db *gorm.DB, prefix string, n int) {
	t.Helper()
	now := time.Now().UTC()
	for from := 0; from < n; from += 1000 {
		var apps []models.Application
		var spaces []models.Space
		for i := from; i < min(n, from+1000); i++ {
			slug, id := fmt.Sprintf("%s-%05d", prefix, i), uuid.NewString()
			apps = append(apps, models.Application{ID: id, Slug: slug, OrganizationName: "Association " + slug,
				OrganizationType: models.OrgAssociation1901, Sectors: []string{"culture"}, FoundedYear: 2010, Mission: "m",
				Actions: "a", Needs: "n", AccountsNeeded: 2, OfficeSuite: models.OfficeCollabora,
				ContactEmail: slug + "@audience.example", TermsAcceptedAt: now})
			spaces = append(spaces, models.Space{Slug: slug, ApplicationID: &id, Status: models.StatusActive,
				NextcloudVersion: "31.0.9", OfficeSuite: models.OfficeCollabora, SubmittedAt: now})
		}
		require.NoError(t, db.Create(&apps).Error)
		require.NoError(t, db.Create(&spaces).Error)
	}
}

// TestAnnouncementThroughTheLane sends a 5,000-mail announcement on the dev server
// through two workers of the mail lane, and asks for a confirmation link in the middle
// of it: the rate holds across both workers, the link overtakes the announcement's
// backlog, and every person gets the announcement once.
func TestAnnouncementThroughTheLane(t *testing.T) {
	const rate = 40 // MAIL_RATE of the test: what a busy 2-core machine sustains, so that the limit, not the machine, sets the pace
	const people = 5000

	srv := devstacktest.StartTemporal(t)
	db := modeltest.NewDB(t)
	smtp := mailtest.Start(t)
	logger := slog.New(slog.DiscardHandler)
	c, err := client.Dial(client.Options{HostPort: srv.HostPort, Namespace: srv.Namespace})
	require.NoError(t, err)
	t.Cleanup(c.Close)

	cfg := models.DefaultConfig()
	cfg.SMTPURL, cfg.SecretKey, cfg.MailRate = smtp.URL(), modeltest.SecretKey, rate
	senders := []*recordingSender{{}, {}}
	for i, s := range senders {
		s.Sender, err = mail.NewSMTPSender(smtp.URL())
		require.NoError(t, err)
		// A few mails at once are enough at this rate, and spare the shared PostgreSQL
		// server the connections of hundreds.
		o := worker.Options{Config: cfg, DB: db, Client: c, Logger: logger, Sender: s, MaxConcurrentActivities: 10}
		var w sdkworker.Worker
		if i == 0 {
			// A whole worker process: the announcement's workflow and one worker of the lane.
			o.Nextcloud = nextcloud.NewSimulator(logger)
			w, err = worker.New(o)
		} else {
			w, err = worker.NewMail(o)
		}
		require.NoError(t, err)
		require.NoError(t, w.Start())
		t.Cleanup(w.Stop)
	}
	tw := sdkworker.New(c, laneTestQueue, sdkworker.Options{})
	tw.RegisterWorkflow(sendAll)
	require.NoError(t, tw.Start())
	t.Cleanup(tw.Stop)

	insertAudience(t, db, "annonce", people)
	contact := modeltest.CreateApplication(t, db, "presse", time.Now())
	ctx := context.Background()
	a, err := models.NewAnnouncement("Enquête annuelle", "Dites-nous ce qui vous manque.", models.AudienceContacts,
		models.AnnouncementFilter{}, "alix")
	require.NoError(t, err)
	require.NoError(t, models.CreateAnnouncement(ctx, db, &a))
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.AnnouncementWorkflowID(a.ID),
		TaskQueue: workflows.TaskQueue}, workflows.AnnouncementWorkflow, workflows.AnnouncementInput{ID: a.ID, Requester: "alix"})
	require.NoError(t, err)

	// Well into the announcement, its backlog waiting in the queue, a contact asks to
	// deactivate their space: the link must not wait for thousands of mails.
	smtp.WaitFor(t, people/5, 5*time.Minute)
	askedAt := time.Now()
	link, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: laneTestQueue}, sendAll, []mail.SendInput{{
		Slug: contact.Slug, ApplicationID: contact.ID, Kind: mail.KindConfirmDeactivation, Actor: "contact",
		TokenSeq: 1, TokenExpires: time.Now().Add(time.Hour)}})
	require.NoError(t, err)
	require.NoError(t, link.Get(ctx, nil))
	var p workflows.AnnouncementProgress
	require.NoError(t, run.Get(ctx, &p))

	got := smtp.Messages()
	var announced, before []time.Time
	var linkAt time.Time
	to := map[string]int{}
	for _, m := range got {
		if m.To[0] == contact.ContactEmail {
			linkAt = m.At
			continue
		}
		to[m.To[0]]++
		announced = append(announced, m.At)
	}
	require.False(t, linkAt.IsZero(), "the confirmation link arrived")
	for _, at := range announced {
		if at.After(askedAt) && at.Before(linkAt) {
			before = append(before, at)
		}
	}
	t.Logf("%d announcement mails at MAIL_RATE=%d over %s (ideal %s); the link arrived %.2f s after it was asked for, %d announcement mails in between; workers sent %d and %d",
		len(announced), rate, announced[len(announced)-1].Sub(announced[0]).Round(time.Millisecond),
		time.Duration(people/rate)*time.Second, linkAt.Sub(askedAt).Seconds(), len(before),
		len(senders[0].sent), len(senders[1].sent))

	t.Run("every person gets the announcement once", func(t *testing.T) {
		assert.Equal(t, people, p.Total)
		assert.Equal(t, people, p.Sent)
		assert.Equal(t, models.AnnouncementDone, p.Status)
		assert.Len(t, to, people)
		for addr, n := range to {
			if n != 1 {
				t.Errorf("%s got the announcement %d times", addr, n)
			}
		}
		row, err := models.FindAnnouncement(ctx, db, a.ID)
		require.NoError(t, err)
		assert.Equal(t, people, row.Sent)
		var left int64
		require.NoError(t, db.Model(&models.AnnouncementRecipient{}).Where("announcement_id = ?", a.ID).Count(&left).Error)
		assert.Zero(t, left, "the addresses are deleted once it is over")
	})
	t.Run("the rate holds across both workers", func(t *testing.T) {
		var starts []time.Time
		for _, s := range senders {
			assert.NotEmpty(t, s.sent, "each worker of the lane sends some of the mails")
			for _, d := range s.sent {
				starts = append(starts, d.started)
			}
		}
		slices.SortFunc(starts, time.Time.Compare)
		// The server's limit is a token bucket holding a second's worth: whenever the lane
		// had nothing to send for a moment (a busy machine stalls the workflow), that
		// second's worth may go at once, then MAIL_RATE. Start times are written by the
		// history service just after matching lets a task go: allow a fifth more.
		all, _ := maxInSecond(starts)
		ten := maxInWindow(starts, 10*time.Second)
		t.Logf("dispatched in one second: at most %d; in ten seconds: at most %d", all, ten)
		assert.LessOrEqual(t, all, 2*rate+rate/5)
		assert.LessOrEqual(t, ten, 11*rate+rate/5, "MAIL_RATE over time, whichever worker sends")
	})
	t.Run("the confirmation link overtakes the announcement's backlog", func(t *testing.T) {
		// In order it would wait for the 4,000 mails scheduled before it; by priority,
		// for the mails the lane hands out while its task reaches the matcher.
		assert.LessOrEqual(t, len(before), rate, "at most a second's worth of the announcement before it")
	})
}

// maxInWindow returns the most times of sorted that fall within one window of d.
func maxInWindow(sorted []time.Time, d time.Duration) int {
	most, j := 0, 0
	for i := range sorted {
		for sorted[i].Sub(sorted[j]) >= d {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}
