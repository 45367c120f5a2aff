package api

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"jardinier/models"
)

// consoleDir holds the console's pages: one file each, drawn inside consoleLayoutFile,
// which is not a page (the .tmpl suffix keeps it out of the public pages' set).
const (
	consoleDir        = "templates/" + pageLanguage + "/moderation"
	consoleLayoutFile = "layout.tmpl"
)

// The console's pages, one file each under consoleDir. Each defines "title" and
// "content". Their data is a *consoleView; they format values through its methods
// ({{$.Date .At}}), so that every page and mail shows dates the same way.
const (
	consoleSignIn      = "signin"   // the sign-in form
	consoleCode        = "code"     // the one-time code after the password
	consolePassword    = "password" // choose a password, from a mailed link
	consoleForgot      = "forgot"   // ask for a password reset link
	consoleTOTP        = "totp"     // enrol the second factor; recovery codes
	consoleHome        = "home"     // what waits, what failed, what comes
	consoleApps        = "applications"
	consoleApp         = "application"
	consoleSpaces      = "spaces"
	consoleSpace       = "space"
	consolePreview     = "preview"     // the inactivity policy's coming steps
	consoleUpgrades    = "upgrades"    // fleet upgrades (admin)
	consoleUpgrade     = "upgrade"     // one fleet upgrade's progress (admin)
	consoleModerators  = "moderators"  // the team (admin)
	consoleJournal     = "journal"     // the audit trail
	consoleAccount     = "account"     // one's own API tokens and second factor
	consoleForbidden   = "forbidden"   // a screen of another role, or a form without its token
	consoleNotFound    = "not_found"   // nothing at this address
	consoleErrorPage   = "error"       // anything else
	consoleUnavailable = "unavailable" // a dependency is down or unconfigured
	consoleBackups     = "backups"     // the spaces without a good backup for 48 h
)

var consolePageNames = []string{consoleSignIn, consoleCode, consolePassword, consoleForgot, consoleTOTP,
	consoleHome, consoleApps, consoleApp, consoleSpaces, consoleSpace, consolePreview, consoleUpgrades,
	consoleUpgrade, consoleModerators, consoleJournal, consoleAccount, consoleForbidden, consoleNotFound,
	consoleErrorPage, consoleUnavailable, consoleStats, consoleLimits,
	consoleAnnouncements, consoleAnnouncement, consoleBackups}

// consoleCSP is the pages' policy, plus connect-src for the progress of an upgrade,
// which its script fetches from this site.
const consoleCSP = "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// consoleHeaders are the pages' security headers. The referrer stays on this site: the
// console's own links carry nothing secret, and forms then send their Origin.
var consoleHeaders = map[string]string{
	"Content-Security-Policy": consoleCSP,
	"Cache-Control":           "no-store",
	"Referrer-Policy":         "same-origin",
	"X-Content-Type-Options":  "nosniff",
	"X-Robots-Tag":            "noindex",
	"X-Frame-Options":         "DENY",
}

// loadConsole parses the console's pages, each with the console's layout, and fails if
// one is missing or incomplete.
func loadConsole() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, name := range consolePageNames {
		t, err := template.New(consoleLayoutFile).Option("missingkey=error").ParseFS(pageFS, consoleDir+"/"+consoleLayoutFile)
		if err != nil {
			return nil, fmt.Errorf("console templates: %w", err)
		}
		text, err := fs.ReadFile(pageFS, consoleDir+"/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console templates: %w", err)
		}
		if _, err := t.New(name).Parse(string(text)); err != nil {
			return nil, fmt.Errorf("console templates: %s: %w", name, err)
		}
		for _, part := range []string{"title", "content"} {
			if t.Lookup(part) == nil {
				return nil, fmt.Errorf("console templates: %s/%s.html defines no %q", consoleDir, name, part)
			}
		}
		out[name] = t
	}
	return out, nil
}

// consoleView is the data of every console page: who is signed in, the form's token,
// what to say, and the page's own data.
type consoleView struct {
	Me *models.Moderator // nil before sign-in
	// Signed is true once every factor is given: the menu shows only then.
	Signed  bool
	CSRF    string
	Section string // the menu entry to highlight
	// Notice says what was just done; Problem why it was not.
	Notice  string
	Problem string
	// Errors are the form's errors, summed up at the top and shown beside each field.
	Errors []formError
	Form   map[string]string // the values of a refused form, to show again
	Page   any
	now    time.Time
}

// formError is one field's error, for the summary linking to the field.
type formError struct {
	Field   string
	Message string
}

// FieldError is the error of one field, "" if none.
func (v *consoleView) FieldError(field string) string {
	for _, e := range v.Errors {
		if e.Field == field {
			return e.Message
		}
	}
	return ""
}

// Value is what a field of a refused form held.
func (v *consoleView) Value(field string) string { return v.Form[field] }

// Admin reports whether the signed-in moderator is an admin.
func (v *consoleView) Admin() bool { return v.Me != nil && v.Me.Role == models.RoleAdmin }

// Date formats a date and time as the mails do; "—" for none.
func (v *consoleView) Date(t any) string {
	var at time.Time
	switch t := t.(type) {
	case time.Time:
		at = t
	case *time.Time:
		if t != nil {
			at = *t
		}
	}
	s, err := models.FrenchDateTime(at)
	if err != nil {
		return "—"
	}
	return s
}

// Day formats a date without its time; "—" for none.
func (v *consoleView) Day(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return models.FrenchDate(t)
}

// DaysSince is the whole days from t to now.
func (v *consoleView) DaysSince(t time.Time) int { return int(v.now.Sub(t).Hours() / 24) }

// Overdue reports whether an application submitted at t waits too long.
func (v *consoleView) Overdue(t time.Time) bool {
	return v.now.Sub(t) > models.LongWaitDays*24*time.Hour
}

// Bytes formats a size in French: "1,5 Go".
func (v *consoleView) Bytes(n int64) string {
	units := []string{"octets", "Ko", "Mo", "Go", "To"}
	f, i := float64(n), 0
	for f >= 1024 && i < len(units)-1 {
		f, i = f/1024, i+1
	}
	if i == 0 {
		return fmt.Sprintf("%d %s", n, units[0])
	}
	text := strings.TrimSuffix(strconv.FormatFloat(f, 'f', 1, 64), ".0")
	return strings.Replace(text, ".", ",", 1) + " " + units[i]
}

// Percent is part of whole in whole percents, 0 when whole is 0.
func (v *consoleView) Percent(part, whole int64) int {
	if whole <= 0 {
		return 0
	}
	return int(part * 100 / whole)
}

// Seconds formats a duration given in seconds: "1 min 12 s".
func (v *consoleView) Seconds(s float64) string {
	d := time.Duration(s * float64(time.Second)).Round(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%d s", int(d.Seconds()))
	}
	return fmt.Sprintf("%d min %02d s", int(d.Minutes()), int(d.Seconds())%60)
}

// statusLabels are the statuses of a space in French.
var statusLabels = map[models.Status]string{
	models.StatusSubmitted:          "à examiner",
	models.StatusOnHold:             "en attente",
	models.StatusRejected:           "refusée",
	models.StatusProvisioning:       "en création",
	models.StatusProvisioningFailed: "création échouée",
	models.StatusActive:             "en service",
	models.StatusDeactivated:        "désactivé",
	models.StatusDeleted:            "supprimé",
}

// Status names a status in French.
func (v *consoleView) Status(s models.Status) string {
	if l, ok := statusLabels[s]; ok {
		return l
	}
	return string(s)
}

// Statuses lists every status, for the filters.
func (v *consoleView) Statuses() []models.Status { return models.Statuses }

// actionLabels are the actions of the audit trail and the timeline in French.
var actionLabels = map[string]string{
	"submit":                          "demande déposée",
	"hold":                            "mise en attente",
	"reject":                          "refusée",
	"accept":                          "acceptée",
	"provisioned":                     "espace créé, en service",
	"provisioning_failed":             "création échouée",
	"activity_seen":                   "activité constatée",
	"policy_held":                     "étape suspendue : aucun avertissement n'a atteint personne",
	string(models.StepFirstWarning):   "premier avertissement",
	string(models.StepSecondWarning):  "second avertissement",
	string(models.StepDeactivation):   "désactivation",
	string(models.StepDeletionNotice): "annonce de la suppression",
	string(models.StepDeletion):       "suppression",
	"reactivate":                      "réactivation",
	"exempt":                          "exempté de la politique d'inactivité",
	"unexempt":                        "de nouveau soumis à la politique d'inactivité",
	"request_deactivate":              "le contact demande la désactivation",
	"request_delete":                  "le contact demande la suppression",
	"request_change_contact":          "le contact demande à changer d'adresse",
	"contact_changed":                 "adresse de contact changée",
	"upgrade_started":                 "mise à niveau commencée",
	"upgrade_failed":                  "mise à niveau échouée, retour en arrière",
	"upgraded":                        "mise à niveau réussie",
	"office_collabora":                "passage à Collabora Online",
	"office_onlyoffice":               "passage à OnlyOffice",
	"office_none":                     "suite bureautique retirée",
	"office_refreshed":                "réglages de la suite bureautique réécrits",
	"request_office":                  "le contact demande un changement de suite bureautique",
	"set-limits":                      "limites de l'espace changées",
	"limits_applied":                  "limites par défaut appliquées",
	models.AuditModeratorInvited:      "modérateur invité",
	models.AuditModeratorDisabled:     "modérateur désactivé",
	models.AuditTokenCreated:          "jeton d'API créé",
	models.AuditTokenRevoked:          "jeton d'API révoqué",
	models.AuditTOTPEnabled:           "double authentification mise en place",
}

// Action names an action in French.
func (v *consoleView) Action(a string) string {
	if l, ok := actionLabels[a]; ok {
		return l
	}
	return a
}

// Actor names who acted in French.
func (v *consoleView) Actor(a string) string {
	switch a {
	case "system":
		return "Jardinier (automatique)"
	case "applicant":
		return "le demandeur"
	case "contact":
		return "le contact de l'espace"
	}
	return a
}

// typeLabels and sectorLabels are the application's answers as the form words them.
var (
	typeLabels = map[models.OrganizationType]string{
		models.OrgAssociation1901: "association loi 1901", models.OrgAssociation1907: "association loi 1907 (Alsace-Moselle)",
		models.OrgInformalCollective: "collectif informel", models.OrgUnion: "syndicat",
		models.OrgFoundation: "fondation", models.OrgOther: "autre",
	}
	sectorLabels = map[string]string{
		"education": "éducation et formation", "environment": "environnement", "culture": "culture", "social": "social",
		"mutual_aid": "entraide", "leisure": "loisirs", "fundamental_rights": "défense des droits fondamentaux",
		"political": "activité politique", "economy": "économie", "sport": "sport", "health": "santé",
		"research": "recherche", "justice": "justice", "spiritual": "spirituel ou philosophique", "tourism": "tourisme",
	}
)

// OrgType names an organisation type.
func (v *consoleView) OrgType(t models.OrganizationType) string {
	if l, ok := typeLabels[t]; ok {
		return l
	}
	return string(t)
}

// Sectors names activity sectors, comma-separated.
func (v *consoleView) Sectors(codes []string) string {
	out := make([]string, 0, len(codes))
	for _, c := range codes {
		if l, ok := sectorLabels[c]; ok {
			out = append(out, l)
		} else {
			out = append(out, c)
		}
	}
	return strings.Join(out, ", ")
}

// Count is the count of a step in a preview.
func (v *consoleView) Count(counts map[models.Step]int, step string) int {
	return counts[models.Step(step)]
}

// officeLabels are the office suites as people call them.
var officeLabels = map[models.OfficeSuite]string{
	models.OfficeCollabora: "Collabora Online", models.OfficeOnlyOffice: "OnlyOffice", models.OfficeNone: "aucune",
}

// Office names an office suite.
func (v *consoleView) Office(o models.OfficeSuite) string {
	if l, ok := officeLabels[o]; ok {
		return l
	}
	return string(o)
}

// OfficeSuites lists the office suites, for the filters.
func (v *consoleView) OfficeSuites() []models.OfficeSuite { return models.OfficeSuites }

// Query returns the URL of a list's page: the list's parameters and ?page=.
func (v *consoleView) Query(path string, params url.Values, page int) string {
	if page > 1 {
		return listURL(path, params, "page", strconv.Itoa(page))
	}
	return listURL(path, params, "", "")
}

// listURL is path with a list's parameters and, when key is set, key=value.
func listURL(path string, params url.Values, key, value string) string {
	q := url.Values{}
	for k, vs := range params {
		q[k] = vs
	}
	if key != "" {
		q.Set(key, value)
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// pager links a list's pages.
type pager struct {
	Prev, Next  string
	Page, Pages int
	More        bool // the list counted up to listCountCap: Pages is a lower bound
}

// ListPager returns the links of a list read by keyset (applications, spaces): the
// next and the previous pages through the cursors the list gave.
func (v *consoleView) ListPager(path string, params url.Values, page int, total int64, capped bool, next, prev string) pager {
	p := pager{Page: page, Pages: max(pagesOf(total), page), More: capped}
	switch {
	case page == 2:
		p.Prev = v.Query(path, params, 1) // the first page, as the menu links it
	case prev != "":
		p.Prev = listURL(path, params, "cursor", prev)
	}
	if next != "" {
		p.Next = listURL(path, params, "cursor", next)
	}
	return p
}

// Number writes a number the French way, its thousands apart: "1 000".
func (v *consoleView) Number(n int64) string { return groupThousands(n) }

// Pager returns the links to a list's previous and next pages.
func (v *consoleView) Pager(path string, params url.Values, page, pages int) pager {
	p := pager{Page: page, Pages: pages}
	if page > 1 {
		p.Prev = v.Query(path, params, page-1)
	}
	if page < pages {
		p.Next = v.Query(path, params, page+1)
	}
	return p
}

// newView returns the view of a console page for the request's moderator.
func (s *Server) newView(c *gin.Context, section string, page any) *consoleView {
	v := &consoleView{Section: section, Page: page, Form: map[string]string{}, now: s.now()}
	if m, ok := c.Get(moderatorKey); ok {
		v.Me = m.(*models.Moderator)
	}
	if sess, ok := c.Get(sessionKey); ok {
		v.CSRF, v.Signed = sess.(*models.Session).CSRFToken, sess.(*models.Session).Verified
	} else {
		v.CSRF = s.preSessionCSRF(c)
	}
	if key := c.Query("fait"); key != "" {
		v.Notice = notices[key]
	}
	return v
}

// notices are what a screen says after the action it redirects from: ?fait=<key>.
var notices = map[string]string{
	"decision":     "La décision est enregistrée.",
	"action":       "L'action est enregistrée.",
	"office":       "La suite bureautique est changée.",
	"invite":       "L'invitation est partie par courriel.",
	"disable":      "Le modérateur est désactivé : ses sessions et ses jetons ne fonctionnent plus.",
	"revoke":       "Le jeton est révoqué.",
	"password":     "Votre mot de passe est enregistré : connectez-vous.",
	"upgrade":      "La mise à niveau a commencé.",
	"control":      "La commande est enregistrée.",
	"limits":       "Les limites sont enregistrées.",
	"signout":      "Vous êtes déconnecté·e.",
	"totp":         "La double authentification est en place.",
	"session_over": "Votre session est terminée : connectez-vous de nouveau.",
	// The announcements' screens.
	"annonce":       "L'annonce est enregistrée : vérifiez-la, puis envoyez-la.",
	"annonce_envoi": "L'envoi de l'annonce a commencé.",
}

// renderConsole answers with a console page.
func (s *Server) renderConsole(c *gin.Context, status int, name string, v *consoleView) {
	t, ok := s.console[name]
	if !ok {
		s.logger.Error("Render console page", "page", name, "error", "no such page")
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, consoleLayoutFile, v); err != nil {
		s.logger.Error("Render console page", "page", name, "error", err)
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	for k, val := range consoleHeaders {
		c.Header(k, val)
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
	c.Abort()
}

// renderConsoleError answers with a page that says what went wrong.
func (s *Server) renderConsoleError(c *gin.Context, status int, name, problem string) {
	v := s.newView(c, "", nil)
	v.Problem = problem
	s.renderConsole(c, status, name, v)
}

// writeConsoleError answers an error that is not about a form's field with the page
// that explains it; an internal error is logged and the moderator sees a plain page.
func (s *Server) writeConsoleError(c *gin.Context, err error) {
	var e *models.Error
	if !errors.As(err, &e) {
		s.logger.Error("Internal error", "method", c.Request.Method, "path", c.FullPath(), "error", err)
		s.renderConsoleError(c, http.StatusInternalServerError, consoleErrorPage, "")
		return
	}
	switch e.Code {
	case models.ENOTFOUND:
		s.renderConsoleError(c, http.StatusNotFound, consoleNotFound, e.Message)
	case models.EFORBIDDEN:
		s.renderConsoleError(c, http.StatusForbidden, consoleForbidden, e.Message)
	case models.EUNAVAILABLE:
		s.renderConsoleError(c, http.StatusServiceUnavailable, consoleUnavailable, e.Message)
	default:
		s.renderConsoleError(c, statusOf[e.Code], consoleErrorPage, e.Message)
	}
}

// formFailed shows a form's page again with what was refused: a field's error in the
// summary and beside the field, any other refusal (a transition the workflow refused,
// a conflict) as the page's problem. Not-found and internal errors get their own page.
func (s *Server) formFailed(c *gin.Context, err error, name string, v *consoleView) {
	var e *models.Error
	if !errors.As(err, &e) || e.Code == models.EINTERNAL || e.Code == models.ENOTFOUND {
		s.writeConsoleError(c, err)
		return
	}
	if e.Field != "" {
		label := fieldLabels[e.Field]
		if label == "" {
			label = e.Field
		}
		v.Errors = append(v.Errors, formError{Field: e.Field, Message: label + " : " + e.Message})
	} else {
		v.Problem = "Rien n'a été modifié : " + e.Message
	}
	status := statusOf[e.Code]
	if status == 0 {
		status = http.StatusBadRequest
	}
	s.renderConsole(c, status, name, v)
}

// fieldLabels name the forms' fields in the error summary.
var fieldLabels = map[string]string{
	"email":             "Adresse électronique",
	"password":          "Mot de passe",
	"confirmation":      "Confirmation du mot de passe",
	"code":              "Code",
	"name":              "Nom",
	"role":              "Rôle",
	"label":             "Usage du jeton",
	"reason":            "Motif",
	"confirm_slug":      "Nom de l'espace",
	"moderator":         "Modérateur",
	"status":            "État",
	"q":                 "Recherche",
	"page":              "Page",
	"days":              "Nombre de jours",
	"office":            "Suite bureautique",
	"suite":             "Suite bureautique",
	"office_reason":     "Motif",
	"version":           "Version",
	"exempt":            "Exemption",
	"full":              "Espace presque plein",
	"inactive_days":     "Jours sans activité",
	"actor":             "Auteur",
	"action":            "Action",
	"slug":              "Espace",
	"target":            "Version visée",
	"canary":            "Espaces pilotes",
	"canary_slugs":      "Espaces pilotes nommés",
	"concurrency":       "Espaces à la fois",
	"max_failure_ratio": "Proportion d'échecs tolérée",
	"id":                "Identifiant",
	"max_accounts":      "Comptes",
	"quota_gb":          "Stockage",
	"max_video_mb":      "Taille des vidéos",
	"limits_reason":     "Motif",
	"control_reason":    "Motif",
	"defaults":          "Limites par défaut",
	// The announcements' form.
	"subject":  "Objet",
	"body":     "Texte",
	"audience": "Destinataires",
	"filter":   "Filtre",
}

// redirectDone sends the browser to a screen after a change, saying what was done: a
// reload then does not post the form again.
func redirectDone(c *gin.Context, path, notice string) {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	c.Redirect(http.StatusSeeOther, path+sep+"fait="+notice)
	c.Abort()
}

//go:embed static/console.css static/console.js
var consoleFiles embed.FS

// consoleStatic serves the console's stylesheet and script. They change only with the
// program, so a browser may keep them for an hour.
func consoleStatic() gin.HandlerFunc {
	sub, _ := fs.Sub(consoleFiles, "static") // embedded: cannot fail
	files := http.StripPrefix(consolePrefix+"/static/", http.FileServerFS(sub))
	return func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=3600")
		c.Header("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(c.Writer, c.Request)
	}
}

// consoleRoutes adds the console's screens under /moderation.
func (s *Server) consoleRoutes(r *gin.Engine) error {
	pages, err := loadConsole()
	if err != nil {
		return err
	}
	s.console = pages
	g := r.Group(consolePrefix, s.loadSession, s.checkCSRF)
	g.GET("/static/*file", consoleStatic())
	g.GET("/connexion", s.signInPage)
	g.POST("/connexion", s.consoleLimit(s.signIns), s.signIn)
	g.GET("/code", s.codePage)
	g.POST("/code", s.consoleLimit(s.signIns), s.checkCode)
	g.GET("/mot-de-passe", s.passwordPage)
	g.POST("/mot-de-passe", s.consoleLimit(s.signIns), s.setPassword)
	g.GET("/mot-de-passe-oublie", s.forgotPage)
	g.POST("/mot-de-passe-oublie", s.consoleLimit(s.resets), s.forgot)
	g.GET("/double-authentification", s.totpPage)
	g.POST("/double-authentification", s.consoleLimit(s.signIns), s.confirmTOTP)
	g.GET("/double-authentification/qr.png", s.totpQR)
	g.POST("/deconnexion", s.signOut)

	mod := g.Group("", s.requireSession(models.RoleModerator))
	mod.GET("/", s.homePage)
	mod.GET("/demandes", s.applicationsPage)
	mod.GET("/demandes/:id", s.applicationPage)
	mod.POST("/demandes/:id", s.decideFromConsole)
	mod.GET("/espaces", s.spacesPage)
	mod.GET("/espaces/:slug", s.spacePage)
	mod.POST("/espaces/:slug", s.actFromConsole)
	mod.POST("/espaces/:slug/suite-bureautique", s.officeFromConsole)
	mod.POST("/espaces/:slug/limites", s.setLimitsFromConsole)
	mod.GET("/apercu", s.previewPage)
	mod.GET("/sauvegardes", s.backupsPage)
	mod.GET("/journal", s.journalPage)
	mod.GET("/statistiques", s.statsScreen)
	mod.GET("/statistiques/csv", s.statsScreenCSV)
	mod.GET("/compte", s.accountPage)
	mod.POST("/compte/jetons", s.createTokenFromConsole)
	mod.POST("/compte/jetons/:id/revoquer", s.revokeTokenFromConsole)

	admin := g.Group("", s.requireSession(models.RoleAdmin))
	admin.GET("/moderateurs", s.moderatorsPage)
	admin.POST("/moderateurs", s.inviteFromConsole)
	admin.POST("/moderateurs/:id/desactiver", s.disableFromConsole)
	admin.GET("/mises-a-jour", s.upgradesPage)
	admin.POST("/mises-a-jour", s.startUpgradeFromConsole)
	admin.GET("/mises-a-jour/:id", s.upgradePage)
	admin.GET("/mises-a-jour/:id/progression", s.upgradeProgressFragment)
	admin.POST("/mises-a-jour/:id", s.controlUpgradeFromConsole)
	admin.GET("/limites", s.limitsPage)
	admin.POST("/limites", s.changeLimitsFromConsole)
	admin.GET("/limites/progression", s.limitsProgressFragment)
	admin.POST("/limites/commande", s.controlLimitsFromConsole)
	s.announcementConsoleRoutes(admin)
	return nil
}
