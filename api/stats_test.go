package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"

	"jardinier/models"
)

func TestStatsAPI(t *testing.T) {
	f := newFixture(t)
	f.server.now = func() time.Time { return time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC) }
	// Six submissions through the form: five associations and one union.
	for i := range 6 {
		typ := "association_1901"
		if i == 5 {
			typ = "union"
		}
		w := f.do("POST", "/api/v1/applications", "", with(map[string]any{"slug": fmt.Sprintf("jardin-%d", i),
			"contact_email": fmt.Sprintf("contact%d@jardin.example", i), "organization_type": typ}))
		require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	}

	t.Run("a submission writes its statistics record and links it", func(t *testing.T) {
		assert.EqualValues(t, 6, f.count(&models.StatsRecord{}))
		assert.EqualValues(t, 6, f.count(&models.StatsLink{}))
		var rec models.StatsRecord
		require.NoError(t, f.db.Take(&rec, "organization_type = ?", "union").Error)
		assert.Equal(t, 202606, rec.SubmittedMonth)
		assert.Equal(t, "30-100", rec.MembersBand)
		assert.Equal(t, "4000-50000", rec.BudgetBand)
	})

	t.Run("moderators get the report as JSON, small cells withheld", func(t *testing.T) {
		w := f.do("GET", "/api/v1/stats?year=2026", f.mod, nil)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var report models.StatsReport
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &report))
		assert.EqualValues(t, 6, report.Applications)
		types := report.Breakdown("organization_type")
		require.NotNil(t, types)
		assert.True(t, types.Cell("union").Small)
		assert.True(t, types.Cell("association_1901").Hidden, "6 − 5 would tell the union's count")
		assert.NotContains(t, w.Body.String(), `"count":1,`)
		assert.Contains(t, w.Body.String(), `{"code":"union","label":"Syndicat","small":true}`)

		w = f.do("GET", "/api/v1/stats", f.mod, nil)
		require.Equal(t, http.StatusOK, w.Code)
		assert.Contains(t, w.Body.String(), `"year":2026`, "this year by default")
	})

	t.Run("the CSV is one file of tables with French headers", func(t *testing.T) {
		w := f.do("GET", "/api/v1/stats?year=2026&format=csv", f.mod, nil)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		assert.Equal(t, "text/csv; charset=utf-8", w.Header().Get("Content-Type"))
		assert.Contains(t, w.Header().Get("Content-Disposition"), "statistiques-2026.csv")
		assert.Contains(t, w.Body.String(), "Organisations par type (sur 6)\nCatégorie;Nombre;Part (%)\nAssociation loi 1901;masqué;\n")
		assert.Contains(t, w.Body.String(), "Syndicat;< 5;\n")
	})

	t.Run("a bad year or format is refused, naming the field", func(t *testing.T) {
		for _, q := range []string{"year=deux-mille", "year=2019", "year=2027", "year=", "year=2026&format=xlsx"} {
			w := f.do("GET", "/api/v1/stats?"+q, f.mod, nil)
			require.Equal(t, http.StatusBadRequest, w.Code, q)
			field := "year"
			if strings.Contains(q, "format") {
				field = "format"
			}
			assert.Equal(t, field, errorOf(t, w).Field, q)
			assert.NotEmpty(t, errorOf(t, w).Message)
		}
	})

	t.Run("only moderators see the statistics", func(t *testing.T) {
		assert.Equal(t, http.StatusUnauthorized, f.do("GET", "/api/v1/stats?year=2026", "", nil).Code)
		assert.Equal(t, http.StatusUnauthorized, f.do("GET", "/api/v1/stats?year=2026", "jrd_not-a-token", nil).Code)
	})

	t.Run("a submission taken back leaves no record", func(t *testing.T) {
		f.temporal.ExpectedCalls = nil
		f.temporal.On("ExecuteWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).
			Return(nil, errors.New("connection refused"))
		w := f.do("POST", "/api/v1/applications", "", with(map[string]any{"slug": "jardin-repris", "contact_email": "repris@jardin.example"}))
		require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
		assert.EqualValues(t, 6, f.count(&models.StatsRecord{}))
		assert.EqualValues(t, 6, f.count(&models.StatsLink{}))
	})
}
