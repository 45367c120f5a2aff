package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/activities/nextcloud"
	"jardinier/models"
	"jardinier/models/modeltest"
	"jardinier/worker"
	"jardinier/workflows"
)

// The variables under which the test binary runs as a worker process
// (TestCrashWorkerProcess) for TestWorkerCrashEndToEnd.
const (
	crashWorkerEnv = "JARDINIER_E2E_WORKER"        // the worker's name; empty: not a worker process
	crashConfigEnv = "JARDINIER_E2E_WORKER_CONFIG" // its models.Config, in JSON
	crashMarksEnv  = "JARDINIER_E2E_WORKER_MARKS"  // where it writes down the driver calls it starts
	crashBlockEnv  = "JARDINIER_E2E_WORKER_BLOCK"  // op:slug,...: the calls it never finishes
)

// crashUpgradeTime is how long each `occ upgrade` of the restarted worker takes: the
// T of "a downtime within T + 30 s".
const crashUpgradeTime = 5 * time.Second

// resumeBound is how soon after the restart of a lost worker a step it was running
// must run again, and how much longer than crashUpgradeTime an upgrade interrupted
// that way may keep its space down.
const resumeBound = 30 * time.Second

// TestWorkerCrashEndToEnd kills the worker, as a crash would (SIGKILL: no heartbeat,
// no answer to Temporal), while it deactivates a space, removes another and upgrades
// a third, each stuck in the middle of its driver call; then starts a new worker, and
// checks that every step runs again within resumeBound of the restart, that each
// space ends as it should, and that the upgraded space's downtime stays within
// crashUpgradeTime + resumeBound.
func TestWorkerCrashEndToEnd(t *testing.T) {
	s := startSystem(t)
	s.stopWorker() // the worker processes of this test do the work, nothing else
	ctx := context.Background()
	cfg := s.cfg
	cfg.NextcloudSimDir = t.TempDir() // the worker processes share their spaces there
	cfg.FleetDatabaseURL = modeltest.ServerURL()
	cfg.NextcloudSimUpgradeDuration = crashUpgradeTime
	marks := t.TempDir()

	const deactivated, deleted, upgraded = "velo-ecole", "velo-atelier", "velo-bourse"
	for _, slug := range []string{deactivated, deleted, upgraded} {
		t.Cleanup(func() { _ = s.fleet.Drop(context.Background(), slug) })
	}
	lost := startWorkerProcess(t, "lost", cfg, marks,
		"SetDeactivated:"+deactivated, "Remove:"+deleted, "Upgrade:"+upgraded)
	for _, slug := range []string{deactivated, deleted, upgraded} {
		id := s.submit(slug, "contact@"+slug+".example")
		require.Equal(t, http.StatusOK, s.call("POST", "/api/v1/applications/"+id+"/accept", s.token, map[string]any{}, nil))
	}
	for _, slug := range []string{deactivated, deleted, upgraded} {
		s.waitStatus(slug, models.StatusActive)
	}

	// The moderator's requests wait for steps that will not end with this worker.
	s.callInBackground("POST", "/api/v1/spaces/"+deactivated+"/deactivate", `{"reason": "demande du bureau"}`)
	s.callInBackground("POST", "/api/v1/spaces/"+deleted+"/delete", `{"reason": "dissolution"}`)
	waitMark(t, marks, "lost", "SetDeactivated", deactivated)
	waitMark(t, marks, "lost", "Remove", deleted)
	admin, _, err := models.CreateModerator(ctx, s.db, "dominique", models.RoleAdmin)
	require.NoError(t, err)
	var started struct{ ID string }
	require.Equal(t, http.StatusAccepted, s.call("POST", "/api/v1/upgrades", admin,
		map[string]any{"target": "32.0.0", "canary": 0, "concurrency": 3}, &started))
	waitMark(t, marks, "lost", "Upgrade", upgraded)

	require.NoError(t, lost.Process.Kill())
	_ = lost.Wait()
	time.Sleep(time.Second) // as a supervisor restarts a worker
	restartedAt := time.Now()
	startWorkerProcess(t, "restarted", cfg, marks)

	t.Run("every step the lost worker was running runs again soon after the restart", func(t *testing.T) {
		for _, c := range []struct{ op, slug string }{
			{"SetDeactivated", deactivated}, {"Remove", deleted}, {"Upgrade", upgraded},
		} {
			resumed := waitMarkFor(t, marks, "restarted", c.op, c.slug, restartedAt.Add(resumeBound).Sub(time.Now()))
			t.Logf("%s of %s ran again %.1f s after the restart", c.op, c.slug, resumed.Sub(restartedAt).Seconds())
		}
	})

	t.Run("the spaces end as asked: deactivated, deleted, upgraded", func(t *testing.T) {
		s.waitStatus(deactivated, models.StatusDeactivated)
		s.waitStatus(deleted, models.StatusDeleted)
		sim := nextcloud.NewSimulator(slog.New(slog.DiscardHandler))
		require.NoError(t, sim.Persist(cfg.NextcloudSimDir)) // reads the spaces the worker left
		inst, ok := sim.Instance(deactivated)
		require.True(t, ok)
		assert.True(t, inst.Deactivated, "out of service")
		_, ok = sim.Instance(deleted)
		assert.False(t, ok, "the instance is gone")
		dbExists, roleExists, err := s.fleet.Exists(ctx, deleted)
		require.NoError(t, err)
		assert.False(t, dbExists || roleExists, "database or role left behind")

		var progress struct {
			Status            string
			Upgraded, Skipped int
		}
		require.Eventually(t, func() bool {
			return s.call("GET", "/api/v1/upgrades/"+started.ID, admin, nil, &progress) == http.StatusOK && progress.Status == "done"
		}, time.Minute, 200*time.Millisecond, "the fleet upgrade did not end: %+v", progress)
		assert.Equal(t, 1, progress.Upgraded, "%+v", progress)
		inst, ok = sim.Instance(upgraded)
		require.True(t, ok)
		assert.Equal(t, "32.0.0", inst.Version)
		assert.False(t, inst.Maintenance, "back in service")
	})

	t.Run("the interrupted upgrade kept its space down at most T + 30 s", func(t *testing.T) {
		var list struct {
			Items []struct {
				Slug            string
				Status          string
				DowntimeSeconds float64 `json:"downtime_seconds"`
			}
		}
		require.Equal(t, http.StatusOK, s.call("GET", "/api/v1/upgrades/"+started.ID+"/spaces", admin, nil, &list))
		found := false
		for _, it := range list.Items {
			if it.Slug == upgraded {
				found = true
				assert.Equal(t, workflows.SpaceUpgraded, it.Status)
				downtime := time.Duration(it.DowntimeSeconds * float64(time.Second))
				t.Logf("downtime of %s: %.1f s, of which %s of occ upgrade", upgraded, it.DowntimeSeconds, crashUpgradeTime)
				assert.LessOrEqual(t, downtime, crashUpgradeTime+resumeBound)
				assert.GreaterOrEqual(t, downtime, crashUpgradeTime, "the upgrade really ran again")
			}
		}
		assert.True(t, found, "%+v", list)
	})

	// RECORD_HISTORIES=dir keeps what this test ran, for the replay test: an upgrade
	// whose short steps are local activities, its occ upgrade run again on another
	// worker.
	if dir := os.Getenv("RECORD_HISTORIES"); dir != "" {
		time.Sleep(3 * time.Second) // the steps after the upgrade, once in service
		s.recordHistories(dir, "v6-upgraded-after-worker-loss", workflows.SpaceWorkflowID(upgraded))
		s.recordHistories(dir, "v6-fleet-upgrade", workflows.UpgradeWorkflowID(started.ID))
	}
}

// callInBackground sends a moderator's request to the API without waiting for its
// answer.
func (s *system) callInBackground(method, path, body string) {
	req, err := http.NewRequest(method, s.api.URL+path, strings.NewReader(body))
	require.NoError(s.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.token)
	go func() {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
}

// startWorkerProcess runs the test binary as a worker process named name
// (TestCrashWorkerProcess) on cfg, that never finishes the driver calls block names
// (op:slug). It is killed at the end of the test; its log is shown if the test fails.
func startWorkerProcess(t *testing.T, name string, cfg models.Config, marks string, block ...string) *exec.Cmd {
	t.Helper()
	raw, err := json.Marshal(cfg)
	require.NoError(t, err)
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashWorkerProcess$", "-test.timeout=0")
	cmd.Env = append(os.Environ(), crashWorkerEnv+"="+name, crashConfigEnv+"="+string(raw),
		crashMarksEnv+"="+marks, crashBlockEnv+"="+strings.Join(block, ","))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
		if t.Failed() {
			out, _ := os.ReadFile(logPath)
			t.Logf("log of worker %s:\n%s", name, out)
		}
	})
	return cmd
}

// waitMark waits until worker has started the driver call op on slug.
func waitMark(t *testing.T, marks, worker, op, slug string) time.Time {
	t.Helper()
	return waitMarkFor(t, marks, worker, op, slug, time.Minute)
}

// waitMarkFor is waitMark with a deadline of its own, and returns when the call started.
func waitMarkFor(t *testing.T, marks, worker, op, slug string, within time.Duration) time.Time {
	t.Helper()
	var at time.Time
	require.Eventually(t, func() bool {
		raw, err := os.ReadFile(filepath.Join(marks, worker+"-"+op+"-"+slug))
		if err != nil {
			return false
		}
		at, err = time.Parse(time.RFC3339Nano, string(raw))
		return err == nil
	}, max(within, 0), 100*time.Millisecond, "worker %s did not start %s of %s", worker, op, slug)
	return at
}

// TestCrashWorkerProcess is the worker process of TestWorkerCrashEndToEnd; it is
// skipped otherwise. It runs the worker until it is killed.
func TestCrashWorkerProcess(t *testing.T) {
	name := os.Getenv(crashWorkerEnv)
	if name == "" {
		t.Skip("the worker process of TestWorkerCrashEndToEnd")
	}
	var cfg models.Config
	require.NoError(t, json.Unmarshal([]byte(os.Getenv(crashConfigEnv)), &cfg))
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx := context.Background()
	db, err := models.OpenDB(ctx, cfg.DatabaseURL, logger)
	require.NoError(t, err)
	c, err := workflows.Dial(ctx, cfg, logger)
	require.NoError(t, err)
	driver, err := worker.NewNextcloudDriver(cfg, logger)
	require.NoError(t, err)
	d := &crashDriver{Driver: driver, worker: name, marks: os.Getenv(crashMarksEnv), block: map[string]bool{}}
	for _, b := range strings.Split(os.Getenv(crashBlockEnv), ",") {
		if b != "" {
			d.block[b] = true
		}
	}
	w, err := worker.New(worker.Options{Config: cfg, DB: db, Client: c, Logger: logger, Nextcloud: d})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	select {} // until killed
}

// crashDriver writes down when the worker starts each call of the driver that the
// test watches, and never finishes those it must block: the worker is then stuck in
// the middle of them, as a crash would find it.
type crashDriver struct {
	nextcloud.Driver
	worker, marks string
	block         map[string]bool // op:slug
}

// watch marks the first call of op on slug, and blocks it for good if it must.
func (d *crashDriver) watch(op, slug string) {
	f, err := os.OpenFile(filepath.Join(d.marks, d.worker+"-"+op+"-"+slug), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		_, _ = f.WriteString(time.Now().Format(time.RFC3339Nano))
		f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		panic(err)
	}
	if d.block[op+":"+slug] {
		select {}
	}
}

func (d *crashDriver) SetDeactivated(ctx context.Context, slug string, deactivated bool) error {
	d.watch("SetDeactivated", slug)
	return d.Driver.SetDeactivated(ctx, slug, deactivated)
}

func (d *crashDriver) Remove(ctx context.Context, slug string) error {
	d.watch("Remove", slug)
	return d.Driver.Remove(ctx, slug)
}

func (d *crashDriver) Upgrade(ctx context.Context, slug, target string) error {
	d.watch("Upgrade", slug)
	return d.Driver.Upgrade(ctx, slug, target)
}
