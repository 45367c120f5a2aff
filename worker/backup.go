package worker

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/minio/minio-go/v7"
	"go.temporal.io/sdk/client"
	"gorm.io/gorm"

	"jardinier/activities/backup"
	"jardinier/activities/nextcloud"
	"jardinier/activities/storage"
	"jardinier/models"
	"jardinier/workflows"
)

// NewBackupActivities returns the backup activities: the backup bucket on its own S3
// server when BACKUP_S3_ENDPOINT names one (a second site), on the spaces' otherwise;
// the spaces' databases on the server of FLEET_DATABASE_URL.
func NewBackupActivities(cfg models.Config, db *gorm.DB, spaces *minio.Client) (*backup.Activities, error) {
	c, err := backupClient(cfg, spaces)
	if err != nil {
		return nil, err
	}
	a := &backup.Activities{DB: db, Client: c, Bucket: cfg.Backup.Bucket, PGBin: cfg.Backup.PGBin}
	if cfg.FleetDatabaseURL != "" {
		// Names only: the connections of a FleetDB are opened when first used.
		fleet, err := nextcloud.NewFleetDB(cfg.FleetDatabaseURL)
		if err != nil {
			return nil, fmt.Errorf("FLEET_DATABASE_URL: %w", err)
		}
		a.Databases = backup.FleetDatabases{AdminURL: cfg.FleetDatabaseURL, Names: fleet.Names}
	} else {
		a.Databases = noDatabases{}
	}
	return a, nil
}

func backupClient(cfg models.Config, spaces *minio.Client) (*minio.Client, error) {
	b := cfg.Backup
	if b.Endpoint == "" {
		return spaces, nil
	}
	region := b.Region
	if region == "" {
		region = cfg.S3Region
	}
	access, secret := b.AccessKey, b.SecretKey
	if access == "" && secret == "" {
		access, secret = cfg.S3AccessKey, cfg.S3SecretKey
	}
	c, err := storage.NewClient(b.Endpoint, access, secret, b.TLS, region)
	if err != nil {
		return nil, fmt.Errorf("BACKUP_S3_ENDPOINT: %w", err)
	}
	return c, nil
}

// noDatabases is the Databases of a worker without FLEET_DATABASE_URL: the simulator
// keeps its spaces' databases in memory, and there is nothing to dump.
type noDatabases struct{}

func (noDatabases) Target(string) (backup.Target, error) {
	return backup.Target{}, fmt.Errorf("FLEET_DATABASE_URL is not set: the spaces have no database to back up")
}

// startBackups checks what the object stores offer, creates the backup bucket,
// schedules the nightly backups and starts the one-time file history pass. A missing
// S3 feature is reported here, at start-up, rather than found at restore time.
func startBackups(ctx context.Context, cfg models.Config, c client.Client, logger *slog.Logger) error {
	spaces, err := storage.NewClient(cfg.S3Endpoint, cfg.S3AccessKey, cfg.S3SecretKey, cfg.S3TLS, cfg.S3Region)
	if err != nil {
		return fmt.Errorf("S3_ENDPOINT: %w", err)
	}
	// The object store down at start-up must not keep the worker down: what it lacks
	// is said when it answers, and the nightly run fails loudly (moderators see the
	// spaces without a backup after 48 h) if the bucket cannot be made.
	f, checkErr := storage.CheckFeatures(ctx, spaces, cfg.S3Region)
	switch {
	case checkErr != nil:
		logger.Error("Cannot check what the object store offers (versioning, lifecycle rules)", "error", checkErr)
	case f.Missing():
		logger.Error("The object store lacks what file history and restores need: spaces get no file history",
			"versioning", f.Versioning, "lifecycle", f.Lifecycle, "problems", strings.Join(f.Problems, "; "))
	default:
		logger.Info("Object store offers versioning and lifecycle rules")
	}
	a, err := NewBackupActivities(cfg, nil, spaces)
	if err != nil {
		return err
	}
	if err := a.EnsureBucket(ctx, cfg.S3Region); err != nil {
		logger.Error("Backup bucket not ready: tonight's backups will fail until it is", "bucket", cfg.Backup.Bucket, "error", err)
	}
	if err := workflows.EnsureBackupSchedule(ctx, c, cfg.Backup); err != nil {
		return fmt.Errorf("BACKUP_CONCURRENCY: %w", err)
	}
	logger.Info("Nightly backups scheduled", "schedule", workflows.BackupScheduleID, "hour", workflows.BackupHour,
		"bucket", cfg.Backup.Bucket, "concurrency", cfg.Backup.Concurrency, "window", cfg.Backup.Window)
	if checkErr == nil && !f.Missing() {
		if err := workflows.StartFileHistoryPass(ctx, c); err != nil {
			return err
		}
	}
	return nil
}
