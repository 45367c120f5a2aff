package nextcloud

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/models"
)

// codeSigning is a certificate authority standing for Nextcloud's code signing one,
// and the app store it signs for.
type codeSigning struct {
	caPEM []byte
	ca    *x509.Certificate
	key   *rsa.PrivateKey
}

func newCodeSigning(t *testing.T) *codeSigning {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Autorité de test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &codeSigning{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), ca: ca, key: key}
}

// app returns an app's certificate (issued to name), and the archive of app signed
// by it as the store publishes it.
func (c *codeSigning) app(t *testing.T, name, app string) (certPEM string, archive []byte, signature string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.ca, &key.PublicKey, c.key)
	require.NoError(t, err)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	info := []byte("<info><id>" + app + "</id></info>")
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: app + "/appinfo/info.xml", Mode: 0o644, Size: int64(len(info))}))
	_, _ = tw.Write(info)
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	sum := sha512.Sum512(buf.Bytes())
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA512, sum[:])
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), buf.Bytes(), base64.StdEncoding.EncodeToString(sig)
}

// fakeStore serves the app store's list for one release, and the archives.
func fakeStore(t *testing.T, c *codeSigning, version string, apps map[string]string) (*httptest.Server, map[string][]byte) {
	t.Helper()
	archives := map[string][]byte{}
	var list []storeApp
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	for app, certName := range apps {
		cert, archive, sig := c.app(t, certName, app)
		archives[app] = archive
		list = append(list, storeApp{ID: app, Certificate: cert, Releases: []storeRelease{
			{Version: "1.0.0", Download: srv.URL + "/" + app + "-1.0.0.tar.gz", Signature: sig},
			{Version: "2.0.0-beta.1", Download: srv.URL + "/beta.tar.gz", Signature: sig},
			{Version: "1.1.0", Download: srv.URL + "/nightly.tar.gz", Signature: sig, IsNightly: true},
		}})
	}
	mux.HandleFunc("/api/v1/platform/"+version+"/apps.json", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(list)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		app, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/"), "-1.0.0.tar.gz")
		if !ok || archives[app] == nil {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(archives[app])
	})
	return srv, archives
}

// appsNode answers the commands of PrepareApps as a web node whose code base of
// 32.0.2 ships calendar, and whose tree is empty.
func appsNode(c *codeSigning) func(Command) ([]byte, error) {
	return func(cmd Command) ([]byte, error) {
		script := strings.Join(cmd.Args, " ")
		switch {
		case strings.Contains(script, `if [ -e "$1" ]; then echo yes`):
			return []byte("yes"), nil // the code base is there
		case strings.Contains(script, "appinfo/info.xml; do"):
			return []byte("code calendar\n"), nil
		case strings.Contains(script, "root.crt"):
			return c.caPEM, nil
		}
		return nil, nil
	}
}

func TestOccPrepareApps(t *testing.T) {
	const version = "32.0.2"
	c := newCodeSigning(t)

	t.Run("fetches the apps the code base lacks, checks their signatures, and unpacks them read-only", func(t *testing.T) {
		srv, archives := fakeStore(t, c, version, map[string]string{"deck": "deck", AppCollabora: AppCollabora, AppOnlyOffice: AppOnlyOffice})
		d, run := newTestOcc(t)
		d.o.AppStoreURL, d.o.ApprovedApps = srv.URL, []string{"calendar", "deck"}
		run.reply = appsNode(c)
		tree, err := d.PrepareApps(t.Context(), version)
		require.NoError(t, err)
		assert.Equal(t, "/srv/nextcloud/code/apps-32.0.2", tree.Dir)
		assert.Equal(t, []AppRelease{{App: "calendar"}, {App: "deck", Release: "1.0.0"}, {App: AppOnlyOffice, Release: "1.0.0"},
			{App: AppCollabora, Release: "1.0.0"}}, tree.Apps, "calendar from the code base, the latest stable release of the others")
		var unpacked []string
		for _, cmd := range run.commands {
			if strings.Contains(strings.Join(cmd.Args, " "), "tar -xzf -") {
				app := cmd.Args[len(cmd.Args)-2]
				unpacked = append(unpacked, app)
				assert.Equal(t, archives[app], cmd.Stdin, "the archive checked is the one unpacked")
				assert.Equal(t, tree.Dir, cmd.Args[len(cmd.Args)-3])
			}
		}
		assert.ElementsMatch(t, []string{"deck", AppCollabora, AppOnlyOffice}, unpacked)
		last := run.commands[len(run.commands)-1]
		assert.Contains(t, strings.Join(last.Args, " "), treePreparedFle, "the tree is marked prepared last")
		assert.Contains(t, string(last.Stdin), "deck 1.0.0\n")
	})

	t.Run("an approved app without a release for the target is refused before anything is written", func(t *testing.T) {
		srv, _ := fakeStore(t, c, version, map[string]string{AppCollabora: AppCollabora, AppOnlyOffice: AppOnlyOffice})
		d, run := newTestOcc(t)
		d.o.AppStoreURL, d.o.ApprovedApps = srv.URL, []string{"calendar", "spreed"}
		run.reply = appsNode(c)
		_, err := d.PrepareApps(t.Context(), version)
		require.ErrorIs(t, err, ErrNoAppRelease)
		require.ErrorIs(t, err, ErrPermanent)
		assert.Contains(t, err.Error(), "spreed: no release for Nextcloud 32.0.2")
		for _, cmd := range run.commands {
			line := strings.Join(cmd.Args, " ")
			assert.NotContains(t, line, "tar -xzf", "nothing unpacked")
			assert.NotContains(t, line, treePreparedFle+".tmp", "not marked prepared")
		}
	})

	t.Run("an archive whose certificate names another app is refused", func(t *testing.T) {
		srv, _ := fakeStore(t, c, version, map[string]string{"deck": "pas-deck", AppCollabora: AppCollabora, AppOnlyOffice: AppOnlyOffice})
		d, run := newTestOcc(t)
		d.o.AppStoreURL, d.o.ApprovedApps = srv.URL, []string{"deck"}
		run.reply = appsNode(c)
		_, err := d.PrepareApps(t.Context(), version)
		require.ErrorIs(t, err, ErrPermanent)
		assert.Contains(t, err.Error(), `certificate of "pas-deck", not of "deck"`)
	})

	t.Run("an archive signed by someone else is refused", func(t *testing.T) {
		other := newCodeSigning(t)
		srv, _ := fakeStore(t, other, version, map[string]string{"deck": "deck", AppCollabora: AppCollabora, AppOnlyOffice: AppOnlyOffice})
		d, run := newTestOcc(t)
		d.o.AppStoreURL, d.o.ApprovedApps = srv.URL, []string{"deck"}
		run.reply = appsNode(c) // the code base trusts c, not other
		_, err := d.PrepareApps(t.Context(), version)
		require.ErrorIs(t, err, ErrPermanent)
		assert.Contains(t, err.Error(), "not issued by the code signing authority")
	})

	t.Run("a tree prepared already is found so, without the app store", func(t *testing.T) {
		d, run := newTestOcc(t)
		d.o.AppStoreURL, d.o.ApprovedApps = "http://127.0.0.1:1", []string{"calendar"}
		run.reply = func(cmd Command) ([]byte, error) {
			if strings.Contains(strings.Join(cmd.Args, " "), "appinfo/info.xml; do") {
				return []byte("code calendar\ntree richdocuments 8.4.0\ntree onlyoffice 9.5.0\nprepared\n"), nil
			}
			return appsNode(c)(cmd)
		}
		tree, err := d.PrepareApps(t.Context(), version)
		require.NoError(t, err)
		assert.Len(t, tree.Apps, 3)
	})

	t.Run("no code base, no tree", func(t *testing.T) {
		d, _ := newTestOcc(t) // the fake node has no file at all
		_, err := d.PrepareApps(t.Context(), version)
		assert.ErrorIs(t, err, ErrPermanent)
	})
}

func TestOccSharedLayout(t *testing.T) {
	t.Run("a space switched to a release whose tree is prepared reads it, store closed, nothing writable", func(t *testing.T) {
		d, _ := newTestOcc(t)
		cfg := string(d.sharedCodeConfig("32.0.2"))
		assert.Contains(t, cfg, "'path' => '/srv/nextcloud/code/apps-32.0.2'")
		assert.Contains(t, cfg, "'appstoreenabled' => false")
		assert.NotContains(t, cfg, "'writable' => true")
		assert.NotContains(t, cfg, "/srv/nextcloud/data/", "no apps directory of its own")
		if _, err := exec.LookPath("php"); err == nil {
			out, err := exec.Command("php", "-r", `$CONFIG = []; eval('?>'.$argv[1]); `+
				`echo json_encode(['paths' => array_values($CONFIG['apps_paths'] ?? []), 'store' => $CONFIG['appstoreenabled'] ?? true]);`,
				cfg).Output()
			require.NoError(t, err)
			l, err := parseAppsLayout(out, "/srv/nextcloud/code")
			require.NoError(t, err)
			assert.True(t, l.Closed(), "%+v", l)
		}
	})
	t.Run("the layout is read from the space's apps paths", func(t *testing.T) {
		shared, err := parseAppsLayout([]byte(`{"paths":[{"path":"/srv/nextcloud/code/32.0.2/apps","url":"/apps","writable":false},`+
			`{"path":"/srv/nextcloud/code/apps-32.0.2","url":"/shared_apps","writable":false}],"store":false}`), "/srv/nextcloud/code")
		require.NoError(t, err)
		assert.Equal(t, AppsLayout{Shared: "/srv/nextcloud/code/apps-32.0.2"}, shared)
		own, err := parseAppsLayout([]byte(`{"paths":[{"path":"/srv/nextcloud/code/31.0.9/apps","url":"/apps","writable":false},`+
			`{"path":"/srv/nextcloud/data/x/apps","url":"/custom_apps","writable":true}],"store":true}`), "/srv/nextcloud/code")
		require.NoError(t, err)
		assert.Equal(t, AppsLayout{StoreEnabled: true, Writable: []string{"/srv/nextcloud/data/x/apps"}}, own)
		assert.False(t, own.Closed())
	})
	t.Run("installing an app that is not approved is refused with the store closed too", func(t *testing.T) {
		d, run := newTestOcc(t)
		assert.ErrorIs(t, d.EnableApps(t.Context(), "amis-du-jardin", models.OfficeNone, []string{"mail"}), ErrPermanent)
		assert.Empty(t, run.commands)
	})
	t.Run("the code bases are listed in version order", func(t *testing.T) {
		d, run := newTestOcc(t)
		run.reply = func(Command) ([]byte, error) { return []byte("32.0.2\n31.0.10\n31.0.9\napps-32.0.2\n"), nil }
		bases, err := d.CodeBases(t.Context())
		require.NoError(t, err)
		assert.Equal(t, []string{"31.0.9", "31.0.10", "32.0.2"}, bases)
	})
}

func TestOccSwitchCodeLayout(t *testing.T) {
	const slug = "amis-du-jardin"
	// node is a web node where the space runs 31.0.9, in maintenance, and where the
	// tree of apps of 32.0.2 is prepared when prepared is set.
	node := func(prepared bool) func(Command) ([]byte, error) {
		return func(c Command) ([]byte, error) {
			line := strings.Join(c.Args, " ")
			switch {
			case len(c.Args) > 1 && c.Args[1] == "-r" && slices.Contains(c.Args, "installed"),
				len(c.Args) > 1 && c.Args[1] == "-r" && slices.Contains(c.Args, "maintenance"):
				return []byte("1"), nil
			case len(c.Args) > 1 && c.Args[1] == "-r" && slices.Contains(c.Args, "version"):
				return []byte("31.0.9.1"), nil
			case strings.Contains(line, "readlink"):
				return []byte("/srv/nextcloud/code/31.0.9\n"), nil
			case strings.Contains(line, `if [ -e "$1" ]; then echo yes`):
				if strings.HasSuffix(line, treePreparedFle) && !prepared {
					return []byte("no"), nil
				}
				return []byte("yes"), nil
			}
			return nil, nil
		}
	}
	written := func(run *fakeRunner, name string) string {
		for _, c := range run.commands {
			if strings.Contains(strings.Join(c.Args, " "), "cat > \"$1.tmp\"") && strings.HasSuffix(c.Args[len(c.Args)-1], name) {
				return string(c.Stdin)
			}
		}
		return ""
	}

	t.Run("to a release whose tree is prepared: the shared apps, read-only, the store closed, and the link for the web server", func(t *testing.T) {
		d, run := newTestOcc(t)
		run.reply = node(true)
		require.NoError(t, d.SwitchCode(t.Context(), slug, "32.0.2"))
		cfg := written(run, configFileCode)
		assert.Contains(t, cfg, "'path' => '/srv/nextcloud/code/apps-32.0.2'")
		assert.Contains(t, cfg, "'appstoreenabled' => false")
		assert.NotContains(t, cfg, "'writable' => true")
		var linked bool
		for _, c := range run.commands {
			if slices.Contains(c.Args, "/srv/nextcloud/code/apps-32.0.2") && slices.Contains(c.Args, "/srv/nextcloud/config/"+slug+"/"+sharedAppsLink) {
				linked = true
			}
		}
		assert.True(t, linked, "the shared-apps link moves with the code")
	})
	t.Run("to a release without a tree (a rollback of a space from before the trees): its own apps again", func(t *testing.T) {
		d, run := newTestOcc(t)
		run.reply = node(false)
		require.NoError(t, d.SwitchCode(t.Context(), slug, "32.0.2"))
		cfg := written(run, configFileCode)
		assert.Contains(t, cfg, "'path' => '/srv/nextcloud/data/"+slug+"/apps'")
		assert.Contains(t, cfg, "'writable' => true")
		assert.NotContains(t, cfg, "appstoreenabled")
	})
}
