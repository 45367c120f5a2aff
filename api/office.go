package api

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"jardinier/models"
	"jardinier/workflows"
)

// officeRequest is the body of a moderator's switch of a space's office suite.
type officeRequest struct {
	Suite  string `json:"suite"`
	Reason string `json:"reason"`
}

// officeResponse is the space once its office suite is switched.
type officeResponse struct {
	Slug        string             `json:"slug"`
	Status      models.Status      `json:"status"`
	OfficeSuite models.OfficeSuite `json:"office_suite"`
}

// setOffice switches a space's office suite: POST /api/v1/spaces/{slug}/office with
// {"suite": "collabora" | "onlyoffice" | "none", "reason": "..."}.
func (s *Server) setOffice(c *gin.Context) {
	var req officeRequest
	if err := decodeJSON(c.Request, &req); err != nil {
		s.writeError(c, err)
		return
	}
	slug := c.Param("slug")
	res, err := s.changeOffice(c.Request.Context(), currentModerator(c), slug, req.Suite, req.Reason)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, officeResponse{Slug: slug, Status: res.Status, OfficeSuite: res.OfficeSuite})
}

// changeOffice sends a moderator's switch of a space's office suite to its workflow,
// for the API and the console: the workflow disables one app, enables and configures
// the other, and records it with the reason, which is required.
func (s *Server) changeOffice(ctx context.Context, mod *models.Moderator, slug, suite, reason string) (workflows.OfficeResult, error) {
	office := models.OfficeSuite(strings.TrimSpace(suite))
	reason = strings.TrimSpace(reason)
	switch {
	case !slices.Contains(models.OfficeSuites, office):
		return workflows.OfficeResult{}, models.FieldError("suite", "choisissez collabora, onlyoffice ou none")
	case reason == "":
		return workflows.OfficeResult{}, models.FieldError("reason", "est obligatoire : l'historique de l'espace dit pourquoi chaque action a eu lieu")
	case utf8.RuneCountInString(reason) > models.MaxReasonLength:
		return workflows.OfficeResult{}, models.FieldError("reason", "ne peut dépasser %d caractères", models.MaxReasonLength)
	}
	res, err := updateWorkflow[workflows.OfficeResult](ctx, s.temporal, workflows.SpaceWorkflowID(slug), workflows.UpdateOffice,
		workflows.OfficeInput{Actor: mod.Name, Reason: reason, Suite: office})
	if err != nil {
		return workflows.OfficeResult{}, updateError(err, noSpace)
	}
	s.logger.Info("Space office suite switched", "slug", slug, "office_suite", res.OfficeSuite, "moderator", mod.Name)
	return res, nil
}

// officeChoices are the suites a space's page offers to switch to: the others than
// its own, when its status allows a switch.
func officeChoices(d *spaceDetail) []models.OfficeSuite {
	if !workflows.Allowed(workflows.UpdateOffice, d.Status) {
		return nil
	}
	return slices.DeleteFunc(slices.Clone(models.OfficeSuites), func(o models.OfficeSuite) bool { return o == d.OfficeSuite })
}

// officeFromConsole switches the office suite from the space's page, through the same
// function as the API.
func (s *Server) officeFromConsole(c *gin.Context) {
	slug, suite, reason := c.Param("slug"), c.PostForm("suite"), c.PostForm("office_reason")
	if _, err := s.changeOffice(c.Request.Context(), currentModerator(c), slug, suite, reason); err != nil {
		v, verr := s.spaceViewOf(c)
		if verr != nil {
			s.writeConsoleError(c, verr)
			return
		}
		// The form's own fields, apart from the other actions' reason.
		if e, ok := err.(*models.Error); ok && e.Field == "reason" {
			e.Field = "office_reason"
		}
		v.Form["office_reason"], v.Form["suite"] = reason, suite
		v.Page.(*spaceData).Action = "office"
		s.formFailed(c, err, consoleSpace, v)
		return
	}
	redirectDone(c, consolePrefix+"/espaces/"+url.PathEscape(slug), "office")
}
