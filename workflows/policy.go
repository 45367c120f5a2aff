package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"jardinier/activities/database"
)

// Sizes of a policy rollout.
const (
	// policyWindow bounds the signals in flight at once: enough to tell 10,000 spaces
	// in a few minutes, few enough not to flood the server.
	policyWindow = 50
	// policyPageSize is how many slugs one activity reads.
	policyPageSize = 500
	// policyHistoryLimit: past this many events the rollout continues as new.
	policyHistoryLimit = 10_000
)

// PolicyRolloutWorkflow tells every space in service of a new version of the
// inactivity policy, with a sliding window of signals: each space plans its next step
// again at once. A space whose workflow ended meanwhile is counted, not retried; a
// space that starts serving after the rollout read its page reads the new version
// from the database itself.
func PolicyRolloutWorkflow(ctx workflow.Context, in PolicyRolloutInput) (PolicyRolloutResult, error) {
	window, pageSize := in.Window, in.PageSize
	if window <= 0 {
		window = policyWindow
	}
	if pageSize <= 0 {
		pageSize = policyPageSize
	}
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: time.Minute},
	})
	var dba *database.Activities
	res := in.Done
	for after := in.After; ; {
		var page database.ListPolicySpacesResult
		if err := workflow.ExecuteLocalActivity(lctx, dba.ListPolicySpaces,
			database.ListPolicySpacesInput{After: after, Limit: pageSize}).Get(ctx, &page); err != nil {
			return res, fmt.Errorf("list spaces: %w", err)
		}
		signalAll(ctx, page.Slugs, in.Change, window, &res)
		if len(page.Slugs) < pageSize {
			break
		}
		after = page.Slugs[len(page.Slugs)-1]
		if info := workflow.GetInfo(ctx); info.GetCurrentHistoryLength() > policyHistoryLimit || info.GetContinueAsNewSuggested() {
			next := in
			next.After, next.Done = after, res
			return res, workflow.NewContinueAsNewError(ctx, PolicyRolloutWorkflowType, next)
		}
	}
	workflow.GetLogger(ctx).Info("Inactivity policy sent to every space", "version", in.Change.Version,
		"signalled", res.Signalled, "gone", res.Gone)
	return res, nil
}

// signalAll signals every space of slugs, at most window at a time.
func signalAll(ctx workflow.Context, slugs []string, change PolicyChanged, window int, res *PolicyRolloutResult) {
	sel := workflow.NewSelector(ctx)
	inFlight := 0
	for _, slug := range slugs {
		if inFlight == window {
			sel.Select(ctx)
			inFlight--
		}
		f := workflow.SignalExternalWorkflow(ctx, SpaceWorkflowID(slug), "", SignalPolicyChanged, change)
		sel.AddFuture(f, func(f workflow.Future) {
			// The only failure of a signal is a workflow that is not running: the space
			// was deleted since the page was read.
			if err := f.Get(ctx, nil); err != nil {
				res.Gone++
				workflow.GetLogger(ctx).Info("Policy change not delivered: the space's workflow has ended", "slug", slug, "error", err)
				return
			}
			res.Signalled++
		})
		inFlight++
	}
	for ; inFlight > 0; inFlight-- {
		sel.Select(ctx)
	}
}
