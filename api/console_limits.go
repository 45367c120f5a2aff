package api

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"jardinier/models"
	"jardinier/workflows"
)

// consoleLimits is the fleet's default limits screen, /moderation/limites (admin).
const consoleLimits = "limits"

// limitsData is the defaults in force, their rollout and the form to change them.
type limitsData struct {
	Limits   *fleetLimitsView
	Running  bool // the rollout runs or is paused: the controls show, a change waits
	Finished bool
	Defaults int // the rollout's window when the form leaves it empty
	Bounds   limitsBounds
}

// limitsBounds are shown in the forms' hints.
type limitsBounds struct{ MaxAccounts, MaxStorageGB int }

var consoleLimitsBounds = limitsBounds{MaxAccounts: models.MaxGrantedAccounts, MaxStorageGB: models.MaxGrantedStorageGB}

func (s *Server) limitsViewOf(c *gin.Context) (*consoleView, error) {
	l, err := s.fleetLimits(c.Request.Context())
	if err != nil {
		return nil, err
	}
	d := &limitsData{Limits: l, Defaults: defaultLimitsConcurrency, Bounds: consoleLimitsBounds, Finished: true}
	if r := l.Rollout; r != nil {
		d.Running = r.Status == workflows.LimitsRunning || r.Status == workflows.LimitsPaused
		d.Finished = !d.Running
	}
	v := s.newView(c, "limites", d)
	v.Form[models.LimitsFieldAccounts] = strconv.Itoa(l.Limits.MaxAccounts)
	v.Form[models.LimitsFieldQuotaGB] = strconv.FormatInt(l.Limits.QuotaGB, 10)
	v.Form[models.LimitsFieldVideoMB] = strconv.FormatInt(l.Limits.MaxVideoMB, 10)
	return v, nil
}

// limitsPage shows the defaults in force, their rollout's progress (which the page's
// script refreshes), its controls, and the form to change them.
func (s *Server) limitsPage(c *gin.Context) {
	v, err := s.limitsViewOf(c)
	if err != nil {
		s.writeConsoleError(c, err)
		return
	}
	s.renderConsole(c, http.StatusOK, consoleLimits, v)
}

// limitsProgressFragment is the rollout's part of the page alone, which the page's
// script fetches every few seconds.
func (s *Server) limitsProgressFragment(c *gin.Context) {
	v, err := s.limitsViewOf(c)
	if err != nil {
		c.AbortWithStatus(statusOf[models.ErrorCode(err)])
		return
	}
	var buf bytes.Buffer
	if err := s.console[consoleLimits].ExecuteTemplate(&buf, "rollout", v); err != nil {
		s.logger.Error("Render limits rollout", "error", err)
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	for k, val := range consoleHeaders {
		c.Header(k, val)
	}
	c.Data(http.StatusOK, "text/html; charset=utf-8", buf.Bytes())
}

// limitsFormFields are the fields of the limits forms, kept when one is refused.
var limitsFormFields = []string{models.LimitsFieldAccounts, models.LimitsFieldQuotaGB, models.LimitsFieldVideoMB, "concurrency"}

// limitsRequestOf reads a limits form into the API's request; an empty field is a
// missing one, which the API refuses by its name.
func limitsRequestOf(c *gin.Context, reasonField string) (limitsRequest, error) {
	req := limitsRequest{Reason: c.PostForm(reasonField)}
	number := func(field string) (*int64, error) {
		v := strings.TrimSpace(c.PostForm(field))
		if v == "" {
			return nil, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, models.FieldError(field, "doit être un nombre entier")
		}
		return &n, nil
	}
	var errs models.FieldErrors
	for _, field := range limitsFormFields {
		n, err := number(field)
		errs.Add(err)
		if n == nil {
			continue
		}
		switch field {
		case models.LimitsFieldAccounts:
			accounts := int(min(max(*n, -1), models.MaxGrantedAccounts+1))
			req.MaxAccounts = &accounts
		case models.LimitsFieldQuotaGB:
			req.QuotaGB = n
		case models.LimitsFieldVideoMB:
			req.MaxVideoMB = n
		case "concurrency":
			concurrency := int(min(max(*n, 0), maxLimitsConcurrency+1))
			req.Concurrency = &concurrency
		}
	}
	return req, errs.Err()
}

// changeLimitsFromConsole changes the defaults through the same function as the API.
func (s *Server) changeLimitsFromConsole(c *gin.Context) {
	req, err := limitsRequestOf(c, "reason")
	if err == nil {
		_, err = s.changeFleetLimits(c.Request.Context(), currentModerator(c), req)
	}
	if err != nil {
		v, verr := s.limitsViewOf(c)
		if verr != nil {
			s.writeConsoleError(c, verr)
			return
		}
		for _, f := range append(limitsFormFields, "reason") {
			v.Form[f] = c.PostForm(f)
		}
		s.formFailed(c, err, consoleLimits, v)
		return
	}
	redirectDone(c, consolePrefix+"/limites", "limits")
}

// controlLimitsFromConsole pauses, resumes or aborts the rollout through the same
// function as the API; a control the workflow refuses is shown on the page.
func (s *Server) controlLimitsFromConsole(c *gin.Context) {
	_, err := s.controlLimitsAs(c.Request.Context(), currentModerator(c), c.PostForm("action"), c.PostForm("control_reason"))
	if err != nil {
		v, verr := s.limitsViewOf(c)
		if verr != nil {
			s.writeConsoleError(c, verr)
			return
		}
		s.formFailed(c, renameField(err, "reason", "control_reason"), consoleLimits, v)
		return
	}
	redirectDone(c, consolePrefix+"/limites", "control")
}

// setLimitsFromConsole sets a space's own limits, or takes it back to the defaults,
// from the space's page through the same function as the API. Its reason field has a
// name of its own: the page's action form has one too.
func (s *Server) setLimitsFromConsole(c *gin.Context) {
	slug := c.Param("slug")
	req, err := limitsRequestOf(c, "limits_reason")
	if c.PostForm("choice") == "defaults" {
		req = limitsRequest{Reason: c.PostForm("limits_reason"), Defaults: true}
		err = nil
	}
	if err == nil {
		req.Concurrency = nil
		_, err = s.setSpaceLimits(c.Request.Context(), currentModerator(c), slug, req)
	}
	if err != nil {
		v, verr := s.spaceViewOf(c)
		if verr != nil {
			s.writeConsoleError(c, verr)
			return
		}
		for _, f := range []string{models.LimitsFieldAccounts, models.LimitsFieldQuotaGB, models.LimitsFieldVideoMB, "limits_reason"} {
			v.Form[f] = c.PostForm(f)
		}
		s.formFailed(c, renameField(err, "reason", "limits_reason"), consoleSpace, v)
		return
	}
	redirectDone(c, consolePrefix+"/espaces/"+url.PathEscape(slug), "limits")
}

// renameField gives a field error the name of the form's field, where a page holds two
// fields the API names alike.
func renameField(err error, from, to string) error {
	var e *models.Error
	if errors.As(err, &e) && e.Field == from {
		return &models.Error{Code: e.Code, Field: to, Message: e.Message}
	}
	return err
}

// GB is a size in whole gigabytes, as the limits forms take it.
func (v *consoleView) GB(n int64) int64 { return models.Limits{QuotaBytes: n}.QuotaGB() }

// MB is a size in whole megabytes, as the limits forms take it.
func (v *consoleView) MB(n int64) int64 { return models.Limits{MaxVideoBytes: n}.MaxVideoMB() }
