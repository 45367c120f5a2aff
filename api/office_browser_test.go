package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"jardinier/api/browsertest"
	"jardinier/models"
	"jardinier/workflows"
)

// TestOfficeInABrowser is a visit of the office suite's screens in a real Chromium:
// screenshots under .screenshots/, no serious axe-core violation, no CSP complaint.
func TestOfficeInABrowser(t *testing.T) {
	b := browsertest.Start(t)
	f := newFixture(t)
	f.temporal.On("QueryWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Return(nil, errors.New("no worker")).Maybe()
	f.temporal.On("ListWorkflow", mock.Anything, mock.Anything).
		Return(&workflowservice.ListWorkflowExecutionsResponse{}, nil).Maybe()
	srv := httptest.NewServer(f.handler)
	t.Cleanup(srv.Close)
	f.space("amis-du-jardin", models.StatusActive, nil)
	f.member("Camille", models.RoleModerator, "camille@example.org")

	t.Run("un bénévole change la suite bureautique d'un espace depuis sa page", func(t *testing.T) {
		tab := b.NewTab(t)
		tab.Open(t, srv.URL+"/moderation/connexion")
		tab.Leave(t,
			chromedp.SendKeys(`#email`, "camille@example.org", chromedp.ByQuery),
			chromedp.SendKeys(`#password`, password, chromedp.ByQuery),
			chromedp.Submit(`#password`, chromedp.ByQuery),
		)
		tab.Open(t, srv.URL+"/moderation/espaces/amis-du-jardin")
		assert.Contains(t, tab.Text(t, "#bureautique"), "Changer de suite bureautique")
		tab.Check(t, "console-espace-bureautique")

		// Sent without a reason: the error is beside the field, nothing is asked.
		tab.Run(t,
			chromedp.Click(`input[name=suite][value=onlyoffice]`, chromedp.ByQuery),
			chromedp.Submit(`#office_reason`, chromedp.ByQuery),
			chromedp.WaitVisible(`#office_reason-error`, chromedp.ByQuery),
		)
		assert.Equal(t, http.StatusBadRequest, tab.Status())
		assert.Zero(t, f.updates())
		tab.Check(t, "console-espace-bureautique-erreur")

		got := f.expectOffice(workflows.OfficeResult{Status: models.StatusActive, OfficeSuite: models.OfficeOnlyOffice}, nil)
		// The page with the error has #etat too: wait for the next one.
		tab.Leave(t,
			chromedp.Click(`input[name=suite][value=onlyoffice]`, chromedp.ByQuery),
			chromedp.SendKeys(`#office_reason`, "l'association préfère OnlyOffice", chromedp.ByQuery),
			chromedp.Submit(`#office_reason`, chromedp.ByQuery),
		)
		tab.Run(t, chromedp.WaitVisible(`#etat`, chromedp.ByQuery))
		assert.True(t, strings.HasSuffix(tab.URL(t), "?fait=office"), tab.URL(t))
		assert.Equal(t, []any{workflows.OfficeInput{Actor: "Camille", Reason: "l'association préfère OnlyOffice",
			Suite: models.OfficeOnlyOffice}}, got.Args)
	})

	t.Run("le contact ouvre le lien de confirmation d'un changement de suite", func(t *testing.T) {
		tab := b.NewTab(t)
		token := f.link("amis-du-jardin", models.PurposeConfirmOffice, 1, time.Now().Add(time.Hour))
		tab.Open(t, srv.URL+"/confirm?"+url.Values{"token": {token}, "suite": {"onlyoffice"}}.Encode())
		require.Equal(t, http.StatusOK, tab.Status())
		assert.Contains(t, tab.Text(t, "h1"), "Changer la suite bureautique")
		tab.Check(t, "page-confirmer-bureautique")
		tab.Open(t, srv.URL+"/espace?espace=amis-du-jardin&demande=office")
		tab.Check(t, "page-espace-bureautique")
	})
}
