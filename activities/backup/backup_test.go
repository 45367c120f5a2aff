package backup_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"gorm.io/gorm"

	"jardinier/activities/backup"
	"jardinier/activities/nextcloud"
	"jardinier/activities/storage/s3test"
	"jardinier/models"
	"jardinier/models/modeltest"
)

// fixture is a jardinier database, the backup bucket on a real S3 server, and the
// simulator creating each space's database on the local PostgreSQL, as
// FLEET_DATABASE_URL makes it do.
type fixture struct {
	db    *gorm.DB
	a     *backup.Activities
	sim   *nextcloud.Simulator
	fleet *nextcloud.FleetDB
	s3    s3test.Server
}

func newFixture(t *testing.T, srv s3test.Server) *fixture {
	t.Helper()
	fleet, err := nextcloud.NewFleetDB(modeltest.ServerURL())
	require.NoError(t, err)
	t.Cleanup(func() { fleet.Close() })
	sim := nextcloud.NewSimulator(slog.New(slog.DiscardHandler))
	sim.UseFleetDB(fleet)
	f := &fixture{db: modeltest.NewDB(t), sim: sim, fleet: fleet, s3: srv}
	f.a = &backup.Activities{DB: f.db, Client: srv.Client, Bucket: "backups-" + randomHex(4),
		Databases: backup.FleetDatabases{AdminURL: modeltest.ServerURL(), Names: fleet.Names}}
	require.NoError(t, f.a.EnsureBucket(context.Background(), "us-east-1"))
	return f
}

// space creates a space in service with its real database, holding a table of notes
// owned by the space's role, as Nextcloud's tables are.
func (f *fixture) space(t *testing.T, status models.Status) models.Space {
	t.Helper()
	ctx := context.Background()
	slug := "test-" + randomHex(6)
	require.NoError(t, f.sim.CreateDatabase(ctx, slug))
	t.Cleanup(func() { assert.NoError(t, f.fleet.Drop(context.Background(), slug)) })
	provisioned := time.Now().Add(-72 * time.Hour)
	sp := models.Space{Slug: slug, Status: status, OfficeSuite: models.OfficeSuite("collabora"),
		SubmittedAt: provisioned, ProvisionedAt: &provisioned, BucketName: "space-" + slug}
	require.NoError(t, f.db.Create(&sp).Error)
	f.exec(t, slug, "CREATE TABLE oc_notes (id serial PRIMARY KEY, body text NOT NULL)")
	return sp
}

// exec runs statements in the space's database as its role.
func (f *fixture) exec(t *testing.T, slug string, statements ...string) {
	t.Helper()
	conn := f.conn(t, slug)
	database, role := f.fleet.Names(slug)
	_ = database
	_, err := conn.Exec(context.Background(), "SET ROLE "+pgx.Identifier{role}.Sanitize())
	require.NoError(t, err)
	for _, s := range statements {
		_, err := conn.Exec(context.Background(), s)
		require.NoError(t, err, s)
	}
}

func (f *fixture) conn(t *testing.T, slug string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(modeltest.ServerURL())
	require.NoError(t, err)
	cfg.Database, _ = f.fleet.Names(slug)
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// notes reads the notes table of the space, in order.
func (f *fixture) notes(t *testing.T, slug string) []string {
	t.Helper()
	rows, err := f.conn(t, slug).Query(context.Background(), "SELECT body FROM oc_notes ORDER BY id")
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return got
}

func (f *fixture) env() *testsuite.TestActivityEnvironment {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(f.a)
	return env
}

func (f *fixture) dump(t *testing.T, in backup.DumpInput) (backup.DumpResult, error) {
	t.Helper()
	val, err := f.env().ExecuteActivity(f.a.DumpSpace, in)
	if err != nil {
		return backup.DumpResult{}, err
	}
	var res backup.DumpResult
	require.NoError(t, val.Get(&res))
	return res, nil
}

func (f *fixture) objects(t *testing.T) []string {
	t.Helper()
	var keys []string
	for obj := range f.s3.Client.ListObjectsIter(context.Background(), f.a.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		require.NoError(t, obj.Err)
		keys = append(keys, obj.Key)
	}
	slices.Sort(keys)
	return keys
}

func TestBackupAndRestore(t *testing.T) {
	for _, srv := range s3test.Servers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			f := newFixture(t, srv)

			t.Run("a restore to a time between two backups gives back exactly the rows of the first", func(t *testing.T) {
				sp := f.space(t, models.StatusActive)
				f.exec(t, sp.Slug, "INSERT INTO oc_notes (body) VALUES ('first'), ('second')")
				night1 := time.Now().UTC().Truncate(time.Second)
				first, err := f.dump(t, backup.DumpInput{SpaceID: sp.ID, Slug: sp.Slug, Kind: models.BackupNightly, At: night1})
				require.NoError(t, err)
				assert.Positive(t, first.SizeBytes)
				assert.Len(t, first.SHA256, 64)
				between := time.Now()
				time.Sleep(10 * time.Millisecond)

				f.exec(t, sp.Slug, "INSERT INTO oc_notes (body) VALUES ('third')", "DELETE FROM oc_notes WHERE body = 'first'",
					"CREATE TABLE oc_later (id int)")
				_, err = f.dump(t, backup.DumpInput{SpaceID: sp.ID, Slug: sp.Slug, Kind: models.BackupNightly, At: night1.Add(24 * time.Hour)})
				require.NoError(t, err)
				f.exec(t, sp.Slug, "INSERT INTO oc_notes (body) VALUES ('fourth')")

				val, err := f.env().ExecuteActivity(f.a.RestoreDatabase, backup.RestoreDatabaseInput{SpaceID: sp.ID, Slug: sp.Slug, At: between})
				require.NoError(t, err)
				var res backup.RestoreDatabaseResult
				require.NoError(t, val.Get(&res))
				assert.Equal(t, first.Key, res.Key)
				assert.Equal(t, []string{"first", "second"}, f.notes(t, sp.Slug))
				var later bool
				require.NoError(t, f.conn(t, sp.Slug).QueryRow(context.Background(),
					"SELECT EXISTS (SELECT 1 FROM pg_tables WHERE tablename = 'oc_later')").Scan(&later))
				assert.False(t, later, "a table created after the backup is still there")

				var rec models.Backup
				require.NoError(t, f.db.Where("key = ?", first.Key).First(&rec).Error)
				assert.Equal(t, models.BackupOK, rec.Status)
				assert.Equal(t, first.SizeBytes, rec.SizeBytes)
				assert.Equal(t, first.SHA256, rec.SHA256)
			})

			t.Run("a restore to a time before any backup is refused and changes nothing", func(t *testing.T) {
				sp := f.space(t, models.StatusActive)
				f.exec(t, sp.Slug, "INSERT INTO oc_notes (body) VALUES ('only')")
				_, err := f.env().ExecuteActivity(f.a.RestoreDatabase, backup.RestoreDatabaseInput{SpaceID: sp.ID, Slug: sp.Slug, At: time.Now()})
				require.Error(t, err)
				assert.Contains(t, err.Error(), "no backup")
				assert.Equal(t, []string{"only"}, f.notes(t, sp.Slug))
			})

			t.Run("a dump stopped half-way leaves no backup, its retry makes one, and a retry after it makes none", func(t *testing.T) {
				sp := f.space(t, models.StatusActive)
				f.exec(t, sp.Slug, "INSERT INTO oc_notes (body) SELECT 'note ' || g FROM generate_series(1, 20000) g")
				in := backup.DumpInput{SpaceID: sp.ID, Slug: sp.Slug, Kind: models.BackupNightly, At: time.Now().UTC().Truncate(time.Second)}
				crash := errors.New("worker lost")
				backup.SetOnProgress(f.a, func(n int64) error {
					if n > 0 {
						return crash
					}
					return nil
				})
				started := backup.DumpsStarted(f.a)
				_, err := f.dump(t, in)
				backup.SetOnProgress(f.a, nil)
				require.Error(t, err)
				assert.Empty(t, f.objectsOf(t, sp.Slug), "a dump stopped half-way left an object")

				res, err := f.dump(t, in)
				require.NoError(t, err)
				assert.False(t, res.Reused)
				assert.Equal(t, []string{res.Key}, f.objectsOf(t, sp.Slug))

				again, err := f.dump(t, in)
				require.NoError(t, err)
				assert.True(t, again.Reused, "the retry dumped again")
				assert.Equal(t, res.SHA256, again.SHA256)
				assert.Equal(t, int64(2), backup.DumpsStarted(f.a)-started, "pg_dump runs: the stopped one and the retry, no more")

				// Made but not recorded (the worker lost between the upload and the row):
				// the retry reads the object back instead of dumping again.
				require.NoError(t, f.db.Where("key = ?", res.Key).Delete(&models.Backup{}).Error)
				third, err := f.dump(t, in)
				require.NoError(t, err)
				assert.True(t, third.Reused)
				assert.Equal(t, res.SHA256, third.SHA256)
				assert.Equal(t, int64(2), backup.DumpsStarted(f.a)-started)
			})
		})
	}
}

func (f *fixture) objectsOf(t *testing.T, slug string) []string {
	t.Helper()
	var keys []string
	for _, k := range f.objects(t) {
		if len(k) > len(slug) && k[:len(slug)+1] == slug+"/" {
			keys = append(keys, k)
		}
	}
	return keys
}

func TestRetention(t *testing.T) {
	now := time.Date(2026, 6, 15, 3, 0, 0, 0, time.UTC) // a Monday
	nightly := func(daysAgo int) models.Backup {
		at := now.AddDate(0, 0, -daysAgo).Add(-2 * time.Hour)
		return models.Backup{Key: fmt.Sprintf("d%03d", daysAgo), TakenAt: at}
	}

	t.Run("keeps every night of 30 days and the last of each of 12 weeks, nothing else", func(t *testing.T) {
		var all []models.Backup
		for d := 0; d < 120; d++ {
			all = append(all, nightly(d))
		}
		keep := models.BackupsToKeep(all, now)
		var want []string
		// 30 days ago at 01:00 is 30 days and 2 hours old: gone.
		for d := 0; d < 30; d++ {
			want = append(want, fmt.Sprintf("d%03d", d))
		}
		// Each week's newest is its Sunday (01:00 on the next day's date minus 2 h):
		// 1 day ago is Sunday 14 June at 01:00; then every 7 days, within 84 days.
		for d := 1; d <= 84; d += 7 {
			want = append(want, fmt.Sprintf("d%03d", d))
		}
		slices.Sort(want)
		want = slices.Compact(want)
		got := make([]string, 0, len(keep))
		for k := range keep {
			got = append(got, k)
		}
		slices.Sort(got)
		assert.Equal(t, want, got)
	})

	for _, srv := range s3test.Servers(t) {
		t.Run(srv.Name, func(t *testing.T) {
			f := newFixture(t, srv)
			ctx := context.Background()
			// Records and objects as nights of dumps would leave them.
			put := func(sp models.Space, b models.Backup) models.Backup {
				t.Helper()
				b.SpaceID, b.Slug, b.Kind, b.Status = sp.ID, sp.Slug, models.BackupNightly, models.BackupOK
				b.Key = models.BackupKey(sp.Slug, models.BackupNightly, b.TakenAt)
				body := "dump " + b.Key
				_, err := srv.Client.PutObject(ctx, f.a.Bucket, b.Key, stringReader(body), int64(len(body)), minio.PutObjectOptions{})
				require.NoError(t, err)
				b.SizeBytes = int64(len(body))
				require.NoError(t, f.db.Create(&b).Error)
				return b
			}
			expire := func() backup.ExpireResult {
				val, err := f.env().ExecuteActivity(f.a.ExpireBackups, backup.ExpireInput{Now: now})
				require.NoError(t, err)
				var res backup.ExpireResult
				require.NoError(t, val.Get(&res))
				return res
			}

			t.Run("the expiry pass deletes exactly what the retention does not keep", func(t *testing.T) {
				sp := f.space(t, models.StatusActive)
				var all []models.Backup
				for d := 0; d < 120; d++ {
					all = append(all, put(sp, nightly(d)))
				}
				keep := models.BackupsToKeep(all, now)
				res := expire()
				assert.Equal(t, 120-len(keep), res.Expired)
				var want []string
				for _, b := range all {
					if keep[b.Key] {
						want = append(want, b.Key)
					}
				}
				slices.Sort(want)
				assert.Equal(t, want, f.objectsOf(t, sp.Slug))
				assert.Zero(t, expire().Expired, "a second pass expires more")
			})

			t.Run("the backups of a space deleted more than 30 days ago are all gone, a recent deletion's stay", func(t *testing.T) {
				old := f.space(t, models.StatusActive)
				recent := f.space(t, models.StatusActive)
				for d := 31; d < 40; d++ {
					put(old, nightly(d))
				}
				for d := 10; d < 14; d++ {
					put(recent, nightly(d))
				}
				oldDeleted, recentDeleted := now.Add(-31*24*time.Hour), now.Add(-10*24*time.Hour)
				require.NoError(t, f.db.Model(&old).Updates(map[string]any{"status": models.StatusDeleted, "deleted_at": oldDeleted}).Error)
				require.NoError(t, f.db.Model(&recent).Updates(map[string]any{"status": models.StatusDeleted, "deleted_at": recentDeleted}).Error)
				expire()
				assert.Empty(t, f.objectsOf(t, old.Slug))
				assert.Len(t, f.objectsOf(t, recent.Slug), 4)
			})
		})
	}
}

func TestSpacesWithoutRecentBackup(t *testing.T) {
	db := modeltest.NewDB(t)
	now := time.Now()
	mk := func(slug string, provisionedAgo time.Duration) models.Space {
		at := now.Add(-provisionedAgo)
		sp := models.Space{Slug: slug, Status: models.StatusActive, OfficeSuite: "collabora", SubmittedAt: at, ProvisionedAt: &at}
		require.NoError(t, db.Create(&sp).Error)
		return sp
	}
	fresh, good, stale, never := mk("fresh", time.Hour), mk("good", 100*time.Hour), mk("stale", 100*time.Hour), mk("never", 100*time.Hour)
	_ = fresh
	rec := func(sp models.Space, ago time.Duration, status string) {
		at := now.Add(-ago)
		require.NoError(t, db.Create(&models.Backup{SpaceID: sp.ID, Slug: sp.Slug, Key: models.BackupKey(sp.Slug, models.BackupNightly, at),
			Kind: models.BackupNightly, TakenAt: at, Status: status, Error: "boom"}).Error)
	}
	rec(good, 20*time.Hour, models.BackupOK)
	rec(stale, 60*time.Hour, models.BackupOK)
	rec(stale, 20*time.Hour, models.BackupFailed)
	got, err := models.SpacesWithoutRecentBackup(db, now)
	require.NoError(t, err)
	var slugs []string
	for _, s := range got {
		slugs = append(slugs, s.Slug)
	}
	assert.Equal(t, []string{never.Slug, stale.Slug}, slugs)
	assert.Equal(t, "boom", got[1].LastError)
	assert.Nil(t, got[0].LastGoodAt)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
