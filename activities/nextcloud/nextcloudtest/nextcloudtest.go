// Package nextcloudtest helps tests that drive a real Nextcloud release tree: it reads
// a tree's version and serves a space over HTTP as a web node would.
package nextcloudtest

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"jardinier/deploy/devstack"
)

// CodeVersion reads the version of the Nextcloud release tree at code with php.
func CodeVersion(t testing.TB, php, code string) string {
	t.Helper()
	out, err := exec.Command(php, "-r", `include $argv[1]; echo $OC_VersionString;`, filepath.Join(code, "version.php")).Output()
	require.NoError(t, err, "read the version of %s", code)
	return strings.TrimSpace(string(out))
}

// RedisKeys lists the keys of the Redis server at addr (host:port) that match pattern
// (as SCAN's MATCH reads it), with php's Redis extension, which Nextcloud uses too.
func RedisKeys(t testing.TB, php, addr, pattern string) []string {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	out, err := exec.Command(php, "-r", `$r = new Redis(); $r->connect($argv[1], (int) $argv[2]);
$r->setOption(Redis::OPT_SCAN, Redis::SCAN_RETRY); $it = null;
while (($keys = $r->scan($it, $argv[3], 1000)) !== false) { foreach ($keys as $k) { echo $k, "\n"; } }`,
		host, port, pattern).CombinedOutput()
	require.NoError(t, err, "list the keys of Redis at %s: %s", addr, out)
	return strings.Fields(string(out))
}

// ReadsConfigKey reports whether the Nextcloud release tree at code reads the system
// configuration key, as far as its core (lib/private) names it.
func ReadsConfigKey(t testing.TB, code, key string) bool {
	t.Helper()
	out, err := exec.Command("grep", "-rlqF", "'"+key+"'", filepath.Join(code, "lib", "private")).CombinedOutput()
	if err != nil && len(out) > 0 {
		require.NoError(t, err, "%s", out)
	}
	return err == nil
}

// Occ runs occ on the instance whose configuration directory is configDir, from the code
// base its code link points at, with env added to its environment, and returns its
// standard output and error together.
func Occ(t testing.TB, php, configDir string, env map[string]string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), php, append([]string{"-d", "apc.enable_cli=1",
		filepath.Join(configDir, "code", "occ"), "--no-interaction"}, args...)...)
	cmd.Env = append(os.Environ(), "NEXTCLOUD_CONFIG_DIR="+strings.TrimSuffix(configDir, "/")+"/")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// Web is a space served by php's built-in web server, as a web node would serve it.
type Web struct {
	url  string // http://127.0.0.1:<port>
	host string // the space's domain, which Nextcloud trusts
}

// Serve serves the instance whose configuration directory is configDir, from the code
// base its code link points at now, for requests to host, until the test ends.
func Serve(t testing.TB, php, configDir, host string) *Web {
	t.Helper()
	port, err := devstack.FreePort()
	require.NoError(t, err)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	code, err := filepath.EvalSymlinks(filepath.Join(configDir, "code"))
	require.NoError(t, err)
	cmd := exec.Command(php, "-d", "apc.enable_cli=1", "-d", "upload_max_filesize=64M", "-d", "post_max_size=64M",
		"-d", "memory_limit=512M", "-S", addr, "-t", code)
	cmd.Env = append(os.Environ(), "NEXTCLOUD_CONFIG_DIR="+strings.TrimSuffix(configDir, "/")+"/")
	cmd.Stdout, cmd.Stderr = t.Output(), t.Output()
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	w := &Web{url: "http://" + addr, host: host}
	require.Eventually(t, func() bool {
		status, _ := w.Do(t, http.MethodGet, "/status.php", "", "", nil)
		return status == http.StatusOK
	}, 30*time.Second, 100*time.Millisecond, "php's web server did not answer on %s", addr)
	return w
}

// Do sends a request as user (none if "") and returns its status and body; status 0
// and the error if it could not be sent.
func (w *Web) Do(t testing.TB, method, path, user, password string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, w.url+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Host = w.host
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// Upload puts size bytes into the file name of user's files over WebDAV, as the
// desktop client does, and returns the status.
func (w *Web) Upload(t testing.TB, user, password, name string, size int) int {
	t.Helper()
	status, body := w.Do(t, http.MethodPut, "/remote.php/dav/files/"+user+"/"+name, user, password, bytes.Repeat([]byte("j"), size))
	t.Logf("PUT %s of %d bytes as %s: %d %.300s", name, size, user, status, body)
	return status
}

// Propfind lists user's files over WebDAV, as a sync client logging in does, and
// returns the status: 207 once logged in.
func (w *Web) Propfind(t testing.TB, user, password string) int {
	t.Helper()
	status, _ := w.Do(t, "PROPFIND", "/remote.php/dav/files/"+user+"/", user, password, nil)
	return status
}
