package workflows

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"

	"jardinier/activities/database"
	"jardinier/activities/mail"
	"jardinier/models"
)

// changePolicy records a new version of the policy at a time of the test, as an admin
// does, and signals the space as the rollout does.
func (h *harness) changePolicy(at time.Duration, version int, p models.InactivityPolicy) {
	h.at(at, func() {
		h.policy, h.policyVersion = p, version
		h.env.SignalWorkflow(SignalPolicyChanged, PolicyChanged{Version: version, Policy: p})
	})
}

// stepsDone are the dates the policy's steps were taken, by step.
func (h *harness) stepsDone() map[models.Step]time.Time {
	done := map[models.Step]time.Time{}
	for _, step := range models.Steps {
		action := string(step)
		switch step {
		case models.StepDeactivation:
			action = UpdateDeactivate
		case models.StepDeletion:
			action = UpdateDelete
		}
		if at, ok := h.transitionAt(action); ok {
			done[step] = at
		}
	}
	return done
}

// assertMailsTold checks every mail of the countdown against what happened: the next
// step and the deletion never came before the dates it gave, and came on them when the
// policy did not change between the mail and the step.
func assertMailsTold(t *testing.T, h *harness, changedAt time.Time) {
	t.Helper()
	done := h.stepsDone()
	next := map[mail.Kind]models.Step{mail.KindFirstWarning: models.StepSecondWarning,
		mail.KindSecondWarning: models.StepDeactivation, mail.KindDeactivated: models.StepDeletionNotice,
		mail.KindDeletionNotice: models.StepDeletion}
	sentAt := map[mail.Kind]models.Step{mail.KindFirstWarning: models.StepFirstWarning,
		mail.KindSecondWarning: models.StepSecondWarning, mail.KindDeactivated: models.StepDeactivation,
		mail.KindDeletionNotice: models.StepDeletionNotice}
	for _, kind := range []mail.Kind{mail.KindFirstWarning, mail.KindSecondWarning, mail.KindDeactivated, mail.KindDeletionNotice} {
		mails := h.mailsOf(kind)
		require.Len(t, mails, 1, kind)
		m := mails[0]
		happened, ok := done[next[kind]]
		require.True(t, ok, "%s happened", next[kind])
		assert.False(t, happened.Before(m.NextStepAt.Add(-time.Minute)), "%s: %s came before the date the mail gave", kind, next[kind])
		assert.False(t, done[models.StepDeletion].Before(m.DeletionAt.Add(-time.Minute)), "%s: the deletion came before the date the mail gave", kind)
		if done[sentAt[kind]].After(changedAt) {
			assertNear(t, m.NextStepAt, happened, string(kind)+": the next step came on the date the mail gave")
			assertNear(t, m.DeletionAt, done[models.StepDeletion], string(kind)+": the deletion came on the date the mail gave")
		}
	}
}

// assertPlanHappened checks that the plan the workflow showed is what then happened.
func assertPlanHappened(t *testing.T, h *harness, plan []models.PlannedStep) {
	t.Helper()
	done := h.stepsDone()
	require.NotEmpty(t, plan)
	for _, p := range plan {
		at, ok := done[p.Step]
		if assert.True(t, ok, "%s happened", p.Step) {
			assertNear(t, p.At, at, string(p.Step)+" came on the planned date")
		}
	}
}

// lastProjectedPlan is the plan of the last projection written before a time.
func (h *harness) lastProjectedPlan(before time.Time) []models.PlannedStep {
	var plan []models.PlannedStep
	for _, p := range h.projections {
		if p.Schedule != nil && !p.At.After(before) {
			plan = p.Schedule.Plan
		}
	}
	return plan
}

func TestPolicyChange(t *testing.T) {
	short := models.InactivityPolicy{Offsets: [5]time.Duration{10 * day, 12 * day, 14 * day, 16 * day, 18 * day}}
	compressed := models.InactivityPolicy{Offsets: [5]time.Duration{10 * day, 15 * day, 20 * day, 25 * day, 30 * day}}

	t.Run("a longer policy after the first warning postpones every step at once, and each later mail gives the dates that happen", func(t *testing.T) {
		h, t0 := activeSpace(t)
		h.policy, h.policyVersion = compressed, 1
		h.changePolicy(12*day, 2, models.DefaultInactivityPolicy())
		var st SpaceStatus
		h.queryAt(12*day+time.Hour, &st)
		h.run(200 * day)

		require.NoError(t, h.err)
		warn1, _ := h.transitionAt(string(models.StepFirstWarning))
		assertNear(t, t0.Add(10*day), warn1, "the first warning came under the old policy")
		assert.Equal(t, 2, st.PolicyVersion)
		assert.Equal(t, models.StepSecondWarning, st.NextStep)
		assertNear(t, t0.Add(75*day), st.NextStepAt, "the timer of the old plan (day 15) is dropped")
		require.Len(t, st.Plan, 4)
		for i, at := range []time.Duration{75 * day, 90 * day, 105 * day, 120 * day} {
			assert.Equal(t, models.Steps[i+1], st.Plan[i].Step)
			assertNear(t, t0.Add(at), st.Plan[i].At, string(st.Plan[i].Step))
		}
		assertPlanHappened(t, h, st.Plan)
		assert.Equal(t, st.Plan, h.lastProjectedPlan(testStart.Add(12*day+time.Hour)), "the projection holds the same plan at once")
		assertMailsTold(t, h, testStart.Add(12*day))
		assert.Equal(t, 1, len(h.mailsOf(mail.KindSecondWarning)), "no step skipped")
	})

	t.Run("a shorter policy after the first warning keeps every date a mail gave, and the new gaps after them", func(t *testing.T) {
		h, t0 := activeSpace(t)
		h.policyVersion = 1
		h.changePolicy(61*day, 2, short)
		var st SpaceStatus
		h.queryAt(61*day+time.Hour, &st)
		h.run(200 * day)

		require.NoError(t, h.err)
		require.Len(t, st.Plan, 4)
		want := []time.Duration{75 * day, 77 * day, 79 * day, 120 * day}
		for i, at := range want {
			assertNear(t, t0.Add(at), st.Plan[i].At, string(st.Plan[i].Step))
		}
		assertPlanHappened(t, h, st.Plan)
		assert.Equal(t, st.Plan, h.lastProjectedPlan(testStart.Add(61*day+time.Hour)))
		assertMailsTold(t, h, testStart.Add(61*day))
	})

	t.Run("a change back and forth during a deactivation keeps its dates and ends on the policy in force", func(t *testing.T) {
		h, t0 := activeSpace(t)
		h.policy, h.policyVersion = compressed, 1
		// Deactivated on day 20 (mail: notice on day 25, deletion on day 30); then the
		// default policy, then a short one again.
		h.changePolicy(21*day, 2, models.DefaultInactivityPolicy())
		h.changePolicy(22*day, 3, short)
		var st SpaceStatus
		h.queryAt(22*day+time.Hour, &st)
		h.run(200 * day)

		require.NoError(t, h.err)
		assert.Equal(t, 3, st.PolicyVersion)
		done := h.stepsDone()
		assertNear(t, t0.Add(20*day), done[models.StepDeactivation], "deactivated under the first policy")
		assertNear(t, t0.Add(25*day), done[models.StepDeletionNotice], "the notice on the date the deactivation mail gave")
		assertNear(t, t0.Add(30*day), done[models.StepDeletion], "the deletion on the date every mail gave")
		assertPlanHappened(t, h, st.Plan)
		assertMailsTold(t, h, testStart.Add(22*day))
	})

	t.Run("a signal older than the version in force changes nothing", func(t *testing.T) {
		h, t0 := activeSpace(t)
		h.policyVersion = 5
		h.at(10*day, func() { h.env.SignalWorkflow(SignalPolicyChanged, PolicyChanged{Version: 4, Policy: short}) })
		var st SpaceStatus
		h.queryAt(10*day+time.Hour, &st)
		h.run(11 * day)

		assert.Equal(t, 5, st.PolicyVersion)
		assertNear(t, t0.Add(60*day), st.NextStepAt, "still the default policy")
	})
}

func TestPolicyRolloutWorkflow(t *testing.T) {
	t.Run("every space in service is told, page by page, a few signals at a time; a space gone is counted", func(t *testing.T) {
		var suite testsuite.WorkflowTestSuite
		env := suite.NewTestWorkflowEnvironment()
		env.RegisterWorkflow(PolicyRolloutWorkflow)
		slugs := []string{"a", "b", "c", "d", "e", "f", "g"}
		var pages []database.ListPolicySpacesInput
		env.RegisterActivityWithOptions(func(in database.ListPolicySpacesInput) (database.ListPolicySpacesResult, error) {
			pages = append(pages, in)
			var res database.ListPolicySpacesResult
			for _, s := range slugs {
				if s > in.After && len(res.Slugs) < in.Limit {
					res.Slugs = append(res.Slugs, s)
				}
			}
			return res, nil
		}, activity.RegisterOptions{Name: "ListPolicySpaces"})
		change := PolicyChanged{Version: 2, Policy: models.DefaultInactivityPolicy()}
		var told []string
		var mu sync.Mutex // the test environment delivers external signals from goroutines of their own
		env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, "", SignalPolicyChanged, change).Return(
			func(_, id, _, _ string, _ any) error {
				mu.Lock()
				defer mu.Unlock()
				told = append(told, id)
				if id == SpaceWorkflowID("d") {
					return errors.New("unknown external workflow execution")
				}
				return nil
			})
		env.ExecuteWorkflow(PolicyRolloutWorkflow, PolicyRolloutInput{Change: change, Window: 2, PageSize: 3})
		require.True(t, env.IsWorkflowCompleted())
		require.NoError(t, env.GetWorkflowError())
		var res PolicyRolloutResult
		require.NoError(t, env.GetWorkflowResult(&res))

		assert.Equal(t, PolicyRolloutResult{Signalled: 6, Gone: 1}, res)
		var want []string
		for _, s := range slugs {
			want = append(want, SpaceWorkflowID(s))
		}
		assert.ElementsMatch(t, want, told)
		assert.Equal(t, []string{"", "c", "f"}, []string{pages[0].After, pages[1].After, pages[2].After})
	})
}
