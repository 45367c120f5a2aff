package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/activities/nextcloud/nextcloudtest"
	"jardinier/activities/storage"
	"jardinier/models"
	"jardinier/models/modeltest"
)

// TestRealNextcloudEndToEnd runs the whole system on a real Nextcloud through the occ
// driver, configured by its variables as in production: an application accepted over
// HTTP becomes a real instance whose admin logs in with the mailed password, then is
// deactivated, reactivated and deleted by a moderator. It runs when
// NEXTCLOUD_TEST_CODE_DIR names a Nextcloud release tree, as the driver's integration
// test does (deploy/nextcloud.md, "Integration test"); NEXTCLOUD_TEST_PHP names php.
// With NEXTCLOUD_TEST_NEXT_CODE_DIR, a release of the next version, an admin also
// upgrades the fleet to it through the API before the space is deactivated.
func TestRealNextcloudEndToEnd(t *testing.T) {
	code := os.Getenv("NEXTCLOUD_TEST_CODE_DIR")
	if code == "" {
		t.Skip("no Nextcloud to drive: set NEXTCLOUD_TEST_CODE_DIR to a Nextcloud release tree (deploy/nextcloud.md, \"Integration test\")")
	}
	php := "php"
	if v := os.Getenv("NEXTCLOUD_TEST_PHP"); v != "" {
		php = v
	}
	version := nextcloudtest.CodeVersion(t, php, code)

	root := t.TempDir()
	// An upgrade is done once the space answers through a web server (CheckWeb): serve
	// the spaces as a web node does, when nginx and php-fpm are installed.
	var node *nextcloudtest.WebNode
	if ok, _ := nextcloudtest.HaveWebNode(); ok {
		node = nextcloudtest.StartWebNode(t, filepath.Join(root, "config"), filepath.Join(root, "data"),
			filepath.Join(root, "nginx", "deactivated-spaces.map"))
	}
	s := startSystem(t, func(c *models.Config) {
		c.NextcloudDriver, c.NextcloudVersion = "occ", version
		c.FleetDatabaseURL = modeltest.ServerURL()
		// Apps of every release: the app store need not be reached.
		c.NextcloudApps = []string{"admin_audit"}
		c.Occ.PHP, c.Occ.WebUser = php, ""
		c.Occ.CodeRoot = filepath.Join(root, "code")
		c.Occ.ConfigRoot, c.Occ.DataRoot = filepath.Join(root, "config"), filepath.Join(root, "data")
		c.Occ.SnapshotDir = filepath.Join(root, "snapshots")
		c.Occ.DeactivatedMap = filepath.Join(root, "nginx", "deactivated-spaces.map")
		c.Occ.RedisPrefix = "jardinier-e2e-"
		c.Occ.AccessControl = false // its app comes from the app store; the integration test covers it
		if node != nil {
			c.Occ.HealthURL = node.URL
		}
	})
	require.NoError(t, os.MkdirAll(s.cfg.Occ.CodeRoot, 0o755))
	require.NoError(t, os.Symlink(code, filepath.Join(s.cfg.Occ.CodeRoot, version)))
	next := ""
	if nextCode := os.Getenv("NEXTCLOUD_TEST_NEXT_CODE_DIR"); nextCode != "" {
		next = nextcloudtest.CodeVersion(t, php, nextCode)
		require.NoError(t, os.Symlink(nextCode, filepath.Join(s.cfg.Occ.CodeRoot, next)))
	}
	require.NoError(t, os.MkdirAll(filepath.Dir(s.cfg.Occ.DeactivatedMap), 0o755))

	const slug = "maison-des-associations"
	configDir := filepath.Join(s.cfg.Occ.ConfigRoot, slug)
	t.Cleanup(func() { _ = s.fleet.Drop(context.Background(), slug) })
	occStatus := func(t *testing.T) (installed, maintenance bool) {
		t.Helper()
		out, err := nextcloudtest.Occ(t, php, configDir, nil, "status", "--output=json")
		require.NoError(t, err, out)
		var st struct{ Installed, Maintenance bool }
		require.NoError(t, json.Unmarshal([]byte(out), &st), "%s", out)
		return st.Installed, st.Maintenance
	}

	id := s.submitWith(slug, "bureau@maison.example", "none")
	require.Equal(t, http.StatusOK, s.call("POST", "/api/v1/applications/"+id+"/accept", s.token, map[string]any{}, nil))
	space := s.waitStatusFor(slug, models.StatusActive, 5*time.Minute)
	assert.Equal(t, version, space["nextcloud_version"])
	credentials := s.smtp.WaitFor(t, 2, 30*time.Second)[1]
	password := passwordIn(t, credentials.Body)

	t.Run("the admin logs in to the new instance with the mailed password", func(t *testing.T) {
		installed, maintenance := occStatus(t)
		assert.True(t, installed)
		assert.False(t, maintenance)
		web := nextcloudtest.Serve(t, php, configDir, slug+"."+s.cfg.BaseDomain)
		assert.Equal(t, http.StatusMultiStatus, web.Propfind(t, "admin", password))
		assert.Equal(t, http.StatusUnauthorized, web.Propfind(t, "admin", password+"x"))
	})

	t.Run("an admin upgrades the fleet to the next version through the API", func(t *testing.T) {
		if next == "" {
			t.Skip("no next version: set NEXTCLOUD_TEST_NEXT_CODE_DIR to a release tree of the next version")
		}
		if node == nil {
			t.Skip("an upgrade checks the space through its web server: apt-get install nginx php8.2-fpm")
		}
		admin, _, err := models.CreateModerator(context.Background(), s.db, "dominique", models.RoleAdmin)
		require.NoError(t, err)
		var started struct{ ID string }
		require.Equal(t, http.StatusAccepted, s.call("POST", "/api/v1/upgrades", admin,
			map[string]any{"target": next, "canary": 1, "concurrency": 1}, &started))
		var progress struct {
			Status                    string
			Upgraded, Failed, Skipped int
			DowntimeP50Seconds        float64 `json:"downtime_p50_seconds"`
		}
		require.Eventually(t, func() bool {
			return s.call("GET", "/api/v1/upgrades/"+started.ID, admin, nil, &progress) == http.StatusOK && progress.Status == "done"
		}, 10*time.Minute, time.Second, "the upgrade did not finish: %+v", progress)
		assert.Equal(t, 1, progress.Upgraded, "%+v", progress)
		assert.Zero(t, progress.Failed)
		t.Logf("downtime of the space: %.1f s", progress.DowntimeP50Seconds)

		space := s.waitStatus(slug, models.StatusActive)
		assert.Equal(t, next, space["nextcloud_version"])
		installed, maintenance := occStatus(t)
		assert.True(t, installed)
		assert.False(t, maintenance, "back in service")
		web := nextcloudtest.Serve(t, php, configDir, slug+"."+s.cfg.BaseDomain)
		assert.Equal(t, http.StatusMultiStatus, web.Propfind(t, "admin", password), "the admin logs in to the upgraded space")
	})

	t.Run("a moderator deactivates the space, then reactivates it", func(t *testing.T) {
		require.Equal(t, http.StatusOK, s.call("POST", "/api/v1/spaces/"+slug+"/deactivate", s.token,
			map[string]any{"reason": "demande du bureau"}, nil))
		s.waitStatusFor(slug, models.StatusDeactivated, time.Minute)
		m, err := os.ReadFile(s.cfg.Occ.DeactivatedMap)
		require.NoError(t, err)
		assert.Equal(t, slug+" 1;\n", string(m), "every URL of the space goes to the deactivated page")
		_, maintenance := occStatus(t)
		assert.True(t, maintenance)

		require.Equal(t, http.StatusOK, s.call("POST", "/api/v1/spaces/"+slug+"/reactivate", s.token,
			map[string]any{"reason": "erreur de manipulation"}, nil))
		s.waitStatusFor(slug, models.StatusActive, time.Minute)
		m, err = os.ReadFile(s.cfg.Occ.DeactivatedMap)
		require.NoError(t, err)
		assert.Empty(t, string(m))
		_, maintenance = occStatus(t)
		assert.False(t, maintenance)
		web := nextcloudtest.Serve(t, php, configDir, slug+"."+s.cfg.BaseDomain)
		assert.Equal(t, http.StatusMultiStatus, web.Propfind(t, "admin", password))
	})

	t.Run("a moderator deletes the space: instance, database and bucket are gone", func(t *testing.T) {
		require.Equal(t, http.StatusOK, s.call("POST", "/api/v1/spaces/"+slug+"/delete", s.token,
			map[string]any{"reason": "dissolution de l'association"}, nil))
		s.waitStatusFor(slug, models.StatusDeleted, 2*time.Minute)
		assert.NoDirExists(t, configDir)
		assert.NoDirExists(t, filepath.Join(s.cfg.Occ.DataRoot, slug))
		dbExists, roleExists, err := s.fleet.Exists(context.Background(), slug)
		require.NoError(t, err)
		assert.False(t, dbExists || roleExists, "database or role left behind")
		s3, err := storage.NewClient(s.cfg.S3Endpoint, s.cfg.S3AccessKey, s.cfg.S3SecretKey, false, s.cfg.S3Region)
		require.NoError(t, err)
		exists, err := s3.BucketExists(context.Background(), s.cfg.BucketPrefix+slug)
		require.NoError(t, err)
		assert.False(t, exists, "bucket left behind")
	})
}
