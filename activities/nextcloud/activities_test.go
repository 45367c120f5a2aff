package nextcloud_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"jardinier/activities/nextcloud"
	"jardinier/models"
)

// applicationError returns the Temporal application error err holds.
func applicationError(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	require.Error(t, err)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "not an application error: %v", err)
	return appErr
}

func TestActivitiesProvisionASpace(t *testing.T) {
	f := setup(t)

	_, err := f.env.ExecuteActivity(f.acts.CreateSpaceDatabase, nextcloud.CreateDatabaseInput{Slug: testSlug})
	require.NoError(t, err)

	val, err := f.env.ExecuteActivity(f.acts.InstallSpace, nextcloud.InstallInput{Spec: spec(testSlug)})
	require.NoError(t, err)
	var installed nextcloud.InstallResult
	require.NoError(t, val.Get(&installed))
	assert.Equal(t, testVersion, installed.Version)

	_, err = f.env.ExecuteActivity(f.acts.ApplySpaceLimits, nextcloud.ApplyLimitsInput{Slug: testSlug, Limits: models.DefaultLimits()})
	require.NoError(t, err)
	_, err = f.env.ExecuteActivity(f.acts.EnableSpaceApps, nextcloud.EnableAppsInput{
		Slug: testSlug, OfficeSuite: models.OfficeCollabora})
	require.NoError(t, err, "no list: the approved apps of the configuration")

	in, ok := f.sim.Instance(testSlug)
	require.True(t, ok)
	assert.True(t, in.Installed)
	assert.Equal(t, models.DefaultLimits(), in.Limits)
	assert.Contains(t, in.Apps, nextcloud.AppCollabora)
	assert.Subset(t, in.Apps, nextcloud.DefaultApps)

	_, err = f.env.ExecuteActivity(f.acts.RemoveSpace, nextcloud.RemoveInput{Slug: testSlug})
	require.NoError(t, err)
	_, err = f.env.ExecuteActivity(f.acts.RemoveSpace, nextcloud.RemoveInput{Slug: testSlug})
	require.NoError(t, err, "removing again succeeds")
	_, ok = f.sim.Instance(testSlug)
	assert.False(t, ok)
}

func TestActivitiesEnableTheApprovedApps(t *testing.T) {
	f := setup(t)
	f.install(t, testSlug)
	f.sim.SetApprovedApps([]string{"deck", "forms"})
	f.acts.Apps = []string{"deck", "forms"}
	_, err := f.env.ExecuteActivity(f.acts.EnableSpaceApps, nextcloud.EnableAppsInput{Slug: testSlug, OfficeSuite: models.OfficeNone})
	require.NoError(t, err)
	in, _ := f.sim.Instance(testSlug)
	assert.Equal(t, []string{"deck", "forms"}, in.Apps, "the apps NEXTCLOUD_APPS approves")

	_, err = f.env.ExecuteActivity(f.acts.EnableSpaceApps, nextcloud.EnableAppsInput{
		Slug: testSlug, OfficeSuite: models.OfficeNone, Apps: []string{"calendar"}})
	assert.Equal(t, nextcloud.ErrTypePermanent, applicationError(t, err).Type(), "an app no longer approved is refused")
}

func TestActivitiesCreateSpaceAdmin(t *testing.T) {
	t.Run("returns a sealed strong password that the instance accepts", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)

		val, err := f.env.ExecuteActivity(f.acts.CreateSpaceAdmin, nextcloud.CreateAdminInput{Slug: testSlug, AdminUser: "admin"})
		require.NoError(t, err)
		var res nextcloud.CreateAdminResult
		require.NoError(t, val.Get(&res))

		password, err := f.sealer.Open(res.Password)
		require.NoError(t, err)
		assert.Equal(t, "admin", res.AdminUser)
		assert.True(t, f.sim.CheckPassword(testSlug, "admin", password))
		assert.GreaterOrEqual(t, len(password), 20)
		for _, r := range password {
			assert.True(t, r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)), "unexpected %q", r)
		}
		assert.NotContains(t, string(res.Password), password)
		assert.NotContains(t, f.logs.String(), password)
	})

	t.Run("gives a new password each time", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		seen := map[string]bool{}
		for range 3 {
			val, err := f.env.ExecuteActivity(f.acts.CreateSpaceAdmin, nextcloud.CreateAdminInput{Slug: testSlug, AdminUser: "admin"})
			require.NoError(t, err)
			var res nextcloud.CreateAdminResult
			require.NoError(t, val.Get(&res))
			password, err := f.sealer.Open(res.Password)
			require.NoError(t, err)
			seen[password] = true
		}
		assert.Len(t, seen, 3)
	})
}

func TestActivitiesErrors(t *testing.T) {
	t.Run("a transient driver failure is retryable", func(t *testing.T) {
		f := setup(t)
		require.NoError(t, f.sim.CreateDatabase(f.ctx, testSlug))
		f.sim.InjectFailure(testSlug, nextcloud.OpInstall, nextcloud.Failure{Err: errors.New("connection reset"), Times: 1})

		_, err := f.env.ExecuteActivity(f.acts.InstallSpace, nextcloud.InstallInput{Spec: spec(testSlug)})

		appErr := applicationError(t, err)
		assert.False(t, appErr.NonRetryable())
		assert.Contains(t, appErr.Error(), `install space "`+testSlug+`": connection reset`)
		_, err = f.env.ExecuteActivity(f.acts.InstallSpace, nextcloud.InstallInput{Spec: spec(testSlug)})
		assert.NoError(t, err, "the retry succeeds")
	})

	t.Run("a permanent driver failure is not retryable", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		f.sim.InjectFailure(testSlug, nextcloud.OpApplyLimits,
			nextcloud.Failure{Err: errors.Join(errors.New("bad config"), nextcloud.ErrPermanent)})

		_, err := f.env.ExecuteActivity(f.acts.ApplySpaceLimits, nextcloud.ApplyLimitsInput{Slug: testSlug, Limits: models.DefaultLimits()})

		appErr := applicationError(t, err)
		assert.True(t, appErr.NonRetryable())
		assert.Equal(t, nextcloud.ErrTypePermanent, appErr.Type())
	})

	t.Run("installing without a database is not retryable", func(t *testing.T) {
		f := setup(t)
		_, err := f.env.ExecuteActivity(f.acts.InstallSpace, nextcloud.InstallInput{Spec: spec(testSlug)})
		appErr := applicationError(t, err)
		assert.True(t, appErr.NonRetryable())
		assert.Equal(t, nextcloud.ErrTypePermanent, appErr.Type())
	})

	t.Run("an operation on a space without instance is not retryable", func(t *testing.T) {
		f := setup(t)
		_, err := f.env.ExecuteActivity(f.acts.CreateSpaceAdmin, nextcloud.CreateAdminInput{Slug: testSlug, AdminUser: "admin"})
		appErr := applicationError(t, err)
		assert.True(t, appErr.NonRetryable())
		assert.Equal(t, nextcloud.ErrTypeNotInstalled, appErr.Type())
	})
}

// upgradeTarget is the version the upgrade tests go to from testVersion.
const upgradeTarget = "32.0.0"

// step runs one upgrade step of testSlug (unless in names another space) through the
// activity.
func (f *fixture) step(t *testing.T, in nextcloud.UpgradeStepInput) (nextcloud.UpgradeStepResult, error) {
	t.Helper()
	if in.Slug == "" {
		in.Slug = testSlug
	}
	val, err := f.env.ExecuteActivity(f.acts.RunUpgradeStep, in)
	if err != nil {
		return nextcloud.UpgradeStepResult{}, err
	}
	var res nextcloud.UpgradeStepResult
	require.NoError(t, val.Get(&res))
	return res, nil
}

// mustStep is step for steps that must succeed.
func (f *fixture) mustStep(t *testing.T, in nextcloud.UpgradeStepInput) nextcloud.UpgradeStepResult {
	t.Helper()
	res, err := f.step(t, in)
	require.NoError(t, err, "step %s", in.Step)
	return res
}

// health runs the health step.
func (f *fixture) health(t *testing.T) nextcloud.UpgradeStepResult {
	t.Helper()
	return f.mustStep(t, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepHealth})
}

// startUpgrade runs the steps before the upgrade proper: maintenance on, cron paused,
// snapshot, code base switched to upgradeTarget. It returns the snapshot.
func (f *fixture) startUpgrade(t *testing.T) string {
	t.Helper()
	f.mustStep(t, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepMaintenance, On: true})
	f.mustStep(t, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepCron, On: false})
	snap := f.mustStep(t, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepSnapshot}).Snapshot
	require.NotEmpty(t, snap)
	f.mustStep(t, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepSwitchCode, Version: upgradeTarget})
	return snap
}

func TestActivitiesUpgradeASpace(t *testing.T) {
	f := setup(t)
	provision(t, f.ctx, f.sim, testSlug)

	snap := f.startUpgrade(t)
	assert.Equal(t, testSlug+"-1", snap)
	in, _ := f.sim.Instance(testSlug)
	assert.True(t, in.Maintenance)
	assert.False(t, in.CronEnabled)
	assert.Equal(t, []string{snap}, in.Snapshots)
	assert.Equal(t, nextcloud.UpgradeStepResult{Version: testVersion, CodeVersion: upgradeTarget, Maintenance: true},
		f.health(t), "the code base is ahead of the database")

	f.mustStep(t, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepUpgrade, Version: upgradeTarget})
	assert.Equal(t, nextcloud.UpgradeStepResult{Version: upgradeTarget, CodeVersion: upgradeTarget, Maintenance: true},
		f.health(t))
	_, err := f.step(t, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepWeb, Version: upgradeTarget})
	assert.ErrorContains(t, err, "in maintenance", "not served over HTTP before maintenance is off")

	f.mustStep(t, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepMaintenance, On: false})
	f.mustStep(t, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepWeb, Version: upgradeTarget})
	f.mustStep(t, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepCron, On: true})
	f.mustStep(t, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepPost})
	f.mustStep(t, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepDropSnap, Snapshot: snap})

	in, _ = f.sim.Instance(testSlug)
	assert.Equal(t, upgradeTarget, in.Version)
	assert.Equal(t, upgradeTarget, in.CodeVersion)
	assert.False(t, in.Maintenance)
	assert.True(t, in.CronEnabled)
	assert.True(t, in.PostUpgraded)
	assert.Empty(t, in.Snapshots)
	assert.Equal(t, 1, f.sim.Calls(testSlug, nextcloud.OpUpgrade))
	assert.Equal(t, nextcloud.UpgradeStepResult{Version: upgradeTarget, CodeVersion: upgradeTarget}, f.health(t))
}

func TestActivitiesRollBackAnUpgrade(t *testing.T) {
	errMigration := errors.Join(errors.New("occ upgrade: migration failed"), nextcloud.ErrPermanent)
	for _, c := range []struct {
		name          string
		afterChange   bool
		versionLeftAt string
	}{
		{"an upgrade that failed before changing anything", false, testVersion},
		{"an upgrade that failed half-way", true, upgradeTarget},
	} {
		t.Run(c.name+" is undone by the snapshot and the old code base", func(t *testing.T) {
			f := setup(t)
			provision(t, f.ctx, f.sim, testSlug)
			f.sim.InjectFailure(testSlug, nextcloud.OpUpgrade,
				nextcloud.Failure{Err: errMigration, Times: 1, AfterChange: c.afterChange})
			snap := f.startUpgrade(t)

			_, err := f.step(t, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepUpgrade, Version: upgradeTarget})
			appErr := applicationError(t, err)
			assert.True(t, appErr.NonRetryable())
			assert.Equal(t, nextcloud.ErrTypePermanent, appErr.Type())
			assert.Equal(t, c.versionLeftAt, f.health(t).Version)

			f.mustStep(t, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepRestore, Snapshot: snap})
			assert.Equal(t, nextcloud.UpgradeStepResult{Version: testVersion, CodeVersion: upgradeTarget, Maintenance: true},
				f.health(t))
			f.mustStep(t, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepSwitchCode, Version: testVersion})
			f.mustStep(t, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepMaintenance, On: false})
			f.mustStep(t, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepCron, On: true})
			f.mustStep(t, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepDropSnap, Snapshot: snap})

			assert.Equal(t, nextcloud.UpgradeStepResult{Version: testVersion, CodeVersion: testVersion}, f.health(t))
			in, _ := f.sim.Instance(testSlug)
			assert.True(t, in.CronEnabled)
			assert.Empty(t, in.Snapshots)
		})
	}
}

func TestActivitiesUpgradeRefusals(t *testing.T) {
	maintenanceOn := nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepMaintenance, On: true}
	for _, c := range []struct {
		name   string
		before []nextcloud.UpgradeStepInput
		step   nextcloud.UpgradeStepInput
	}{
		{"switching the code base from 31 to 33 skips a major", []nextcloud.UpgradeStepInput{maintenanceOn},
			nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepSwitchCode, Version: "33.0.0"}},
		{"switching the code base to an older version is a downgrade", []nextcloud.UpgradeStepInput{maintenanceOn},
			nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepSwitchCode, Version: "30.0.5"}},
		{"upgrading without maintenance mode", nil,
			nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepUpgrade, Version: upgradeTarget}},
		{"upgrading with the code base not switched", []nextcloud.UpgradeStepInput{maintenanceOn},
			nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepUpgrade, Version: upgradeTarget}},
		{"the post-upgrade steps in maintenance mode", []nextcloud.UpgradeStepInput{maintenanceOn},
			nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepPost}},
		{"restoring a snapshot that does not exist", []nextcloud.UpgradeStepInput{maintenanceOn},
			nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepRestore, Snapshot: testSlug + "-7"}},
		{"an unknown step", nil, nextcloud.UpgradeStepInput{Step: "reboot"}},
	} {
		t.Run(c.name+" fails for good and changes nothing", func(t *testing.T) {
			f := setup(t)
			provision(t, f.ctx, f.sim, testSlug)
			for _, in := range c.before {
				f.mustStep(t, in)
			}
			before, _ := f.sim.Instance(testSlug)

			_, err := f.step(t, c.step)

			appErr := applicationError(t, err)
			assert.True(t, appErr.NonRetryable())
			assert.Equal(t, nextcloud.ErrTypePermanent, appErr.Type())
			assert.Contains(t, appErr.Error(), c.step.Step+` step of space "`+testSlug+`"`)
			after, _ := f.sim.Instance(testSlug)
			assert.Equal(t, before, after)
		})
	}

	t.Run("the health of a space without instance fails for good", func(t *testing.T) {
		f := setup(t)
		_, err := f.step(t, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepHealth})
		appErr := applicationError(t, err)
		assert.True(t, appErr.NonRetryable())
		assert.Equal(t, nextcloud.ErrTypeNotInstalled, appErr.Type())
	})

	t.Run("a transient failure of a step is retryable", func(t *testing.T) {
		f := setup(t)
		provision(t, f.ctx, f.sim, testSlug)
		f.sim.InjectFailure(testSlug, nextcloud.OpSnapshot, nextcloud.Failure{Err: errors.New("pg_dump: connection reset"), Times: 1})

		_, err := f.step(t, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepSnapshot})
		assert.False(t, applicationError(t, err).NonRetryable())
		res := f.mustStep(t, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepSnapshot})
		assert.Equal(t, testSlug+"-1", res.Snapshot, "the failed attempt made no snapshot")
	})
}

// slowDriver makes some operations of the Simulator take a while, as on a loaded node.
type slowDriver struct {
	*nextcloud.Simulator
	delay time.Duration
}

func (d slowDriver) SetDeactivated(ctx context.Context, slug string, deactivated bool) error {
	time.Sleep(d.delay)
	return d.Simulator.SetDeactivated(ctx, slug, deactivated)
}

func (d slowDriver) Remove(ctx context.Context, slug string) error {
	time.Sleep(d.delay)
	return d.Simulator.Remove(ctx, slug)
}

func (d slowDriver) Snapshot(ctx context.Context, slug string) (string, error) {
	time.Sleep(d.delay)
	return d.Simulator.Snapshot(ctx, slug)
}

func TestActivitiesHeartbeatWhileTheDriverWorks(t *testing.T) {
	// A heartbeat timeout much shorter than the operations: an activity that did not
	// heartbeat while the driver works would be killed by it.
	const heartbeatTimeout = 300 * time.Millisecond
	run := func(t *testing.T, acts *nextcloud.Activities, fn any, in any) int32 {
		t.Helper()
		var suite testsuite.WorkflowTestSuite
		suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(t.Output(), nil))))
		env := suite.NewTestWorkflowEnvironment()
		env.RegisterActivity(acts)
		var heartbeats atomic.Int32
		env.SetOnActivityHeartbeatListener(func(*activity.Info, converter.EncodedValues) { heartbeats.Add(1) })
		env.ExecuteWorkflow(func(ctx workflow.Context) error {
			ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
				StartToCloseTimeout: time.Minute,
				HeartbeatTimeout:    heartbeatTimeout,
				RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
			})
			return workflow.ExecuteActivity(ctx, fn, in).Get(ctx, nil)
		})
		require.True(t, env.IsWorkflowCompleted())
		require.NoError(t, env.GetWorkflowError(), "not killed by the heartbeat timeout")
		return heartbeats.Load()
	}

	t.Run("a long occ upgrade", func(t *testing.T) {
		f := setup(t)
		provision(t, f.ctx, f.sim, testSlug)
		f.startUpgrade(t)
		f.sim.SetUpgradeDuration(5 * heartbeatTimeout)
		in := nextcloud.UpgradeStepInput{Slug: testSlug, Step: nextcloud.UpgradeStepUpgrade, Version: upgradeTarget}
		assert.Positive(t, run(t, f.acts, f.acts.RunUpgradeStep, in))
		inst, _ := f.sim.Instance(testSlug)
		assert.Equal(t, upgradeTarget, inst.Version)
	})

	slow := func(t *testing.T) (*fixture, *nextcloud.Activities) {
		f := setup(t)
		provision(t, f.ctx, f.sim, testSlug)
		acts := *f.acts
		acts.Driver = slowDriver{Simulator: f.sim, delay: 5 * heartbeatTimeout}
		return f, &acts
	}
	t.Run("a slow database snapshot", func(t *testing.T) {
		f, acts := slow(t)
		f.mustStep(t, nextcloud.UpgradeStepInput{Step: nextcloud.UpgradeStepMaintenance, On: true})
		assert.Positive(t, run(t, acts, acts.RunUpgradeStep, nextcloud.UpgradeStepInput{Slug: testSlug, Step: nextcloud.UpgradeStepSnapshot}))
		inst, _ := f.sim.Instance(testSlug)
		assert.Len(t, inst.Snapshots, 1)
	})
	t.Run("a slow deactivation", func(t *testing.T) {
		f, acts := slow(t)
		assert.Positive(t, run(t, acts, acts.SetSpaceDeactivated, nextcloud.SetDeactivatedInput{Slug: testSlug, Deactivated: true}))
		inst, _ := f.sim.Instance(testSlug)
		assert.True(t, inst.Deactivated)
	})
	t.Run("a slow removal", func(t *testing.T) {
		f, acts := slow(t)
		assert.Positive(t, run(t, acts, acts.RemoveSpace, nextcloud.RemoveInput{Slug: testSlug}))
		_, known := f.sim.Instance(testSlug)
		assert.False(t, known)
	})
}
