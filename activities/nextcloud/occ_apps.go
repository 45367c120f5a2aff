package nextcloud

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultAppStoreURL is Nextcloud's app store, where PrepareApps fetches the approved
// apps of each release.
const DefaultAppStoreURL = "https://apps.nextcloud.com"

// The files of a shared tree of apps.
const (
	appReleaseFile  = ".jardinier-release"  // in each app's folder: the release installed
	treePreparedFle = ".jardinier-prepared" // at the top, written last: "<app> <release>" lines
	sharedAppsLink  = "shared-apps"         // in a space's configuration directory: → its tree, for the web server
	sharedAppsURL   = "/shared_apps"        // the URL path the web server serves the tree at
	maxAppArchive   = 256 << 20             // bytes; Talk, the largest approved app, is about 30 MB
)

var _ SharedApps = (*Occ)(nil)

// prepareLocks keeps two preparations of one tree in this process apart; each step
// on the web node is atomic, so preparations from two processes end in the same tree.
var prepareLocks sync.Map // version → *sync.Mutex

// appsTree is the shared tree of apps of version, beside its code base.
func (d *Occ) appsTree(version string) string { return path.Join(d.o.CodeRoot, appsDirName(version)) }

// listAppsScript prints "code <app>" for every app the code base $1 ships, "tree <app>
// <release>" for every app of the tree $2, and "prepared" once the tree is complete.
const listAppsScript = `for f in "$1"/apps/*/appinfo/info.xml; do [ -e "$f" ] && echo "code $(basename "$(dirname "$(dirname "$f")")")"; done
for f in "$2"/*/` + appReleaseFile + `; do [ -e "$f" ] && echo "tree $(basename "$(dirname "$f")") $(cat "$f")"; done
if [ -e "$2/` + treePreparedFle + `" ]; then echo prepared; fi
true`

// extractAppScript puts the app $2 of the archive on standard input into the tree $1,
// as release $3: unpacked aside, marked, moved in at once, then made read-only.
const extractAppScript = `set -e
tree="$1"; app="$2"; tmp="$1/.$2.tmp"
mkdir -p "$tree"; chmod u+w "$tree"
if [ -e "$tmp" ]; then chmod -R u+w "$tmp"; rm -rf "$tmp"; fi
mkdir "$tmp"
tar -xzf - -C "$tmp"
[ -f "$tmp/$app/appinfo/info.xml" ] || { echo "the archive holds no app $app" >&2; exit 3; }
printf '%s\n' "$3" > "$tmp/$app/` + appReleaseFile + `"
if [ -e "$tree/$app" ]; then chmod -R u+w "$tree/$app"; rm -rf "$tree/$app"; fi
mv "$tmp/$app" "$tree/$app"
rm -rf "$tmp"
chmod -R a-w "$tree/$app"`

// markPreparedScript writes the list on standard input as the tree $1's last file, and
// leaves the tree read-only.
const markPreparedScript = `set -e
mkdir -p "$1"; chmod u+w "$1"
cat > "$1/` + treePreparedFle + `.tmp"
mv -f "$1/` + treePreparedFle + `.tmp" "$1/` + treePreparedFle + `"
chmod a-w "$1"`

// PrepareApps implements SharedApps: the apps missing from the tree are fetched from
// the app store by the worker (the release made for version, its signature checked
// against the certificate authority of the code base, as Nextcloud does), sent to the
// web node on standard input and unpacked there.
func (d *Occ) PrepareApps(ctx context.Context, version string) (PreparedApps, error) {
	if _, err := parseVersion(version); err != nil {
		return PreparedApps{}, err
	}
	mu, _ := prepareLocks.LoadOrStore(version, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	code, tree := d.codeDir(version), d.appsTree(version)
	ok, err := d.fileExists(ctx, path.Join(code, "occ"))
	if err != nil {
		return PreparedApps{}, err
	}
	if !ok {
		return PreparedApps{}, permanent("no code base of Nextcloud %s at %s", version, code)
	}
	out, err := d.sh(ctx, nil, listAppsScript, code, tree)
	if err != nil {
		return PreparedApps{}, fmt.Errorf("apps of Nextcloud %s: %w", version, err)
	}
	shipped, have, prepared := parseAppsList(out)
	res := PreparedApps{Version: version, Dir: tree}
	var need []string
	for _, app := range appsToPrepare(d.o.ApprovedApps) {
		switch {
		case slices.Contains(shipped, app):
			res.Apps = append(res.Apps, AppRelease{App: app})
		case have[app] != "":
			res.Apps = append(res.Apps, AppRelease{App: app, Release: have[app]})
		default:
			need = append(need, app)
		}
	}
	if len(need) == 0 && prepared {
		return res, nil
	}
	if len(need) > 0 {
		fetched, err := d.fetchApps(ctx, version, code, tree, need)
		if err != nil {
			return PreparedApps{}, err
		}
		res.Apps = append(res.Apps, fetched...)
		slices.SortFunc(res.Apps, func(a, b AppRelease) int { return strings.Compare(a.App, b.App) })
	}
	var list strings.Builder
	for _, r := range res.Apps {
		fmt.Fprintf(&list, "%s %s\n", r.App, r.Release)
	}
	if _, err := d.sh(ctx, []byte(list.String()), markPreparedScript, tree); err != nil {
		return PreparedApps{}, fmt.Errorf("apps of Nextcloud %s: %w", version, err)
	}
	d.log.Info("Shared apps prepared", "version", version, "dir", tree, "fetched", len(need))
	return res, nil
}

// parseAppsList reads what listAppsScript prints.
func parseAppsList(out []byte) (shipped []string, have map[string]string, prepared bool) {
	have = map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "code":
			shipped = append(shipped, f[1])
		case len(f) == 3 && f[0] == "tree":
			have[f[1]] = f[2]
		case len(f) == 1 && f[0] == "prepared":
			prepared = true
		}
	}
	return shipped, have, prepared
}

// fetchApps puts the apps need, made for version, into tree. Every app must have a
// release for version before anything is downloaded.
func (d *Occ) fetchApps(ctx context.Context, version, code, tree string, need []string) ([]AppRelease, error) {
	catalogue, err := d.appCatalogue(ctx, version)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, app := range need {
		if _, ok := catalogue[app]; !ok {
			missing = append(missing, app)
		}
	}
	if len(missing) > 0 {
		return nil, noRelease(version, missing)
	}
	roots, err := d.sh(ctx, nil, `cat "$1"; if [ -e "$2" ]; then echo; cat "$2"; fi`,
		path.Join(code, "resources", "codesigning", "root.crt"), path.Join(code, "resources", "codesigning", "root.crl"))
	if err != nil {
		return nil, fmt.Errorf("certificate authority of Nextcloud %s: %w", version, err)
	}
	var fetched []AppRelease
	for _, app := range need {
		rel := catalogue[app]
		archive, err := d.download(ctx, rel.Download)
		if err != nil {
			return nil, fmt.Errorf("download %s %s: %w", app, rel.Version, err)
		}
		if err := verifyApp(roots, app, rel, archive); err != nil {
			return nil, permanent("app %s %s for Nextcloud %s: %v", app, rel.Version, version, err)
		}
		if _, err := d.sh(ctx, archive, extractAppScript, tree, app, rel.Version); err != nil {
			return nil, fmt.Errorf("unpack %s %s into %s: %w", app, rel.Version, tree, err)
		}
		fetched = append(fetched, AppRelease{App: app, Release: rel.Version})
	}
	return fetched, nil
}

// storeApp is an app of the app store's list for one Nextcloud release
// (GET /api/v1/platform/<version>/apps.json).
type storeApp struct {
	ID          string         `json:"id"`
	Certificate string         `json:"certificate"`
	Releases    []storeRelease `json:"releases"`
}

// storeRelease is one release of an app of the store's list.
type storeRelease struct {
	Version   string `json:"version"`
	Download  string `json:"download"`
	Signature string `json:"signature"` // base64 RSA-SHA512 of the archive, by Certificate
	IsNightly bool   `json:"isNightly"`

	Certificate string `json:"-"` // the app's, copied here
}

// appCatalogue reads, from the app store, the latest stable release made for version
// of every app that has one.
func (d *Occ) appCatalogue(ctx context.Context, version string) (map[string]storeRelease, error) {
	store := strings.TrimSuffix(d.o.AppStoreURL, "/")
	if store == "" {
		store = DefaultAppStoreURL
	}
	body, err := d.fetch(ctx, store+"/api/v1/platform/"+version+"/apps.json", 64<<20)
	if err != nil {
		return nil, fmt.Errorf("app store list for Nextcloud %s: %w", version, err)
	}
	var apps []storeApp
	if err := json.Unmarshal(body, &apps); err != nil {
		return nil, fmt.Errorf("app store list for Nextcloud %s: %w", version, err)
	}
	return latestReleases(apps), nil
}

// latestReleases keeps, for every app, its latest release that is neither nightly nor
// a pre-release.
func latestReleases(apps []storeApp) map[string]storeRelease {
	out := map[string]storeRelease{}
	for _, a := range apps {
		for _, r := range a.Releases {
			v, err := parseVersion(r.Version)
			if r.IsNightly || err != nil || r.Download == "" {
				continue
			}
			if cur, ok := out[a.ID]; ok {
				if cv, _ := parseVersion(cur.Version); !cv.less(v) {
					continue
				}
			}
			r.Certificate = a.Certificate
			out[a.ID] = r
		}
	}
	return out
}

// download fetches an app's archive.
func (d *Occ) download(ctx context.Context, url string) ([]byte, error) {
	if !strings.HasPrefix(url, "https://") && !strings.HasPrefix(d.o.AppStoreURL, "http://") {
		return nil, permanent("app archive %q is not served over https", url)
	}
	return d.fetch(ctx, url, maxAppArchive)
}

// fetch reads url, at most limit bytes.
func (d *Occ) fetch(ctx context.Context, url string, limit int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, permanent("%v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, permanent("%s is larger than %d bytes", url, limit)
	}
	return body, nil
}

// verifyApp checks an app's archive as Nextcloud's installer does: the app's
// certificate is issued by the code signing authority (roots: the PEM certificates
// of the code base's root.crt, and its revocation list root.crl), names the app, and
// signed the archive (RSA, SHA-512).
func verifyApp(roots []byte, app string, rel storeRelease, archive []byte) error {
	pool := x509.NewCertPool()
	var issuers []*x509.Certificate
	var crls []*x509.RevocationList
	for rest := roots; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return fmt.Errorf("code signing authority: %w", err)
			}
			pool.AddCert(c)
			issuers = append(issuers, c)
		case "X509 CRL":
			l, err := x509.ParseRevocationList(block.Bytes)
			if err != nil {
				return fmt.Errorf("revocation list: %w", err)
			}
			crls = append(crls, l)
		}
	}
	if len(issuers) == 0 {
		return errors.New("no code signing authority in the code base")
	}
	block, _ := pem.Decode([]byte(rel.Certificate))
	if block == nil {
		return errors.New("no certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("certificate: %w", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("certificate not issued by the code signing authority: %w", err)
	}
	for _, l := range crls {
		for _, r := range l.RevokedCertificateEntries {
			if r.SerialNumber.Cmp(cert.SerialNumber) == 0 {
				return errors.New("certificate revoked")
			}
		}
	}
	if cert.Subject.CommonName != app {
		return fmt.Errorf("certificate of %q, not of %q", cert.Subject.CommonName, app)
	}
	key, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("certificate without an RSA key")
	}
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rel.Signature))
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	sum := sha512.Sum512(archive)
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA512, sum[:], sig); err != nil {
		return errors.New("the signature does not match the archive")
	}
	return nil
}

// sharedCodeConfig points a space at the apps of the code base of version and at the
// shared tree, neither writable, and closes the app store: the space gets no app but
// the approved ones.
func (d *Occ) sharedCodeConfig(version string) []byte {
	return phpConfigFile("Written by Jardinier when the space changes code base: the apps of the code base and\nthe shared approved apps, read-only; no app store.", phpArray{
		{"apps_paths", []phpArray{
			{{"path", path.Join(d.codeDir(version), "apps")}, {"url", "/apps"}, {"writable", false}},
			{{"path", d.appsTree(version)}, {"url", sharedAppsURL}, {"writable", false}},
		}},
		{"appstoreenabled", false},
	})
}

// treePrepared reports whether the shared tree of version is complete.
func (d *Occ) treePrepared(ctx context.Context, version string) (bool, error) {
	return d.fileExists(ctx, path.Join(d.appsTree(version), treePreparedFle))
}

// appsLayoutScript prints, as JSON, the apps paths of a configuration file $argv[1]
// and whether it opens the app store.
const appsLayoutScript = `if (is_file($argv[1])) { include $argv[1]; } else { $CONFIG = []; }
echo json_encode(['paths' => array_values($CONFIG['apps_paths'] ?? []), 'store' => $CONFIG['appstoreenabled'] ?? true]);`

// AppsLayout implements SharedApps, from the space's code.config.php (SwitchCode's).
func (d *Occ) AppsLayout(ctx context.Context, slug string) (AppsLayout, error) {
	if err := d.mustBeInstalled(ctx, slug); err != nil {
		return AppsLayout{}, err
	}
	out, err := d.exec(ctx, Command{Args: []string{d.o.PHP, "-r", appsLayoutScript, path.Join(d.configDir(slug), configFileCode)}})
	if err != nil {
		return AppsLayout{}, fmt.Errorf("apps of %s: %w", slug, err)
	}
	return parseAppsLayout(out, d.o.CodeRoot)
}

// parseAppsLayout reads what appsLayoutScript prints; a shared tree is an apps path
// under the code root named apps-<version>.
func parseAppsLayout(out []byte, codeRoot string) (AppsLayout, error) {
	var cfg struct {
		Paths []struct {
			Path     string `json:"path"`
			Writable bool   `json:"writable"`
		} `json:"paths"`
		Store bool `json:"store"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		return AppsLayout{}, fmt.Errorf("read apps paths: %w: %q", err, cutOutput(string(out)))
	}
	l := AppsLayout{StoreEnabled: cfg.Store}
	for _, p := range cfg.Paths {
		if p.Writable {
			l.Writable = append(l.Writable, p.Path)
		}
		if path.Dir(p.Path) == path.Clean(codeRoot) && strings.HasPrefix(path.Base(p.Path), "apps-") {
			l.Shared = p.Path
		}
	}
	return l, nil
}

// CodeBases implements SharedApps: the folders of the code root holding an occ.
func (d *Occ) CodeBases(ctx context.Context) ([]string, error) {
	out, err := d.sh(ctx, nil, `for f in "$1"/*/occ; do [ -e "$f" ] && basename "$(dirname "$f")"; done; true`, d.o.CodeRoot)
	if err != nil {
		return nil, fmt.Errorf("code bases: %w", err)
	}
	return sortVersions(strings.Fields(string(out))), nil
}
