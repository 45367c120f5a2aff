package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"

	"jardinier/models"
	"jardinier/workflows"
)

// contactRequestTimeout bounds the work behind a contact's request, which goes on after
// the answer.
const contactRequestTimeout = time.Minute

// contactRequestAnswer is the one answer to a contact's request, whether the space
// exists or not, so that nobody learns from it which spaces exist.
const contactRequestAnswer = "Si cet espace existe, un lien de confirmation a été envoyé à son adresse de contact."

// deactivatedPage is where the web servers send every URL of a deactivated space: it
// says the space is out of service, how to reactivate it and when it will be deleted.
func (s *Server) deactivatedPage(c *gin.Context) {
	var sp models.Space
	err := s.db.WithContext(c.Request.Context()).
		Where("slug = ? AND status = ?", c.Param("slug"), models.StatusDeactivated).First(&sp).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		s.renderPage(c, http.StatusNotFound, pageNotFound, pageData{})
		return
	} else if err != nil {
		s.writePageError(c, err)
		return
	}
	data := pageData{Slug: sp.Slug, SpaceURL: s.spaceURL(sp.Slug)}
	if sp.DeletionDueAt != nil {
		data.DeletionAt = *sp.DeletionDueAt
	}
	s.renderPage(c, http.StatusOK, pageDeactivated, data)
}

// verifyLink checks the token of a link for one of the purposes. When it is not valid it
// answers with the page that says why and returns false.
func (s *Server) verifyLink(c *gin.Context, purposes ...models.TokenPurpose) (models.LinkToken, bool) {
	if s.signer == nil {
		s.logger.Error("A contact's link cannot be checked: SECRET_KEY is not set", "path", c.Request.URL.Path)
		s.renderPage(c, http.StatusServiceUnavailable, pageUnavailable, pageData{})
		return models.LinkToken{}, false
	}
	raw := c.Query("token")
	var (
		t   models.LinkToken
		err error
	)
	for _, purpose := range purposes {
		t, err = s.signer.Verify(raw, purpose, s.now())
		if err == nil {
			return t, true
		} else if errors.Is(err, models.ErrTokenExpired) {
			// The signature is good: the space it names is the one the link was for.
			s.renderPage(c, http.StatusGone, pageLinkExpired, pageData{Slug: t.Slug})
			return models.LinkToken{}, false
		}
	}
	s.renderPage(c, http.StatusBadRequest, pageLinkInvalid, pageData{})
	return models.LinkToken{}, false
}

// actOnLink sends the action of a contact's link to the space's workflow. When the
// workflow does not take it, it answers with the page that says why and returns false.
func (s *Server) actOnLink(c *gin.Context, t models.LinkToken, update string) bool {
	var err error
	if update == workflows.UpdateOffice {
		err = s.confirmOffice(c.Request.Context(), t, linkOffice(c, t))
	} else {
		var result workflows.ActionResult
		result, err = s.sendAction(c.Request.Context(), t.Slug, update,
			workflows.ActionInput{Actor: models.ActorContact, TokenSeq: t.Seq})
		if err == nil {
			s.logger.Info("Space action recorded", "slug", t.Slug, "action", update, "actor", models.ActorContact, "status", result.Status)
		}
	}
	if err == nil {
		return true
	}
	switch models.ErrorCode(updateError(err, noSpace)) {
	case models.ENOTFOUND:
		// The workflow is over: the space was deleted.
		s.renderPage(c, http.StatusGone, pageLinkExpired, pageData{Slug: t.Slug})
	case models.EINTERNAL:
		s.logger.Error("Send a contact's action to the space workflow", "slug", t.Slug, "action", update, "error", err)
		s.renderPage(c, http.StatusServiceUnavailable, pageUnavailable, pageData{Slug: t.Slug})
	default:
		s.logger.Info("Space workflow refused a contact's link", "slug", t.Slug, "action", update, "seq", t.Seq, "error", err)
		s.renderPage(c, http.StatusConflict, pageLinkUsed, pageData{Slug: t.Slug})
	}
	return false
}

// reactivatePage shows the form behind a reactivation link. It changes nothing: mail
// scanners follow links, only the person who clicks the button reactivates the space.
func (s *Server) reactivatePage(c *gin.Context) {
	t, ok := s.verifyLink(c, models.PurposeReactivate)
	if !ok {
		return
	}
	s.renderPage(c, http.StatusOK, pageReactivate, pageData{Slug: t.Slug, SpaceURL: s.spaceURL(t.Slug), Token: c.Query("token")})
}

// reactivate puts the space of a reactivation link back in service.
func (s *Server) reactivate(c *gin.Context) {
	t, ok := s.verifyLink(c, models.PurposeReactivate)
	if !ok || !s.actOnLink(c, t, workflows.UpdateReactivate) {
		return
	}
	s.renderPage(c, http.StatusOK, pageReactivated, pageData{Slug: t.Slug, SpaceURL: s.spaceURL(t.Slug)})
}

// confirmations maps the purpose of a confirmation link to the action it confirms.
var confirmations = map[models.TokenPurpose]string{
	models.PurposeConfirmDeactivation: workflows.UpdateDeactivate,
	models.PurposeConfirmDeletion:     workflows.UpdateDelete,
	models.PurposeConfirmOffice:       workflows.UpdateOffice,
}

// confirmPage shows the form behind a link confirming a contact's request to deactivate
// or delete the space, and what will happen. Like reactivatePage, it changes nothing.
func (s *Server) confirmPage(c *gin.Context) {
	t, ok := s.verifyLink(c, models.PurposeConfirmDeactivation, models.PurposeConfirmDeletion, models.PurposeConfirmOffice)
	if !ok || !s.officeLinkComplete(c, t) {
		return
	}
	s.renderPage(c, http.StatusOK, pageConfirm, pageData{Slug: t.Slug, SpaceURL: s.spaceURL(t.Slug),
		Token: c.Query("token"), Deletion: t.Purpose == models.PurposeConfirmDeletion, Office: linkOffice(c, t)})
}

// confirm deactivates or deletes the space of a confirmation link.
func (s *Server) confirm(c *gin.Context) {
	t, ok := s.verifyLink(c, models.PurposeConfirmDeactivation, models.PurposeConfirmDeletion, models.PurposeConfirmOffice)
	if !ok || !s.officeLinkComplete(c, t) || !s.actOnLink(c, t, confirmations[t.Purpose]) {
		return
	}
	s.renderPage(c, http.StatusOK, pageConfirmed, pageData{Slug: t.Slug, SpaceURL: s.spaceURL(t.Slug),
		Deletion: t.Purpose == models.PurposeConfirmDeletion, Office: linkOffice(c, t)})
}

// requestDeactivation asks for a link, mailed to the space's contact, to confirm
// deactivating the space.
func (s *Server) requestDeactivation(c *gin.Context) { s.contactRequest(c, workflows.UpdateDeactivate) }

// requestDeletion asks for a link, mailed to the space's contact, to confirm deleting
// the space.
func (s *Server) requestDeletion(c *gin.Context) { s.contactRequest(c, workflows.UpdateDelete) }

// contactRequest answers at once, the same for every well-formed name, and passes the
// request on to the space's workflow afterwards: neither the answer nor its delay tells
// whether the space exists.
func (s *Server) contactRequest(c *gin.Context, action string) {
	if err := s.passContactRequest(c.Request.Context(), c.Param("slug"), action); err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"message": contactRequestAnswer})
}

// requestReactivationLink asks for a new copy of the reactivation link of a deactivated
// space, mailed to its contact.
func (s *Server) requestReactivationLink(c *gin.Context) {
	s.contactRequest(c, workflows.UpdateReactivate)
}

// passContactRequest checks the slug and passes the request on after the answer, for
// the JSON API and the pages alike: only a malformed slug is an error.
func (s *Server) passContactRequest(ctx context.Context, slug, action string) error {
	return s.passContactRequestInput(ctx, slug, workflows.ContactRequestInput{Action: action})
}

// passContactRequestInput is passContactRequest for a request with more than its action
// (the office suite asked for).
func (s *Server) passContactRequestInput(ctx context.Context, slug string, in workflows.ContactRequestInput) error {
	// A reserved name is well formed: it gets the answer of a space that does not exist.
	if err := models.ValidateSlug(slug); models.ErrorCode(err) == models.EINVALID {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	s.background.Go(func() { s.forwardContactRequest(ctx, slug, in, "") })
	return nil
}

// forwardContactRequest asks the workflow of the space in service holding the slug, if
// any, to mail its contact a confirmation link. What happens is only logged. For a
// change of address, newEmail is the new address in clear: a space whose contact it
// already is is not asked.
func (s *Server) forwardContactRequest(ctx context.Context, slug string, in workflows.ContactRequestInput, newEmail string) {
	action := in.Action
	ctx, cancel := context.WithTimeout(ctx, contactRequestTimeout)
	defer cancel()
	var n int64
	q := s.db.WithContext(ctx).Model(&models.Space{}).Where("spaces.slug = ? AND spaces.status IN ?", slug,
		[]models.Status{models.StatusActive, models.StatusDeactivated})
	if newEmail != "" {
		q = q.Joins("JOIN applications ON applications.id = spaces.application_id").
			Where("applications.contact_email <> ?", newEmail)
	}
	if err := q.Count(&n).Error; err != nil {
		s.logger.Error("Look up the space of a contact's request", "slug", slug, "action", action, "error", err)
		return
	}
	if n == 0 {
		s.logger.Info("Contact's request for no space in service", "slug", slug, "action", action)
		return
	}
	result, err := updateWorkflow[workflows.ContactRequestResult](ctx, s.temporal, workflows.SpaceWorkflowID(slug),
		workflows.UpdateContactRequest, in)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		s.logger.Info("Space workflow refused a contact's request", "slug", slug, "action", action, "error", err)
		return
	} else if err != nil {
		s.logger.Error("Send a contact's request to the space workflow", "slug", slug, "action", action, "error", err)
		return
	}
	s.logger.Info("Contact's request passed on", "slug", slug, "action", action, "mailed", result.Mailed)
}
