package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"jardinier/activities/mail"
)

func TestModeratorMailWorkflow(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	var ma *mail.Activities
	var got mail.ModeratorMailInput
	env.OnActivity(ma.SendModeratorMail, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in mail.ModeratorMailInput) (mail.SendResult, error) {
			got = in
			return mail.SendResult{MessageID: "m1@jardinier"}, nil
		})
	env.ExecuteWorkflow(ModeratorMailWorkflow, ModeratorMailInput{Kind: mail.KindModeratorInvitation, LinkID: "0b9c7d1e-0000-4000-8000-000000000001"})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res ModeratorMailResult
	require.NoError(t, env.GetWorkflowResult(&res))
	t.Run("the activity gets the link's ID only, and the mail is sent", func(t *testing.T) {
		assert.Equal(t, mail.ModeratorMailInput{Kind: mail.KindModeratorInvitation, LinkID: "0b9c7d1e-0000-4000-8000-000000000001"}, got)
		assert.Equal(t, "m1@jardinier", res.MessageID)
	})
}

func TestDigestWorkflow(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	start := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	env.SetStartTime(start)
	var ma *mail.Activities
	var got mail.DigestInput
	env.OnActivity(ma.SendDigest, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in mail.DigestInput) (mail.DigestResult, error) {
			got = in
			return mail.DigestResult{Sent: true, New: 2, Waiting: 1}, nil
		})
	env.ExecuteWorkflow(DigestWorkflow, DigestInput{})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res DigestResult
	require.NoError(t, env.GetWorkflowResult(&res))
	t.Run("a digest covers the day before the workflow's own time", func(t *testing.T) {
		assert.True(t, got.Now.Equal(start), got.Now)
		assert.Equal(t, 24*time.Hour, got.Now.Sub(got.Since))
		assert.Equal(t, DigestResult{Sent: true, New: 2, Overdue: 1}, res)
	})
}
