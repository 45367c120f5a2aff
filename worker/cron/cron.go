// Package cron is the cron service: it runs every space's background jobs (Nextcloud's
// cron.php) once per interval, spread over the interval, a bounded number at once.
// Several cron processes share the fleet through a lease per space in PostgreSQL
// (models.ClaimCronRuns); a process that dies leaves its spaces to the others once its
// leases expire. It is not a Temporal workflow: at 10,000 spaces every 5 minutes that
// would be 2.9 million workflow runs a day, each with its history, for a job whose
// only state is its last run.
package cron

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"gorm.io/gorm"

	"jardinier/activities/nextcloud"
	"jardinier/models"
	"jardinier/models/metrics"
)

// DefaultLeaseGrace is how long a lease outlives the run's timeout: the time to record
// the run after it ended. A process that died holds its spaces that much longer.
const DefaultLeaseGrace = 30 * time.Second

// recordTimeout bounds the writing of a run's outcome, which goes on after the
// process was told to stop.
const recordTimeout = 5 * time.Second

// Run is one run of a space's background jobs, as Options.OnRun receives it.
type Run struct {
	Slug  string
	DueAt time.Time
	models.CronResult
	// Recorded is false when the lease had expired and another process had taken the
	// space over: the run was not recorded.
	Recorded bool
}

// Options configure a Runner.
type Options struct {
	DB     *gorm.DB
	Driver nextcloud.Driver
	Config models.CronConfig
	// Owner names this process in the leases it holds; a random name by default.
	Owner string
	// LeaseGrace is how long a lease outlives Config.Timeout; DefaultLeaseGrace if zero.
	LeaseGrace time.Duration
	Logger     *slog.Logger
	// OnRun, when set, is called after every run (for benchmarks and tests).
	OnRun func(Run)
	// Metrics counts the runs by outcome and times their lag; nil counts nothing.
	Metrics *metrics.Registry
}

// Runner is one cron process's share of the fleet.
type Runner struct {
	o     Options
	lease time.Duration
	poll  time.Duration
	log   *slog.Logger
}

// New checks o and returns its Runner.
func New(o Options) (*Runner, error) {
	if o.DB == nil || o.Driver == nil {
		return nil, errors.New("cron runner: a database and a Nextcloud driver are required")
	}
	c := o.Config
	if c.Every <= 0 || c.Timeout <= 0 || c.Concurrency < 1 {
		return nil, fmt.Errorf("cron runner: CRON_EVERY and CRON_TIMEOUT must be positive, CRON_CONCURRENCY at least 1")
	}
	if o.Owner == "" {
		o.Owner = defaultOwner()
	}
	o.Metrics.InitCron(models.CronOK, models.CronFailed, models.CronTimeout, models.CronSkipped)
	if o.LeaseGrace <= 0 {
		o.LeaseGrace = DefaultLeaseGrace
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	// Polling a fiftieth of the interval keeps the delay past each due time small
	// next to the interval, and the claim query at most once per 10 ms.
	poll := min(max(c.Every/50, 10*time.Millisecond), time.Second)
	return &Runner{o: o, lease: c.Timeout + o.LeaseGrace, poll: poll, log: o.Logger.With("cron_owner", o.Owner)}, nil
}

// defaultOwner names this process: host, process id and a random part, so that a
// restarted process does not take the leases of the one before as its own.
func defaultOwner() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Run runs the spaces' background jobs until ctx is done. Runs under way are stopped
// then and left unrecorded, their leases to expire, as after a crash: what the
// process could not finish, another does. A run that ended as ctx did is recorded.
func (r *Runner) Run(ctx context.Context) error {
	every := r.o.Config.Every
	slots := make(chan struct{}, r.o.Config.Concurrency)
	freed := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	var synced time.Time
	r.log.Info("Cron service started", "every", every, "concurrency", r.o.Config.Concurrency,
		"timeout", r.o.Config.Timeout, "lease", r.lease)
	for {
		now := time.Now()
		if now.Sub(synced) >= every {
			if n, err := models.SyncCronRuns(ctx, r.o.DB, now, every); err != nil {
				r.log.Error("Cron service cannot add new spaces", "error", err)
			} else {
				synced = now
				if n > 0 {
					r.log.Info("Spaces added to the cron service", "spaces", n)
				}
			}
		}
		free := cap(slots) - len(slots)
		claimed := 0
		if free > 0 {
			claims, err := models.ClaimCronRuns(ctx, r.o.DB, r.o.Owner, now, r.lease, free)
			if err != nil && ctx.Err() == nil {
				r.log.Error("Cron service cannot claim spaces", "error", err)
			}
			claimed = len(claims)
			for _, c := range claims {
				slots <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					r.runOne(ctx, c)
					<-slots
					select {
					case freed <- struct{}{}:
					default:
					}
				}()
			}
		}
		if claimed > 0 && claimed == free {
			// Every slot taken: more may be due; look again when one frees.
			select {
			case <-ctx.Done():
				return nil
			case <-freed:
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(r.poll):
		}
	}
}

// runOne runs the claimed space once and records the run, unless ctx ended first.
func (r *Runner) runOne(ctx context.Context, c models.CronClaim) {
	runCtx, cancel := context.WithTimeout(ctx, r.o.Config.Timeout)
	defer cancel()
	start := time.Now()
	err := r.o.Driver.RunCron(runCtx, c.Slug)
	res := models.CronResult{StartedAt: start, Duration: time.Since(start), Outcome: models.CronOK, ExitCode: new(int)}
	if ctx.Err() != nil && err != nil {
		// Cut short by the end of the process: unrecorded, as after a crash; the lease
		// expires and another process runs the space.
		return
	}
	// A run that ended is recorded even if the process is stopping meanwhile, so
	// that nobody runs it again this interval.
	recordCtx, stop := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer stop()
	var exit *nextcloud.ExitError
	switch {
	case err == nil:
	case errors.Is(err, nextcloud.ErrCronSkipped):
		res.Outcome, res.ExitCode = models.CronSkipped, nil
	case runCtx.Err() != nil:
		res.Outcome, res.ExitCode, res.Error = models.CronTimeout, nil, err.Error()
	case errors.As(err, &exit):
		res.Outcome, res.ExitCode, res.Error = models.CronFailed, &exit.ExitCode, err.Error()
	default:
		res.Outcome, res.ExitCode, res.Error = models.CronFailed, nil, err.Error()
	}
	if res.Outcome == models.CronFailed || res.Outcome == models.CronTimeout {
		r.log.Warn("Background jobs of a space failed", "slug", c.Slug, "outcome", res.Outcome, "error", err)
	}
	r.o.Metrics.ObserveCron(res.Outcome, res.StartedAt.Sub(c.DueAt), res.Duration)
	recorded, err := models.FinishCronRun(recordCtx, r.o.DB, r.o.Owner, c, res, time.Now(), r.o.Config.Every)
	if err != nil {
		r.log.Error("Cron run not recorded", "slug", c.Slug, "error", err)
		return
	}
	if !recorded {
		r.log.Warn("Cron run ended after its lease: another process had the space", "slug", c.Slug)
	}
	if r.o.OnRun != nil {
		r.o.OnRun(Run{Slug: c.Slug, DueAt: c.DueAt, CronResult: res, Recorded: recorded})
	}
}
