package workflows

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"jardinier/activities/database"
	"jardinier/models"
)

// limitsHarness runs a limits rollout against fake spaces that answer after
// answerTime with the outcome outcome(slug) gives.
type limitsHarness struct {
	testsuite.WorkflowTestSuite
	t          *testing.T
	env        *testsuite.TestWorkflowEnvironment
	slugs      []string
	outcome    func(slug string) string
	gone       func(slug string) bool
	told       []string
	toldAt     map[string]time.Time
	pages      int
	running    int
	maxRunning int
	result     LimitsProgress
	// mu guards what the mocked signals write: the test environment delivers external
	// signals from goroutines of their own.
	mu sync.Mutex
}

const answerTime = 10 * time.Minute

var newDefaults = models.LimitsOf(50, 60, 500)

func newLimitsRollout(t *testing.T, n int) *limitsHarness {
	t.Helper()
	f := &limitsHarness{t: t, toldAt: map[string]time.Time{},
		outcome: func(string) string { return LimitsOutcomeApplied },
		gone:    func(string) bool { return false }}
	for i := range n {
		f.slugs = append(f.slugs, fmt.Sprintf("s%02d", i))
	}
	f.env = f.NewTestWorkflowEnvironment()
	f.env.SetTestTimeout(30 * time.Second)
	f.env.RegisterWorkflow(LimitsRolloutWorkflow)
	f.env.RegisterActivityWithOptions(func(context.Context, database.CountLimitsSpacesInput) (database.CountLimitsSpacesResult, error) {
		return database.CountLimitsSpacesResult{Spaces: len(f.slugs)}, nil
	}, activity.RegisterOptions{Name: "CountLimitsSpaces"})
	f.env.RegisterActivityWithOptions(func(_ context.Context, in database.ListPolicySpacesInput) (database.ListPolicySpacesResult, error) {
		f.pages++
		var page []string
		for _, s := range f.slugs {
			if s > in.After && len(page) < in.Limit {
				page = append(page, s)
			}
		}
		return database.ListPolicySpacesResult{Slugs: page}, nil
	}, activity.RegisterOptions{Name: "ListPolicySpaces"})
	f.env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, SignalApplyLimits, mock.Anything).Return(
		func(_, workflowID, _, _ string, arg any) error {
			slug := SlugFromWorkflowID(workflowID)
			req := arg.(ApplyLimitsRequest)
			f.mu.Lock()
			defer f.mu.Unlock()
			f.toldAt[slug] = f.env.Now()
			if f.gone(slug) {
				return fmt.Errorf("workflow %s not found", workflowID)
			}
			f.told = append(f.told, slug)
			f.running++
			f.maxRunning = max(f.maxRunning, f.running)
			f.env.RegisterDelayedCallback(func() {
				f.mu.Lock()
				f.running--
				f.mu.Unlock()
				rep := LimitsReport{Slug: slug, Version: req.Version, Outcome: f.outcome(slug)}
				if rep.Outcome == LimitsOutcomeFailed {
					rep.Error = "occ exited 1"
				}
				f.env.SignalWorkflow(SignalLimitsApplied, rep)
			}, answerTime)
			return nil
		})
	return f
}

func (f *limitsHarness) control(at time.Duration, update string, answer *decisionAnswer) {
	f.env.RegisterDelayedCallback(func() {
		f.env.UpdateWorkflow(update, "", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { answer.rejected = err },
			OnAccept:   func() {},
			OnComplete: func(any, error) { answer.done = true },
		}, LimitsControlInput{Actor: "alix", Reason: "test"})
	}, at)
}

func (f *limitsHarness) progressAt(at time.Duration, p *LimitsProgress) {
	f.env.RegisterDelayedCallback(func() {
		v, err := f.env.QueryWorkflow(QueryLimitsProgress)
		require.NoError(f.t, err)
		require.NoError(f.t, v.Get(p))
	}, at)
}

func (f *limitsHarness) run(in LimitsRolloutInput, end time.Duration) {
	f.t.Helper()
	in.Version, in.Limits, in.Actor, in.Reason = 2, newDefaults, "alix", "60 Go pour tous"
	f.env.RegisterDelayedCallback(func() { f.env.CancelWorkflow() }, end)
	f.env.ExecuteWorkflow(LimitsRolloutWorkflow, in)
	require.True(f.t, f.env.IsWorkflowCompleted())
	// A rollout left paused is still there at the end, cancelled: it has no result.
	if err := f.env.GetWorkflowError(); err == nil {
		require.NoError(f.t, f.env.GetWorkflowResult(&f.result))
	} else {
		var canceled *temporal.CanceledError
		require.ErrorAs(f.t, err, &canceled)
	}
}

func TestLimitsRollout(t *testing.T) {
	t.Run("every space in service is told, page after page, never more than the window at once", func(t *testing.T) {
		f := newLimitsRollout(t, 23)
		var early LimitsProgress
		f.progressAt(answerTime/2, &early)
		f.run(LimitsRolloutInput{Concurrency: 5, PageSize: 7}, 10*time.Hour)

		assert.ElementsMatch(t, f.slugs, f.told, "every space once")
		assert.Equal(t, 5, f.maxRunning, "the window is full, never more")
		assert.Equal(t, 4, f.pages, "23 spaces by pages of 7")
		assert.Equal(t, LimitsDone, f.result.Status)
		assert.Equal(t, 23, f.result.Applied)
		assert.Equal(t, 23, f.result.Total)
		assert.Zero(t, f.result.Remaining+f.result.Running)
		assert.Equal(t, 5, early.Running, "the progress shows the window under way")
		assert.Equal(t, 18, early.Remaining)
		assert.Equal(t, 23, early.Total)
	})

	t.Run("a paused rollout tells no new space until it is resumed", func(t *testing.T) {
		f := newLimitsRollout(t, 12)
		var pause, resume decisionAnswer
		var paused LimitsProgress
		f.control(answerTime/2, UpdateLimitsPause, &pause)
		f.progressAt(3*answerTime, &paused)
		f.control(6*answerTime, UpdateLimitsResume, &resume)
		f.run(LimitsRolloutInput{Concurrency: 4}, 10*time.Hour)

		require.NoError(t, pause.rejected)
		require.NoError(t, resume.rejected)
		assert.True(t, pause.done && resume.done)
		assert.Equal(t, LimitsPaused, paused.Status)
		assert.Contains(t, paused.PauseReason, "alix")
		assert.Equal(t, 4, paused.Applied, "the spaces under way finished")
		assert.Equal(t, 0, paused.Running)
		assert.Equal(t, 8, paused.Remaining)
		resumedAt := f.toldAt[f.told[0]].Add(6 * answerTime) // the first space was told at the start
		for _, slug := range f.told[4:] {
			assert.False(t, f.toldAt[slug].Before(resumedAt), "%s told during the pause", slug)
		}
		assert.Equal(t, LimitsDone, f.result.Status)
		assert.Equal(t, 12, f.result.Applied)
	})

	t.Run("resuming a running rollout is refused and changes nothing", func(t *testing.T) {
		f := newLimitsRollout(t, 3)
		var resume decisionAnswer
		f.control(time.Minute, UpdateLimitsResume, &resume)
		f.run(LimitsRolloutInput{}, 10*time.Hour)

		var appErr *temporal.ApplicationError
		require.True(t, errors.As(resume.rejected, &appErr), "refused: %v", resume.rejected)
		assert.Equal(t, ErrTypeNotAllowed, appErr.Type())
		assert.Equal(t, LimitsDone, f.result.Status)
	})

	t.Run("spaces that keep their own limits, wait for their reactivation or are gone are counted apart", func(t *testing.T) {
		f := newLimitsRollout(t, 10)
		f.outcome = func(slug string) string {
			switch slug {
			case "s01", "s02":
				return LimitsOutcomeKept
			case "s03":
				return LimitsOutcomeDeferred
			}
			return LimitsOutcomeApplied
		}
		f.gone = func(slug string) bool { return slug == "s04" || slug == "s05" }
		f.run(LimitsRolloutInput{Concurrency: 3}, 10*time.Hour)

		assert.Equal(t, LimitsDone, f.result.Status)
		assert.Equal(t, LimitsCounts{Applied: 5, Kept: 2, Deferred: 1, Skipped: 2}, f.result.LimitsCounts)
		assert.Equal(t, 10, f.result.Total)
		assert.Equal(t, 3, f.maxRunning, "a gone space's slot goes to the next one")
	})

	t.Run("failures past the threshold pause the rollout and are listed", func(t *testing.T) {
		f := newLimitsRollout(t, 20)
		f.outcome = func(slug string) string {
			if slug < "s03" {
				return LimitsOutcomeFailed
			}
			return LimitsOutcomeApplied
		}
		var p LimitsProgress
		f.progressAt(5*answerTime, &p)
		f.run(LimitsRolloutInput{Concurrency: 5, MaxFailureRatio: 0.2}, 10*time.Hour)

		assert.Equal(t, LimitsPaused, p.Status)
		assert.Contains(t, p.PauseReason, "seuil")
		assert.Equal(t, 3, p.Failed)
		require.Len(t, p.Failures, 3)
		// The spaces answer in the order their activities finish, not their slugs'.
		assert.ElementsMatch(t, []LimitsFailure{{Slug: "s00", Error: "occ exited 1"},
			{Slug: "s01", Error: "occ exited 1"}, {Slug: "s02", Error: "occ exited 1"}}, p.Failures)
		assert.Less(t, len(f.told), 20, "no new space told once paused")
	})
}

// applyDefaults sends a rollout's request to the space at a time of the test.
func (h *harness) applyDefaults(at time.Duration, version int, limits models.Limits) {
	h.at(at, func() {
		h.env.SignalWorkflow(SignalApplyLimits, ApplyLimitsRequest{RolloutID: LimitsRolloutWorkflowID(version),
			Version: version, Limits: limits, Actor: "alix", Reason: "60 Go pour tous"})
	})
}

// instanceLimits is what the simulator's instance of the space enforces.
func (h *harness) instanceLimits() models.Limits {
	h.t.Helper()
	in, ok := h.sim.Instance(h.input.Slug)
	require.True(h.t, ok)
	return in.Limits
}

// transitionsOf returns the audited transitions of one action.
func (h *harness) transitionsOf(action string) []database.RecordTransitionInput {
	var out []database.RecordTransitionInput
	for _, tr := range h.transitions {
		if tr.Action == action {
			out = append(out, tr)
		}
	}
	return out
}

func TestSpaceLimits(t *testing.T) {
	own := models.LimitsOf(80, 120, 1000)

	t.Run("a new space gets the fleet's defaults in force, and records them", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.limits, h.limitsVersion = models.LimitsOf(50, 60, 500), 3
		var st SpaceStatus
		h.queryAt(2*day, &st)
		h.run(3 * day)

		assert.Equal(t, h.limits, h.instanceLimits())
		assert.Equal(t, h.limits, st.Limits)
		assert.Equal(t, 3, st.LimitsVersion)
		assert.False(t, st.OwnLimits)
		var projected *database.SpaceLimits
		for _, p := range h.projections {
			if p.Limits != nil {
				projected = p.Limits
			}
		}
		require.NotNil(t, projected, "the projection shows the limits")
		assert.Equal(t, database.SpaceLimits{Limits: h.limits, Version: 3}, *projected)
	})

	t.Run("new defaults are applied to a space and recorded in its timeline", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.applyDefaults(2*day, 2, newDefaults)
		h.run(3 * day)

		require.Len(t, h.limitsReports, 1)
		assert.Equal(t, LimitsReport{Slug: "les-amis", Version: 2, Outcome: LimitsOutcomeApplied}, h.limitsReports[0])
		assert.Equal(t, newDefaults, h.instanceLimits())
		applied := h.transitionsOf(ActionLimitsApplied)
		require.Len(t, applied, 1)
		assert.Equal(t, "alix", applied[0].Actor)
		assert.Contains(t, applied[0].Reason, "version 2")
		assert.Equal(t, &database.SpaceLimits{Limits: newDefaults, Version: 2}, applied[0].Limits)
	})

	t.Run("a space with limits of its own keeps them when the defaults change, until a moderator takes it back", func(t *testing.T) {
		h, _ := activeSpace(t)
		var set, back decisionAnswer
		h.send(2*day, UpdateSetLimits, SetLimitsInput{Actor: "camille", Reason: "chorale de 80 membres", Limits: &own}, &set)
		h.applyDefaults(3*day, 2, newDefaults)
		var kept SpaceStatus
		h.queryAt(4*day, &kept)
		h.at(5*day, func() { h.limits, h.limitsVersion = newDefaults, 2 })
		h.send(6*day, UpdateSetLimits, SetLimitsInput{Actor: "camille", Reason: "retour aux limites communes"}, &back)
		var after SpaceStatus
		h.queryAt(7*day, &after)
		h.run(8 * day)

		require.NoError(t, set.rejected)
		require.NoError(t, set.err)
		require.Len(t, h.limitsReports, 1)
		assert.Equal(t, LimitsOutcomeKept, h.limitsReports[0].Outcome)
		assert.Equal(t, own, kept.Limits, "the defaults left the space's own limits alone")
		assert.True(t, kept.OwnLimits)
		assert.Equal(t, 2, kept.LimitsVersion, "the space knows which defaults it was told of")
		assert.Empty(t, h.transitionsOf(ActionLimitsApplied))
		sets := h.transitionsOf(UpdateSetLimits)
		require.Len(t, sets, 2)
		assert.Equal(t, "camille", sets[0].Actor)
		assert.Equal(t, "chorale de 80 membres", sets[0].Reason)
		assert.Equal(t, &database.SpaceLimits{Limits: own, Own: true, Version: 1}, sets[0].Limits)

		require.NoError(t, back.err)
		assert.Equal(t, newDefaults, h.instanceLimits(), "back to the defaults in force")
		assert.False(t, after.OwnLimits)
		assert.Equal(t, &database.SpaceLimits{Limits: newDefaults, Version: 2}, sets[1].Limits)
	})

	t.Run("limits no space may have are refused naming the field, and nothing changes", func(t *testing.T) {
		h, _ := activeSpace(t)
		for i, tc := range []struct {
			field string
			in    SetLimitsInput
		}{
			{"max_accounts", SetLimitsInput{Actor: "camille", Reason: "r", Limits: &models.Limits{MaxAccounts: 0, QuotaBytes: own.QuotaBytes, MaxVideoBytes: own.MaxVideoBytes}}},
			{"quota_gb", SetLimitsInput{Actor: "camille", Reason: "r", Limits: &models.Limits{MaxAccounts: 5, QuotaBytes: 5000 << 30, MaxVideoBytes: own.MaxVideoBytes}}},
			{"max_video_mb", SetLimitsInput{Actor: "camille", Reason: "r", Limits: &models.Limits{MaxAccounts: 5, QuotaBytes: 1 << 30, MaxVideoBytes: 2 << 30}}},
			{"reason", SetLimitsInput{Actor: "camille", Limits: &own}},
		} {
			answer := &decisionAnswer{}
			h.send(2*day+time.Duration(i)*time.Hour, UpdateSetLimits, tc.in, answer)
			defer func() {
				var appErr *temporal.ApplicationError
				require.True(t, errors.As(answer.rejected, &appErr), "%s: refused, got %v", tc.field, answer.rejected)
				var r Refusal
				require.NoError(t, appErr.Details(&r))
				assert.Equal(t, tc.field, r.Field)
			}()
		}
		h.run(3 * day)
		assert.Equal(t, models.DefaultLimits(), h.instanceLimits())
		assert.Empty(t, h.transitionsOf(UpdateSetLimits))
	})

	t.Run("a deactivated space answers that it waits, and applies the defaults at its reactivation", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.send(2*day, UpdateDeactivate, ActionInput{Actor: "camille", Reason: "à la demande"}, &decisionAnswer{})
		h.applyDefaults(3*day, 2, newDefaults)
		var waiting SpaceStatus
		h.queryAt(4*day, &waiting)
		h.send(5*day, UpdateReactivate, ActionInput{Actor: "camille", Reason: "retour"}, &decisionAnswer{})
		var st SpaceStatus
		h.queryAt(6*day, &st)
		h.run(7 * day)

		require.Len(t, h.limitsReports, 1, "one answer, when the request came")
		assert.Equal(t, LimitsOutcomeDeferred, h.limitsReports[0].Outcome)
		assert.Equal(t, models.DefaultLimits(), waiting.Limits, "nothing applied while deactivated")
		assert.Equal(t, models.StatusActive, st.Status)
		assert.Equal(t, newDefaults, st.Limits)
		assert.Equal(t, newDefaults, h.instanceLimits())
		assert.Len(t, h.transitionsOf(ActionLimitsApplied), 1)
	})

	t.Run("an older version told after a newer one is skipped", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.applyDefaults(2*day, 3, newDefaults)
		h.applyDefaults(3*day, 2, models.LimitsOf(40, 40, 500))
		h.run(4 * day)

		require.Len(t, h.limitsReports, 2)
		assert.Equal(t, LimitsOutcomeApplied, h.limitsReports[0].Outcome)
		assert.Equal(t, LimitsOutcomeSkipped, h.limitsReports[1].Outcome)
		assert.Equal(t, newDefaults, h.instanceLimits())
	})
}
