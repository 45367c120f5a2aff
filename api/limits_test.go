package api

import (
	"encoding/json"
	"maps"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"
	"go.temporal.io/sdk/temporal"

	"jardinier/models"
	"jardinier/workflows"
)

// expectLimitsProgress makes the progress query of the rollout of version answer p;
// nil: no such rollout.
func (f *fixture) expectLimitsProgress(version int, p *workflows.LimitsProgress) {
	f.t.Helper()
	call := f.temporal.On("QueryWorkflow", mock.Anything, workflows.LimitsRolloutWorkflowID(version), "", workflows.QueryLimitsProgress)
	if p == nil {
		call.Return(nil, serviceerror.NewNotFound("workflow not found"))
		return
	}
	v := &mocks.Value{}
	v.On("Get", mock.Anything).Return(nil).Run(func(args mock.Arguments) {
		*args.Get(0).(*workflows.LimitsProgress) = *p
	})
	call.Return(v, nil)
}

// startedLimitsRollouts are the limits rollouts the API started, in order.
func (f *fixture) startedLimitsRollouts() []workflows.LimitsRolloutInput {
	f.t.Helper()
	var out []workflows.LimitsRolloutInput
	for _, call := range f.temporal.Calls {
		if call.Method == "ExecuteWorkflow" && call.Arguments.Get(2) == workflows.LimitsRolloutWorkflowType {
			out = append(out, call.Arguments.Get(3).(workflows.LimitsRolloutInput))
		}
	}
	return out
}

// expectSetLimits makes the next workflow update answer res, or fail with err, and
// returns where the update's options will be written.
func (f *fixture) expectSetLimits(res workflows.SetLimitsResult, err error) *client.UpdateWorkflowOptions {
	f.t.Helper()
	got := &client.UpdateWorkflowOptions{}
	handle := &mocks.WorkflowUpdateHandle{}
	handle.On("Get", mock.Anything, mock.Anything).Return(err).Run(func(args mock.Arguments) {
		if err == nil {
			*args.Get(1).(*workflows.SetLimitsResult) = res
		}
	}).Once()
	f.temporal.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(handle, nil).Run(func(args mock.Arguments) {
		*got = args.Get(1).(client.UpdateWorkflowOptions)
	}).Once()
	return got
}

func TestFleetLimits(t *testing.T) {
	sixty := map[string]any{"max_accounts": 50, "quota_gb": 60, "max_video_mb": 500, "reason": "  décision du bureau  "}

	t.Run("the first version is SPACE_LIMITS's, and moderators read it", func(t *testing.T) {
		f := newFixture(t, func(c *models.Config) { c.Limits = models.LimitsOf(40, 40, 500) })
		f.expectLimitsProgress(1, nil)
		w := f.do("GET", "/api/v1/fleet/limits", f.mod, nil)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var got fleetLimitsView
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
		assert.Equal(t, 1, got.Version)
		assert.Equal(t, limitsView{MaxAccounts: 40, QuotaGB: 40, MaxVideoMB: 500, QuotaBytes: 40 << 30, MaxVideoBytes: 500 << 20}, got.Limits)
		assert.Equal(t, models.ActorSystem, got.Actor)
		assert.Nil(t, got.Rollout, "the seed has no rollout")
		assert.Equal(t, http.StatusUnauthorized, f.do("GET", "/api/v1/fleet/limits", "", nil).Code)
	})

	t.Run("an admin changes them: a new version, applied to every space by its rollout", func(t *testing.T) {
		f := newFixture(t)
		f.expectLimitsProgress(1, nil)
		f.expectLimitsProgress(2, &workflows.LimitsProgress{Version: 2, Status: workflows.LimitsRunning, Total: 3, Running: 3})
		w := f.do("POST", "/api/v1/fleet/limits", f.admin, sixty)
		require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
		var got fleetLimitsView
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
		assert.Equal(t, 2, got.Version)
		assert.Equal(t, int64(60), got.Limits.QuotaGB)
		assert.Equal(t, "alix", got.Actor)
		assert.Equal(t, "décision du bureau", got.Reason)
		require.NotNil(t, got.Changed)
		assert.True(t, *got.Changed)
		require.NotNil(t, got.Rollout)
		assert.Equal(t, "limits/2", got.Rollout.WorkflowID)
		assert.Equal(t, 3, got.Rollout.Running)
		require.Len(t, f.started, 1)
		assert.Equal(t, workflows.LimitsRolloutWorkflowID(2), f.started[0].ID)
		assert.Equal(t, []workflows.LimitsRolloutInput{{Version: 2, Limits: models.LimitsOf(50, 60, 500), Actor: "alix",
			Reason: "décision du bureau", Concurrency: defaultLimitsConcurrency, MaxFailureRatio: defaultMaxFailureRatio}},
			f.startedLimitsRollouts())

		assert.Equal(t, http.StatusForbidden, f.do("POST", "/api/v1/fleet/limits", f.mod, sixty).Code, "admins only")
	})

	t.Run("a change while a rollout is under way is refused and records nothing", func(t *testing.T) {
		f := newFixture(t)
		f.expectLimitsProgress(1, nil)
		f.expectLimitsProgress(2, &workflows.LimitsProgress{Version: 2, Status: workflows.LimitsPaused})
		require.Equal(t, http.StatusAccepted, f.do("POST", "/api/v1/fleet/limits", f.admin, sixty).Code)
		w := f.do("POST", "/api/v1/fleet/limits", f.admin, changed(maps.Clone(sixty), map[string]any{"quota_gb": 70}))
		require.Equal(t, http.StatusConflict, w.Code, w.Body.String())
		assert.Contains(t, errorOf(t, w).Message, "version 2")
		assert.Equal(t, int64(2), f.count(&models.LimitsVersion{}))
		assert.Len(t, f.startedLimitsRollouts(), 1)
	})

	t.Run("bad limits or reason are refused naming the field, and change nothing", func(t *testing.T) {
		f := newFixture(t)
		f.expectLimitsProgress(1, nil)
		for _, c := range []struct {
			body  map[string]any
			field string
		}{
			{map[string]any{"quota_gb": 60, "max_video_mb": 500, "reason": "r"}, "max_accounts"},
			{changed(maps.Clone(sixty), map[string]any{"max_accounts": 0}), "max_accounts"},
			{changed(maps.Clone(sixty), map[string]any{"max_accounts": models.MaxGrantedAccounts + 1}), "max_accounts"},
			{changed(maps.Clone(sixty), map[string]any{"quota_gb": 0}), "quota_gb"},
			{changed(maps.Clone(sixty), map[string]any{"quota_gb": 1 << 50}), "quota_gb"},
			{changed(maps.Clone(sixty), map[string]any{"quota_gb": "60 Go"}), "quota_gb"},
			{changed(maps.Clone(sixty), map[string]any{"quota_gb": 1, "max_video_mb": 2000}), "max_video_mb"},
			{changed(maps.Clone(sixty), map[string]any{"max_video_mb": -1}), "max_video_mb"},
			{changed(maps.Clone(sixty), map[string]any{"reason": " "}), "reason"},
			{changed(maps.Clone(sixty), map[string]any{"concurrency": 0}), "concurrency"},
			{changed(maps.Clone(sixty), map[string]any{"defaults": true}), "defaults"},
			{changed(maps.Clone(sixty), map[string]any{"storage": 3}), "storage"},
		} {
			w := f.do("POST", "/api/v1/fleet/limits", f.admin, c.body)
			require.Equal(t, http.StatusBadRequest, w.Code, "%v: %s", c.body, w.Body.String())
			assert.Equal(t, c.field, errorOf(t, w).Field, "%v", c.body)
		}
		var recorded int64
		require.NoError(t, f.db.Model(&models.LimitsVersion{}).Where("version > 1").Count(&recorded).Error)
		assert.Zero(t, recorded, "no version past the seed")
		assert.Empty(t, f.startedLimitsRollouts())
	})

	t.Run("an admin pauses the rollout of the defaults in force", func(t *testing.T) {
		f := newFixture(t)
		handle := &mocks.WorkflowUpdateHandle{}
		handle.On("Get", mock.Anything, mock.Anything).Return(nil).Run(func(args mock.Arguments) {
			*args.Get(1).(*workflows.LimitsControlResult) = workflows.LimitsControlResult{Status: workflows.LimitsPaused}
		}).Once()
		var got client.UpdateWorkflowOptions
		f.temporal.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(handle, nil).Run(func(args mock.Arguments) {
			got = args.Get(1).(client.UpdateWorkflowOptions)
		}).Once()
		w := f.do("POST", "/api/v1/fleet/limits/pause", f.admin, map[string]any{"reason": "nuit"})
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		assert.Contains(t, w.Body.String(), `"status":"paused"`)
		assert.Equal(t, workflows.LimitsRolloutWorkflowID(1), got.WorkflowID)
		assert.Equal(t, workflows.UpdateLimitsPause, got.UpdateName)
		assert.Equal(t, workflows.LimitsControlInput{Actor: "alix", Reason: "nuit"}, got.Args[0])
		assert.Equal(t, http.StatusNotFound, f.do("POST", "/api/v1/fleet/limits/stop", f.admin, nil).Code)
	})
}

func TestSpaceOwnLimits(t *testing.T) {
	own := map[string]any{"max_accounts": 80, "quota_gb": 120, "max_video_mb": 1000, "reason": "chorale de 80 membres"}

	t.Run("a moderator gives a space limits of its own through its workflow", func(t *testing.T) {
		f := newFixture(t)
		limits := models.LimitsOf(80, 120, 1000)
		got := f.expectSetLimits(workflows.SetLimitsResult{Limits: limits, Own: true}, nil)
		w := f.do("POST", "/api/v1/spaces/les-amis/limits", f.mod, own)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		assert.Contains(t, w.Body.String(), `"own_limits":true`)
		assert.Contains(t, w.Body.String(), `"quota_gb":120`)
		assert.Equal(t, workflows.SpaceWorkflowID("les-amis"), got.WorkflowID)
		assert.Equal(t, workflows.UpdateSetLimits, got.UpdateName)
		assert.Equal(t, workflows.SetLimitsInput{Actor: "camille", Reason: "chorale de 80 membres", Limits: &limits}, got.Args[0])
	})

	t.Run("defaults takes the space back to the fleet's defaults", func(t *testing.T) {
		f := newFixture(t)
		got := f.expectSetLimits(workflows.SetLimitsResult{Limits: models.DefaultLimits()}, nil)
		w := f.do("POST", "/api/v1/spaces/les-amis/limits", f.mod, map[string]any{"defaults": true, "reason": "retour"})
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		assert.Contains(t, w.Body.String(), `"own_limits":false`)
		assert.Equal(t, workflows.SetLimitsInput{Actor: "camille", Reason: "retour"}, got.Args[0])
	})

	t.Run("bad input is refused naming the field, and nothing is sent", func(t *testing.T) {
		f := newFixture(t)
		for _, c := range []struct {
			body  map[string]any
			field string
		}{
			{changed(maps.Clone(own), map[string]any{"max_accounts": nil}), "max_accounts"},
			{changed(maps.Clone(own), map[string]any{"quota_gb": models.MaxGrantedStorageGB + 1}), "quota_gb"},
			{changed(maps.Clone(own), map[string]any{"max_video_mb": 200_000}), "max_video_mb"},
			{changed(maps.Clone(own), map[string]any{"reason": ""}), "reason"},
			{changed(maps.Clone(own), map[string]any{"defaults": true}), "defaults"},
			{changed(maps.Clone(own), map[string]any{"concurrency": 5}), "concurrency"},
		} {
			w := f.do("POST", "/api/v1/spaces/les-amis/limits", f.mod, c.body)
			require.Equal(t, http.StatusBadRequest, w.Code, "%v: %s", c.body, w.Body.String())
			assert.Equal(t, c.field, errorOf(t, w).Field, "%v", c.body)
		}
		f.temporal.AssertNotCalled(t, "UpdateWorkflow", mock.Anything, mock.Anything)
	})

	t.Run("the workflow's refusal keeps its field and code", func(t *testing.T) {
		f := newFixture(t)
		f.expectSetLimits(workflows.SetLimitsResult{}, temporal.NewApplicationError("l'espace est à l'état deactivated",
			workflows.ErrTypeNotAllowed, workflows.Refusal{}))
		w := f.do("POST", "/api/v1/spaces/les-amis/limits", f.mod, own)
		require.Equal(t, http.StatusConflict, w.Code, w.Body.String())
		f.expectSetLimits(workflows.SetLimitsResult{}, temporal.NewApplicationError("l'instance ne répond pas",
			workflows.ErrTypeNotApplied, workflows.Refusal{}))
		w = f.do("POST", "/api/v1/spaces/les-amis/limits", f.mod, own)
		require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
	})
}
