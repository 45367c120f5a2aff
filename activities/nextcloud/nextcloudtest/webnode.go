package nextcloudtest

import (
	"fmt"
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

	"github.com/stretchr/testify/require"

	"jardinier/deploy/devstack"
	"jardinier/deploy/nginx"
)

// The binaries of Debian's nginx and php8.2-fpm packages.
const (
	nginxBinary  = "/usr/sbin/nginx"
	phpFPMBinary = "/usr/sbin/php-fpm8.2"
)

// WebNode is nginx and php-fpm serving the spaces of a configuration root as a web node
// does, with the configuration of deploy/nginx (deactivated.conf, space.conf): each
// request reaches the code base its space's code link points at when it arrives, through
// php-fpm with its realpath and opcache caches. Both run as children of the test, from
// a temporary directory, on a free port, until the test ends.
type WebNode struct {
	// URL is where nginx listens: http://127.0.0.1:<port>. Requests name their space
	// with the Host <slug>.<domain>.
	URL string
	dir string
	fpm *exec.Cmd
}

// HaveWebNode reports whether nginx and php-fpm are installed (Debian's nginx and
// php8.2-fpm), and if not why.
func HaveWebNode() (bool, string) {
	for _, bin := range []string{nginxBinary, phpFPMBinary} {
		if _, err := os.Stat(bin); err != nil {
			return false, fmt.Sprintf("%s not found: apt-get install nginx php8.2-fpm", bin)
		}
	}
	return true, ""
}

// StartWebNode starts a web node serving the spaces of configRoot, with their apps in
// dataRoot/<slug>/apps and the map of deactivated spaces at mapFile (created empty if
// missing). It skips the test when nginx or php-fpm is not installed.
func StartWebNode(t testing.TB, configRoot, dataRoot, mapFile string) *WebNode {
	t.Helper()
	return StartWebNodeWith(t, nginx.Space, configRoot, dataRoot, mapFile)
}

// StartWebNodeWith is StartWebNode with spaceConf in place of deploy/nginx/space.conf,
// to show what another configuration of the server block would do.
func StartWebNodeWith(t testing.TB, spaceConf, configRoot, dataRoot, mapFile string) *WebNode {
	t.Helper()
	if ok, why := HaveWebNode(); !ok {
		t.Skip(why)
	}
	dir := t.TempDir()
	port, err := devstack.FreePort()
	require.NoError(t, err)
	n := &WebNode{URL: "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir}
	if _, err := os.Stat(mapFile); os.IsNotExist(err) {
		require.NoError(t, os.MkdirAll(filepath.Dir(mapFile), 0o755))
		require.NoError(t, os.WriteFile(mapFile, nil, 0o644))
	}
	asRoot := os.Geteuid() == 0

	// php-fpm, with the machine's php.ini and extensions, as the web server's php runs.
	// On TCP: the path of a socket in the test's directory can be longer than a unix
	// socket's address may be.
	fpmPort, err := devstack.FreePort()
	require.NoError(t, err)
	fpmAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(fpmPort))
	pool := ""
	if asRoot {
		pool = "user = root\ngroup = root\n"
	}
	// process_control_timeout lets a reload wait for the requests under way, as web
	// nodes should (deploy/nextcloud.md): with 0, php-fpm's default, they are cut. One
	// worker, whose caches hold what every earlier request left, as those of all the
	// workers of a busy web node do; the tests send one request at a time.
	fpmConf := filepath.Join(dir, "php-fpm.conf")
	require.NoError(t, os.WriteFile(fpmConf, []byte(fmt.Sprintf(`[global]
pid = %[1]s/php-fpm.pid
error_log = %[1]s/php-fpm.log
daemonize = no
process_control_timeout = 10s

[spaces]
%[2]slisten = %[3]s
listen.allowed_clients = 127.0.0.1
pm = static
pm.max_children = 1
clear_env = no
catch_workers_output = yes
php_admin_value[memory_limit] = 512M
php_admin_value[upload_max_filesize] = 64M
php_admin_value[post_max_size] = 64M
php_admin_flag[log_errors] = on
php_admin_value[error_log] = %[1]s/php-errors.log
`, dir, pool, fpmAddr)), 0o644))
	args := []string{"--nodaemonize", "--fpm-config", fpmConf}
	if asRoot {
		args = append(args, "--allow-to-run-as-root")
	}
	n.fpm = exec.Command(phpFPMBinary, args...)
	n.fpm.Stdout, n.fpm.Stderr = t.Output(), t.Output()
	require.NoError(t, n.fpm.Start())
	t.Cleanup(func() {
		_ = n.fpm.Process.Signal(syscall.SIGQUIT)
		_ = n.fpm.Wait()
	})

	// nginx, with deploy/nginx's files pointed at the test's directories.
	deactivated := strings.ReplaceAll(nginx.Deactivated, nginx.DeactivatedMap, mapFile)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "deactivated.conf"), []byte(deactivated), 0o644))
	space := strings.NewReplacer(nginx.ConfigRoot, strings.TrimSuffix(configRoot, "/"),
		nginx.DataRoot, strings.TrimSuffix(dataRoot, "/")).Replace(spaceConf)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "space.conf"), []byte(space), 0o644))
	params, err := os.ReadFile("/etc/nginx/fastcgi_params")
	require.NoError(t, err, "nginx's fastcgi_params")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "fastcgi_params"), params, 0o644))
	var b strings.Builder
	if asRoot {
		b.WriteString("user root root;\n")
	}
	fmt.Fprintf(&b, `worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    default_type application/octet-stream;
    client_body_temp_path %[1]s/client_body_temp;
    proxy_temp_path %[1]s/proxy_temp;
    fastcgi_temp_path %[1]s/fastcgi_temp;
    uwsgi_temp_path %[1]s/uwsgi_temp;
    scgi_temp_path %[1]s/scgi_temp;
    include %[1]s/deactivated.conf;
    upstream %[2]s { server %[3]s; }
    server {
        listen 127.0.0.1:%[4]d;
        server_name _;
        if ($jardinier_deactivated) {
            return 302 http://api.test/spaces/$jardinier_slug/deactivated;
        }
        include %[1]s/space.conf;
    }
}
`, dir, nginx.PHPUpstream, fpmAddr, port)
	conf := filepath.Join(dir, "nginx.conf")
	require.NoError(t, os.WriteFile(conf, []byte(b.String()), 0o644))
	web := exec.Command(nginxBinary, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	web.Stdout, web.Stderr = t.Output(), t.Output()
	require.NoError(t, web.Start())
	t.Cleanup(func() {
		_ = web.Process.Signal(syscall.SIGQUIT)
		_ = web.Wait()
	})

	require.Eventually(t, func() bool {
		conn, err := net.Dial("tcp", fpmAddr)
		if err != nil {
			return false
		}
		conn.Close()
		resp, err := http.Get(n.URL + "/robots.txt")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}, 30*time.Second, 50*time.Millisecond, "nginx and php-fpm did not start; logs in %s:\n%s", dir, n.Logs())
	return n
}

// ReloadPHP is the command that makes php-fpm drop its caches, as NEXTCLOUD_RELOAD_PHP
// does on a web node (systemctl reload sends the same signal): SIGUSR2 to its master,
// which starts new workers with empty caches.
func (n *WebNode) ReloadPHP() []string {
	return []string{"kill", "-USR2", strconv.Itoa(n.fpm.Process.Pid)}
}

// Space returns the space whose domain is host, served by this web node.
func (n *WebNode) Space(host string) *Web {
	return &Web{url: n.URL, host: host}
}

// Logs returns the error logs of nginx, php-fpm and php, for failure messages.
func (n *WebNode) Logs() string {
	var b strings.Builder
	for _, name := range []string{"error.log", "php-fpm.log", "php-errors.log"} {
		out, _ := os.ReadFile(filepath.Join(n.dir, name))
		fmt.Fprintf(&b, "--- %s\n%s", name, out)
	}
	return b.String()
}
