package workflows

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"jardinier/activities/mail"
	"jardinier/activities/nextcloud"
	"jardinier/models"
)

// announcementHarness runs an announcement against fake mail activities that record
// which recipients they were asked for, and how many at once.
type announcementHarness struct {
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment

	mu         sync.Mutex
	asked      map[int]int
	running    int
	maxRunning int
	recorded   []models.AnnouncementProgress
	refuse     map[int]bool // refused for good by the mail server
}

func newAnnouncement(t *testing.T, total int) *announcementHarness {
	t.Helper()
	h := &announcementHarness{asked: map[int]int{}, refuse: map[int]bool{}}
	h.env = h.NewTestWorkflowEnvironment()
	h.env.SetTestTimeout(30 * time.Second)
	h.env.RegisterWorkflowWithOptions(AnnouncementWorkflow, workflow.RegisterOptions{Name: AnnouncementWorkflowType})
	h.env.RegisterActivityWithOptions(func(context.Context, mail.PrepareAnnouncementInput) (mail.PrepareAnnouncementResult, error) {
		return mail.PrepareAnnouncementResult{Total: total}, nil
	}, activity.RegisterOptions{Name: "PrepareAnnouncement"})
	h.env.RegisterActivityWithOptions(func(context.Context, nextcloud.CollectAdminsInput) (nextcloud.CollectAdminsResult, error) {
		return nextcloud.CollectAdminsResult{Skipped: true}, nil
	}, activity.RegisterOptions{Name: "CollectAnnouncementAdmins"})
	h.env.RegisterActivityWithOptions(func(_ context.Context, in mail.AnnouncementMailInput) (mail.SendResult, error) {
		h.mu.Lock()
		h.asked[in.Seq]++
		h.running++
		h.maxRunning = max(h.maxRunning, h.running)
		refused := h.refuse[in.Seq]
		h.mu.Unlock()
		time.Sleep(time.Millisecond)
		h.mu.Lock()
		h.running--
		h.mu.Unlock()
		if refused {
			return mail.SendResult{}, temporal.NewNonRetryableApplicationError("550", mail.ErrTypeRefused, nil)
		}
		return mail.SendResult{MessageID: "m"}, nil
	}, activity.RegisterOptions{Name: "SendAnnouncement"})
	h.env.RegisterActivityWithOptions(func(_ context.Context, in mail.RecordAnnouncementInput) error {
		h.mu.Lock()
		h.recorded = append(h.recorded, in.Progress)
		h.mu.Unlock()
		return nil
	}, activity.RegisterOptions{Name: "RecordAnnouncement"})
	return h
}

func TestAnnouncementWorkflow(t *testing.T) {
	t.Run("every recipient is asked for once, never more than the window at once", func(t *testing.T) {
		h := newAnnouncement(t, 120)
		h.refuse[7] = true
		h.env.ExecuteWorkflow(AnnouncementWorkflow, AnnouncementInput{ID: "a1", Requester: "alix", Window: 10})
		require.True(t, h.env.IsWorkflowCompleted())
		require.NoError(t, h.env.GetWorkflowError())
		var p AnnouncementProgress
		require.NoError(t, h.env.GetWorkflowResult(&p))
		assert.Equal(t, models.AnnouncementDone, p.Status)
		assert.Equal(t, 119, p.Sent)
		assert.Equal(t, 1, p.Failed, "a refusal for good is counted, not retried")
		assert.Len(t, h.asked, 120)
		for seq, n := range h.asked {
			assert.Equal(t, 1, n, "recipient %d", seq)
		}
		assert.LessOrEqual(t, h.maxRunning, 10)
		last := h.recorded[len(h.recorded)-1]
		assert.True(t, last.Finished, "the end is recorded, and the addresses deleted")
		assert.Equal(t, models.AnnouncementDone, last.Status)
	})
	t.Run("a control that does not fit the status is refused", func(t *testing.T) {
		h := newAnnouncement(t, 30)
		var resumeErr, cancelErr error
		var cancelled AnnouncementControlResult
		h.env.RegisterDelayedCallback(func() {
			h.env.UpdateWorkflow(UpdateAnnouncementResume, "", &testsuite.TestUpdateCallback{
				OnReject: func(err error) { resumeErr = err }, OnAccept: func() {}, OnComplete: func(any, error) {},
			}, AnnouncementControlInput{Actor: "alix"})
			h.env.UpdateWorkflow(UpdateAnnouncementCancel, "", &testsuite.TestUpdateCallback{
				OnReject: func(err error) { cancelErr = err }, OnAccept: func() {},
				OnComplete: func(v any, err error) {
					if err != nil {
						cancelErr = err
					} else if r, ok := v.(AnnouncementControlResult); ok {
						cancelled = r
					}
				},
			}, AnnouncementControlInput{Actor: "alix", Reason: "erreur dans le texte"})
		}, 0)
		h.env.ExecuteWorkflow(AnnouncementWorkflow, AnnouncementInput{ID: "a2", Requester: "alix", Window: 5})
		require.NoError(t, h.env.GetWorkflowError())
		var appErr *temporal.ApplicationError
		require.True(t, errors.As(resumeErr, &appErr), "%v", resumeErr)
		assert.Equal(t, ErrTypeNotAllowed, appErr.Type())
		require.NoError(t, cancelErr)
		assert.Equal(t, models.AnnouncementCancelled, cancelled.Status)
		var p AnnouncementProgress
		require.NoError(t, h.env.GetWorkflowResult(&p))
		assert.Equal(t, models.AnnouncementCancelled, p.Status)
		assert.Less(t, len(h.asked), 30, "no new mail after the cancel")
		assert.Equal(t, len(h.asked), p.Sent, "the mails under way finished")
	})
}
