package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.temporal.io/sdk/client"

	"jardinier/activities/nextcloud"
	"jardinier/models"
	"jardinier/workflows"
)

// UpgradeOptions configure an upgrade run.
type UpgradeOptions struct {
	Config      models.Config
	Spaces      int           // spaces upgraded
	Concurrency int           // spaces upgrading at once
	OCC         time.Duration // how long the simulated `occ upgrade` of one space takes
	Profile     string        // a directory for the worker's CPU and heap profiles; "" for none
	Cluster     bool          // on the real Temporal server (deploy/cluster), not the development server
	Output      io.Writer
	Logger      *slog.Logger
}

// UpgradeReport is what an upgrade run measured.
type UpgradeReport struct {
	Spaces       int
	Concurrency  int
	OCC          time.Duration
	Wall         time.Duration // from the start of the fleet upgrade to its end
	DowntimeP50  time.Duration
	DowntimeP95  time.Duration
	Upgraded     int
	Failed       int
	SpaceStartup time.Duration // time to bring the spaces under watch first (not in Wall)
	// The CPU seconds the worker, the Temporal server and PostgreSQL used during the
	// upgrade: what the 2 × Wall seconds of two cores went to.
	WorkerCPU, ServerCPU, PostgresCPU float64
	Floor                             Floor
}

// Ideal is the wall time if nothing but `occ upgrade` took time: N·T/C.
func (r UpgradeReport) Ideal() time.Duration {
	return time.Duration(float64(r.OCC) * float64(r.Spaces) / float64(r.Concurrency))
}

// String is the report's one line.
func (r UpgradeReport) String() string {
	ideal := r.Ideal()
	overhead := time.Duration(float64(r.Wall)*float64(r.Concurrency)/float64(r.Spaces)) - r.OCC
	return fmt.Sprintf("upgrade: spaces=%d concurrency=%d occ=%gs wall=%.1fs ideal=%.1fs ratio=%.2f overhead_per_space=%.2fs downtime_p50=%.2fs downtime_p95=%.2fs worker_cpu=%.0fs server_cpu=%.0fs postgres_cpu=%.0fs %s",
		r.Spaces, r.Concurrency, r.OCC.Seconds(), r.Wall.Seconds(), ideal.Seconds(), r.Wall.Seconds()/ideal.Seconds(),
		overhead.Seconds(), r.DowntimeP50.Seconds(), r.DowntimeP95.Seconds(), r.WorkerCPU, r.ServerCPU, r.PostgresCPU, r.Floor)
}

// benchFrom and benchTo are the versions the run upgrades between.
const (
	benchFrom = "31.0.9"
	benchTo   = "32.0.0"
)

// Upgrade brings o.Spaces simulated spaces under watch, then upgrades them all through
// a fleet upgrade on the real worker, each `occ upgrade` taking o.OCC.
func Upgrade(ctx context.Context, o UpgradeOptions) (UpgradeReport, error) {
	cfg := o.Config
	cfg.NextcloudVersion = benchFrom
	// About 70 history events per space: the store stays in memory.
	env := []string{"NEXTCLOUD_SIM_UPGRADE_DURATION=" + o.OCC.String(), "NEXTCLOUD_VERSION=" + benchFrom,
		"METRICS_PPROF=" + strconv.FormatBool(o.Profile != "")}
	stack, cleanup, err := startRunStack(ctx, cfg, "upgrade", false, o.Cluster, o.Logger, env...)
	if err != nil {
		return UpgradeReport{}, err
	}
	defer cleanup()
	cfg = stack.Config
	db, c, err := workflows.Connect(ctx, cfg, o.Logger)
	if err != nil {
		return UpgradeReport{}, err
	}
	defer c.Close()
	floor, err := MeasureFloor(ctx, c)
	if err != nil {
		return UpgradeReport{}, err
	}
	if o.Cluster {
		floor.Server = "cluster"
	}

	// The worker's simulator reads each space's state from its directory when it first
	// meets the space: write the installed instances there.
	sim := nextcloud.NewSimulator(slog.New(slog.DiscardHandler))
	if err := sim.Persist(filepath.Join(stack.StateDir, "nextcloud-sim")); err != nil {
		return UpgradeReport{}, err
	}
	start := time.Now()
	if err := watchSpaces(ctx, db, c, cfg, o.Spaces, 32, o.Output, func(slug string) error {
		if err := sim.CreateDatabase(ctx, slug); err != nil {
			return err
		}
		return sim.Install(ctx, nextcloud.InstallSpec{Slug: slug, Domain: slug + "." + cfg.BaseDomain,
			Version: benchFrom, Bucket: cfg.BucketPrefix + slug, AdminUser: workflows.AdminUser})
	}); err != nil {
		return UpgradeReport{}, err
	}
	r := UpgradeReport{Spaces: o.Spaces, Concurrency: o.Concurrency, OCC: o.OCC, SpaceStartup: time.Since(start), Floor: floor}

	fmt.Fprintf(o.Output, "bench: upgrading %d spaces from %s to %s, %d at once, occ upgrade %s each\n",
		o.Spaces, benchFrom, benchTo, o.Concurrency, o.OCC)
	id := fmt.Sprintf("bench-%d", time.Now().Unix())
	start = time.Now()
	workerCPU, serverCPU, postgresCPU := cpuSeconds("", stack.Worker.Pid()), cpuSeconds("", stack.Temporal.Pid()), cpuSeconds("postgres")
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.UpgradeWorkflowID(id), TaskQueue: workflows.TaskQueue},
		workflows.FleetUpgradeWorkflow, workflows.FleetUpgradeInput{ID: id, Target: benchTo, Concurrency: o.Concurrency,
			MaxFailureRatio: 1, Requester: "bench"})
	if err != nil {
		return r, fmt.Errorf("start fleet upgrade: %w", err)
	}
	profiled := make(chan error, 1)
	if o.Profile != "" {
		// The middle of the run, where the fleet is in its stride.
		go func() { profiled <- profileWorker(ctx, stack.WorkerMetrics, o.Profile, r.Ideal()) }()
	}
	var p workflows.UpgradeProgress
	if err := run.Get(ctx, &p); err != nil {
		return r, fmt.Errorf("fleet upgrade: %w", err)
	}
	r.Wall = time.Since(start)
	r.WorkerCPU = cpuSeconds("", stack.Worker.Pid()) - workerCPU
	r.ServerCPU = cpuSeconds("", stack.Temporal.Pid()) - serverCPU
	r.PostgresCPU = cpuSeconds("postgres") - postgresCPU
	if o.Profile != "" {
		if err := <-profiled; err != nil {
			return r, err
		}
		fmt.Fprintf(o.Output, "bench: worker profiles in %s (go tool pprof -top %s)\n", o.Profile,
			filepath.Join(o.Profile, "worker-cpu.pprof"))
	}
	r.DowntimeP50, r.DowntimeP95, r.Upgraded, r.Failed = p.DowntimeP50, p.DowntimeP95, p.Upgraded, p.Failed
	if p.Upgraded != o.Spaces {
		return r, fmt.Errorf("fleet upgrade ended %s with %d upgraded, %d failed, %d skipped of %d",
			p.Status, p.Upgraded, p.Failed, p.Skipped, o.Spaces)
	}
	r.Floor.EventsPerSpace, err = EventsPerSpace(ctx, c, watchedSample(o.Spaces), []string{workflows.UpgradeWorkflowID(id)}, o.Spaces)
	return r, err
}

// profileWorker writes the worker's CPU profile of the middle half of a run expected
// to last about ideal, then its heap profile, to dir, from the worker's metrics address
// (METRICS_PPROF).
func profileWorker(ctx context.Context, addr, dir string, ideal time.Duration) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	select {
	case <-time.After(ideal / 4):
	case <-ctx.Done():
		return ctx.Err()
	}
	seconds := max(int(ideal.Seconds()/2), 1)
	for name, path := range map[string]string{
		"worker-cpu.pprof":  fmt.Sprintf("/debug/pprof/profile?seconds=%d", seconds),
		"worker-heap.pprof": "/debug/pprof/heap",
	} {
		if err := fetchTo(ctx, "http://"+addr+path, filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("worker profile %s: %w", name, err)
		}
	}
	return nil
}

// fetchTo writes the body of a GET of url to file.
func fetchTo(ctx context.Context, url, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
