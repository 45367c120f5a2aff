package api

import (
	"errors"
	"image/png"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/pquerna/otp"

	"jardinier/models"
)

// Per-address limits of the sign-in forms, on top of the per-account lockout: enough
// for an office of volunteers behind one address, too few to guess.
const (
	signInsPerAddress = 30
	resetsPerAddress  = 5
	signInPeriod      = 15 * time.Minute
)

// consoleLimit refuses the attempts of one address beyond the limiter's rate, with a
// page.
func (s *Server) consoleLimit(l *rateLimiter) gin.HandlerFunc {
	return func(c *gin.Context) {
		ok, wait := l.allow(c.ClientIP(), s.now())
		if !ok {
			c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			s.renderConsoleError(c, http.StatusTooManyRequests, consoleErrorPage,
				"Trop d'essais depuis cette adresse : réessayez dans "+strconv.Itoa(int(math.Ceil(wait.Minutes())))+" minutes.")
			return
		}
		c.Next()
	}
}

// signInData is the sign-in form's.
type signInData struct{ Next string }

// signInPage shows the sign-in form; a moderator already signed in goes on at once.
func (s *Server) signInPage(c *gin.Context) {
	next := safeNext(c.Query(nextParam))
	if v, ok := c.Get(sessionKey); ok && v.(*models.Session).Verified {
		c.Redirect(http.StatusSeeOther, next)
		return
	}
	s.renderConsole(c, http.StatusOK, consoleSignIn, s.newView(c, "", signInData{Next: next}))
}

// signIn checks the address and password, opens a new session and goes on to the
// screen asked for, or to the one-time code first.
func (s *Server) signIn(c *gin.Context) {
	next := safeNext(c.PostForm(nextParam))
	v := s.newView(c, "", signInData{Next: next})
	v.Form["email"] = c.PostForm("email")
	if s.sealer == nil {
		s.renderConsoleError(c, http.StatusServiceUnavailable, consoleUnavailable, "La connexion demande SECRET_KEY.")
		return
	}
	m, err := models.SignIn(c.Request.Context(), s.db, c.PostForm("email"), c.PostForm("password"), s.now().UTC())
	if err != nil {
		s.logger.Info("Console sign-in refused", "client", c.ClientIP(), "code", models.ErrorCode(err))
		s.formFailed(c, err, consoleSignIn, v)
		return
	}
	verified := !needsSecondFactor(m)
	if err := s.startSession(c, m, verified); err != nil {
		s.writeConsoleError(c, err)
		return
	}
	s.logger.Info("Moderator signed in", "name", m.Name, "second_factor_next", !verified)
	if !verified {
		c.Redirect(http.StatusSeeOther, s.secondFactorPage(m)+"?"+url.Values{nextParam: {next}}.Encode())
		return
	}
	c.Redirect(http.StatusSeeOther, next)
}

// pendingSession is the session of the request, verified or not; without one it sends
// the browser to sign in and returns false.
func (s *Server) pendingSession(c *gin.Context) (*models.Session, *models.Moderator, bool) {
	v, ok := c.Get(sessionKey)
	if !ok {
		c.Redirect(http.StatusSeeOther, consolePrefix+"/connexion?fait=session_over")
		c.Abort()
		return nil, nil, false
	}
	return v.(*models.Session), currentModerator(c), true
}

// codePage asks an admin for the one-time code of their app.
func (s *Server) codePage(c *gin.Context) {
	sess, m, ok := s.pendingSession(c)
	if !ok {
		return
	}
	next := safeNext(c.Query(nextParam))
	if sess.Verified || !m.TOTPEnabled() {
		c.Redirect(http.StatusSeeOther, next)
		return
	}
	s.renderConsole(c, http.StatusOK, consoleCode, s.newView(c, "", signInData{Next: next}))
}

// checkCode checks the one-time code or a recovery code, and replaces the session by
// a verified one with a new ID.
func (s *Server) checkCode(c *gin.Context) {
	sess, m, ok := s.pendingSession(c)
	if !ok {
		return
	}
	next := safeNext(c.PostForm(nextParam))
	if sess.Verified {
		c.Redirect(http.StatusSeeOther, next)
		return
	}
	if err := models.CheckSecondFactor(c.Request.Context(), s.db, s.sealer, m, c.PostForm("code"), s.now().UTC()); err != nil {
		s.logger.Info("Console one-time code refused", "name", m.Name, "client", c.ClientIP())
		s.formFailed(c, err, consoleCode, s.newView(c, "", signInData{Next: next}))
		return
	}
	if err := s.startSession(c, m, true); err != nil {
		s.writeConsoleError(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, next)
}

// signOut ends the session on the server and forgets the cookie.
func (s *Server) signOut(c *gin.Context) {
	if token, err := c.Cookie(s.sessionCookie()); err == nil && token != "" {
		if err := models.EndSession(c.Request.Context(), s.db, token); err != nil {
			s.writeConsoleError(c, err)
			return
		}
	}
	s.setCookie(c, s.sessionCookie(), "", -1)
	redirectDone(c, consolePrefix+"/connexion", "signout")
}

// passwordData is the form behind an invitation or reset link.
type passwordData struct {
	Token      string
	Name       string
	Invitation bool
	MinLength  int
}

// linkOf checks the token of a mailed link and returns the link's ID; when it is not
// valid it answers with the page that says why.
func (s *Server) linkOf(c *gin.Context, token string) (*models.ModeratorLink, *models.Moderator, bool) {
	if s.signer == nil {
		s.renderConsoleError(c, http.StatusServiceUnavailable, consoleUnavailable, "Les liens demandent SECRET_KEY.")
		return nil, nil, false
	}
	id, err := s.signer.ModeratorLinkID(token)
	var (
		link *models.ModeratorLink
		m    *models.Moderator
	)
	if err == nil {
		link, m, err = models.OpenModeratorLink(c.Request.Context(), s.db, id, s.now().UTC())
	}
	switch {
	case err == nil:
		return link, m, true
	case errors.Is(err, models.ErrTokenExpired):
		s.renderConsoleError(c, http.StatusGone, consoleErrorPage, "Ce lien a expiré. Demandez-en un nouveau avec « Mot de passe oublié » sur la page de connexion.")
	case errors.Is(err, models.ErrLinkUsed):
		s.renderConsoleError(c, http.StatusConflict, consoleErrorPage, "Ce lien a déjà servi, ou un lien plus récent l'a remplacé. Connectez-vous, ou demandez un nouveau lien avec « Mot de passe oublié ».")
	case errors.Is(err, models.ErrTokenInvalid):
		s.renderConsoleError(c, http.StatusBadRequest, consoleErrorPage, "Ce lien n'est pas valide : vérifiez qu'il est complet, tel qu'il figure dans le courriel.")
	default:
		s.writeConsoleError(c, err)
	}
	return nil, nil, false
}

// passwordPage shows the form behind an invitation or reset link. It changes nothing:
// mail scanners follow links.
func (s *Server) passwordPage(c *gin.Context) {
	token := c.Query("jeton")
	link, m, ok := s.linkOf(c, token)
	if !ok {
		return
	}
	s.renderConsole(c, http.StatusOK, consolePassword, s.newView(c, "", passwordData{Token: token, Name: m.Name,
		Invitation: link.Purpose == models.LinkInvitation, MinLength: models.MinPasswordLength}))
}

// setPassword records the password chosen through a link, then asks to sign in with it.
func (s *Server) setPassword(c *gin.Context) {
	token := c.PostForm("jeton")
	link, m, ok := s.linkOf(c, token)
	if !ok {
		return
	}
	v := s.newView(c, "", passwordData{Token: token, Name: m.Name, Invitation: link.Purpose == models.LinkInvitation,
		MinLength: models.MinPasswordLength})
	password := c.PostForm("password")
	if err := models.ValidatePassword("password", password); err != nil {
		s.formFailed(c, err, consolePassword, v)
		return
	} else if c.PostForm("confirmation") != password {
		s.formFailed(c, models.FieldError("confirmation", "ne correspond pas au mot de passe"), consolePassword, v)
		return
	}
	if _, err := models.SetPasswordWithLink(c.Request.Context(), s.db, link.ID, password, s.now().UTC()); err != nil {
		s.formFailed(c, err, consolePassword, v)
		return
	}
	s.logger.Info("Moderator chose a password", "name", m.Name, "purpose", link.Purpose)
	redirectDone(c, consolePrefix+"/connexion", "password")
}

// forgotPage asks for the address to mail a reset link to.
func (s *Server) forgotPage(c *gin.Context) {
	s.renderConsole(c, http.StatusOK, consoleForgot, s.newView(c, "", nil))
}

// forgotAnswer is the one answer to a reset request, so that it does not tell who has
// an account.
const forgotAnswer = "Si un compte de modération a cette adresse, un lien pour choisir un nouveau mot de passe vient de lui être envoyé. Il expire dans une heure."

// forgot mails a reset link to the moderator with that address, if any.
func (s *Server) forgot(c *gin.Context) {
	v := s.newView(c, "", nil)
	v.Form["email"] = c.PostForm("email")
	if s.signer == nil {
		s.renderConsoleError(c, http.StatusServiceUnavailable, consoleUnavailable, "Les liens demandent SECRET_KEY.")
		return
	}
	ctx := c.Request.Context()
	link, m, err := models.RequestPasswordReset(ctx, s.db, c.PostForm("email"), s.now().UTC())
	if err == nil && link != nil {
		err = s.mailLink(ctx, link)
		s.logger.Info("Password reset mailed", "name", m.Name)
	}
	if err != nil {
		s.formFailed(c, err, consoleForgot, v)
		return
	}
	v.Notice, v.Form = forgotAnswer, map[string]string{}
	s.renderConsole(c, http.StatusOK, consoleForgot, v)
}

// totpData is the enrolment of the second factor.
type totpData struct {
	Enabled  bool
	Pending  bool
	Secret   string
	Next     string
	Recovery []string // shown once, right after the enrolment
}

// totpPage shows where the second factor stands: the button to start, or the secret to
// add to an app and the field for its first code. It changes nothing.
func (s *Server) totpPage(c *gin.Context) {
	_, m, ok := s.pendingSession(c)
	if !ok {
		return
	}
	d := totpData{Enabled: m.TOTPEnabled(), Next: safeNext(c.Query(nextParam))}
	if !d.Enabled && m.TOTPSecret != "" {
		enrol, err := models.PendingTOTP(s.sealer, m)
		if err != nil {
			s.writeConsoleError(c, err)
			return
		}
		d.Pending, d.Secret = true, enrol.Secret
	}
	s.renderConsole(c, http.StatusOK, consoleTOTP, s.newView(c, "compte", d))
}

// confirmTOTP starts the enrolment (a new secret), or confirms it with a first code:
// the second factor is then on, the recovery codes shown once, and the session is
// replaced by a verified one.
func (s *Server) confirmTOTP(c *gin.Context) {
	_, m, ok := s.pendingSession(c)
	if !ok {
		return
	}
	ctx, next := c.Request.Context(), safeNext(c.PostForm(nextParam))
	if s.sealer == nil {
		s.renderConsoleError(c, http.StatusServiceUnavailable, consoleUnavailable, "La double authentification demande SECRET_KEY.")
		return
	}
	if c.PostForm("action") == "begin" {
		if _, err := models.BeginTOTP(ctx, s.db, s.sealer, m); err != nil {
			s.writeConsoleError(c, err)
			return
		}
		c.Redirect(http.StatusSeeOther, consolePrefix+"/double-authentification?"+url.Values{nextParam: {next}}.Encode())
		return
	}
	enrol, err := models.PendingTOTP(s.sealer, m)
	if err != nil {
		s.writeConsoleError(c, err)
		return
	}
	now := s.now().UTC()
	codes, err := models.ConfirmTOTP(ctx, s.db, s.sealer, m, c.PostForm("code"), now)
	if err != nil {
		s.formFailed(c, err, consoleTOTP, s.newView(c, "compte", totpData{Pending: true, Secret: enrol.Secret, Next: next}))
		return
	}
	if err := models.RecordModeratorEvent(ctx, s.db, m.Name, models.AuditTOTPEnabled, m.Name, now); err != nil {
		s.writeConsoleError(c, err)
		return
	}
	if err := s.startSession(c, m, true); err != nil {
		s.writeConsoleError(c, err)
		return
	}
	s.logger.Info("Second factor enrolled", "name", m.Name)
	v := s.newView(c, "compte", totpData{Enabled: true, Recovery: codes, Next: next})
	// The new session's token is only in the cookie just set; this page's forms need
	// none, and the next page gets the new session.
	v.Notice = notices["totp"]
	s.renderConsole(c, http.StatusOK, consoleTOTP, v)
}

// totpQR is the QR code of the secret being enrolled, for the phone's camera.
func (s *Server) totpQR(c *gin.Context) {
	_, m, ok := s.pendingSession(c)
	if !ok {
		return
	}
	enrol, err := models.PendingTOTP(s.sealer, m)
	if err != nil {
		c.AbortWithStatus(http.StatusNotFound)
		return
	}
	key, err := otp.NewKeyFromURL(enrol.URL)
	if err != nil {
		s.writeConsoleError(c, err)
		return
	}
	qr, err := key.Image(240, 240)
	if err != nil {
		s.writeConsoleError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Type", "image/png")
	c.Status(http.StatusOK)
	if err := png.Encode(c.Writer, qr); err != nil {
		s.logger.Warn("Write QR code", "error", err)
	}
}

// accountData is one's own API tokens and second factor.
type accountData struct {
	Tokens        []models.APIToken
	NewToken      string // shown once, right after its creation
	RecoveryLeft  int64
	TOTPEnabled   bool
	MaxLabelChars int
}

func (s *Server) accountView(c *gin.Context) (*consoleView, error) {
	m := currentModerator(c)
	ctx := c.Request.Context()
	tokens, err := models.ListAPITokens(ctx, s.db, m.ID)
	if err != nil {
		return nil, err
	}
	left, err := models.RecoveryCodesLeft(ctx, s.db, m.ID)
	if err != nil {
		return nil, err
	}
	return s.newView(c, "compte", &accountData{Tokens: tokens, RecoveryLeft: left, TOTPEnabled: m.TOTPEnabled()}), nil
}

// accountPage lists one's API tokens, with the forms to create and revoke them.
func (s *Server) accountPage(c *gin.Context) {
	v, err := s.accountView(c)
	if err != nil {
		s.writeConsoleError(c, err)
		return
	}
	s.renderConsole(c, http.StatusOK, consoleAccount, v)
}

// createTokenFromConsole creates an API token and shows it, this once.
func (s *Server) createTokenFromConsole(c *gin.Context) {
	m := currentModerator(c)
	ctx := c.Request.Context()
	token, t, err := models.CreateAPIToken(ctx, s.db, m.ID, c.PostForm("label"))
	if err == nil {
		err = models.RecordModeratorEvent(ctx, s.db, m.Name, models.AuditTokenCreated, t.Label, s.now().UTC())
	}
	v, verr := s.accountView(c)
	if verr != nil {
		s.writeConsoleError(c, verr)
		return
	}
	if err != nil {
		v.Form["label"] = c.PostForm("label")
		s.formFailed(c, err, consoleAccount, v)
		return
	}
	s.logger.Info("API token created", "name", m.Name, "label", t.Label)
	v.Page.(*accountData).NewToken = token
	s.renderConsole(c, http.StatusCreated, consoleAccount, v)
}

// revokeTokenFromConsole revokes one of one's API tokens.
func (s *Server) revokeTokenFromConsole(c *gin.Context) {
	m := currentModerator(c)
	id, err := strconv.ParseUint(c.Param("id"), 10, 32)
	if err != nil {
		s.writeConsoleError(c, models.Errorf(models.ENOTFOUND, "jeton introuvable"))
		return
	}
	ctx := c.Request.Context()
	now := s.now().UTC()
	if err := models.RevokeAPIToken(ctx, s.db, m.ID, uint(id), now); err != nil {
		s.writeConsoleError(c, err)
		return
	}
	if err := models.RecordModeratorEvent(ctx, s.db, m.Name, models.AuditTokenRevoked, strconv.FormatUint(id, 10), now); err != nil {
		s.writeConsoleError(c, err)
		return
	}
	redirectDone(c, consolePrefix+"/compte", "revoke")
}
