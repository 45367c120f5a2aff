package api

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/models"
	"jardinier/workflows"
)

func TestSpacePage(t *testing.T) {
	for request, action := range spaceRequests {
		t.Run(request+" answers the same words for an existing and an unknown space, and only the existing one is asked", func(t *testing.T) {
			f := newFixture(t)
			f.space("jardin", models.StatusDeactivated, nil)
			sent := f.recordUpdates(workflows.ContactRequestResult{Mailed: true})
			existing := f.postForm("/espace", url.Values{"slug": {"jardin"}, "request": {request}})
			assertPage(t, existing, http.StatusAccepted, "Si l'espace", "un courriel vient de partir")
			unknown := f.postForm("/espace", url.Values{"slug": {"inconnu"}, "request": {request}})
			assert.Equal(t, existing.Code, unknown.Code)
			assert.Equal(t, len(existing.Body.String())-len("jardin"), len(unknown.Body.String())-len("inconnu"), "same page but the name")
			assert.Eventually(t, func() bool { return len(sent()) == 1 }, 5*time.Second, 10*time.Millisecond)
			f.server.background.Wait()
			got := sent()
			require.Len(t, got, 1)
			assert.Equal(t, workflows.SpaceWorkflowID("jardin"), got[0].WorkflowID)
			assert.Equal(t, []any{workflows.ContactRequestInput{Action: action}}, got[0].Args)
		})
	}

	t.Run("the page offers every request; a form without name or request shows both errors", func(t *testing.T) {
		f := newFixture(t)
		w := f.do(http.MethodGet, "/espace?espace=jardin", "", nil)
		assertPage(t, w, http.StatusOK, `name="slug" value="jardin"`)
		for request := range spaceRequests {
			assert.Contains(t, w.Body.String(), `value="`+request+`"`)
		}
		w = f.postForm("/espace", url.Values{"slug": {"Pas Un Nom"}})
		assertPage(t, w, http.StatusBadRequest, `<a href="#slug">`, `<a href="#request">`, `aria-invalid="true"`, `value="Pas Un Nom"`)
		assert.Zero(t, f.updates())
	})

	t.Run("the deactivated page sends a new reactivation link with one button", func(t *testing.T) {
		f := newFixture(t)
		f.space("jardin", models.StatusDeactivated, nil)
		w := f.do(http.MethodGet, "/spaces/jardin/deactivated", "", nil)
		assertPage(t, w, http.StatusOK, `action="/espace"`, `name="request" value="reactivation_link"`, "Recevoir un nouveau lien")
	})

	t.Run("the JSON API asks for a new reactivation link the same way", func(t *testing.T) {
		f := newFixture(t)
		f.space("jardin", models.StatusDeactivated, nil)
		sent := f.recordUpdates(workflows.ContactRequestResult{Mailed: true})
		w := f.do(http.MethodPost, "/api/v1/spaces/jardin/request-reactivation-link", "", nil)
		require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
		f.server.background.Wait()
		require.Len(t, sent(), 1)
		assert.Equal(t, []any{workflows.ContactRequestInput{Action: workflows.UpdateReactivate}}, sent()[0].Args)
	})
}
