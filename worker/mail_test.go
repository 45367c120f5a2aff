package worker_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
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

// countingSender counts the mails one worker sent.
type countingSender struct {
	mail.Sender
	sent atomic.Int64
}

func (s *countingSender) Send(ctx context.Context, m mail.Message) error {
	err := s.Sender.Send(ctx, m)
	if err == nil {
		s.sent.Add(1)
	}
	return err
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
	senders := []*countingSender{{}, {}}
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
	burst, err := c.ExecuteWorkflow(ctx, opts, sendAll, warnings)
	require.NoError(t, err)
	// A person applies while the warnings go out.
	const before = 5
	smtp.WaitFor(t, before, 30*time.Second)
	receipt, err := c.ExecuteWorkflow(ctx, opts, sendAll,
		[]mail.SendInput{{Slug: urgent.Slug, ApplicationID: urgent.ID, Kind: mail.KindReceipt}})
	require.NoError(t, err)
	require.NoError(t, receipt.Get(ctx, nil))
	require.NoError(t, burst.Get(ctx, nil))

	got := smtp.Messages()
	require.Len(t, got, bulk+1)
	slices.SortFunc(got, func(a, b mailtest.Received) int { return a.At.Compare(b.At) })
	span := got[len(got)-1].At.Sub(got[0].At)
	t.Logf("%d mails at MAIL_RATE=%d in %s, sent by the workers %d and %d", len(got), rate, span.Round(time.Millisecond),
		senders[0].sent.Load(), senders[1].sent.Load())

	t.Run("the rate holds across both workers", func(t *testing.T) {
		for _, s := range senders {
			assert.Positive(t, s.sent.Load(), "each worker of the lane sends some of the mails")
		}
		// The server lets a second's worth go at once (its burst), then MAIL_RATE. The
		// times are the SMTP server's, a few milliseconds after the dispatch: allow a
		// mail or two of jitter.
		const burst, jitter = rate, 2
		for i := range got {
			n := 0
			for _, m := range got[i:] {
				if m.At.Sub(got[i].At) >= time.Second {
					break
				}
				n++
			}
			assert.LessOrEqual(t, n, rate+burst+jitter, "mails in the second from mail %d", i)
			if got[i].At.Sub(got[0].At) >= time.Second {
				// The burst is spent and the backlog never empties: MAIL_RATE alone.
				assert.LessOrEqual(t, n, rate+jitter, "mails in the second from mail %d, once the burst is spent", i)
			}
		}
		ideal := time.Duration(len(got)-burst) * time.Second / rate
		assert.GreaterOrEqual(t, span, ideal-300*time.Millisecond)
		assert.Less(t, span, 4*ideal, "the rate limit slows the mails, nothing more")
	})
	t.Run("a mail someone waits for overtakes the bulk", func(t *testing.T) {
		pos := slices.IndexFunc(got, func(m mailtest.Received) bool { return slices.Contains(m.To, "presse@asso.example") })
		require.GreaterOrEqual(t, pos, before)
		scheduled := scheduledAt(t, c, receipt.GetID())
		overtaken := 0
		for _, m := range got[:pos] {
			if m.At.After(scheduled) {
				overtaken++
			}
		}
		t.Logf("the receipt went out %d-th: %d warnings went out between its scheduling and its delivery, %d after it",
			pos+1, overtaken, len(got)-1-pos)
		// A warning or two may already be on their way to a worker when it comes.
		assert.LessOrEqual(t, overtaken, 3, "the receipt goes out before the warnings waiting with it")
		assert.GreaterOrEqual(t, len(got)-1-pos, bulk/3, "it overtook a backlog of warnings")
	})
}

// scheduledAt returns when the server scheduled the (first) activity of a workflow.
func scheduledAt(t *testing.T, c client.Client, workflowID string) time.Time {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		require.NoError(t, err)
		if e.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED {
			return e.GetEventTime().AsTime()
		}
	}
	t.Fatalf("workflow %s scheduled no activity", workflowID)
	return time.Time{}
}
