package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/models"
	"jardinier/workflows"
)

// spaceFor writes a space in status with its application, whose contact is email.
func (f *fixture) spaceFor(slug, email string, status models.Status, version string, office models.OfficeSuite) {
	f.t.Helper()
	id := uuid.NewString()
	now := time.Now().UTC()
	require.NoError(f.t, f.db.Create(&models.Application{ID: id, Slug: slug, OrganizationName: "Asso " + slug,
		OrganizationType: models.OrgAssociation1901, Sectors: []string{"culture"}, FoundedYear: 2010, Mission: "m",
		Actions: "a", Needs: "n", AccountsNeeded: 2, OfficeSuite: office, ContactEmail: email, TermsAcceptedAt: now}).Error)
	require.NoError(f.t, f.db.Create(&models.Space{Slug: slug, ApplicationID: &id, Status: status, NextcloudVersion: version,
		OfficeSuite: office, SubmittedAt: now}).Error)
}

func TestAnnouncementsAPI(t *testing.T) {
	f := newFixture(t)
	f.spaceFor("jardin-a", "bureau@jardin.example", models.StatusActive, "31.0.9", models.OfficeCollabora)
	// The same person, as written in another application: one mail.
	f.spaceFor("jardin-b", " Bureau@Jardin.example", models.StatusDeactivated, "30.0.5", models.OfficeOnlyOffice)
	f.spaceFor("velo", "velo@asso.example", models.StatusActive, "31.0.2", models.OfficeNone)
	f.spaceFor("attente", "attente@asso.example", models.StatusSubmitted, "", models.OfficeCollabora)

	preview := func(query string) (int, int64) {
		w := f.do("GET", "/api/v1/announcements/preview?"+query, f.admin, nil)
		var body struct{ Recipients int64 }
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		return w.Code, body.Recipients
	}
	t.Run("the preview counts people, once per address, of the spaces that exist", func(t *testing.T) {
		code, n := preview("audience=contacts")
		require.Equal(t, http.StatusOK, code)
		assert.EqualValues(t, 2, n, "bureau@ once for two spaces, velo@; not the applicant still waiting")
		for query, want := range map[string]int64{
			"audience=filter&status=active":                  2,
			"audience=filter&status=deactivated":             1,
			"audience=filter&version=31":                     2,
			"audience=filter&version=31.0.2":                 1,
			"audience=filter&office=none&office=onlyoffice":  2,
			"audience=filter&office=collabora&status=active": 1,
			"audience=filter&version=29":                     0,
		} {
			code, n := preview(query)
			assert.Equal(t, http.StatusOK, code, query)
			assert.Equal(t, want, n, query)
		}
	})
	t.Run("a bad audience is refused naming its field", func(t *testing.T) {
		for query, field := range map[string]string{
			"audience=everyone":               "audience",
			"audience=admins&status=deleted":  "status",
			"audience=filter":                 "filter",
			"audience=contacts&status=active": "filter",
			"audience=filter&status=deleted":  "status",
			"audience=filter&version=x.1":     "version",
			"audience=filter&office=word":     "office",
		} {
			w := f.do("GET", "/api/v1/announcements/preview?"+query, f.admin, nil)
			assert.Equal(t, http.StatusBadRequest, w.Code, query)
			assert.Equal(t, field, errorOf(t, w).Field, query)
		}
	})
	t.Run("only admins reach the announcements", func(t *testing.T) {
		assert.Equal(t, http.StatusForbidden, f.do("GET", "/api/v1/announcements", f.mod, nil).Code)
		assert.Equal(t, http.StatusForbidden, f.do("POST", "/api/v1/announcements", f.mod, map[string]any{}).Code)
		assert.Equal(t, http.StatusUnauthorized, f.do("GET", "/api/v1/announcements", "", nil).Code)
	})
	t.Run("a draft with a field wrong is refused and nothing is written", func(t *testing.T) {
		for field, body := range map[string]map[string]any{
			"subject":  {"body": "Bonjour"},
			"body":     {"subject": "Enquête"},
			"audience": {"subject": "Enquête", "body": "Texte", "audience": "tous"},
			"filter":   {"subject": "Enquête", "body": "Texte", "audience": "filter"},
		} {
			w := f.do("POST", "/api/v1/announcements", f.admin, body)
			assert.Equal(t, http.StatusBadRequest, w.Code, field)
			assert.Equal(t, field, errorOf(t, w).Field)
		}
		w := f.do("POST", "/api/v1/announcements", f.admin, map[string]any{"subject": "deux\nlignes", "body": "x"})
		assert.Equal(t, "subject", errorOf(t, w).Field)
		assert.Zero(t, f.count(&models.Announcement{}))
	})

	var created announcementView
	t.Run("a draft is written, shown with the people it reaches, and listed", func(t *testing.T) {
		w := f.do("POST", "/api/v1/announcements", f.admin, map[string]any{"subject": "Enquête annuelle",
			"body": "Répondez à notre enquête.", "audience": "filter", "filter": map[string]any{"statuses": []string{"active"}}})
		require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &created))
		assert.Equal(t, models.AnnouncementDraft, created.Status)
		assert.EqualValues(t, 2, created.Recipients)
		assert.Equal(t, "alix", created.CreatedBy)
		w = f.do("GET", "/api/v1/announcements", f.admin, nil)
		require.Equal(t, http.StatusOK, w.Code)
		assert.Contains(t, w.Body.String(), created.ID)
		assert.Equal(t, http.StatusNotFound, f.do("GET", "/api/v1/announcements/"+uuid.NewString(), f.admin, nil).Code)
		assert.Equal(t, http.StatusNotFound, f.do("GET", "/api/v1/announcements/pas-un-id", f.admin, nil).Code)
	})
	t.Run("sending starts its workflow once, carrying only its ID", func(t *testing.T) {
		w := f.do("POST", "/api/v1/announcements/"+created.ID+"/send", f.admin, nil)
		require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
		require.NotEmpty(t, f.started)
		opts := f.started[len(f.started)-1]
		assert.Equal(t, workflows.AnnouncementWorkflowID(created.ID), opts.ID)
		a, err := models.FindAnnouncement(context.Background(), f.db, created.ID)
		require.NoError(t, err)
		assert.Equal(t, models.AnnouncementSending, a.Status)
		w = f.do("POST", "/api/v1/announcements/"+created.ID+"/send", f.admin, nil)
		assert.Equal(t, http.StatusConflict, w.Code, "a second send is refused")
		assert.Equal(t, http.StatusNotFound, f.do("POST", "/api/v1/announcements/"+created.ID+"/explode", f.admin, nil).Code)
	})
	t.Run("the spaces' admins are an audience: the preview counts the spaces to read, and it is sent", func(t *testing.T) {
		w := f.do("GET", "/api/v1/announcements/preview?audience=admins", f.admin, nil)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var body struct {
			Recipients          int64
			RecipientsAreSpaces bool `json:"recipients_are_spaces"`
		}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
		assert.EqualValues(t, 3, body.Recipients, "jardin-a, jardin-b and velo: the spaces whose admins the sending reads")
		assert.True(t, body.RecipientsAreSpaces, "the count is of spaces, not people")
		code, n := preview("audience=admins&status=deactivated")
		assert.Equal(t, http.StatusOK, code)
		assert.EqualValues(t, 1, n, "the filter narrows the spaces whose admins are read: jardin-b")

		w = f.do("POST", "/api/v1/announcements", f.admin, map[string]any{"subject": "Mise à jour",
			"body": "Nextcloud 32 arrive.", "audience": "admins"})
		require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
		var v announcementView
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &v))
		assert.Equal(t, models.AudienceAdmins, v.Audience)
		assert.EqualValues(t, 3, v.Recipients)
		assert.True(t, v.RecipientsAreSpaces)
		w = f.do("POST", "/api/v1/announcements/"+v.ID+"/send", f.admin, nil)
		require.Equal(t, http.StatusAccepted, w.Code, w.Body.String())
		assert.Equal(t, workflows.AnnouncementWorkflowID(v.ID), f.started[len(f.started)-1].ID)
	})
	t.Run("an audience that reaches nobody is not sent", func(t *testing.T) {
		w := f.do("POST", "/api/v1/announcements", f.admin, map[string]any{"subject": "Vieux", "body": "x",
			"audience": "filter", "filter": map[string]any{"versions": []string{"20"}}})
		require.Equal(t, http.StatusCreated, w.Code)
		var v announcementView
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &v))
		w = f.do("POST", fmt.Sprintf("/api/v1/announcements/%s/send", v.ID), f.admin, nil)
		assert.Equal(t, http.StatusBadRequest, w.Code)
		assert.Equal(t, "audience", errorOf(t, w).Field)
	})
}

func TestConsoleAnnouncementToAdmins(t *testing.T) {
	f := newFixture(t)
	f.spaceFor("jardin-a", "bureau@jardin.example", models.StatusActive, "31.0.9", models.OfficeCollabora)
	f.spaceFor("velo", "velo@asso.example", models.StatusDeactivated, "31.0.2", models.OfficeNone)
	v := f.signedInAdmin()
	page := v.get("/moderation/annonces")
	require.Equal(t, http.StatusOK, page.Code, page.Body.String())
	assert.NotContains(t, page.Body.String(), "pas encore", "the admins are an audience like the others")

	form := url.Values{"subject": {"Mise à jour"}, "body": {"Nextcloud 32 arrive."}, "audience": {"admins"}}
	preview := url.Values{"action": {"preview"}}
	for k, vs := range form {
		preview[k] = vs
	}
	w := v.post("/moderation/annonces", "/moderation/annonces", preview)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Contains(t, w.Body.String(), "les administrateurs de <strong>2</strong> espace(s)", "the preview counts the spaces to read")

	w = v.post("/moderation/annonces", "/moderation/annonces", form)
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	draft := v.get(w.Header().Get("Location"))
	require.Equal(t, http.StatusOK, draft.Code, draft.Body.String())
	assert.Contains(t, draft.Body.String(), "Envoyer aux administrateurs de 2 espace(s)")

	filtered := url.Values{"action": {"preview"}, "subject": {"Mise à jour"}, "body": {"Nextcloud 32 arrive."},
		"audience": {"admins-filter"}, "status": {"deactivated"}}
	w = v.post("/moderation/annonces", "/moderation/annonces", filtered)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	assert.Contains(t, w.Body.String(), "les administrateurs de <strong>1</strong> espace(s)", "the admins of the spaces chosen")
	assert.Contains(t, w.Body.String(), `value="admins-filter" checked`, "the form keeps the choice")
	filtered.Del("action")
	w = v.post("/moderation/annonces", "/moderation/annonces", filtered)
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	draft = v.get(w.Header().Get("Location"))
	assert.Contains(t, draft.Body.String(), "les administrateurs Nextcloud des espaces à l'état désactivé")
}
