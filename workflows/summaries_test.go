package workflows

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"jardinier/activities/database"
	"jardinier/models"
)

// timerSeen is one timer a workflow started: its summary, and when it was to fire.
type timerSeen struct {
	summary string
	firesAt time.Time
}

// recordTimers makes the harness's environment record every timer the workflow
// starts, through a worker interceptor as the UI's summaries go through the SDK.
func (h *harness) recordTimers() {
	h.env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{&timerRecorder{h: h}}})
}

type timerRecorder struct {
	interceptor.WorkerInterceptorBase
	h *harness
}

func (r *timerRecorder) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &timerInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, h: r.h}
}

type timerInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	h *harness
}

func (i *timerInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&timerOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}, h: i.h})
}

type timerOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
	h *harness
}

func (o *timerOutbound) NewTimerWithOptions(ctx workflow.Context, d time.Duration, opts workflow.TimerOptions) workflow.Future {
	if !workflow.IsReplaying(ctx) {
		o.h.timers = append(o.h.timers, timerSeen{summary: opts.Summary, firesAt: workflow.Now(ctx).Add(d)})
	}
	return o.Next.NewTimerWithOptions(ctx, d, opts)
}

// policyTimers returns the timers that waited for a step of the inactivity policy.
func (h *harness) policyTimers() []timerSeen {
	var out []timerSeen
	for _, tm := range h.timers {
		if strings.HasPrefix(tm.summary, "attente : ") {
			out = append(out, tm)
		}
	}
	return out
}

func TestTimerSummaries(t *testing.T) {
	t.Run("the wait for a step reads in French with its date and time in Paris", func(t *testing.T) {
		sc := &database.Schedule{NextStep: models.StepFirstWarning, NextStepAt: time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC)}
		assert.Equal(t, "attente : 1er avertissement le 5 mars 2026 à 10 h 00", stepTimerSummary(sc))
		sc = &database.Schedule{NextStep: models.StepDeletion, NextStepAt: time.Date(2026, 7, 1, 22, 30, 0, 0, time.UTC)}
		assert.Equal(t, "attente : suppression le 2 juillet 2026 à 0 h 30", stepTimerSummary(sc))
	})

	t.Run("a space nobody uses waits for each step on a timer that names it and its date", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.run(200 * day)
		require.NoError(t, h.err)

		timers := h.policyTimers()
		require.NotEmpty(t, timers, "no timer of the policy has a summary")
		var steps []string
		for _, tm := range timers {
			at, err := models.FrenchDateTime(tm.firesAt)
			require.NoError(t, err)
			step, ok := strings.CutSuffix(strings.TrimPrefix(tm.summary, "attente : "), " le "+at)
			require.True(t, ok, "the summary %q gives the timer's end, %s", tm.summary, at)
			steps = append(steps, step)
		}
		assert.Equal(t, []string{"1er avertissement", "2e avertissement", "désactivation",
			"annonce de la suppression", "suppression"}, steps)
		warned, ok := h.transitionAt("warn1")
		require.True(t, ok)
		assertNear(t, timers[0].firesAt, warned, "the first timer ends at the first warning")
	})
}
