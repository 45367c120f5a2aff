package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"jardinier/deploy/cluster"
	"jardinier/deploy/devstack"
	"jardinier/models"
)

// startRunStack starts the stack of a run: on the real Temporal server with onCluster
// (startClusterStack), else on the development server (startStack, its store on disk
// with persistent).
func startRunStack(ctx context.Context, cfg models.Config, name string, persistent, onCluster bool, log *slog.Logger,
	env ...string) (*devstack.Stack, func(), error) {
	if onCluster {
		return startClusterStack(ctx, cfg, name, log, env...)
	}
	return startStack(ctx, cfg, name, persistent, log, env...)
}

// startClusterStack is startStack on the real Temporal server of `make cluster`
// (deploy/cluster) instead of the development server: the server's persistence and
// visibility stores in PostgreSQL databases of the run's own, the run's Jardinier
// database, one worker and one API instance, as the development stack runs, so that
// the figures compare. cleanup stops it all and drops the databases.
func startClusterStack(ctx context.Context, cfg models.Config, name string, log *slog.Logger, env ...string) (*devstack.Stack, func(), error) {
	root, err := devstack.RepoRoot()
	if err != nil {
		return nil, nil, err
	}
	stateDir := filepath.Join(root, ".dev", "bench-"+name+"-cluster")
	if err := os.RemoveAll(stateDir); err != nil {
		return nil, nil, err
	}
	ports := make([]string, 4)
	for i := range ports {
		p, err := devstack.FreePort()
		if err != nil {
			return nil, nil, err
		}
		ports[i] = "127.0.0.1:" + strconv.Itoa(p)
	}
	cfg.TemporalAddress, cfg.S3Endpoint, cfg.APIAddr = ports[0], ports[1], ports[2]
	workerMetrics := ports[3]
	cfg.MailDir = filepath.Join(stateDir, "mail")
	dbName := "jardinier_bench_" + name
	if cfg.DatabaseURL, err = recreateDatabase(cfg.DatabaseURL, dbName); err != nil {
		return nil, nil, err
	}
	u, err := url.Parse(cfg.DatabaseURL)
	if err != nil {
		return nil, nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	u.Path = "/temporal_bench_" + name
	tdb, err := cluster.ParseDatabaseURL(u.String())
	if err != nil {
		return nil, nil, err
	}
	if err := cluster.DropDatabases(ctx, tdb); err != nil { // left by a run stopped before its end
		return nil, nil, err
	}
	c, err := cluster.Start(ctx, cluster.Options{Config: cfg, TemporalDatabaseURL: u.String(), StateDir: stateDir,
		Workers: 1, APIs: 1, Env: append([]string{"SUBMIT_RATE=100000000", "METRICS_ADDR=" + workerMetrics}, env...),
		Output: logOnly(stateDir), Logger: log})
	if err != nil {
		dropDatabase(cfg.DatabaseURL, dbName)
		_ = cluster.DropDatabases(context.Background(), tdb)
		return nil, nil, fmt.Errorf("cluster: %w", err)
	}
	stack := &devstack.Stack{Config: c.Config, StateDir: stateDir, Temporal: c.Temporal, Worker: c.Workers[0],
		API: c.APIs[0], WorkerMetrics: workerMetrics}
	cleanup := func() {
		c.Stop()
		os.RemoveAll(stateDir)
		dropDatabase(cfg.DatabaseURL, dbName)
		_ = cluster.DropDatabases(context.Background(), tdb)
	}
	return stack, cleanup, nil
}
