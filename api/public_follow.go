package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"jardinier/models"
	"jardinier/workflows"
)

// The pages of the link in the receipt mail.
const (
	pageFollow    = "follow"    // where the application stands
	pageWithdrawn = "withdrawn" // the application is withdrawn
)

// The states of an application, as the follow page and its JSON say them.
const (
	followSubmitted    = "submitted"    // waiting for a moderator
	followOnHold       = "on_hold"      // eligible, waiting for room
	followProvisioning = "provisioning" // accepted, the space is being created
	followActive       = "active"       // accepted, the space is in service
	followGone         = "gone"         // rejected or withdrawn: its data are deleted
)

// followState is where an application stands, for the page and the JSON API alike.
type followState struct {
	Slug        string     `json:"slug"`
	State       string     `json:"state"`
	SubmittedAt *time.Time `json:"submitted_at,omitempty"`
	OnHoldSince *time.Time `json:"on_hold_since,omitempty"`
	SpaceURL    string     `json:"space_url,omitempty"`
	// CanWithdraw: the application is still waiting for a decision.
	CanWithdraw bool `json:"can_withdraw"`
}

// followData is what the follow page shows.
type followData struct {
	followState
	Token string
}

// withdrawRequest is the JSON API's withdrawal: the token of the receipt mail's link.
type withdrawRequest struct {
	Token string `json:"token"`
}

// verifyFollowToken checks the token of a follow link, for the JSON API.
func (s *Server) verifyFollowToken(raw string) (models.LinkToken, error) {
	if s.signer == nil {
		return models.LinkToken{}, models.Errorf(models.EUNAVAILABLE, "le service ne peut pas vérifier les liens pour le moment")
	}
	t, err := s.signer.Verify(raw, models.PurposeFollow, s.now())
	switch {
	case errors.Is(err, models.ErrTokenExpired):
		return t, models.Errorf(models.ENOTFOUND, "ce lien de suivi a expiré")
	case err != nil || t.App == "":
		return t, models.FieldError("token", "lien de suivi invalide")
	}
	return t, nil
}

// followStateOf reads where the application of a follow link stands. An application
// rejected or withdrawn is purged: it is gone.
func (s *Server) followStateOf(ctx context.Context, t models.LinkToken) (followState, error) {
	st := followState{Slug: t.Slug, State: followGone}
	db := s.db.WithContext(ctx)
	var app models.Application
	if err := db.Select("id", "slug", "created_at").Take(&app, "id = ?", t.App).Error; errors.Is(err, gorm.ErrRecordNotFound) {
		return st, nil
	} else if err != nil {
		return st, err
	}
	var sp models.Space
	if err := db.Select("slug", "status").Take(&sp, "application_id = ?", app.ID).Error; errors.Is(err, gorm.ErrRecordNotFound) {
		return st, nil
	} else if err != nil {
		return st, err
	}
	st.SubmittedAt = &app.CreatedAt
	switch sp.Status {
	case models.StatusSubmitted:
		st.State, st.CanWithdraw = followSubmitted, true
	case models.StatusOnHold:
		st.State, st.CanWithdraw = followOnHold, true
		var hold models.AuditEvent
		err := db.Select("at").Where("application_id = ? AND action = ?", app.ID, workflows.UpdateHold).
			Order("at DESC").Take(&hold).Error
		if err == nil {
			st.OnHoldSince = &hold.At
		} else if !errors.Is(err, gorm.ErrRecordNotFound) {
			return st, err
		}
	case models.StatusProvisioning, models.StatusProvisioningFailed:
		st.State, st.SpaceURL = followProvisioning, s.spaceURL(sp.Slug)
	case models.StatusActive, models.StatusDeactivated:
		st.State, st.SpaceURL = followActive, s.spaceURL(sp.Slug)
	}
	return st, nil
}

// withdraw sends the applicant's withdrawal to the space's workflow, which checks that
// nobody decided meanwhile, mails the confirmation and purges the application.
func (s *Server) withdraw(ctx context.Context, t models.LinkToken) error {
	st, err := s.followStateOf(ctx, t)
	if err != nil {
		return err
	}
	if !st.CanWithdraw {
		return models.Errorf(models.ECONFLICT, "cette demande ne peut plus être retirée")
	}
	_, err = updateWorkflow[workflows.DecisionResult](ctx, s.temporal, workflows.SpaceWorkflowID(t.Slug),
		workflows.UpdateWithdraw, workflows.DecisionInput{Moderator: models.ActorApplicant})
	if err != nil {
		return updateError(err, "cette demande n'existe plus")
	}
	s.logger.Info("Application withdrawn", "slug", t.Slug, "application_id", t.App)
	return nil
}

// followPage shows where the application of the receipt mail's link stands. Like every
// page of a link, it changes nothing: only the button withdraws.
func (s *Server) followPage(c *gin.Context) {
	t, ok := s.verifyLink(c, models.PurposeFollow)
	if !ok {
		return
	}
	st, err := s.followStateOf(c.Request.Context(), t)
	if err != nil {
		s.writePageError(c, err)
		return
	}
	s.renderPage(c, http.StatusOK, pageFollow, followData{followState: st, Token: c.Query("token")})
}

// withdrawPage withdraws the application of the link and says so.
func (s *Server) withdrawPage(c *gin.Context) {
	t, ok := s.verifyLink(c, models.PurposeFollow)
	if !ok {
		return
	}
	if err := s.withdraw(c.Request.Context(), t); err != nil {
		if models.ErrorCode(err) == models.ECONFLICT {
			st, serr := s.followStateOf(c.Request.Context(), t)
			if serr == nil {
				s.renderPage(c, http.StatusConflict, pageFollow, followData{followState: st, Token: c.Query("token")})
				return
			}
		}
		s.writePageError(c, err)
		return
	}
	s.renderPage(c, http.StatusOK, pageWithdrawn, followData{followState: followState{Slug: t.Slug, State: followGone}})
}

// followJSON answers where an application stands, for GET /api/v1/follow?token=.
func (s *Server) followJSON(c *gin.Context) {
	t, err := s.verifyFollowToken(c.Query("token"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	st, err := s.followStateOf(c.Request.Context(), t)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, st)
}

// withdrawJSON withdraws an application, for POST /api/v1/follow/withdraw.
func (s *Server) withdrawJSON(c *gin.Context) {
	var req withdrawRequest
	if err := decodeJSON(c.Request, &req); err != nil {
		s.writeError(c, err)
		return
	}
	t, err := s.verifyFollowToken(req.Token)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if err := s.withdraw(c.Request.Context(), t); err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, followState{Slug: t.Slug, State: followGone})
}
