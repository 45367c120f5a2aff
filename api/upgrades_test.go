package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"
	"go.temporal.io/sdk/temporal"

	"jardinier/models"
	"jardinier/workflows"
)

// upgradesRunning makes the visibility query for running fleet upgrades find these.
func (f *fixture) upgradesRunning(ids ...string) {
	f.t.Helper()
	resp := &workflowservice.ListWorkflowExecutionsResponse{}
	for _, id := range ids {
		resp.Executions = append(resp.Executions, &workflow.WorkflowExecutionInfo{
			Execution: &common.WorkflowExecution{WorkflowId: workflows.UpgradeWorkflowID(id), RunId: "run-" + id}})
	}
	f.temporal.On("ListWorkflow", mock.Anything, mock.MatchedBy(func(r *workflowservice.ListWorkflowExecutionsRequest) bool {
		return r.Query == "WorkflowType = 'FleetUpgradeWorkflow' AND ExecutionStatus = 'Running'"
	})).Return(resp, nil)
}

// startedUpgrade is the fleet upgrade the API started: its options, workflow and input.
func (f *fixture) startedUpgrade() (client.StartWorkflowOptions, any, workflows.FleetUpgradeInput) {
	f.t.Helper()
	for _, call := range f.temporal.Calls {
		if call.Method == "ExecuteWorkflow" {
			in, ok := call.Arguments.Get(3).(workflows.FleetUpgradeInput)
			require.True(f.t, ok, "input %T", call.Arguments.Get(3))
			return call.Arguments.Get(1).(client.StartWorkflowOptions), call.Arguments.Get(2), in
		}
	}
	require.FailNow(f.t, "no workflow started")
	return client.StartWorkflowOptions{}, nil, workflows.FleetUpgradeInput{}
}

// expectProgress makes the progress query of upgrade id answer p, or fail with err.
func (f *fixture) expectProgress(id string, p workflows.UpgradeProgress, err error) {
	f.t.Helper()
	if err != nil {
		f.temporal.On("QueryWorkflow", mock.Anything, workflows.UpgradeWorkflowID(id), "", workflows.QueryUpgradeProgress).
			Return(nil, err).Once()
		return
	}
	v := &mocks.Value{}
	v.On("Get", mock.Anything).Return(nil).Run(func(args mock.Arguments) {
		*args.Get(0).(*workflows.UpgradeProgress) = p
	}).Once()
	f.temporal.On("QueryWorkflow", mock.Anything, workflows.UpgradeWorkflowID(id), "", workflows.QueryUpgradeProgress).
		Return(v, nil).Once()
}

// expectUpgradeControl makes the next update answer status, or fail with err, and
// returns where the update's options will be written.
func (f *fixture) expectUpgradeControl(status string, err error) *client.UpdateWorkflowOptions {
	f.t.Helper()
	got := &client.UpdateWorkflowOptions{}
	handle := &mocks.WorkflowUpdateHandle{}
	handle.On("Get", mock.Anything, mock.Anything).Return(err).Run(func(args mock.Arguments) {
		*args.Get(1).(*workflows.UpgradeControlResult) = workflows.UpgradeControlResult{Status: status}
	}).Once()
	f.temporal.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(handle, nil).Run(func(args mock.Arguments) {
		*got = args.Get(1).(client.UpdateWorkflowOptions)
	}).Once()
	return got
}

// upgradeSpace records a space of a fleet upgrade in the projection.
func (f *fixture) upgradeSpace(upgradeID, slug, status string) {
	f.t.Helper()
	require.NoError(f.t, f.db.Create(&models.UpgradeSpace{UpgradeID: upgradeID, Slug: slug, Status: status,
		From: "31.0.9", To: "32.0.3", DowntimeMS: 83_500}).Error)
}

// withUpgrade is a valid upgrade request with some settings changed (nil removes one).
func withUpgrade(changes map[string]any) map[string]any {
	return changed(map[string]any{"target": "32.0.3"}, changes)
}

func TestStartUpgrade(t *testing.T) {
	t.Run("an admin starts a fleet upgrade: its workflow gets its ID, the task queue, the version to search by and the default settings", func(t *testing.T) {
		f := newFixture(t)
		f.upgradesRunning()
		w := f.do("POST", "/api/v1/upgrades", f.admin, withUpgrade(nil))
		require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
		var resp upgradeStarted
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &resp))
		assert.Regexp(t, upgradeIDPattern, resp.ID)
		assert.Equal(t, workflows.UpgradeWorkflowID(resp.ID), resp.WorkflowID)
		assert.Equal(t, "32.0.3", resp.Target)
		assert.Equal(t, workflows.UpgradeRunning, resp.Status)

		opts, wf, in := f.startedUpgrade()
		assert.Equal(t, workflows.UpgradeWorkflowID(resp.ID), opts.ID)
		assert.Equal(t, workflows.TaskQueue, opts.TaskQueue)
		version, ok := opts.TypedSearchAttributes.GetKeyword(workflows.SearchAttrNextcloudVersion)
		assert.True(t, ok)
		assert.Equal(t, "32.0.3", version)
		assert.Equal(t, reflect.ValueOf(workflows.FleetUpgradeWorkflow).Pointer(), reflect.ValueOf(wf).Pointer())
		assert.Equal(t, workflows.FleetUpgradeInput{ID: resp.ID, Target: "32.0.3", Concurrency: 20,
			MaxFailureRatio: 0.05, Requester: "alix"}, in)
	})

	t.Run("the settings given are passed on: a named canary, the concurrency and the failure threshold", func(t *testing.T) {
		f := newFixture(t)
		f.upgradesRunning()
		f.space("jardin-nord", models.StatusActive, nil)
		f.space("jardin-sud", models.StatusActive, nil)
		w := f.do("POST", "/api/v1/upgrades", f.admin, withUpgrade(map[string]any{"target": " 32.0.3 ",
			"canary_slugs": []string{"jardin-sud", "jardin-nord"}, "concurrency": 200, "max_failure_ratio": 1}))
		require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
		_, _, in := f.startedUpgrade()
		assert.Equal(t, []string{"jardin-sud", "jardin-nord"}, in.CanarySlugs)
		assert.Zero(t, in.Canary)
		assert.Equal(t, 200, in.Concurrency)
		assert.InDelta(t, 1.0, in.MaxFailureRatio, 0)
		assert.Equal(t, "32.0.3", in.Target)
	})

	t.Run("a canary given as a number of spaces is passed on", func(t *testing.T) {
		f := newFixture(t)
		f.upgradesRunning()
		w := f.do("POST", "/api/v1/upgrades", f.admin, withUpgrade(map[string]any{"canary": 10, "max_failure_ratio": 0.1}))
		require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
		_, _, in := f.startedUpgrade()
		assert.Equal(t, 10, in.Canary)
		assert.Empty(t, in.CanarySlugs)
		assert.InDelta(t, 0.1, in.MaxFailureRatio, 0)
	})

	t.Run("bad settings are refused with 400 naming the field, and nothing starts", func(t *testing.T) {
		f := newFixture(t)
		f.upgradesRunning()
		f.space("jardin-nord", models.StatusActive, nil)
		f.space("jardin-ferme", models.StatusDeactivated, nil)
		tooMany := make([]string, maxCanarySlugs+1)
		for i := range tooMany {
			tooMany[i] = fmt.Sprintf("espace-%d", i)
		}
		for _, tc := range []struct {
			field  string
			change map[string]any
		}{
			{"target", map[string]any{"target": nil}},
			{"target", map[string]any{"target": "32"}},
			{"target", map[string]any{"target": "32.0"}},
			{"target", map[string]any{"target": "v32.0.3"}},
			{"target", map[string]any{"target": "32.0.3-rc1"}},
			{"target", map[string]any{"target": "32.0.3.1"}},
			{"target", map[string]any{"target": "032.0.3"}},
			{"target", map[string]any{"target": "99999999999999999999.0.0"}},
			{"target", map[string]any{"target": 32}},
			{"canary", map[string]any{"canary": -1}},
			{"canary", map[string]any{"canary": maxCanary + 1}},
			{"canary", map[string]any{"canary": "dix"}},
			{"canary_slugs", map[string]any{"canary_slugs": []string{"Jardin Nord"}}},
			{"canary_slugs", map[string]any{"canary_slugs": []string{"jardin-nord", "jardin-nord"}}},
			{"canary_slugs", map[string]any{"canary_slugs": tooMany}},
			{"canary_slugs", map[string]any{"canary_slugs": []string{"jardin-nord"}, "canary": 5}},
			{"canary_slugs", map[string]any{"canary_slugs": []string{"jardin-nord", "inconnu"}}},
			{"canary_slugs", map[string]any{"canary_slugs": []string{"jardin-ferme"}}},
			{"canary_slugs", map[string]any{"canary_slugs": "jardin-nord"}},
			{"concurrency", map[string]any{"concurrency": 0}},
			{"concurrency", map[string]any{"concurrency": maxUpgradeConcurrency + 1}},
			{"concurrency", map[string]any{"concurrency": 2.5}},
			{"max_failure_ratio", map[string]any{"max_failure_ratio": 0}},
			{"max_failure_ratio", map[string]any{"max_failure_ratio": -0.1}},
			{"max_failure_ratio", map[string]any{"max_failure_ratio": 1.01}},
			{"version", map[string]any{"version": "32.0.3"}},
		} {
			w := f.do("POST", "/api/v1/upgrades", f.admin, withUpgrade(tc.change))
			require.Equal(t, http.StatusBadRequest, w.Code, "%v: %s", tc.change, w.Body.String())
			e := errorOf(t, w)
			assert.Equal(t, tc.field, e.Field, "%v", tc.change)
			assert.NotEmpty(t, e.Message)
		}
		f.temporal.AssertNotCalled(t, "ExecuteWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything)
	})

	t.Run("a missing or malformed body is refused", func(t *testing.T) {
		f := newFixture(t)
		for _, body := range []string{"", "{", "[]", `{"target":"32.0.3"} {}`} {
			w := f.do("POST", "/api/v1/upgrades", f.admin, body)
			assert.Equal(t, http.StatusBadRequest, w.Code, "%q: %s", body, w.Body.String())
		}
		f.temporal.AssertNotCalled(t, "ExecuteWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything)
	})

	t.Run("only admins reach upgrades: a moderator gets 403, without a token 401", func(t *testing.T) {
		f := newFixture(t)
		for _, r := range []struct{ method, path string }{
			{"POST", "/api/v1/upgrades"}, {"GET", "/api/v1/upgrades/20260105-101500-a1b2c3"},
			{"POST", "/api/v1/upgrades/20260105-101500-a1b2c3/pause"},
			{"GET", "/api/v1/upgrades/20260105-101500-a1b2c3/spaces"},
		} {
			w := f.do(r.method, r.path, f.mod, withUpgrade(nil))
			assert.Equal(t, http.StatusForbidden, w.Code, "%s %s: %s", r.method, r.path, w.Body.String())
			assert.Equal(t, http.StatusUnauthorized, f.do(r.method, r.path, "", withUpgrade(nil)).Code, "%s %s", r.method, r.path)
		}
		assert.Empty(t, f.temporal.Calls)
	})

	t.Run("a second upgrade while one runs is a conflict naming the running one", func(t *testing.T) {
		f := newFixture(t)
		f.upgradesRunning("20260105-101500-a1b2c3")
		w := f.do("POST", "/api/v1/upgrades", f.admin, withUpgrade(map[string]any{"target": "32.0.4"}))
		require.Equal(t, http.StatusConflict, w.Code, w.Body.String())
		assert.Contains(t, errorOf(t, w).Message, "20260105-101500-a1b2c3")
		f.temporal.AssertNotCalled(t, "ExecuteWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything)
	})

	t.Run("when Temporal cannot start it the admin is told to retry, without internal details", func(t *testing.T) {
		f := newFixture(t)
		f.temporal.ExpectedCalls = nil
		f.upgradesRunning()
		f.temporal.On("ExecuteWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).
			Return(nil, errors.New("connection refused"))
		w := f.do("POST", "/api/v1/upgrades", f.admin, withUpgrade(nil))
		require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
		assert.NotContains(t, w.Body.String(), "connection refused")
	})
}

func TestFleetUpgradeWorkflowType(t *testing.T) {
	t.Run("the visibility query names the workflow by the name it is registered under", func(t *testing.T) {
		name := runtime.FuncForPC(reflect.ValueOf(workflows.FleetUpgradeWorkflow).Pointer()).Name()
		assert.True(t, strings.HasSuffix(name, "."+workflows.FleetUpgradeWorkflowType), name)
	})
}

func TestUpgradeProgress(t *testing.T) {
	t.Run("the progress query is shown in snake case, durations in seconds", func(t *testing.T) {
		f := newFixture(t)
		started := time.Date(2026, 1, 5, 10, 15, 0, 0, time.UTC)
		f.expectProgress("20260105-101500-a1b2c3", workflows.UpgradeProgress{
			ID: "20260105-101500-a1b2c3", Target: "32.0.3", Status: workflows.UpgradePaused,
			PauseReason: "3 échecs sur 40", Total: 2500, Upgraded: 37, Failed: 3, Skipped: 1, Running: 50, Remaining: 2409,
			Refused: []workflows.RefusedSpace{{Slug: "vieux-jardin", Version: "30.0.4", Steps: []string{"31.0.9"}},
				{Slug: "tres-vieux", Version: "29.0.6", Steps: []string{"30", "31", "32.0.3"}, Missing: []string{"30"}}},
			StartedAt: started, EstimatedEnd: started.Add(3 * time.Hour),
			DowntimeP50: 72500 * time.Millisecond, DowntimeP95: 110 * time.Second,
		}, nil)
		w := f.do("GET", "/api/v1/upgrades/20260105-101500-a1b2c3", f.admin, nil)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		assert.JSONEq(t, `{
			"id": "20260105-101500-a1b2c3", "workflow_id": "`+workflows.UpgradeWorkflowID("20260105-101500-a1b2c3")+`",
			"target": "32.0.3", "status": "paused", "pause_reason": "3 échecs sur 40",
			"total": 2500, "upgraded": 37, "failed": 3, "skipped": 1, "running": 50, "remaining": 2409,
			"refused": [{"slug": "vieux-jardin", "version": "30.0.4", "steps": ["31.0.9"]},
				{"slug": "tres-vieux", "version": "29.0.6", "steps": ["30", "31", "32.0.3"], "missing": ["30"]}],
			"started_at": "2026-01-05T10:15:00Z", "estimated_end": "2026-01-05T13:15:00Z",
			"downtime_p50_seconds": 72.5, "downtime_p95_seconds": 110
		}`, w.Body.String())
	})

	t.Run("before any space has finished there is no estimated end, and no space refused is an empty list", func(t *testing.T) {
		f := newFixture(t)
		f.expectProgress("20260105-101500-a1b2c3", workflows.UpgradeProgress{Target: "32.0.3", Status: workflows.UpgradeRunning,
			Total: 10, Remaining: 10}, nil)
		w := f.do("GET", "/api/v1/upgrades/20260105-101500-a1b2c3", f.admin, nil)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var got map[string]any
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
		assert.NotContains(t, got, "estimated_end")
		assert.Equal(t, []any{}, got["refused"])
	})

	t.Run("an unknown upgrade is not found", func(t *testing.T) {
		f := newFixture(t)
		f.expectProgress("inconnue", workflows.UpgradeProgress{}, serviceerror.NewNotFound("workflow not found for ID: upgrade/inconnue"))
		w := f.do("GET", "/api/v1/upgrades/inconnue", f.admin, nil)
		require.Equal(t, http.StatusNotFound, w.Code, w.Body.String())
		assert.Equal(t, models.ENOTFOUND, errorOf(t, w).Code)
		assert.Equal(t, http.StatusNotFound, f.do("GET", "/api/v1/upgrades/..", f.admin, nil).Code)
		f.temporal.AssertExpectations(t)
	})
}

func TestUpgradeControls(t *testing.T) {
	for action, update := range upgradeControls {
		t.Run(fmt.Sprintf("%s goes to the upgrade's workflow as the %q update from the admin, with the reason", action, update), func(t *testing.T) {
			f := newFixture(t)
			got := f.expectUpgradeControl(workflows.UpgradePaused, nil)
			w := f.do("POST", "/api/v1/upgrades/20260105-101500-a1b2c3/"+action, f.admin, map[string]any{"reason": "  fenêtre de maintenance  "})
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			assert.JSONEq(t, `{"id":"20260105-101500-a1b2c3","status":"paused"}`, w.Body.String())
			assert.Equal(t, workflows.UpgradeWorkflowID("20260105-101500-a1b2c3"), got.WorkflowID)
			assert.Equal(t, update, got.UpdateName)
			assert.Equal(t, client.WorkflowUpdateStageCompleted, got.WaitForStage)
			assert.Equal(t, []any{workflows.UpgradeControlInput{Actor: "alix", Reason: "fenêtre de maintenance"}}, got.Args)
			f.temporal.AssertExpectations(t)
		})
	}

	t.Run("the reason is optional", func(t *testing.T) {
		f := newFixture(t)
		got := f.expectUpgradeControl(workflows.UpgradeAborted, nil)
		w := f.do("POST", "/api/v1/upgrades/20260105-101500-a1b2c3/abort", f.admin, nil)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		assert.Equal(t, []any{workflows.UpgradeControlInput{Actor: "alix"}}, got.Args)
	})

	t.Run("a control the workflow refuses is a conflict with its message", func(t *testing.T) {
		f := newFixture(t)
		f.expectUpgradeControl("", temporal.NewApplicationError("la mise à niveau n'est pas en pause", workflows.ErrTypeNotAllowed))
		w := f.do("POST", "/api/v1/upgrades/20260105-101500-a1b2c3/resume", f.admin, nil)
		require.Equal(t, http.StatusConflict, w.Code, w.Body.String())
		assert.Equal(t, "la mise à niveau n'est pas en pause", errorOf(t, w).Message)
	})

	t.Run("an unknown or finished upgrade is not found", func(t *testing.T) {
		f := newFixture(t)
		f.temporal.On("UpdateWorkflow", mock.Anything, mock.Anything).
			Return(nil, serviceerror.NewNotFound("workflow execution already completed")).Once()
		w := f.do("POST", "/api/v1/upgrades/20260105-101500-a1b2c3/pause", f.admin, nil)
		require.Equal(t, http.StatusNotFound, w.Code, w.Body.String())
	})

	t.Run("an unknown action, a bad body or a too long reason sends nothing", func(t *testing.T) {
		f := newFixture(t)
		assert.Equal(t, http.StatusNotFound, f.do("POST", "/api/v1/upgrades/20260105-101500-a1b2c3/restart", f.admin, nil).Code)
		w := f.do("POST", "/api/v1/upgrades/20260105-101500-a1b2c3/pause", f.admin, map[string]any{"raison": "x"})
		require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
		assert.Equal(t, "raison", errorOf(t, w).Field)
		w = f.do("POST", "/api/v1/upgrades/20260105-101500-a1b2c3/pause", f.admin, map[string]any{"reason": strings.Repeat("é", models.MaxReasonLength+1)})
		require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
		assert.Equal(t, "reason", errorOf(t, w).Field)
		assert.Zero(t, f.updates())
	})
}

func TestUpgradeSpaces(t *testing.T) {
	f := newFixture(t)
	const id = "20260105-101500-a1b2c3"
	for i := range pageSize + 5 {
		f.upgradeSpace(id, fmt.Sprintf("espace-%03d", i), workflows.SpaceUpgraded)
	}
	f.upgradeSpace(id, "aaa-en-echec", workflows.SpaceUpgradeFailed)
	f.upgradeSpace(id, "zzz-en-echec", workflows.SpaceUpgradeFailed)
	f.upgradeSpace("20251001-080000-ffffff", "ancien-echec", workflows.SpaceUpgradeFailed)

	list := func(query string) listResponse[upgradeSpaceView] {
		t.Helper()
		w := f.do("GET", "/api/v1/upgrades/"+id+"/spaces"+query, f.admin, nil)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var resp listResponse[upgradeSpaceView]
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &resp))
		return resp
	}
	slugs := func(items []upgradeSpaceView) []string {
		var s []string
		for _, it := range items {
			s = append(s, it.Slug)
		}
		return s
	}

	t.Run("the spaces of the upgrade are listed by slug, a page at a time", func(t *testing.T) {
		first := list("")
		assert.EqualValues(t, pageSize+7, first.Total)
		require.Len(t, first.Items, pageSize)
		assert.Equal(t, "aaa-en-echec", first.Items[0].Slug)
		assert.Equal(t, "espace-000", first.Items[1].Slug)
		assert.IsNonDecreasing(t, slugs(first.Items))
		second := list("?page=2")
		assert.Equal(t, 2, second.Page)
		assert.Equal(t, []string{"espace-049", "espace-050", "espace-051", "espace-052", "espace-053", "espace-054", "zzz-en-echec"},
			slugs(second.Items))
		assert.Empty(t, list("?page=3").Items)
	})

	t.Run("each space shows its versions and its downtime in seconds", func(t *testing.T) {
		sp := list("").Items[1]
		assert.Equal(t, workflows.SpaceUpgraded, sp.Status)
		assert.Equal(t, "31.0.9", sp.From)
		assert.Equal(t, "32.0.3", sp.To)
		assert.InDelta(t, 83.5, sp.DowntimeSeconds, 1e-9)
	})

	t.Run("the status filter keeps the spaces of that status in this upgrade only", func(t *testing.T) {
		failed := list("?status=failed")
		assert.EqualValues(t, 2, failed.Total)
		assert.Equal(t, []string{"aaa-en-echec", "zzz-en-echec"}, slugs(failed.Items))
		assert.Empty(t, list("?status=refused").Items)
	})

	t.Run("an unknown status or page is refused naming the parameter", func(t *testing.T) {
		w := f.do("GET", "/api/v1/upgrades/"+id+"/spaces?status=done", f.admin, nil)
		require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
		assert.Equal(t, "status", errorOf(t, w).Field)
		w = f.do("GET", "/api/v1/upgrades/"+id+"/spaces?page=0", f.admin, nil)
		require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
		assert.Equal(t, "page", errorOf(t, w).Field)
	})
}
