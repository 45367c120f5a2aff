package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"gorm.io/gorm"

	"jardinier/activities/nextcloud"
	"jardinier/models"
	"jardinier/worker/cron"
)

// CronOptions configure a run of the cron service over simulated spaces.
type CronOptions struct {
	Config      models.Config // DATABASE_URL: the server the bench's own database is made on
	Spaces      int           // spaces in service
	Interval    time.Duration // CRON_EVERY
	Concurrency int           // CRON_CONCURRENCY
	Run         time.Duration // how long one simulated cron.php takes
	Rounds      int           // intervals measured
	Output      io.Writer
	Logger      *slog.Logger
}

// CronReport is what a cron run measured: the delay past each space's due time.
type CronReport struct {
	Spaces      int
	Interval    time.Duration
	Concurrency int
	Run         time.Duration
	Runs        int
	Failed      int
	LagP50      time.Duration
	LagP95      time.Duration
	LagMax      time.Duration
	Overlap     int // runs of a space started while another of its runs was under way
}

// String is the report's one line.
func (r CronReport) String() string {
	return fmt.Sprintf("cron: spaces=%d interval=%s concurrency=%d runs=%d lag_p50=%.2fs lag_p95=%.2fs overlap=%d cron=%s failed=%d lag_max=%.2fs",
		r.Spaces, r.Interval, r.Concurrency, r.Runs, r.LagP50.Seconds(), r.LagP95.Seconds(), r.Overlap,
		r.Run, r.Failed, r.LagMax.Seconds())
}

// Cron makes o.Spaces spaces in service in a database of its own and on the simulator,
// runs the cron service over them for o.Rounds intervals after the first due times,
// each run taking o.Run, and measures how late each run started. Capacity: one process
// runs at most Concurrency/Run spaces a second, so N·Run/Concurrency must stay under
// the interval or the lag grows without bound.
func Cron(ctx context.Context, o CronOptions) (CronReport, error) {
	const name = "jardinier_bench_cron"
	dsn, err := recreateDatabase(o.Config.DatabaseURL, name)
	if err != nil {
		return CronReport{}, err
	}
	defer dropDatabase(o.Config.DatabaseURL, name)
	db, err := models.OpenDB(ctx, dsn, o.Logger)
	if err != nil {
		return CronReport{}, err
	}
	defer closeDB(db)

	sim := nextcloud.NewSimulator(slog.New(slog.DiscardHandler))
	sim.SetCronDuration(o.Run)
	if err := insertCronSpaces(ctx, db, sim, o.Spaces); err != nil {
		return CronReport{}, err
	}
	fmt.Fprintf(o.Output, "%d spaces in service; measuring %d intervals of %s\n", o.Spaces, o.Rounds, o.Interval)

	var mu sync.Mutex
	var lags []time.Duration
	failed := 0
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	start := time.Now()
	// The first due times fall in the first interval; Rounds intervals follow.
	end := start.Add(time.Duration(o.Rounds+1) * o.Interval)
	r, err := cron.New(cron.Options{DB: db, Driver: sim, Logger: o.Logger,
		Config: models.CronConfig{Every: o.Interval, Concurrency: o.Concurrency, Timeout: o.Run + o.Interval},
		OnRun: func(run cron.Run) {
			if run.DueAt.After(end) {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			lags = append(lags, run.StartedAt.Sub(run.DueAt))
			if run.Outcome != models.CronOK {
				failed++
			}
		}})
	if err != nil {
		return CronReport{}, err
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	// Wait for the runs due before the end to start and finish, however late.
	for {
		mu.Lock()
		n := len(lags)
		mu.Unlock()
		if time.Now().After(end) && (n >= o.Spaces*(o.Rounds+1) || time.Now().After(end.Add(o.Interval))) {
			break
		}
		select {
		case <-ctx.Done():
			return CronReport{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	stop()
	if err := <-done; err != nil {
		return CronReport{}, err
	}
	mu.Lock()
	defer mu.Unlock()
	rep := CronReport{Spaces: o.Spaces, Interval: o.Interval, Concurrency: o.Concurrency, Run: o.Run, Runs: len(lags),
		Failed: failed, LagP50: models.Percentile(lags, 50), LagP95: models.Percentile(lags, 95),
		LagMax: models.Percentile(lags, 100), Overlap: sim.CronOverlaps()}
	return rep, nil
}

// insertCronSpaces writes n spaces in service, in batches, and installs them on sim.
func insertCronSpaces(ctx context.Context, db *gorm.DB, sim *nextcloud.Simulator, n int) error {
	const batch = 1000
	now := time.Now().UTC()
	for from := 0; from < n; from += batch {
		var spaces []models.Space
		for i := from; i < min(n, from+batch); i++ {
			slug := fmt.Sprintf("cron-%05d", i)
			spaces = append(spaces, models.Space{Slug: slug, Status: models.StatusActive, OfficeSuite: models.OfficeNone,
				SubmittedAt: now, ProvisionedAt: &now})
			if err := sim.CreateDatabase(ctx, slug); err != nil {
				return err
			}
			if err := sim.Install(ctx, nextcloud.InstallSpec{Slug: slug, Domain: slug + ".bench.example",
				Version: "31.0.9", Bucket: "space-" + slug}); err != nil {
				return err
			}
		}
		if err := db.WithContext(ctx).Create(&spaces).Error; err != nil {
			return fmt.Errorf("write spaces: %w", err)
		}
	}
	return nil
}
