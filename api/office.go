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

// contactRequestOf is the contact's request for action; a switch of office suite also
// names the suite, which must be known.
func contactRequestOf(action, suite string) (workflows.ContactRequestInput, error) {
	in := workflows.ContactRequestInput{Action: action}
	if action != workflows.UpdateOffice {
		return in, nil
	}
	in.Suite = models.OfficeSuite(suite)
	if !slices.Contains(models.OfficeSuites, in.Suite) {
		return in, models.FieldError("suite", "choisissez la suite bureautique voulue")
	}
	return in, nil
}

// requestOffice asks for a link, mailed to the space's contact, to confirm switching
// its office suite: POST /api/v1/spaces/{slug}/request-office with {"suite": "..."}.
// It answers as the other requests do, whether the space exists or not.
func (s *Server) requestOffice(c *gin.Context) {
	var req struct {
		Suite string `json:"suite"`
	}
	if err := decodeJSON(c.Request, &req); err != nil {
		s.writeError(c, err)
		return
	}
	in, err := contactRequestOf(workflows.UpdateOffice, req.Suite)
	if err == nil {
		err = s.passContactRequestInput(c.Request.Context(), c.Param("slug"), in)
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"message": contactRequestAnswer})
}

// linkOffice is the office suite a confirmation link of a switch names (its ?suite=,
// which the mail adds); "" for the other links. The workflow holds it to the request:
// a suite changed by hand makes the link refused.
func linkOffice(c *gin.Context, t models.LinkToken) models.OfficeSuite {
	if t.Purpose != models.PurposeConfirmOffice {
		return ""
	}
	if suite := models.OfficeSuite(c.Query("suite")); slices.Contains(models.OfficeSuites, suite) {
		return suite
	}
	return ""
}

// confirmOffice sends the office switch of a contact's confirmation link.
func (s *Server) confirmOffice(ctx context.Context, t models.LinkToken, suite models.OfficeSuite) error {
	res, err := updateWorkflow[workflows.OfficeResult](ctx, s.temporal, workflows.SpaceWorkflowID(t.Slug), workflows.UpdateOffice,
		workflows.OfficeInput{Actor: models.ActorContact, TokenSeq: t.Seq, Suite: suite})
	if err == nil {
		s.logger.Info("Space office suite switched", "slug", t.Slug, "office_suite", res.OfficeSuite, "actor", models.ActorContact)
	}
	return err
}

// officeLinkComplete answers with the page of an invalid link, and returns false, when
// a confirmation link of a switch lost the suite it names.
func (s *Server) officeLinkComplete(c *gin.Context, t models.LinkToken) bool {
	if t.Purpose == models.PurposeConfirmOffice && linkOffice(c, t) == "" {
		s.renderPage(c, http.StatusBadRequest, pageLinkInvalid, pageData{})
		return false
	}
	return true
}

// officeRequestChoice is the answer of the contact's page asking for another office
// suite; unlike spaceRequests, it needs the suite too (the page's "suite" question).
const officeRequestChoice = "office"

// contactAction maps the answer of the contact's page to the request the space's
// workflow takes.
func contactAction(request string) (string, bool) {
	if request == officeRequestChoice {
		return workflows.UpdateOffice, true
	}
	action, ok := spaceRequests[request]
	return action, ok
}
