// Package bench measures the whole system on one machine, for `jardinier bench-*`: it
// starts the same stack as `make dev` (Temporal development server, MinIO, PostgreSQL,
// the worker and the API as separate processes, Nextcloud simulated) in a state
// directory of its own, drives the worker and the API as their users do, and reports
// one line of figures. It lives beside the worker it loads; it imports neither the
// worker nor the API, which run as processes.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"jardinier/deploy/devstack"
	"jardinier/models"
	"jardinier/workflows"
)

// ProvisionOptions configure a provisioning run.
type ProvisionOptions struct {
	Config      models.Config // DatabaseURL names the server; the run uses its own database on it
	Spaces      int           // applications submitted and accepted
	Concurrency int           // HTTP clients at once
	Cluster     bool          // on the real Temporal server (deploy/cluster), not the development server
	Output      io.Writer     // progress and the final line
	Logger      *slog.Logger
}

// ProvisionReport is what a provisioning run measured.
type ProvisionReport struct {
	Spaces            int
	Wall              time.Duration // first submission to last space active
	AcceptToActiveP50 time.Duration
	AcceptToActiveP95 time.Duration
	WorkerRSSMB       int64 // the worker process's peak resident memory
	Floor             Floor
}

// String is the report's one line.
func (r ProvisionReport) String() string {
	return fmt.Sprintf("provision: spaces=%d wall=%.1fs throughput=%.1f/min accept_to_active_p50=%.2fs p95=%.2fs worker_rss=%dMB %s",
		r.Spaces, r.Wall.Seconds(), float64(r.Spaces)/r.Wall.Minutes(), r.AcceptToActiveP50.Seconds(),
		r.AcceptToActiveP95.Seconds(), r.WorkerRSSMB, r.Floor)
}

// Provision submits and accepts o.Spaces applications through the API of a fresh stack
// and waits until every space is active.
func Provision(ctx context.Context, o ProvisionOptions) (ProvisionReport, error) {
	// The mails go to files: at the default MAIL_RATE of 5 a second, the receipts and
	// acceptance mails of 1,000 spaces alone would take 400 s (bench-mail measures the
	// lane).
	stack, cleanup, err := startRunStack(ctx, o.Config, "provision", true, o.Cluster, o.Logger, "MAIL_RATE=1000")
	if err != nil {
		return ProvisionReport{}, err
	}
	defer cleanup()
	cfg := stack.Config
	db, err := models.OpenDB(ctx, cfg.DatabaseURL, o.Logger)
	if err != nil {
		return ProvisionReport{}, err
	}
	token, _, err := models.CreateModerator(ctx, db, "bench", models.RoleModerator)
	if err != nil {
		return ProvisionReport{}, err
	}
	c, err := workflows.Dial(ctx, cfg, o.Logger)
	if err != nil {
		return ProvisionReport{}, err
	}
	defer c.Close()
	floor, err := MeasureFloor(ctx, c)
	if err != nil {
		return ProvisionReport{}, err
	}
	if o.Cluster {
		floor.Server = "cluster"
	}
	base := "http://" + cfg.APIAddr + "/api/v1"
	httpc := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: o.Concurrency}}

	fmt.Fprintf(o.Output, "bench: submitting and accepting %d applications with %d clients\n", o.Spaces, o.Concurrency)
	start := time.Now()
	slugs := make([]int, o.Spaces)
	for i := range slugs {
		slugs[i] = i
	}
	if err := parallel(ctx, o.Concurrency, slugs, func(i int) error {
		return submitAndAccept(ctx, httpc, base, token, i)
	}); err != nil {
		return ProvisionReport{}, fmt.Errorf("applications: %w", err)
	}
	fmt.Fprintf(o.Output, "bench: all accepted after %.1fs, waiting for the spaces to be active\n", time.Since(start).Seconds())

	for {
		var active int64
		if err := db.WithContext(ctx).Model(&models.Space{}).Where("status = ?", models.StatusActive).Count(&active).Error; err != nil {
			return ProvisionReport{}, err
		}
		if int(active) == o.Spaces {
			break
		}
		var stuck int64
		db.WithContext(ctx).Model(&models.Space{}).Where("status = ?", models.StatusProvisioningFailed).Count(&stuck)
		if stuck > 0 {
			return ProvisionReport{}, fmt.Errorf("%d spaces failed to provision", stuck)
		}
		select {
		case <-ctx.Done():
			return ProvisionReport{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	r := ProvisionReport{Spaces: o.Spaces, Floor: floor}
	var last time.Time
	var spaces []models.Space
	if err := db.WithContext(ctx).Find(&spaces).Error; err != nil {
		return r, err
	}
	latencies := make([]time.Duration, 0, len(spaces))
	for _, sp := range spaces {
		latencies = append(latencies, sp.ProvisionedAt.Sub(*sp.DecidedAt))
		if sp.ProvisionedAt.After(last) {
			last = *sp.ProvisionedAt
		}
	}
	r.Wall = last.Sub(start)
	r.AcceptToActiveP50, r.AcceptToActiveP95 = models.Percentile(latencies, 50), models.Percentile(latencies, 95)
	r.WorkerRSSMB = PeakRSSMB(stack.Worker.Pid())
	r.Floor.EventsPerSpace, err = EventsPerSpace(ctx, c, sampleIDs(o.Spaces, 20, func(i int) string {
		return workflows.SpaceWorkflowID(fmt.Sprintf("bench-%05d", i))
	}), nil, o.Spaces)
	return r, err
}

func submitAndAccept(ctx context.Context, c *http.Client, base, token string, i int) error {
	slug := fmt.Sprintf("bench-%05d", i)
	var created struct{ ID string }
	if err := post(ctx, c, base+"/applications", "", map[string]any{
		"organization_name": "Association " + slug, "organization_type": "association_1901",
		"sectors": []string{"culture", "social"}, "founded_year": 2015, "employees": 1, "members": 30,
		"beneficiaries": 200, "mission": "Mission de l'association.", "actions": "Actions menées.",
		"needs": "Partager des documents.", "slug": slug, "accounts_needed": 5, "office_suite": "collabora",
		"contact_email": slug + "@example.org", "works_in_french": true, "storage_needed_gb": 5, "terms_accepted": true,
	}, http.StatusCreated, &created); err != nil {
		return fmt.Errorf("submit %s: %w", slug, err)
	}
	if err := post(ctx, c, base+"/applications/"+created.ID+"/accept", token, nil, http.StatusOK, nil); err != nil {
		return fmt.Errorf("accept %s: %w", slug, err)
	}
	return nil
}

func post(ctx context.Context, c *http.Client, url, token string, body any, want int, out any) error {
	var r io.Reader = http.NoBody
	if body != nil {
		raw, _ := json.Marshal(body)
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, "POST", url, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// startStack starts a stack on free ports, a fresh state directory under .dev/ and a
// fresh database, both removed by cleanup. With persistent the development server
// keeps its store on disk, as in make dev; else in memory, for runs whose millions of
// events would otherwise wait on the disk.
func startStack(ctx context.Context, cfg models.Config, name string, persistent bool, log *slog.Logger, env ...string) (*devstack.Stack, func(), error) {
	root, err := devstack.RepoRoot()
	if err != nil {
		return nil, nil, err
	}
	tc, err := devstack.LoadTemporalConfig(filepath.Join(root, devstack.TemporalConfigFile))
	if err != nil {
		return nil, nil, err
	}
	stateDir := filepath.Join(root, ".dev", "bench-"+name)
	if err := os.RemoveAll(stateDir); err != nil {
		return nil, nil, err
	}
	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = devstack.FreePort(); err != nil {
			return nil, nil, err
		}
	}
	tc.Port, tc.UIPort, tc.DBFilename = ports[0], 0, ""
	if persistent {
		tc.DBFilename = filepath.Join(stateDir, "temporal.db")
	}
	cfg.S3Endpoint = "127.0.0.1:" + strconv.Itoa(ports[1])
	cfg.APIAddr = "127.0.0.1:" + strconv.Itoa(ports[2])
	cfg.MailDir = filepath.Join(stateDir, "mail")
	dbName := "jardinier_bench_" + name
	if cfg.DatabaseURL, err = recreateDatabase(cfg.DatabaseURL, dbName); err != nil {
		return nil, nil, err
	}
	stack, err := devstack.StartStack(ctx, devstack.StackOptions{Config: cfg, StateDir: stateDir, Temporal: tc,
		Env: append([]string{"SUBMIT_RATE=100000000"}, env...), Output: logOnly(stateDir), Logger: log})
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() {
		stack.Stop()
		os.RemoveAll(stateDir)
		dropDatabase(cfg.DatabaseURL, dbName)
	}
	return stack, cleanup, nil
}

// logOnly sends the processes' output to a file of the state directory, so that the
// figures stay readable.
func logOnly(dir string) io.Writer {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil
	}
	f, err := os.Create(filepath.Join(dir, "stack.log"))
	if err != nil {
		return nil
	}
	return f
}

func adminDB(dsn string) (*gorm.DB, *url.URL, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	admin := *u
	admin.Path = "/postgres"
	db, err := gorm.Open(postgres.Open(admin.String()), &gorm.Config{Logger: logger.Discard})
	return db, u, err
}

func recreateDatabase(dsn, name string) (string, error) {
	db, u, err := adminDB(dsn)
	if err != nil {
		return "", err
	}
	defer closeDB(db)
	if err := db.Exec(`DROP DATABASE IF EXISTS "` + name + `" WITH (FORCE)`).Error; err != nil {
		return "", fmt.Errorf("drop bench database: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil // OpenDB creates it
}

func dropDatabase(dsn, name string) {
	if db, _, err := adminDB(dsn); err == nil {
		db.Exec(`DROP DATABASE IF EXISTS "` + name + `" WITH (FORCE)`)
		closeDB(db)
	}
}

func closeDB(db *gorm.DB) {
	if sqlDB, err := db.DB(); err == nil {
		sqlDB.Close()
	}
}

// PeakRSSMB reads a process's peak resident memory (VmHWM) in MB; 0 if unknown.
func PeakRSSMB(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb / 1024
		}
	}
	return 0
}

// cpuSeconds is the CPU time (user and system) the processes have used so far: pids,
// and every process named comm when comm is not "" (PostgreSQL's backends). A process
// that ended counts nothing.
func cpuSeconds(comm string, pids ...int) float64 {
	if comm != "" {
		dirs, _ := os.ReadDir("/proc")
		for _, d := range dirs {
			pid, err := strconv.Atoi(d.Name())
			if err != nil {
				continue
			}
			if name, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && strings.TrimSpace(string(name)) == comm {
				pids = append(pids, pid)
			}
		}
	}
	var ticks int64
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The fields after the command's name, which is in parentheses: utime and
		// stime are the 12th and 13th of them.
		fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
		if len(fields) > 12 {
			u, _ := strconv.ParseInt(fields[11], 10, 64)
			s, _ := strconv.ParseInt(fields[12], 10, 64)
			ticks += u + s
		}
	}
	return float64(ticks) / 100 // USER_HZ, 100 on Linux
}
