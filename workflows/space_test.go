package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"jardinier/activities/database"
	"jardinier/activities/mail"
	"jardinier/activities/nextcloud"
	"jardinier/activities/storage"
	"jardinier/models"
)

// harness runs one space workflow on the test server with fake activities registered
// under the real activities' names, and records what they were asked.
type harness struct {
	testsuite.WorkflowTestSuite
	t           *testing.T
	env         *testsuite.TestWorkflowEnvironment
	transitions []database.RecordTransitionInput
	mails       []mail.SendInput
	purged      bool
	calls       map[string]int
	// fail makes an activity fail: given its attempt number, the error to return (nil:
	// succeed).
	fail map[string]func(attempt int) error
}

var testInput = SpaceInput{ApplicationID: "6a1d0c9e-0000-4000-8000-000000000001", Slug: "les-amis",
	OfficeSuite: models.OfficeCollabora, Bucket: "space-les-amis", Domain: "les-amis.example.org",
	NextcloudVersion: "31.0.9"}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, calls: map[string]int{}, fail: map[string]func(int) error{}}
	h.env = h.NewTestWorkflowEnvironment()
	h.env.SetTestTimeout(30 * time.Second)
	h.env.RegisterWorkflow(SpaceWorkflow)
	register(h, "RecordTransition", func(in database.RecordTransitionInput) database.RecordTransitionResult {
		h.transitions = append(h.transitions, in)
		return database.RecordTransitionResult{Recorded: true}
	})
	register(h, "PurgeApplication", func(database.PurgeApplicationInput) database.PurgeApplicationResult {
		h.purged = true
		return database.PurgeApplicationResult{Deleted: true}
	})
	register(h, "Send", func(in mail.SendInput) mail.SendResult {
		h.mails = append(h.mails, in)
		return mail.SendResult{MessageID: "m"}
	})
	register(h, "CreateBucket", func(storage.CreateBucketInput) storage.CreateBucketResult {
		return storage.CreateBucketResult{Created: true}
	})
	register(h, "DeleteBucket", func(storage.DeleteBucketInput) storage.DeleteBucketResult { return storage.DeleteBucketResult{} })
	register(h, "CreateSpaceDatabase", func(nextcloud.CreateDatabaseInput) nextcloud.CreateDatabaseResult {
		return nextcloud.CreateDatabaseResult{}
	})
	register(h, "InstallSpace", func(nextcloud.InstallInput) nextcloud.InstallResult {
		return nextcloud.InstallResult{Version: "31.0.9"}
	})
	register(h, "CreateSpaceAdmin", func(in nextcloud.CreateAdminInput) nextcloud.CreateAdminResult {
		return nextcloud.CreateAdminResult{AdminUser: in.AdminUser, Password: "c2VhbGVk"}
	})
	register(h, "ApplySpaceLimits", func(nextcloud.ApplyLimitsInput) nextcloud.ApplyLimitsResult { return nextcloud.ApplyLimitsResult{} })
	register(h, "EnableSpaceApps", func(nextcloud.EnableAppsInput) nextcloud.EnableAppsResult { return nextcloud.EnableAppsResult{} })
	register(h, "RemoveSpace", func(nextcloud.RemoveInput) nextcloud.RemoveResult { return nextcloud.RemoveResult{} })
	return h
}

// register installs a fake activity under name that counts its calls and fails when
// the test asked it to.
func register[In, Out any](h *harness, name string, fn func(In) Out) {
	h.env.RegisterActivityWithOptions(func(ctx context.Context, in In) (Out, error) {
		h.calls[name]++
		if fail := h.fail[name]; fail != nil {
			if err := fail(int(activity.GetInfo(ctx).Attempt)); err != nil {
				var zero Out
				return zero, err
			}
		}
		return fn(in), nil
	}, activity.RegisterOptions{Name: name})
}

// decide sends a moderator's decision after delay, and records the answer.
func (h *harness) decide(delay time.Duration, update string, in DecisionInput, answer *decisionAnswer) {
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(update, "", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { answer.rejected = err },
			OnAccept: func() {},
			OnComplete: func(result any, err error) {
				answer.err = err
				if r, ok := result.(DecisionResult); ok {
					answer.result = r
				}
			},
		}, in)
	}, delay)
}

type decisionAnswer struct {
	rejected error
	err      error
	result   DecisionResult
}

// queryAt reads the workflow's status at a point of the test's timeline.
func (h *harness) queryAt(delay time.Duration, status *SpaceStatus) {
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(QueryStatus)
		require.NoError(h.t, err)
		require.NoError(h.t, v.Get(status))
	}, delay)
}

// run executes the workflow; a space that became active is cancelled at the end of the
// timeline since its workflow lives on.
func (h *harness) run(end time.Duration) {
	h.env.RegisterDelayedCallback(func() { h.env.CancelWorkflow() }, end)
	h.env.ExecuteWorkflow(SpaceWorkflow, testInput)
	require.True(h.t, h.env.IsWorkflowCompleted())
}

func (h *harness) statuses() []models.Status {
	var out []models.Status
	for _, tr := range h.transitions {
		out = append(out, tr.Status)
	}
	return out
}

func (h *harness) mailKinds() []mail.Kind {
	var out []mail.Kind
	for _, m := range h.mails {
		out = append(out, m.Kind)
	}
	return out
}

func TestSpaceWorkflow(t *testing.T) {
	t.Run("an accepted application is provisioned, becomes active and its admin gets the credentials", func(t *testing.T) {
		h := newHarness(t)
		var answer decisionAnswer
		var st SpaceStatus
		h.decide(time.Hour, UpdateAccept, DecisionInput{Moderator: "camille", Reason: "association éligible"}, &answer)
		h.queryAt(2*time.Hour, &st)
		h.run(3 * time.Hour)

		require.NoError(t, answer.rejected)
		require.NoError(t, answer.err)
		assert.Equal(t, models.StatusProvisioning, answer.result.Status)
		assert.Equal(t, []models.Status{models.StatusSubmitted, models.StatusProvisioning, models.StatusActive}, h.statuses())
		assert.Equal(t, []mail.Kind{mail.KindReceipt, mail.KindAccepted}, h.mailKinds())
		accepted := h.mails[1]
		assert.Equal(t, AdminUser, accepted.AdminUser)
		assert.Equal(t, models.Sealed("c2VhbGVk"), accepted.Password, "the mail activity gets the sealed password")
		assert.Equal(t, "camille", h.transitions[1].Actor)
		assert.Equal(t, "association éligible", h.transitions[1].Reason)
		assert.Equal(t, models.StatusActive, st.Status)
		assert.Equal(t, "31.0.9", st.NextcloudVersion)
		for _, name := range []string{"CreateBucket", "CreateSpaceDatabase", "InstallSpace", "CreateSpaceAdmin", "ApplySpaceLimits", "EnableSpaceApps"} {
			assert.Equal(t, 1, h.calls[name], name)
		}
		assert.Zero(t, h.calls["DeleteBucket"]+h.calls["RemoveSpace"], "nothing is undone on success")
		assert.False(t, h.purged)
	})

	t.Run("an application put on hold can later be accepted, and each hold mail is a new one", func(t *testing.T) {
		h := newHarness(t)
		var hold, accept decisionAnswer
		h.decide(time.Hour, UpdateHold, DecisionInput{Moderator: "camille", Reason: "plus de place ce mois-ci"}, &hold)
		h.decide(48*time.Hour, UpdateAccept, DecisionInput{Moderator: "dominique"}, &accept)
		h.run(72 * time.Hour)

		require.NoError(t, hold.rejected)
		assert.Equal(t, models.StatusOnHold, hold.result.Status)
		require.NoError(t, accept.rejected)
		assert.Equal(t, []models.Status{models.StatusSubmitted, models.StatusOnHold, models.StatusProvisioning, models.StatusActive}, h.statuses())
		assert.Equal(t, []mail.Kind{mail.KindReceipt, mail.KindOnHold, mail.KindAccepted}, h.mailKinds())
		assert.Equal(t, "plus de place ce mois-ci", h.mails[1].Reason)
	})

	t.Run("a decision can follow at once while the mail of the previous one is being sent", func(t *testing.T) {
		h := newHarness(t)
		h.fail["Send"] = func(attempt int) error {
			if attempt == 1 && len(h.mails) == 1 {
				return errors.New("mail server busy") // the hold mail waits for its retry
			}
			return nil
		}
		var hold, accept decisionAnswer
		h.decide(time.Hour, UpdateHold, DecisionInput{Moderator: "camille"}, &hold)
		h.decide(time.Hour+time.Second, UpdateAccept, DecisionInput{Moderator: "camille"}, &accept)
		h.run(3 * time.Hour)

		require.NoError(t, hold.rejected)
		require.NoError(t, accept.rejected, "the hold is recorded, so accepting is valid")
		assert.Equal(t, []models.Status{models.StatusSubmitted, models.StatusOnHold, models.StatusProvisioning, models.StatusActive}, h.statuses())
		assert.Equal(t, []mail.Kind{mail.KindReceipt, mail.KindOnHold, mail.KindAccepted}, h.mailKinds())
	})

	t.Run("a rejected application is told so, then its personal data is purged and the workflow ends", func(t *testing.T) {
		h := newHarness(t)
		var answer decisionAnswer
		h.decide(time.Hour, UpdateReject, DecisionInput{Moderator: "camille", Reason: "entreprise commerciale"}, &answer)
		h.env.ExecuteWorkflow(SpaceWorkflow, testInput)

		require.True(t, h.env.IsWorkflowCompleted())
		require.NoError(t, h.env.GetWorkflowError())
		var result SpaceResult
		require.NoError(t, h.env.GetWorkflowResult(&result))
		assert.Equal(t, models.StatusRejected, result.Status)
		assert.Equal(t, models.StatusRejected, answer.result.Status)
		assert.Equal(t, []mail.Kind{mail.KindReceipt, mail.KindRejected}, h.mailKinds())
		assert.Equal(t, "entreprise commerciale", h.mails[1].Reason)
		assert.True(t, h.purged, "the application is purged")
		assert.Zero(t, h.calls["CreateBucket"], "nothing is provisioned")
	})

	t.Run("invalid transitions are refused by the validator and record nothing", func(t *testing.T) {
		h := newHarness(t)
		var holdAgain, noName, longReason, accept, lateReject decisionAnswer
		var first decisionAnswer
		h.decide(time.Hour, UpdateHold, DecisionInput{Moderator: "camille"}, &first)
		h.decide(2*time.Hour, UpdateHold, DecisionInput{Moderator: "camille"}, &holdAgain)
		h.decide(3*time.Hour, UpdateAccept, DecisionInput{}, &noName)
		h.decide(4*time.Hour, UpdateAccept, DecisionInput{Moderator: "camille", Reason: string(make([]rune, maxReasonLength+1))}, &longReason)
		h.decide(5*time.Hour, UpdateAccept, DecisionInput{Moderator: "camille"}, &accept)
		h.decide(6*time.Hour, UpdateReject, DecisionInput{Moderator: "camille"}, &lateReject)
		h.run(7 * time.Hour)

		require.NoError(t, first.rejected)
		assert.ErrorContains(t, holdAgain.rejected, "on_hold")
		assert.ErrorContains(t, noName.rejected, "moderator")
		assert.ErrorContains(t, longReason.rejected, "reason")
		require.NoError(t, accept.rejected)
		assert.ErrorContains(t, lateReject.rejected, "active", "an active space cannot be rejected")
		assert.Equal(t, []models.Status{models.StatusSubmitted, models.StatusOnHold, models.StatusProvisioning, models.StatusActive}, h.statuses(),
			"refused decisions leave no transition")
	})

	t.Run("transient provisioning errors are retried with backoff and the space still becomes active", func(t *testing.T) {
		h := newHarness(t)
		h.fail["InstallSpace"] = func(attempt int) error {
			if attempt < 3 {
				return errors.New("connection refused")
			}
			return nil
		}
		var answer decisionAnswer
		h.decide(time.Hour, UpdateAccept, DecisionInput{Moderator: "camille"}, &answer)
		h.run(3 * time.Hour)

		assert.Equal(t, 3, h.calls["InstallSpace"])
		assert.Equal(t, models.StatusActive, h.statuses()[len(h.transitions)-1])
		assert.Zero(t, h.calls["DeleteBucket"]+h.calls["RemoveSpace"])
	})

	t.Run("a permanent provisioning failure undoes everything, tells the moderators, and accepting again retries", func(t *testing.T) {
		h := newHarness(t)
		h.fail["CreateSpaceAdmin"] = func(int) error {
			if h.calls["InstallSpace"] > 1 {
				return nil // the second provisioning works
			}
			return temporal.NewNonRetryableApplicationError("occ user:add exited 1", nextcloud.ErrTypePermanent, nil)
		}
		var first, second decisionAnswer
		var st SpaceStatus
		h.decide(time.Hour, UpdateAccept, DecisionInput{Moderator: "camille"}, &first)
		h.queryAt(2*time.Hour, &st)
		h.decide(3*time.Hour, UpdateAccept, DecisionInput{Moderator: "camille", Reason: "nouvel essai"}, &second)
		h.run(4 * time.Hour)

		assert.Equal(t, models.StatusProvisioningFailed, st.Status)
		assert.Contains(t, st.LastError, "occ user:add exited 1")
		assert.Empty(t, st.NextcloudVersion, "the undone instance has no version")
		assert.Equal(t, 1, h.calls["RemoveSpace"], "instance and database removed")
		assert.Equal(t, 1, h.calls["DeleteBucket"], "bucket removed")
		require.NoError(t, second.rejected, "a failed space can be accepted again")
		assert.Equal(t, []models.Status{models.StatusSubmitted, models.StatusProvisioning, models.StatusProvisioningFailed,
			models.StatusProvisioning, models.StatusActive}, h.statuses())
		assert.Equal(t, []mail.Kind{mail.KindReceipt, mail.KindProvisioningFailed, mail.KindAccepted}, h.mailKinds())
		assert.Contains(t, h.mails[1].Detail, "occ user:add exited 1")
	})

	t.Run("a failure to create the bucket still deletes whatever a retry may have left", func(t *testing.T) {
		h := newHarness(t)
		h.fail["CreateBucket"] = func(int) error {
			return temporal.NewNonRetryableApplicationError("invalid bucket", storage.ErrTypeInvalidBucket, nil)
		}
		var answer decisionAnswer
		h.decide(time.Hour, UpdateAccept, DecisionInput{Moderator: "camille"}, &answer)
		h.run(2 * time.Hour)

		assert.Equal(t, 1, h.calls["DeleteBucket"])
		assert.Zero(t, h.calls["CreateSpaceDatabase"])
		assert.Equal(t, models.StatusProvisioningFailed, h.statuses()[len(h.transitions)-1])
	})

	t.Run("workflow IDs name the space", func(t *testing.T) {
		assert.Equal(t, "space/les-amis", SpaceWorkflowID("les-amis"))
		assert.Equal(t, "les-amis", SlugFromWorkflowID("space/les-amis"))
		assert.Empty(t, SlugFromWorkflowID("upgrade/32"))
	})
}
