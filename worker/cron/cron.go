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
	"slices"
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
//
// One loop talks to the database: each turn records every run that ended since the
// last and claims as many due spaces as there are free slots, in one statement
// (models.RecordAndClaimCronRuns). A slot is free as soon as its run ends; the space
// stays leased until its run is recorded, so it is never claimed meanwhile. At 10,000
// spaces a process ends and starts about 30 runs a second: a statement per run and a
// slot held while its run was written would cost each run a round trip and a commit
// or two, which adds up to minutes of lag per interval on a busy database server.
func (r *Runner) Run(ctx context.Context) error {
	every := r.o.Config.Every
	slots := r.o.Config.Concurrency
	done := make(chan ended, slots)
	var wg sync.WaitGroup
	var synced time.Time
	var finished []ended
	running := 0
	r.log.Info("Cron service started", "every", every, "concurrency", slots,
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
		// The leases start now, not before the sync: they bound the runs (runOne).
		claims, err := r.recordAndClaim(ctx, finished, time.Now(), slots-running)
		if err == nil {
			finished = finished[:0]
		} else if ctx.Err() == nil {
			// The runs stay to record at the next turn; their leases hold meanwhile.
			r.log.Error("Cron service cannot record and claim spaces", "error", err)
		}
		for _, c := range claims {
			running++
			wg.Add(1)
			go func() {
				defer wg.Done()
				done <- r.runOne(ctx, c)
			}()
		}
		// Every slot taken: nothing to do until a run ends. Otherwise look again at the
		// next poll, or as soon as a run ends.
		var wait <-chan time.Time
		if running < slots || len(finished) > 0 {
			wait = time.After(r.poll)
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			close(done)
			for e := range done {
				finished = append(finished, e)
			}
			r.flush(ctx, finished)
			return nil
		case e := <-done:
			running--
			finished = append(finished, e)
			// Take every run that ended meanwhile: they are recorded together.
			for more := true; more; {
				select {
				case e := <-done:
					running--
					finished = append(finished, e)
				default:
					more = false
				}
			}
		case <-wait:
		}
		// Runs cut short by the end of the process are not recorded (see runOne).
		finished = slices.DeleteFunc(finished, func(e ended) bool { return e.cut })
	}
}

// ended is a run that is over: recorded unless cut short by the end of the process.
type ended struct {
	claim models.CronClaim
	res   models.CronResult
	cut   bool
}

// recordAndClaim records the runs that ended and claims at most free due spaces, then
// tells OnRun of the recorded runs.
func (r *Runner) recordAndClaim(ctx context.Context, finished []ended, now time.Time, free int) ([]models.CronClaim, error) {
	if len(finished) == 0 && free <= 0 {
		return nil, nil
	}
	runs := make([]models.CronFinished, len(finished))
	for i, e := range finished {
		runs[i] = models.CronFinished{Claim: e.claim, Result: e.res}
	}
	batch, err := models.RecordAndClaimCronRuns(ctx, r.o.DB, r.o.Owner, runs, now, r.lease, r.o.Config.Every, free)
	if err != nil {
		return nil, err
	}
	r.told(finished, batch.Recorded)
	slices.SortFunc(batch.Claims, func(a, b models.CronClaim) int { return a.DueAt.Compare(b.DueAt) })
	return batch.Claims, nil
}

// flush records the runs that ended as the process stops, so that nobody runs them
// again this interval.
func (r *Runner) flush(ctx context.Context, finished []ended) {
	finished = slices.DeleteFunc(finished, func(e ended) bool { return e.cut })
	if len(finished) == 0 {
		return
	}
	recordCtx, stop := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer stop()
	if _, err := r.recordAndClaim(recordCtx, finished, time.Now(), 0); err != nil {
		r.log.Error("Cron runs not recorded", "runs", len(finished), "error", err)
	}
}

// told logs the runs whose lease had expired and calls OnRun for every recorded one.
func (r *Runner) told(finished []ended, recorded map[uint]bool) {
	for _, e := range finished {
		ok := recorded[e.claim.SpaceID]
		if !ok {
			r.log.Warn("Cron run ended after its lease: another process had the space", "slug", e.claim.Slug)
		}
		if r.o.OnRun != nil {
			r.o.OnRun(Run{Slug: e.claim.Slug, DueAt: e.claim.DueAt, CronResult: e.res, Recorded: ok})
		}
	}
}

// runOne runs the claimed space once and says what it did; cut is set when the end of
// the process stopped it, which leaves it unrecorded.
func (r *Runner) runOne(ctx context.Context, c models.CronClaim) ended {
	start := time.Now()
	// The run ends within its timeout, and in any case a grace before its lease does,
	// however long the claim took to come back: no other process starts the space
	// before the lease ends, so two runs of a space never overlap.
	deadline := start.Add(r.o.Config.Timeout)
	if end := c.LeaseUntil.Add(-r.o.LeaseGrace); !c.LeaseUntil.IsZero() && end.Before(deadline) {
		deadline = end
	}
	if !deadline.After(start) {
		r.log.Warn("Cron lease too short to run the space: left to the next claim", "slug", c.Slug)
		return ended{claim: c, cut: true}
	}
	runCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	err := r.o.Driver.RunCron(runCtx, c.Slug)
	res := models.CronResult{StartedAt: start, Duration: time.Since(start), Outcome: models.CronOK, ExitCode: new(int)}
	if ctx.Err() != nil && err != nil {
		// Cut short by the end of the process: unrecorded, as after a crash; the lease
		// expires and another process runs the space.
		return ended{claim: c, cut: true}
	}
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
	return ended{claim: c, res: res}
}
