package api

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/models"
)

// postForm sends an HTML form as a browser of this site would.
func (f *fixture) postForm(path string, form url.Values, headers ...string) *httptest.ResponseRecorder {
	f.t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.RemoteAddr = "203.0.113.7:1234"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	f.handler.ServeHTTP(w, req)
	return w
}

// validForm is the form a person fills in completely.
func validForm() url.Values {
	return url.Values{
		"organization_name": {"Les Amis du Jardin Partagé"}, "organization_type": {"association_1901"},
		"sectors": {"environment", "mutual_aid"}, "founded_year": {"2012"}, "employees": {"0"},
		"members": {"48"}, "beneficiaries": {"1 200"}, "annual_budget_eur": {""},
		"mission": {"Faire vivre un jardin partagé."}, "actions": {"Ateliers, troc de graines."},
		"needs": {"Partager les plannings."}, "works_in_french": {"true"}, "storage_needed_gb": {"5"},
		"slug": {"amis-du-jardin"}, "accounts_needed": {"8"}, "office_suite": {"collabora"},
		"contact_email": {"contact@amis-du-jardin.example"}, "terms_accepted": {"true"},
	}
}

func TestPublicPages(t *testing.T) {
	f := newFixture(t)

	t.Run("the home page says the limits, who may apply and the policy the system applies", func(t *testing.T) {
		w := f.do(http.MethodGet, "/", "", nil)
		assertPage(t, w, http.StatusOK, "50 comptes", "50 Go", "60 jours", "90 jours", "120 jours",
			"Collabora Online", "OnlyOffice", "entreprises", `href="/demande"`)
	})

	t.Run("the home page and the terms say the default limits an admin set, not the built-in ones", func(t *testing.T) {
		f := newFixture(t)
		_, changed, err := models.ChangeLimits(t.Context(), f.db, models.DefaultLimits(), models.LimitsChange{
			Limits: models.LimitsOf(30, 40, 400), Reason: "moins de place cette année", Actor: "dominique"})
		require.NoError(t, err)
		require.True(t, changed)
		w := f.do(http.MethodGet, "/", "", nil)
		assertPage(t, w, http.StatusOK, "30 comptes", "40 Go", "400 Mo")
		assert.NotContains(t, w.Body.String(), "50 Go")
		w = f.do(http.MethodGet, "/conditions", "", nil)
		assertPage(t, w, http.StatusOK, "30 comptes et 40 Go", "400 Mo")
	})

	t.Run("the form asks every answer of the API, under its name, with every choice", func(t *testing.T) {
		w := f.do(http.MethodGet, "/demande", "", nil)
		assertPage(t, w, http.StatusOK, `action="/demande"`, `src="/static/demande.js"`)
		body := w.Body.String()
		for _, field := range models.ApplicationFields {
			assert.Contains(t, body, `name="`+field+`"`, field)
		}
		for _, s := range models.Sectors {
			assert.Contains(t, body, `value="`+s+`"`, s)
		}
		for _, typ := range models.OrganizationTypes {
			assert.Contains(t, body, `value="`+string(typ)+`"`, typ)
		}
		assert.NotContains(t, body, "error-summary")
	})

	t.Run("a form with mistakes shows every error beside its field and in the summary, keeps every value, writes nothing", func(t *testing.T) {
		form := validForm()
		form.Set("organization_name", "")
		form.Set("founded_year", "douze")
		form.Set("members", "-4")
		form.Del("sectors")
		form.Set("contact_email", "pas une adresse")
		form.Del("terms_accepted")
		form.Set("mission", "Une mission <b>gardée</b>")
		w := f.postForm("/demande", form)
		assertPage(t, w, http.StatusBadRequest, "Erreur\u202f: Demander un espace", "6 réponses sont à corriger")
		body := w.Body.String()
		for _, field := range []string{"organization_name", "sectors", "founded_year", "members", "contact_email", "terms_accepted"} {
			assert.Contains(t, body, `<a href="#`+field+`">`, field)
			assert.Contains(t, body, `id="`+field+`-error"`, field)
		}
		assert.Contains(t, body, `id="members" name="members" value="-4" aria-describedby="members-error" aria-invalid="true"`)
		assert.Contains(t, body, `Une mission &lt;b&gt;gardée&lt;/b&gt;</textarea>`)
		assert.Contains(t, body, `value="1 200"`)
		assert.Contains(t, body, `value="environment"`)
		assert.Zero(t, f.count(&models.Application{}))
		assert.Empty(t, f.started)
	})

	t.Run("without the script, an empty slug is proposed from the organisation's name", func(t *testing.T) {
		form := validForm()
		form.Set("slug", "")
		w := f.postForm("/demande", form)
		assertPage(t, w, http.StatusBadRequest, `name="slug" value="les-amis-du-jardin-partage"`)
	})

	t.Run("a complete form is recorded and leads to the confirmation page", func(t *testing.T) {
		w := f.postForm("/demande", validForm())
		require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
		assert.Equal(t, "/demande/envoyee?espace=amis-du-jardin", w.Header().Get("Location"))
		var app models.Application
		require.NoError(t, f.db.First(&app).Error)
		assert.Equal(t, 1200, app.Beneficiaries)
		assert.Nil(t, app.AnnualBudgetEUR)
		assert.True(t, app.WorksInFrench)
		assertPage(t, f.do(http.MethodGet, "/demande/envoyee?espace=amis-du-jardin", "", nil), http.StatusOK,
			"Votre demande est envoyée", "amis-du-jardin", "suivre votre demande")
	})

	t.Run("the slug check proposes a name and says whether it is free", func(t *testing.T) {
		w := f.do(http.MethodGet, "/api/v1/slug-check?organization_name=Caf%C3%A9+des+Possibles", "", nil)
		assert.JSONEq(t, `{"slug":"cafe-des-possibles","available":true,"address":"https://cafe-des-possibles.jardinier.localhost"}`, w.Body.String())
		w = f.do(http.MethodGet, "/api/v1/slug-check?slug=amis-du-jardin", "", nil)
		assert.JSONEq(t, `{"slug":"amis-du-jardin","available":false,"message":"ce nom d'espace est déjà pris ou réservé"}`, w.Body.String())
	})

	t.Run("while applications are closed the form says so and a submission writes nothing", func(t *testing.T) {
		_, err := models.SaveOpening(t.Context(), f.db, models.Opening{Closed: true, Message: "Réouverture le 1er mars."})
		require.NoError(t, err)
		assertPage(t, f.do(http.MethodGet, "/demande", "", nil), http.StatusOK, "fermées", "Réouverture le 1er mars.")
		form := validForm()
		form.Set("slug", "autre-jardin")
		form.Set("contact_email", "autre@example.org")
		assertPage(t, f.postForm("/demande", form), http.StatusServiceUnavailable, "Réouverture le 1er mars.", "pas été enregistrée")
		assert.EqualValues(t, 1, f.count(&models.Application{}))
	})
}

func TestHomeSaysThePolicyInForce(t *testing.T) {
	f := newFixture(t)
	_, _, err := models.ChangePolicy(t.Context(), f.db, f.server.cfg.Policy, models.PolicyChange{
		Policy: "warn1=30d,warn2=45d,deactivate=60d,notice=75d,delete=90d", Reason: "essai", Actor: "alix"})
	require.NoError(t, err)
	w := f.do(http.MethodGet, "/", "", nil)
	assertPage(t, w, http.StatusOK, "<strong>30 jours</strong>", "<strong>60 jours</strong>", "<strong>90 jours</strong>")
	assert.NotContains(t, w.Body.String(), "120 jours")
}
