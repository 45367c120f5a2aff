package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/mocks"

	"jardinier/models"
	"jardinier/workflows"
)

// startedRollouts are the policy rollouts the API started, in order.
func (f *fixture) startedRollouts() []workflows.PolicyRolloutInput {
	f.t.Helper()
	var out []workflows.PolicyRolloutInput
	for _, call := range f.temporal.Calls {
		if call.Method == "ExecuteWorkflow" && call.Arguments.Get(2) == workflows.PolicyRolloutWorkflowType {
			in, ok := call.Arguments.Get(3).(workflows.PolicyRolloutInput)
			require.True(f.t, ok, "input %T", call.Arguments.Get(3))
			out = append(out, in)
		}
	}
	return out
}

func TestPolicy(t *testing.T) {
	const longer = "warn1=90d,warn2=105d,deactivate=120d,notice=135d,delete=150d"

	t.Run("the first version is INACTIVITY_POLICY's, and moderators read it", func(t *testing.T) {
		f := newFixture(t, func(c *models.Config) {
			c.Policy = models.InactivityPolicy{Offsets: [5]time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute, 5 * time.Minute}}
		})
		w := f.do("GET", "/api/v1/policy", f.mod, nil)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var got policyView
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
		assert.Equal(t, 1, got.Version)
		assert.Equal(t, "warn1=1m,warn2=2m,deactivate=3m,notice=4m,delete=5m", got.Policy)
		assert.Equal(t, "3m", got.Offsets[models.StepDeactivation])
		assert.Equal(t, models.ActorSystem, got.Actor)
		assert.Equal(t, http.StatusUnauthorized, f.do("GET", "/api/v1/policy", "", nil).Code)
	})

	t.Run("an admin changes it: a new version, sent to every space by its rollout", func(t *testing.T) {
		f := newFixture(t)
		w := f.do("PUT", "/api/v1/policy", f.admin, map[string]any{"policy": longer, "reason": "  décision du bureau  "})
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var got policyChangeResponse
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
		assert.Equal(t, 2, got.Version, "version 1 is the seed")
		assert.True(t, got.Changed)
		assert.Equal(t, longer, got.Policy)
		assert.Equal(t, "alix", got.Actor)
		assert.Equal(t, "décision du bureau", got.Reason)
		assert.Equal(t, workflows.PolicyRolloutWorkflowID(2), got.Rollout)
		require.Len(t, f.started, 1)
		assert.Equal(t, workflows.PolicyRolloutWorkflowID(2), f.started[0].ID)
		assert.Equal(t, workflows.TaskQueue, f.started[0].TaskQueue)
		want, err := models.ParseInactivityPolicy(longer)
		require.NoError(t, err)
		assert.Equal(t, []workflows.PolicyRolloutInput{{Change: workflows.PolicyChanged{Version: 2, Policy: want}}}, f.startedRollouts())

		w = f.do("GET", "/api/v1/policy", f.mod, nil)
		require.Equal(t, http.StatusOK, w.Code)
		assert.Contains(t, w.Body.String(), `"version":2`)
		w = f.do("GET", "/api/v1/policy/preview?days=30", f.mod, nil)
		assert.Contains(t, w.Body.String(), `"policy":"`+longer+`"`)
	})

	t.Run("the policy in force sent again records nothing and starts its rollout again", func(t *testing.T) {
		f := newFixture(t)
		require.Equal(t, http.StatusOK, f.do("PUT", "/api/v1/policy", f.admin, map[string]any{"policy": longer, "reason": "r"}).Code)
		w := f.do("PUT", "/api/v1/policy", f.admin, map[string]any{"policy": longer, "reason": "encore"})
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		assert.Contains(t, w.Body.String(), `"changed":false`)
		assert.Equal(t, int64(2), f.count(&models.PolicyVersion{}))
		assert.Len(t, f.startedRollouts(), 2)
	})

	t.Run("a rollout that cannot start is unavailable, and sending the same policy again sends it", func(t *testing.T) {
		f := newFixture(t)
		f.temporal.ExpectedCalls = nil
		f.temporal.On("ExecuteWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).
			Return(nil, errors.New("connection refused")).Once()
		w := f.do("PUT", "/api/v1/policy", f.admin, map[string]any{"policy": longer, "reason": "r"})
		require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
		assert.NotContains(t, w.Body.String(), "connection refused")
		f.temporal.On("ExecuteWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(&mocks.WorkflowRun{}, nil).Once()
		w = f.do("PUT", "/api/v1/policy", f.admin, map[string]any{"policy": longer, "reason": "r"})
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		assert.Equal(t, []workflows.PolicyRolloutInput{
			{Change: workflows.PolicyChanged{Version: 2, Policy: mustPolicy(t, longer)}},
			{Change: workflows.PolicyChanged{Version: 2, Policy: mustPolicy(t, longer)}}}, f.startedRollouts())
	})

	t.Run("a bad policy or reason is refused naming the field, and changes nothing", func(t *testing.T) {
		f := newFixture(t)
		for _, c := range []struct {
			body  any
			field string
		}{
			{map[string]any{"policy": "warn1=60d", "reason": "r"}, "policy"},
			{map[string]any{"policy": "warn1=60d,warn2=50d,deactivate=90d,notice=105d,delete=120d", "reason": "r"}, "policy"},
			{map[string]any{"policy": "warn1=60j,warn2=75d,deactivate=90d,notice=105d,delete=120d", "reason": "r"}, "policy"},
			{map[string]any{"policy": longer}, "reason"},
			{map[string]any{"policy": longer, "reason": " "}, "reason"},
			{map[string]any{"policy": longer, "reason": string(make([]rune, models.MaxReasonLength+1))}, "reason"},
			{map[string]any{"policy": longer, "reason": "r", "version": 3}, "version"},
		} {
			w := f.do("PUT", "/api/v1/policy", f.admin, c.body)
			require.Equal(t, http.StatusBadRequest, w.Code, "%v: %s", c.body, w.Body.String())
			assert.Equal(t, c.field, errorOf(t, w).Field, "%v", c.body)
		}
		assert.Empty(t, f.startedRollouts())
		w := f.do("GET", "/api/v1/policy", f.mod, nil)
		assert.Contains(t, w.Body.String(), `"version":1`)
	})

	t.Run("only admins change it", func(t *testing.T) {
		f := newFixture(t)
		assert.Equal(t, http.StatusForbidden, f.do("PUT", "/api/v1/policy", f.mod, map[string]any{"policy": longer, "reason": "r"}).Code)
		assert.Equal(t, http.StatusUnauthorized, f.do("PUT", "/api/v1/policy", "", map[string]any{"policy": longer, "reason": "r"}).Code)
		assert.Empty(t, f.startedRollouts())
	})
}

func mustPolicy(t *testing.T, s string) models.InactivityPolicy {
	t.Helper()
	p, err := models.ParseInactivityPolicy(s)
	require.NoError(t, err)
	return p
}
