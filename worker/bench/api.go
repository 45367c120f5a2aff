package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"jardinier/models"
	"jardinier/workflows"
)

// APIOptions configure a run of the moderators' screens over a filled database.
type APIOptions struct {
	Config       models.Config
	Applications int // applications written, each with its space row
	Spaces       int // of them, spaces in service (active or deactivated)
	Clients      int // requests at once
	Requests     int // requests per endpoint
	Output       io.Writer
	Logger       *slog.Logger
}

// apiEndpoint is one screen measured: its name on the line and its path.
type apiEndpoint struct {
	Name, Path string
	Console    bool // signed in by the session cookie rather than the API token
}

// APIReport is what the run measured, p50 and p99 per endpoint in order.
type APIReport struct {
	Applications, Spaces, Clients int
	Names                         []string
	P50, P99                      []time.Duration
	Floor                         Floor
}

// String is the report's one line.
func (r APIReport) String() string {
	s := fmt.Sprintf("api: applications=%d spaces=%d clients=%d", r.Applications, r.Spaces, r.Clients)
	for i, n := range r.Names {
		s += fmt.Sprintf(" %s_p50=%.1fms %s_p99=%.1fms", n, ms(r.P50[i]), n, ms(r.P99[i]))
	}
	return s + " " + r.Floor.String()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// API starts the stack with a database of its own, writes o.Applications applications
// with their spaces in the statuses a fleet has, and measures each moderators' endpoint
// and console page with o.Clients clients at once.
func API(ctx context.Context, o APIOptions) (APIReport, error) {
	stack, cleanup, err := startStack(ctx, o.Config, "api", false, o.Logger)
	if err != nil {
		return APIReport{}, err
	}
	defer cleanup()
	cfg := stack.Config
	db, c, err := workflows.Connect(ctx, cfg, o.Logger)
	if err != nil {
		return APIReport{}, err
	}
	defer c.Close()
	r := APIReport{Applications: o.Applications, Spaces: o.Spaces, Clients: o.Clients}
	if r.Floor, err = MeasureFloor(ctx, c); err != nil {
		return r, err
	}
	fmt.Fprintf(o.Output, "bench: writing %d applications, %d spaces in service\n", o.Applications, o.Spaces)
	appID, slug, err := FillFleet(ctx, db, o.Applications, o.Spaces)
	if err != nil {
		return r, err
	}
	token, m, err := models.CreateModerator(ctx, db, "bench", models.RoleModerator)
	if err != nil {
		return r, err
	}
	session, _, err := models.NewSession(ctx, db, m.ID, true, time.Now().UTC())
	if err != nil {
		return r, err
	}
	base := "http://" + cfg.APIAddr
	httpc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: o.Clients},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cursor500, err := cursorOfPage(ctx, httpc, base+"/api/v1/applications", token, 500)
	if err != nil {
		return r, err
	}
	endpoints := []apiEndpoint{
		{"list", "/api/v1/applications", false},
		{"list_page500", "/api/v1/applications?cursor=" + url.QueryEscape(cursor500), false},
		{"list_page500_offset", "/api/v1/applications?page=500", false},
		{"search", "/api/v1/applications?q=n%C2%B04242", false},
		{"search_broad", "/api/v1/applications?q=jardin", false},
		{"status", "/api/v1/applications?status=submitted", false},
		{"application", "/api/v1/applications/" + appID, false},
		{"spaces", "/api/v1/spaces", false},
		{"space", "/api/v1/spaces/" + slug, false},
		{"preview", "/api/v1/policy/preview?days=365", false},
		{"console_applications", "/moderation/demandes", true},
		{"console_spaces", "/moderation/espaces", true},
	}
	for _, e := range endpoints {
		fmt.Fprintf(o.Output, "bench: %s, %d requests\n", e.Path, o.Requests)
		// One request per client first, not counted: the connections of the API's pool
		// opened and its statements prepared, as on a server in use.
		if _, err := measure(ctx, httpc, base+e.Path, e.Console, token, session, o.Clients, o.Clients); err != nil {
			return r, fmt.Errorf("%s: %w", e.Path, err)
		}
		lat, err := measure(ctx, httpc, base+e.Path, e.Console, token, session, o.Clients, o.Requests)
		if err != nil {
			return r, fmt.Errorf("%s: %w", e.Path, err)
		}
		r.Names = append(r.Names, e.Name)
		r.P50 = append(r.P50, models.Percentile(lat, 50))
		r.P99 = append(r.P99, models.Percentile(lat, 99))
	}
	return r, nil
}

// cursorOfPage follows the list's next_cursor from its first page to the given page, as
// a moderator paging through it does, and returns the cursor that opens that page.
func cursorOfPage(ctx context.Context, c *http.Client, list, token string, page int) (string, error) {
	cursor := ""
	for p := 1; p < page; p++ {
		u := list
		if cursor != "" {
			u += "?cursor=" + url.QueryEscape(cursor)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return "", err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		if err != nil {
			return "", err
		}
		var body struct {
			NextCursor string `json:"next_cursor"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("page %d of %s: HTTP %d: %v", p, list, resp.StatusCode, err)
		}
		if body.NextCursor == "" {
			return "", fmt.Errorf("%s ends before page %d", list, page)
		}
		cursor = body.NextCursor
	}
	return cursor, nil
}

// measure sends n GETs from clients goroutines at once and returns their latencies.
func measure(ctx context.Context, c *http.Client, url string, console bool, token, session string, clients, n int) ([]time.Duration, error) {
	reqs := make([]int, n)
	var mu sync.Mutex
	lat := make([]time.Duration, 0, n)
	err := parallel(ctx, clients, reqs, func(int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if console {
			req.AddCookie(&http.Cookie{Name: "jardinier_session", Value: session})
		} else {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(start)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		mu.Lock()
		lat = append(lat, d)
		mu.Unlock()
		return nil
	})
	return lat, err
}

// fleetStatuses is how a hundred applications stand in a fleet that has run for years:
// the first inService of them are spaces in service.
var fleetStatuses = []struct {
	Status models.Status
	Per100 int
}{
	{models.StatusActive, 9}, {models.StatusDeactivated, 1}, {models.StatusRejected, 45}, {models.StatusSubmitted, 30},
	{models.StatusOnHold, 8}, {models.StatusDeleted, 5}, {models.StatusProvisioning, 1}, {models.StatusProvisioningFailed, 1},
}

var benchWords = []string{"jardins partagés", "amis de la bibliothèque", "solidarité paysanne", "théâtre de quartier",
	"randonnée et patrimoine", "aide aux devoirs", "repair café", "chorale", "épicerie solidaire", "football féminin"}
var benchTowns = []string{"Lyon", "Brest", "Albi", "Nancy", "Tours", "Arles", "Dijon", "Pau", "Rouen", "Metz", "Niort"}

// FillFleet writes n applications and their space rows, spread over three years and
// over the statuses of fleetStatuses, about inService of them in service, in batches.
// It returns one application's ID and one active space's slug.
func FillFleet(ctx context.Context, db *gorm.DB, n, inService int) (appID, activeSlug string, err error) {
	const batch = 1000
	now := time.Now().UTC()
	limits := models.DefaultLimits()
	// Statuses are dealt out so that n·(active+deactivated)/100 ≈ inService.
	scale := 1.0
	if n > 0 {
		scale = float64(inService) / (float64(n) * 0.10)
	}
	deal := func(i int) models.Status {
		k := i % 100
		acc := 0
		for j, fs := range fleetStatuses {
			per := fs.Per100
			if j < 2 {
				per = int(float64(per)*scale + 0.5)
			}
			acc += per
			if k < acc {
				return fs.Status
			}
		}
		return models.StatusRejected
	}
	for from := 0; from < n; from += batch {
		var apps []models.Application
		var spaces []models.Space
		for i := from; i < min(n, from+batch); i++ {
			word, town := benchWords[i%len(benchWords)], benchTowns[(i/len(benchWords))%len(benchTowns)]
			slug := fmt.Sprintf("asso-%06d", i)
			id := uuid.NewString()
			at := now.Add(-time.Duration(n-i) * 3 * 365 * 24 * time.Hour / time.Duration(max(n, 1)))
			st := deal(i)
			apps = append(apps, models.Application{ID: id, Slug: slug, CreatedAt: at,
				OrganizationName: fmt.Sprintf("Association %s de %s n°%d", word, town, i),
				OrganizationType: models.OrgAssociation1901, Sectors: []string{"culture", "social"}, FoundedYear: 1990 + i%34,
				Employees: i % 5, Members: 10 + i%300, Beneficiaries: 50 + i%2000,
				Mission: "Faire vivre " + word + " à " + town + " et accueillir chacun.", Actions: "Ateliers, rencontres, sorties.",
				Needs: "Partager des documents et un agenda entre bénévoles.", AccountsNeeded: 3 + i%20,
				OfficeSuite: models.OfficeCollabora, ContactEmail: slug + "@example.org", TermsAcceptedAt: at})
			sp := models.Space{Slug: slug, ApplicationID: &id, Status: st, OfficeSuite: models.OfficeCollabora,
				MaxAccounts: limits.MaxAccounts, QuotaBytes: limits.QuotaBytes, MaxVideoBytes: limits.MaxVideoBytes,
				BucketName: "space-" + slug, SubmittedAt: at}
			if st != models.StatusSubmitted && st != models.StatusOnHold {
				sp.DecidedAt = &at
			}
			switch st {
			case models.StatusActive, models.StatusDeactivated, models.StatusDeleted:
				sp.ProvisionedAt, sp.NextcloudVersion = &at, "31.0.9"
			}
			if st == models.StatusActive && activeSlug == "" && i >= n/2 {
				activeSlug = slug
			}
			if i == n/2 {
				appID = id
			}
			spaces = append(spaces, sp)
		}
		if err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := tx.CreateInBatches(&apps, 500).Error; err != nil {
				return err
			}
			return tx.CreateInBatches(&spaces, 500).Error
		}); err != nil {
			return "", "", fmt.Errorf("write applications: %w", err)
		}
	}
	// As autovacuum leaves them: statistics made, and the trigram indexes' pending
	// entries moved into the index.
	for _, table := range []string{"applications", "spaces"} {
		if err := db.WithContext(ctx).Exec("VACUUM ANALYZE " + table).Error; err != nil {
			return "", "", err
		}
	}
	return appID, activeSlug, nil
}
