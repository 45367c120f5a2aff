package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"jardinier/models"
)

// ErrTypeNoBackup marks a restore asked for a time before any backup kept.
const ErrTypeNoBackup = "NoBackup"

// heartbeatEvery is how often a dump or a restore heartbeats the bytes it moved.
const heartbeatEvery = 5 * time.Second

// partSize is the size of the parts a dump is uploaded in: what minio-go holds in
// memory per dump, since the stream's length is not known in advance.
const partSize = 16 << 20

// metaTakenAt is the object's metadata holding when the dump started.
const metaTakenAt = "Taken-At"

// Target is where one space's database is reached, as the fleet's admin.
type Target struct {
	Host, Port, User, Password, Database string
	// Role owns the database's objects; a restore recreates the schema as it.
	Role string
}

// Databases finds the database of a space.
type Databases interface {
	Target(slug string) (Target, error)
}

// FleetDatabases reaches the spaces' databases on the server of AdminURL (the
// FLEET_DATABASE_URL), each named by Names.
type FleetDatabases struct {
	AdminURL string
	Names    func(slug string) (database, role string)
}

// Target implements Databases.
func (f FleetDatabases) Target(slug string) (Target, error) {
	u, err := url.Parse(f.AdminURL)
	if err != nil || u.Host == "" {
		return Target{}, errors.New("FLEET_DATABASE_URL: not a postgres:// URL")
	}
	t := Target{Host: u.Hostname(), Port: u.Port(), User: u.User.Username()}
	t.Password, _ = u.User.Password()
	if t.Port == "" {
		t.Port = "5432"
	}
	t.Database, t.Role = f.Names(slug)
	return t, nil
}

// Activities dump, restore and expire the spaces' database backups.
type Activities struct {
	DB        *gorm.DB
	Client    *minio.Client // the backup bucket's server
	Bucket    string
	Databases Databases
	// PGBin is the directory of pg_dump and pg_restore; empty: found on PATH.
	PGBin string

	// dumps counts the pg_dump runs started, for tests and benchmarks.
	dumps atomic.Int64
	// onProgress, set by tests, sees the bytes a dump has sent; an error stops it
	// as a crash would.
	onProgress func(int64) error
}

// EnsureBucket creates the backup bucket if it is missing.
func (a *Activities) EnsureBucket(ctx context.Context, region string) error {
	ok, err := a.Client.BucketExists(ctx, a.Bucket)
	if err != nil {
		return fmt.Errorf("BACKUP_BUCKET %q: %w", a.Bucket, err)
	}
	if ok {
		return nil
	}
	if err := a.Client.MakeBucket(ctx, a.Bucket, minio.MakeBucketOptions{Region: region}); err != nil {
		if ok, _ := a.Client.BucketExists(ctx, a.Bucket); !ok {
			return fmt.Errorf("BACKUP_BUCKET: create %q: %w", a.Bucket, err)
		}
	}
	return nil
}

// DumpSpace dumps a space's database (pg_dump --format=custom) straight into the
// backup bucket: the dump is streamed, never written to this machine's disk. Its
// size, duration and SHA-256 are recorded in the backups table.
//
// It is idempotent: when the object named by in.Kind and in.At exists, an earlier
// attempt completed the dump (an upload becomes an object only once complete), so
// none is made again; the record is completed if that attempt could not write it.
func (a *Activities) DumpSpace(ctx context.Context, in DumpInput) (DumpResult, error) {
	logger := log.With(activity.GetLogger(ctx), "slug", in.Slug)
	var err error
	if in.SpaceID, err = a.spaceID(ctx, in.SpaceID, in.Slug); err != nil {
		return DumpResult{}, err
	}
	key := models.BackupKey(in.Slug, in.Kind, in.At)
	if res, ok, err := a.existing(ctx, in, key); err != nil || ok {
		if ok {
			logger.Info("Backup already made", "key", key)
		}
		return res, err
	}
	target, err := a.Databases.Target(in.Slug)
	if err != nil {
		return DumpResult{}, temporal.NewNonRetryableApplicationError(err.Error(), "BadTarget", err)
	}

	started := time.Now()
	res, err := a.dump(ctx, target, key, started)
	if err != nil {
		a.record(ctx, models.Backup{SpaceID: in.SpaceID, Slug: in.Slug, Key: key, Kind: in.Kind, TakenAt: started,
			DurationMS: time.Since(started).Milliseconds(), Status: models.BackupFailed, Error: cut(err.Error())})
		return DumpResult{}, fmt.Errorf("backup of %s: %w", in.Slug, err)
	}
	res.Duration = time.Since(started)
	if err := a.record(ctx, models.Backup{SpaceID: in.SpaceID, Slug: in.Slug, Key: key, Kind: in.Kind, TakenAt: started,
		DurationMS: res.Duration.Milliseconds(), SizeBytes: res.SizeBytes, SHA256: res.SHA256, Status: models.BackupOK}); err != nil {
		return DumpResult{}, err
	}
	logger.Info("Backup made", "key", key, "bytes", res.SizeBytes, "duration", res.Duration)
	return res, nil
}

// existing returns the dump of key if an earlier attempt made it.
func (a *Activities) existing(ctx context.Context, in DumpInput, key string) (DumpResult, bool, error) {
	var rec models.Backup
	err := a.DB.WithContext(ctx).Where("key = ? AND status = ?", key, models.BackupOK).First(&rec).Error
	if err == nil {
		return DumpResult{Key: key, TakenAt: rec.TakenAt, SizeBytes: rec.SizeBytes, SHA256: rec.SHA256,
			Duration: time.Duration(rec.DurationMS) * time.Millisecond, Reused: true}, true, nil
	}
	if !errors.Is(err, gorm.ErrRecordNotFound) {
		return DumpResult{}, false, fmt.Errorf("backup record %s: %w", key, err)
	}
	info, err := a.Client.StatObject(ctx, a.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return DumpResult{}, false, nil
		}
		return DumpResult{}, false, fmt.Errorf("look for backup %s: %w", key, err)
	}
	// Made, not recorded: read it back for its checksum, which costs far less than
	// dumping again.
	obj, err := a.Client.GetObject(ctx, a.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return DumpResult{}, false, fmt.Errorf("read backup %s: %w", key, err)
	}
	defer obj.Close()
	h := sha256.New()
	n, err := io.Copy(h, obj)
	if err != nil {
		return DumpResult{}, false, fmt.Errorf("read backup %s: %w", key, err)
	}
	takenAt := info.LastModified
	if v := info.UserMetadata[metaTakenAt]; v != "" {
		if t, perr := time.Parse(time.RFC3339Nano, v); perr == nil {
			takenAt = t
		}
	}
	res := DumpResult{Key: key, TakenAt: takenAt, SizeBytes: n, SHA256: hex.EncodeToString(h.Sum(nil)), Reused: true}
	if err := a.record(ctx, models.Backup{SpaceID: in.SpaceID, Slug: in.Slug, Key: key, Kind: in.Kind, TakenAt: takenAt,
		SizeBytes: n, SHA256: res.SHA256, Status: models.BackupOK}); err != nil {
		return DumpResult{}, false, err
	}
	return res, true, nil
}

// dump runs pg_dump into a pipe that PutObject reads, counting and hashing the bytes.
func (a *Activities) dump(ctx context.Context, t Target, key string, started time.Time) (DumpResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := a.pgCommand(ctx, "pg_dump", t, "--format=custom")
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	var stderr strings.Builder
	cmd.Stderr = &stderr
	a.dumps.Add(1)
	if err := cmd.Start(); err != nil {
		return DumpResult{}, fmt.Errorf("start pg_dump: %w", err)
	}
	waited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		if err != nil && stderr.Len() > 0 {
			err = fmt.Errorf("pg_dump: %w: %s", err, strings.TrimSpace(stderr.String()))
		}
		// The reader sees the end of the stream, or pg_dump's failure: a failed dump
		// never becomes an object.
		pw.CloseWithError(err)
		waited <- err
	}()

	h := sha256.New()
	body := &progressReader{r: io.TeeReader(pr, h), ctx: ctx, hook: a.onProgress}
	_, err := a.Client.PutObject(ctx, a.Bucket, key, body, -1, minio.PutObjectOptions{
		PartSize:     partSize,
		ContentType:  "application/octet-stream",
		UserMetadata: map[string]string{metaTakenAt: started.UTC().Format(time.RFC3339Nano)},
	})
	if err != nil {
		cancel()
		pr.CloseWithError(err)
		<-waited
		return DumpResult{}, fmt.Errorf("upload %s: %w", key, err)
	}
	if werr := <-waited; werr != nil {
		// Cannot happen once PutObject read the end of the stream without error, but a
		// dump that failed must not stay as if good.
		_ = a.Client.RemoveObject(context.WithoutCancel(ctx), a.Bucket, key, minio.RemoveObjectOptions{})
		return DumpResult{}, werr
	}
	return DumpResult{Key: key, TakenAt: started, SizeBytes: body.n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// progressReader counts what it reads and heartbeats the count every heartbeatEvery.
type progressReader struct {
	r    io.Reader
	ctx  context.Context
	n    int64
	last time.Time
	hook func(int64) error
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.hook != nil {
		if herr := p.hook(p.n); herr != nil {
			return n, herr
		}
	}
	if time.Since(p.last) >= heartbeatEvery {
		p.last = time.Now()
		activity.RecordHeartbeat(p.ctx, p.n)
	}
	return n, err
}

// record writes a backup's row, replacing what an earlier attempt wrote for its key.
func (a *Activities) record(ctx context.Context, b models.Backup) error {
	err := a.DB.WithContext(context.WithoutCancel(ctx)).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "key"}},
		DoUpdates: clause.AssignmentColumns([]string{"taken_at", "duration_ms", "size_bytes", "sha256", "status", "error"}),
	}).Create(&b).Error
	if err != nil {
		return fmt.Errorf("record backup %s: %w", b.Key, err)
	}
	return nil
}

// pgCommand runs a PostgreSQL client against the target, the password in its
// environment.
func (a *Activities) pgCommand(ctx context.Context, program string, t Target, args ...string) *exec.Cmd {
	if a.PGBin != "" {
		program = a.PGBin + "/" + program
	}
	cmd := exec.CommandContext(ctx, program, append(args, "--host="+t.Host, "--port="+t.Port,
		"--username="+t.User, "--dbname="+t.Database, "--no-password")...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+t.Password, "PGCONNECT_TIMEOUT=15")
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

func cut(s string) string {
	if len(s) > 2000 {
		return s[:2000]
	}
	return s
}

// spaceID returns id, or when it is 0 the ID of the space slug names now (the space
// workflows know slugs, not row IDs).
func (a *Activities) spaceID(ctx context.Context, id uint, slug string) (uint, error) {
	if id != 0 {
		return id, nil
	}
	var sp models.Space
	err := a.DB.WithContext(ctx).Where("slug = ? AND status NOT IN ?", slug,
		[]models.Status{models.StatusRejected, models.StatusDeleted}).Select("id").First(&sp).Error
	if err != nil {
		return 0, fmt.Errorf("space %s: %w", slug, err)
	}
	return sp.ID, nil
}
