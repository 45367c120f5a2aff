package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"jardinier/models"
	"jardinier/workflows"
)

// timeline is the part of /timeline this test reads.
type timeline struct {
	LastActivityAt time.Time `json:"last_activity_at"`
	Steps          []struct {
		Action  string    `json:"action"`
		At      time.Time `json:"at"`
		Planned bool      `json:"planned"`
	} `json:"steps"`
}

// planned is the planned date of an action on the space's timeline.
func (s *system) planned(slug, action string) (time.Time, time.Time, bool) {
	s.t.Helper()
	var tl timeline
	require.Equal(s.t, http.StatusOK, s.call("GET", "/api/v1/spaces/"+slug+"/timeline", s.token, nil, &tl))
	for _, st := range tl.Steps {
		if st.Planned && st.Action == action {
			return st.At, tl.LastActivityAt, true
		}
	}
	return time.Time{}, tl.LastActivityAt, false
}

func TestPolicyChangeEndToEnd(t *testing.T) {
	const (
		first  = "warn1=3s,warn2=20s,deactivate=30s,notice=40s,delete=50s"
		longer = "warn1=3s,warn2=1h,deactivate=2h,notice=3h,delete=4h"
		short  = "warn1=1s,warn2=2s,deactivate=3s,notice=4s,delete=5s"
	)
	s := startSystem(t, func(c *models.Config) {
		p, err := models.ParseInactivityPolicy(first)
		require.NoError(t, err)
		c.Policy = p
	})
	admin, _, err := models.CreateModerator(context.Background(), s.db, "alix", models.RoleAdmin)
	require.NoError(t, err)

	const slug = "cine-club"
	id := s.submit(slug, "contact@cine-club.example")
	require.Equal(t, http.StatusOK, s.call("POST", "/api/v1/applications/"+id+"/accept", s.token, map[string]any{}, nil))
	s.waitStatus(slug, models.StatusActive)
	t.Cleanup(func() { s.fleet.Drop(context.Background(), slug) })
	_, i := s.waitMail(t, "premier avertissement", 0)

	t.Run("a longer policy after the first warning moves the second one at once, as the timeline shows", func(t *testing.T) {
		var resp map[string]any
		require.Equal(t, http.StatusOK, s.call("PUT", "/api/v1/policy", admin, map[string]any{"policy": longer, "reason": "essai"}, &resp))
		assert.EqualValues(t, 2, resp["version"])
		var at, last time.Time
		require.Eventually(t, func() bool {
			var ok bool
			at, last, ok = s.planned(slug, string(models.StepSecondWarning))
			return ok && at.Sub(last) > 30*time.Minute
		}, 30*time.Second, 200*time.Millisecond, "the space's plan follows the new policy")
		assert.WithinDuration(t, last.Add(time.Hour), at, 2*time.Second, "75 days become an hour")
		time.Sleep(time.Until(last.Add(22 * time.Second)))
		for _, m := range s.smtp.Messages()[i+1:] {
			assert.NotContains(t, m.Subject, "Dernier avertissement", "the timer of the old plan was dropped")
		}
	})

	t.Run("a shorter one then keeps the date the first warning gave, and the steps follow", func(t *testing.T) {
		require.Equal(t, http.StatusOK, s.call("PUT", "/api/v1/policy", admin, map[string]any{"policy": short, "reason": "retour"}, nil))
		// The first warning announced the second at 20 s: overdue now, it goes out at
		// once, and the deletion stays at the 50 s every mail gave.
		warn2, _ := s.waitMail(t, "Dernier avertissement", i+1)
		assert.Contains(t, warn2.Body, "désactiv", "the mail announces the deactivation")
		del, last, ok := s.planned(slug, string(models.StepDeletion))
		require.True(t, ok)
		assert.WithinDuration(t, last.Add(50*time.Second), del, 2*time.Second, "the deletion keeps the date the mails gave")
		s.waitStatus(slug, models.StatusDeactivated)
	})

	// RECORD_HISTORIES=dir keeps what this test ran, for the replay test.
	if dir := os.Getenv("RECORD_HISTORIES"); dir != "" {
		time.Sleep(2 * time.Second) // the deactivated run starts and waits on its timer
		s.recordHistories(dir, "v4-policy-changed", workflows.SpaceWorkflowID(slug))
		s.recordHistories(dir, "v4-policy-rollout-longer", workflows.PolicyRolloutWorkflowID(2))
		s.recordHistories(dir, "v4-policy-rollout-shorter", workflows.PolicyRolloutWorkflowID(3))
	}
}

// recordHistories writes the history of every run of a workflow to dir, as
// `temporal workflow show --output json` does, oldest run first: name-run1.json... (a
// single run: name.json). TestReplayRecordedHistories replays the ones kept in
// workflows/testdata.
func (s *system) recordHistories(dir, name, workflowID string) {
	s.t.Helper()
	ctx := context.Background()
	resp, err := s.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowId = '%s'", workflowID)})
	require.NoError(s.t, err)
	runs := resp.Executions
	slices.SortFunc(runs, func(a, b *workflowpb.WorkflowExecutionInfo) int {
		return a.StartTime.AsTime().Compare(b.StartTime.AsTime())
	})
	for n, run := range runs {
		var history historypb.History
		iter := s.temporal.GetWorkflowHistory(ctx, workflowID, run.Execution.RunId, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for iter.HasNext() {
			ev, err := iter.Next()
			require.NoError(s.t, err)
			history.Events = append(history.Events, ev)
		}
		data, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(&history)
		require.NoError(s.t, err)
		file := name + ".json"
		if len(runs) > 1 {
			file = fmt.Sprintf("%s-run%d.json", name, n+1)
		}
		require.NoError(s.t, os.WriteFile(filepath.Join(dir, file), data, 0o644))
	}
}
