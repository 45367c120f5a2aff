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
	"jardinier/workflows"
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

// TestContactChangePagesInABrowser looks at the pages of a change of the contact's
// address as its contact goes through them: the request on /espace (with a mistake
// first), then the page of each link and what it answers; the whole change through the
// workflow is in deploy/e2e.
func TestContactChangePagesInABrowser(t *testing.T) {
	b := browsertest.Start(t)
	f := newFixture(t)
	srv := httptest.NewServer(f.handler)
	t.Cleanup(srv.Close)
	f.spaceWithContact("jardin-partage", models.StatusActive)
	tab := b.NewTab(t)

	t.Run("le contact demande le changement, oublie la nouvelle adresse, puis l'écrit", func(t *testing.T) {
		tab.Open(t, srv.URL+"/espace?espace=jardin-partage")
		tab.Run(t,
			chromedp.Click(`#request-contact_change`, chromedp.ByQuery),
			chromedp.Click(`form[action="/espace"] button[type=submit]`, chromedp.ByQuery),
			chromedp.WaitVisible(`.error-summary`, chromedp.ByQuery),
		)
		assert.Equal(t, http.StatusBadRequest, tab.Status())
		assert.Contains(t, tab.Text(t, ".error-summary"), "Nouvelle adresse de contact")
		tab.Check(t, "page-espace-contact-erreur")
		asked := f.expectUpdate(workflows.ContactRequestResult{Mailed: true}, nil)
		tab.Run(t,
			chromedp.SendKeys(`#new_email`, "nouveau-bureau@jardin-partage.example", chromedp.ByQuery),
			chromedp.Click(`form[action="/espace"] button[type=submit]`, chromedp.ByQuery),
			chromedp.WaitVisible(`.success`, chromedp.ByQuery),
		)
		assert.Equal(t, http.StatusAccepted, tab.Status())
		assert.Contains(t, tab.Text(t, "main"), "second courriel")
		tab.Check(t, "page-espace-contact-demande")
		f.server.background.Wait()
		assert.Equal(t, workflows.UpdateContactRequest, asked.UpdateName, "the request is passed on")
	})

	for _, tc := range []struct {
		purpose     models.TokenPurpose
		changed     bool
		shot, after string
	}{
		{models.PurposeContactCurrent, false, "page-contact-actuelle", "Votre confirmation est enregistrée"},
		{models.PurposeContactNew, true, "page-contact-nouvelle", "est changée"},
	} {
		t.Run("le lien "+string(tc.purpose)+" montre ce qui va se passer, puis le bouton confirme", func(t *testing.T) {
			token := f.link("jardin-partage", tc.purpose, 1, time.Now().Add(day))
			tab.Open(t, srv.URL+"/espace/contact?"+url.Values{"token": {token}}.Encode())
			tab.Check(t, tc.shot)
			f.expectContactConfirm(workflows.ConfirmContactResult{Changed: tc.changed}, nil)
			tab.Run(t, chromedp.Click(`main form button`, chromedp.ByQuery), chromedp.WaitVisible(`.success`, chromedp.ByQuery))
			assert.Contains(t, tab.Text(t, "main"), tc.after)
			tab.Check(t, tc.shot+"-confirmee")
		})
	}
}

func value(t *testing.T, tab *browsertest.Tab, selector string) string {
	t.Helper()
	var v string
	tab.Run(t, chromedp.Value(selector, &v, chromedp.ByQuery))
	return v
}
