package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"

	"jardinier/models"
	"jardinier/workflows"
)

// IdleOptions configure an idle run.
type IdleOptions struct {
	Config      models.Config // DatabaseURL names the server; the run uses its own database on it
	Spaces      int           // active spaces brought under watch
	Concurrency int           // workflow starts at once
	Cluster     bool          // on the real Temporal server (deploy/cluster), not the development server
	Output      io.Writer
	Logger      *slog.Logger
}

// IdleReport is what an idle run measured.
type IdleReport struct {
	Spaces      int
	Cache       int           // the worker's sticky cache (WORKFLOW_CACHE_SIZE)
	StartWall   time.Duration // from the first start until every space waits for its first check
	WorkerRSSMB int64         // peak resident memory of the worker process
	ServerRSSMB int64         // peak resident memory of the Temporal server process
	Floor       Floor
}

// String is the report's one line.
func (r IdleReport) String() string {
	return fmt.Sprintf("idle: spaces=%d cache=%d start_wall=%.1fs worker_rss=%dMB server_rss=%dMB %s",
		r.Spaces, r.Cache, r.StartWall.Seconds(), r.WorkerRSSMB, r.ServerRSSMB, r.Floor)
}

// Idle brings o.Spaces active spaces under watch: their rows are written as provisioning
// leaves them, and their workflows start where provisioning hands over, in service with
// a fresh countdown. It returns once every one waits on its first inactivity timer.
func Idle(ctx context.Context, o IdleOptions) (IdleReport, error) {
	stack, cleanup, err := startRunStack(ctx, o.Config, "idle", true, o.Cluster, o.Logger)
	if err != nil {
		return IdleReport{}, err
	}
	defer cleanup()
	cfg := stack.Config
	db, c, err := workflows.Connect(ctx, cfg, o.Logger)
	if err != nil {
		return IdleReport{}, err
	}
	defer c.Close()
	floor, err := MeasureFloor(ctx, c)
	if err != nil {
		return IdleReport{}, err
	}
	if o.Cluster {
		floor.Server = "cluster"
	}

	start := time.Now()
	if err := watchSpaces(ctx, db, c, cfg, o.Spaces, o.Concurrency, o.Output, nil); err != nil {
		return IdleReport{}, err
	}
	r := IdleReport{Spaces: o.Spaces, Cache: cfg.WorkflowCacheSize, StartWall: time.Since(start), Floor: floor,
		WorkerRSSMB: PeakRSSMB(stack.Worker.Pid()), ServerRSSMB: PeakRSSMB(stack.Temporal.Pid())}
	r.Floor.EventsPerSpace, err = EventsPerSpace(ctx, c, watchedSample(o.Spaces), nil, o.Spaces)
	return r, err
}

// watchSpaces writes n active spaces and starts their workflows where provisioning
// hands over, in service with a fresh countdown; it returns once every one waits on its
// first inactivity timer.
// install, when set, prepares each space's instance before its workflow starts.
func watchSpaces(ctx context.Context, db *gorm.DB, c client.Client, cfg models.Config, n, concurrency int, out io.Writer,
	install func(slug string) error) error {
	fmt.Fprintf(out, "bench: writing %d active spaces\n", n)
	inputs, err := insertActiveSpaces(ctx, db, cfg, n)
	if err != nil {
		return err
	}
	if install != nil {
		if err := parallel(ctx, concurrency, inputs, func(in workflows.SpaceInput) error { return install(in.Slug) }); err != nil {
			return fmt.Errorf("install spaces: %w", err)
		}
	}
	fmt.Fprintf(out, "bench: starting %d space workflows with %d clients\n", n, concurrency)
	err = parallel(ctx, concurrency, inputs, func(in workflows.SpaceInput) error {
		_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID:                       workflows.SpaceWorkflowID(in.Slug),
			TaskQueue:                workflows.TaskQueue,
			WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
			TypedSearchAttributes: temporal.NewSearchAttributes(
				workflows.SearchAttrSlug.ValueSet(in.Slug),
				workflows.SearchAttrStatus.ValueSet(string(models.StatusActive)),
				workflows.SearchAttrNextcloudVersion.ValueSet(in.NextcloudVersion)),
		}, workflows.SpaceWorkflow, in)
		return err
	})
	if err != nil {
		return fmt.Errorf("start space workflows: %w", err)
	}
	// A space is under watch once its workflow has projected its first check.
	for {
		var watched int64
		if err := db.WithContext(ctx).Model(&models.Space{}).Where("next_step_at IS NOT NULL").Count(&watched).Error; err != nil {
			return err
		}
		if int(watched) == n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// watchedSample is the workflow IDs of a sample of the spaces watchSpaces wrote.
func watchedSample(n int) []string {
	return sampleIDs(n, 20, func(i int) string { return workflows.SpaceWorkflowID(fmt.Sprintf("idle-%05d", i)) })
}

// parallel runs fn on every item with at most n at once, and returns the first error
// with the count of failures.
func parallel[T any](ctx context.Context, n int, items []T, fn func(T) error) error {
	var failed atomic.Int64
	var firstErr error
	var once sync.Once
	jobs := make(chan T)
	var wg sync.WaitGroup
	for range max(n, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for item := range jobs {
				if err := fn(item); err != nil {
					failed.Add(1)
					once.Do(func() { firstErr = err })
				}
			}
		}()
	}
	for _, item := range items {
		select {
		case jobs <- item:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d of %d failed, first: %w", n, len(items), firstErr)
	}
	return ctx.Err()
}

// insertActiveSpaces writes n applications and their active spaces, in batches.
func insertActiveSpaces(ctx context.Context, db *gorm.DB, cfg models.Config, n int) ([]workflows.SpaceInput, error) {
	const batch = 500
	now := time.Now().UTC()
	inputs := make([]workflows.SpaceInput, 0, n)
	limits := models.DefaultLimits()
	for from := 0; from < n; from += batch {
		var apps []models.Application
		var spaces []models.Space
		for i := from; i < min(n, from+batch); i++ {
			slug := fmt.Sprintf("idle-%05d", i)
			id := uuid.NewString()
			apps = append(apps, models.Application{ID: id, Slug: slug, OrganizationName: "Association " + slug,
				OrganizationType: models.OrgAssociation1901, Sectors: []string{"culture"}, FoundedYear: 2010,
				Mission: "m", Actions: "a", Needs: "n", AccountsNeeded: 5, OfficeSuite: models.OfficeCollabora,
				ContactEmail: slug + "@example.org", TermsAcceptedAt: now})
			spaces = append(spaces, models.Space{Slug: slug, ApplicationID: &id, Status: models.StatusActive,
				NextcloudVersion: cfg.NextcloudVersion, OfficeSuite: models.OfficeCollabora,
				MaxAccounts: limits.MaxAccounts, QuotaBytes: limits.QuotaBytes, MaxVideoBytes: limits.MaxVideoBytes,
				BucketName: models.BucketName(cfg.BucketPrefix, slug), SubmittedAt: now, DecidedAt: &now, ProvisionedAt: &now})
			inputs = append(inputs, workflows.SpaceInput{ApplicationID: id, Slug: slug, OfficeSuite: models.OfficeCollabora,
				Bucket: models.BucketName(cfg.BucketPrefix, slug), Domain: slug + "." + cfg.BaseDomain,
				NextcloudVersion: cfg.NextcloudVersion,
				State: &workflows.SpaceState{Status: models.StatusActive, NextcloudVersion: cfg.NextcloudVersion, Seq: 3,
					Lifecycle: workflows.Lifecycle{LastActivity: now, Countdown: 1}}})
		}
		if err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := tx.Create(&apps).Error; err != nil {
				return err
			}
			return tx.Create(&spaces).Error
		}); err != nil {
			return nil, fmt.Errorf("write spaces: %w", err)
		}
	}
	return inputs, nil
}
