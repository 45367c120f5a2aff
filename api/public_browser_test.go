package api

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"

	"jardinier/api/browsertest"
	"jardinier/models"
)

// TestPagesInABrowser looks at every page of the public site in a real Chromium, at
// both widths: screenshots under .screenshots/, no serious axe-core violation, no CSP
// complaint. The visits through the whole system are in deploy/e2e.
func TestPagesInABrowser(t *testing.T) {
	b := browsertest.Start(t)
	f := newFixture(t)
	srv := httptest.NewServer(f.handler)
	t.Cleanup(srv.Close)
	f.space("jardin-ferme", models.StatusDeactivated, func(sp *models.Space) {
		at := time.Now().Add(30 * day)
		sp.DeletionDueAt = &at
	})

	t.Run("every page of the site passes the checks at both widths", func(t *testing.T) {
		tab := b.NewTab(t)
		for name, path := range map[string]string{
			"accueil":         "/",
			"demande":         "/demande",
			"demande-envoyee": "/demande/envoyee?espace=amis-du-jardin",
			"desactive":       "/spaces/jardin-ferme/deactivated",
			"lien-invalide":   "/suivi?token=abc.def",
		} {
			tab.Open(t, srv.URL+path)
			tab.Check(t, "page-"+name)
		}
	})

	t.Run("a form sent with mistakes shows the summary and every error", func(t *testing.T) {
		tab := b.NewTab(t)
		tab.Open(t, srv.URL+"/demande")
		tab.Run(t,
			chromedp.SendKeys(`#organization_name`, "Les Amis du Jardin", chromedp.ByQuery),
			chromedp.SendKeys(`#members`, "beaucoup", chromedp.ByQuery),
			chromedp.Click(`button[type=submit]`, chromedp.ByQuery),
			chromedp.WaitVisible(`.error-summary`, chromedp.ByQuery),
		)
		assert.Equal(t, http.StatusBadRequest, tab.Status())
		assert.Greater(t, tab.Count(t, ".error-summary li"), 5)
		assert.Equal(t, "Les Amis du Jardin", value(t, tab, "#organization_name"))
		tab.Check(t, "page-demande-erreurs")
	})
	_ = url.Values{}
}

func value(t *testing.T, tab *browsertest.Tab, selector string) string {
	t.Helper()
	var v string
	tab.Run(t, chromedp.Value(selector, &v, chromedp.ByQuery))
	return v
}
