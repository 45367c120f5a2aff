package workflows

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"jardinier/activities/database"
	"jardinier/activities/mail"
	"jardinier/activities/nextcloud"
	"jardinier/activities/storage"
	"jardinier/models"
)

// harness runs one space workflow on the test server, with time skipping, and fake
// activities registered under the real activities' names that record what they were
// asked. The Nextcloud activities are the real ones, on a Simulator that keeps the
// Driver contract (drivertest): a workflow running a step out of order fails as it
// would on a real instance. It follows Continue-As-New: each run gets a fresh test
// environment starting where the previous run ended, with the callbacks still to come.
type harness struct {
	testsuite.WorkflowTestSuite
	t           *testing.T
	env         *testsuite.TestWorkflowEnvironment
	start       time.Time
	timeline    []*timed
	runs        int
	result      SpaceResult
	err         error
	transitions []database.RecordTransitionInput
	projections []database.RecordTransitionInput
	mails       []mail.SendInput
	mailTimes   []time.Time // when each of mails was sent
	mailLanes   []mailLane  // where each of mails was sent from
	purged      bool
	calls       map[string]int
	// callsMu guards calls against a fake still retrying once the workflow ended.
	callsMu     sync.Mutex
	deactivated []bool
	// fail makes an activity fail: given its attempt number, the error to return (nil:
	// succeed).
	fail map[string]func(attempt int) error
	// policy is what CurrentPolicy answers; lastActivity what ReadLastActivity reads,
	// given the test clock.
	policy        models.InactivityPolicy
	policyVersion int
	lastActivity  func(now time.Time) time.Time
	// limits and limitsVersion are what CurrentLimits answers: the fleet's defaults.
	limits        models.Limits
	limitsVersion int
	// limitsReports are the answers the space sent to limits rollouts.
	limitsReports []LimitsReport
	// The space's instance on the simulator, through the real activities; nc is what
	// the simulator said of it after the last upgrade step, and failStep makes a step
	// fail before it reaches the simulator.
	sim          *nextcloud.Simulator
	activities   *nextcloud.Activities
	nc           instanceView
	upgradeSteps []string
	remoteSteps  []string // the steps run as activities, not local ones
	failStep     map[string]error
	// stepErr, when set, says whether a step fails before it reaches the simulator,
	// given its input (after failStep).
	stepErr func(in nextcloud.UpgradeStepInput) error
	reports []SpaceUpgradeReport
	// missed is the target of the fleet upgrade the space missed, as MissedUpgrade reads it.
	missed string
	// input starts the first run: testInput unless a test sets it.
	input SpaceInput
	// carried holds the state each Continue-As-New passed on, in order.
	carried []SpaceState
	// contactChanges are the new contact addresses written, sealed.
	contactChanges []database.ChangeContactEmailInput
	// delivery says which recipients' mails bounce (delivery_test.go).
	delivery deliveryFake
	// restoredFilesAt is the time the last restore put the files back to.
	restoredFilesAt time.Time
	// timers are the timers the workflow started, with their summaries (summaries_test.go).
	timers []timerSeen
}

// harnessSealedContact is what SealContactEmail answers: the current address, sealed.
const harnessSealedContact models.Sealed = "c2NlbGxlZS1hbmNpZW5uZQ"

// instanceView is what the upgrade tests check of the instance.
type instanceView struct {
	version, code     string
	maintenance, cron bool
}

// harnessAdminPassword is the password CreateSpaceAdmin gives on the simulator; the
// workflow only ever sees the sealed one.
const harnessAdminPassword = "Un-mot-de-passe-de-test"

// timed is a callback at a time from the start of the test.
type timed struct {
	at    time.Duration
	fn    func()
	fired bool
}

var testInput = SpaceInput{ApplicationID: "6a1d0c9e-0000-4000-8000-000000000001", Slug: "les-amis",
	OfficeSuite: models.OfficeCollabora, Bucket: "space-les-amis", Domain: "les-amis.example.org",
	NextcloudVersion: "31.0.9"}

// testStart is when every test begins: a fixed date, so that dates can be checked.
var testStart = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

func newHarness(t *testing.T) *harness {
	t.Helper()
	sim := nextcloud.NewSimulator(slog.New(slog.DiscardHandler))
	return &harness{t: t, input: testInput, calls: map[string]int{}, fail: map[string]func(int) error{}, start: testStart,
		policy: models.DefaultInactivityPolicy(), limits: models.DefaultLimits(), limitsVersion: 1, lastActivity: func(time.Time) time.Time { return time.Time{} },
		sim: sim, activities: &nextcloud.Activities{Driver: sim, Apps: nextcloud.DefaultApps,
			Office: testOffice, OfficeKey: testOfficeKey},
		nc:       instanceView{version: testInput.NextcloudVersion, code: testInput.NextcloudVersion, cron: true},
		failStep: map[string]error{}}
}

// install gives the space an instance on the simulator, as provisioning would have
// left it, for a test that starts the workflow in service rather than from its
// application: run calls it when the starting state is in service, and calling it
// again changes nothing.
func (h *harness) install() {
	h.t.Helper()
	st := SpaceState{Status: models.StatusActive}
	if h.input.State != nil {
		st = *h.input.State
	}
	version := cmp.Or(st.NextcloudVersion, h.input.NextcloudVersion)
	ctx := context.Background()
	require.NoError(h.t, h.sim.CreateDatabase(ctx, h.input.Slug))
	require.NoError(h.t, h.sim.Install(ctx, nextcloud.InstallSpec{Slug: h.input.Slug, Domain: h.input.Domain,
		Version: version, Bucket: h.input.Bucket, AdminUser: AdminUser}))
	require.NoError(h.t, h.sim.CreateAdmin(ctx, h.input.Slug, AdminUser, harnessAdminPassword))
	require.NoError(h.t, h.sim.SetDeactivated(ctx, h.input.Slug, st.Status == models.StatusDeactivated))
	h.nc = instanceView{version: version, code: version, cron: true}
}

// newEnv prepares the test environment of the next run.
func (h *harness) newEnv(elapsed time.Duration) {
	h.env = h.NewTestWorkflowEnvironment()
	h.env.SetTestTimeout(30 * time.Second)
	h.env.SetStartTime(h.start.Add(elapsed))
	h.env.RegisterWorkflow(SpaceWorkflow)
	h.recordTimers()
	register(h, "RecordTransition", func(in database.RecordTransitionInput) database.RecordTransitionResult {
		if in.Action == "" {
			h.projections = append(h.projections, in)
		} else {
			h.transitions = append(h.transitions, in)
		}
		return database.RecordTransitionResult{Recorded: true}
	})
	register(h, "PurgeApplication", func(database.PurgeApplicationInput) database.PurgeApplicationResult {
		h.purged = true
		return database.PurgeApplicationResult{Deleted: true}
	})
	register(h, "SealContactEmail", func(database.ContactEmailInput) database.ContactEmailResult {
		return database.ContactEmailResult{Email: harnessSealedContact}
	})
	register(h, "ChangeContactEmail", func(in database.ChangeContactEmailInput) database.ChangeContactEmailResult {
		h.contactChanges = append(h.contactChanges, in)
		return database.ChangeContactEmailResult{Changed: true}
	})
	register(h, "CurrentPolicy", func(database.CurrentPolicyInput) database.CurrentPolicyResult {
		return database.CurrentPolicyResult{Policy: h.policy, Version: h.policyVersion}
	})
	register(h, "CurrentLimits", func(database.CurrentLimitsInput) database.CurrentLimitsResult {
		return database.CurrentLimitsResult{Limits: h.limits, Version: h.limitsVersion}
	})
	registerCtx(h, "Send", func(ctx context.Context, in mail.SendInput) (mail.SendResult, error) {
		h.mails, h.mailTimes = append(h.mails, in), append(h.mailTimes, h.env.Now())
		h.mailLanes = append(h.mailLanes, mailLane{activity.GetInfo(ctx).TaskQueue, activity.GetInfo(ctx).Priority})
		return mail.SendResult{MessageID: "m"}, nil
	})
	register(h, "CreateBucket", func(storage.CreateBucketInput) storage.CreateBucketResult {
		return storage.CreateBucketResult{Created: true}
	})
	register(h, "DeleteBucket", func(storage.DeleteBucketInput) storage.DeleteBucketResult { return storage.DeleteBucketResult{} })
	register(h, "EnableFileHistory", func(storage.EnableFileHistoryInput) storage.EnableFileHistoryResult {
		return storage.EnableFileHistoryResult{VersioningEnabled: true, LifecycleSet: true}
	})
	na := h.activities
	registerCtx(h, "CreateSpaceDatabase", na.CreateSpaceDatabase)
	registerCtx(h, "InstallSpace", na.InstallSpace)
	registerCtx(h, "CreateSpaceAdmin", func(ctx context.Context, in nextcloud.CreateAdminInput) (nextcloud.CreateAdminResult, error) {
		// The real activity's password is random and sealed by the worker's key: this
		// one is known, so that the test can follow it to the mail.
		if err := h.sim.CreateAdmin(ctx, in.Slug, in.AdminUser, harnessAdminPassword); err != nil {
			return nextcloud.CreateAdminResult{}, err
		}
		return nextcloud.CreateAdminResult{AdminUser: in.AdminUser, Password: "c2VhbGVk"}, nil
	})
	registerCtx(h, "ApplySpaceLimits", na.ApplySpaceLimits)
	registerCtx(h, "EnableSpaceApps", na.EnableSpaceApps)
	registerCtx(h, "ConfigureSpaceOffice", na.ConfigureSpaceOffice)
	registerCtx(h, "RemoveSpace", na.RemoveSpace)
	registerCtx(h, "ReadLastActivity", func(ctx context.Context, in nextcloud.LastActivityInput) (nextcloud.LastActivityResult, error) {
		// What users did by now, as a sync client's token would show it.
		h.sim.SetTokenActivity(in.Slug, h.lastActivity(h.env.Now()))
		return na.ReadLastActivity(ctx, in)
	})
	registerCtx(h, "SetSpaceDeactivated", func(ctx context.Context, in nextcloud.SetDeactivatedInput) (nextcloud.SetDeactivatedResult, error) {
		h.deactivated = append(h.deactivated, in.Deactivated)
		return na.SetSpaceDeactivated(ctx, in)
	})
	h.env.RegisterActivityWithOptions(h.runUpgradeStep, activity.RegisterOptions{Name: "RunUpgradeStep"})
	registerCtx(h, "PrepareSharedApps", na.PrepareSharedApps)
	registerCtx(h, "ListCodeBases", na.ListCodeBases)
	register(h, "MissedUpgrade", func(database.MissedUpgradeInput) database.MissedUpgradeResult {
		return database.MissedUpgradeResult{Target: h.missed}
	})
	h.registerDelivery()
	registerRestoreFakes(h)
	h.env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, SignalSpaceUpgraded, mock.Anything).Return(
		func(_, _, _, _ string, arg any) error {
			h.reports = append(h.reports, arg.(SpaceUpgradeReport))
			return nil
		})
	h.env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, SignalLimitsApplied, mock.Anything).Return(
		func(_, _, _, _ string, arg any) error {
			h.limitsReports = append(h.limitsReports, arg.(LimitsReport))
			return nil
		})
	for _, c := range h.timeline {
		if !c.fired {
			c := c
			h.env.RegisterDelayedCallback(func() {
				c.fired = true
				c.fn()
			}, max(c.at-elapsed, time.Nanosecond))
		}
	}
}

// runUpgradeStep runs the step on the simulator, unless failStep makes it fail first,
// and keeps what the simulator says of the instance after it.
func (h *harness) runUpgradeStep(ctx context.Context, in nextcloud.UpgradeStepInput) (nextcloud.UpgradeStepResult, error) {
	h.upgradeSteps = append(h.upgradeSteps, in.Step)
	if !activity.GetInfo(ctx).IsLocalActivity {
		h.remoteSteps = append(h.remoteSteps, in.Step)
	}
	if err := cmp.Or(h.failStep[in.Step], h.failStep[in.Step+"@"+in.Version]); err != nil {
		return nextcloud.UpgradeStepResult{}, err
	} else if h.stepErr != nil {
		if err := h.stepErr(in); err != nil {
			return nextcloud.UpgradeStepResult{}, err
		}
	}
	res, err := h.activities.RunUpgradeStep(ctx, in)
	if inst, ok := h.sim.Instance(in.Slug); ok {
		h.nc = instanceView{version: inst.Version, code: inst.CodeVersion, maintenance: inst.Maintenance, cron: inst.CronEnabled}
	}
	return res, err
}

// register installs a fake activity under name that counts its calls and fails when
// the test asked it to.
func register[In, Out any](h *harness, name string, fn func(In) Out) {
	registerCtx(h, name, func(_ context.Context, in In) (Out, error) { return fn(in), nil })
}

// callCount is how many times the fake activity name was called, read safely while a
// retry of it may still run.
func (h *harness) callCount(name string) int {
	h.callsMu.Lock()
	defer h.callsMu.Unlock()
	return h.calls[name]
}

// registerCtx is register for an activity that may fail by itself, as the real ones
// do.
func registerCtx[In, Out any](h *harness, name string, fn func(context.Context, In) (Out, error)) {
	h.env.RegisterActivityWithOptions(func(ctx context.Context, in In) (Out, error) {
		h.callsMu.Lock()
		h.calls[name]++
		h.callsMu.Unlock()
		if fail := h.fail[name]; fail != nil {
			if err := fail(int(activity.GetInfo(ctx).Attempt)); err != nil {
				var zero Out
				return zero, err
			}
		}
		return fn(ctx, in)
	}, activity.RegisterOptions{Name: name})
}

// at runs fn at a time from the start of the test, in whichever run is current then.
func (h *harness) at(d time.Duration, fn func()) {
	h.timeline = append(h.timeline, &timed{at: d, fn: fn})
}

// decide sends a moderator's decision after delay, and records the answer.
func (h *harness) decide(delay time.Duration, update string, in DecisionInput, answer *decisionAnswer) {
	h.send(delay, update, in, answer)
}

// send sends any update at a time from the start of the test and records the answer.
func (h *harness) send(delay time.Duration, update string, in any, answer *decisionAnswer) {
	h.at(delay, func() {
		h.env.UpdateWorkflow(update, "", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { answer.rejected = err },
			OnAccept: func() {},
			OnComplete: func(result any, err error) {
				answer.err, answer.done = err, true
				switch r := result.(type) {
				case DecisionResult:
					answer.result = r
				case ActionResult:
					answer.result = DecisionResult(r)
				case ContactRequestResult:
					answer.mailed = r.Mailed
				case ConfirmContactResult:
					answer.changed = r.Changed
				}
			},
		}, in)
	})
}

type decisionAnswer struct {
	rejected error
	err      error
	done     bool
	mailed   bool
	changed  bool
	result   DecisionResult
}

// queryAt reads the workflow's status at a point of the test's timeline.
func (h *harness) queryAt(delay time.Duration, status *SpaceStatus) {
	h.at(delay, func() {
		v, err := h.env.QueryWorkflow(QueryStatus)
		require.NoError(h.t, err)
		require.NoError(h.t, v.Get(status))
	})
}

// run executes the workflow, run after run, until it ends or the timeline reaches end:
// a space in service is then cancelled, since its workflow lives on.
func (h *harness) run(end time.Duration) {
	h.t.Helper()
	h.at(end, func() { h.env.CancelWorkflow() })
	in, elapsed := h.input, time.Duration(0)
	if st := in.State; st != nil && (st.Status == models.StatusActive || st.Status == models.StatusDeactivated) {
		h.install()
	}
	for {
		h.newEnv(elapsed)
		h.env.ExecuteWorkflow(SpaceWorkflow, in)
		require.True(h.t, h.env.IsWorkflowCompleted())
		h.err = h.env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		if !errors.As(h.err, &can) {
			if h.err == nil {
				require.NoError(h.t, h.env.GetWorkflowResult(&h.result))
			}
			return
		}
		h.runs++
		require.Less(h.t, h.runs, 100, "too many runs")
		in = SpaceInput{}
		require.NoError(h.t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &in))
		if in.State != nil {
			h.carried = append(h.carried, *in.State)
		}
		elapsed = h.env.Now().Sub(h.start)
	}
}

func (h *harness) statuses() []models.Status {
	var out []models.Status
	for _, tr := range h.transitions {
		if len(out) == 0 || out[len(out)-1] != tr.Status {
			out = append(out, tr.Status)
		}
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
		h.run(24 * time.Hour)

		require.NoError(t, h.err)
		assert.Equal(t, models.StatusRejected, h.result.Status)
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
		h.decide(4*time.Hour, UpdateAccept, DecisionInput{Moderator: "camille", Reason: string(make([]rune, models.MaxReasonLength+1))}, &longReason)
		h.decide(5*time.Hour, UpdateAccept, DecisionInput{Moderator: "camille"}, &accept)
		h.decide(6*time.Hour, UpdateReject, DecisionInput{Moderator: "camille"}, &lateReject)
		h.run(7 * time.Hour)

		require.NoError(t, first.rejected)
		assert.ErrorContains(t, holdAgain.rejected, "on_hold")
		assertRefused(t, noName.rejected, ErrTypeInvalidInput, "moderator")
		assertRefused(t, longReason.rejected, ErrTypeInvalidInput, "reason")
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

	t.Run("a bucket that keeps failing to be created is deleted in case an attempt created it", func(t *testing.T) {
		h := newHarness(t)
		h.fail["CreateBucket"] = func(int) error { return errors.New("503 slow down") }
		h.decide(time.Hour, UpdateAccept, DecisionInput{Moderator: "camille"}, &decisionAnswer{})
		h.run(2 * time.Hour)

		assert.Equal(t, provisionAttempts, h.calls["CreateBucket"], "retried with backoff, then given up")
		assert.Equal(t, 1, h.calls["DeleteBucket"])
		assert.Zero(t, h.calls["CreateSpaceDatabase"])
		assert.Equal(t, models.StatusProvisioningFailed, h.statuses()[len(h.statuses())-1])
	})

	t.Run("an app the app store cannot give is tried for about 4 minutes, then the moderators are told why, once", func(t *testing.T) {
		h := newHarness(t)
		const output = "Could not download app nosuchapp"
		var attempts []time.Time
		h.fail["EnableSpaceApps"] = func(int) error {
			attempts = append(attempts, h.env.Now())
			// As EnableSpaceApps returns it: occ's failure, wrapped by the driver and by
			// the activity, and retryable (the store may come back).
			exit := &nextcloud.ExitError{Command: "php occ app:enable -- nosuchapp", ExitCode: 1, Output: output}
			return fmt.Errorf(`enable apps of space "les-amis": %w`, fmt.Errorf("apps of les-amis: %w", exit))
		}
		h.decide(time.Hour, UpdateAccept, DecisionInput{Moderator: "camille"}, &decisionAnswer{})
		h.run(2 * time.Hour)

		require.Len(t, attempts, provisionAttempts)
		tried := attempts[len(attempts)-1].Sub(attempts[0])
		assert.True(t, tried >= 3*time.Minute+30*time.Second && tried <= 5*time.Minute,
			"deploy/nextcloud.md says about 4 minutes; retried for %s", tried)
		assert.Equal(t, models.StatusProvisioningFailed, h.statuses()[len(h.statuses())-1])
		require.Equal(t, []mail.Kind{mail.KindReceipt, mail.KindProvisioningFailed}, h.mailKinds())
		detail := h.mails[1].Detail
		assert.Equal(t, 1, strings.Count(detail, output), "the error stated once: %s", detail)
		assert.Contains(t, detail, `enable apps of space "les-amis": apps of les-amis: php occ app:enable`)
	})

	t.Run("a permanent failure is stated once in the moderators' mail", func(t *testing.T) {
		h := newHarness(t)
		const output = "The account limit of 2 is reached"
		h.fail["CreateSpaceAdmin"] = func(int) error {
			// As the activity turns a permanent driver error into a non-retryable one.
			exit := &nextcloud.ExitError{Command: "php occ user:add", ExitCode: 1, Output: output}
			inner := fmt.Errorf("admin of les-amis: %w (%w)", exit, nextcloud.ErrPermanent)
			return temporal.NewNonRetryableApplicationError(`create admin of space "les-amis": `+inner.Error(),
				nextcloud.ErrTypePermanent, inner)
		}
		h.decide(time.Hour, UpdateAccept, DecisionInput{Moderator: "camille"}, &decisionAnswer{})
		h.run(2 * time.Hour)

		assert.Equal(t, 1, h.calls["CreateSpaceAdmin"], "not retried")
		require.Equal(t, []mail.Kind{mail.KindReceipt, mail.KindProvisioningFailed}, h.mailKinds())
		detail := h.mails[1].Detail
		assert.Equal(t, 1, strings.Count(detail, output), "the error stated once: %s", detail)
		assert.Contains(t, detail, `create admin of space "les-amis": admin of les-amis:`)
	})

	t.Run("a bucket name refused or owned by someone else is never deleted", func(t *testing.T) {
		for _, errType := range []string{storage.ErrTypeInvalidBucket, storage.ErrTypeBucketTaken} {
			h := newHarness(t)
			h.fail["CreateBucket"] = func(int) error {
				return temporal.NewNonRetryableApplicationError("refused", errType, nil)
			}
			h.decide(time.Hour, UpdateAccept, DecisionInput{Moderator: "camille"}, &decisionAnswer{})
			h.run(2 * time.Hour)

			assert.Equal(t, 1, h.calls["CreateBucket"], errType)
			assert.Zero(t, h.calls["DeleteBucket"], errType)
			assert.Equal(t, models.StatusProvisioningFailed, h.statuses()[len(h.statuses())-1], errType)
		}
	})
}
