package workflows

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplayRecordedHistories replays histories recorded from real runs of earlier
// versions of the workflow code (testdata/v*-*.json, saved with `temporal workflow show
// --output json`). A change that would break running workflows fails here: guard it
// with workflow.GetVersion, then record a new history.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "v*-*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			replayer := worker.NewWorkflowReplayer()
			replayer.RegisterWorkflowWithOptions(SpaceWorkflow, workflow.RegisterOptions{Name: SpaceWorkflowType})
			replayer.RegisterWorkflowWithOptions(FleetUpgradeWorkflow, workflow.RegisterOptions{Name: FleetUpgradeWorkflowType})
			replayer.RegisterWorkflowWithOptions(QuotaRebalanceWorkflow, workflow.RegisterOptions{Name: QuotaRebalanceWorkflowType})
			replayer.RegisterWorkflowWithOptions(PolicyRolloutWorkflow, workflow.RegisterOptions{Name: PolicyRolloutWorkflowType})
			require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, file))
		})
	}
}
