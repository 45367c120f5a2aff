package e2e

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/activities/nextcloud"
	"jardinier/api/browsertest"
	"jardinier/models"
)

// limitsOf is what the simulated instance of a space enforces.
func (s *system) limitsOf(t *testing.T, slug string) models.Limits {
	t.Helper()
	in, ok := s.sim.Instance(slug)
	require.True(t, ok, slug)
	return in.Limits
}

// typeInto replaces what a field of the tab holds.
func typeInto(t *testing.T, tab *browsertest.Tab, sel, text string) {
	t.Helper()
	tab.Run(t, chromedp.Evaluate("document.querySelector("+strconv.Quote(sel)+").value = ''", nil),
		chromedp.SendKeys(sel, text, chromedp.ByQuery))
}

func TestConsoleLimitsEndToEnd(t *testing.T) {
	admin := browsertest.Start(t).NewTab(t)
	s := startSystem(t)
	c := startConsole(t, s)
	secret := c.admin(t, "Alix", "alix@jardinier.example")
	slugs := []string{"jardin-a", "jardin-b", "jardin-c", "jardin-d"}
	for _, slug := range slugs {
		id := s.submit(slug, "contact@"+slug+".example")
		require.Equal(t, http.StatusOK, s.call("POST", "/api/v1/applications/"+id+"/accept", s.token, map[string]any{}, nil))
	}
	for _, slug := range slugs {
		s.waitStatus(slug, models.StatusActive)
		require.Equal(t, models.DefaultLimits(), s.limitsOf(t, slug), "provisioned with the defaults")
	}
	c.signIn(t, admin, "alix@jardinier.example", adminPassword, secret)
	own := models.LimitsOf(80, 120, 1000)

	t.Run("une modératrice donne à un espace ses propres limites depuis sa page, avec un motif", func(t *testing.T) {
		admin.Open(t, c.url+"/moderation/espaces/jardin-a")
		assert.Contains(t, textOf(t, admin, "#limites"), "limites par défaut")
		admin.Check(t, "console-espace-limites", consoleWidths...)

		typeInto(t, admin, "#quota_gb", "5000")
		typeInto(t, admin, "#limits_reason", "chorale de 80 membres")
		admin.Run(t, chromedp.Click(`button[value=own]`), chromedp.WaitVisible(`.error-summary`))
		assert.Contains(t, textOf(t, admin, ".error-summary"), "Stockage")
		assert.Equal(t, 1, admin.Count(t, `#quota_gb[aria-invalid="true"]`), "the field at fault is marked")
		var kept string
		admin.Run(t, chromedp.Value(`#limits_reason`, &kept, chromedp.ByQuery))
		assert.Equal(t, "chorale de 80 membres", kept, "what was typed is kept")
		admin.Check(t, "console-espace-limites-erreur", consoleWidths...)
		assert.Equal(t, models.DefaultLimits(), s.limitsOf(t, "jardin-a"), "nothing changed")

		typeInto(t, admin, "#max_accounts", "80")
		typeInto(t, admin, "#quota_gb", "120")
		typeInto(t, admin, "#max_video_mb", "1000")
		admin.Run(t, chromedp.Click(`button[value=own]`), chromedp.WaitVisible(`.notice`))
		assert.Contains(t, textOf(t, admin, "#limites"), "propres à l'espace")
		assert.Contains(t, textOf(t, admin, ".timeline"), "limites de l'espace changées")
		assert.Contains(t, textOf(t, admin, ".timeline"), "chorale de 80 membres")
		assert.Equal(t, own, s.limitsOf(t, "jardin-a"))
	})

	t.Run("l'administrateur change les limites par défaut, suit le déploiement, le met en pause et le reprend", func(t *testing.T) {
		// Each space's instance answers late (two failed tries first): the rollout
		// takes a few seconds per space, time to pause it.
		for _, slug := range slugs {
			s.sim.InjectFailure(slug, nextcloud.OpApplyLimits, nextcloud.Failure{Err: errors.New("occ: instance occupée"), Times: 2})
		}
		admin.Open(t, c.url+"/moderation/limites")
		assert.Contains(t, textOf(t, admin, "#defaults-quota"), "50 Go")
		admin.Check(t, "console-limites", consoleWidths...)

		typeInto(t, admin, "#quota_gb", "60")
		admin.Run(t, chromedp.Click(`form[action="/moderation/limites"] button`), chromedp.WaitVisible(`.error-summary`))
		assert.Contains(t, textOf(t, admin, ".error-summary"), "Motif")
		assert.Contains(t, textOf(t, admin, "#defaults-quota"), "50 Go", "nothing changed")

		typeInto(t, admin, "#concurrency", "1")
		typeInto(t, admin, "#reason", "le service passe à 60 Go par espace")
		admin.Run(t, chromedp.Click(`form[action="/moderation/limites"] button`), chromedp.WaitVisible(`.notice`))
		assert.Contains(t, textOf(t, admin, "#defaults-quota"), "60 Go")
		assert.Contains(t, textOf(t, admin, "#defaults-version"), "2")
		applied := func() int {
			for range 50 {
				if n, err := strconv.Atoi(strings.TrimSpace(admin.TextNow(t, "#applied"))); err == nil {
					return n
				}
				time.Sleep(100 * time.Millisecond)
			}
			return -1
		}
		status := func() string { return strings.TrimSpace(admin.TextNow(t, "#rollout-status")) }
		// Paused at once: the space under way answers, then no other is told.
		admin.Run(t, chromedp.Click(`button[value=pause]`), chromedp.WaitVisible(`button[value=resume]`))
		assert.Equal(t, "en pause", status())
		for deadline := time.Now().Add(60 * time.Second); strings.TrimSpace(admin.TextNow(t, "#rollout-running")) != "0"; {
			require.True(t, time.Now().Before(deadline), "the space under way never answered")
			time.Sleep(time.Second)
			admin.Open(t, admin.URL(t))
		}
		paused := applied()
		time.Sleep(5 * time.Second)
		admin.Open(t, admin.URL(t))
		assert.Equal(t, paused, applied(), "nothing moves while paused")
		assert.Less(t, paused, len(slugs)-1, "spaces wait for the rollout to resume")
		admin.Check(t, "console-limites-en-pause", consoleWidths...)
		admin.Run(t, chromedp.Click(`button[value=resume]`), chromedp.WaitVisible(`#rollout-status`))
		// The page's script refreshes the progress in place, then the page shows the end.
		require.Eventually(t, func() bool { return applied() > paused }, 60*time.Second, 500*time.Millisecond)
		require.Eventually(t, func() bool {
			if status() == "terminé" {
				return true
			}
			admin.Open(t, admin.URL(t))
			return false
		}, 90*time.Second, time.Second)
		admin.Check(t, "console-limites-termine", consoleWidths...)

		assert.Equal(t, len(slugs)-1, applied(), "every space in service but the one with its own limits")
		assert.Equal(t, own, s.limitsOf(t, "jardin-a"), "a space with its own limits keeps them")
		sixty := models.LimitsOf(models.MaxSpaceAccounts, 60, models.MaxVideoFileMB)
		for _, slug := range slugs[1:] {
			assert.Equal(t, sixty, s.limitsOf(t, slug), slug)
		}
		admin.Open(t, c.url+"/moderation/espaces/jardin-b")
		assert.Contains(t, textOf(t, admin, ".timeline"), "limites par défaut appliquées")
		assert.Contains(t, textOf(t, admin, "#limites"), "version 2")
	})

	t.Run("une modératrice ramène l'espace aux limites par défaut en vigueur", func(t *testing.T) {
		admin.Open(t, c.url+"/moderation/espaces/jardin-a")
		typeInto(t, admin, "#limits_reason", "la chorale a fini sa saison")
		admin.Run(t, chromedp.Click(`button[value=defaults]`), chromedp.WaitVisible(`.notice`))
		assert.Contains(t, textOf(t, admin, "#limites"), "version 2")
		assert.Equal(t, models.LimitsOf(models.MaxSpaceAccounts, 60, models.MaxVideoFileMB), s.limitsOf(t, "jardin-a"))
	})
}
