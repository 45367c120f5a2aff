package models

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// idleConns is how many connections wait between requests. database/sql keeps 2: a
// third request at once would open a connection, and prepare its statements again,
// and close it after; moderators' screens asked 8 at a time paid that on most requests.
const idleConns = 16

// idleConnTime is how long an unused connection is kept: the pooler in front of
// PostgreSQL gets it back once the busy minutes are over.
const idleConnTime = 5 * time.Minute

// OpenDB connects to PostgreSQL, creating the database first if the server has none by
// that name (so that `make dev` needs no manual step), and migrates the schema.
func OpenDB(ctx context.Context, dsn string, log *slog.Logger) (*gorm.DB, error) {
	if err := ensureDatabase(ctx, dsn); err != nil {
		return nil, err
	}
	db, err := gorm.Open(postgres.Open(dsn), &gorm.Config{
		Logger:  logger.NewSlogLogger(log, logger.Config{SlowThreshold: time.Second, IgnoreRecordNotFoundError: true, LogLevel: logger.Warn}),
		NowFunc: func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	sqlDB.SetMaxIdleConns(idleConns)
	sqlDB.SetConnMaxIdleTime(idleConnTime)
	if err := Migrate(db.WithContext(ctx)); err != nil {
		return nil, err
	}
	return db, nil
}

// Migrate brings the schema up to date. It is safe to run from several processes at
// once: an advisory lock serialises them.
func Migrate(db *gorm.DB) error {
	return db.Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("SELECT pg_advisory_xact_lock(4242)").Error; err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
		// The statistics start with the applications already there, once.
		backfill := !tx.Migrator().HasTable(&StatsRecord{})
		if err := tx.AutoMigrate(&Application{}, &Space{}, &Moderator{}, &AuditEvent{}, &SentMail{}, &UpgradeSpace{},
			&StatsRecord{}, &StatsLink{}, &APIToken{}, &Session{}, &ModeratorLink{}, &RecoveryCode{}, &PolicyVersion{}, &Opening{},
			&CronRun{}, &LimitsVersion{}, &MailDelivery{}, &Bounce{}, &PolicyHold{},
			&Announcement{}, &AnnouncementRecipient{}, &Backup{}); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if err := migrateModeratorTokens(tx); err != nil {
			return err
		}
		if err := migrateListIndexes(tx); err != nil {
			return err
		}
		return migrateStats(tx, backfill)
	})
}

func ensureDatabase(ctx context.Context, dsn string) error {
	u, err := url.Parse(dsn)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" || name == "postgres" {
		return nil
	}
	admin := *u
	admin.Path = "/postgres"
	db, err := gorm.Open(postgres.Open(admin.String()), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return fmt.Errorf("connect to the postgres database to check %q exists: %w", name, err)
	}
	sqlDB, _ := db.DB()
	defer sqlDB.Close()
	var n int64
	if err := db.WithContext(ctx).Raw("SELECT count(*) FROM pg_database WHERE datname = ?", name).Scan(&n).Error; err != nil {
		// The role may not see pg_database; let the real connection report the problem.
		return nil
	}
	if n == 0 {
		if err := db.WithContext(ctx).Exec("CREATE DATABASE " + quoteIdent(name)).Error; err != nil && !strings.Contains(err.Error(), "already exists") && !strings.Contains(err.Error(), "duplicate key") {
			return fmt.Errorf("create database %q: %w", name, err)
		}
	}
	return nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
