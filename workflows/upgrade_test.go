package workflows

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	"jardinier/activities/database"
	"jardinier/activities/nextcloud"
	"jardinier/models"
)

// fleetHarness runs a fleet upgrade against fake spaces that answer after upgradeTime,
// with the outcome outcome(slug) gives.
type fleetHarness struct {
	testsuite.WorkflowTestSuite
	t          *testing.T
	env        *testsuite.TestWorkflowEnvironment
	spaces     []database.SpaceVersion
	outcome    func(slug string) string
	downtime   func(slug string) time.Duration
	gone       func(slug string) bool // the space's workflow is deleted or missing
	plannedAt  time.Time
	askedAt    map[string]time.Time
	rows       map[string]database.UpgradeSpaceRow
	started    []string
	running    int
	maxRunning int
	result     UpgradeProgress
	// sim answers the code bases present and prepares the shared apps; through is
	// what each space was asked to go through first.
	sim     *nextcloud.Simulator
	through map[string][]string
	// mu guards what the mocked signals write: the test environment delivers external
	// signals from goroutines of their own.
	mu sync.Mutex
}

const upgradeTime = 10 * time.Minute

func newFleet(t *testing.T, n int) *fleetHarness {
	t.Helper()
	f := &fleetHarness{t: t, rows: map[string]database.UpgradeSpaceRow{},
		outcome:  func(string) string { return SpaceUpgraded },
		downtime: func(string) time.Duration { return time.Minute },
		gone:     func(string) bool { return false },
		askedAt:  map[string]time.Time{}}
	for i := range n {
		f.spaces = append(f.spaces, database.SpaceVersion{Slug: fmt.Sprintf("s%02d", i), Status: models.StatusActive, Version: "31.0.9"})
	}
	f.env = f.NewTestWorkflowEnvironment()
	f.env.SetTestTimeout(30 * time.Second)
	f.env.RegisterWorkflow(FleetUpgradeWorkflow)
	f.env.RegisterActivityWithOptions(func(context.Context, database.ListSpacesInput) (database.ListSpacesResult, error) {
		f.plannedAt = f.env.Now()
		return database.ListSpacesResult{Spaces: f.spaces}, nil
	}, activity.RegisterOptions{Name: "ListSpaces"})
	f.env.RegisterActivityWithOptions(func(_ context.Context, in database.RecordUpgradeSpacesInput) (database.RecordUpgradeSpacesResult, error) {
		for _, r := range in.Rows {
			f.rows[r.Slug] = r
		}
		return database.RecordUpgradeSpacesResult{}, nil
	}, activity.RegisterOptions{Name: "RecordUpgradeSpaces"})
	f.sim = nextcloud.NewSimulator(slog.New(slog.DiscardHandler))
	f.through = map[string][]string{}
	na := &nextcloud.Activities{Driver: f.sim}
	f.env.RegisterActivityWithOptions(na.PrepareSharedApps, activity.RegisterOptions{Name: "PrepareSharedApps"})
	f.env.RegisterActivityWithOptions(na.ListCodeBases, activity.RegisterOptions{Name: "ListCodeBases"})
	f.env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, SignalUpgradeSpace, mock.Anything).Return(
		func(_, workflowID, _, _ string, arg any) error {
			slug := SlugFromWorkflowID(workflowID)
			f.mu.Lock()
			defer f.mu.Unlock()
			f.askedAt[slug] = f.env.Now()
			if f.gone(slug) {
				return fmt.Errorf("workflow %s not found", workflowID)
			}
			f.started = append(f.started, slug)
			f.through[slug] = arg.(UpgradeSpaceRequest).Through
			f.running++
			f.maxRunning = max(f.maxRunning, f.running)
			f.env.RegisterDelayedCallback(func() {
				f.mu.Lock()
				f.running--
				f.mu.Unlock()
				rep := SpaceUpgradeReport{Slug: slug, Outcome: f.outcome(slug), From: "31.0.9", To: arg.(UpgradeSpaceRequest).Target,
					Downtime: f.downtime(slug), Status: models.StatusActive}
				if rep.Outcome == SpaceUpgradeFailed {
					rep.Error, rep.To = "occ upgrade exited 1", "31.0.9"
				}
				f.env.SignalWorkflow(SignalSpaceUpgraded, rep)
			}, upgradeTime)
			return nil
		})
	return f
}

// control sends pause, resume or abort at a time of the test.
func (f *fleetHarness) control(at time.Duration, update string, answer *decisionAnswer) {
	f.env.RegisterDelayedCallback(func() {
		f.env.UpdateWorkflow(update, "", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { answer.rejected = err },
			OnAccept:   func() {},
			OnComplete: func(any, error) { answer.done = true },
		}, UpgradeControlInput{Actor: "alix", Reason: "test"})
	}, at)
}

func (f *fleetHarness) progressAt(at time.Duration, p *UpgradeProgress) {
	f.env.RegisterDelayedCallback(func() {
		v, err := f.env.QueryWorkflow(QueryUpgradeProgress)
		require.NoError(f.t, err)
		require.NoError(f.t, v.Get(p))
	}, at)
}

func (f *fleetHarness) run(in FleetUpgradeInput, end time.Duration) {
	f.t.Helper()
	in.ID = "u1"
	f.env.RegisterDelayedCallback(func() { f.env.CancelWorkflow() }, end)
	f.env.ExecuteWorkflow(FleetUpgradeWorkflow, in)
	require.True(f.t, f.env.IsWorkflowCompleted())
	if err := f.env.GetWorkflowError(); err == nil {
		require.NoError(f.t, f.env.GetWorkflowResult(&f.result))
	}
}

func TestFleetUpgrade(t *testing.T) {
	t.Run("canaries go first one at a time, then waves never exceed the concurrency", func(t *testing.T) {
		f := newFleet(t, 20)
		f.run(FleetUpgradeInput{Target: "32.0.0", CanarySlugs: []string{"s07", "s03"}, Concurrency: 4, MaxFailureRatio: 0.05}, 30*day)

		assert.Equal(t, UpgradeDone, f.result.Status)
		assert.Equal(t, 20, f.result.Upgraded)
		assert.Equal(t, []string{"s07", "s03"}, f.started[:2])
		assert.Equal(t, 4, f.maxRunning)
		assert.Equal(t, time.Minute, f.result.DowntimeP50)
		assert.Equal(t, "upgraded", f.rows["s11"].Status)
	})

	t.Run("the downtime percentiles are measures by nearest rank, even for two spaces", func(t *testing.T) {
		f := newFleet(t, 2)
		f.downtime = func(slug string) time.Duration {
			return map[string]time.Duration{"s00": 7200 * time.Millisecond, "s01": 5900 * time.Millisecond}[slug]
		}
		f.run(FleetUpgradeInput{Target: "32.0.0", Concurrency: 2}, 30*day)

		assert.Equal(t, UpgradeDone, f.result.Status)
		assert.Equal(t, 5900*time.Millisecond, f.result.DowntimeP50)
		assert.Equal(t, 7200*time.Millisecond, f.result.DowntimeP95, "the slower of the two, not the minimum")
	})

	t.Run("spaces found gone free their slots at once, and the rollout ends when nothing remains", func(t *testing.T) {
		f := newFleet(t, 10)
		f.gone = func(slug string) bool { return slug < "s06" }
		f.run(FleetUpgradeInput{Target: "32.0.0", Concurrency: 2}, 30*day)

		assert.Equal(t, UpgradeDone, f.result.Status)
		assert.Equal(t, 4, f.result.Upgraded)
		assert.Equal(t, 6, f.result.Skipped)
		assert.Equal(t, "skipped", f.rows["s03"].Status)
		for _, slug := range []string{"s00", "s05", "s06", "s07"} {
			assert.Equal(t, f.plannedAt, f.askedAt[slug], "%s is asked without waiting for a tick", slug)
		}
		assert.Equal(t, f.plannedAt.Add(upgradeTime), f.askedAt["s08"], "the next wave starts when the first one answers")
		assert.Equal(t, f.plannedAt.Add(2*upgradeTime), f.env.Now(), "over when the last space answers")
	})

	t.Run("a rollout whose spaces are all gone is over at once", func(t *testing.T) {
		f := newFleet(t, 5)
		f.gone = func(string) bool { return true }
		f.run(FleetUpgradeInput{Target: "32.0.0", Concurrency: 2}, 30*day)

		assert.Equal(t, UpgradeDone, f.result.Status)
		assert.Equal(t, 5, f.result.Skipped)
		assert.Equal(t, 0, f.result.Remaining)
		assert.Equal(t, f.plannedAt, f.env.Now())
	})

	t.Run("a canary failure pauses the rollout, and resume continues it", func(t *testing.T) {
		f := newFleet(t, 10)
		f.outcome = func(slug string) string {
			if slug == "s00" {
				return SpaceUpgradeFailed
			}
			return SpaceUpgraded
		}
		var paused UpgradeProgress
		f.progressAt(5*time.Hour, &paused)
		var resume decisionAnswer
		f.control(6*time.Hour, UpdateUpgradeResume, &resume)
		f.run(FleetUpgradeInput{Target: "32.0.0", Canary: 2, Concurrency: 3, MaxFailureRatio: 0.5}, 30*day)

		assert.Equal(t, UpgradePaused, paused.Status)
		assert.Contains(t, paused.PauseReason, "s00")
		assert.Equal(t, 9, paused.Remaining, "nothing else started after the canary failed")
		require.NoError(t, resume.rejected)
		assert.Equal(t, UpgradeDone, f.result.Status)
		assert.Equal(t, 9, f.result.Upgraded)
		assert.Equal(t, 1, f.result.Failed)
		assert.Equal(t, "failed", f.rows["s00"].Status)
	})

	t.Run("failures past the threshold pause the rollout", func(t *testing.T) {
		f := newFleet(t, 30)
		f.outcome = func(slug string) string {
			if slug == "s02" || slug == "s04" || slug == "s05" {
				return SpaceUpgradeFailed
			}
			return SpaceUpgraded
		}
		var p UpgradeProgress
		f.progressAt(10*day, &p)
		f.run(FleetUpgradeInput{Target: "32.0.0", Concurrency: 1, MaxFailureRatio: 0.2}, 11*day)

		assert.Equal(t, UpgradePaused, p.Status)
		assert.Contains(t, p.PauseReason, "seuil")
		assert.Equal(t, 2, p.Failed, "2 failures out of 5 finished: past 20%")
		assert.Len(t, f.started, 5, "the rollout stopped there")
	})

	t.Run("abort lets the spaces under way finish and starts no other", func(t *testing.T) {
		f := newFleet(t, 12)
		var abort, again decisionAnswer
		f.control(15*time.Minute, UpdateUpgradeAbort, &abort)
		f.control(16*time.Minute, UpdateUpgradeResume, &again)
		f.run(FleetUpgradeInput{Target: "32.0.0", Concurrency: 3}, 30*day)

		require.NoError(t, abort.rejected)
		assert.Error(t, again.rejected, "an aborted upgrade cannot resume")
		assert.Equal(t, UpgradeAborted, f.result.Status)
		assert.Equal(t, 6, len(f.started), "two waves of 3: the second was under way")
		assert.Equal(t, 6, f.result.Upgraded, "every started space finished, on a consistent version")
		assert.Equal(t, 0, f.result.Running)
		assert.Equal(t, 6, f.result.Remaining)
	})

	t.Run("spaces too far behind are refused with their steps; deactivated ones are left out", func(t *testing.T) {
		f := newFleet(t, 3)
		f.spaces = append(f.spaces,
			database.SpaceVersion{Slug: "vieux", Status: models.StatusActive, Version: "29.0.16"},
			database.SpaceVersion{Slug: "endormi", Status: models.StatusDeactivated, Version: "31.0.9"},
			database.SpaceVersion{Slug: "futur", Status: models.StatusActive, Version: "33.0.1"})
		f.run(FleetUpgradeInput{Target: "32.0.0", Concurrency: 2}, 30*day)

		assert.Equal(t, UpgradeDone, f.result.Status)
		assert.Equal(t, 3, f.result.Upgraded)
		require.Len(t, f.result.Refused, 2)
		assert.Equal(t, "vieux", f.result.Refused[0].Slug)
		assert.Equal(t, []string{"30", "31", "32.0.0"}, f.result.Refused[0].Steps)
		assert.Equal(t, "futur", f.result.Refused[1].Slug, "a downgrade is refused too")
		assert.Equal(t, "refused", f.rows["vieux"].Status)
		assert.Equal(t, "skipped", f.rows["endormi"].Status)
		assert.NotContains(t, f.started, "vieux")
		assert.NotContains(t, f.started, "endormi")
	})
}

func TestFleetUpgradeSharedAppsAndMajors(t *testing.T) {
	t.Run("an approved app without a release for the target stops the upgrade before any space", func(t *testing.T) {
		f := newFleet(t, 3)
		f.sim.SetAppReleases("spreed", 31)
		f.run(FleetUpgradeInput{Target: "32.0.2", Concurrency: 2}, 30*day)

		assert.Equal(t, UpgradeFailed, f.result.Status)
		assert.Contains(t, f.result.PauseReason, "spreed: no release for Nextcloud 32.0.2")
		assert.True(t, f.plannedAt.IsZero(), "the spaces were not even listed")
		assert.Empty(t, f.started, "no space touched")
		assert.Empty(t, f.rows)
	})

	t.Run("while the apps are prepared the upgrade is running, and a pause then holds", func(t *testing.T) {
		f := newFleet(t, 2)
		var during UpgradeProgress
		f.env.OnActivity("PrepareSharedApps", mock.Anything, mock.Anything).After(time.Hour).Return(nextcloud.PrepareAppsResult{}, nil)
		f.progressAt(30*time.Minute, &during)
		var pause decisionAnswer
		f.control(40*time.Minute, UpdateUpgradePause, &pause)
		var after UpgradeProgress
		f.progressAt(3*time.Hour, &after)
		f.run(FleetUpgradeInput{Target: "32.0.2", Concurrency: 2}, 4*time.Hour)

		assert.Equal(t, UpgradeRunning, during.Status, "running, pause and abort offered")
		assert.False(t, during.StartedAt.IsZero())
		require.True(t, pause.done, "%v", pause.rejected)
		assert.Equal(t, UpgradePaused, after.Status, "the pause holds once the spaces are planned")
		assert.Empty(t, f.started)
	})

	t.Run("the target's apps are prepared first, then every space reads them", func(t *testing.T) {
		f := newFleet(t, 2)
		f.run(FleetUpgradeInput{Target: "32.0.2", Concurrency: 2}, 30*day)

		assert.Equal(t, UpgradeDone, f.result.Status)
		tree, err := f.sim.PrepareApps(t.Context(), "32.0.2")
		require.NoError(t, err)
		assert.NotEmpty(t, tree.Apps, "the tree of the target was prepared")
	})

	t.Run("a space two majors behind goes through the code base in between; one without it is listed with the release missing", func(t *testing.T) {
		f := newFleet(t, 0)
		f.spaces = []database.SpaceVersion{
			{Slug: "a-jour", Status: models.StatusActive, Version: "32.0.1"},
			{Slug: "en-retard", Status: models.StatusActive, Version: "31.0.9"},
			{Slug: "trop-en-retard", Status: models.StatusActive, Version: "29.0.6"},
		}
		f.sim.SetCodeBases("29.0.6", "31.0.9", "32.0.0", "32.0.2", "33.0.1")
		f.run(FleetUpgradeInput{Target: "33.0.1", Concurrency: 4}, 30*day)

		assert.Equal(t, UpgradeDone, f.result.Status)
		assert.ElementsMatch(t, []string{"a-jour", "en-retard"}, f.started)
		assert.Empty(t, f.through["a-jour"], "one major: straight to the target")
		assert.Equal(t, []string{"32.0.2"}, f.through["en-retard"], "through the latest code base of 32")
		assert.Equal(t, "upgraded", f.rows["en-retard"].Status)
		require.Len(t, f.result.Refused, 1)
		refused := f.result.Refused[0]
		assert.Equal(t, "trop-en-retard", refused.Slug)
		assert.Equal(t, []string{"30", "31", "32", "33.0.1"}, refused.Steps)
		assert.Equal(t, []string{"30"}, refused.Missing, "no code base of 30")
		assert.Equal(t, "refused", f.rows["trop-en-retard"].Status)
		assert.Contains(t, f.rows["trop-en-retard"].Error, "version(s) manquante(s) : 30")
	})
}
