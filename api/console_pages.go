package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"jardinier/models"
	"jardinier/workflows"
)

// Sizes of the console's home lists: the oldest and newest are what matter.
const (
	homeListLimit = 20
	// homeDueDays is how far ahead the home shows the policy's steps.
	homeDueDays = 7
	// homeFailuresDays is how far back the home shows space upgrades that failed.
	homeFailuresDays = 7
)

// homeData is what waits for the moderators.
type homeData struct {
	Waiting      []models.WaitingApplication
	WaitingTotal int64
	Overdue      int
	Failures     []models.Failure
	Held         []models.HeldSpace // policy steps no warning reached anyone for
	HeldTotal    int64
	Due          []previewItem
	DueDays      int
	Upgrade      *workflows.UpgradeProgress
	UpgradeID    string
	UpgradeError string
	LongWait     int
}

// homePage shows what waits (applications by age, oldest first), what failed, the
// policy's steps of the next days and the fleet upgrade under way.
func (s *Server) homePage(c *gin.Context) {
	ctx := c.Request.Context()
	now := s.now().UTC()
	d := &homeData{DueDays: homeDueDays, LongWait: models.LongWaitDays}
	var err error
	if d.Waiting, d.WaitingTotal, err = models.WaitingApplications(ctx, s.db, homeListLimit); err != nil {
		s.writeConsoleError(c, err)
		return
	}
	for _, w := range d.Waiting {
		if w.Overdue(now) {
			d.Overdue++
		}
	}
	if d.Failures, err = models.Failures(ctx, s.db, now.AddDate(0, 0, -homeFailuresDays), homeListLimit); err != nil {
		s.writeConsoleError(c, err)
		return
	}
	if d.Held, d.HeldTotal, err = models.HeldSpaces(ctx, s.db, homeListLimit); err != nil {
		s.writeConsoleError(c, err)
		return
	}
	preview, err := s.previewFor(ctx, homeDueDays)
	if err != nil {
		s.writeConsoleError(c, err)
		return
	}
	d.Due = preview.Items
	ids, err := s.findUpgrades(ctx, runningUpgradesQuery, 1)
	if err != nil {
		d.UpgradeError = "Temporal ne répond pas : la mise à niveau en cours, s'il y en a une, n'est pas affichée."
	} else if len(ids) > 0 {
		d.UpgradeID = ids[0].ID
		if d.Upgrade, err = s.upgradeProgressOf(ctx, ids[0].ID); err != nil {
			d.UpgradeError = "La mise à niveau en cours ne répond pas : réessayez dans un instant."
		}
	}
	s.renderConsole(c, http.StatusOK, consoleHome, s.newView(c, "accueil", d))
}

// applicationsData is a page of the list of applications.
type applicationsData struct {
	List   listResponse[applicationSummary]
	Query  applicationQuery
	Params url.Values // the filters, for the links of the pages
}

// applicationsPage lists applications, with the status filter and search of the API.
func (s *Server) applicationsPage(c *gin.Context) {
	q, err := applicationQueryOf(c)
	v := s.newView(c, "demandes", nil)
	if err != nil {
		s.formFailed(c, err, consoleApps, v)
		return
	}
	list, err := s.findApplications(c.Request.Context(), q)
	if err != nil {
		s.formFailed(c, err, consoleApps, v)
		return
	}
	params := url.Values{}
	if q.Status != "" {
		params.Set("status", string(q.Status))
	}
	if q.Search != "" {
		params.Set("q", q.Search)
	}
	v.Page = &applicationsData{List: list, Query: q, Params: params}
	s.renderConsole(c, http.StatusOK, consoleApps, v)
}

// pagesOf is the number of pages of a list of total rows.
func pagesOf(total int64) int { return max(1, int((total+pageSize-1)/pageSize)) }

// applicationData is an application and what helps decide on it.
type applicationData struct {
	App      *applicationDetail
	Signals  models.MassCreationSignals
	Decision string // accept, hold or reject: the form that was refused
	Budget   string
	MaxOpen  int
}

// applicationView builds the view of an application's page.
func (s *Server) applicationView(c *gin.Context) (*consoleView, error) {
	ctx := c.Request.Context()
	d, err := s.applicationDetailOf(ctx, c.Param("id"))
	if err != nil {
		return nil, err
	}
	app, _, err := s.loadApplication(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	sig, err := models.FindMassCreationSignals(ctx, s.db, app)
	if err != nil {
		return nil, err
	}
	data := &applicationData{App: d, Signals: sig, Budget: "non communiqué", MaxOpen: models.MaxOpenPerContact}
	if d.AnnualBudgetEUR != nil {
		data.Budget = formatEuros(*d.AnnualBudgetEUR)
	}
	return s.newView(c, "demandes", data), nil
}

// formatEuros writes an amount the French way: "4 200 €".
func formatEuros(n int64) string { return groupThousands(n) + "\u00a0€" }

// groupThousands writes a number with its thousands apart, by narrow no-break spaces.
func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 && r != '-' && s[i-1] != '-' {
			b.WriteRune('\u202f')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// applicationPage shows every answer of an application, the contact's other requests,
// the signals of mass creation, and the decision form.
func (s *Server) applicationPage(c *gin.Context) {
	v, err := s.applicationView(c)
	if err != nil {
		s.writeConsoleError(c, err)
		return
	}
	s.renderConsole(c, http.StatusOK, consoleApp, v)
}

// decideFromConsole records a decision from the application's page, through the same
// function as the API; a transition the workflow refuses is shown on the page.
func (s *Server) decideFromConsole(c *gin.Context) {
	decision, reason := c.PostForm("decision"), c.PostForm("reason")
	app, _, err := s.decide(c.Request.Context(), currentModerator(c), c.Param("id"), decision, reason)
	if err != nil {
		v, verr := s.applicationView(c)
		if verr != nil {
			s.writeConsoleError(c, verr)
			return
		}
		v.Form["reason"], v.Page.(*applicationData).Decision = reason, decision
		s.formFailed(c, err, consoleApp, v)
		return
	}
	redirectDone(c, consolePrefix+"/demandes/"+url.PathEscape(app.ID), "decision")
}

// spacesData is a page of the list of spaces.
type spacesData struct {
	Exempt string // the exemption filter: "true", "false" or ""
	List   *listResponse[spaceView]
	Query  spaceQuery
	Params url.Values // the filters, for the links of the pages
}

// spacesPage lists spaces with the filters of the API.
func (s *Server) spacesPage(c *gin.Context) {
	v := s.newView(c, "espaces", nil)
	q, err := spaceQueryOf(c)
	if err != nil {
		v.Page = &spacesData{List: &listResponse[spaceView]{Page: 1}, Query: q}
		s.formFailed(c, err, consoleSpaces, v)
		return
	}
	list, err := s.findSpaces(c.Request.Context(), q)
	if err != nil {
		s.formFailed(c, err, consoleSpaces, v)
		return
	}
	v.Page = &spacesData{List: list, Query: q, Params: q.Values(), Exempt: q.Values().Get("exempt")}
	s.renderConsole(c, http.StatusOK, consoleSpaces, v)
}

// spaceData is a space's page.
type spaceData struct {
	Space        *spaceDetail
	Timeline     *timelineResponse
	WorkflowURL  string // the workflow in the Temporal UI; "" without TEMPORAL_UI_URL
	Actions      []string
	Action       string // the form that was refused
	Organization string
	// OfficeChoices are the suites the space may switch to; none when it may not.
	OfficeChoices []models.OfficeSuite
}

// spaceActionsOf are the actions a space's page offers: those its status allows, as
// the workflow's validator, which decides in the end, reads them.
func spaceActionsOf(d *spaceDetail) []string {
	var out []string
	for _, action := range []string{"deactivate", "reactivate", "exempt", "unexempt", "delete"} {
		if (action == "exempt" && d.Exempt) || (action == "unexempt" && !d.Exempt) {
			continue
		}
		if workflows.Allowed(spaceActions[action], d.Status) {
			out = append(out, action)
		}
	}
	return out
}

func (s *Server) spaceViewOf(c *gin.Context) (*consoleView, error) {
	ctx := c.Request.Context()
	slug := c.Param("slug")
	d, err := s.spaceDetailOf(ctx, slug)
	if err != nil {
		return nil, err
	}
	tl, err := s.timelineOf(ctx, slug)
	if err != nil {
		return nil, err
	}
	data := &spaceData{Space: d, Timeline: tl, Actions: spaceActionsOf(d), OfficeChoices: officeChoices(d)}
	if d.ApplicationID != nil {
		var name string
		s.db.WithContext(ctx).Model(&models.Application{}).Where("id = ?", *d.ApplicationID).Pluck("organization_name", &name)
		data.Organization = name
	}
	if s.cfg.TemporalUIURL != "" && d.Status.Open() {
		data.WorkflowURL = fmt.Sprintf("%s/namespaces/%s/workflows/%s", strings.TrimRight(s.cfg.TemporalUIURL, "/"),
			url.PathEscape(s.cfg.TemporalNamespace), url.PathEscape(workflows.SpaceWorkflowID(slug)))
	}
	return s.newView(c, "espaces", data), nil
}

// spacePage shows a space: address, limits, usage, activity, its timeline with the
// planned steps, and the actions its status allows.
func (s *Server) spacePage(c *gin.Context) {
	v, err := s.spaceViewOf(c)
	if err != nil {
		s.writeConsoleError(c, err)
		return
	}
	s.renderConsole(c, http.StatusOK, consoleSpace, v)
}

// actFromConsole sends an action from the space's page through the same function as
// the API. A deletion asks to type the space's name, so that it is never a slip.
func (s *Server) actFromConsole(c *gin.Context) {
	slug, action, reason := c.Param("slug"), c.PostForm("action"), c.PostForm("reason")
	var err error
	if action == "delete" && strings.TrimSpace(c.PostForm("confirm_slug")) != slug {
		err = models.FieldError("confirm_slug", "tapez exactement le nom de l'espace, %s, pour confirmer la suppression", slug)
	} else {
		_, err = s.act(c.Request.Context(), currentModerator(c), slug, action, reason)
	}
	if err != nil {
		v, verr := s.spaceViewOf(c)
		if verr != nil {
			s.writeConsoleError(c, verr)
			return
		}
		v.Form["reason"], v.Page.(*spaceData).Action = reason, action
		s.formFailed(c, err, consoleSpace, v)
		return
	}
	redirectDone(c, consolePrefix+"/espaces/"+url.PathEscape(slug), "action")
}

// defaultPreviewDays is the preview's window when the moderator does not say.
const defaultPreviewDays = 30

// previewPage lists what the inactivity policy will do in the next days.
func (s *Server) previewPage(c *gin.Context) {
	days := defaultPreviewDays
	v := s.newView(c, "apercu", nil)
	if raw := c.Query("days"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil {
			n = 0
		}
		days = n
	}
	v.Form["days"] = strconv.Itoa(days)
	p, err := s.previewFor(c.Request.Context(), days)
	if err != nil {
		v.Page = &previewResponse{Counts: map[models.Step]int{}}
		s.formFailed(c, err, consolePreview, v)
		return
	}
	v.Page = p
	s.renderConsole(c, http.StatusOK, consolePreview, v)
}

// auditQuery filters the audit trail.
type auditQuery struct {
	Page   int
	Actor  string
	Action string
	Slug   string
}

// auditView is one event of the trail.
type auditView struct {
	Slug   string    `json:"slug,omitempty"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// auditQueryOf reads the trail's filters from the URL.
func auditQueryOf(c *gin.Context) (auditQuery, error) {
	page, err := pageParam(c)
	q := auditQuery{Page: page, Actor: strings.TrimSpace(c.Query("actor")), Action: strings.TrimSpace(c.Query("action")),
		Slug: strings.TrimSpace(c.Query("slug"))}
	for field, v := range map[string]string{"actor": q.Actor, "action": q.Action, "slug": q.Slug} {
		if len(v) > models.MaxNameLength {
			return q, models.FieldError(field, "trop long")
		}
	}
	return q, err
}

// findAudit is the audit trail of the API and the console, newest first.
func (s *Server) findAudit(ctx context.Context, aq auditQuery) (*listResponse[auditView], error) {
	q := s.db.WithContext(ctx).Model(&models.AuditEvent{})
	if aq.Actor != "" {
		q = q.Where("actor ILIKE ?", likePattern(aq.Actor))
	}
	if aq.Action != "" {
		q = q.Where("action = ?", aq.Action)
	}
	if aq.Slug != "" {
		q = q.Where("slug = ?", aq.Slug)
	}
	resp := &listResponse[auditView]{Page: max(aq.Page, 1), Items: []auditView{}}
	if err := q.Count(&resp.Total).Error; err != nil {
		return nil, fmt.Errorf("count audit events: %w", err)
	}
	if err := q.Select("slug, actor, action, reason, at").Order("at DESC, id DESC").
		Offset((resp.Page - 1) * pageSize).Limit(pageSize).Scan(&resp.Items).Error; err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return resp, nil
}

// listAudit is the audit trail in JSON.
func (s *Server) listAudit(c *gin.Context) {
	q, err := auditQueryOf(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	resp, err := s.findAudit(c.Request.Context(), q)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, resp)
}

// journalData is a page of the audit trail.
type journalData struct {
	List    *listResponse[auditView]
	Query   auditQuery
	Params  url.Values
	Pages   int
	Actions []string
}

// journalPage shows the audit trail: who did what, when and why, filterable.
func (s *Server) journalPage(c *gin.Context) {
	v := s.newView(c, "journal", nil)
	q, err := auditQueryOf(c)
	empty := &journalData{List: &listResponse[auditView]{Page: 1}, Query: q, Pages: 1, Actions: journalActions()}
	if err != nil {
		v.Page = empty
		s.formFailed(c, err, consoleJournal, v)
		return
	}
	list, err := s.findAudit(c.Request.Context(), q)
	if err != nil {
		s.writeConsoleError(c, err)
		return
	}
	params := url.Values{}
	for k, val := range map[string]string{"actor": q.Actor, "action": q.Action, "slug": q.Slug} {
		if val != "" {
			params.Set(k, val)
		}
	}
	v.Page = &journalData{List: list, Query: q, Params: params, Pages: pagesOf(list.Total), Actions: journalActions()}
	s.renderConsole(c, http.StatusOK, consoleJournal, v)
}

// journalActions are the actions the trail can be filtered by, in a stable order.
func journalActions() []string {
	return []string{"submit", "accept", "hold", "reject", "provisioned", "provisioning_failed",
		string(models.StepFirstWarning), string(models.StepSecondWarning), string(models.StepDeactivation),
		string(models.StepDeletionNotice), string(models.StepDeletion), "deactivate", "reactivate", "delete",
		"exempt", "unexempt", "upgrade_started", "upgraded", "upgrade_failed",
		models.AuditModeratorInvited, models.AuditModeratorDisabled, models.AuditTokenCreated,
		models.AuditTokenRevoked, models.AuditTOTPEnabled}
}
