package nextcloud_test

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/activities/nextcloud"
	"jardinier/activities/nextcloud/nextcloudtest"
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

// TestCheckWebThroughNginxAndPHPFPM runs the upgrade's code switch and web check
// against a real nginx and php-fpm configured by deploy/nginx, on code bases that
// answer like two releases: the web server serves the code base the link points at from
// the first request after the switch, forward and back.
func TestCheckWebThroughNginxAndPHPFPM(t *testing.T) {
	if ok, why := nextcloudtest.HaveWebNode(); !ok {
		t.Skip(why)
	}
	root := t.TempDir()
	codeRoot := filepath.Join(root, "code")
	for _, v := range []string{"29.0.6", "30.0.5"} {
		writeFakeRelease(t, filepath.Join(codeRoot, v), v)
	}
	const slug = "amis"
	opts := nextcloud.OccOptions{
		CodeRoot: codeRoot, ConfigRoot: filepath.Join(root, "config"), DataRoot: filepath.Join(root, "data"),
		BaseDomain: "jardinier.localhost", DBHost: dbHostPort(t), S3Endpoint: "127.0.0.1:9000",
		RedisHost: "127.0.0.1:6379", Secret: make([]byte, 32), SnapshotDir: filepath.Join(root, "snapshots"),
		DeactivatedMap: filepath.Join(root, "nginx", "deactivated-spaces.map"),
	}
	_, _ = rand.Read(opts.Secret)
	configDir := filepath.Join(opts.ConfigRoot, slug)
	require.NoError(t, os.MkdirAll(configDir, 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(opts.DataRoot, slug, "apps", "notes", "js"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(opts.DataRoot, slug, "apps", "notes", "js", "notes.js"),
		[]byte("// notes"), 0o644))
	// What Nextcloud's installer and occ upgrade write of config.php.
	writeConfig := func(version string, maintenance bool) {
		t.Helper()
		require.NoError(t, os.WriteFile(filepath.Join(configDir, "config.php"), []byte(fmt.Sprintf(
			"<?php\n$CONFIG = ['installed' => true, 'version' => '%s.1', 'maintenance' => %v];\n",
			version, maintenance)), 0o644))
	}
	writeConfig("29.0.6", false)
	require.NoError(t, os.Symlink(filepath.Join(codeRoot, "29.0.6"), filepath.Join(configDir, "code")))

	node := nextcloudtest.StartWebNode(t, opts.ConfigRoot, opts.DataRoot, opts.DeactivatedMap)
	opts.HealthURL, opts.ReloadPHP = node.URL, node.ReloadPHP()
	fleet, err := nextcloud.NewFleetDB(modeltest.ServerURL())
	require.NoError(t, err)
	t.Cleanup(func() { fleet.Close() })
	d, err := nextcloud.NewOcc(opts, fleet, nil, nil)
	require.NoError(t, err)
	space := node.Space(slug + ".jardinier.localhost")

	t.Run("the space answers for its version, and for no other", func(t *testing.T) {
		for range 5 { // the workers' caches hold the code base now
			require.NoError(t, d.CheckWeb(t.Context(), slug, "29.0.6"), node.Logs())
		}
		assert.ErrorContains(t, d.CheckWeb(t.Context(), slug, "30.0.5"), "serves 29.0.6, want 30.0.5")
	})

	t.Run("once upgraded, the new code base answers at once, and in maintenance it is not healthy", func(t *testing.T) {
		writeConfig("29.0.6", true)
		require.NoError(t, d.SwitchCode(t.Context(), slug, "30.0.5"))
		writeConfig("30.0.5", true)
		assert.ErrorContains(t, d.CheckWeb(t.Context(), slug, "30.0.5"), "in maintenance")
		writeConfig("30.0.5", false)
		require.NoError(t, d.CheckWeb(t.Context(), slug, "30.0.5"), node.Logs())
		status, body := space.Do(t, http.MethodGet, "/index.php/login", "", "", nil)
		assert.Equal(t, http.StatusOK, status)
		assert.Contains(t, body, "30.0.5")
	})

	t.Run("rolled back, the old code base answers at once", func(t *testing.T) {
		writeConfig("29.0.6", true) // the snapshot's config.php, put back
		require.NoError(t, d.SwitchCode(t.Context(), slug, "29.0.6"))
		writeConfig("29.0.6", false)
		require.NoError(t, d.CheckWeb(t.Context(), slug, "29.0.6"), node.Logs())
	})

	t.Run("the space's own apps are served from its data directory", func(t *testing.T) {
		status, body := space.Do(t, http.MethodGet, "/custom_apps/notes/js/notes.js", "", "", nil)
		assert.Equal(t, http.StatusOK, status)
		assert.Equal(t, "// notes", body)
	})
}
