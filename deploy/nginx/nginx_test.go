package nginx_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/deploy/devstack"
)

// installedMap is the map file deactivated.conf includes on the web nodes; the test
// points a copy of the configuration at a map of its own.
const installedMap = "/etc/nginx/jardinier/deactivated-spaces.map"

// publicURL stands for Jardinier's PUBLIC_URL in the server block of the spaces.
const publicURL = "http://api.test"

// nginxFixture is a real nginx, run by the test as the current user from a temporary
// prefix, whose http block includes a copy of deactivated.conf and a server block for
// the spaces (*.jardinier.localhost) as deactivated.conf's comment describes it.
type nginxFixture struct {
	nginx   string // the nginx binary
	dir     string // the prefix: configuration, map, pid, logs, temporary files
	conf    string
	mapFile string
	addr    string // 127.0.0.1:port nginx listens on
	client  *http.Client
}

// findNginx returns the nginx binary, or skips the test.
func findNginx(t *testing.T) string {
	t.Helper()
	if path, err := exec.LookPath("nginx"); err == nil {
		return path
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	t.Skip("nginx not found: install it (apt-get install nginx) to check deactivated.conf against a real nginx")
	return ""
}

// setupNginx writes the configuration to a temporary prefix with an empty map, and
// starts nginx in the foreground as a child process, stopped when the test ends.
func setupNginx(t *testing.T) *nginxFixture {
	t.Helper()
	port, err := devstack.FreePort()
	require.NoError(t, err)
	f := &nginxFixture{nginx: findNginx(t), dir: t.TempDir(), addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	f.conf = filepath.Join(f.dir, "nginx.conf")
	f.mapFile = filepath.Join(f.dir, "deactivated-spaces.map")
	f.writeMap(t)

	deactivated, err := os.ReadFile("deactivated.conf")
	require.NoError(t, err)
	require.Contains(t, string(deactivated), "include "+installedMap+";")
	copied := strings.ReplaceAll(string(deactivated), installedMap, f.mapFile)
	require.NoError(t, os.WriteFile(filepath.Join(f.dir, "deactivated.conf"), []byte(copied), 0o644))

	var temps strings.Builder
	for _, name := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&temps, "    %s_temp_path %s;\n", name, filepath.Join(f.dir, name+"_temp"))
	}
	conf := fmt.Sprintf(`worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log notice;
events { worker_connections 64; }
http {
    access_log %[1]s/access.log;
%[2]s
    include %[1]s/deactivated.conf;

    server {
        listen %[3]s;
        server_name *.jardinier.localhost;
        default_type text/plain;

        # From the comment of deactivated.conf, with PUBLIC_URL = %[4]s.
        if ($jardinier_deactivated) {
            return 302 %[4]s/spaces/$jardinier_slug/deactivated;
        }
        return 200 "nextcloud $jardinier_slug";
    }
}
`, f.dir, temps.String(), f.addr, publicURL)
	require.NoError(t, os.WriteFile(f.conf, []byte(conf), 0o644))

	f.client = &http.Client{
		Timeout: 5 * time.Second,
		// Each request on a new connection: after a reload, connections kept alive
		// would still reach the old workers and their old map.
		Transport:     &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}

	cmd := exec.Command(f.nginx, f.args("-g", "daemon off;")...)
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		// TERM lets the master stop its workers; KILL would leave them serving.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	require.Eventually(t, func() bool {
		select {
		case err := <-exited:
			exited <- err
			return true // reported below
		default:
		}
		conn, err := net.Dial("tcp", f.addr)
		if err == nil {
			conn.Close()
		}
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "nginx does not listen on %s", f.addr)
	select {
	case err := <-exited:
		exited <- err
		t.Fatalf("nginx exited: %v\n%s\n%s", err, stderr.String(), f.errorLog())
	default:
	}
	return f
}

// args returns nginx's arguments for the fixture's prefix and configuration, then more.
func (f *nginxFixture) args(more ...string) []string {
	// -e: the error log before the configuration is read, which would otherwise be
	// /var/log/nginx/error.log.
	return append([]string{"-p", f.dir + "/", "-c", f.conf, "-e", filepath.Join(f.dir, "error.log")}, more...)
}

func (f *nginxFixture) errorLog() string {
	b, _ := os.ReadFile(filepath.Join(f.dir, "error.log"))
	return string(b)
}

// writeMap replaces the map of deactivated spaces, in the format the Nextcloud driver
// writes (activities/nextcloud/occ.go, mapScript): one "<slug> 1;" line per space.
func (f *nginxFixture) writeMap(t *testing.T, slugs ...string) {
	t.Helper()
	var b strings.Builder
	for _, s := range slugs {
		b.WriteString(s + " 1;\n")
	}
	require.NoError(t, os.WriteFile(f.mapFile, []byte(b.String()), 0o644))
}

// reload runs `nginx -s reload`, as NEXTCLOUD_RELOAD_WEB does on a web node, and
// waits until it took effect: until the workers of the previous configuration, which
// answer while they drain, have exited (the master logs it at level notice).
func (f *nginxFixture) reload(t *testing.T) {
	t.Helper()
	exited := func() int { return strings.Count(f.errorLog(), " exited with code ") }
	before := exited()
	out, err := exec.Command(f.nginx, f.args("-s", "reload")...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Eventually(t, func() bool { return exited() > before }, 10*time.Second, 20*time.Millisecond,
		"the previous workers did not exit; error log:\n%s", f.errorLog())
}

// response is what nginx answered: a status, and the redirect's target or the body.
type response struct {
	Status   int
	Location string
	Body     string
}

// get requests path from the space slug.
func (f *nginxFixture) get(t *testing.T, slug, path string) response {
	t.Helper()
	r, err := f.try(t.Context(), slug+".jardinier.localhost", path)
	require.NoError(t, err)
	return r
}

func (f *nginxFixture) try(ctx context.Context, host, path string) (response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+f.addr+path, nil)
	if err != nil {
		return response{}, err
	}
	req.Host = host
	resp, err := f.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	r := response{Status: resp.StatusCode, Location: resp.Header.Get("Location")}
	if r.Location == "" {
		r.Body = string(body)
	}
	return r, nil
}

// serving is what a space in service answers.
func serving(slug string) response {
	return response{Status: http.StatusOK, Body: "nextcloud " + slug}
}

// deactivatedPage is what every URL of a deactivated space answers.
func deactivatedPage(slug string) response {
	return response{Status: http.StatusFound, Location: publicURL + "/spaces/" + slug + "/deactivated"}
}

var spacePaths = []string{"/", "/remote.php/dav/files/x", "/s/sharetoken", "/index.php/apps/calendar"}

func TestDeactivatedConf(t *testing.T) {
	f := setupNginx(t)

	t.Run("the configuration passes nginx -t", func(t *testing.T) {
		out, err := exec.Command(f.nginx, f.args("-t")...).CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, string(out), "test is successful")
	})

	t.Run("with an empty map, a space is served", func(t *testing.T) {
		for _, p := range spacePaths {
			assert.Equal(t, serving("atelier-velo"), f.get(t, "atelier-velo", p), p)
		}
	})

	t.Run("once its line is in the map and nginx reloaded, every URL of the space goes to its deactivated page", func(t *testing.T) {
		f.writeMap(t, "atelier-velo")
		f.reload(t)
		for _, p := range spacePaths {
			assert.Equal(t, deactivatedPage("atelier-velo"), f.get(t, "atelier-velo", p), p)
		}
		r, err := f.try(t.Context(), "Atelier-Velo.jardinier.localhost:443", "/s/sharetoken")
		require.NoError(t, err)
		assert.Equal(t, deactivatedPage("atelier-velo"), r, "whatever the case of the host and its port")
	})

	t.Run("spaces whose slug contains the deactivated one, or is contained in it, are still served", func(t *testing.T) {
		for _, slug := range []string{"atelier-velo-2", "atelier", "velo", "mon-atelier-velo"} {
			assert.Equal(t, serving(slug), f.get(t, slug, "/remote.php/dav/files/x"), slug)
		}
	})

	t.Run("once its line is out of the map and nginx reloaded, the space is served again", func(t *testing.T) {
		f.writeMap(t)
		f.reload(t)
		for _, p := range spacePaths {
			assert.Equal(t, serving("atelier-velo"), f.get(t, "atelier-velo", p), p)
		}
	})
}
