package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/models"
	"jardinier/models/modeltest"
	"jardinier/workflows"
)

// followLink is the token of the link of an application's receipt mail.
func (f *fixture) followLink(slug, appID string) string {
	f.t.Helper()
	return models.NewSigner(modeltest.SecretKey).Sign(models.LinkToken{Slug: slug, Purpose: models.PurposeFollow,
		App: appID, Expires: time.Now().Add(models.FollowLinkValidity)})
}

func TestFollowApplication(t *testing.T) {
	f := newFixture(t)
	w := f.do(http.MethodPost, "/api/v1/applications", "", validApplication())
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	var created submissionResponse
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &created))
	token := f.followLink(created.Slug, created.ID)
	page := "/suivi?" + url.Values{"token": {token}}.Encode()

	t.Run("the link shows the application received, with a button to withdraw, and changes nothing", func(t *testing.T) {
		w := f.do(http.MethodGet, page, "", nil)
		assertPage(t, w, http.StatusOK, "reçue le", "Retirer ma demande", `method="post"`)
		assert.Zero(t, f.updates())

		w = f.do(http.MethodGet, "/api/v1/follow?"+url.Values{"token": {token}}.Encode(), "", nil)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var st followState
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &st))
		assert.Equal(t, followSubmitted, st.State)
		assert.True(t, st.CanWithdraw)
	})

	t.Run("on hold, the page says since when", func(t *testing.T) {
		held := time.Date(2026, 2, 3, 10, 0, 0, 0, time.UTC)
		require.NoError(t, f.db.Model(&models.Space{}).Where("slug = ?", created.Slug).Update("status", models.StatusOnHold).Error)
		require.NoError(t, f.db.Create(&models.AuditEvent{Key: "k1", Slug: created.Slug, ApplicationID: &created.ID,
			Actor: "camille", Action: workflows.UpdateHold, At: held}).Error)
		assertPage(t, f.do(http.MethodGet, page, "", nil), http.StatusOK, "en attente depuis le 3 février 2026", "Retirer ma demande")
	})

	t.Run("the button withdraws through the space's workflow", func(t *testing.T) {
		got := f.expectUpdate(workflows.DecisionResult{Status: models.StatusRejected}, nil)
		w := f.postForm(page, nil)
		assertPage(t, w, http.StatusOK, "est retirée")
		assert.Equal(t, workflows.UpdateWithdraw, got.UpdateName)
		assert.Equal(t, workflows.SpaceWorkflowID(created.Slug), got.WorkflowID)
		assert.Equal(t, []any{workflows.DecisionInput{Moderator: models.ActorApplicant}}, got.Args)
	})

	t.Run("once purged, the link says the application is gone, without a button", func(t *testing.T) {
		require.NoError(t, f.db.Exec("UPDATE spaces SET application_id = NULL, status = 'rejected'").Error)
		require.NoError(t, f.db.Exec("DELETE FROM applications").Error)
		w := f.do(http.MethodGet, page, "", nil)
		assertPage(t, w, http.StatusOK, "n'existe plus")
		assert.NotContains(t, w.Body.String(), "Retirer ma demande")
		before := f.updates()
		w = f.do(http.MethodPost, "/api/v1/follow/withdraw", "", map[string]string{"token": token})
		assert.Equal(t, http.StatusConflict, w.Code, w.Body.String())
		assert.Equal(t, before, f.updates())
	})

	t.Run("a forged or other link is refused", func(t *testing.T) {
		assertPage(t, f.do(http.MethodGet, "/suivi?token=abc.def", "", nil), http.StatusBadRequest)
		other := f.link(created.Slug, models.PurposeReactivate, 1, time.Now().Add(time.Hour))
		assertPage(t, f.do(http.MethodGet, "/suivi?token="+other, "", nil), http.StatusBadRequest)
		w := f.do(http.MethodPost, "/api/v1/follow/withdraw", "", map[string]string{"token": "abc.def"})
		assert.Equal(t, http.StatusBadRequest, w.Code)
		assert.Equal(t, "token", errorOf(t, w).Field)
	})
}
