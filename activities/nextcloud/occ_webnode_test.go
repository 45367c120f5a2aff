package nextcloud_test

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/activities/nextcloud"
	"jardinier/activities/nextcloud/nextcloudtest"
	"jardinier/deploy/nginx"
	"jardinier/models/modeltest"
)

// writeFakeRelease writes at dir a code base that answers like a Nextcloud release of
// version over HTTP, reading the space's config.php as Nextcloud does: status.php and
// the login page, with the code split in files included from each other.
func writeFakeRelease(t *testing.T, dir, version string) {
	t.Helper()
	files := map[string]string{
		"version.php": fmt.Sprintf("<?php\n$OC_Version = [%s, 1];\n$OC_VersionString = '%s';\n",
			strings.ReplaceAll(version, ".", ", "), version),
		"lib/base.php": `<?php
require __DIR__ . '/../version.php';
$CONFIG = [];
include $_SERVER['NEXTCLOUD_CONFIG_DIR'] . 'config.php';
$maintenance = (bool) ($CONFIG['maintenance'] ?? false);
`,
		"status.php": `<?php
require_once __DIR__ . '/lib/base.php';
header('Content-Type: application/json');
echo json_encode(['installed' => (bool) ($CONFIG['installed'] ?? false), 'version' => implode('.', $OC_Version),
	'versionstring' => $OC_VersionString, 'edition' => '', 'maintenance' => $maintenance,
	'needsDbUpgrade' => ($CONFIG['version'] ?? '') !== implode('.', $OC_Version),
	'productname' => 'Nextcloud', 'extendedSupport' => false]);
`,
		"index.php": `<?php
require_once __DIR__ . '/lib/base.php';
if ($maintenance) { http_response_code(503); echo 'maintenance'; exit; }
if (($_SERVER['PATH_INFO'] ?? '') !== '/login') { http_response_code(404); exit; }
echo '<!DOCTYPE html><html><body id="body-login">' . $OC_VersionString . '</body></html>';
`,
		"occ": "<?php\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
}

// webNodeSpace is one space on a real web node (nginx and php-fpm configured by
// spaceConf), running from fake releases of 29.0.6 and 30.0.5, and an occ driver that
// reaches it over HTTP and reloads php-fpm after a code switch when reload says so.
type webNodeSpace struct {
	d         *nextcloud.Occ
	node      *nextcloudtest.WebNode
	web       *nextcloudtest.Web
	opts      nextcloud.OccOptions
	configDir string
}

const webNodeSlug = "amis"

func newWebNodeSpace(t *testing.T, spaceConf string, reload bool) *webNodeSpace {
	t.Helper()
	if ok, why := nextcloudtest.HaveWebNode(); !ok {
		t.Skip(why)
	}
	root := t.TempDir()
	codeRoot := filepath.Join(root, "code")
	for _, v := range []string{"29.0.6", "30.0.5"} {
		writeFakeRelease(t, filepath.Join(codeRoot, v), v)
	}
	w := &webNodeSpace{opts: nextcloud.OccOptions{
		CodeRoot: codeRoot, ConfigRoot: filepath.Join(root, "config"), DataRoot: filepath.Join(root, "data"),
		BaseDomain: "jardinier.localhost", DBHost: dbHostPort(t), S3Endpoint: "127.0.0.1:9000",
		RedisHost: "127.0.0.1:6379", Secret: make([]byte, 32), SnapshotDir: filepath.Join(root, "snapshots"),
		DeactivatedMap: filepath.Join(root, "nginx", "deactivated-spaces.map"),
	}}
	_, _ = rand.Read(w.opts.Secret)
	w.configDir = filepath.Join(w.opts.ConfigRoot, webNodeSlug)
	require.NoError(t, os.MkdirAll(w.configDir, 0o755))
	apps := filepath.Join(w.opts.DataRoot, webNodeSlug, "apps", "notes", "js")
	require.NoError(t, os.MkdirAll(apps, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(apps, "notes.js"), []byte("// notes"), 0o644))
	w.writeConfig(t, "29.0.6", false)
	require.NoError(t, os.Symlink(filepath.Join(codeRoot, "29.0.6"), filepath.Join(w.configDir, "code")))

	w.node = nextcloudtest.StartWebNodeWith(t, spaceConf, w.opts.ConfigRoot, w.opts.DataRoot, w.opts.DeactivatedMap)
	w.opts.HealthURL = w.node.URL
	if reload {
		w.opts.ReloadPHP = w.node.ReloadPHP()
	}
	fleet, err := nextcloud.NewFleetDB(modeltest.ServerURL())
	require.NoError(t, err)
	t.Cleanup(func() { fleet.Close() })
	w.d, err = nextcloud.NewOcc(w.opts, fleet, nil, nil)
	require.NoError(t, err)
	w.web = w.node.Space(webNodeSlug + ".jardinier.localhost")
	for range 5 { // the workers' caches hold the old code base now
		require.NoError(t, w.d.CheckWeb(t.Context(), webNodeSlug, "29.0.6"), w.node.Logs())
	}
	return w
}

// writeConfig writes config.php as Nextcloud's installer and occ upgrade leave it.
func (w *webNodeSpace) writeConfig(t *testing.T, version string, maintenance bool) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(w.configDir, "config.php"), []byte(fmt.Sprintf(
		"<?php\n$CONFIG = ['installed' => true, 'version' => '%s.1', 'maintenance' => %v];\n",
		version, maintenance)), 0o644))
}

// upgrade runs what an upgrade does to the code and configuration, from maintenance on
// to maintenance off, and returns what the web check says then, at once.
func (w *webNodeSpace) upgrade(t *testing.T, from, to string) error {
	t.Helper()
	w.writeConfig(t, from, true)
	require.NoError(t, w.d.SwitchCode(t.Context(), webNodeSlug, to))
	w.writeConfig(t, to, true)
	err := w.d.CheckWeb(t.Context(), webNodeSlug, to)
	require.Error(t, err, "not healthy in maintenance")
	if len(w.opts.ReloadPHP) == 0 {
		// Under a reload the old workers or a cut connection may answer instead.
		assert.ErrorContains(t, err, "in maintenance")
	}
	w.writeConfig(t, to, false)
	return w.d.CheckWeb(t.Context(), webNodeSlug, to)
}

// TestCheckWebThroughNginxAndPHPFPM runs the upgrade's code switch and web check
// against a real nginx and php-fpm, on code bases that answer like two releases.
func TestCheckWebThroughNginxAndPHPFPM(t *testing.T) {
	t.Run("with deploy/nginx/space.conf the code base the link points at answers from the first request, forward and back", func(t *testing.T) {
		w := newWebNodeSpace(t, nginx.Space, false)
		assert.ErrorContains(t, w.d.CheckWeb(t.Context(), webNodeSlug, "30.0.5"), "serves 29.0.6, want 30.0.5")
		require.NoError(t, w.upgrade(t, "29.0.6", "30.0.5"), w.node.Logs())
		status, body := w.web.Do(t, http.MethodGet, "/index.php/login", "", "", nil)
		assert.Equal(t, http.StatusOK, status)
		assert.Contains(t, body, "30.0.5")
		// Rolled back: the snapshot's config.php is put back, then the old code base.
		require.NoError(t, w.upgrade(t, "29.0.6", "29.0.6"), w.node.Logs())
	})

	// What the fleet met: nginx gave php-fpm the link's own path, and php-fpm's caches
	// went on serving the old code base, which occ on the command line could not see.
	linkPath := strings.ReplaceAll(nginx.Space, "$realpath_root", "$document_root")
	t.Run("given the link's path, php-fpm serves the old code base: the web check says so", func(t *testing.T) {
		w := newWebNodeSpace(t, linkPath, false)
		assert.ErrorContains(t, w.upgrade(t, "29.0.6", "30.0.5"), "serves 29.0.6, want 30.0.5")
	})
	t.Run("given the link's path, a reload of php-fpm after the switch drops its caches", func(t *testing.T) {
		w := newWebNodeSpace(t, linkPath, true)
		// A reload only asks php-fpm to start new workers (systemctl reload too): the old
		// ones may answer a moment longer, which the retries of the web step cover.
		if err := w.upgrade(t, "29.0.6", "30.0.5"); err != nil {
			t.Logf("at once: %v", err)
		}
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			assert.NoError(c, w.d.CheckWeb(t.Context(), webNodeSlug, "30.0.5"))
		}, 10*time.Second, 100*time.Millisecond, w.node.Logs())
	})

	t.Run("the space's own apps are served from its data directory", func(t *testing.T) {
		w := newWebNodeSpace(t, nginx.Space, true)
		status, body := w.web.Do(t, http.MethodGet, "/custom_apps/notes/js/notes.js", "", "", nil)
		assert.Equal(t, http.StatusOK, status)
		assert.Equal(t, "// notes", body)
	})
}
