package e2e

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"jardinier/api"
	"jardinier/api/browsertest"
	"jardinier/models"
	"jardinier/workflows"
)

// lockedBuffer collects the console's logs, to check that no secret reaches them.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// consoleWidths are the widths every screen of the console is checked at: a laptop and
// a common phone (the moderators work from both).
var consoleWidths = []int{browsertest.Desktop, 390}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// console is the moderators' console of a running system, served with its logs kept.
type console struct {
	*system
	url  string
	logs *lockedBuffer
}

func startConsole(t *testing.T, s *system) *console {
	t.Helper()
	logs := &lockedBuffer{}
	h, err := api.NewServer(s.cfg, s.db, s.temporal, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))).Handler()
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &console{system: s, url: srv.URL, logs: logs}
}

// linkIn finds the console link of a mail, on this test's server.
func (c *console) linkIn(t *testing.T, body string) string {
	t.Helper()
	m := regexp.MustCompile(`https?://\S+/moderation/mot-de-passe\?jeton=\S+`).FindString(body)
	require.NotEmpty(t, m, "no link in:\n%s", body)
	return strings.Replace(m, strings.TrimRight(c.cfg.PublicURL, "/"), c.url, 1)
}

// signIn fills the sign-in form of the tab, then the one-time code if one is asked.
func (c *console) signIn(t *testing.T, tab *browsertest.Tab, email, password, totpSecret string) {
	t.Helper()
	tab.Open(t, c.url+"/moderation/connexion")
	tab.Leave(t, chromedp.SendKeys(`#email`, email), chromedp.SendKeys(`#password`, password),
		chromedp.Click(`form[action="/moderation/connexion"] button`))
	tab.Run(t, chromedp.WaitVisible(`main h1`))
	if totpSecret != "" {
		tab.Run(t, chromedp.WaitVisible(`#code`))
		code, err := totp.GenerateCode(totpSecret, time.Now().Add(30*time.Second))
		require.NoError(t, err)
		tab.Run(t, chromedp.SendKeys(`#code`, code), chromedp.Click(`form[action="/moderation/code"] button`),
			chromedp.WaitVisible(`nav[aria-label="Menu principal"]`))
	}
}

const (
	adminPassword     = "le jardin est ouvert le samedi"
	moderatorPassword = "les radis poussent en trois semaines"
)

// admin creates an admin with a password and a second factor, as the console would,
// and returns the TOTP secret.
func (c *console) admin(t *testing.T, name, email string) string {
	t.Helper()
	ctx := context.Background()
	_, m, err := models.AddModerator(ctx, c.db, name, models.RoleAdmin, email)
	require.NoError(t, err)
	link, err := models.NewModeratorLink(ctx, c.db, m.ID, models.LinkInvitation, time.Now())
	require.NoError(t, err)
	m, err = models.SetPasswordWithLink(ctx, c.db, link.ID, adminPassword, time.Now())
	require.NoError(t, err)
	sealer, err := models.NewSealer(c.cfg.SecretKey)
	require.NoError(t, err)
	enrol, err := models.BeginTOTP(ctx, c.db, sealer, m)
	require.NoError(t, err)
	code, err := totp.GenerateCode(enrol.Secret, time.Now().Add(-30*time.Second))
	require.NoError(t, err)
	_, err = models.ConfirmTOTP(ctx, c.db, sealer, m, code, time.Now().Add(-30*time.Second))
	require.NoError(t, err)
	return enrol.Secret
}

func textOf(t *testing.T, tab *browsertest.Tab, sel string) string {
	t.Helper()
	return strings.TrimSpace(tab.Text(t, sel))
}

func TestConsoleEndToEnd(t *testing.T) {
	// One browser per person: each keeps its own cookies.
	admin := browsertest.Start(t).NewTab(t)
	moderator := browsertest.Start(t).NewTab(t)
	newAdmin := browsertest.Start(t).NewTab(t)
	visitor := browsertest.Start(t).NewTab(t)
	s := startSystem(t)
	c := startConsole(t, s)
	adminSecret := c.admin(t, "Alix", "alix@jardinier.example")
	var apiToken, camillePassword = "", moderatorPassword

	t.Run("un administrateur invite une bénévole", func(t *testing.T) {
		c.signIn(t, admin, "alix@jardinier.example", adminPassword, adminSecret)
		assert.Equal(t, "Bonjour Alix", textOf(t, admin, "main h1"))
		admin.Check(t, "console-accueil", consoleWidths...)
		admin.Open(t, c.url+"/moderation/moderateurs")
		admin.Check(t, "console-moderateurs", consoleWidths...)
		admin.Run(t, chromedp.SendKeys(`#name`, "Camille"), chromedp.SendKeys(`#email`, "camille@benevoles.example"),
			chromedp.Click(`form[action="/moderation/moderateurs"] button`), chromedp.WaitVisible(`.notice`))
		assert.Contains(t, textOf(t, admin, ".notice"), "L'invitation est partie")
	})

	var link string
	t.Run("la bénévole suit le lien du courriel, choisit son mot de passe et se connecte", func(t *testing.T) {
		mail, _ := s.waitMail(t, "Invitation", 0)
		assert.Equal(t, []string{"camille@benevoles.example"}, mail.To)
		link = c.linkIn(t, mail.Body)
		moderator.Open(t, link)
		assert.Equal(t, "Bienvenue, Camille", textOf(t, moderator, "main h1"))
		moderator.Check(t, "console-mot-de-passe", consoleWidths...)
		moderator.Run(t, chromedp.SendKeys(`#password`, "court"), chromedp.SendKeys(`#confirmation`, "court"),
			chromedp.Click(`form[action="/moderation/mot-de-passe"] button`), chromedp.WaitVisible(`.error-summary`))
		moderator.Check(t, "console-mot-de-passe-erreur", consoleWidths...)
		moderator.Run(t, chromedp.SendKeys(`#password`, camillePassword), chromedp.SendKeys(`#confirmation`, camillePassword),
			chromedp.Click(`form[action="/moderation/mot-de-passe"] button`), chromedp.WaitVisible(`.notice`))
		assert.Contains(t, textOf(t, moderator, ".notice"), "connectez-vous")
		moderator.Check(t, "console-connexion", consoleWidths...)
		moderator.Open(t, c.url+"/moderation/mot-de-passe-oublie")
		moderator.Check(t, "console-mot-de-passe-oublie", consoleWidths...)
		moderator.Open(t, c.url+"/moderation/nulle-part")
		assert.Equal(t, http.StatusNotFound, moderator.Status())
		moderator.Check(t, "console-introuvable", consoleWidths...)
		c.signIn(t, moderator, "camille@benevoles.example", camillePassword, "")
		assert.Equal(t, "Bonjour Camille", textOf(t, moderator, "main h1"))

		moderator.Open(t, link)
		assert.Equal(t, http.StatusConflict, moderator.Status(), "the link works once")
	})

	t.Run("elle trouve une demande, la met en attente puis l'accepte, et voit l'espace en service", func(t *testing.T) {
		id := s.submit("troc-de-graines", "contact@troc-graines.example")
		s.submit("troc-de-graine", "entraide@troc-graines.example")
		moderator.Open(t, c.url+"/moderation/")
		assert.Contains(t, textOf(t, moderator, "main"), "Collectif troc-de-graines")
		moderator.Check(t, "console-accueil-demandes", consoleWidths...)
		moderator.Open(t, c.url+"/moderation/demandes?q=troc")
		moderator.Check(t, "console-demandes", consoleWidths...)
		moderator.Run(t, chromedp.Click(`a[href="/moderation/demandes/`+id+`"]`), chromedp.WaitVisible(`#decision`))
		signals := textOf(t, moderator, "aside")
		assert.Contains(t, signals, "troc-graines.example", "same mail domain")
		assert.Contains(t, signals, "troc-de-graine", "a name close to another")
		moderator.Check(t, "console-demande", consoleWidths...)
		moderator.Run(t, chromedp.Click(`input[name=decision][value=hold]`), chromedp.SendKeys(`#reason`, "Plus de place ce mois-ci."),
			chromedp.Click(`form[action="/moderation/demandes/`+id+`"] button`), chromedp.WaitVisible(`.notice`))
		assert.Equal(t, "en attente", textOf(t, moderator, "#etat"))
		// Holding again is a transition the workflow refuses: the page says so.
		moderator.Run(t, chromedp.Click(`input[name=decision][value=hold]`),
			chromedp.Click(`form[action="/moderation/demandes/`+id+`"] button`), chromedp.WaitVisible(`.problem`))
		assert.Contains(t, textOf(t, moderator, ".problem"), "seule une demande soumise peut être mise en attente")
		moderator.Check(t, "console-demande-refus", consoleWidths...)
		moderator.Run(t, chromedp.Click(`input[name=decision][value=accept]`),
			chromedp.Click(`form[action="/moderation/demandes/`+id+`"] button`), chromedp.WaitVisible(`.notice`))
		s.waitStatus("troc-de-graines", models.StatusActive)
		// The planned steps follow as soon as the workflow has set the policy's countdown.
		var timeline string
		require.Eventually(t, func() bool {
			moderator.Open(t, c.url+"/moderation/espaces/troc-de-graines")
			timeline = textOf(t, moderator, "ol.timeline")
			return strings.Contains(timeline, "prévu")
		}, 30*time.Second, 500*time.Millisecond)
		assert.Equal(t, "en service", textOf(t, moderator, "#etat"))
		for _, step := range []string{"demande déposée", "mise en attente", "acceptée", "espace créé, en service", "premier avertissement", "suppression"} {
			assert.Contains(t, timeline, step)
		}
		moderator.Check(t, "console-espace", consoleWidths...)
		for _, page := range []string{"espaces", "apercu", "journal", "compte", "statistiques"} {
			moderator.Open(t, c.url+"/moderation/"+page)
			assert.Equal(t, http.StatusOK, moderator.Status(), page)
			moderator.Check(t, "console-"+page, consoleWidths...)
		}
	})

	t.Run("elle crée un jeton d'API, affiché une seule fois", func(t *testing.T) {
		moderator.Open(t, c.url+"/moderation/compte")
		moderator.Run(t, chromedp.SendKeys(`#label`, "script de relance"),
			chromedp.Click(`form[action="/moderation/compte/jetons"] button`), chromedp.WaitVisible(`#nouveau-jeton`))
		apiToken = textOf(t, moderator, "#nouveau-jeton")
		require.True(t, strings.HasPrefix(apiToken, models.TokenPrefix))
		assert.Equal(t, http.StatusOK, s.call("GET", "/api/v1/applications", apiToken, nil, nil))
		moderator.Open(t, c.url+"/moderation/compte")
		assert.Equal(t, 0, moderator.Count(t, "#nouveau-jeton"))
	})

	t.Run("une modératrice ne peut pas ouvrir les écrans d'administration, et rien ne change", func(t *testing.T) {
		var before int64
		require.NoError(t, s.db.Model(&models.Moderator{}).Count(&before).Error)
		for _, page := range []string{"moderateurs", "mises-a-jour"} {
			moderator.Open(t, c.url+"/moderation/"+page)
			assert.Equal(t, http.StatusForbidden, moderator.Status(), page)
			assert.Contains(t, textOf(t, moderator, ".problem"), "réservé aux administrateurs")
		}
		moderator.Check(t, "console-interdit", consoleWidths...)
		var after int64
		require.NoError(t, s.db.Model(&models.Moderator{}).Count(&after).Error)
		assert.Equal(t, before, after)
	})

	t.Run("une modératrice désactivée perd à l'instant sa session et son jeton", func(t *testing.T) {
		var camille models.Moderator
		require.NoError(t, s.db.Where("name = ?", "Camille").First(&camille).Error)
		admin.Open(t, c.url+"/moderation/moderateurs")
		admin.Run(t, chromedp.Click(`form[action="/moderation/moderateurs/`+strconv.FormatUint(uint64(camille.ID), 10)+`/desactiver"] button`),
			chromedp.WaitVisible(`.notice`))
		assert.Contains(t, textOf(t, admin, ".notice"), "désactivé")
		moderator.Open(t, c.url+"/moderation/")
		assert.Contains(t, moderator.URL(t), "/moderation/connexion")
		assert.Equal(t, http.StatusUnauthorized, s.call("GET", "/api/v1/applications", apiToken, nil, nil))
	})

	t.Run("un nouvel administrateur met en place la double authentification", func(t *testing.T) {
		ctx := context.Background()
		_, m, err := models.AddModerator(ctx, s.db, "Dominique", models.RoleAdmin, "dominique@jardinier.example")
		require.NoError(t, err)
		l, err := models.NewModeratorLink(ctx, s.db, m.ID, models.LinkInvitation, time.Now())
		require.NoError(t, err)
		_, err = models.SetPasswordWithLink(ctx, s.db, l.ID, adminPassword, time.Now())
		require.NoError(t, err)
		tab := newAdmin
		c.signIn(t, tab, "dominique@jardinier.example", adminPassword, "")
		assert.Contains(t, tab.URL(t), "/moderation/double-authentification")
		tab.Check(t, "console-double-authentification", consoleWidths...)
		tab.Run(t, chromedp.Click(`form[action="/moderation/double-authentification"] button`), chromedp.WaitVisible(`#secret`))
		secret := textOf(t, tab, "#secret")
		tab.Check(t, "console-double-authentification-secret", consoleWidths...)
		code, err := totp.GenerateCode(secret, time.Now())
		require.NoError(t, err)
		tab.Run(t, chromedp.SendKeys(`#code`, code), chromedp.Click(`form[action="/moderation/double-authentification"] button`),
			chromedp.WaitVisible(`ul.codes`))
		assert.Equal(t, models.RecoveryCodeCount, tab.Count(t, "ul.codes li"))
		tab.Check(t, "console-codes-de-secours", consoleWidths...)
		tab.Open(t, c.url+"/moderation/moderateurs")
		assert.Equal(t, http.StatusOK, tab.Status())
		assert.NotContains(t, c.logs.String(), secret, "no TOTP secret in the logs")
	})

	t.Run("l'administrateur lance une mise à niveau de la flotte, la met en pause et la reprend", func(t *testing.T) {
		slugs := []string{"chorale-a", "chorale-b", "chorale-c", "chorale-d"}
		for _, slug := range slugs {
			id := s.submit(slug, "contact@"+slug+".example")
			require.Equal(t, http.StatusOK, s.call("POST", "/api/v1/applications/"+id+"/accept", s.token, map[string]any{}, nil))
		}
		for _, slug := range slugs {
			s.waitStatus(slug, models.StatusActive)
		}
		s.sim.SetUpgradeDuration(3 * time.Second)
		admin.Open(t, c.url+"/moderation/mises-a-jour")
		admin.Check(t, "console-mises-a-jour", consoleWidths...)
		admin.Run(t, chromedp.SendKeys(`#target`, "32.0.0"), chromedp.SendKeys(`#concurrency`, "1"),
			chromedp.Click(`form[action="/moderation/mises-a-jour"] button`), chromedp.WaitVisible(`#progression`))
		assert.Contains(t, textOf(t, admin, ".notice"), "La mise à niveau a commencé")
		// The page's script replaces the progress in place: read it in one step, and
		// take a read between two refreshes as "not yet".
		upgraded := func() int {
			for range 50 {
				if n, err := strconv.Atoi(strings.TrimSpace(admin.TextNow(t, "#upgraded"))); err == nil {
					return n
				}
				time.Sleep(100 * time.Millisecond)
			}
			return -1
		}
		status := func() string { return strings.TrimSpace(admin.TextNow(t, "#upgrade-status")) }
		// The page's script refreshes the progress without reloading the page.
		require.Eventually(t, func() bool { return upgraded() >= 1 }, 60*time.Second, 500*time.Millisecond)
		admin.Check(t, "console-mise-a-niveau", consoleWidths...)
		admin.Run(t, chromedp.Click(`button[value=pause]`), chromedp.WaitVisible(`button[value=resume]`))
		assert.Equal(t, "en pause", status())
		// The space under way finishes; then no new one starts.
		for deadline := time.Now().Add(60 * time.Second); strings.TrimSpace(admin.TextNow(t, "#running")) != "0"; {
			require.True(t, time.Now().Before(deadline), "the space under way never finished")
			time.Sleep(time.Second)
			admin.Open(t, admin.URL(t))
		}
		paused := upgraded()
		time.Sleep(4 * time.Second)
		admin.Open(t, admin.URL(t))
		assert.Equal(t, paused, upgraded(), "nothing moves while paused")
		admin.Run(t, chromedp.Click(`button[value=resume]`), chromedp.WaitVisible(`button[value=pause]`))
		require.Eventually(t, func() bool { return status() == "terminée" }, 90*time.Second, time.Second)
		assert.Equal(t, len(slugs)+1, upgraded(), "every space in service, troc-de-graines included")
		admin.Check(t, "console-mise-a-niveau-terminee", consoleWidths...)
		admin.Open(t, c.url+"/moderation/mises-a-jour")
		assert.Equal(t, 0, admin.Count(t, ".problem"), "Temporal lists the upgrades")
		assert.Equal(t, 1, admin.Count(t, `a[href^="/moderation/mises-a-jour/"]`))
	})

	t.Run("le résumé du jour part aux modérateurs, ses liens mènent aux écrans", func(t *testing.T) {
		ctx := context.Background()
		require.NoError(t, workflows.EnsureDigestSchedule(ctx, s.temporal))
		require.NoError(t, workflows.EnsureDigestSchedule(ctx, s.temporal), "a restart finds it in place")
		before := len(s.smtp.Messages())
		require.NoError(t, s.temporal.ScheduleClient().GetHandle(ctx, workflows.DigestScheduleID).Trigger(ctx, client.ScheduleTriggerOptions{}))
		mail, _ := s.waitMail(t, "Modération du", before)
		assert.Equal(t, []string{s.cfg.ModeratorsEmail}, mail.To)
		link := regexp.MustCompile(`https?://\S+/moderation/demandes/[0-9a-f-]{36}`).FindString(mail.Body)
		require.NotEmpty(t, link, mail.Body)
		// Signed out, the link asks to sign in first, then opens its screen.
		visitor.Open(t, strings.Replace(link, strings.TrimRight(s.cfg.PublicURL, "/"), c.url, 1))
		assert.Contains(t, visitor.URL(t), "/moderation/connexion?suivant=")
		visitor.Run(t, chromedp.SendKeys(`#email`, "alix@jardinier.example"), chromedp.SendKeys(`#password`, adminPassword),
			chromedp.Click(`form[action="/moderation/connexion"] button`), chromedp.WaitVisible(`#code`))
		visitor.Check(t, "console-code", consoleWidths...)
		code, err := totp.GenerateCode(adminSecret, time.Now().Add(30*time.Second)) // the next step: newer than the earlier sign-in's, which may share this one
		require.NoError(t, err)
		visitor.Run(t, chromedp.SendKeys(`#code`, code), chromedp.Click(`form[action="/moderation/code"] button`),
			chromedp.WaitVisible(`#decision`))
		assert.True(t, strings.HasSuffix(visitor.URL(t), link[strings.Index(link, "/moderation/"):]))
	})

	t.Run("aucun mot de passe, jeton ni secret dans les journaux ni les historiques", func(t *testing.T) {
		logs := c.logs.String()
		for _, secret := range []string{adminPassword, camillePassword, apiToken, strings.SplitN(link, "jeton=", 2)[1]} {
			assert.NotContains(t, logs, secret)
		}
		var l models.ModeratorLink
		require.NoError(t, s.db.Where("purpose = ? AND moderator_id = (SELECT id FROM moderators WHERE name = ?)",
			models.LinkInvitation, "Camille").First(&l).Error)
		history := historyText(t, s.temporal, workflows.ModeratorMailWorkflowID(l.ID))
		require.Contains(t, history, l.ID)
		assert.NotContains(t, history, strings.SplitN(link, "jeton=", 2)[1], "the link's token is built by the activity")
		assert.NotContains(t, history, "camille@benevoles.example", "nor the address")
	})
}
