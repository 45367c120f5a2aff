package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"jardinier/models"
	"jardinier/workflows"
)

// A change of the contact's address: asked from /espace (or its JSON request) with the
// new address, confirmed by the link mailed to the current address, then by the one
// mailed to the new address; only then the space's workflow makes it. The pages and the
// JSON API call requestContactChange and confirmContactChange.

// requestContactChange is the answer to /espace's "request" question that asks for a
// change of address; the JSON API has its own path.
const requestContactChange = "contact_change"

// The pages of the links of a change of address.
const (
	pageContactConfirm   = "contact_confirm"   // the form behind either link
	pageContactConfirmed = "contact_confirmed" // a click recorded: the next link is mailed, or the change made
)

// contactChangeRequest is the JSON API's request for a change of address.
type contactChangeRequest struct {
	NewEmail string `json:"new_email"`
}

// contactConfirmRequest is the JSON API's click on a link of a change of address: the
// token of either link.
type contactConfirmRequest struct {
	Token string `json:"token"`
}

// contactChangeState is where a change of address stands once a link was confirmed,
// for the page and the JSON API alike.
type contactChangeState struct {
	Slug string `json:"slug"`
	// Step is the link confirmed: workflows.ContactStepCurrent or ContactStepNew.
	Step string `json:"step"`
	// Changed: the new address is the contact's now.
	Changed bool `json:"changed"`
}

// contactConfirmData is what the pages of the links show.
type contactConfirmData struct {
	Slug     string
	SpaceURL string
	Token    string
	New      bool // the link of the new address
	Changed  bool // contact_confirmed: the change is made
}

// contactPurposes maps the purpose of a link of a change of address to its step.
var contactPurposes = map[models.TokenPurpose]string{
	models.PurposeContactCurrent: workflows.ContactStepCurrent,
	models.PurposeContactNew:     workflows.ContactStepNew,
}

// requestContactChange checks the space's name and the new address, both at once, and
// passes the request on after the answer, as passContactRequest does: the answer is the
// same whether the space exists or not. The address goes to the workflow sealed.
func (s *Server) requestContactChange(ctx context.Context, slug, newEmail string) error {
	var errs models.FieldErrors
	if err := models.ValidateSlug(slug); models.ErrorCode(err) == models.EINVALID {
		errs.Add(err)
	}
	email := models.NormalizeEmail(newEmail)
	errs.Add(models.ValidateEmail("new_email", email))
	if err := errs.Err(); err != nil {
		return err
	}
	if s.sealer == nil {
		s.logger.Error("A contact's change of address cannot be passed on: SECRET_KEY is not set")
		return models.Errorf(models.EUNAVAILABLE, "le service ne peut pas changer d'adresse de contact pour le moment")
	}
	in := workflows.ContactRequestInput{Action: workflows.RequestChangeContact, NewEmail: s.sealer.Seal(email)}
	ctx = context.WithoutCancel(ctx)
	s.background.Go(func() { s.forwardContactRequest(ctx, slug, in, email) })
	return nil
}

// confirmContactChange sends the click on a link of a change of address to the space's
// workflow, which checks it is the link it expects now.
func (s *Server) confirmContactChange(ctx context.Context, t models.LinkToken) (contactChangeState, error) {
	step := contactPurposes[t.Purpose]
	result, err := updateWorkflow[workflows.ConfirmContactResult](ctx, s.temporal, workflows.SpaceWorkflowID(t.Slug),
		workflows.UpdateConfirmContact, workflows.ConfirmContactInput{Step: step, TokenSeq: t.Seq})
	if err != nil {
		return contactChangeState{}, updateError(err, noSpace)
	}
	s.logger.Info("Contact's change of address confirmed", "slug", t.Slug, "step", step, "changed", result.Changed)
	return contactChangeState{Slug: t.Slug, Step: step, Changed: result.Changed}, nil
}

// contactChangePage shows the form behind a link of a change of address. Like every
// page of a link, it changes nothing: only the button confirms.
func (s *Server) contactChangePage(c *gin.Context) {
	t, ok := s.verifyLink(c, models.PurposeContactCurrent, models.PurposeContactNew)
	if !ok {
		return
	}
	s.renderPage(c, http.StatusOK, pageContactConfirm, contactConfirmData{Slug: t.Slug, SpaceURL: s.spaceURL(t.Slug),
		Token: c.Query("token"), New: t.Purpose == models.PurposeContactNew})
}

// confirmContactChangePage confirms the link of the page and says what follows.
func (s *Server) confirmContactChangePage(c *gin.Context) {
	t, ok := s.verifyLink(c, models.PurposeContactCurrent, models.PurposeContactNew)
	if !ok {
		return
	}
	st, err := s.confirmContactChange(c.Request.Context(), t)
	switch models.ErrorCode(err) {
	case "":
		s.renderPage(c, http.StatusOK, pageContactConfirmed, contactConfirmData{Slug: t.Slug, SpaceURL: s.spaceURL(t.Slug),
			New: t.Purpose == models.PurposeContactNew, Changed: st.Changed})
	case models.ENOTFOUND:
		// The workflow is over: the space was deleted.
		s.renderPage(c, http.StatusGone, pageLinkExpired, pageData{Slug: t.Slug})
	case models.EINTERNAL:
		s.logger.Error("Send a contact's change of address to the space workflow", "slug", t.Slug, "error", err)
		s.renderPage(c, http.StatusServiceUnavailable, pageUnavailable, pageData{Slug: t.Slug})
	default:
		s.logger.Info("Space workflow refused a link of a change of address", "slug", t.Slug, "seq", t.Seq, "error", err)
		s.renderPage(c, http.StatusConflict, pageLinkUsed, pageData{Slug: t.Slug})
	}
}

// requestContactChangeJSON asks for a change of the contact's address, for POST
// /api/v1/spaces/{slug}/request-contact-change.
func (s *Server) requestContactChangeJSON(c *gin.Context) {
	var req contactChangeRequest
	if err := decodeJSON(c.Request, &req); err != nil {
		s.writeError(c, err)
		return
	}
	if err := s.requestContactChange(c.Request.Context(), c.Param("slug"), req.NewEmail); err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"message": contactRequestAnswer})
}

// confirmContactChangeJSON confirms a link of a change of address, for POST
// /api/v1/contact-change/confirm.
func (s *Server) confirmContactChangeJSON(c *gin.Context) {
	var req contactConfirmRequest
	if err := decodeJSON(c.Request, &req); err != nil {
		s.writeError(c, err)
		return
	}
	t, err := s.verifyContactToken(req.Token)
	if err != nil {
		s.writeError(c, err)
		return
	}
	st, err := s.confirmContactChange(c.Request.Context(), t)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

// verifyContactToken checks the token of either link of a change of address, for the
// JSON API.
func (s *Server) verifyContactToken(raw string) (models.LinkToken, error) {
	if s.signer == nil {
		return models.LinkToken{}, models.Errorf(models.EUNAVAILABLE, "le service ne peut pas vérifier les liens pour le moment")
	}
	for _, purpose := range []models.TokenPurpose{models.PurposeContactCurrent, models.PurposeContactNew} {
		t, err := s.signer.Verify(raw, purpose, s.now())
		if err == nil {
			return t, nil
		} else if errors.Is(err, models.ErrTokenExpired) {
			return t, models.Errorf(models.ENOTFOUND, "ce lien de changement d'adresse a expiré")
		}
	}
	return models.LinkToken{}, models.FieldError("token", "lien de changement d'adresse invalide")
}
