package api

import (
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/models"
	"jardinier/workflows"
)

// signedInAdmin is a visitor signed in as an admin who enrolled a second factor.
func (f *fixture) signedInAdmin() *visitor {
	f.t.Helper()
	f.member("Alix", models.RoleAdmin, "alix@example.org")
	v := f.visitor()
	v.signIn("alix@example.org", password)
	w := v.post("/moderation/double-authentification", "/moderation/double-authentification", url.Values{"action": {"begin"}})
	require.Equal(f.t, http.StatusSeeOther, w.Code, w.Body.String())
	page := v.get("/moderation/double-authentification")
	secret := regexp.MustCompile(`id="secret">([A-Z2-7]+)<`).FindStringSubmatch(page.Body.String())
	require.NotNil(f.t, secret, page.Body.String())
	code, err := totp.GenerateCode(secret[1], time.Now())
	require.NoError(f.t, err)
	w = v.post("/moderation/double-authentification", "/moderation/double-authentification", url.Values{"code": {code}})
	require.Equal(f.t, http.StatusOK, w.Code, w.Body.String())
	return v
}

func TestConsoleUpgradePageLeftBehind(t *testing.T) {
	const id = "20260105-101500-a1b2c3"
	t.Run("a space whose major in between has no code base is listed with the release missing", func(t *testing.T) {
		f := newFixture(t)
		v := f.signedInAdmin()
		f.expectProgress(id, workflows.UpgradeProgress{ID: id, Target: "33.0.1", Status: workflows.UpgradeRunning,
			Total: 1, Remaining: 1, StartedAt: time.Now(),
			Refused: []workflows.RefusedSpace{{Slug: "vieux-jardin", Version: "30.0.4", Steps: []string{"31", "32", "33.0.1"},
				Missing: []string{"32"}}}}, nil)
		w := v.get("/moderation/mises-a-jour/" + id)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		assert.Contains(t, w.Body.String(), "passer d'abord par 31, 32, 33.0.1 ; version(s) manquante(s) : 32 (aucune base de code installée)")
	})
	t.Run("an upgrade stopped before any space says why", func(t *testing.T) {
		f := newFixture(t)
		v := f.signedInAdmin()
		f.expectProgress(id, workflows.UpgradeProgress{ID: id, Target: "33.0.1", Status: workflows.UpgradeFailed,
			PauseReason: "les applications approuvées de 33.0.1 n'ont pas pu être préparées : spreed: no release for Nextcloud 33.0.1",
			StartedAt:   time.Now()}, nil)
		w := v.get("/moderation/mises-a-jour/" + id)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		assert.Contains(t, w.Body.String(), "arrêtée avant tout espace")
		assert.Contains(t, w.Body.String(), "spreed: no release for Nextcloud 33.0.1")
		assert.NotContains(t, w.Body.String(), `action="/moderation/mises-a-jour/`+id+`"`, "nothing to pause, resume or abort")
	})
}
