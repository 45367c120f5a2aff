package api

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"jardinier/models"
)

// sessionKey holds the console session in the request context.
const sessionKey = "session"

// csrfField is the hidden field of every console form that carries the session's
// CSRF token (or, before sign-in, the one of the csrf cookie).
const csrfField = "csrf"

// nextParam is the console screen to open after signing in.
const nextParam = "suivant"

// consolePrefix starts every console address.
const consolePrefix = "/moderation"

// secureCookies reports whether cookies need HTTPS: everywhere but a development machine
// reached over plain HTTP.
func (s *Server) secureCookies() bool { return strings.HasPrefix(s.cfg.PublicURL, "https://") }

// sessionCookie is the name of the session cookie. Over HTTPS it has the __Host- prefix:
// the browser then accepts it only Secure, for the whole site and this host alone.
func (s *Server) sessionCookie() string {
	if s.secureCookies() {
		return "__Host-jardinier_session"
	}
	return "jardinier_session"
}

// csrfCookie is the name of the cookie that protects the forms shown before sign-in.
func (s *Server) csrfCookie() string {
	if s.secureCookies() {
		return "__Host-jardinier_csrf"
	}
	return "jardinier_csrf"
}

// setCookie writes a console cookie: never readable by scripts, sent back only by this
// site's own pages (SameSite=Lax lets a link in a mail open a screen already signed in;
// Strict would ask to sign in again from every mail).
func (s *Server) setCookie(c *gin.Context, name, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteLaxMode})
}

// checkCSRF guards every console POST: it must carry the token of the session, or
// before sign-in the one of the csrf cookie, which a page of another site cannot read.
// (The server also refuses what browsers say comes from another site, before this.) A
// refusal changes nothing and answers the French 403 page.
func (s *Server) checkCSRF(c *gin.Context) {
	if c.Request.Method != http.MethodPost {
		c.Next()
		return
	}
	want := ""
	if sess, ok := c.Get(sessionKey); ok {
		want = sess.(*models.Session).CSRFToken
	} else if ck, err := c.Cookie(s.csrfCookie()); err == nil {
		want = ck
	}
	got := c.PostForm(csrfField)
	if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		s.logger.Warn("Console form refused: cross-site or without its token", "path", c.Request.URL.Path, "client", c.ClientIP())
		s.renderConsoleError(c, http.StatusForbidden, consoleForbidden, "Ce formulaire n'a pas été envoyé depuis l'interface de modération, ou sa page était trop ancienne : rien n'a été modifié. Rechargez la page et recommencez.")
		return
	}
	c.Next()
}

// preSessionCSRF gives the forms shown before sign-in their token, in a cookie.
func (s *Server) preSessionCSRF(c *gin.Context) string {
	if ck, err := c.Cookie(s.csrfCookie()); err == nil && len(ck) >= 32 {
		return ck
	}
	token, _ := models.NewToken()
	token = strings.TrimPrefix(token, models.TokenPrefix)
	s.setCookie(c, s.csrfCookie(), token, 0)
	return token
}

// loadSession puts the console session of the cookie, if any, in the context; it never
// refuses: requireSession does.
func (s *Server) loadSession(c *gin.Context) {
	token, err := c.Cookie(s.sessionCookie())
	if err == nil && token != "" {
		sess, m, err := models.LookupSession(c.Request.Context(), s.db, token, s.now().UTC())
		if err == nil {
			c.Set(sessionKey, sess)
			c.Set(moderatorKey, m)
		} else if models.ErrorCode(err) == models.EINTERNAL {
			s.writeConsoleError(c, err)
			return
		}
	}
	c.Next()
}

// requireSession lets through a moderator signed in with every factor their role needs
// and whose role allows want. Others go to sign in first and then come back here; a
// moderator opening an admin screen gets the 403 page.
func (s *Server) requireSession(want models.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		v, ok := c.Get(sessionKey)
		if !ok {
			target := consolePrefix + "/connexion"
			if c.Request.Method == http.MethodGet {
				target += "?" + url.Values{nextParam: {c.Request.URL.RequestURI()}}.Encode()
			}
			c.Redirect(http.StatusSeeOther, target)
			c.Abort()
			return
		}
		sess, m := v.(*models.Session), currentModerator(c)
		if !sess.Verified {
			c.Redirect(http.StatusSeeOther, s.secondFactorPage(m))
			c.Abort()
			return
		}
		if !m.Role.Allows(want) {
			s.renderConsoleError(c, http.StatusForbidden, consoleForbidden, "Cet écran est réservé aux administrateurs : rien n'a été modifié.")
			return
		}
		c.Next()
	}
}

// secondFactorPage is where a session waiting for its second factor goes: the code, or
// the enrolment of an admin who has none yet.
func (s *Server) secondFactorPage(m *models.Moderator) string {
	if m.TOTPEnabled() {
		return consolePrefix + "/code"
	}
	return consolePrefix + "/double-authentification"
}

// needsSecondFactor reports whether a moderator signing in must give a one-time code:
// every admin, and a moderator who chose to enrol one.
func needsSecondFactor(m *models.Moderator) bool {
	return m.Role == models.RoleAdmin || m.TOTPEnabled()
}

// safeNext returns the console address a sign-in may go back to, or the home: only a
// path of this site under /moderation, so that a link cannot send a moderator
// elsewhere after signing in.
func safeNext(raw string) string {
	home := consolePrefix + "/"
	if raw == "" || !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") || strings.ContainsAny(raw, "\\\r\n\t") {
		return home
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return home
	}
	if u.Path != consolePrefix && !strings.HasPrefix(u.Path, consolePrefix+"/") || strings.Contains(u.Path, "/../") || strings.HasSuffix(u.Path, "/..") {
		return home
	}
	if strings.HasPrefix(u.Path, consolePrefix+"/connexion") {
		return home
	}
	return u.RequestURI()
}

// startSession opens a new session (a new ID: an identifier planted before sign-in is
// worth nothing after), ends the one the browser held, and sets the cookie.
func (s *Server) startSession(c *gin.Context, m *models.Moderator, verified bool) error {
	ctx := c.Request.Context()
	if old, err := c.Cookie(s.sessionCookie()); err == nil && old != "" {
		if err := models.EndSession(ctx, s.db, old); err != nil {
			return err
		}
	}
	token, _, err := models.NewSession(ctx, s.db, m.ID, verified, s.now().UTC())
	if err != nil {
		return err
	}
	s.setCookie(c, s.sessionCookie(), token, int(models.SessionMaxAge.Seconds()))
	return nil
}

// currentSession is the session of a request that passed requireSession.
func currentSession(c *gin.Context) *models.Session { return c.MustGet(sessionKey).(*models.Session) }
