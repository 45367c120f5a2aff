package api

import (
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/models"
)

func TestStatsScreen(t *testing.T) {
	f := newFixture(t, func(c *models.Config) { c.SubmitRate = 100 })
	// Eight applications in 2026 (six associations, a union, a foundation), five
	// associations in 2025.
	for i := range 5 {
		at := time.Date(2025, time.Month(3+i), 2, 10, 0, 0, 0, time.UTC)
		f.server.now = func() time.Time { return at }
		require.Equal(t, http.StatusCreated, f.do("POST", "/api/v1/applications", "", with(map[string]any{
			"slug": fmt.Sprintf("jardin-ancien-%d", i), "contact_email": fmt.Sprintf("ancien%d@jardin.example", i)})).Code)
	}
	f.server.now = func() time.Time { return time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC) }
	for i := range 8 {
		typ := map[int]string{6: "union", 7: "foundation"}[i]
		if typ == "" {
			typ = "association_1901"
		}
		require.Equal(t, http.StatusCreated, f.do("POST", "/api/v1/applications", "", with(map[string]any{
			"slug": fmt.Sprintf("jardin-%d", i), "contact_email": fmt.Sprintf("contact%d@jardin.example", i),
			"organization_type": typ})).Code)
	}
	f.member("Dominique", models.RoleModerator, "dominique@jardinier.example")
	v := f.visitor()
	v.signIn("dominique@jardinier.example", password)

	t.Run("un bénévole compare deux années : chaque répartition en barres, son tableau à côté", func(t *testing.T) {
		w := v.get("/moderation/statistiques?year=2026&compare=2025")
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		page := w.Body.String()
		assert.Contains(t, page, "Statistiques de l'année 2026, comparée à 2025")
		assert.Contains(t, page, "8 demande(s) déposée(s) en 2026, 5 en 2025")
		assert.Contains(t, page, `<h3 id="chart-organization_type-2026">Organisations par type</h3>`)
		// The table of the types: 6 associations (75 %) against 5 (100 %); the union is a small cell.
		assert.Contains(t, page, "<tr><th scope=\"row\">Association loi 1901</th><td>6 (75\u00a0%)</td><td>5 (100\u00a0%)</td></tr>")
		assert.Contains(t, page, `<tr><th scope="row">Syndicat</th><td>&lt; 5</td><td>0 (0`)
		bars := regexp.MustCompile(`<svg viewBox="0 0 640 \d+" width="100%" role="img" aria-label="Graphique en barres : Organisations par type`)
		assert.Regexp(t, bars, page)
		// The largest share (100 %) has the longest bar; a small cell has none.
		assert.Contains(t, page, `width="300" height="16" fill="#9a5318"`)
		assert.Contains(t, page, `width="225" height="16" fill="#1f4d2b"`)
		assert.Contains(t, page, `<caption>2025</caption>`)
		assert.Contains(t, page, `<tr><th scope="row">2026-06</th><td>8</td>`)
		assert.Contains(t, page, `href="/moderation/statistiques/csv?year=2026"`)
		assert.Contains(t, page, `aria-current="page">Statistiques</a>`)
		assert.NotContains(t, page, "jardin-0", "no slug on the page")
	})

	t.Run("the page's figures are the JSON report's", func(t *testing.T) {
		report, err := models.YearlyStats(t.Context(), f.db, 2026, f.server.now())
		require.NoError(t, err)
		page := v.get("/moderation/statistiques?year=2026").Body.String()
		for _, b := range report.Breakdowns {
			assert.Contains(t, page, ">"+template.HTMLEscapeString(b.Title)+"</h3>")
			for _, c := range b.Cells {
				row := `<tr><th scope="row">` + template.HTMLEscapeString(c.Label) + `</th><td>` +
					template.HTMLEscapeString(cellText(c)) + `</td></tr>`
				assert.True(t, strings.Contains(page, row), "%s/%s: no %s", b.Key, c.Code, row)
			}
		}
	})

	t.Run("a bad year is shown beside its field and the page still answers", func(t *testing.T) {
		w := v.get("/moderation/statistiques?year=2026&compare=1999")
		assert.Equal(t, http.StatusBadRequest, w.Code)
		assert.Contains(t, w.Body.String(), `id="compare-error">Année à comparer : doit être une année entre 2020 et 2026`)
		assert.Contains(t, w.Body.String(), `aria-invalid="true" aria-describedby="compare-error"`)
		assert.Contains(t, w.Body.String(), `<a href="#compare">`)
	})

	t.Run("the console gives the same CSV as the API", func(t *testing.T) {
		w := v.get("/moderation/statistiques/csv?year=2026")
		require.Equal(t, http.StatusOK, w.Code)
		api := f.do("GET", "/api/v1/stats?year=2026&format=csv", f.mod, nil)
		assert.Equal(t, api.Body.String(), w.Body.String())
	})

	t.Run("nobody signed out sees it", func(t *testing.T) {
		w := f.visitor().get("/moderation/statistiques")
		assert.Equal(t, http.StatusSeeOther, w.Code)
	})
}
