package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"jardinier/models"
	"jardinier/workflows"
)

// announcementControls maps the action in the URL to the announcement's update.
var announcementControls = map[string]string{
	"pause":  workflows.UpdateAnnouncementPause,
	"resume": workflows.UpdateAnnouncementResume,
	"cancel": workflows.UpdateAnnouncementCancel,
}

// announcementRoutes adds the announcements' JSON endpoints to the admins' group.
func (s *Server) announcementRoutes(admin *gin.RouterGroup) {
	admin.POST("/announcements", s.createAnnouncement)
	admin.GET("/announcements", s.listAnnouncements)
	admin.GET("/announcements/preview", s.previewAnnouncement)
	admin.GET("/announcements/:id", s.getAnnouncement)
	admin.POST("/announcements/:id/:action", s.actOnAnnouncement)
}

// announcementRequest writes an announcement.
type announcementRequest struct {
	Subject  string                     `json:"subject"`
	Body     string                     `json:"body"`
	Audience string                     `json:"audience"`
	Filter   *announcementFilterRequest `json:"filter"`
}

// announcementFilterRequest narrows the spaces whose contacts are written to.
type announcementFilterRequest struct {
	Statuses     []string `json:"statuses"`
	Versions     []string `json:"versions"`
	OfficeSuites []string `json:"office_suites"`
}

func (f *announcementFilterRequest) filter() models.AnnouncementFilter {
	var out models.AnnouncementFilter
	if f == nil {
		return out
	}
	for _, v := range f.Statuses {
		out.Statuses = append(out.Statuses, models.Status(strings.TrimSpace(v)))
	}
	for _, v := range f.Versions {
		out.Versions = append(out.Versions, strings.TrimSpace(v))
	}
	for _, v := range f.OfficeSuites {
		out.OfficeSuites = append(out.OfficeSuites, models.OfficeSuite(strings.TrimSpace(v)))
	}
	return out
}

// announcementView is an announcement with its progress.
type announcementView struct {
	ID         string                    `json:"id"`
	WorkflowID string                    `json:"workflow_id"`
	Subject    string                    `json:"subject"`
	Body       string                    `json:"body"`
	Audience   models.Audience           `json:"audience"`
	Filter     models.AnnouncementFilter `json:"filter"`
	Status     models.AnnouncementStatus `json:"status"`
	CreatedBy  string                    `json:"created_by"`
	CreatedAt  time.Time                 `json:"created_at"`
	StartedAt  *time.Time                `json:"started_at,omitempty"`
	FinishedAt *time.Time                `json:"finished_at,omitempty"`
	// Recipients is how many people it reaches: fixed once sending starts, the count of
	// its audience now for a draft. For a draft to the admins, whose addresses only the
	// instances know, it is the number of spaces whose admins will be read
	// (RecipientsAreSpaces).
	Recipients          int64 `json:"recipients"`
	RecipientsAreSpaces bool  `json:"recipients_are_spaces,omitempty"`
	// UnreadSpaces: to the admins, the spaces whose instance could not be read when
	// the recipients were fixed; their admins do not get it.
	UnreadSpaces int        `json:"unread_spaces,omitempty"`
	Sent         int        `json:"sent"`
	Failed       int        `json:"failed"`
	InFlight     int        `json:"in_flight"`
	Remaining    int        `json:"remaining"`
	EstimatedEnd *time.Time `json:"estimated_end,omitempty"`
}

// Running reports whether its workflow still sends it.
func (v *announcementView) Running() bool {
	return v.Status == models.AnnouncementSending || v.Status == models.AnnouncementPaused
}

func viewOfAnnouncement(a models.Announcement) announcementView {
	return announcementView{ID: a.ID, WorkflowID: workflows.AnnouncementWorkflowID(a.ID), Subject: a.Subject, Body: a.Body,
		Audience: a.Audience, Filter: a.Filter, Status: a.Status, CreatedBy: a.CreatedBy, CreatedAt: a.CreatedAt,
		StartedAt: a.StartedAt, FinishedAt: a.FinishedAt, Recipients: int64(a.Total), Sent: a.Sent, Failed: a.Failed,
		UnreadSpaces: a.UnreadSpaces, RecipientsAreSpaces: a.Status == models.AnnouncementDraft && a.Audience == models.AudienceAdmins,
		Remaining: max(a.Total-a.Sent-a.Failed, 0)}
}

// writeAnnouncement stores a draft for the API and the console.
func (s *Server) writeAnnouncement(ctx context.Context, admin *models.Moderator, req announcementRequest) (*models.Announcement, error) {
	a, err := models.NewAnnouncement(req.Subject, req.Body, models.Audience(strings.TrimSpace(req.Audience)), req.Filter.filter(), admin.Name)
	if err != nil {
		return nil, err
	}
	if err := models.CreateAnnouncement(ctx, s.db, &a); err != nil {
		return nil, err
	}
	s.logger.Info("Announcement written", "announcement", a.ID, "admin", admin.Name, "audience", a.Audience)
	return &a, nil
}

// countAudience is how many people an audience reaches now, for the API and the console.
func (s *Server) countAudience(ctx context.Context, audience models.Audience, f models.AnnouncementFilter) (int64, error) {
	if audience == "" {
		audience = models.AudienceContacts
	}
	if err := models.ValidateAudience(audience, f); err != nil {
		return 0, err
	}
	return models.CountAudience(ctx, s.db, audience, f)
}

// announcementOf returns an announcement with its live progress while it is sent.
func (s *Server) announcementOf(ctx context.Context, id string) (*announcementView, error) {
	a, err := models.FindAnnouncement(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	v := viewOfAnnouncement(a)
	if a.Status == models.AnnouncementDraft {
		if n, err := models.CountAudience(ctx, s.db, a.Audience, a.Filter); err == nil {
			v.Recipients = n
		}
		return &v, nil
	}
	if !v.Running() {
		return &v, nil
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var p workflows.AnnouncementProgress
	resp, err := s.temporal.QueryWorkflow(qctx, workflows.AnnouncementWorkflowID(id), "", workflows.QueryAnnouncementProgress)
	if err == nil {
		err = resp.Get(&p)
	}
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return &v, nil // ended since the row was read
	} else if err != nil {
		// The row's counts, at most a few seconds old, are still worth showing.
		s.logger.Warn("Announcement did not answer its progress query", "announcement", id, "error", err)
		return &v, nil
	}
	if p.Total > 0 || p.Status != "" {
		v.Status, v.Recipients, v.Sent, v.Failed, v.InFlight, v.Remaining = p.Status, int64(p.Total), p.Sent, p.Failed, p.InFlight, p.Remaining
		v.UnreadSpaces = max(v.UnreadSpaces, p.UnreadSpaces)
		if !p.EstimatedEnd.IsZero() {
			v.EstimatedEnd = &p.EstimatedEnd
		}
	}
	return &v, nil
}

// sendAnnouncementAs starts the sending of a draft, once: its workflow's ID is the
// announcement's, and Temporal refuses a second.
func (s *Server) sendAnnouncementAs(ctx context.Context, admin *models.Moderator, id string) (*announcementView, error) {
	a, err := models.FindAnnouncement(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	if a.Status != models.AnnouncementDraft {
		return nil, models.Errorf(models.ECONFLICT, "l'annonce est déjà envoyée ou en cours d'envoi")
	}
	n, err := models.CountAudience(ctx, s.db, a.Audience, a.Filter)
	if err != nil {
		return nil, err
	} else if n == 0 {
		return nil, models.FieldError("audience", "n'atteint personne pour l'instant : rien à envoyer")
	}
	_, err = s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.AnnouncementWorkflowID(id),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		StaticSummary:            announcementSummary(a.Audience, n, admin.Name),
	}, workflows.AnnouncementWorkflow, workflows.AnnouncementInput{ID: id, Requester: admin.Name})
	if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		return nil, models.Errorf(models.ECONFLICT, "l'annonce est déjà envoyée ou en cours d'envoi")
	} else if err != nil {
		s.logger.Error("Start announcement", "announcement", id, "error", err)
		return nil, models.Errorf(models.EUNAVAILABLE, "le service est momentanément indisponible, réessayez plus tard")
	}
	// The workflow records it too, once its recipients are fixed; this makes the lists
	// say so at once.
	if err := s.db.WithContext(ctx).Model(&models.Announcement{}).Where("id = ? AND status = ?", id, models.AnnouncementDraft).
		Update("status", models.AnnouncementSending).Error; err != nil {
		s.logger.Warn("Announcement status not recorded", "announcement", id, "error", err)
	}
	s.logger.Info("Announcement sending started", "announcement", id, "admin", admin.Name, "recipients", n)
	// The workflow has only just started: the row says what there is to say.
	a.Status = models.AnnouncementSending
	v := viewOfAnnouncement(a)
	if a.Audience == models.AudienceAdmins {
		// The people are counted once the instances are read: nothing to say yet.
		v.Recipients, v.Remaining = 0, 0
	} else {
		v.Recipients, v.Remaining = n, int(n)
	}
	return &v, nil
}

// controlAnnouncementAs pauses, resumes or cancels an announcement for the API and the
// console; the workflow's validator refuses a control that does not fit its status.
func (s *Server) controlAnnouncementAs(ctx context.Context, admin *models.Moderator, id, action, reason string) (models.AnnouncementStatus, error) {
	update, ok := announcementControls[action]
	if !ok {
		return "", models.Errorf(models.ENOTFOUND, "action inconnue %q : send, pause, resume ou cancel", action)
	}
	if _, err := models.FindAnnouncement(ctx, s.db, id); err != nil {
		return "", err
	}
	result, err := updateWorkflow[workflows.AnnouncementControlResult](ctx, s.temporal,
		workflows.AnnouncementWorkflowID(id), update, workflows.AnnouncementControlInput{Actor: admin.Name, Reason: strings.TrimSpace(reason)})
	if err != nil {
		return "", updateError(err, "l'annonce n'est pas en cours d'envoi")
	}
	s.logger.Info("Announcement control recorded", "announcement", id, "action", update, "admin", admin.Name, "status", result.Status)
	return result.Status, nil
}

// createAnnouncement stores a draft; it goes out with POST .../send.
func (s *Server) createAnnouncement(c *gin.Context) {
	var req announcementRequest
	if err := decodeJSON(c.Request, &req); err != nil {
		s.writeError(c, err)
		return
	}
	a, err := s.writeAnnouncement(c.Request.Context(), currentModerator(c), req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	v, err := s.announcementOf(c.Request.Context(), a.ID)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, v)
}

// listAnnouncements lists the announcements, newest first, 50 a page.
func (s *Server) listAnnouncements(c *gin.Context) {
	page, err := pageParam(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	rows, total, err := models.ListAnnouncements(c.Request.Context(), s.db, (page-1)*pageSize, pageSize)
	if err != nil {
		s.writeError(c, err)
		return
	}
	resp := listResponse[announcementView]{Page: page, Total: total, Items: make([]announcementView, 0, len(rows))}
	for _, a := range rows {
		resp.Items = append(resp.Items, viewOfAnnouncement(a))
	}
	c.JSON(http.StatusOK, resp)
}

// previewAnnouncement counts the people an audience reaches now:
// ?audience=contacts|admins|filter&status=&version=&office= (each filter repeatable).
func (s *Server) previewAnnouncement(c *gin.Context) {
	audience := models.Audience(c.Query("audience"))
	f := (&announcementFilterRequest{Statuses: c.QueryArray("status"), Versions: c.QueryArray("version"),
		OfficeSuites: c.QueryArray("office")}).filter()
	n, err := s.countAudience(c.Request.Context(), audience, f)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if audience == "" {
		audience = models.AudienceContacts
	}
	// For the admins, recipients counts the spaces whose admins the sending will read.
	c.JSON(http.StatusOK, gin.H{"audience": audience, "filter": f, "recipients": n,
		"recipients_are_spaces": audience == models.AudienceAdmins})
}

// getAnnouncement shows an announcement with its progress.
func (s *Server) getAnnouncement(c *gin.Context) {
	v, err := s.announcementOf(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

// actOnAnnouncement sends, pauses, resumes or cancels an announcement.
func (s *Server) actOnAnnouncement(c *gin.Context) {
	id, action := c.Param("id"), c.Param("action")
	ctx := c.Request.Context()
	if action == "send" {
		v, err := s.sendAnnouncementAs(ctx, currentModerator(c), id)
		if err != nil {
			s.writeError(c, err)
			return
		}
		c.JSON(http.StatusAccepted, v)
		return
	}
	reason, err := readReason(c, false)
	if err != nil {
		s.writeError(c, err)
		return
	}
	status, err := s.controlAnnouncementAs(ctx, currentModerator(c), id, action, reason)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": id, "status": status})
}

// announcementSummary is the summary the Temporal UI shows of an announcement's workflow.
func announcementSummary(audience models.Audience, n int64, admin string) string {
	if audience == models.AudienceAdmins {
		return fmt.Sprintf("Announcement to the admins of %d spaces, sent by %s", n, admin)
	}
	return fmt.Sprintf("Announcement to %d people, sent by %s", n, admin)
}
