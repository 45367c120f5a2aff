package api

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"

	"jardinier/models"
)

func TestConsoleLimits(t *testing.T) {
	t.Run("the defaults' screen is for admins: a moderator gets the 403 page and changes nothing", func(t *testing.T) {
		f := newFixture(t)
		f.member("Camille", models.RoleModerator, "camille@example.org")
		v := f.visitor()
		v.signIn("camille@example.org", password)
		w := v.get("/moderation/limites")
		assert.Equal(t, http.StatusForbidden, w.Code)
		assert.Contains(t, w.Body.String(), "réservé aux administrateurs")
		w = v.post("/moderation/", "/moderation/limites", url.Values{"max_accounts": {"50"}, "quota_gb": {"60"},
			"max_video_mb": {"500"}, "reason": {"r"}})
		assert.Equal(t, http.StatusForbidden, w.Code)
		assert.Zero(t, f.count(&models.LimitsVersion{}))
	})

	t.Run("a space's limits form refused shows the field at fault and sends nothing", func(t *testing.T) {
		f := newFixture(t)
		f.temporal.On("QueryWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).
			Return(nil, assert.AnError).Maybe()
		require.NoError(t, f.db.Create(&models.Space{Slug: "les-amis", Status: models.StatusActive, OfficeSuite: models.OfficeNone,
			MaxAccounts: 50, QuotaBytes: 50 << 30, MaxVideoBytes: 500 << 20}).Error)
		f.member("Camille", models.RoleModerator, "camille@example.org")
		v := f.visitor()
		v.signIn("camille@example.org", password)
		page := v.get("/moderation/espaces/les-amis")
		require.Equal(t, http.StatusOK, page.Code, page.Body.String())
		assert.Contains(t, page.Body.String(), `action="/moderation/espaces/les-amis/limites"`)
		assert.Contains(t, page.Body.String(), `id="quota_gb" name="quota_gb" min="1" class="short" value="50"`, "filled with the space's limits")

		for _, c := range []struct {
			form  url.Values
			field string
		}{
			{url.Values{"max_accounts": {"80"}, "quota_gb": {"beaucoup"}, "max_video_mb": {"500"}, "limits_reason": {"r"}}, "quota_gb"},
			{url.Values{"max_accounts": {"0"}, "quota_gb": {"60"}, "max_video_mb": {"500"}, "limits_reason": {"r"}}, "max_accounts"},
			{url.Values{"max_accounts": {"80"}, "quota_gb": {"60"}, "max_video_mb": {"500"}, "choice": {"own"}}, "limits_reason"},
		} {
			w := v.post("/moderation/espaces/les-amis", "/moderation/espaces/les-amis/limites", c.form)
			require.Equal(t, http.StatusBadRequest, w.Code, "%v", c.form)
			assert.Contains(t, w.Body.String(), `href="#`+c.field+`"`, "the summary links to the field: %v", c.form)
			assert.Contains(t, w.Body.String(), `id="`+c.field+`-error"`, "%v", c.form)
		}
		f.temporal.AssertNotCalled(t, "UpdateWorkflow", mock.Anything, mock.Anything)
	})
}
