package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/activities/mail/mailtest"
	"jardinier/api/browsertest"
	"jardinier/models"
	"jardinier/workflows"
)

// mailLink finds the link to path in a mail and points it at the test's API server:
// the mails carry PUBLIC_URL.
func (s *system) mailLink(t *testing.T, m mailtest.Received, path string) string {
	t.Helper()
	link := regexp.MustCompile(`https?://\S+` + regexp.QuoteMeta(path) + `\?token=[A-Za-z0-9_.%-]+`).FindString(m.Body)
	require.NotEmpty(t, link, "a link to %s in:\n%s", path, m.Body)
	u, err := url.Parse(link)
	require.NoError(t, err)
	return s.api.URL + u.RequestURI()
}

// fill types value into a field, as a person would, replacing what it held.
func fill(selector, value string) chromedp.Action {
	quoted, _ := json.Marshal(selector)
	return chromedp.Tasks{
		chromedp.WaitVisible(selector, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector(`+string(quoted)+`).value = ""`, nil),
		chromedp.SendKeys(selector, value, chromedp.ByQuery),
	}
}

// activeSpace applies for a space for owner and accepts it, and waits until it is in
// service; its instance is dropped at the end of the test. One confirmation mail goes
// out per space every 10 minutes: each request of the contact's has a space of its own.
func (s *system) activeSpace(t *testing.T, slug, owner string) {
	t.Helper()
	id := s.submit(slug, owner)
	require.Equal(t, http.StatusOK, s.call("POST", "/api/v1/applications/"+id+"/accept", s.token, map[string]any{}, nil))
	s.waitStatus(slug, models.StatusActive)
	t.Cleanup(func() { s.fleet.Drop(context.Background(), slug) })
}

// contactOf is the contact address of the application of a space.
func (s *system) contactOf(t *testing.T, slug string) string {
	t.Helper()
	var app models.Application
	require.NoError(t, s.db.Select("contact_email").Take(&app, "slug = ?", slug).Error)
	return app.ContactEmail
}

// click clicks an element and waits for the next page's body.
func click(selector string) chromedp.Action {
	return chromedp.Tasks{chromedp.Click(selector, chromedp.ByQuery), chromedp.WaitReady("body", chromedp.ByQuery)}
}

func TestPublicSiteEndToEnd(t *testing.T) {
	b := browsertest.Start(t)
	// Every visitor of the test comes from the same address: the rate of the contacts'
	// requests (SUBMIT_RATE an hour) must allow them all.
	s := startSystem(t, func(c *models.Config) { c.SubmitRate = 100 })
	site := s.api.URL
	const slug = "le-jardin-des-possibles"
	const contact = "bureau@jardin-des-possibles.example"

	t.Run("une association lit l'accueil, remplit le formulaire avec des erreurs, les corrige et envoie sa demande", func(t *testing.T) {
		tab := b.NewTab(t)
		tab.Open(t, site+"/")
		assert.Contains(t, tab.Text(t, "main"), "60 jours")
		tab.Check(t, "accueil")

		tab.Run(t, click(`a.button[href="/demande"]`))
		tab.Check(t, "demande")

		// A first try: a name, a year in words, a bad address, and nothing else.
		tab.Run(t,
			fill(`#organization_name`, "Le Jardin des Possibles"),
			fill(`#founded_year`, "deux mille douze"),
			fill(`#contact_email`, "bureau@"),
			click(`form[action="/demande"] button[type=submit]`),
			chromedp.WaitVisible(`.error-summary`, chromedp.ByQuery),
		)
		assert.Equal(t, http.StatusBadRequest, tab.Status())
		summary := tab.Text(t, ".error-summary")
		for _, label := range []string{"Type d'organisation", "Secteurs d'activité", "Année de création", "Nombre de membres",
			"Mission", "Travail en français", "Stockage nécessaire", "Nombre de comptes", "Adresse électronique de contact",
			"Conditions d'utilisation"} {
			assert.Contains(t, summary, label)
		}
		assert.NotContains(t, summary, "Nom de l'organisation", "the name was right")
		assert.Equal(t, tab.Count(t, ".error-summary li"), tab.Count(t, ".error-message"), "each error beside its field too")
		assert.Equal(t, "deux mille douze", value(t, tab, "#founded_year"), "what was typed is kept")
		var slugProposed string
		tab.Run(t, chromedp.Value(`#slug`, &slugProposed, chromedp.ByQuery))
		assert.Equal(t, slug, slugProposed, "the space's name is proposed from the organisation's")
		tab.Check(t, "demande-erreurs")
		var apps int64
		require.NoError(t, s.db.Model(&models.Application{}).Count(&apps).Error)
		assert.Zero(t, apps, "a refused form writes nothing")

		// The summary's links lead to the fields.
		tab.Run(t, chromedp.Click(`.error-summary a[href="#members"]`, chromedp.ByQuery))
		assert.True(t, strings.HasSuffix(tab.URL(t), "#members"))

		tab.Run(t,
			chromedp.Click(`#organization_type-association_1901`, chromedp.ByQuery),
			chromedp.Click(`#sectors-environment`, chromedp.ByQuery),
			chromedp.Click(`#sectors-education`, chromedp.ByQuery),
			fill(`#founded_year`, "2012"),
			fill(`#employees`, "0"),
			fill(`#members`, "35"),
			fill(`#beneficiaries`, "400"),
			fill(`#mission`, "Faire pousser des légumes et des liens dans le quartier."),
			fill(`#actions`, "Jardin partagé, ateliers pour les écoles, troc de graines."),
			fill(`#needs`, "Partager les plannings d'arrosage et les comptes rendus."),
			chromedp.Click(`#works_in_french-true`, chromedp.ByQuery),
			fill(`#storage_needed_gb`, "5"),
			fill(`#accounts_needed`, "6"),
			fill(`#contact_email`, contact),
			chromedp.Click(`#terms_accepted`, chromedp.ByQuery),
			click(`form[action="/demande"] button[type=submit]`),
			chromedp.WaitVisible(`.success`, chromedp.ByQuery),
		)
		assert.Contains(t, tab.URL(t), "/demande/envoyee")
		assert.Contains(t, tab.Text(t, "main"), "suivre votre demande")
		tab.Check(t, "demande-envoyee")
		require.NoError(t, s.db.Model(&models.Application{}).Where("slug = ? AND contact_email = ?", slug, contact).Count(&apps).Error)
		assert.EqualValues(t, 1, apps)
	})

	t.Run("le lien de l'accusé de réception montre l'état de la demande, puis la retire et efface ses données", func(t *testing.T) {
		receipt, _ := s.waitMail(t, "a bien été reçue", 0)
		assert.Equal(t, []string{contact}, receipt.To)
		follow := s.mailLink(t, receipt, "/suivi")

		tab := b.NewTab(t)
		tab.Open(t, follow)
		assert.Contains(t, tab.Text(t, "main"), "reçue le")
		tab.Check(t, "suivi")

		tab.Run(t, click(`form[action^="/suivi"] button`), chromedp.WaitVisible(`.success`, chromedp.ByQuery))
		assert.Contains(t, tab.Text(t, "h1"), "est retirée")
		tab.Check(t, "suivi-retiree")

		withdrawn, _ := s.waitMail(t, "est retirée", 0)
		assert.Equal(t, []string{contact}, withdrawn.To)
		s.waitStatus(slug, models.StatusRejected)
		require.Eventually(t, func() bool {
			var n int64
			require.NoError(t, s.db.Model(&models.Application{}).Where("contact_email = ?", contact).Count(&n).Error)
			return n == 0
		}, 30*time.Second, 100*time.Millisecond, "the application and its personal data are deleted")
		var free struct{ Available bool }
		require.Equal(t, http.StatusOK, s.call("GET", "/api/v1/slug-check?slug="+slug, "", nil, &free))
		assert.True(t, free.Available, "the slug is free again")

		tab.Open(t, follow)
		assert.Contains(t, tab.Text(t, "main"), "n'existe plus")
		assert.Zero(t, tab.Count(t, `form[action^="/suivi"]`), "nothing left to withdraw")
	})

	t.Run("le contact d'un espace désactivé demande un nouveau lien de réactivation et le réactive", func(t *testing.T) {
		const space = "atelier-couture"
		const owner = "contact@atelier-couture.example"
		s.activeSpace(t, space, owner)

		// A moderator deactivated the space; its contact lost the mail.
		s.waitMail(t, "« "+space+" » est prêt", 0)
		// Just after provisioning: the workflow takes it before its life in service starts.
		code := s.call("POST", "/api/v1/spaces/"+space+"/deactivate", s.token, map[string]any{"reason": "contrôle du service"}, nil)
		require.Equal(t, http.StatusOK, code, "the deactivation is answered at once")
		s.waitStatus(space, models.StatusDeactivated)
		tab := b.NewTab(t)
		tab.Open(t, site+"/spaces/"+space+"/deactivated")
		tab.Check(t, "espace-desactive")
		before := len(s.smtp.Messages())
		tab.Run(t, click(`form[action="/espace"] button`), chromedp.WaitVisible(`.success`, chromedp.ByQuery))
		link, _ := s.waitMail(t, "Nouveau lien de réactivation", before)
		assert.Equal(t, []string{owner}, link.To)
		tab.Open(t, s.mailLink(t, link, "/reactivate"))
		tab.Check(t, "reactiver")
		tab.Run(t, chromedp.Click(`main form button`, chromedp.ByQuery), chromedp.WaitNotPresent(`main form`, chromedp.ByQuery))
		s.waitStatus(space, models.StatusActive)
		tab.Check(t, "reactive")
	})

	// One confirmation mail per space every 10 minutes: each request has its own space.
	t.Run("le contact d'un espace demande sa désactivation et la confirme", func(t *testing.T) {
		const space = "atelier-velo"
		const owner = "contact@atelier-velo.example"
		s.activeSpace(t, space, owner)
		ask := func(tab *browsertest.Tab, request, shot string) int {
			before := len(s.smtp.Messages())
			tab.Open(t, site+"/espace")
			tab.Run(t, fill(`#slug`, space), chromedp.Click(`#request-`+request, chromedp.ByQuery),
				click(`form[action="/espace"] button[type=submit]`), chromedp.WaitVisible(`.success`, chromedp.ByQuery))
			assert.Equal(t, http.StatusAccepted, tab.Status())
			assert.Contains(t, tab.Text(t, "main"), "Si l'espace")
			tab.Check(t, shot)
			return before
		}

		tab := b.NewTab(t)
		tab.Open(t, site+"/espace")
		tab.Check(t, "espace")
		before := ask(tab, "deactivation", "espace-demande")
		confirm, _ := s.waitMail(t, "Confirmez la désactivation", before)
		assert.Equal(t, []string{owner}, confirm.To)
		tab.Open(t, s.mailLink(t, confirm, "/confirm"))
		tab.Check(t, "confirmer-desactivation")
		tab.Run(t, chromedp.Click(`main form button`, chromedp.ByQuery), chromedp.WaitNotPresent(`main form`, chromedp.ByQuery))
		s.waitStatus(space, models.StatusDeactivated)
		tab.Check(t, "desactivation-confirmee")
	})

	t.Run("le contact d'un autre espace demande sa suppression et la confirme", func(t *testing.T) {
		const space = "club-echecs"
		const owner = "contact@club-echecs.example"
		s.activeSpace(t, space, owner)

		tab := b.NewTab(t)
		before := len(s.smtp.Messages())
		tab.Open(t, site+"/espace?espace="+space)
		tab.Run(t, chromedp.Click(`#request-deletion`, chromedp.ByQuery),
			click(`form[action="/espace"] button[type=submit]`), chromedp.WaitVisible(`.success`, chromedp.ByQuery))
		confirm, _ := s.waitMail(t, "Confirmez la suppression", before)
		assert.Equal(t, []string{owner}, confirm.To)
		tab.Open(t, s.mailLink(t, confirm, "/confirm"))
		tab.Check(t, "confirmer-suppression")
		tab.Run(t, chromedp.Click(`main form button.destructive`, chromedp.ByQuery), chromedp.WaitNotPresent(`main form`, chromedp.ByQuery))
		s.waitStatus(space, models.StatusDeleted)
	})

	t.Run("le contact d'un espace change son adresse de contact, confirmée par l'ancienne puis par la nouvelle", func(t *testing.T) {
		const space = "amap-du-canal"
		const owner = "contact@amap-du-canal.example"
		const newOwner = "bureau@amap-du-canal.example"
		s.activeSpace(t, space, owner)

		tab := b.NewTab(t)
		before := len(s.smtp.Messages())
		tab.Open(t, site+"/espace?espace="+space)
		tab.Run(t, chromedp.Click(`#request-contact_change`, chromedp.ByQuery), fill(`#new_email`, newOwner),
			click(`form[action="/espace"] button[type=submit]`), chromedp.WaitVisible(`.success`, chromedp.ByQuery))
		assert.Equal(t, http.StatusAccepted, tab.Status())
		assert.Contains(t, tab.Text(t, "main"), "adresse de contact actuelle")
		tab.Check(t, "espace-changement-adresse")

		asked, _ := s.waitMail(t, "Confirmez le changement d'adresse", before)
		assert.Equal(t, []string{owner}, asked.To, "the first link goes to the current address")
		assert.Contains(t, asked.Body, newOwner, "and says which address would replace it")
		currentLink := s.mailLink(t, asked, "/espace/contact")
		tab.Open(t, currentLink)
		assert.Contains(t, tab.Text(t, "h1"), "Changer l'adresse de contact")
		tab.Check(t, "adresse-actuelle")
		tab.Run(t, chromedp.Click(`main form button`, chromedp.ByQuery), chromedp.WaitVisible(`.success`, chromedp.ByQuery))
		assert.Contains(t, tab.Text(t, "main"), "second lien")
		tab.Check(t, "adresse-actuelle-confirmee")
		assert.Equal(t, owner, s.contactOf(t, space), "nothing changes on the current address's word alone")

		toNew, _ := s.waitMail(t, "Confirmez votre adresse de contact", before)
		assert.Equal(t, []string{newOwner}, toNew.To, "the second link goes to the new address")
		tab.Open(t, s.mailLink(t, toNew, "/espace/contact"))
		assert.Contains(t, tab.Text(t, "h1"), "Confirmer votre adresse de contact")
		tab.Check(t, "adresse-nouvelle")
		tab.Run(t, chromedp.Click(`main form button`, chromedp.ByQuery), chromedp.WaitVisible(`.success`, chromedp.ByQuery))
		assert.Contains(t, tab.Text(t, "h1"), "est changée")
		tab.Check(t, "adresse-changee")
		assert.Equal(t, newOwner, s.contactOf(t, space), "the change is made once both confirmed")

		done, _ := s.waitMail(t, "Vous êtes le contact", before)
		assert.Equal(t, []string{newOwner}, done.To)
		told, _ := s.waitMail(t, "a changé", before)
		assert.Equal(t, []string{owner}, told.To, "the former address is told too")
		assert.Contains(t, told.Body, newOwner)

		// The first link has served; the space's next mails go to the new address.
		tab.Open(t, currentLink)
		tab.Run(t, chromedp.Click(`main form button`, chromedp.ByQuery), chromedp.WaitNotPresent(`main form`, chromedp.ByQuery))
		assert.Equal(t, http.StatusConflict, tab.Status())
		assert.Contains(t, tab.Text(t, "h1"), "a déjà servi")
		history := historyText(t, s.temporal, workflows.SpaceWorkflowID(space))
		require.Contains(t, history, space, "payloads are read in clear")
		assert.NotContains(t, history, owner, "no address in history")
		assert.NotContains(t, history, newOwner, "no address in history")
	})

	t.Run("an unknown space gets the same answer and no mail", func(t *testing.T) {
		before := len(s.smtp.Messages())
		tab := b.NewTab(t)
		tab.Open(t, site+"/espace")
		tab.Run(t, fill(`#slug`, "espace-inconnu"), chromedp.Click(`#request-deletion`, chromedp.ByQuery),
			click(`form[action="/espace"] button[type=submit]`), chromedp.WaitVisible(`.success`, chromedp.ByQuery))
		assert.Contains(t, tab.Text(t, "main"), "Si l'espace")
		time.Sleep(2 * time.Second)
		assert.Len(t, s.smtp.Messages(), before)
	})

	t.Run("a form posted from another site is refused and changes nothing", func(t *testing.T) {
		var apps, events int64
		require.NoError(t, s.db.Model(&models.Application{}).Count(&apps).Error)
		require.NoError(t, s.db.Model(&models.AuditEvent{}).Count(&events).Error)
		mails := len(s.smtp.Messages())
		form := url.Values{"slug": {"cross-site"}, "request": {"deletion"}, "organization_name": {"X"}}.Encode()
		for _, path := range []string{"/demande", "/espace", "/suivi?token=x", "/confirm?token=x", "/reactivate?token=x",
			"/espace/contact?token=x", "/api/v1/applications", "/api/v1/follow/withdraw",
			"/api/v1/spaces/atelier-couture/request-deletion", "/api/v1/spaces/atelier-couture/request-contact-change",
			"/api/v1/contact-change/confirm"} {
			for _, h := range [][2]string{{"Origin", "https://ailleurs.example"}, {"Sec-Fetch-Site", "cross-site"}} {
				req, err := http.NewRequest(http.MethodPost, site+path, strings.NewReader(form))
				require.NoError(t, err)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set(h[0], h[1])
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				resp.Body.Close()
				assert.Equal(t, http.StatusForbidden, resp.StatusCode, "%s with %s", path, h[0])
			}
		}
		var appsAfter, eventsAfter int64
		require.NoError(t, s.db.Model(&models.Application{}).Count(&appsAfter).Error)
		require.NoError(t, s.db.Model(&models.AuditEvent{}).Count(&eventsAfter).Error)
		assert.Equal(t, apps, appsAfter)
		assert.Equal(t, events, eventsAfter)
		time.Sleep(time.Second)
		assert.Len(t, s.smtp.Messages(), mails)
	})
}

// value is what a field of the page holds.
func value(t *testing.T, tab *browsertest.Tab, selector string) string {
	t.Helper()
	var v string
	tab.Run(t, chromedp.Value(selector, &v, chromedp.ByQuery))
	return v
}
