package api

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/models"
)

func TestSubmitApplicationEveryError(t *testing.T) {
	f := newFixture(t)
	require.Equal(t, http.StatusCreated, f.do("POST", "/api/v1/applications", "", validApplication()).Code)

	t.Run("every field at fault is listed at once, in the order of the form, the first as before", func(t *testing.T) {
		w := f.do("POST", "/api/v1/applications", "", with(map[string]any{
			"organization_name": "", "founded_year": nil, "members": -3, "works_in_french": false,
			"contact_email": "non", "terms_accepted": false,
			"slug": "amis-du-jardin", // taken: said too, so that everything is fixed at once
		}))
		require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
		var body errorBody
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
		assert.Equal(t, models.EINVALID, body.Error.Code)
		assert.Equal(t, "organization_name", body.Error.Field)
		var fields []string
		for _, e := range body.Errors {
			fields = append(fields, e.Field)
			assert.NotEmpty(t, e.Message, e.Field)
		}
		assert.Equal(t, []string{"organization_name", "founded_year", "members", "works_in_french",
			"slug", "contact_email", "terms_accepted"}, fields)
		assert.EqualValues(t, 1, f.count(&models.Application{}))
	})

	t.Run("a taken slug alone is still a conflict", func(t *testing.T) {
		w := f.do("POST", "/api/v1/applications", "", with(map[string]any{"contact_email": "autre@example.org"}))
		require.Equal(t, http.StatusConflict, w.Code, w.Body.String())
		assert.Equal(t, "slug", errorOf(t, w).Field)
	})
}

func TestOpeningOfApplications(t *testing.T) {
	f := newFixture(t)
	submit := func(slug, email string) int {
		return f.do("POST", "/api/v1/applications", "", with(map[string]any{"slug": slug, "contact_email": email})).Code
	}

	t.Run("only an admin changes the opening", func(t *testing.T) {
		assert.Equal(t, http.StatusForbidden, f.do("POST", "/api/v1/opening", f.mod, map[string]any{"closed": true}).Code)
		assert.Equal(t, http.StatusUnauthorized, f.do("POST", "/api/v1/opening", "", map[string]any{"closed": true}).Code)
		w := f.do("POST", "/api/v1/opening", f.admin, map[string]any{"max_spaces": -1})
		assert.Equal(t, http.StatusBadRequest, w.Code)
		assert.Equal(t, "max_spaces", errorOf(t, w).Field)
	})

	t.Run("closed applications are refused with the admin's message and nothing is written", func(t *testing.T) {
		w := f.do("POST", "/api/v1/opening", f.admin, map[string]any{"closed": true, "message": "Réouverture le 1er mars."})
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		w = f.do("POST", "/api/v1/applications", "", validApplication())
		require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
		assert.Contains(t, errorOf(t, w).Message, "Réouverture le 1er mars.")
		assert.Zero(t, f.count(&models.Application{}))
		assert.Empty(t, f.started)
	})

	t.Run("reopened with a cap, applications stop at the cap", func(t *testing.T) {
		w := f.do("POST", "/api/v1/opening", f.admin, map[string]any{"closed": false, "message": "", "max_spaces": 2})
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		assert.Equal(t, http.StatusCreated, submit("premier", "a@example.org"))
		assert.Equal(t, http.StatusCreated, submit("deuxieme", "b@example.org"))
		assert.Equal(t, http.StatusServiceUnavailable, submit("troisieme", "c@example.org"))
		assert.EqualValues(t, 2, f.count(&models.Application{}))

		var resp openingResponse
		w = f.do("GET", "/api/v1/opening", f.admin, nil)
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &resp))
		assert.Equal(t, openingResponse{MaxSpaces: 2, OpenSpaces: 2, Accepting: false}, resp)
	})
}
