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

	"jardinier/activities/backup"
	"jardinier/activities/storage"
	"jardinier/models"
)

// backupPageSize is how many spaces a night of backups reads at a time, and hands out
// before it continues as new: about 10 events each, a few thousand per run.
const backupPageSize = 200

// backupDumpTimeout bounds one dump: minutes for the largest spaces' databases. The
// dump heartbeats, so a lost worker costs backupHeartbeatTimeout only.
const backupDumpTimeout = 2 * time.Hour

// backupHeartbeatTimeout: a dump heartbeats every 5 s while bytes flow.
const backupHeartbeatTimeout = 30 * time.Second

// backupAttempts bounds the attempts of one space's dump in a night: past that it is
// counted failed, and the moderators see it once it has no good backup for 48 h.
const backupAttempts = 3

// fileHistoryConcurrency bounds the buckets the one-time pass sets up at once.
const fileHistoryConcurrency = 10

// BackupFleetWorkflow dumps the database of every space in service into the backup
// bucket, at most Concurrency at once, their starts spread over Window, then runs the
// expiry pass. Each dump is an activity that heartbeats; a dump retried after its
// worker was lost finds the object of a dump already made and does not dump again. A
// run started again for the same night skips the spaces already backed up.
func BackupFleetWorkflow(ctx workflow.Context, in BackupFleetInput) (BackupFleetResult, error) {
	n := &backupNight{in: in}
	if in.State != nil {
		n.st = *in.State
	} else {
		now := workflow.Now(ctx)
		n.st = BackupFleetState{Night: now.UTC().Truncate(time.Hour), StartedAt: now}
	}
	if n.in.Concurrency < 1 {
		n.in.Concurrency = 1
	}
	if n.in.PageSize < 1 {
		n.in.PageSize = backupPageSize
	}
	return n.run(ctx)
}

type backupNight struct {
	in BackupFleetInput
	st BackupFleetState
	// handed counts the spaces of this night handed out so far, for their start times.
	handed int
}

func (n *backupNight) run(ctx workflow.Context) (BackupFleetResult, error) {
	n.handed = n.st.Result.Spaces + n.st.Result.Reused + n.st.Result.FailedCount
	page, total, err := n.page(ctx)
	if err != nil {
		return n.st.Result, err
	}
	if n.st.After == "" && n.st.Total == 0 {
		n.st.Total = total
	}
	if len(page) > 0 {
		n.dumpAll(ctx, page)
		n.st.After = page[len(page)-1].Slug
		if len(page) == n.in.PageSize {
			in := n.in
			st := n.st
			in.State = &st
			return n.st.Result, workflow.NewContinueAsNewError(ctx, BackupFleetWorkflowType, in)
		}
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute, // a deletion per expired dump
		HeartbeatTimeout:    backupHeartbeatTimeout,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5},
	})
	var ba *backup.Activities
	var expired backup.ExpireResult
	if err := workflow.ExecuteActivity(actx, ba.ExpireBackups, backup.ExpireInput{Now: workflow.Now(ctx)}).Get(ctx, &expired); err != nil {
		workflow.GetLogger(ctx).Error("Expiry pass failed", "error", err)
	}
	n.st.Result.Expired = expired.Expired
	workflow.GetLogger(ctx).Info("Night of backups done", "spaces", n.st.Result.Spaces, "reused", n.st.Result.Reused,
		"failed", n.st.Result.FailedCount, "bytes", n.st.Result.Bytes, "expired", expired.Expired)
	return n.st.Result, nil
}

func (n *backupNight) page(ctx workflow.Context) ([]backup.SpaceRef, int, error) {
	var ba *backup.Activities
	var res backup.ListSpacesResult
	err := workflow.ExecuteLocalActivity(fleetDBContext(ctx), ba.ListBackupSpaces, backup.ListSpacesInput{
		After: n.st.After, Limit: n.in.PageSize, Statuses: []string{string(models.StatusActive)},
		NotBackedUpSince: n.st.Night}).Get(ctx, &res)
	if err != nil {
		return nil, 0, fmt.Errorf("list spaces: %w", err)
	}
	return res.Spaces, res.Total, nil
}

// dumpAll dumps one page of spaces, at most Concurrency at once, each started no
// sooner than its place in the window, and waits for them all.
func (n *backupNight) dumpAll(ctx workflow.Context, page []backup.SpaceRef) {
	sem := workflow.NewSemaphore(ctx, int64(n.in.Concurrency))
	wg := workflow.NewWaitGroup(ctx)
	for _, sp := range page {
		if n.st.Total > 0 && n.in.Window > 0 {
			due := n.st.StartedAt.Add(n.in.Window * time.Duration(n.handed) / time.Duration(n.st.Total))
			if wait := due.Sub(workflow.Now(ctx)); wait > 0 {
				_ = workflow.NewTimerWithOptions(ctx, wait, workflow.TimerOptions{
					Summary: "attente : la place de la sauvegarde suivante dans la fenêtre de la nuit"}).Get(ctx, nil)
			}
		}
		n.handed++
		if err := sem.Acquire(ctx, 1); err != nil {
			break
		}
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			defer sem.Release(1)
			n.dumpOne(ctx, sp)
		})
	}
	wg.Wait(ctx)
}

func (n *backupNight) dumpOne(ctx workflow.Context, sp backup.SpaceRef) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: backupDumpTimeout,
		HeartbeatTimeout:    backupHeartbeatTimeout,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 30 * time.Second, MaximumAttempts: backupAttempts},
	})
	var ba *backup.Activities
	var res backup.DumpResult
	err := workflow.ExecuteActivity(actx, ba.DumpSpace, backup.DumpInput{SpaceID: sp.ID, Slug: sp.Slug,
		Kind: models.BackupNightly, At: n.st.Night}).Get(ctx, &res)
	switch {
	case err != nil:
		workflow.GetLogger(ctx).Error("Backup failed", "slug", sp.Slug, "error", err)
		n.st.Result.FailedCount++
		n.st.Result.Failed = appendListed(n.st.Result.Failed, sp.Slug)
	case res.Reused:
		n.st.Result.Reused++
	default:
		n.st.Result.Spaces++
		n.st.Result.Bytes += res.SizeBytes
	}
}

// FileHistoryWorkflow turns the file history on (storage.EnableFileHistory) in the
// bucket of every space that has one, page by page: the one-time pass for the spaces
// created before provisioning did it. Running it again changes nothing.
func FileHistoryWorkflow(ctx workflow.Context, in FileHistoryInput) (FileHistoryResult, error) {
	res := in.Result
	var ba *backup.Activities
	var page backup.ListSpacesResult
	err := workflow.ExecuteLocalActivity(fleetDBContext(ctx), ba.ListBackupSpaces, backup.ListSpacesInput{
		After: in.After, Limit: backupPageSize,
		Statuses: []string{string(models.StatusActive), string(models.StatusDeactivated)}}).Get(ctx, &page)
	if err != nil {
		return res, fmt.Errorf("list spaces: %w", err)
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute, // four S3 calls
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5, NonRetryableErrorTypes: []string{storage.ErrTypeInvalidBucket}},
	})
	sem := workflow.NewSemaphore(ctx, fileHistoryConcurrency)
	wg := workflow.NewWaitGroup(ctx)
	for _, sp := range page.Spaces {
		if sp.Bucket == "" {
			continue
		}
		if err := sem.Acquire(ctx, 1); err != nil {
			break
		}
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			defer sem.Release(1)
			var sa *storage.Activities
			var r storage.EnableFileHistoryResult
			if err := workflow.ExecuteActivity(actx, sa.EnableFileHistory, storage.EnableFileHistoryInput{Bucket: sp.Bucket}).Get(ctx, &r); err != nil {
				workflow.GetLogger(ctx).Error("File history not set", "slug", sp.Slug, "error", err)
				res.FailedCount++
				res.Failed = appendListed(res.Failed, sp.Slug)
				return
			}
			res.Buckets++
			if r.VersioningEnabled || r.LifecycleSet {
				res.Changed++
			}
		})
	}
	wg.Wait(ctx)
	if len(page.Spaces) == backupPageSize {
		return res, workflow.NewContinueAsNewError(ctx, FileHistoryWorkflowType,
			FileHistoryInput{After: page.Spaces[len(page.Spaces)-1].Slug, Result: res})
	}
	return res, nil
}

// EnsureBackupSchedule makes the schedule BackupScheduleID start BackupFleetWorkflow
// every night at BackupHour, Paris time, with the concurrency and window given; a
// night still running when the next is due makes that one skip.
func EnsureBackupSchedule(ctx context.Context, c client.Client, cfg models.BackupConfig) error {
	sc := c.ScheduleClient()
	spec := client.ScheduleSpec{
		Calendars:    []client.ScheduleCalendarSpec{{Hour: []client.ScheduleRange{{Start: BackupHour}}}},
		TimeZoneName: "Europe/Paris",
	}
	action := &client.ScheduleWorkflowAction{
		ID:        BackupScheduleID,
		Workflow:  BackupFleetWorkflowType,
		Args:      []any{BackupFleetInput{Concurrency: cfg.Concurrency, Window: cfg.Window}},
		TaskQueue: TaskQueue,
		// A night that has not finished by the next one stops; the next picks up.
		WorkflowExecutionTimeout: 23 * time.Hour,
	}
	_, err := sc.Create(ctx, client.ScheduleOptions{ID: BackupScheduleID, Spec: spec,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, Action: action})
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		if err != nil {
			return fmt.Errorf("create schedule %s: %w", BackupScheduleID, err)
		}
		return nil
	}
	err = sc.GetHandle(ctx, BackupScheduleID).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			in.Description.Schedule.Spec = &spec
			in.Description.Schedule.Action = action
			return &client.ScheduleUpdate{Schedule: &in.Description.Schedule}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("update schedule %s: %w", BackupScheduleID, err)
	}
	return nil
}

// StartFileHistoryPass starts the one-time FileHistoryWorkflow unless it ran already.
func StartFileHistoryPass(ctx context.Context, c client.Client) error {
	_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: FileHistoryWorkflowID, TaskQueue: TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
	}, FileHistoryWorkflowType, FileHistoryInput{})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) {
		return fmt.Errorf("start %s: %w", FileHistoryWorkflowID, err)
	}
	return nil
}
