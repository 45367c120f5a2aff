package api

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"
	"go.temporal.io/sdk/temporal"

	"jardinier/models"
	"jardinier/workflows"
)

// expectOffice makes the next workflow update answer with result, or fail with err,
// and returns where the update's options will be written.
func (f *fixture) expectOffice(result workflows.OfficeResult, err error) *client.UpdateWorkflowOptions {
	f.t.Helper()
	got := &client.UpdateWorkflowOptions{}
	handle := &mocks.WorkflowUpdateHandle{}
	handle.On("Get", mock.Anything, mock.Anything).Return(err).Run(func(args mock.Arguments) {
		if err == nil {
			*args.Get(1).(*workflows.OfficeResult) = result
		}
	}).Once()
	f.temporal.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(handle, nil).Run(func(args mock.Arguments) {
		*got = args.Get(1).(client.UpdateWorkflowOptions)
	}).Once()
	return got
}

func TestSpaceOffice(t *testing.T) {
	t.Run("a moderator's switch goes to the space's workflow as the office update, with the suite and the reason", func(t *testing.T) {
		f := newFixture(t)
		got := f.expectOffice(workflows.OfficeResult{Status: models.StatusActive, OfficeSuite: models.OfficeOnlyOffice}, nil)
		w := f.do("POST", "/api/v1/spaces/amis-du-jardin/office", f.mod,
			map[string]any{"suite": "onlyoffice", "reason": "  l'association le demande "})
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		assert.JSONEq(t, `{"slug":"amis-du-jardin","status":"active","office_suite":"onlyoffice"}`, w.Body.String())
		assert.Equal(t, workflows.SpaceWorkflowID("amis-du-jardin"), got.WorkflowID)
		assert.Equal(t, workflows.UpdateOffice, got.UpdateName)
		assert.Equal(t, client.WorkflowUpdateStageCompleted, got.WaitForStage)
		assert.Equal(t, []any{workflows.OfficeInput{Actor: "camille", Reason: "l'association le demande",
			Suite: models.OfficeOnlyOffice}}, got.Args)
		f.temporal.AssertExpectations(t)
	})

	t.Run("the suite must be known and the reason given; nothing is sent otherwise", func(t *testing.T) {
		f := newFixture(t)
		for _, tc := range []struct {
			body  map[string]any
			field string
		}{
			{map[string]any{"suite": "libreoffice", "reason": "x"}, "suite"},
			{map[string]any{"reason": "x"}, "suite"},
			{map[string]any{"suite": "none"}, "reason"},
			{map[string]any{"suite": "none", "reason": strings.Repeat("é", models.MaxReasonLength+1)}, "reason"},
			{map[string]any{"suite": "none", "reason": "x", "secret": "y"}, "secret"},
		} {
			w := f.do("POST", "/api/v1/spaces/amis-du-jardin/office", f.mod, tc.body)
			require.Equal(t, http.StatusBadRequest, w.Code, "%v: %s", tc.body, w.Body.String())
			assert.Equal(t, tc.field, errorOf(t, w).Field, tc.body)
		}
		assert.Zero(t, f.updates())
	})

	t.Run("a switch the workflow refuses is a conflict with its message; one that failed and was undone is unavailable, with its message", func(t *testing.T) {
		f := newFixture(t)
		f.expectOffice(workflows.OfficeResult{}, temporal.NewApplicationError(
			"l'espace \"amis-du-jardin\" offre déjà cette suite bureautique", workflows.ErrTypeNotAllowed))
		w := f.do("POST", "/api/v1/spaces/amis-du-jardin/office", f.mod, map[string]any{"suite": "collabora", "reason": "x"})
		require.Equal(t, http.StatusConflict, w.Code, w.Body.String())
		assert.Contains(t, errorOf(t, w).Message, "offre déjà")

		f.expectOffice(workflows.OfficeResult{}, temporal.NewApplicationError(
			"la suite bureautique de l'espace \"amis-du-jardin\" n'a pas pu être changée : occ a refusé", workflows.ErrTypeOfficeFailed))
		w = f.do("POST", "/api/v1/spaces/amis-du-jardin/office", f.mod, map[string]any{"suite": "none", "reason": "x"})
		require.Equal(t, http.StatusServiceUnavailable, w.Code, w.Body.String())
		assert.Equal(t, models.EUNAVAILABLE, errorOf(t, w).Code)
		assert.Contains(t, errorOf(t, w).Message, "n'a pas pu être changée : occ a refusé")
	})

	t.Run("a visitor without a token is refused", func(t *testing.T) {
		f := newFixture(t)
		w := f.do("POST", "/api/v1/spaces/amis-du-jardin/office", "", map[string]any{"suite": "none", "reason": "x"})
		assert.Equal(t, http.StatusUnauthorized, w.Code)
		assert.Zero(t, f.updates())
	})

	t.Run("the space's page offers the other suites to a space in service, and its form calls the same code", func(t *testing.T) {
		f := newFixture(t)
		f.temporal.On("QueryWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).
			Return(nil, errors.New("no worker")).Maybe()
		f.space("amis-du-jardin", models.StatusActive, nil)
		f.space("au-repos", models.StatusDeactivated, nil)
		f.member("Camille", models.RoleModerator, "camille@example.org")
		v := f.visitor()
		require.Equal(t, http.StatusSeeOther, v.signIn("camille@example.org", password).Code)

		page := v.get("/moderation/espaces/amis-du-jardin")
		require.Equal(t, http.StatusOK, page.Code, page.Body.String())
		body := page.Body.String()
		assert.Contains(t, body, "Changer de suite bureautique")
		assert.Contains(t, body, `value="onlyoffice"`)
		assert.Contains(t, body, `value="none"`)
		assert.NotContains(t, body, `name="suite" value="collabora"`, "not the suite in use")
		assert.NotContains(t, v.get("/moderation/espaces/au-repos").Body.String(), "Changer de suite bureautique",
			"a deactivated space cannot switch")

		w := v.post("/moderation/espaces/amis-du-jardin", "/moderation/espaces/amis-du-jardin/suite-bureautique",
			url.Values{"suite": {"onlyoffice"}})
		require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
		assert.Contains(t, w.Body.String(), `id="office_reason-error"`)
		assert.Zero(t, f.updates())

		got := f.expectOffice(workflows.OfficeResult{Status: models.StatusActive, OfficeSuite: models.OfficeOnlyOffice}, nil)
		w = v.post("/moderation/espaces/amis-du-jardin", "/moderation/espaces/amis-du-jardin/suite-bureautique",
			url.Values{"suite": {"onlyoffice"}, "office_reason": {"demande du contact par téléphone"}})
		require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
		assert.Equal(t, "/moderation/espaces/amis-du-jardin?fait=office", w.Header().Get("Location"))
		assert.Equal(t, []any{workflows.OfficeInput{Actor: "Camille", Reason: "demande du contact par téléphone",
			Suite: models.OfficeOnlyOffice}}, got.Args)
	})
}

func TestContactOffice(t *testing.T) {
	t.Run("the contact's page asks for another suite as for the other requests, the same words whether the space exists or not", func(t *testing.T) {
		f := newFixture(t)
		f.space("jardin", models.StatusActive, nil)
		sent := f.recordUpdates(workflows.ContactRequestResult{Mailed: true})
		page := f.do(http.MethodGet, "/espace?espace=jardin", "", nil)
		assertPage(t, page, http.StatusOK, `value="office"`, `name="suite" value="onlyoffice"`)
		existing := f.postForm("/espace", url.Values{"slug": {"jardin"}, "request": {"office"}, "suite": {"onlyoffice"}})
		assertPage(t, existing, http.StatusAccepted, "Si l'espace")
		unknown := f.postForm("/espace", url.Values{"slug": {"inconnu"}, "request": {"office"}, "suite": {"onlyoffice"}})
		assert.Equal(t, existing.Code, unknown.Code)
		f.server.background.Wait()
		got := sent()
		require.Len(t, got, 1)
		assert.Equal(t, workflows.SpaceWorkflowID("jardin"), got[0].WorkflowID)
		assert.Equal(t, []any{workflows.ContactRequestInput{Action: workflows.UpdateOffice, Suite: models.OfficeOnlyOffice}}, got[0].Args)
	})

	t.Run("a switch without a suite shows the error beside the question, and asks nothing", func(t *testing.T) {
		f := newFixture(t)
		w := f.postForm("/espace", url.Values{"slug": {"jardin"}, "request": {"office"}})
		assertPage(t, w, http.StatusBadRequest, `<a href="#suite">`, `id="suite-error"`)
		assert.Zero(t, f.updates())
	})

	t.Run("the JSON API asks the same way, and refuses an unknown suite", func(t *testing.T) {
		f := newFixture(t)
		f.space("jardin", models.StatusActive, nil)
		sent := f.recordUpdates(workflows.ContactRequestResult{Mailed: true})
		w := f.do(http.MethodPost, "/api/v1/spaces/jardin/request-office", "", map[string]any{"suite": "libreoffice"})
		require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
		assert.Equal(t, "suite", errorOf(t, w).Field)
		w = f.do(http.MethodPost, "/api/v1/spaces/jardin/request-office", "", map[string]any{"suite": "none"})
		require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
		f.server.background.Wait()
		require.Len(t, sent(), 1)
		assert.Equal(t, []any{workflows.ContactRequestInput{Action: workflows.UpdateOffice, Suite: models.OfficeNone}}, sent()[0].Args)
	})

	t.Run("the mailed link shows the suite, and its button switches the space as the contact", func(t *testing.T) {
		f := newFixture(t)
		token := f.link("jardin", models.PurposeConfirmOffice, 3, time.Now().Add(time.Hour))
		path := "/confirm?" + url.Values{"token": {token}, "suite": {"onlyoffice"}}.Encode()
		page := f.do(http.MethodGet, path, "", nil)
		assertPage(t, page, http.StatusOK, "passera à la suite bureautique OnlyOffice", "Confirmer le changement")
		assert.Zero(t, f.updates(), "opening the link changes nothing")

		got := f.expectOffice(workflows.OfficeResult{Status: models.StatusActive, OfficeSuite: models.OfficeOnlyOffice}, nil)
		w := f.postForm(path, url.Values{})
		assertPage(t, w, http.StatusOK, "offre désormais OnlyOffice")
		assert.Equal(t, workflows.UpdateOffice, got.UpdateName)
		assert.Equal(t, []any{workflows.OfficeInput{Actor: models.ActorContact, TokenSeq: 3, Suite: models.OfficeOnlyOffice}}, got.Args)
	})

	t.Run("a link without its suite is invalid; one the workflow refuses says it has served", func(t *testing.T) {
		f := newFixture(t)
		token := f.link("jardin", models.PurposeConfirmOffice, 3, time.Now().Add(time.Hour))
		assert.Equal(t, http.StatusBadRequest, f.do(http.MethodGet, "/confirm?token="+url.QueryEscape(token), "", nil).Code)
		assert.Equal(t, http.StatusBadRequest, f.postForm("/confirm?token="+url.QueryEscape(token), url.Values{}).Code)
		assert.Zero(t, f.updates())

		f.expectOffice(workflows.OfficeResult{}, temporal.NewApplicationError("ce lien n'est plus valable", workflows.ErrTypeStaleLink))
		w := f.postForm("/confirm?"+url.Values{"token": {token}, "suite": {"none"}}.Encode(), url.Values{})
		assert.Equal(t, http.StatusConflict, w.Code, w.Body.String())
	})
}
