package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"jardinier/activities/mail"
	"jardinier/models"
	"jardinier/workflows"
)

// moderatorRequest creates a moderator; with an e-mail address they are invited to the
// console.
type moderatorRequest struct {
	Name  string `json:"name"`
	Role  string `json:"role"`
	Email string `json:"email"`
}

// moderatorView is a moderator as admins see them; the token is only in the creation
// answer.
type moderatorView struct {
	ID         uint        `json:"id"`
	Name       string      `json:"name"`
	Role       models.Role `json:"role"`
	Email      string      `json:"email,omitempty"`
	Invited    bool        `json:"invited"` // a password is still to be chosen
	TOTP       bool        `json:"totp"`
	DisabledAt *time.Time  `json:"disabled_at,omitempty"`
	CreatedAt  time.Time   `json:"created_at"`
	Token      string      `json:"token,omitempty"`
}

func viewOfModerator(m *models.Moderator) moderatorView {
	return moderatorView{ID: m.ID, Name: m.Name, Role: m.Role, Email: m.EmailAddress(),
		Invited: m.EmailAddress() != "" && m.PasswordHash == "", TOTP: m.TOTPEnabled(),
		DisabledAt: m.DisabledAt, CreatedAt: m.CreatedAt}
}

// inviteModerator records a moderator and, when they have an address, mails them the
// link to choose a password. The console and the API both call it.
func (s *Server) inviteModerator(ctx context.Context, by *models.Moderator, req moderatorRequest) (string, *models.Moderator, error) {
	if req.Email != "" && s.signer == nil {
		return "", nil, models.Errorf(models.EUNAVAILABLE, "les invitations demandent SECRET_KEY")
	}
	token, m, err := models.AddModerator(ctx, s.db, req.Name, models.Role(req.Role), req.Email)
	if err != nil {
		return "", nil, err
	}
	now := s.now().UTC()
	role := "modérateur"
	if m.Role == models.RoleAdmin {
		role = "administrateur"
	}
	if err := models.RecordModeratorEvent(ctx, s.db, by.Name, models.AuditModeratorInvited, fmt.Sprintf("%s (%s)", m.Name, role), now); err != nil {
		return "", nil, err
	}
	if m.EmailAddress() != "" {
		link, err := models.NewModeratorLink(ctx, s.db, m.ID, models.LinkInvitation, now)
		if err != nil {
			return "", nil, err
		}
		if err := s.mailLink(ctx, link); err != nil {
			return "", nil, err
		}
	}
	s.logger.Info("Moderator created", "name", m.Name, "role", m.Role, "by", by.Name, "invited", m.EmailAddress() != "")
	return token, m, nil
}

// linkMails maps a link's purpose to its mail.
var linkMails = map[models.LinkPurpose]mail.Kind{
	models.LinkInvitation:    mail.KindModeratorInvitation,
	models.LinkPasswordReset: mail.KindModeratorReset,
}

// mailLink starts the workflow that mails a link to its moderator.
func (s *Server) mailLink(ctx context.Context, link *models.ModeratorLink) error {
	_, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.ModeratorMailWorkflowID(link.ID),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, workflows.ModeratorMailWorkflow, workflows.ModeratorMailInput{Kind: linkMails[link.Purpose], LinkID: link.ID})
	if err != nil {
		s.logger.Error("Start moderator mail workflow", "moderator_id", link.ModeratorID, "purpose", link.Purpose, "error", err)
		return models.Errorf(models.EUNAVAILABLE, "le courriel n'a pas pu partir, réessayez plus tard")
	}
	return nil
}

// disableModerator stops a moderator at once and records it.
func (s *Server) disableModerator(ctx context.Context, by *models.Moderator, id uint) (*models.Moderator, error) {
	now := s.now().UTC()
	m, err := models.DisableModerator(ctx, s.db, id, by.ID, now)
	if err != nil {
		return nil, err
	}
	if err := models.RecordModeratorEvent(ctx, s.db, by.Name, models.AuditModeratorDisabled, m.Name, now); err != nil {
		return nil, err
	}
	s.logger.Info("Moderator disabled", "name", m.Name, "by", by.Name)
	return m, nil
}

// listModeratorViews lists every moderator by name.
func (s *Server) listModeratorViews(ctx context.Context) ([]moderatorView, error) {
	var rows []models.Moderator
	if err := s.db.WithContext(ctx).Order("name").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list moderators: %w", err)
	}
	out := make([]moderatorView, 0, len(rows))
	for i := range rows {
		out = append(out, viewOfModerator(&rows[i]))
	}
	return out, nil
}

func (s *Server) createModerator(c *gin.Context) {
	var req moderatorRequest
	if err := decodeJSON(c.Request, &req); err != nil {
		s.writeError(c, err)
		return
	}
	token, m, err := s.inviteModerator(c.Request.Context(), currentModerator(c), req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	v := viewOfModerator(m)
	v.Token = token
	c.JSON(http.StatusCreated, v)
}

func (s *Server) listModerators(c *gin.Context) {
	out, err := s.listModeratorViews(c.Request.Context())
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"items": out})
}

// moderatorID reads the moderator's ID from the URL.
func moderatorID(c *gin.Context) (uint, error) {
	id, err := strconv.ParseUint(c.Param("id"), 10, 32)
	if err != nil || id == 0 {
		return 0, models.Errorf(models.ENOTFOUND, "modérateur %q introuvable", c.Param("id"))
	}
	return uint(id), nil
}

func (s *Server) disableModeratorAPI(c *gin.Context) {
	id, err := moderatorID(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	m, err := s.disableModerator(c.Request.Context(), currentModerator(c), id)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, viewOfModerator(m))
}
