package api

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/models"
)

func TestPageSecurity(t *testing.T) {
	f := newFixture(t)

	t.Run("every page is loaded from its file, subfolders too", func(t *testing.T) {
		p, err := loadPages(pageLanguage)
		require.NoError(t, err)
		for _, name := range pageNames {
			assert.Contains(t, p.byName, name)
		}
		assert.NotContains(t, p.byName, "layout")
	})

	t.Run("the stylesheet is a file, and pages carry a strict policy", func(t *testing.T) {
		w := f.do(http.MethodGet, "/static/site.css", "", nil)
		require.Equal(t, http.StatusOK, w.Code)
		assert.Contains(t, w.Header().Get("Content-Type"), "text/css")
		assert.Contains(t, w.Body.String(), "body {")

		w = f.do(http.MethodGet, "/spaces/inconnu/deactivated", "", nil)
		assert.Equal(t, pageCSP, w.Header().Get("Content-Security-Policy"))
		assert.NotContains(t, w.Body.String(), "<style")
		assert.NotContains(t, w.Body.String(), "style=")
		assert.Contains(t, w.Body.String(), `href="/static/site.css"`)
	})

	t.Run("a form posted from another site is refused and changes nothing", func(t *testing.T) {
		before := f.count(&models.Application{})
		for _, h := range [][]string{
			{"Sec-Fetch-Site", "cross-site"},
			{"Origin", "https://evil.example"},
		} {
			w := f.do(http.MethodPost, "/api/v1/applications", "", validApplication(), h...)
			assert.Equal(t, http.StatusForbidden, w.Code, h)
			assert.Equal(t, models.EFORBIDDEN, errorOf(t, w).Code)

			req := httptest.NewRequest(http.MethodPost, "/confirm?token=x", nil)
			req.Header.Set(h[0], h[1])
			rec := httptest.NewRecorder()
			f.handler.ServeHTTP(rec, req)
			assertPage(t, rec, http.StatusForbidden, "depuis un autre site")
		}
		assert.Equal(t, before, f.count(&models.Application{}))

		w := f.do(http.MethodPost, "/api/v1/applications", "", validApplication(), "Sec-Fetch-Site", "same-origin")
		assert.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	})
}

func TestLogsHoldNoTokenNorPersonalData(t *testing.T) {
	f := newFixture(t)
	var logs bytes.Buffer
	f.server.logger = slog.New(slog.NewTextHandler(&logs, nil))
	token := f.followLink("amis-du-jardin", "6a1d0c9e-0000-4000-8000-000000000001")
	f.do(http.MethodGet, "/suivi?token="+token, "", nil)
	f.do(http.MethodGet, "/reactivate?token="+token, "", nil)
	w := f.do(http.MethodPost, "/api/v1/applications", "", with(map[string]any{"contact_email": "secret.person@example.org"}))
	require.Equal(t, http.StatusCreated, w.Code)
	f.postForm("/demande", url.Values{"contact_email": {"autre.personne@example.org"}})
	assert.Contains(t, logs.String(), "path=/suivi", "requests are logged")
	for _, secret := range []string{token, "secret.person", "autre.personne", "token="} {
		assert.NotContains(t, logs.String(), secret)
	}
}
