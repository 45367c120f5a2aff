package models

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
)

// Retention of the database backups: every nightly backup for BackupDailyRetention,
// then the last one of each week for BackupWeeklyRetention. A deleted space's backups
// are all gone BackupDailyRetention after its deletion.
const (
	BackupDailyRetention  = 30 * 24 * time.Hour
	BackupWeeklyRetention = 12 * 7 * 24 * time.Hour
)

// BackupStaleAfter is how long a space in service may go without a good backup
// before the moderators see it listed: two nights missed.
const BackupStaleAfter = 48 * time.Hour

// Kinds of backup.
const (
	BackupNightly  = "nightly"  // the nightly run's
	BackupSnapshot = "snapshot" // taken before a restore, so that the restore can be undone
)

// Outcomes of a backup.
const (
	BackupOK     = "ok"
	BackupFailed = "failed"
)

// Backup is one dump of a space's database in the backup bucket: what the nightly
// run and the restores record, and what the expiry pass deletes.
type Backup struct {
	ID      uint   `gorm:"primaryKey"`
	SpaceID uint   `gorm:"not null;index"`
	Slug    string `gorm:"not null;index"`
	// Key is the object's name in the backup bucket, <slug>/<kind>-<time>.dump.
	Key  string `gorm:"not null;uniqueIndex"`
	Kind string `gorm:"not null"`
	// TakenAt is when pg_dump started: the dump holds the database as it was then.
	TakenAt    time.Time `gorm:"not null;index"`
	DurationMS int64     `gorm:"not null;default:0"`
	SizeBytes  int64     `gorm:"not null;default:0"`
	SHA256     string
	Status     string `gorm:"not null"`
	Error      string
	// ExpiredAt is when the expiry pass deleted the object; the row stays as a record.
	ExpiredAt *time.Time `gorm:"index"`
	CreatedAt time.Time
}

// BackupConfig says where the database backups go and how the nightly run paces
// itself (BACKUP_*).
type BackupConfig struct {
	Bucket string // BACKUP_BUCKET
	// The backup bucket's S3 server; empty Endpoint: the spaces' own (S3_*). Empty
	// credentials or region are the spaces' server's.
	Endpoint  string // BACKUP_S3_ENDPOINT, host:port
	AccessKey string // BACKUP_S3_ACCESS_KEY
	SecretKey string // BACKUP_S3_SECRET_KEY
	TLS       bool   // BACKUP_S3_TLS
	Region    string // BACKUP_S3_REGION
	// Concurrency (BACKUP_CONCURRENCY) bounds the dumps running at once: each holds a
	// connection to the fleet's PostgreSQL and reads its disks.
	Concurrency int
	// Window (BACKUP_WINDOW) is the part of the night the dumps' starts are spread
	// over, so that the fleet's database does not get every dump at once.
	Window time.Duration
	// PGBin (BACKUP_PG_BIN) is the directory of pg_dump and pg_restore, which must be
	// of the fleet server's major version or newer; empty: found on PATH.
	PGBin string
}

// DefaultBackupConfig is the configuration of a development machine.
func DefaultBackupConfig() BackupConfig {
	return BackupConfig{Bucket: "jardinier-backups", Concurrency: 4, Window: 4 * time.Hour}
}

func (b *BackupConfig) read(e *envReader) {
	e.str("BACKUP_BUCKET", &b.Bucket)
	e.str("BACKUP_S3_ENDPOINT", &b.Endpoint)
	e.str("BACKUP_S3_ACCESS_KEY", &b.AccessKey)
	e.str("BACKUP_S3_SECRET_KEY", &b.SecretKey)
	e.boolean("BACKUP_S3_TLS", &b.TLS)
	e.str("BACKUP_S3_REGION", &b.Region)
	e.integer("BACKUP_CONCURRENCY", &b.Concurrency)
	e.durationOrZero("BACKUP_WINDOW", &b.Window)
	e.str("BACKUP_PG_BIN", &b.PGBin)
}

func (b BackupConfig) validate() error {
	if b.Bucket == "" {
		return fmt.Errorf("BACKUP_BUCKET: must name the bucket the database backups go to")
	}
	if b.Concurrency < 1 {
		return fmt.Errorf("BACKUP_CONCURRENCY: must be at least 1 dump at once")
	}
	if b.Window >= 24*time.Hour {
		return fmt.Errorf("BACKUP_WINDOW: must be shorter than a day, such as 4h")
	}
	return nil
}

// BackupKey is the name of a backup's object: the slug, so that the backups of a
// space are listed together, then the kind and the time, sortable.
func BackupKey(slug, kind string, t time.Time) string {
	return slug + "/" + kind + "-" + t.UTC().Format("20060102T150405Z") + ".dump"
}

// BackupsToKeep returns, of the good backups of one space, those the retention keeps
// at now: every backup of the last BackupDailyRetention, and the newest of each week
// (Monday to Sunday, UTC) of the last BackupWeeklyRetention.
func BackupsToKeep(backups []Backup, now time.Time) map[string]bool {
	keep := map[string]bool{}
	newestOfWeek := map[time.Time]Backup{}
	for _, b := range backups {
		age := now.Sub(b.TakenAt)
		if age <= BackupDailyRetention {
			keep[b.Key] = true
		}
		if age > BackupWeeklyRetention {
			continue
		}
		w := weekStart(b.TakenAt)
		if cur, ok := newestOfWeek[w]; !ok || b.TakenAt.After(cur.TakenAt) {
			newestOfWeek[w] = b
		}
	}
	for _, b := range newestOfWeek {
		keep[b.Key] = true
	}
	return keep
}

// weekStart is the Monday 00:00 UTC of t's week.
func weekStart(t time.Time) time.Time {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	offset := (int(day.Weekday()) + 6) % 7
	return day.AddDate(0, 0, -offset)
}

// BackupsToExpire returns the backups whose objects the expiry pass deletes at now:
// those of spaces still here that the retention no longer keeps, and every one of
// a space deleted more than BackupDailyRetention ago.
func BackupsToExpire(db *gorm.DB, now time.Time) ([]Backup, error) {
	var live []Backup
	err := db.Where("expired_at IS NULL AND status = ?", BackupOK).
		Where("space_id NOT IN (SELECT id FROM spaces WHERE status = ? AND deleted_at <= ?)", StatusDeleted, now.Add(-BackupDailyRetention)).
		Order("space_id, taken_at").Find(&live).Error
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	var expire []Backup
	for start := 0; start < len(live); {
		end := start + 1
		for end < len(live) && live[end].SpaceID == live[start].SpaceID {
			end++
		}
		group := live[start:end]
		start = end
		keep := BackupsToKeep(group, now)
		for _, b := range group {
			if !keep[b.Key] {
				expire = append(expire, b)
			}
		}
	}
	var gone []Backup
	err = db.Where("expired_at IS NULL AND status = ?", BackupOK).
		Where("space_id IN (SELECT id FROM spaces WHERE status = ? AND deleted_at <= ?)", StatusDeleted, now.Add(-BackupDailyRetention)).
		Find(&gone).Error
	if err != nil {
		return nil, fmt.Errorf("list backups of deleted spaces: %w", err)
	}
	expire = append(expire, gone...)
	slices.SortFunc(expire, func(a, b Backup) int { return cmp.Compare(a.Key, b.Key) })
	return expire, nil
}

// StaleBackup is a space in service without a good backup for BackupStaleAfter.
type StaleBackup struct {
	Slug          string     `json:"slug"`
	ProvisionedAt *time.Time `json:"provisioned_at"`
	LastGoodAt    *time.Time `json:"last_good_backup_at"` // nil: never
	LastError     string     `json:"last_error,omitempty"`
}

// SpacesWithoutRecentBackup lists, by slug, the spaces in service for more than
// BackupStaleAfter whose last good backup is older than that, or missing.
func SpacesWithoutRecentBackup(db *gorm.DB, now time.Time) ([]StaleBackup, error) {
	since := now.Add(-BackupStaleAfter)
	var rows []StaleBackup
	err := db.Raw(`SELECT s.slug, s.provisioned_at,
		(SELECT max(b.taken_at) FROM backups b WHERE b.space_id = s.id AND b.status = ?) AS last_good_at,
		COALESCE((SELECT b.error FROM backups b WHERE b.space_id = s.id AND b.status = ? ORDER BY b.taken_at DESC LIMIT 1), '') AS last_error
		FROM spaces s
		WHERE s.status = ? AND s.provisioned_at <= ?
		  AND NOT EXISTS (SELECT 1 FROM backups b WHERE b.space_id = s.id AND b.status = ? AND b.taken_at > ?)
		ORDER BY s.slug`, BackupOK, BackupFailed, StatusActive, since, BackupOK, since).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("spaces without a recent backup: %w", err)
	}
	return rows, nil
}

// BackupFreshness is how the spaces in service stand with their backups, as the
// metrics show it: no slug, only the worst case and a count.
type BackupFreshness struct {
	// Oldest is the oldest, among the spaces in service, of their newest good
	// backup's time, a space without any counting from its provisioning; nil when
	// no space is in service.
	Oldest *time.Time
	// Stale is how many spaces SpacesWithoutRecentBackup lists at the same time.
	Stale int64
}

// BackupFreshnessAt reads the spaces' BackupFreshness at now, with the same rule as
// SpacesWithoutRecentBackup, in one query for a scrape.
func BackupFreshnessAt(db *gorm.DB, now time.Time) (BackupFreshness, error) {
	since := now.Add(-BackupStaleAfter)
	var f BackupFreshness
	err := db.Raw(`SELECT MIN(COALESCE(t.last_good_at, t.provisioned_at)) AS oldest,
		COUNT(*) FILTER (WHERE t.provisioned_at <= ? AND (t.last_good_at IS NULL OR t.last_good_at <= ?)) AS stale
		FROM (SELECT s.provisioned_at,
			(SELECT max(b.taken_at) FROM backups b WHERE b.space_id = s.id AND b.status = ?) AS last_good_at
			FROM spaces s WHERE s.status = ?) t`, since, since, BackupOK, StatusActive).Scan(&f).Error
	if err != nil {
		return BackupFreshness{}, fmt.Errorf("backups' freshness: %w", err)
	}
	return f, nil
}

// LatestBackupBefore returns the space's newest good backup taken at or before t,
// not expired; gorm.ErrRecordNotFound when there is none.
func LatestBackupBefore(db *gorm.DB, spaceID uint, t time.Time) (Backup, error) {
	var b Backup
	err := db.Where("space_id = ? AND status = ? AND expired_at IS NULL AND taken_at <= ?", spaceID, BackupOK, t).
		Order("taken_at DESC").First(&b).Error
	return b, err
}
