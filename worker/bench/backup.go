package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.temporal.io/sdk/client"

	"jardinier/models"
	"jardinier/workflows"
)

// BackupOptions configure a night of backups over simulated spaces.
type BackupOptions struct {
	Config      models.Config
	Spaces      int
	DumpBytes   int64 // the size of each simulated dump
	Concurrency int   // BACKUP_CONCURRENCY
	Output      io.Writer
	Logger      *slog.Logger
}

// BackupReport is what the night measured.
type BackupReport struct {
	Spaces      int
	DumpBytes   int64
	Concurrency int
	Wall        time.Duration
	Result      workflows.BackupFleetResult
	Floor       Floor
}

// PerHour is the spaces backed up per hour.
func (r BackupReport) PerHour() float64 { return float64(r.Spaces) / r.Wall.Hours() }

func (r BackupReport) String() string {
	night := time.Duration(float64(time.Hour) * 10000 / r.PerHour())
	return fmt.Sprintf("backup: spaces=%d dump=%dMB concurrency=%d wall=%.1fs throughput=%.0f/h night_10000=%s failed=%d MB/s=%.1f %s",
		r.Spaces, r.DumpBytes>>20, r.Concurrency, r.Wall.Seconds(), r.PerHour(), night.Round(time.Minute),
		r.Result.FailedCount, float64(r.Result.Bytes)/(1<<20)/r.Wall.Seconds(), r.Floor)
}

// Backup starts the stack on free ports with a database of its own, writes Spaces
// spaces in service, and runs BackupFleetWorkflow over them on the real worker and
// MinIO. The worker's pg_dump is a script that writes DumpBytes bytes: the dumps go
// through the real pipe, upload and records, without a database of that size each.
func Backup(ctx context.Context, o BackupOptions) (BackupReport, error) {
	rep := BackupReport{Spaces: o.Spaces, DumpBytes: o.DumpBytes, Concurrency: o.Concurrency}
	pgBin, err := os.MkdirTemp("", "jardinier-bench-pg")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(pgBin)
	script := "#!/bin/sh\nexec head -c \"$BENCH_DUMP_BYTES\" /dev/zero\n"
	if err := os.WriteFile(filepath.Join(pgBin, "pg_dump"), []byte(script), 0o755); err != nil {
		return rep, err
	}
	stack, cleanup, err := startStack(ctx, o.Config, "backup", false, o.Logger,
		"BACKUP_PG_BIN="+pgBin, "BENCH_DUMP_BYTES="+strconv.FormatInt(o.DumpBytes, 10),
		"FLEET_DATABASE_URL="+o.Config.DatabaseURL, "QUOTA_REBALANCE_EVERY=0")
	if err != nil {
		return rep, err
	}
	defer cleanup()
	db, err := models.OpenDB(ctx, stack.Config.DatabaseURL, o.Logger)
	if err != nil {
		return rep, err
	}
	defer closeDB(db)
	now := time.Now().Add(-72 * time.Hour)
	spaces := make([]models.Space, o.Spaces)
	for i := range spaces {
		slug := fmt.Sprintf("bench-%05d", i)
		spaces[i] = models.Space{Slug: slug, Status: models.StatusActive, OfficeSuite: "collabora", SubmittedAt: now,
			ProvisionedAt: &now, BucketName: "space-" + slug}
	}
	if err := db.CreateInBatches(spaces, 500).Error; err != nil {
		return rep, fmt.Errorf("write spaces: %w", err)
	}
	c, err := workflows.Dial(ctx, stack.Config, o.Logger)
	if err != nil {
		return rep, err
	}
	defer c.Close()
	if rep.Floor, err = MeasureFloor(ctx, c); err != nil {
		return rep, err
	}
	start := time.Now()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "bench-backup", TaskQueue: workflows.TaskQueue},
		workflows.BackupFleetWorkflowType, workflows.BackupFleetInput{Concurrency: o.Concurrency})
	if err != nil {
		return rep, err
	}
	if err := run.Get(ctx, &rep.Result); err != nil {
		return rep, fmt.Errorf("night of backups: %w", err)
	}
	rep.Wall = time.Since(start)
	if done := rep.Result.Spaces + rep.Result.Reused; done != o.Spaces {
		return rep, fmt.Errorf("%d spaces backed up of %d (%d failed: %v)", done, o.Spaces, rep.Result.FailedCount, rep.Result.Failed)
	}
	// The spaces' own workflows do not run here: the night is the fleet's workflow.
	rep.Floor.EventsPerSpace, err = EventsPerSpace(ctx, c, nil, []string{"bench-backup"}, o.Spaces)
	return rep, err
}
