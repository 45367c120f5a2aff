package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"

	"jardinier/api/browsertest"
	"jardinier/models"
	"jardinier/workflows"
)

func (f *fixture) expectRestore(res workflows.RestoreResult) *client.UpdateWorkflowOptions {
	f.t.Helper()
	got := &client.UpdateWorkflowOptions{}
	handle := &mocks.WorkflowUpdateHandle{}
	handle.On("Get", mock.Anything, mock.Anything).Return(nil).Run(func(args mock.Arguments) {
		*args.Get(1).(*workflows.RestoreResult) = res
	}).Once()
	f.temporal.On("UpdateWorkflow", mock.Anything, mock.Anything).Return(handle, nil).Run(func(args mock.Arguments) {
		*got = args.Get(1).(client.UpdateWorkflowOptions)
	}).Once()
	return got
}

func TestRestoreAPI(t *testing.T) {
	t.Run("an admin's restore goes to the space's workflow with the time, the reason and the dry run", func(t *testing.T) {
		f := newFixture(t)
		taken := time.Date(2026, 11, 30, 0, 5, 0, 0, time.UTC)
		got := f.expectRestore(workflows.RestoreResult{DryRun: true, BackupKey: "les-amis/nightly-x.dump", BackupTakenAt: taken,
			FilesRestored: 2, FilesRemoved: 1, Changes: []workflows.RestoreChange{{Key: "urn:oid:7", Action: "removed"}}})
		w := f.do("POST", "/api/v1/spaces/les-amis/restore", f.admin,
			map[string]any{"reason": " dossier supprimé ", "at": "2026-11-30T18:00:00+01:00", "dry_run": true})
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		assert.Equal(t, workflows.SpaceWorkflowID("les-amis"), got.WorkflowID)
		assert.Equal(t, workflows.UpdateRestore, got.UpdateName)
		at := time.Date(2026, 11, 30, 17, 0, 0, 0, time.UTC)
		require.Len(t, got.Args, 1)
		in := got.Args[0].(workflows.RestoreInput)
		assert.Equal(t, "alix", in.Actor)
		assert.Equal(t, "dossier supprimé", in.Reason)
		assert.True(t, in.At.Equal(at))
		assert.True(t, in.DryRun)
		var body map[string]any
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
		assert.Equal(t, "les-amis/nightly-x.dump", body["backup"])
		assert.Equal(t, float64(2), body["files_restored"])
		assert.Equal(t, []any{map[string]any{"key": "urn:oid:7", "action": "removed"}}, body["changes"])
	})

	for name, tc := range map[string]struct {
		body  map[string]any
		field string
	}{
		"no reason":   {map[string]any{"at": "2026-11-30T18:00:00Z"}, "reason"},
		"no time":     {map[string]any{"reason": "r"}, "at"},
		"a bad time":  {map[string]any{"reason": "r", "at": "hier"}, "at"},
		"a bad field": {map[string]any{"reason": "r", "at": "2026-11-30T18:00:00Z", "when": "x"}, ""},
	} {
		t.Run("a restore with "+name+" is a 400 and reaches no workflow", func(t *testing.T) {
			f := newFixture(t)
			w := f.do("POST", "/api/v1/spaces/les-amis/restore", f.admin, tc.body)
			require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
			if tc.field != "" {
				assert.Contains(t, w.Body.String(), `"field":"`+tc.field+`"`)
			}
			f.temporal.AssertNotCalled(t, "UpdateWorkflow", mock.Anything, mock.Anything)
		})
	}

	t.Run("a moderator who is not an admin gets a 403", func(t *testing.T) {
		f := newFixture(t)
		w := f.do("POST", "/api/v1/spaces/les-amis/restore", f.mod, map[string]any{"reason": "r", "at": "2026-11-30T18:00:00Z"})
		assert.Equal(t, http.StatusForbidden, w.Code, w.Body.String())
	})
}

func TestStaleBackupsAPI(t *testing.T) {
	f := newFixture(t)
	old := time.Now().Add(-100 * time.Hour)
	sp := models.Space{Slug: "sans-sauvegarde", Status: models.StatusActive, OfficeSuite: "collabora", SubmittedAt: old, ProvisionedAt: &old}
	require.NoError(t, f.db.Create(&sp).Error)
	w := f.do("GET", "/api/v1/backups/stale", f.mod, nil)
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var body struct {
		Spaces []models.StaleBackup `json:"spaces"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
	require.Len(t, body.Spaces, 1)
	assert.Equal(t, "sans-sauvegarde", body.Spaces[0].Slug)
	assert.Nil(t, body.Spaces[0].LastGoodAt)
}

func TestBackupsPage(t *testing.T) {
	f := newFixture(t)
	old := time.Now().Add(-100 * time.Hour)
	sp := models.Space{Slug: "sans-sauvegarde", Status: models.StatusActive, OfficeSuite: "collabora", SubmittedAt: old, ProvisionedAt: &old}
	require.NoError(t, f.db.Create(&sp).Error)
	f.member("Camille", models.RoleModerator, "camille@example.org")

	t.Run("a moderator sees the spaces without a good backup for 48 hours", func(t *testing.T) {
		v := f.visitor()
		require.Equal(t, http.StatusSeeOther, v.signIn("camille@example.org", password).Code)
		w := v.get("/moderation/sauvegardes")
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		assert.Contains(t, w.Body.String(), "<h1>Sauvegardes en retard</h1>")
		assert.Contains(t, w.Body.String(), `href="/moderation/espaces/sans-sauvegarde"`)
		assert.Contains(t, w.Body.String(), "aucune")
	})

	t.Run("in a browser, at both widths", func(t *testing.T) {
		b := browsertest.Start(t)
		srv := httptest.NewServer(f.handler)
		t.Cleanup(srv.Close)
		tab := b.NewTab(t)
		tab.Open(t, srv.URL+"/moderation/connexion")
		tab.Run(t,
			chromedp.SendKeys(`#email`, "camille@example.org", chromedp.ByQuery),
			chromedp.SendKeys(`#password`, password, chromedp.ByQuery),
			chromedp.Click(`button[type=submit]`, chromedp.ByQuery),
			chromedp.WaitVisible(`nav`, chromedp.ByQuery),
		)
		tab.Open(t, srv.URL+"/moderation/sauvegardes")
		assert.Contains(t, tab.Text(t, "main"), "sans-sauvegarde")
		tab.Check(t, "console-sauvegardes")
	})
}
