package nextcloud

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nextcloudSpace creates, on the test PostgreSQL server, the database of a space with
// the tables of a real Nextcloud (testdata/nextcloud-schema) and what sql adds to
// them; it is dropped when the test ends.
func nextcloudSpace(t testing.TB, d *Occ, schema, sql string) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	slug := "quotas-" + hex.EncodeToString(b)
	require.NoError(t, d.fleet.Create(t.Context(), slug))
	t.Cleanup(func() { _ = d.fleet.Drop(t.Context(), slug) })
	tables, err := os.ReadFile(filepath.Join("testdata", "nextcloud-schema", schema))
	require.NoError(t, err)
	require.NoError(t, d.withSpaceDB(t.Context(), slug, func(c *pgx.Conn) error {
		if _, err := c.Exec(t.Context(), string(tables)); err != nil {
			return err
		}
		_, err := c.Exec(t.Context(), sql)
		return err
	}))
	return slug
}

// spaceQuotas reads the quotas ShareQuota wrote: user → quota, and "" → default quota.
func spaceQuotas(t *testing.T, d *Occ, slug string) map[string]string {
	t.Helper()
	quotas := map[string]string{}
	require.NoError(t, d.withSpaceDB(t.Context(), slug, func(c *pgx.Conn) error {
		rows, err := c.Query(t.Context(), `SELECT userid, configvalue FROM oc_preferences WHERE appid = 'files' AND configkey = 'quota'
			UNION ALL SELECT '', configvalue FROM oc_appconfig WHERE appid = 'files' AND configkey = 'default_quota'`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var user, quota string
			if err := rows.Scan(&user, &quota); err != nil {
				return err
			}
			quotas[user] = quota
		}
		return rows.Err()
	}))
	return quotas
}

// A space as Nextcloud records it with S3 primary storage (read off a real instance):
// one storage per home, object::user:<login>, whose root holds files, versions and
// trash and whose "files" their files; and the instance's own storage (previews, app
// data). The admin's files take 8 GiB, bob's 2 GiB, carol has none yet; dave was
// deleted but his storage is still counted; the instance holds 1 GiB of previews. The
// space's admin gave bob an unlimited quota. The admin last logged in with a password
// at 1700000000; bob's sync client was last seen an hour later. oc_authtoken is not
// among the recorded tables: its columns that matter are created here as Nextcloud's
// migrations create them on PostgreSQL.
const sharedSpaceSQL = `
CREATE TABLE oc_authtoken (id bigserial PRIMARY KEY, uid varchar(64) NOT NULL DEFAULT '',
	token varchar(200) NOT NULL DEFAULT '', last_activity integer DEFAULT 0);
INSERT INTO oc_authtoken (uid, token, last_activity) VALUES ('bob', 'sync-client', 1700003600);
INSERT INTO oc_users (uid, uid_lower) VALUES ('admin', 'admin'), ('bob', 'bob'), ('carol', 'carol');
INSERT INTO oc_storages (numeric_id, id) VALUES (1, 'object::user:admin'), (2, 'object::store:amazon::space-x'),
	(3, 'object::user:bob'), (4, 'object::user:dave');
INSERT INTO oc_filecache (storage, path, path_hash, size) VALUES
	(1, '', md5(''), 9663676416), (1, 'files', md5('files'), 8589934592),
	(2, '', md5(''), 1073741824),
	(3, '', md5(''), 2147483648), (3, 'files', md5('files'), 2147483648),
	(4, '', md5(''), 1073741824), (4, 'files', md5('files'), 1073741824);
INSERT INTO oc_preferences (userid, appid, configkey, configvalue) VALUES
	('bob', 'files', 'quota', 'none'), ('admin', 'login', 'lastLogin', '1700000000');
INSERT INTO oc_appconfig (appid, configkey, configvalue) VALUES ('files', 'enabled', 'yes');
`

func TestShareQuotaOnNextcloudTables(t *testing.T) {
	const gib = int64(1) << 30
	schemas, err := filepath.Glob(filepath.Join("testdata", "nextcloud-schema", "*.sql"))
	require.NoError(t, err)
	require.NotEmpty(t, schemas)
	for _, path := range schemas {
		schema := filepath.Base(path)
		t.Run("on the tables of Nextcloud "+schema[:len(schema)-len(".sql")], func(t *testing.T) {
			d, run := newTestOcc(t)
			slug := nextcloudSpace(t, d, schema, sharedSpaceSQL)

			usage, err := d.ShareQuota(t.Context(), slug, 50*gib)
			require.NoError(t, err)
			// 9 GiB for the admin (versions and trash count), 1 for previews, 2 for
			// bob, 1 for dave: 37 GiB left.
			assert.Equal(t, QuotaUsage{UsedBytes: 13 * gib, Accounts: 3, Changed: 4,
				LastActivity: time.Unix(1700003600, 0).UTC()}, usage, "the last activity is read too: bob's sync client")
			assert.Equal(t, map[string]string{
				"admin": quotaString(8*gib + 37*gib),
				"bob":   quotaString(2*gib + 37*gib),
				"carol": quotaString(37 * gib),
				"":      quotaString(37 * gib),
			}, spaceQuotas(t, d, slug), "each account gets its files plus what is left; a deleted account none")
			assert.Empty(t, run.commands, "quotas are written without starting PHP")

			again, err := d.ShareQuota(t.Context(), slug, 50*gib)
			require.NoError(t, err)
			assert.Zero(t, again.Changed, "sharing again without change rewrites nothing")

			full, err := d.ShareQuota(t.Context(), slug, 10*gib)
			require.NoError(t, err)
			assert.Equal(t, 4, full.Changed)
			assert.Equal(t, map[string]string{
				"admin": quotaString(8 * gib), "bob": quotaString(2 * gib), "carol": "1 B", "": "1 B",
			}, spaceQuotas(t, d, slug), "a space over its quota lets nobody write more")
		})
	}

	t.Run("a space without database fails and changes nothing", func(t *testing.T) {
		d, _ := newTestOcc(t)
		_, err := d.ShareQuota(t.Context(), "no-such-space", 50*gib)
		assert.Error(t, err)
	})
}

// BenchmarkShareQuota measures what the quota rebalance does for each space in
// service: a connection to its database and one transaction on the tables of a real
// Nextcloud, here with 5 accounts (the fleet's mean is 4.8), the concurrency of
// ShareSpaceQuotas. It reports spaces per second and the time a run over 10,000 spaces
// would take on this machine (`make bench-quota`).
func BenchmarkShareQuota(b *testing.B) {
	const gib = int64(1) << 30
	d, _ := newTestOcc(b)
	slug := nextcloudSpace(b, d, "30.0.5.sql", sharedSpaceSQL+`
INSERT INTO oc_users (uid, uid_lower) VALUES ('dominique', 'dominique'), ('eli', 'eli');`)
	b.SetParallelism(defaultQuotaConcurrency / max(1, runtime.GOMAXPROCS(0)))
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := d.ShareQuota(b.Context(), slug, 50*gib); err != nil {
				b.Error(err)
				return
			}
		}
	})
	perSecond := float64(b.N) / time.Since(start).Seconds()
	b.ReportMetric(perSecond, "spaces/s")
	b.ReportMetric(10000/perSecond, "s/10000-spaces")
}
