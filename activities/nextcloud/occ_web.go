package nextcloud

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// webRequestTimeout bounds each request of CheckWeb: a space that has not answered by
// then is as good as down for its users.
const webRequestTimeout = 20 * time.Second

// webBodyLimit is how much of an answer CheckWeb reads: status.php is a few hundred
// bytes, and of a page only the start tells what went wrong.
const webBodyLimit = 1 << 20

// webStatus is what Nextcloud's status.php answers over HTTP. Version and
// VersionString are those of the code the web server runs, which is what an upgrade
// must have changed.
type webStatus struct {
	Installed      bool   `json:"installed"`
	Maintenance    bool   `json:"maintenance"`
	NeedsDBUpgrade bool   `json:"needsDbUpgrade"`
	Version        string `json:"version"`       // four numbers: 30.0.5.1
	VersionString  string `json:"versionstring"` // as released: 30.0.5
}

// CheckWeb implements Driver: it asks the space over HTTP, through its web server as
// users reach it (NEXTCLOUD_HEALTH_URL), whether status.php reports version, installed,
// out of maintenance and with no database upgrade pending, and whether the login page
// renders. occ on the command line cannot tell: php-fpm may still run another code
// base than the one the space's code link points at.
func (d *Occ) CheckWeb(ctx context.Context, slug, version string) error {
	if err := checkSlug(slug); err != nil {
		return err
	}
	root, host := d.o.webTarget(slug)
	code, body, err := d.get(ctx, root+"/status.php", host)
	if err != nil {
		return fmt.Errorf("web check of %s: %w", slug, err)
	}
	if code != http.StatusOK {
		return fmt.Errorf("web check of %s: status.php answered %d: %.300q", slug, code, body)
	}
	var st webStatus
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		return fmt.Errorf("web check of %s: status.php did not answer its JSON: %.300q", slug, body)
	}
	var wrong []string
	if !st.Installed {
		wrong = append(wrong, "not installed")
	}
	if st.Maintenance {
		wrong = append(wrong, "in maintenance")
	}
	if st.NeedsDBUpgrade {
		wrong = append(wrong, "database upgrade pending")
	}
	if st.VersionString != version && releaseVersion(st.Version) != version {
		wrong = append(wrong, fmt.Sprintf("serves %s, want %s", st.VersionString, version))
	}
	if len(wrong) > 0 {
		return fmt.Errorf("web check of %s: status.php: %s", slug, strings.Join(wrong, ", "))
	}
	// Through index.php, which the web server routes with or without pretty URLs.
	code, body, err = d.get(ctx, root+"/index.php/login", host)
	if err != nil {
		return fmt.Errorf("web check of %s: %w", slug, err)
	}
	if code != http.StatusOK {
		return fmt.Errorf("web check of %s: the login page answered %d: %.300q", slug, code, body)
	}
	return nil
}

// get sends a GET to url with the Host host ("" for the URL's) and returns the status
// and the start of the body. Redirects are not followed: the pages asked for answer
// themselves when all is well.
func (d *Occ) get(ctx context.Context, url, host string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, webRequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", fmt.Errorf("GET %s: %w", url, err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := d.web.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("GET %s (Host %s): %w", url, req.Host, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, webBodyLimit))
	if err != nil {
		return 0, "", fmt.Errorf("GET %s (Host %s): %w", url, req.Host, err)
	}
	d.log.Debug("Asked the web server", "url", url, "host", req.Host, "status", resp.StatusCode)
	return resp.StatusCode, string(body), nil
}

// newWebClient is the HTTP client of CheckWeb.
func newWebClient() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// reloadPHP runs ReloadPHP on the web node, if set, after the code link of slug moved.
func (d *Occ) reloadPHP(ctx context.Context, slug, version string) error {
	if len(d.o.ReloadPHP) == 0 {
		return nil
	}
	if _, err := d.exec(ctx, Command{Args: d.o.ReloadPHP}); err != nil {
		return fmt.Errorf("switch %s to %s: reload php-fpm: %w", slug, version, err)
	}
	return nil
}
