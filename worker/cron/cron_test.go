package cron_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"jardinier/activities/nextcloud"
	"jardinier/models"
	"jardinier/models/modeltest"
	"jardinier/worker/cron"
)

// fleet is a database of spaces and the simulator holding their instances.
type fleet struct {
	db  *gorm.DB
	sim *nextcloud.Simulator
}

// newFleet makes n active spaces, installed on a simulator whose runs take runFor.
func newFleet(t *testing.T, n int, runFor time.Duration) fleet {
	t.Helper()
	ctx := context.Background()
	f := fleet{db: modeltest.NewDB(t), sim: nextcloud.NewSimulator(slog.New(slog.DiscardHandler))}
	f.sim.SetCronDuration(runFor)
	provisioned := time.Now().Add(-time.Hour)
	for i := range n {
		slug := fmt.Sprintf("asso-%03d", i)
		f.addSpace(t, slug, models.StatusActive, provisioned)
		require.NoError(t, f.sim.CreateDatabase(ctx, slug))
		require.NoError(t, f.sim.Install(ctx, nextcloud.InstallSpec{Slug: slug, Domain: slug + ".example",
			Version: "31.0.9", Bucket: "space-" + slug}))
	}
	return f
}

func (f fleet) addSpace(t *testing.T, slug string, status models.Status, provisioned time.Time) models.Space {
	t.Helper()
	sp := models.Space{Slug: slug, Status: status, OfficeSuite: models.OfficeNone, SubmittedAt: provisioned,
		ProvisionedAt: &provisioned}
	require.NoError(t, f.db.Create(&sp).Error)
	return sp
}

// runs collects the runs of every runner.
type runs struct {
	mu   sync.Mutex
	list []cron.Run
}

func (r *runs) add(run cron.Run) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, run)
}

func (r *runs) bySlug() map[string][]cron.Run {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string][]cron.Run{}
	for _, run := range r.list {
		m[run.Slug] = append(m[run.Slug], run)
	}
	return m
}

func (f fleet) start(t *testing.T, ctx context.Context, owner string, cfg models.CronConfig, seen *runs) <-chan error {
	t.Helper()
	r, err := cron.New(cron.Options{DB: f.db, Driver: f.sim, Config: cfg, Owner: owner,
		LeaseGrace: 300 * time.Millisecond, Logger: slog.New(slog.DiscardHandler), OnRun: seen.add})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return done
}

func TestTwoRunnersShareTheFleet(t *testing.T) {
	const spaces = 40
	every := time.Second
	cfg := models.CronConfig{Every: every, Concurrency: 8, Timeout: 400 * time.Millisecond}
	f := newFleet(t, spaces, 150*time.Millisecond)
	var seen runs
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	killCtx, kill := context.WithCancel(ctx)
	doneA := f.start(t, killCtx, "runner-a", cfg, &seen)
	doneB := f.start(t, ctx, "runner-b", cfg, &seen)

	time.Sleep(2500 * time.Millisecond)
	// Runner A dies: its runs under way stop, its leases stay until they expire.
	kill()
	require.NoError(t, <-doneA)
	killedAt := time.Now()
	time.Sleep(4 * time.Second)
	cancel()
	require.NoError(t, <-doneB)

	t.Run("no space ran twice at once", func(t *testing.T) {
		assert.Zero(t, f.sim.CronOverlaps())
	})
	t.Run("every space ran once per interval, none skipped nor repeated", func(t *testing.T) {
		by := seen.bySlug()
		require.Len(t, by, spaces)
		for slug, list := range by {
			slices.SortFunc(list, func(a, b cron.Run) int { return a.DueAt.Compare(b.DueAt) })
			for i := 1; i < len(list); i++ {
				assert.Equal(t, every, list[i].DueAt.Sub(list[i-1].DueAt), "%s: runs %d and %d", slug, i-1, i)
			}
			// About six intervals from the first due time to the end.
			assert.GreaterOrEqual(t, len(list), 5, slug)
			assert.Equal(t, len(list), f.sim.CronRuns(slug), "%s: every successful run recorded once", slug)
		}
	})
	t.Run("the killed runner's spaces are taken over", func(t *testing.T) {
		for slug, list := range seen.bySlug() {
			last := list[len(list)-1]
			assert.Equal(t, models.CronOK, last.Outcome, slug)
			assert.True(t, last.StartedAt.After(killedAt.Add(2*time.Second)), "%s ran last at %s", slug, last.StartedAt)
		}
	})
	t.Run("each space's last run is recorded and its lease freed", func(t *testing.T) {
		var rows []models.CronRun
		require.NoError(t, f.db.Find(&rows).Error)
		require.Len(t, rows, spaces)
		for _, row := range rows {
			if row.LeaseOwner != "" {
				// Runner B stopped with runs under way; A's leases all expired and were taken.
				assert.Equal(t, "runner-b", row.LeaseOwner, row.Slug)
				continue
			}
			assert.Equal(t, models.CronOK, row.LastOutcome, row.Slug)
			require.NotNil(t, row.LastExitCode, row.Slug)
			assert.Zero(t, *row.LastExitCode, row.Slug)
			assert.GreaterOrEqual(t, row.LastDurationMS, int64(150), row.Slug)
			assert.Nil(t, row.LeaseUntil, row.Slug)
		}
	})
}

func TestRunnerRecordsFailuresAndSkips(t *testing.T) {
	every := 500 * time.Millisecond
	cfg := models.CronConfig{Every: every, Concurrency: 4, Timeout: 200 * time.Millisecond}
	f := newFleet(t, 3, 0)
	ctx := context.Background()
	f.sim.InjectFailure("asso-000", nextcloud.OpRunCron, nextcloud.Failure{Err: fmt.Errorf("cron.php: exit code 255")})
	require.NoError(t, f.sim.SetCron(ctx, "asso-001", false))
	f.addSpace(t, "asso-off", models.StatusDeactivated, time.Now().Add(-time.Hour))
	var seen runs
	runCtx, cancel := context.WithCancel(ctx)
	done := f.start(t, runCtx, "runner", cfg, &seen)
	time.Sleep(1500 * time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	rows := map[string]models.CronRun{}
	var list []models.CronRun
	require.NoError(t, f.db.Find(&list).Error)
	for _, r := range list {
		rows[r.Slug] = r
	}
	t.Run("a failed run is recorded with its error", func(t *testing.T) {
		r := rows["asso-000"]
		assert.Equal(t, models.CronFailed, r.LastOutcome)
		assert.Contains(t, r.LastError, "exit code 255")
		assert.Nil(t, r.LastOKAt)
		assert.True(t, r.Late(time.Now().Add(-time.Hour), time.Now(), every))
	})
	t.Run("a space paused for an upgrade is skipped, nothing runs", func(t *testing.T) {
		assert.Equal(t, models.CronSkipped, rows["asso-001"].LastOutcome)
		assert.Zero(t, f.sim.CronRuns("asso-001"))
	})
	t.Run("a space in service runs", func(t *testing.T) {
		r := rows["asso-002"]
		assert.Equal(t, models.CronOK, r.LastOutcome)
		assert.False(t, r.Late(time.Now().Add(-time.Hour), time.Now(), every))
	})
	t.Run("a deactivated space is not run", func(t *testing.T) {
		_, ok := rows["asso-off"]
		assert.False(t, ok)
	})
	t.Run("the moderators' list holds the failed and the skipped spaces", func(t *testing.T) {
		since := models.CronLateSince(time.Now(), every)
		var late []string
		require.NoError(t, f.db.Model(&models.Space{}).Where(models.CronLateCondition, since, since).
			Order("slug").Pluck("slug", &late).Error)
		assert.Equal(t, []string{"asso-000", "asso-001"}, late)
	})
}
