package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/workflowservice/v1"

	"jardinier/models"
	"jardinier/workflows"
)

// upgradeListLimit is how many fleet upgrades the upgrades screen lists: a year of them.
const upgradeListLimit = 20

// allUpgradesQuery finds every fleet upgrade. Not every visibility store takes ORDER BY
// (the development server's does not): findUpgrades sorts them.
var allUpgradesQuery = fmt.Sprintf("WorkflowType = '%s'", workflows.FleetUpgradeWorkflowType)

// upgradeRow is a fleet upgrade as Temporal's visibility lists it.
type upgradeRow struct {
	ID        string
	Running   bool
	Summary   string
	StartedAt time.Time
}

// findUpgrades lists fleet upgrades from Temporal's visibility.
func (s *Server) findUpgrades(ctx context.Context, query string, limit int) ([]upgradeRow, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := s.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, PageSize: int32(limit)})
	if err != nil {
		s.logger.Warn("List fleet upgrades", "error", err)
		return nil, models.Errorf(models.EUNAVAILABLE, "Temporal ne répond pas, réessayez plus tard")
	}
	var out []upgradeRow
	for _, e := range resp.GetExecutions() {
		out = append(out, upgradeRow{ID: strings.TrimPrefix(e.GetExecution().GetWorkflowId(), workflows.UpgradeWorkflowID("")),
			Running: e.GetCloseTime() == nil, StartedAt: e.GetStartTime().AsTime()})
	}
	slices.SortFunc(out, func(a, b upgradeRow) int { return b.StartedAt.Compare(a.StartedAt) })
	return out[:min(len(out), limit)], nil
}

// moderatorsData is the team.
type moderatorsData struct {
	Moderators []moderatorView
	Roles      []models.Role
}

func (s *Server) moderatorsView(c *gin.Context) (*consoleView, error) {
	list, err := s.listModeratorViews(c.Request.Context())
	if err != nil {
		return nil, err
	}
	return s.newView(c, "moderateurs", &moderatorsData{Moderators: list, Roles: models.Roles}), nil
}

// moderatorsPage lists the moderators, with the invitation form.
func (s *Server) moderatorsPage(c *gin.Context) {
	v, err := s.moderatorsView(c)
	if err != nil {
		s.writeConsoleError(c, err)
		return
	}
	s.renderConsole(c, http.StatusOK, consoleModerators, v)
}

// inviteFromConsole invites a moderator by mail, through the same function as the API.
// The console does not show the new moderator's first API token to the admin: it is
// revoked, and the moderator creates their own from their account.
func (s *Server) inviteFromConsole(c *gin.Context) {
	req := moderatorRequest{Name: c.PostForm("name"), Role: c.PostForm("role"), Email: c.PostForm("email")}
	ctx := c.Request.Context()
	var err error
	if strings.TrimSpace(req.Email) == "" {
		err = models.FieldError("email", "est obligatoire : l'invitation part à cette adresse")
	}
	var m *models.Moderator
	if err == nil {
		_, m, err = s.inviteModerator(ctx, currentModerator(c), req)
	}
	if err == nil {
		err = s.db.WithContext(ctx).Model(&models.APIToken{}).Where("moderator_id = ?", m.ID).
			Update("revoked_at", s.now().UTC()).Error
	}
	if err != nil {
		v, verr := s.moderatorsView(c)
		if verr != nil {
			s.writeConsoleError(c, verr)
			return
		}
		v.Form = map[string]string{"name": req.Name, "role": req.Role, "email": req.Email}
		s.formFailed(c, err, consoleModerators, v)
		return
	}
	redirectDone(c, consolePrefix+"/moderateurs", "invite")
}

// disableFromConsole disables a moderator: their sessions and tokens stop at once.
func (s *Server) disableFromConsole(c *gin.Context) {
	id, err := moderatorID(c)
	if err == nil {
		_, err = s.disableModerator(c.Request.Context(), currentModerator(c), id)
	}
	if err != nil {
		v, verr := s.moderatorsView(c)
		if verr != nil {
			s.writeConsoleError(c, verr)
			return
		}
		s.formFailed(c, err, consoleModerators, v)
		return
	}
	redirectDone(c, consolePrefix+"/moderateurs", "disable")
}

// upgradesData is the list of fleet upgrades and the form to start one.
type upgradesData struct {
	Upgrades []upgradeRow
	Running  bool
	Problem  string
	Defaults upgradeDefaults
}

// upgradeDefaults are shown in the start form.
type upgradeDefaults struct {
	Target          string
	Concurrency     int
	MaxFailureRatio string
}

func (s *Server) upgradesView(c *gin.Context) *consoleView {
	d := &upgradesData{Defaults: upgradeDefaults{Concurrency: defaultUpgradeConcurrency,
		MaxFailureRatio: strconv.FormatFloat(defaultMaxFailureRatio, 'f', -1, 64)}}
	rows, err := s.findUpgrades(c.Request.Context(), allUpgradesQuery, upgradeListLimit)
	if err != nil {
		d.Problem = "Temporal ne répond pas : la liste des mises à niveau n'est pas disponible."
	}
	d.Upgrades = rows
	for _, r := range rows {
		d.Running = d.Running || r.Running
	}
	return s.newView(c, "mises-a-jour", d)
}

// upgradesPage lists the fleet upgrades, with the form to start one.
func (s *Server) upgradesPage(c *gin.Context) {
	s.renderConsole(c, http.StatusOK, consoleUpgrades, s.upgradesView(c))
}

// upgradeRequestOf reads the start form into the API's request: an empty field takes
// the API's default.
func upgradeRequestOf(c *gin.Context) (upgradeRequest, error) {
	req := upgradeRequest{Target: c.PostForm("target")}
	if v := strings.TrimSpace(c.PostForm("canary")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return req, models.FieldError("canary", "doit être un nombre entier d'espaces")
		}
		req.Canary = &n
	}
	for _, slug := range strings.FieldsFunc(c.PostForm("canary_slugs"), func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' }) {
		req.CanarySlugs = append(req.CanarySlugs, slug)
	}
	if v := strings.TrimSpace(c.PostForm("concurrency")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return req, models.FieldError("concurrency", "doit être un nombre entier d'espaces")
		}
		req.Concurrency = &n
	}
	if v := strings.TrimSpace(c.PostForm("max_failure_ratio")); v != "" {
		f, err := strconv.ParseFloat(strings.Replace(v, ",", ".", 1), 64)
		if err != nil {
			return req, models.FieldError("max_failure_ratio", "doit être une proportion, par exemple 0,05")
		}
		req.MaxFailureRatio = &f
	}
	return req, nil
}

// startUpgradeFromConsole starts a fleet upgrade through the same function as the API.
func (s *Server) startUpgradeFromConsole(c *gin.Context) {
	req, err := upgradeRequestOf(c)
	var started *upgradeStarted
	if err == nil {
		started, err = s.beginUpgrade(c.Request.Context(), currentModerator(c), req)
	}
	if err != nil {
		v := s.upgradesView(c)
		for _, f := range []string{"target", "canary", "canary_slugs", "concurrency", "max_failure_ratio"} {
			v.Form[f] = c.PostForm(f)
		}
		s.formFailed(c, err, consoleUpgrades, v)
		return
	}
	redirectDone(c, consolePrefix+"/mises-a-jour/"+url.PathEscape(started.ID), "upgrade")
}

// upgradeData is one fleet upgrade's progress and spaces.
type upgradeData struct {
	ID       string
	Progress *workflows.UpgradeProgress
	Spaces   *listResponse[upgradeSpaceView]
	Status   string // the spaces' filter
	Params   url.Values
	Pages    int
	Statuses []string
	Finished bool
	Problem  string
	Poll     string // the fragment's address
}

func (s *Server) upgradeViewOf(c *gin.Context) (*consoleView, error) {
	id := c.Param("id")
	ctx := c.Request.Context()
	p, err := s.upgradeProgressOf(ctx, id)
	if err != nil {
		return nil, err
	}
	page, err := pageParam(c)
	if err != nil {
		return nil, err
	}
	spaces, err := s.upgradeSpacesOf(ctx, id, page, c.Query("status"))
	if err != nil {
		return nil, err
	}
	d := &upgradeData{ID: id, Progress: p, Spaces: spaces, Status: c.Query("status"), Statuses: upgradeSpaceStatuses,
		Finished: p.Status == workflows.UpgradeDone || p.Status == workflows.UpgradeAborted || p.Status == workflows.UpgradeFailed,
		Poll:     consolePrefix + "/mises-a-jour/" + url.PathEscape(id) + "/progression",
		Params:   url.Values{}, Pages: pagesOf(spaces.Total)}
	if d.Status != "" {
		d.Params.Set("status", d.Status)
	}
	if q := c.Request.URL.RawQuery; q != "" {
		d.Poll += "?" + q
	}
	return s.newView(c, "mises-a-jour", d), nil
}

// upgradePage shows a fleet upgrade's progress, which its script refreshes, the
// controls and its spaces.
func (s *Server) upgradePage(c *gin.Context) {
	v, err := s.upgradeViewOf(c)
	if err != nil {
		s.writeConsoleError(c, err)
		return
	}
	s.renderConsole(c, http.StatusOK, consoleUpgrade, v)
}

// upgradeProgressFragment is the progress part of the upgrade's page alone, which the
// page's script fetches every few seconds.
func (s *Server) upgradeProgressFragment(c *gin.Context) {
	v, err := s.upgradeViewOf(c)
	if err != nil {
		c.AbortWithStatus(statusOf[models.ErrorCode(err)])
		return
	}
	var buf bytes.Buffer
	if err := s.console[consoleUpgrade].ExecuteTemplate(&buf, "progress", v); err != nil {
		s.logger.Error("Render upgrade progress", "error", err)
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	for k, val := range consoleHeaders {
		c.Header(k, val)
	}
	c.Data(http.StatusOK, "text/html; charset=utf-8", buf.Bytes())
}

// controlUpgradeFromConsole pauses, resumes or aborts through the same function as the
// API; a control the workflow refuses is shown on the page.
func (s *Server) controlUpgradeFromConsole(c *gin.Context) {
	id := c.Param("id")
	_, err := s.controlUpgradeAs(c.Request.Context(), currentModerator(c), id, c.PostForm("action"), c.PostForm("reason"))
	if err != nil {
		v, verr := s.upgradeViewOf(c)
		if verr != nil {
			s.writeConsoleError(c, verr)
			return
		}
		s.formFailed(c, err, consoleUpgrade, v)
		return
	}
	redirectDone(c, consolePrefix+"/mises-a-jour/"+url.PathEscape(id), "control")
}
