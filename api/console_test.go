package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"jardinier/models"
	"jardinier/models/modeltest"
)

// visitor is one browser on the console: it keeps its cookies and sends the forms'
// token as the pages do.
type visitor struct {
	t       testing.TB
	f       *fixture
	cookies map[string]string
	headers map[string]string
}

func (f *fixture) visitor() *visitor {
	f.temporal.On("ListWorkflow", mock.Anything, mock.Anything).
		Return(&workflowservice.ListWorkflowExecutionsResponse{}, nil).Maybe()
	return &visitor{t: f.t, f: f, cookies: map[string]string{}, headers: map[string]string{}}
}

func (v *visitor) send(method, path string, form url.Values) *httptest.ResponseRecorder {
	v.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req := httptest.NewRequest(method, path, body)
	req.RemoteAddr = "203.0.113.9:4321"
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, val := range v.headers {
		req.Header.Set(k, val)
	}
	for k, val := range v.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: val})
	}
	w := httptest.NewRecorder()
	v.f.handler.ServeHTTP(w, req)
	for _, ck := range w.Result().Cookies() {
		if ck.MaxAge < 0 {
			delete(v.cookies, ck.Name)
		} else {
			v.cookies[ck.Name] = ck.Value
		}
	}
	return w
}

func (v *visitor) get(path string) *httptest.ResponseRecorder { return v.send("GET", path, nil) }

// csrfPattern finds the forms' token in a page.
var csrfPattern = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// post sends a form from the page at from, with the token that page carries.
func (v *visitor) post(from, path string, form url.Values) *httptest.ResponseRecorder {
	v.t.Helper()
	page := v.get(from)
	m := csrfPattern.FindStringSubmatch(page.Body.String())
	require.NotNil(v.t, m, "no form token on %s (%d): %s", from, page.Code, page.Body.String())
	form.Set("csrf", m[1])
	return v.send("POST", path, form)
}

const password = "une phrase de passe assez longue"

// member creates a moderator with an address who chose their password.
func (f *fixture) member(name string, role models.Role, email string) *models.Moderator {
	f.t.Helper()
	ctx := context.Background()
	_, m, err := models.AddModerator(ctx, f.db, name, role, email)
	require.NoError(f.t, err)
	link, err := models.NewModeratorLink(ctx, f.db, m.ID, models.LinkInvitation, time.Now())
	require.NoError(f.t, err)
	m, err = models.SetPasswordWithLink(ctx, f.db, link.ID, password, time.Now())
	require.NoError(f.t, err)
	return m
}

// signIn signs the visitor in with the address and password.
func (v *visitor) signIn(email, pw string) *httptest.ResponseRecorder {
	v.t.Helper()
	return v.post("/moderation/connexion", "/moderation/connexion", url.Values{"email": {email}, "password": {pw}})
}

func TestConsoleSignIn(t *testing.T) {
	t.Run("a moderator signs in and is taken back to the screen they asked for", func(t *testing.T) {
		f := newFixture(t)
		f.member("Camille", models.RoleModerator, "camille@example.org")
		v := f.visitor()
		w := v.get("/moderation/demandes?status=submitted")
		require.Equal(t, http.StatusSeeOther, w.Code)
		loc := w.Header().Get("Location")
		assert.Equal(t, "/moderation/connexion?suivant=%2Fmoderation%2Fdemandes%3Fstatus%3Dsubmitted", loc)
		w = v.post(loc, "/moderation/connexion", url.Values{"email": {"camille@example.org"}, "password": {password},
			"suivant": {"/moderation/demandes?status=submitted"}})
		require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
		assert.Equal(t, "/moderation/demandes?status=submitted", w.Header().Get("Location"))
		page := v.get("/moderation/demandes?status=submitted")
		require.Equal(t, http.StatusOK, page.Code)
		assert.Contains(t, page.Body.String(), "<h1>Demandes</h1>")
		assert.Equal(t, consoleCSP, page.Header().Get("Content-Security-Policy"))
	})

	t.Run("after sign-in, only a screen of the console is a place to go back to", func(t *testing.T) {
		for _, next := range []string{"https://evil.example/", "//evil.example/moderation/", "/spaces/x/deactivated",
			"/moderation/../api/v1/moderators", "/\\evil.example", "javascript:alert(1)"} {
			assert.Equal(t, "/moderation/", safeNext(next), next)
		}
		assert.Equal(t, "/moderation/espaces/lecture?x=1", safeNext("/moderation/espaces/lecture?x=1"))
	})

	t.Run("the session cookie is HttpOnly, SameSite, and Secure behind HTTPS", func(t *testing.T) {
		f := newFixture(t, func(c *models.Config) { c.PublicURL = "https://jardinier.example.org" })
		f.member("Camille", models.RoleModerator, "camille@example.org")
		v := f.visitor()
		w := v.signIn("camille@example.org", password)
		var session *http.Cookie
		for _, ck := range w.Result().Cookies() {
			if ck.Name == "__Host-jardinier_session" {
				session = ck
			}
		}
		require.NotNil(t, session, w.Header())
		assert.True(t, session.HttpOnly)
		assert.True(t, session.Secure)
		assert.Equal(t, http.SameSiteLaxMode, session.SameSite)
		assert.Equal(t, "/", session.Path)
	})
}

func TestConsoleSecurity(t *testing.T) {
	t.Run("a form posted without the session's token is refused and changes nothing", func(t *testing.T) {
		f := newFixture(t)
		admin := f.member("Alix", models.RoleAdmin, "alix@example.org")
		mod := f.member("Camille", models.RoleModerator, "camille@example.org")
		v := f.visitor()
		v.signIn("alix@example.org", password)
		// Alix is an admin without a second factor yet: still, the session exists.
		require.NotEmpty(t, v.cookies["jardinier_session"])
		// A page of another site posting in the admin's browser: the browser sends the
		// cookie and says where the form comes from, and the page cannot know the token.
		v.headers["Origin"], v.headers["Sec-Fetch-Site"] = "https://evil.example", "cross-site"
		for _, token := range []string{"", "not-the-token"} {
			w := v.send("POST", "/moderation/moderateurs/"+itoa(mod.ID)+"/desactiver", url.Values{"csrf": {token}})
			assert.Equal(t, http.StatusForbidden, w.Code)
		}
		// Without those headers (an older browser), the missing token is enough.
		delete(v.headers, "Origin")
		delete(v.headers, "Sec-Fetch-Site")
		for _, token := range []string{"", "not-the-token"} {
			w := v.send("POST", "/moderation/moderateurs/"+itoa(mod.ID)+"/desactiver", url.Values{"csrf": {token}})
			assert.Equal(t, http.StatusForbidden, w.Code)
			assert.Contains(t, w.Body.String(), "rien n&#39;a été modifié")
		}
		var m models.Moderator
		require.NoError(t, f.db.First(&m, mod.ID).Error)
		assert.Nil(t, m.DisabledAt)
		_ = admin
	})

	t.Run("sign-in gives a new session ID: one planted before is worth nothing", func(t *testing.T) {
		f := newFixture(t)
		f.member("Camille", models.RoleModerator, "camille@example.org")
		// An identifier an attacker chose and planted in the victim's browser.
		planted := "identifiant-choisi-par-un-attaquant"
		v := f.visitor()
		v.cookies["jardinier_session"] = planted
		w := v.signIn("camille@example.org", password)
		require.Equal(t, http.StatusSeeOther, w.Code)
		fresh := v.cookies["jardinier_session"]
		assert.NotEqual(t, planted, fresh)
		_, _, err := models.LookupSession(context.Background(), f.db, planted, time.Now())
		assert.ErrorIs(t, err, models.ErrNoSession, "the planted identifier opens nothing")
		_, _, err = models.LookupSession(context.Background(), f.db, fresh, time.Now())
		assert.NoError(t, err)
	})

	t.Run("sign-out ends the session on the server: its cookie replayed opens nothing", func(t *testing.T) {
		f := newFixture(t)
		f.member("Camille", models.RoleModerator, "camille@example.org")
		v := f.visitor()
		v.signIn("camille@example.org", password)
		token := v.cookies["jardinier_session"]
		require.Equal(t, http.StatusOK, v.get("/moderation/").Code)
		w := v.post("/moderation/", "/moderation/deconnexion", url.Values{})
		require.Equal(t, http.StatusSeeOther, w.Code)
		assert.Empty(t, v.cookies["jardinier_session"])
		v.cookies["jardinier_session"] = token
		w = v.get("/moderation/")
		assert.Equal(t, http.StatusSeeOther, w.Code)
		assert.Contains(t, w.Header().Get("Location"), "/moderation/connexion")
		assert.EqualValues(t, 0, f.count(&models.Session{}))
	})

	t.Run("the sixth password in a row after five wrong ones is refused, even the right one", func(t *testing.T) {
		f := newFixture(t)
		f.member("Camille", models.RoleModerator, "camille@example.org")
		v := f.visitor()
		for range models.MaxFailedSignIns {
			w := v.signIn("camille@example.org", "pas le bon mot de passe")
			require.Equal(t, http.StatusUnauthorized, w.Code)
			assert.Contains(t, w.Body.String(), "adresse ou mot de passe incorrect")
		}
		w := v.signIn("camille@example.org", password)
		assert.Equal(t, http.StatusTooManyRequests, w.Code)
		assert.Contains(t, w.Body.String(), "ce compte est bloqué")
		assert.Empty(t, v.cookies["jardinier_session"])
	})

	t.Run("a moderator opening an admin screen gets the French 403 page", func(t *testing.T) {
		f := newFixture(t)
		f.member("Camille", models.RoleModerator, "camille@example.org")
		v := f.visitor()
		v.signIn("camille@example.org", password)
		for _, path := range []string{"/moderation/moderateurs", "/moderation/mises-a-jour"} {
			w := v.get(path)
			assert.Equal(t, http.StatusForbidden, w.Code, path)
			assert.Contains(t, w.Body.String(), "réservé aux administrateurs")
		}
		w := v.send("POST", "/moderation/moderateurs", url.Values{"name": {"Eve"}, "email": {"eve@example.org"}, "role": {"admin"}})
		assert.Equal(t, http.StatusForbidden, w.Code)
		var n int64
		require.NoError(t, f.db.Model(&models.Moderator{}).Where("name = ?", "Eve").Count(&n).Error)
		assert.Zero(t, n)
	})

	t.Run("an admin signs in with a one-time code after the password, and gets a new session ID", func(t *testing.T) {
		f := newFixture(t)
		admin := f.member("Alix", models.RoleAdmin, "alix@example.org")
		v := f.visitor()
		w := v.signIn("alix@example.org", password)
		require.Equal(t, http.StatusSeeOther, w.Code)
		assert.True(t, strings.HasPrefix(w.Header().Get("Location"), "/moderation/double-authentification"))
		assert.Equal(t, http.StatusSeeOther, v.get("/moderation/moderateurs").Code, "no admin screen before the second factor")
		w = v.post("/moderation/double-authentification", "/moderation/double-authentification", url.Values{"action": {"begin"}})
		require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
		page := v.get("/moderation/double-authentification")
		secret := regexp.MustCompile(`id="secret">([A-Z2-7]+)<`).FindStringSubmatch(page.Body.String())
		require.NotNil(t, secret, page.Body.String())
		code, err := totp.GenerateCode(secret[1], time.Now())
		require.NoError(t, err)
		pending := v.cookies["jardinier_session"]
		w = v.post("/moderation/double-authentification", "/moderation/double-authentification", url.Values{"code": {code}})
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		assert.Contains(t, w.Body.String(), "Vos codes de secours")
		assert.NotEqual(t, pending, v.cookies["jardinier_session"])
		assert.Equal(t, http.StatusOK, v.get("/moderation/moderateurs").Code)

		// Next time: password, then a code.
		other := f.visitor()
		w = other.signIn("alix@example.org", password)
		assert.Equal(t, "/moderation/code?suivant=%2Fmoderation%2F", w.Header().Get("Location"))
		next, err := totp.GenerateCode(secret[1], time.Now().Add(30*time.Second))
		require.NoError(t, err)
		w = other.post("/moderation/code", "/moderation/code", url.Values{"code": {next}})
		require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
		assert.Equal(t, http.StatusOK, other.get("/moderation/moderateurs").Code)
		_ = admin
	})

	t.Run("a disabled moderator's session and API token stop at once", func(t *testing.T) {
		f := newFixture(t)
		f.member("Alix", models.RoleModerator, "alix@example.org") // the admin acts through the API here
		mod := f.member("Camille", models.RoleModerator, "camille@example.org")
		token, _, err := models.CreateAPIToken(context.Background(), f.db, mod.ID, "script")
		require.NoError(t, err)
		v := f.visitor()
		v.signIn("camille@example.org", password)
		require.Equal(t, http.StatusOK, v.get("/moderation/").Code)
		require.Equal(t, http.StatusOK, f.do("GET", "/api/v1/applications", token, nil).Code)
		w := f.do("POST", "/api/v1/moderators/"+itoa(mod.ID)+"/disable", f.admin, nil)
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		assert.Equal(t, http.StatusSeeOther, v.get("/moderation/").Code)
		assert.Equal(t, http.StatusUnauthorized, f.do("GET", "/api/v1/applications", token, nil).Code)
	})
}

func TestConsolePasswordReset(t *testing.T) {
	f := newFixture(t)
	m := f.member("Camille", models.RoleModerator, "camille@example.org")
	v := f.visitor()

	t.Run("an unknown address gets the same answer and no link", func(t *testing.T) {
		w := v.post("/moderation/mot-de-passe-oublie", "/moderation/mot-de-passe-oublie", url.Values{"email": {"personne@example.org"}})
		require.Equal(t, http.StatusOK, w.Code)
		assert.Contains(t, w.Body.String(), "Si un compte de modération a cette adresse")
		assert.EqualValues(t, 0, f.count(&models.ModeratorLink{})-1, "only the invitation's")
	})

	t.Run("a known address gets a reset link that sets a new password and ends the other sessions", func(t *testing.T) {
		other := f.visitor()
		other.signIn("camille@example.org", password)
		started := len(f.started)
		w := v.post("/moderation/mot-de-passe-oublie", "/moderation/mot-de-passe-oublie", url.Values{"email": {"Camille@example.org"}})
		require.Equal(t, http.StatusOK, w.Code)
		assert.Contains(t, w.Body.String(), "Si un compte de modération a cette adresse")
		require.Len(t, f.started, started+1, "the reset mail's workflow")
		var link models.ModeratorLink
		require.NoError(t, f.db.Where("moderator_id = ? AND purpose = ?", m.ID, models.LinkPasswordReset).First(&link).Error)
		assert.WithinDuration(t, time.Now().Add(time.Hour), link.ExpiresAt, time.Minute)
		token := models.NewSigner(modeltest.SecretKey).ModeratorLinkToken(link.ID)
		const fresh = "un tout nouveau mot de passe"
		w = v.post("/moderation/mot-de-passe?jeton="+url.QueryEscape(token), "/moderation/mot-de-passe",
			url.Values{"jeton": {token}, "password": {fresh}, "confirmation": {fresh}})
		require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
		assert.Equal(t, http.StatusSeeOther, other.get("/moderation/").Code, "the other session ended")
		assert.Equal(t, http.StatusUnauthorized, v.signIn("camille@example.org", password).Code)
		assert.Equal(t, http.StatusSeeOther, v.signIn("camille@example.org", fresh).Code)
	})
}

func TestConsoleInvitation(t *testing.T) {
	t.Run("an invitation link lets the moderator choose a password once, then sign in", func(t *testing.T) {
		f := newFixture(t)
		w := f.do("POST", "/api/v1/moderators", f.admin, map[string]any{"name": "Dominique", "role": "moderator", "email": "dominique@example.org"})
		require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
		var link models.ModeratorLink
		require.NoError(t, f.db.Where("purpose = ?", models.LinkInvitation).First(&link).Error)
		assert.WithinDuration(t, time.Now().Add(7*24*time.Hour), link.ExpiresAt, time.Minute)
		require.NotEmpty(t, f.started)
		assert.Equal(t, "moderator-mail/"+link.ID, f.started[len(f.started)-1].ID)

		token := models.NewSigner(modeltest.SecretKey).ModeratorLinkToken(link.ID)
		v := f.visitor()
		page := v.get("/moderation/mot-de-passe?jeton=" + url.QueryEscape(token))
		require.Equal(t, http.StatusOK, page.Code, page.Body.String())
		assert.Contains(t, page.Body.String(), "Bienvenue, Dominique")
		w = v.post("/moderation/mot-de-passe?jeton="+url.QueryEscape(token), "/moderation/mot-de-passe",
			url.Values{"jeton": {token}, "password": {"court"}, "confirmation": {"court"}})
		assert.Equal(t, http.StatusBadRequest, w.Code)
		assert.Contains(t, w.Body.String(), `href="#password"`)
		w = v.post("/moderation/mot-de-passe?jeton="+url.QueryEscape(token), "/moderation/mot-de-passe",
			url.Values{"jeton": {token}, "password": {password}, "confirmation": {password}})
		require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
		assert.Equal(t, http.StatusConflict, v.get("/moderation/mot-de-passe?jeton="+url.QueryEscape(token)).Code, "used")
		w = v.signIn("dominique@example.org", password)
		assert.Equal(t, "/moderation/", w.Header().Get("Location"))
	})
}

func itoa(n uint) string { return strconv.FormatUint(uint64(n), 10) }
