package worker_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"jardinier/activities/mail"
	"jardinier/activities/mail/mailtest"
	"jardinier/deploy/devstack/devstacktest"
	"jardinier/models"
	"jardinier/models/modeltest"
	"jardinier/worker"
	"jardinier/workflows"
)

// laneTestQueue is where the test's own workflow runs; the mails go to the lane.
const laneTestQueue = "mail-lane-test"

// sendAll sends every mail at once through the mail lane, as the workflows do, and
// waits for them all.
func sendAll(ctx workflow.Context, mails []mail.SendInput) error {
	var ma *mail.Activities
	futures := make([]workflow.Future, len(mails))
	for i, m := range mails {
		opts := workflows.MailActivityOptions(m.Kind, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
		futures[i] = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), ma.Send, m)
	}
	for _, f := range futures {
		if err := f.Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// dispatch is one mail as the Temporal server handed it out: when its activity was
// scheduled and when the server gave it to a worker (the time the rate limit decides).
type dispatch struct {
	to                 string
	scheduled, started time.Time
}

// recordingSender sends through Sender and records which mails one worker sent.
type recordingSender struct {
	mail.Sender
	mu   sync.Mutex
	sent []dispatch
}

func (s *recordingSender) Send(ctx context.Context, m mail.Message) error {
	err := s.Sender.Send(ctx, m)
	if err == nil {
		info := activity.GetInfo(ctx)
		s.mu.Lock()
		s.sent = append(s.sent, dispatch{to: m.To, scheduled: info.ScheduledTime, started: info.StartedTime})
		s.mu.Unlock()
	}
	return err
}

// maxInSecond returns the most times of sorted that fall within one second, and the
// same once the first second is over.
func maxInSecond(sorted []time.Time) (all, afterFirst int) {
	for i := range sorted {
		n := 0
		for _, at := range sorted[i:] {
			if at.Sub(sorted[i]) >= time.Second {
				break
			}
			n++
		}
		all = max(all, n)
		if sorted[i].Sub(sorted[0]) >= time.Second {
			afterFirst = max(afterFirst, n)
		}
	}
	return all, afterFirst
}

func TestMailLane(t *testing.T) {
	const rate = 10 // MAIL_RATE of the test
	const bulk = 40

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
	for _, s := range senders {
		// Two workers of the lane, as two worker processes would run them.
		s.Sender, err = mail.NewSMTPSender(smtp.URL())
		require.NoError(t, err)
		w, err := worker.NewMail(worker.Options{Config: cfg, DB: db, Client: c, Logger: logger, Sender: s})
		require.NoError(t, err)
		require.NoError(t, w.Start())
		t.Cleanup(w.Stop)
	}
	tw := sdkworker.New(c, laneTestQueue, sdkworker.Options{})
	tw.RegisterWorkflow(sendAll)
	require.NoError(t, tw.Start())
	t.Cleanup(tw.Stop)

	now := time.Now()
	var warnings []mail.SendInput
	for i := range bulk {
		app := modeltest.CreateApplication(t, db, fmt.Sprintf("jardin-%02d", i), now.AddDate(0, -3, 0))
		warnings = append(warnings, mail.SendInput{Slug: app.Slug, ApplicationID: app.ID, Kind: mail.KindFirstWarning,
			LastActivityAt: now.AddDate(0, 0, -60), NextStepAt: now.AddDate(0, 0, 15), DeletionAt: now.AddDate(0, 0, 60)})
	}
	urgent := modeltest.CreateApplication(t, db, "presse", now)

	ctx := context.Background()
	opts := client.StartWorkflowOptions{TaskQueue: laneTestQueue}
	burst, err := c.ExecuteWorkflow(ctx, opts, sendAll, warnings[:bulk/2])
	require.NoError(t, err)
	// More warnings fall due while the first go out, and a person applies just after
	// them: the receipt is the newest task of the queue, behind a backlog of the same
	// age, so only its priority can take it ahead.
	const before = 5
	smtp.WaitFor(t, before, 30*time.Second)
	receipt, err := c.ExecuteWorkflow(ctx, opts, sendAll, append(slices.Clone(warnings[bulk/2:]),
		mail.SendInput{Slug: urgent.Slug, ApplicationID: urgent.ID, Kind: mail.KindReceipt}))
	require.NoError(t, err)
	require.NoError(t, receipt.Get(ctx, nil))
	require.NoError(t, burst.Get(ctx, nil))

	got := smtp.Messages()
	require.Len(t, got, bulk+1)
	var dispatched []dispatch
	for _, s := range senders {
		dispatched = append(dispatched, s.sent...)
	}
	require.Len(t, dispatched, bulk+1)
	slices.SortFunc(dispatched, func(a, b dispatch) int { return a.started.Compare(b.started) })
	var starts, deliveries []time.Time
	for _, d := range dispatched {
		starts = append(starts, d.started)
	}
	for _, m := range got {
		deliveries = append(deliveries, m.At)
	}
	slices.SortFunc(deliveries, time.Time.Compare)
	span := starts[len(starts)-1].Sub(starts[0])
	t.Logf("%d mails at MAIL_RATE=%d dispatched over %s, delivered over %s, by the workers %d and %d", len(got), rate,
		span.Round(time.Millisecond), deliveries[len(deliveries)-1].Sub(deliveries[0]).Round(time.Millisecond),
		len(senders[0].sent), len(senders[1].sent))

	t.Run("the rate holds across both workers", func(t *testing.T) {
		for _, s := range senders {
			assert.NotEmpty(t, s.sent, "each worker of the lane sends some of the mails")
		}
		// The server lets a second's worth go at once (its burst), then MAIL_RATE. The
		// start times are written by the history service just after matching let the
		// task go: allow one or two more at the edges of a window.
		const burst = rate
		all, after := maxInSecond(starts)
		t.Logf("dispatched in one second: at most %d, %d once the burst is spent", all, after)
		assert.LessOrEqual(t, all, rate+burst+2)
		assert.LessOrEqual(t, after, rate+2, "the burst is spent and the backlog never empties: MAIL_RATE alone")
		ideal := time.Duration(len(got)-burst-1) * time.Second / rate
		assert.GreaterOrEqual(t, span, ideal-200*time.Millisecond)
		assert.Less(t, span, 4*ideal, "the rate limit slows the mails, nothing more")
		// What the SMTP server saw: the same, but workers on a busy machine send a
		// dispatched mail some time later, which may bunch a few together.
		all, _ = maxInSecond(deliveries)
		t.Logf("delivered in one second: at most %d", all)
		assert.LessOrEqual(t, all, rate+burst+rate/2)
	})
	t.Run("a mail someone waits for overtakes the bulk", func(t *testing.T) {
		pos := slices.IndexFunc(dispatched, func(d dispatch) bool { return d.to == "presse@asso.example" })
		require.GreaterOrEqual(t, pos, before)
		r := dispatched[pos]
		overtook, passed := 0, 0
		for _, d := range dispatched[:pos] {
			if d.started.After(r.scheduled) {
				passed++
			}
		}
		for _, d := range dispatched[pos+1:] {
			if !d.scheduled.After(r.scheduled) {
				overtook++
			}
		}
		t.Logf("the receipt went out %d-th: %d warnings went out between its scheduling and its dispatch; it overtook %d",
			pos+1, passed, overtook)
		// Warnings handed out while the receipt's task travels from history to matching
		// (milliseconds, up to a second on a busy machine) go first; in order it would
		// wait for the whole backlog.
		assert.LessOrEqual(t, passed, rate, "the receipt goes out before the warnings waiting with it")
		assert.GreaterOrEqual(t, overtook, bulk/3, "it overtook a backlog of warnings")
	})
}
