package backup

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"

	"jardinier/models"
)

// RestoreDatabase puts back the space's database as its newest good backup taken at
// or before in.At holds it: the schema emptied, then pg_restore --clean of the dump,
// streamed from the backup bucket, in one transaction. The space must be in
// maintenance (the workflow sees to it). A retry does it all again, which gives the
// same database. No backup that old is a non-retryable ErrTypeNoBackup.
func (a *Activities) RestoreDatabase(ctx context.Context, in RestoreDatabaseInput) (RestoreDatabaseResult, error) {
	logger := log.With(activity.GetLogger(ctx), "slug", in.Slug)
	var err error
	if in.SpaceID, err = a.spaceID(ctx, in.SpaceID, in.Slug); err != nil {
		return RestoreDatabaseResult{}, err
	}
	b, err := models.LatestBackupBefore(a.DB.WithContext(ctx), in.SpaceID, in.At)
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return RestoreDatabaseResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("no backup of %s taken before %s", in.Slug, in.At.UTC().Format(time.RFC3339)), ErrTypeNoBackup, nil)
	}
	if err != nil {
		return RestoreDatabaseResult{}, fmt.Errorf("backup of %s before %s: %w", in.Slug, in.At, err)
	}
	res := RestoreDatabaseResult{Key: b.Key, TakenAt: b.TakenAt, SizeBytes: b.SizeBytes}
	if in.DryRun {
		return res, nil
	}
	target, err := a.Databases.Target(in.Slug)
	if err != nil {
		return res, temporal.NewNonRetryableApplicationError(err.Error(), "BadTarget", err)
	}
	obj, err := a.Client.GetObject(ctx, a.Bucket, b.Key, minio.GetObjectOptions{})
	if err != nil {
		return res, fmt.Errorf("read backup %s: %w", b.Key, err)
	}
	defer obj.Close()

	if err := resetSchema(ctx, target); err != nil {
		return res, fmt.Errorf("restore %s: %w", in.Slug, err)
	}
	cmd := a.pgCommand(ctx, "pg_restore", target, "--clean", "--if-exists", "--single-transaction", "--exit-on-error")
	cmd.Stdin = &progressReader{r: obj, ctx: ctx}
	if out, err := cmd.CombinedOutput(); err != nil {
		return res, fmt.Errorf("restore %s from %s: pg_restore: %w: %s", in.Slug, b.Key, err, strings.TrimSpace(cut(string(out))))
	}
	logger.Info("Database restored", "key", b.Key, "taken_at", b.TakenAt)
	return res, nil
}

// resetSchema empties the database, as its role so that the new schema is the
// role's: --clean alone drops only what the dump holds, and tables created since
// would stay.
func resetSchema(ctx context.Context, t Target) error {
	cfg, err := pgx.ParseConfig("")
	if err != nil {
		return err
	}
	cfg.Host, cfg.User, cfg.Password, cfg.Database = t.Host, t.User, t.Password, t.Database
	var port uint16
	if _, err := fmt.Sscan(t.Port, &port); err != nil {
		return fmt.Errorf("port %q: %w", t.Port, err)
	}
	cfg.Port = port
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("database %s: %w", t.Database, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, q := range []string{
		"SET ROLE " + pgx.Identifier{t.Role}.Sanitize(),
		"DROP SCHEMA IF EXISTS public CASCADE",
		"CREATE SCHEMA public",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("empty database %s: %w", t.Database, err)
		}
	}
	return nil
}

// ExpireBackups deletes the dumps the retention no longer keeps
// (models.BackupsToExpire), and marks their rows expired. Deleting an object already
// gone succeeds, so a retry finishes the job.
func (a *Activities) ExpireBackups(ctx context.Context, in ExpireInput) (ExpireResult, error) {
	logger := activity.GetLogger(ctx)
	expire, err := models.BackupsToExpire(a.DB.WithContext(ctx), in.Now)
	if err != nil {
		return ExpireResult{}, err
	}
	var res ExpireResult
	for _, b := range expire {
		if err := a.Client.RemoveObject(ctx, a.Bucket, b.Key, minio.RemoveObjectOptions{}); err != nil {
			return res, fmt.Errorf("delete backup %s: %w", b.Key, err)
		}
		if err := a.DB.WithContext(ctx).Model(&models.Backup{}).Where("id = ?", b.ID).
			Update("expired_at", in.Now).Error; err != nil {
			return res, fmt.Errorf("record expiry of %s: %w", b.Key, err)
		}
		res.Expired++
		res.Bytes += b.SizeBytes
		activity.RecordHeartbeat(ctx, res.Expired)
	}
	logger.Info("Backups expired", "count", res.Expired, "bytes", res.Bytes)
	return res, nil
}

// ListBackupSpaces returns a page of spaces, by slug, for the fleet passes of
// backups and file history.
func (a *Activities) ListBackupSpaces(ctx context.Context, in ListSpacesInput) (ListSpacesResult, error) {
	query := func() *gorm.DB {
		q := a.DB.WithContext(ctx).Model(&models.Space{}).Where("status IN ?", in.Statuses)
		if !in.NotBackedUpSince.IsZero() {
			q = q.Where("NOT EXISTS (SELECT 1 FROM backups b WHERE b.space_id = spaces.id AND b.status = ? AND b.key = spaces.slug || ?)",
				models.BackupOK, models.BackupKey("", models.BackupNightly, in.NotBackedUpSince))
		}
		return q
	}
	var res ListSpacesResult
	if in.After == "" {
		var total int64
		if err := query().Count(&total).Error; err != nil {
			return res, fmt.Errorf("count spaces: %w", err)
		}
		res.Total = int(total)
	}
	var rows []models.Space
	if err := query().Where("slug > ?", in.After).Order("slug").Limit(in.Limit).
		Select("id", "slug", "bucket_name").Find(&rows).Error; err != nil {
		return res, fmt.Errorf("list spaces: %w", err)
	}
	for _, r := range rows {
		res.Spaces = append(res.Spaces, SpaceRef{ID: r.ID, Slug: r.Slug, Bucket: r.BucketName})
	}
	return res, nil
}
