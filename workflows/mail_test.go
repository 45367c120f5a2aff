package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"jardinier/activities/mail"
)

// mailLane is where a mail activity was scheduled: its task queue and priority. The
// test environment does not carry priorities to activities (Priority stays zero): the
// test on the dev server in worker/ shows them at work.
type mailLane struct {
	TaskQueue string
	Priority  temporal.Priority
}

func TestMailLane(t *testing.T) {
	t.Run("each kind gets the priority of its lane", func(t *testing.T) {
		assert.Equal(t, temporal.Priority{PriorityKey: mailPriorityUrgent}, MailPriority(mail.KindReceipt))
		assert.Equal(t, temporal.Priority{PriorityKey: mailPriorityBulk}, MailPriority(mail.KindFirstWarning))
		opts := MailActivityOptions(mail.KindAccepted, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
		assert.Equal(t, MailTaskQueue, opts.TaskQueue)
		assert.Equal(t, temporal.Priority{PriorityKey: mailPriorityUrgent}, opts.Priority)
		assert.Equal(t, time.Minute, opts.StartToCloseTimeout, "the caller's options are kept")
	})

	lane := mailLane{TaskQueue: MailTaskQueue}

	t.Run("a space's mails go to the mail lane, the receipt and the credentials", func(t *testing.T) {
		h := newHarness(t)
		var answer decisionAnswer
		h.decide(time.Hour, UpdateAccept, DecisionInput{Moderator: "camille"}, &answer)
		h.run(3 * time.Hour)

		require.NoError(t, answer.err)
		assert.Equal(t, []mail.Kind{mail.KindReceipt, mail.KindAccepted}, h.mailKinds())
		assert.Equal(t, []mailLane{lane, lane}, h.mailLanes)
	})
	t.Run("a space's life until its deletion: every mail goes to the mail lane", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.run(200 * day)

		require.NoError(t, h.err)
		require.Contains(t, h.mailKinds(), mail.KindFirstWarning)
		require.Contains(t, h.mailKinds(), mail.KindDeleted)
		for i, m := range h.mails {
			assert.Equal(t, lane, h.mailLanes[i], m.Kind)
		}
	})
	t.Run("the moderators' digest goes to the mail lane", func(t *testing.T) {
		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		var got mailLane
		env.RegisterActivityWithOptions(func(ctx context.Context, _ mail.DigestInput) (mail.DigestResult, error) {
			got = mailLane{activity.GetInfo(ctx).TaskQueue, activity.GetInfo(ctx).Priority}
			return mail.DigestResult{Sent: true}, nil
		}, activity.RegisterOptions{Name: "SendDigest"})
		env.ExecuteWorkflow(DigestWorkflow, DigestInput{})
		require.NoError(t, env.GetWorkflowError())
		assert.Equal(t, lane, got)
	})
}
