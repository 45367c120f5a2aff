package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"jardinier/activities/database"
	"jardinier/activities/nextcloud"
)

// quotaPageSize is how many spaces one ShareSpaceQuotas activity handles: a few
// seconds of work, and a few dozen activities for 10,000 spaces.
const quotaPageSize = 200

// maxListedSlugs bounds the slugs a rebalance lists in its result (full, failed), so
// that a fleet-wide failure does not bloat its history; the counts stay exact.
const maxListedSlugs = 100

// QuotaRebalanceWorkflow shares out again the storage quota of every space in service
// (nextcloud.QuotaShare), page by page, and records what each space holds for the list
// screens. A space that fails is counted and listed, and does not stop the others.
func QuotaRebalanceWorkflow(ctx workflow.Context, in QuotaRebalanceInput) (QuotaRebalanceResult, error) {
	pageSize := in.PageSize
	if pageSize <= 0 {
		pageSize = quotaPageSize
	}
	var res QuotaRebalanceResult
	for after := ""; ; {
		page, err := quotaPage(ctx, after, pageSize)
		if err != nil {
			return res, err
		}
		if len(page) == 0 {
			break
		}
		if err := shareQuotas(ctx, page, &res); err != nil {
			return res, err
		}
		if len(page) < pageSize {
			break
		}
		after = page[len(page)-1].Slug
	}
	workflow.GetLogger(ctx).Info("Quotas shared out", "spaces", res.Spaces, "changed", res.Changed,
		"full", res.FullCount, "failed", res.FailedCount)
	return res, nil
}

// quotaPage lists the spaces in service after the slug after.
func quotaPage(ctx workflow.Context, after string, limit int) ([]nextcloud.SpaceQuota, error) {
	lctx := fleetDBContext(ctx)
	var dba *database.Activities
	var listed database.ListQuotaSpacesResult
	if err := workflow.ExecuteLocalActivity(lctx, dba.ListQuotaSpaces,
		database.ListQuotaSpacesInput{After: after, Limit: limit}).Get(ctx, &listed); err != nil {
		return nil, fmt.Errorf("list spaces: %w", err)
	}
	page := make([]nextcloud.SpaceQuota, len(listed.Spaces))
	for i, sp := range listed.Spaces {
		page[i] = nextcloud.SpaceQuota{Slug: sp.Slug, QuotaBytes: sp.QuotaBytes}
	}
	return page, nil
}

// shareQuotas shares out the quotas of one page of spaces, records their usage and
// adds them to res.
func shareQuotas(ctx workflow.Context, page []nextcloud.SpaceQuota, res *QuotaRebalanceResult) error {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute, // seconds for a page, unless spaces are slow to answer
		HeartbeatTimeout:    heartbeatTimeout,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
	})
	var na *nextcloud.Activities
	var shared nextcloud.ShareQuotasResult
	if err := workflow.ExecuteActivity(actx, na.ShareSpaceQuotas,
		nextcloud.ShareQuotasInput{Spaces: page}).Get(ctx, &shared); err != nil {
		return fmt.Errorf("share quotas: %w", err)
	}
	quotas := make(map[string]int64, len(page))
	for _, sp := range page {
		quotas[sp.Slug] = sp.QuotaBytes
	}
	usage := make([]database.SpaceUsage, 0, len(shared.Spaces))
	for _, line := range shared.Spaces {
		if line.Error != "" {
			res.FailedCount++
			res.Failed = appendListed(res.Failed, line.Slug)
			continue
		}
		res.Spaces++
		res.Changed += line.Usage.Changed
		if line.Usage.UsedBytes >= quotas[line.Slug] {
			res.FullCount++
			res.Full = appendListed(res.Full, line.Slug)
		}
		usage = append(usage, database.SpaceUsage{Slug: line.Slug, UsedBytes: line.Usage.UsedBytes, Accounts: line.Usage.Accounts,
			LastActivity: line.Usage.LastActivity})
	}
	if len(usage) == 0 {
		return nil
	}
	lctx := fleetDBContext(ctx)
	var dba *database.Activities
	if err := workflow.ExecuteLocalActivity(lctx, dba.RecordSpaceUsage,
		database.RecordSpaceUsageInput{Spaces: usage, At: workflow.Now(ctx)}).Get(ctx, nil); err != nil {
		return fmt.Errorf("record usage: %w", err)
	}
	return nil
}

// fleetDBContext is ctx for the local activities of the fleet workflows that read or
// write lists of spaces in the database: quick, and tried a few times.
func fleetDBContext(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5},
	})
}

// appendListed appends slug to list unless it holds maxListedSlugs already.
func appendListed(list []string, slug string) []string {
	if len(list) >= maxListedSlugs {
		return list
	}
	return append(list, slug)
}

// EnsureQuotaSchedule makes the schedule QuotaScheduleID start QuotaRebalanceWorkflow
// every every, creating it or changing its interval; every <= 0 deletes it. A run
// still going when the next is due makes that one skip.
func EnsureQuotaSchedule(ctx context.Context, c client.Client, every time.Duration) error {
	sc := c.ScheduleClient()
	handle := sc.GetHandle(ctx, QuotaScheduleID)
	if every <= 0 {
		err := handle.Delete(ctx)
		var notFound *serviceerror.NotFound
		if err != nil && !errors.As(err, &notFound) {
			return fmt.Errorf("delete schedule %s: %w", QuotaScheduleID, err)
		}
		return nil
	}
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}}
	_, err := sc.Create(ctx, client.ScheduleOptions{
		ID:      QuotaScheduleID,
		Spec:    spec,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Action: &client.ScheduleWorkflowAction{
			ID:                       QuotaScheduleID,
			Workflow:                 QuotaRebalanceWorkflowType,
			Args:                     []any{QuotaRebalanceInput{}},
			TaskQueue:                TaskQueue,
			WorkflowExecutionTimeout: max(every, time.Hour),
		},
	})
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		if err != nil {
			return fmt.Errorf("create schedule %s: %w", QuotaScheduleID, err)
		}
		return nil
	}
	err = handle.Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			in.Description.Schedule.Spec = &spec
			return &client.ScheduleUpdate{Schedule: &in.Description.Schedule}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("update schedule %s: %w", QuotaScheduleID, err)
	}
	return nil
}
