package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
			"conditions":      "/conditions",
			"espace":          "/espace?espace=jardin-ferme",
			"introuvable":     "/nulle-part",
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

	t.Run("the follow page of an application, then the form while applications are closed", func(t *testing.T) {
		w := f.do(http.MethodPost, "/api/v1/applications", "", validApplication())
		require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
		var created submissionResponse
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &created))
		tab := b.NewTab(t)
		tab.Open(t, srv.URL+"/suivi?"+url.Values{"token": {f.followLink(created.Slug, created.ID)}}.Encode())
		assert.Contains(t, tab.Text(t, "main"), "reçue le")
		tab.Check(t, "page-suivi")

		_, err := models.SaveOpening(t.Context(), f.db, models.Opening{Closed: true, Message: "Réouverture le 1er mars."})
		require.NoError(t, err)
		tab.Open(t, srv.URL+"/demande")
		assert.Contains(t, tab.Text(t, "main"), "Réouverture le 1er mars.")
		tab.Check(t, "page-demande-fermee")
		tab.Open(t, srv.URL+"/")
		tab.Check(t, "page-accueil-fermee")
	})
}

func value(t *testing.T, tab *browsertest.Tab, selector string) string {
	t.Helper()
	var v string
	tab.Run(t, chromedp.Value(selector, &v, chromedp.ByQuery))
	return v
}
