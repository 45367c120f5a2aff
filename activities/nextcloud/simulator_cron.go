package nextcloud

import (
	"context"
	"fmt"
	"time"
)

// OpRunCron names RunCron in InjectFailure and Calls.
const OpRunCron = "RunCron"

// simCron is what the Simulator knows of the background-job runs. Guarded by s.mu.
type simCron struct {
	duration time.Duration  // how long a run takes (SetCronDuration)
	running  map[string]int // slug → runs under way
	runs     map[string]int // slug → runs finished without error
	overlaps map[string]int // slug → runs started while another run of the space was under way
}

// RunCron implements Driver: it takes the time set by SetCronDuration, without holding
// the Simulator's lock, and counts the run. A run that starts while another run of the
// same space is under way is counted as an overlap (CronOverlaps), which the cron
// service must never cause. With Persist, the space is read again from its state file,
// so that a cron process of its own sees what the worker's process changed.
func (s *Simulator) RunCron(ctx context.Context, slug string) error {
	s.lock()
	if err := s.enter(ctx, OpRunCron, slug); err != nil {
		s.unlock()
		return err
	}
	if s.dir != "" {
		delete(s.spaces, slug)
	}
	sp, err := s.installed(slug)
	if s.dir != "" {
		// Read for this run only: this process may not be the one writing it.
		delete(s.spaces, slug)
	}
	if err != nil {
		s.unlock()
		return err
	}
	switch {
	case sp.CronPaused:
		s.unlock()
		return fmt.Errorf("cron of %s: paused: %w", slug, ErrCronSkipped)
	case sp.Maintenance || sp.Deactivated:
		s.unlock()
		return fmt.Errorf("cron of %s: maintenance: %w", slug, ErrCronSkipped)
	}
	c := &s.cron
	if c.running == nil {
		c.running, c.runs, c.overlaps = map[string]int{}, map[string]int{}, map[string]int{}
	}
	if c.running[slug] > 0 {
		c.overlaps[slug]++
		s.log.ErrorContext(ctx, "nextcloud RunCron: two runs of one space at once", "slug", slug)
	}
	c.running[slug]++
	d := c.duration
	s.unlock()

	if d > 0 {
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-timer.C:
		}
		timer.Stop()
	}

	s.lock()
	defer s.unlock()
	c.running[slug]--
	if err != nil {
		return fmt.Errorf("cron of %s: %w", slug, err)
	}
	c.runs[slug]++
	return nil
}

// SetCronDuration makes every RunCron take d (0: at once), as cron.php takes seconds on
// a busy space; a run cut short by its context fails. It is for tests, demonstrations
// and benchmarks; InjectFailure(slug, OpRunCron, ...) makes runs fail.
func (s *Simulator) SetCronDuration(d time.Duration) {
	s.lock()
	defer s.unlock()
	s.cron.duration = max(d, 0)
}

// CronRuns counts the runs of the space's background jobs that ended without error. It
// is for tests and demonstrations.
func (s *Simulator) CronRuns(slug string) int {
	s.lock()
	defer s.unlock()
	return s.cron.runs[slug]
}

// CronOverlaps counts, over every space, the runs that started while another run of the
// same space was under way. It is for tests and benchmarks.
func (s *Simulator) CronOverlaps() int {
	s.lock()
	defer s.unlock()
	n := 0
	for _, v := range s.cron.overlaps {
		n += v
	}
	return n
}
