package api

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/models"
)

func TestConsoleHomeHeldSpaces(t *testing.T) {
	t.Run("the home lists the spaces whose deactivation or deletion waits because no warning reached anyone", func(t *testing.T) {
		f := newFixture(t)
		f.member("Camille", models.RoleModerator, "camille@example.org")
		since := time.Date(2026, 4, 5, 9, 0, 0, 0, time.UTC)
		f.space("muet", models.StatusActive, nil)
		f.space("muet-desactive", models.StatusDeactivated, nil)
		f.space("parti", models.StatusDeleted, nil)
		for slug, step := range map[string]models.Step{"muet": models.StepDeactivation, "muet-desactive": models.StepDeletion,
			"parti": models.StepDeletion} {
			require.NoError(t, f.db.Create(&models.PolicyHold{Slug: slug, Step: step, Since: since}).Error)
		}
		v := f.visitor()
		v.signIn("camille@example.org", password)
		w := v.get("/moderation/")
		require.Equal(t, http.StatusOK, w.Code)
		body := w.Body.String()
		assert.Contains(t, body, "2 espace(s) : aucun avertissement n'a atteint personne")
		assert.Contains(t, body, `<a href="/moderation/espaces/muet">muet</a> : désactivation suspendue depuis le 5 avril 2026`)
		assert.Contains(t, body, `<a href="/moderation/espaces/muet-desactive">muet-desactive</a> : suppression suspendue`)
		assert.NotContains(t, body, "/moderation/espaces/parti", "a deleted space waits for nothing")
	})

	t.Run("nothing held, the home says so", func(t *testing.T) {
		f := newFixture(t)
		f.member("Camille", models.RoleModerator, "camille@example.org")
		v := f.visitor()
		v.signIn("camille@example.org", password)
		assert.Contains(t, v.get("/moderation/").Body.String(), "Aucun espace n'attend de décision.")
	})
}
