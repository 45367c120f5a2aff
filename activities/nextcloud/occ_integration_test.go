package nextcloud_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/activities/nextcloud"
	"jardinier/activities/nextcloud/nextcloudtest"
	"jardinier/models"
	"jardinier/models/modeltest"
)

// The integration test drives a real Nextcloud. It runs when NEXTCLOUD_TEST_CODE_DIR
// names a Nextcloud release tree (with its 3rdparty directory) that php can run, and
// reads:
//
//	NEXTCLOUD_TEST_CODE_DIR      the release tree; its version is read from version.php
//	NEXTCLOUD_TEST_S3_ENDPOINT   host:port of an S3 server (MinIO), default 127.0.0.1:9000
//	NEXTCLOUD_TEST_S3_ACCESS_KEY its access key, default jardinier
//	NEXTCLOUD_TEST_S3_SECRET_KEY its secret key, default jardinier-dev-secret
//	NEXTCLOUD_TEST_REDIS         host:port of Redis, default 127.0.0.1:6379
//	NEXTCLOUD_TEST_PHP           the php binary, default php
//	NEXTCLOUD_TEST_ACCESS_CONTROL  true if files_accesscontrol can be enabled (app store)
//	NEXTCLOUD_TEST_APPS_DIR      apps to put in the space's apps directory, as the app
//	                             store would (e.g. files_accesscontrol of the release);
//	                             with files_accesscontrol, the video rule is tested
//	NEXTCLOUD_TEST_NEXT_CODE_DIR a release tree of the next version (same major or the
//	                             next one): the space is upgraded to it for real
//	NEXTCLOUD_TEST_NEXT_APPS_DIR the apps of that version, replacing those of
//	                             NEXTCLOUD_TEST_APPS_DIR before the upgrade
//	NEXTCLOUD_TEST_SSH_HOST      host:port of an SSH server on this machine: the driver
//	                             then runs occ through it, as on a web node, with
//	NEXTCLOUD_TEST_SSH_USER, NEXTCLOUD_TEST_SSH_KEY and NEXTCLOUD_TEST_SSH_KNOWN_HOSTS
//
// and the test PostgreSQL server of modeltest (TEST_DATABASE_URL), as the fleet's.
// When nginx and php-fpm are installed (Debian's nginx and php8.2-fpm), the test serves
// the space through them as a web node does (nextcloudtest.WebNode, deploy/nginx), and
// checks it over HTTP (CheckWeb) after install, upgrade and rollback; otherwise through
// php's built-in web server, without those checks. deploy/nextcloud.md tells how to get
// all of them on one machine.
const occTestHowTo = "set NEXTCLOUD_TEST_CODE_DIR to a Nextcloud release tree and NEXTCLOUD_TEST_S3_* to a MinIO server to run it (deploy/nextcloud.md, \"Integration test\")"

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// occFixture is an occ driver on a fleet of one machine, in temporary directories.
type occFixture struct {
	ctx     context.Context
	driver  *nextcloud.Occ
	opts    nextcloud.OccOptions
	version string
	next    string // the version of NEXTCLOUD_TEST_NEXT_CODE_DIR; "" without it
	s3      *minio.Client
	slug    string
	bucket  string
	// node serves the spaces through nginx and php-fpm, as a web node does, when both
	// are installed; nil: each serve starts php's built-in web server.
	node *nextcloudtest.WebNode
}

func setupOcc(t *testing.T) *occFixture {
	t.Helper()
	code := os.Getenv("NEXTCLOUD_TEST_CODE_DIR")
	if code == "" {
		t.Skip("no Nextcloud to drive: " + occTestHowTo)
	}
	php := env("NEXTCLOUD_TEST_PHP", "php")
	version := nextcloudtest.CodeVersion(t, php, code)

	root := t.TempDir()
	codeRoot := filepath.Join(root, "code")
	require.NoError(t, os.MkdirAll(codeRoot, 0o755))
	require.NoError(t, os.Symlink(code, filepath.Join(codeRoot, version)))
	next := ""
	if nextCode := os.Getenv("NEXTCLOUD_TEST_NEXT_CODE_DIR"); nextCode != "" {
		next = nextcloudtest.CodeVersion(t, php, nextCode)
		require.NoError(t, os.Symlink(nextCode, filepath.Join(codeRoot, next)))
		seedTree(t, codeRoot, next, os.Getenv("NEXTCLOUD_TEST_NEXT_APPS_DIR"))
	}
	seedTree(t, codeRoot, version, os.Getenv("NEXTCLOUD_TEST_APPS_DIR"))

	endpoint := env("NEXTCLOUD_TEST_S3_ENDPOINT", "127.0.0.1:9000")
	access := env("NEXTCLOUD_TEST_S3_ACCESS_KEY", "jardinier")
	secret := env("NEXTCLOUD_TEST_S3_SECRET_KEY", "jardinier-dev-secret")
	s3, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(access, secret, "")})
	require.NoError(t, err)

	key := make([]byte, 32)
	_, _ = rand.Read(key)
	opts := nextcloud.OccOptions{
		PHP:            php,
		CodeRoot:       codeRoot,
		ConfigRoot:     filepath.Join(root, "config"),
		DataRoot:       filepath.Join(root, "data"),
		BaseDomain:     "jardinier.localhost",
		DBHost:         dbHostPort(t),
		S3Endpoint:     endpoint,
		S3AccessKey:    access,
		S3SecretKey:    secret,
		RedisHost:      env("NEXTCLOUD_TEST_REDIS", "127.0.0.1:6379"),
		RedisPrefix:    "jardinier-test-",
		Secret:         key,
		SnapshotDir:    filepath.Join(root, "snapshots"),
		DeactivatedMap: filepath.Join(root, "nginx", "deactivated-spaces.map"),
		ReloadWeb:      []string{"touch", filepath.Join(root, "nginx", "reloaded")},
		AccessControl:  env("NEXTCLOUD_TEST_ACCESS_CONTROL", "") == "true" || hasApp("NEXTCLOUD_TEST_APPS_DIR", "files_accesscontrol"),
		Timeout:        5 * time.Minute,
		SSHHost:        os.Getenv("NEXTCLOUD_TEST_SSH_HOST"),
		SSHUser:        os.Getenv("NEXTCLOUD_TEST_SSH_USER"),
		SSHKey:         os.Getenv("NEXTCLOUD_TEST_SSH_KEY"),
		SSHKnownHosts:  os.Getenv("NEXTCLOUD_TEST_SSH_KNOWN_HOSTS"),
		// admin_audit ships with every release.
		ApprovedApps: []string{"admin_audit"},
	}
	require.NoError(t, os.MkdirAll(filepath.Dir(opts.DeactivatedMap), 0o755))
	var node *nextcloudtest.WebNode
	if ok, why := nextcloudtest.HaveWebNode(); ok {
		node = nextcloudtest.StartWebNode(t, opts.ConfigRoot, opts.DataRoot, opts.DeactivatedMap)
		// deploy/nginx/space.conf hands php-fpm the resolved code link: no reload needed.
		opts.HealthURL = node.URL
	} else {
		t.Logf("spaces served by php's built-in web server, which cannot show what a web node does: %s", why)
	}
	fleet, err := nextcloud.NewFleetDB(modeltest.ServerURL())
	require.NoError(t, err)
	t.Cleanup(func() { fleet.Close() })
	driver, err := nextcloud.NewOcc(opts, fleet, nil, nil)
	require.NoError(t, err)

	b := make([]byte, 4)
	_, _ = rand.Read(b)
	f := &occFixture{ctx: t.Context(), driver: driver, opts: opts, version: version, next: next, s3: s3,
		slug: "it-" + hex.EncodeToString(b), node: node}
	f.bucket = "space-" + f.slug
	require.NoError(t, s3.MakeBucket(f.ctx, f.bucket, minio.MakeBucketOptions{}), "create the bucket on %s", endpoint)
	t.Cleanup(func() {
		ctx := context.Background()
		assert.NoError(t, driver.Remove(ctx, f.slug))
		for obj := range s3.ListObjects(ctx, f.bucket, minio.ListObjectsOptions{Recursive: true}) {
			_ = s3.RemoveObject(ctx, f.bucket, obj.Key, minio.RemoveObjectOptions{})
		}
		_ = s3.RemoveBucket(ctx, f.bucket)
	})
	return f
}

// hasApp reports whether the apps directory named by the variable holds app.
func hasApp(variable, app string) bool {
	dir := os.Getenv(variable)
	if dir == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, app, "appinfo", "info.xml"))
	return err == nil
}

// seedTree puts the apps of dir into the shared tree of version, as PrepareApps
// would from the app store, so that the test need not reach it: PrepareApps then only
// fetches what dir lacks (the office suites' apps, unless dir holds them).
func seedTree(t *testing.T, codeRoot, version, dir string) {
	t.Helper()
	if dir == "" {
		return
	}
	tree := filepath.Join(codeRoot, "apps-"+version)
	require.NoError(t, os.MkdirAll(tree, 0o755))
	apps, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, app := range apps {
		dst := filepath.Join(tree, app.Name())
		out, err := exec.Command("cp", "-a", filepath.Join(dir, app.Name()), dst).CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.NoError(t, os.WriteFile(filepath.Join(dst, ".jardinier-release"), []byte("test\n"), 0o644))
	}
}

// installApps copies the apps of the directory named by the variable into the space's
// own apps directory, if it has one (installed before the shared trees), replacing
// those of the same name, as the app store would install or update them; the shared
// trees got them from seedTree.
func (f *occFixture) installApps(t *testing.T, variable string) {
	t.Helper()
	dir := os.Getenv(variable)
	if dir == "" {
		return
	}
	if _, err := os.Stat(filepath.Join(f.opts.DataRoot, f.slug, "apps")); err != nil {
		return
	}
	apps, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, app := range apps {
		dst := filepath.Join(f.opts.DataRoot, f.slug, "apps", app.Name())
		require.NoError(t, os.RemoveAll(dst))
		out, err := exec.Command("cp", "-a", filepath.Join(dir, app.Name()), dst).CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
}

// serve serves the fixture's space over HTTP: through the web node, which follows its
// code link, or else php's web server from the code base it runs from now.
func (f *occFixture) serve(t *testing.T) *nextcloudtest.Web {
	t.Helper()
	if f.node != nil {
		return f.node.Space(f.slug + ".jardinier.localhost")
	}
	return nextcloudtest.Serve(t, f.opts.PHP, filepath.Join(f.opts.ConfigRoot, f.slug), f.slug+".jardinier.localhost")
}

// checkWeb runs the upgrade's web check on the space, through the web node, and logs
// what status.php answered; without a web node it says so.
func (f *occFixture) checkWeb(t *testing.T, version, when string) {
	t.Helper()
	if f.node == nil {
		t.Logf("%s: no web node to check over HTTP (apt-get install nginx php8.2-fpm)", when)
		return
	}
	status, body := f.node.Space(f.slug+".jardinier.localhost").Do(t, http.MethodGet, "/status.php", "", "", nil)
	t.Logf("%s: status.php answered %d %s", when, status, body)
	require.NoError(t, f.driver.CheckWeb(f.ctx, f.slug, version), "%s\n%s", when, f.node.Logs())
	login, _ := f.node.Space(f.slug+".jardinier.localhost").Do(t, http.MethodGet, "/index.php/login", "", "", nil)
	t.Logf("%s: the login page answered %d", when, login)
}

// dbHostPort is where the test PostgreSQL server listens, as Nextcloud reaches it.
func dbHostPort(t *testing.T) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(modeltest.ServerURL())
	require.NoError(t, err)
	return cfg.Host + ":" + strconv.Itoa(int(cfg.Port))
}

// occ runs occ on the fixture's space as the driver does, for checks the Driver does
// not offer.
func (f *occFixture) occ(t *testing.T, stdinEnv map[string]string, args ...string) (string, error) {
	t.Helper()
	return nextcloudtest.Occ(t, f.opts.PHP, filepath.Join(f.opts.ConfigRoot, f.slug), stdinEnv, args...)
}

// spaceSQL runs a statement on the space's database.
func (f *occFixture) spaceSQL(t *testing.T, query string, args ...any) {
	t.Helper()
	cfg, err := pgx.ParseConfig(modeltest.ServerURL())
	require.NoError(t, err)
	cfg.Database = "nc_" + strings.ReplaceAll(f.slug, "-", "_")
	conn, err := pgx.ConnectConfig(f.ctx, cfg)
	require.NoError(t, err)
	defer conn.Close(f.ctx)
	_, err = conn.Exec(f.ctx, query, args...)
	require.NoError(t, err)
}

func TestOccDriverAgainstRealNextcloud(t *testing.T) {
	f := setupOcc(t)
	d := f.driver
	spec := nextcloud.InstallSpec{Slug: f.slug, Domain: f.slug + ".jardinier.localhost", Version: f.version,
		Bucket: f.bucket, AdminUser: "admin"}
	const adminPassword = "Un-mot-de-passe-solide-42"

	t.Run("a space not installed reports so", func(t *testing.T) {
		st, err := d.Status(f.ctx, f.slug)
		require.NoError(t, err)
		assert.False(t, st.Installed)
		assert.ErrorIs(t, d.SetMaintenance(f.ctx, f.slug, true), nextcloud.ErrNotInstalled)
	})

	t.Run("install puts the files in the space's bucket", func(t *testing.T) {
		require.NoError(t, d.CreateDatabase(f.ctx, f.slug))
		require.NoError(t, d.Install(f.ctx, spec))
		f.installApps(t, "NEXTCLOUD_TEST_APPS_DIR")
		st, err := d.Status(f.ctx, f.slug)
		require.NoError(t, err)
		assert.Equal(t, nextcloud.InstanceStatus{Installed: true, Version: f.version}, st)
		hello := filepath.Join(t.TempDir(), "bonjour.txt")
		require.NoError(t, os.WriteFile(hello, []byte("Bonjour !"), 0o644))
		out, err := f.occ(t, nil, "files:put", hello, "/admin/files/bonjour.txt")
		require.NoError(t, err, out)
		objects := 0
		for obj := range f.s3.ListObjects(f.ctx, f.bucket, minio.ListObjectsOptions{Recursive: true}) {
			require.NoError(t, obj.Err)
			objects++
		}
		assert.Positive(t, objects, "Nextcloud wrote no file into its bucket")
		code, err := d.CodeVersion(f.ctx, f.slug)
		require.NoError(t, err)
		assert.Equal(t, f.version, code)
		f.checkWeb(t, f.version, "installed")
	})

	t.Run("the space's keys in Redis carry its prefix", func(t *testing.T) {
		prefix := f.opts.RedisPrefix + f.slug + ":"
		keys := nextcloudtest.RedisKeys(t, f.opts.PHP, f.opts.RedisHost, prefix+"*")
		code := filepath.Join(f.opts.CodeRoot, f.version)
		if !nextcloudtest.ReadsConfigKey(t, code, "memcache_customprefix") {
			// Releases before the key (33.0.1) prefix theirs with md5(instance id, versions, path).
			assert.Empty(t, keys, "Nextcloud %s reads no key prefix, yet keys carry it", f.version)
			t.Logf("Nextcloud %s reads no memcache_customprefix: its keys cannot carry %q", f.version, prefix)
			return
		}
		assert.NotEmpty(t, keys, "no key of Redis at %s starts with %q", f.opts.RedisHost, prefix)
	})

	t.Run("install again finishes or keeps the job", func(t *testing.T) {
		require.NoError(t, d.Install(f.ctx, spec))
		out, err := f.occ(t, nil, "config:system:get", "trusted_domains")
		require.NoError(t, err, out)
		assert.Equal(t, spec.Domain, strings.TrimSpace(out))
	})

	t.Run("the admin is created, then its password reset", func(t *testing.T) {
		require.NoError(t, d.CreateAdmin(f.ctx, f.slug, "admin", adminPassword))
		require.NoError(t, d.CreateAdmin(f.ctx, f.slug, "admin", adminPassword+"-bis"))
		out, err := f.occ(t, nil, "user:info", "admin", "--output=json")
		require.NoError(t, err, out)
		assert.Contains(t, out, `"groups":["admin"]`)
	})

	t.Run("apps of the code base are enabled, office suites not chosen disabled", func(t *testing.T) {
		// admin_audit ships with every release; the office suites come from the app
		// store, which the test need not reach: "none" only disables them.
		require.NoError(t, d.EnableApps(f.ctx, f.slug, models.OfficeNone, []string{"admin_audit"}))
		require.NoError(t, d.EnableApps(f.ctx, f.slug, models.OfficeNone, []string{"admin_audit"}), "again")
		out, err := f.occ(t, nil, "app:list", "--output=json")
		require.NoError(t, err, out)
		var apps struct{ Enabled, Disabled map[string]any }
		require.NoError(t, json.Unmarshal([]byte(out), &apps), out)
		assert.Contains(t, apps.Enabled, "admin_audit")
		assert.NotContains(t, apps.Enabled, nextcloud.AppCollabora)
		assert.NotContains(t, apps.Enabled, nextcloud.AppOnlyOffice)

		layout, err := d.AppsLayout(f.ctx, f.slug)
		require.NoError(t, err)
		assert.True(t, layout.Closed(), "the shared apps, the store closed, nothing writable: %+v", layout)
		assert.ErrorIs(t, d.EnableApps(f.ctx, f.slug, models.OfficeNone, []string{"mail"}), nextcloud.ErrPermanent,
			"an app the operator did not approve")
		out, err = f.occ(t, nil, "app:install", "mail")
		assert.Error(t, err, "the space cannot install an app by itself: %s", out)
	})

	t.Run("limits cap accounts and share the quota", func(t *testing.T) {
		limits := models.DefaultLimits()
		limits.MaxAccounts = 2
		require.NoError(t, d.ApplyLimits(f.ctx, f.slug, limits))
		out, err := f.occ(t, map[string]string{"OC_PASS": adminPassword}, "user:add", "--password-from-env", "bob")
		require.NoError(t, err, out)
		out, err = f.occ(t, map[string]string{"OC_PASS": adminPassword}, "user:add", "--password-from-env", "carol")
		assert.Error(t, err, "a third account was created under a limit of 2: %s", out)

		require.NoError(t, d.ApplyLimits(f.ctx, f.slug, limits))
		out, err = f.occ(t, nil, "user:info", "bob", "--output=json")
		require.NoError(t, err, out)
		var info struct{ Quota string }
		require.NoError(t, json.Unmarshal([]byte(out), &info))
		assert.Regexp(t, `^\d+ B$`, info.Quota)
		assert.NotEqual(t, "none", info.Quota)
	})

	t.Run("no activity, then the latest of logins and tokens", func(t *testing.T) {
		last, err := d.LastActivity(f.ctx, f.slug)
		require.NoError(t, err)
		assert.True(t, last.IsZero(), "last activity %v of a space nobody used", last)

		login := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
		out, err := f.occ(t, nil, "user:setting", "bob", "login", "lastLogin", strconv.FormatInt(login.Unix(), 10))
		require.NoError(t, err, out)
		last, err = d.LastActivity(f.ctx, f.slug)
		require.NoError(t, err)
		assert.Equal(t, login, last)

		token := login.Add(48 * time.Hour)
		f.spaceSQL(t, `INSERT INTO oc_authtoken (uid, login_name, name, token, type, remember, last_activity, last_check)
			VALUES ('bob', 'bob', 'client de synchronisation', 'tok-'||md5(random()::text), 1, 0, $1, $1)`, token.Unix())
		last, err = d.LastActivity(f.ctx, f.slug)
		require.NoError(t, err)
		assert.Equal(t, token, last)
	})

	const mb = 1 << 20
	webLimits := models.Limits{MaxAccounts: 2, QuotaBytes: 40 * mb, MaxVideoBytes: 2 * mb}

	t.Run("video files over the limit are refused over WebDAV, other files are not", func(t *testing.T) {
		if !f.opts.AccessControl {
			t.Skip("files_accesscontrol is not available: set NEXTCLOUD_TEST_APPS_DIR to apps holding it")
		}
		require.NoError(t, d.ApplyLimits(f.ctx, f.slug, webLimits))
		web := f.serve(t)
		assert.Equal(t, http.StatusForbidden, web.Upload(t, "bob", adminPassword, "film.mp4", 3*mb))
		assert.Equal(t, http.StatusCreated, web.Upload(t, "bob", adminPassword, "extrait.mp4", mb))
		assert.Equal(t, http.StatusCreated, web.Upload(t, "bob", adminPassword, "archive.zip", 3*mb))
	})

	t.Run("over WebDAV, the space's quota holds across its users", func(t *testing.T) {
		require.NoError(t, d.ApplyLimits(f.ctx, f.slug, webLimits))
		web := f.serve(t)
		require.Equal(t, http.StatusCreated, web.Upload(t, "bob", adminPassword, "compte-rendu.txt", 1000))
		require.Equal(t, http.StatusCreated, web.Upload(t, "bob", adminPassword, "rapport.bin", 20*mb))

		usage, err := d.ShareQuota(f.ctx, f.slug, webLimits.QuotaBytes)
		require.NoError(t, err)
		assert.Equal(t, 2, usage.Accounts)
		assert.GreaterOrEqual(t, usage.UsedBytes, int64(20*mb))
		assert.Equal(t, 2, usage.Changed, "the admin's quota and the default shrink; bob's stays, his files grew by what the space lost")
		free := int(webLimits.QuotaBytes - usage.UsedBytes)
		require.Greater(t, free, 2*mb)

		assert.Equal(t, http.StatusInsufficientStorage, web.Upload(t, "bob", adminPassword, "trop.bin", free+mb),
			"more than the space has left")
		assert.Equal(t, http.StatusInsufficientStorage, web.Upload(t, "admin", adminPassword+"-bis", "trop.bin", free+mb),
			"the admin shares the same space")
		require.Equal(t, http.StatusCreated, web.Upload(t, "bob", adminPassword, "dernier.bin", free-mb))

		usage, err = d.ShareQuota(f.ctx, f.slug, webLimits.QuotaBytes)
		require.NoError(t, err)
		assert.Equal(t, http.StatusInsufficientStorage, web.Upload(t, "admin", adminPassword+"-bis", "encore.bin", 2*mb),
			"the space holds %d of %d bytes", usage.UsedBytes, webLimits.QuotaBytes)
		again, err := d.ShareQuota(f.ctx, f.slug, webLimits.QuotaBytes)
		require.NoError(t, err)
		assert.Zero(t, again.Changed, "sharing again without change rewrites nothing")

		out, err := f.occ(t, nil, "user:setting", "bob", "files", "quota", "none")
		require.NoError(t, err, out)
		again, err = d.ShareQuota(f.ctx, f.slug, webLimits.QuotaBytes)
		require.NoError(t, err)
		assert.Equal(t, 1, again.Changed, "a quota changed by the space's admin is put back")
		out, err = f.occ(t, nil, "user:info", "bob", "--output=json")
		require.NoError(t, err, out)
		var info struct{ Quota string }
		require.NoError(t, json.Unmarshal([]byte(out), &info))
		assert.NotEqual(t, "none", info.Quota)
	})

	t.Run("maintenance goes on and off", func(t *testing.T) {
		require.NoError(t, d.SetMaintenance(f.ctx, f.slug, true))
		require.NoError(t, d.SetMaintenance(f.ctx, f.slug, true))
		st, err := d.Status(f.ctx, f.slug)
		require.NoError(t, err)
		assert.True(t, st.Maintenance)
		require.NoError(t, d.SetMaintenance(f.ctx, f.slug, false))
		st, err = d.Status(f.ctx, f.slug)
		require.NoError(t, err)
		assert.False(t, st.Maintenance)
	})

	t.Run("deactivation writes the web route and maintenance", func(t *testing.T) {
		require.NoError(t, d.SetDeactivated(f.ctx, f.slug, true))
		require.NoError(t, d.SetDeactivated(f.ctx, f.slug, true))
		m, err := os.ReadFile(f.opts.DeactivatedMap)
		require.NoError(t, err)
		assert.Equal(t, f.slug+" 1;\n", string(m))
		st, err := d.Status(f.ctx, f.slug)
		require.NoError(t, err)
		assert.True(t, st.Maintenance)
		require.NoError(t, d.SetDeactivated(f.ctx, f.slug, false))
		m, err = os.ReadFile(f.opts.DeactivatedMap)
		require.NoError(t, err)
		assert.Empty(t, string(m))
		st, err = d.Status(f.ctx, f.slug)
		require.NoError(t, err)
		assert.False(t, st.Maintenance)
	})

	t.Run("a real upgrade to the next version, rolled back, then done", func(t *testing.T) {
		if f.next == "" {
			t.Skip("no next version: set NEXTCLOUD_TEST_NEXT_CODE_DIR to a release tree of the next version")
		}
		// Room for the video check at the end.
		roomy := webLimits
		roomy.QuotaBytes = 1 << 30
		require.NoError(t, d.ApplyLimits(f.ctx, f.slug, roomy))
		const file = "/remote.php/dav/files/bob/compte-rendu.txt"
		web := f.serve(t)
		status, before := web.Do(t, http.MethodGet, file, "bob", adminPassword, nil)
		require.Equal(t, http.StatusOK, status, before)

		// The steps in the order the space workflow runs them (Driver).
		start := func() string {
			require.NoError(t, d.SetMaintenance(f.ctx, f.slug, true))
			require.NoError(t, d.SetCron(f.ctx, f.slug, false))
			snap, err := d.Snapshot(f.ctx, f.slug)
			require.NoError(t, err)
			require.NoError(t, d.SwitchCode(f.ctx, f.slug, f.next))
			f.installApps(t, "NEXTCLOUD_TEST_NEXT_APPS_DIR") // as the app store would
			require.NoError(t, d.Upgrade(f.ctx, f.slug, f.next))
			st, err := d.Status(f.ctx, f.slug)
			require.NoError(t, err)
			require.Equal(t, nextcloud.InstanceStatus{Installed: true, Version: f.next, Maintenance: true}, st)
			if f.node != nil {
				err := d.CheckWeb(f.ctx, f.slug, f.next)
				assert.Error(t, err, "not healthy before it leaves maintenance")
				t.Logf("upgraded to %s, in maintenance: %v", f.next, err)
			}
			return snap
		}
		backInService := func() {
			require.NoError(t, d.SetMaintenance(f.ctx, f.slug, false))
			require.NoError(t, d.SetCron(f.ctx, f.slug, true))
		}

		snap := start()
		// As when the health check fails: the snapshot and the old code come back.
		require.NoError(t, d.RestoreSnapshot(f.ctx, f.slug, snap))
		require.NoError(t, d.SwitchCode(f.ctx, f.slug, f.version))
		backInService()
		st, err := d.Status(f.ctx, f.slug)
		require.NoError(t, err)
		assert.Equal(t, nextcloud.InstanceStatus{Installed: true, Version: f.version}, st, "rolled back")
		f.checkWeb(t, f.version, "rolled back from "+f.next+" to "+f.version)
		web = f.serve(t)
		status, after := web.Do(t, http.MethodGet, file, "bob", adminPassword, nil)
		assert.Equal(t, http.StatusOK, status, "the rolled back space serves its files: %.300s", after)
		assert.Equal(t, before, after)
		require.NoError(t, d.DropSnapshot(f.ctx, f.slug, snap))

		snap = start()
		backInService()
		f.checkWeb(t, f.next, "upgraded from "+f.version+" to "+f.next)
		require.NoError(t, d.PostUpgrade(f.ctx, f.slug))
		require.NoError(t, d.DropSnapshot(f.ctx, f.slug, snap))
		code, err := d.CodeVersion(f.ctx, f.slug)
		require.NoError(t, err)
		assert.Equal(t, f.next, code)
		web = f.serve(t)
		status, after = web.Do(t, http.MethodGet, file, "bob", adminPassword, nil)
		assert.Equal(t, http.StatusOK, status, "the upgraded space serves its files: %.300s", after)
		assert.Equal(t, before, after)
		if f.opts.AccessControl {
			assert.Equal(t, http.StatusForbidden, web.Upload(t, "bob", adminPassword, "film2.mp4", 3*mb),
				"the video rule holds after the upgrade")
		}
	})

	t.Run("upgrade steps on the same version", func(t *testing.T) {
		require.NoError(t, d.SetCron(f.ctx, f.slug, false))
		assert.FileExists(t, filepath.Join(f.opts.ConfigRoot, f.slug, "cron-paused"))
		require.NoError(t, d.SetCron(f.ctx, f.slug, true))
		assert.NoFileExists(t, filepath.Join(f.opts.ConfigRoot, f.slug, "cron-paused"))

		snap, err := d.Snapshot(f.ctx, f.slug)
		require.NoError(t, err)
		out, err := f.occ(t, map[string]string{"OC_PASS": adminPassword}, "user:delete", "bob")
		require.NoError(t, err, out)
		require.NoError(t, d.SetMaintenance(f.ctx, f.slug, true))
		require.NoError(t, d.RestoreSnapshot(f.ctx, f.slug, snap))
		require.NoError(t, d.SetMaintenance(f.ctx, f.slug, false))
		out, err = f.occ(t, nil, "user:info", "bob")
		assert.NoError(t, err, "bob is back with the snapshot: %s", out)
		require.NoError(t, d.DropSnapshot(f.ctx, f.slug, snap))

		err = d.SwitchCode(f.ctx, f.slug, "99.0.0")
		assert.True(t, errors.Is(err, nextcloud.ErrPermanent), "skipping majors: %v", err)
		st, err := d.Status(f.ctx, f.slug) // the next version if it was upgraded to
		require.NoError(t, err)
		if f.next != "" && st.Version == f.next {
			err = d.SwitchCode(f.ctx, f.slug, f.version)
			assert.True(t, errors.Is(err, nextcloud.ErrPermanent), "a downgrade: %v", err)
		}
		require.NoError(t, d.SwitchCode(f.ctx, f.slug, st.Version))
		require.NoError(t, d.SetMaintenance(f.ctx, f.slug, true))
		require.NoError(t, d.Upgrade(f.ctx, f.slug, st.Version))
		require.NoError(t, d.SetMaintenance(f.ctx, f.slug, false))
		require.NoError(t, d.PostUpgrade(f.ctx, f.slug))
	})

	t.Run("remove deletes configuration, data and database", func(t *testing.T) {
		require.NoError(t, d.Remove(f.ctx, f.slug))
		require.NoError(t, d.Remove(f.ctx, f.slug))
		assert.NoDirExists(t, filepath.Join(f.opts.ConfigRoot, f.slug))
		assert.NoDirExists(t, filepath.Join(f.opts.DataRoot, f.slug))
		st, err := d.Status(f.ctx, f.slug)
		require.NoError(t, err)
		assert.False(t, st.Installed)
	})
}
