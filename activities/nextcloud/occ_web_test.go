package nextcloud

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeWebNode answers as a web node serving one space: status.php with statusBody and
// the login page with loginCode, and records the Host of each request.
type fakeWebNode struct {
	mu         sync.Mutex
	statusCode int
	statusBody string
	loginCode  int
	hosts      []string
	paths      []string
}

func (n *fakeWebNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	n.hosts = append(n.hosts, r.Host)
	n.paths = append(n.paths, r.URL.Path)
	n.mu.Unlock()
	switch r.URL.Path {
	case "/status.php":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(n.statusCode)
		_, _ = w.Write([]byte(n.statusBody))
	case "/index.php/login":
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.WriteHeader(n.loginCode)
		_, _ = w.Write([]byte("<!DOCTYPE html><html><head><title>Nextcloud</title></head><body id=\"body-login\"></body></html>"))
	default:
		http.NotFound(w, r)
	}
}

// newWebCheck returns a driver whose health URL is a fake web node answering for a
// space in service at 29.0.6. occ status prints the very values status.php sends, so
// the recorded status of a 29.0.6 instance is what its status.php answers.
func newWebCheck(t *testing.T) (*Occ, *fakeWebNode) {
	t.Helper()
	node := &fakeWebNode{statusCode: http.StatusOK, statusBody: string(recorded(t, "status.json")), loginCode: http.StatusOK}
	srv := httptest.NewServer(node)
	t.Cleanup(srv.Close)
	d, _ := newTestOcc(t)
	d.o.HealthURL = srv.URL
	return d, node
}

func TestCheckWeb(t *testing.T) {
	const slug = "amis-du-jardin"
	t.Run("a space serving the version out of maintenance whose login page renders is healthy", func(t *testing.T) {
		d, node := newWebCheck(t)
		require.NoError(t, d.CheckWeb(t.Context(), slug, "29.0.6"))
		assert.Equal(t, []string{"/status.php", "/index.php/login"}, node.paths)
		assert.Equal(t, []string{"amis-du-jardin.jardinier.example", "amis-du-jardin.jardinier.example"}, node.hosts,
			"the web node's address, with the space's domain as Host")
	})
	t.Run("a space in maintenance is not", func(t *testing.T) {
		d, node := newWebCheck(t)
		node.statusBody = string(recorded(t, "status-maintenance.json"))
		err := d.CheckWeb(t.Context(), slug, "29.0.6")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "in maintenance")
	})
	t.Run("a space whose web server runs another code base is not", func(t *testing.T) {
		d, _ := newWebCheck(t)
		err := d.CheckWeb(t.Context(), slug, "30.0.5")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "serves 29.0.6, want 30.0.5")
	})
	t.Run("a space whose database still needs its upgrade is not", func(t *testing.T) {
		d, node := newWebCheck(t)
		node.statusBody = strings.Replace(node.statusBody, `"needsDbUpgrade":false`, `"needsDbUpgrade":true`, 1)
		err := d.CheckWeb(t.Context(), slug, "29.0.6")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "database upgrade pending")
	})
	t.Run("a login page answering 500 is not healthy", func(t *testing.T) {
		d, node := newWebCheck(t)
		node.loginCode = http.StatusInternalServerError
		err := d.CheckWeb(t.Context(), slug, "29.0.6")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "the login page answered 500")
	})
	t.Run("a login page sending elsewhere is not healthy either", func(t *testing.T) {
		d, node := newWebCheck(t)
		node.loginCode = http.StatusSeeOther
		err := d.CheckWeb(t.Context(), slug, "29.0.6")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "the login page answered 303")
	})
	t.Run("status.php answering 500 or not its JSON is not healthy", func(t *testing.T) {
		d, node := newWebCheck(t)
		node.statusCode, node.statusBody = http.StatusInternalServerError, ""
		err := d.CheckWeb(t.Context(), slug, "29.0.6")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "status.php answered 500")
		node.statusCode, node.statusBody = http.StatusOK, "<html>Internal Server Error</html>"
		err = d.CheckWeb(t.Context(), slug, "29.0.6")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "status.php did not answer its JSON")
		assert.NotContains(t, node.paths, "/index.php/login", "the login page is asked only of a space whose status is right")
	})
	t.Run("a web server that does not answer is not healthy", func(t *testing.T) {
		d, _ := newTestOcc(t)
		d.o.HealthURL = "http://127.0.0.1:1"
		err := d.CheckWeb(t.Context(), slug, "29.0.6")
		require.Error(t, err)
		assert.NotErrorIs(t, err, ErrPermanent, "retried: the web server may be restarting")
	})
}

func TestWebTarget(t *testing.T) {
	o := testOptions().withDefaults()
	root, host := o.webTarget("amis")
	assert.Equal(t, "https://amis.jardinier.example", root, "by default, the space's own address")
	assert.Empty(t, host)
	o.HealthURL = "http://{slug}.web1.internal:8080/"
	root, host = o.webTarget("amis")
	assert.Equal(t, "http://amis.web1.internal:8080", root)
	assert.Empty(t, host)
	o.HealthURL = "http://10.0.0.5:8080"
	root, host = o.webTarget("amis")
	assert.Equal(t, "http://10.0.0.5:8080", root)
	assert.Equal(t, "amis.jardinier.example", host, "a web node's address, with the space's domain as Host")
}

func TestSwitchCodeReloadsPHP(t *testing.T) {
	newDriver := func(t *testing.T, reload []string) (*Occ, *fakeRunner) {
		d, run := newTestOcc(t)
		d.o.ReloadPHP = reload
		run.reply = func(c Command) ([]byte, error) {
			switch {
			case len(c.Args) > 4 && c.Args[1] == "-r" && c.Args[4] == "version":
				return []byte("29.0.6.1"), nil
			case len(c.Args) > 1 && c.Args[1] == "-r":
				return []byte("1"), nil // installed
			case slices.Contains(c.Args, `if [ -e "$1" ]; then echo yes; else echo no; fi`):
				return []byte("yes"), nil // the code base exists
			}
			return nil, nil
		}
		return d, run
	}
	t.Run("after the code link moved, php-fpm drops its caches", func(t *testing.T) {
		reload := []string{"sudo", "-n", "/usr/bin/systemctl", "reload", "php8.2-fpm"}
		d, run := newDriver(t, reload)
		require.NoError(t, d.SwitchCode(t.Context(), "amis", "30.0.5"))
		moved, reloaded := -1, -1
		for i, c := range run.commands {
			if strings.Contains(strings.Join(c.Args, " "), "mv -fT") {
				moved = i
			}
			if slices.Equal(c.Args, reload) {
				reloaded = i
			}
		}
		require.NotEqual(t, -1, moved, "the code link moved")
		assert.Greater(t, reloaded, moved, "reloaded after the link moved")
	})
	t.Run("without NEXTCLOUD_RELOAD_PHP nothing more is run", func(t *testing.T) {
		d, run := newDriver(t, nil)
		require.NoError(t, d.SwitchCode(t.Context(), "amis", "30.0.5"))
		assert.NotContains(t, strings.Join(run.commands[len(run.commands)-1].Args, " "), "reload")
	})
}
