package api

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/client"

	"jardinier/models"
	"jardinier/workflows"
)

// maxPreviewDays bounds the preview window: ten years covers any policy.
const maxPreviewDays = 3650

// noSpace is the answer to an update sent to a space whose workflow is over.
const noSpace = "aucun espace en cours ne porte ce nom"

// spaceActions maps the action in the URL to the workflow update.
var spaceActions = map[string]string{
	"deactivate": workflows.UpdateDeactivate,
	"reactivate": workflows.UpdateReactivate,
	"delete":     workflows.UpdateDelete,
	"exempt":     workflows.UpdateExempt,
	"unexempt":   workflows.UpdateUnexempt,
}

// actionRequest is the body of a moderator's action on a space.
type actionRequest struct {
	Reason string `json:"reason"`
}

// readReason reads the optional {"reason": "..."} body of an action, trimmed: required
// or not, and at most models.MaxReasonLength characters.
func readReason(c *gin.Context, required bool) (string, error) {
	var req actionRequest
	if c.Request.ContentLength != 0 {
		if err := decodeJSON(c.Request, &req); err != nil {
			return "", err
		}
	}
	reason := strings.TrimSpace(req.Reason)
	if required && reason == "" {
		return "", models.FieldError("reason", "est obligatoire : l'historique de l'espace dit pourquoi chaque action a eu lieu")
	} else if utf8.RuneCountInString(reason) > models.MaxReasonLength {
		return "", models.FieldError("reason", "ne peut dépasser %d caractères", models.MaxReasonLength)
	}
	return reason, nil
}

// actOnSpace sends a moderator's action to the space's workflow, which checks it against
// the current status and records it, and answers the new status.
func (s *Server) actOnSpace(c *gin.Context) {
	// act checks the reason: the console posts it from a form.
	reason, err := readReason(c, false)
	if err != nil {
		s.writeError(c, err)
		return
	}
	slug := c.Param("slug")
	status, err := s.act(c.Request.Context(), currentModerator(c), slug, c.Param("action"), reason)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"slug": slug, "status": status})
}

// act sends a moderator's action on a space to its workflow, for the API and the
// console, and returns the new status. The reason is required.
func (s *Server) act(ctx context.Context, mod *models.Moderator, slug, action, reason string) (models.Status, error) {
	update, ok := spaceActions[action]
	if !ok {
		return "", models.Errorf(models.ENOTFOUND, "action inconnue %q : deactivate, reactivate, delete, exempt ou unexempt", action)
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return "", models.FieldError("reason", "est obligatoire : l'historique de l'espace dit pourquoi chaque action a eu lieu")
	} else if utf8.RuneCountInString(reason) > models.MaxReasonLength {
		return "", models.FieldError("reason", "ne peut dépasser %d caractères", models.MaxReasonLength)
	}
	result, err := s.sendAction(ctx, slug, update, workflows.ActionInput{Actor: mod.Name, Reason: reason})
	if err != nil {
		return "", updateError(err, noSpace)
	}
	s.logger.Info("Space action recorded", "slug", slug, "action", update, "moderator", mod.Name, "status", result.Status)
	return result.Status, nil
}

// sendAction sends an action to a space's workflow and waits until it is recorded.
func (s *Server) sendAction(ctx context.Context, slug, update string, in workflows.ActionInput) (workflows.ActionResult, error) {
	return updateWorkflow[workflows.ActionResult](ctx, s.temporal, workflows.SpaceWorkflowID(slug), update, in)
}

// updateTimeout bounds how long the API waits for a workflow to take an update.
const updateTimeout = time.Minute

// updateWorkflow sends an update to a workflow and waits for its result: the workflow's
// validator may refuse it, or its handler answer once the change is recorded.
func updateWorkflow[T any](ctx context.Context, c client.Client, workflowID, update string, arg any) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, updateTimeout)
	defer cancel()
	var result T
	handle, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflowID,
		UpdateName:   update,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = handle.Get(ctx, &result)
	}
	return result, err
}

// plannedSteps are the steps ahead of a space in service if nothing happens, on the
// dates its workflow will take them: the plan the workflow projects each time it plans
// (models.Space.Plan). A row written before plans were projected shows what it has: the
// next step and the deletion. Nothing here computes a date.
func plannedSteps(sp *models.Space) []models.PlannedStep {
	if sp.Status != models.StatusActive && sp.Status != models.StatusDeactivated || sp.Exempt {
		return nil
	} else if sp.Plan != nil {
		return sp.Plan
	}
	var steps []models.PlannedStep
	if sp.NextStep != "" && sp.NextStepAt != nil {
		steps = append(steps, models.PlannedStep{Step: sp.NextStep, At: *sp.NextStepAt})
	}
	if sp.DeletionDueAt != nil && sp.NextStep != models.StepDeletion {
		steps = append(steps, models.PlannedStep{Step: models.StepDeletion, At: *sp.DeletionDueAt})
	}
	return steps
}

// timelineEntry is one step in a space's life: done (from the audit trail) or planned
// (from the inactivity policy).
type timelineEntry struct {
	Action  string    `json:"action"`
	Actor   string    `json:"actor"`
	Reason  string    `json:"reason,omitempty"`
	At      time.Time `json:"at"`
	Planned bool      `json:"planned"`
}

// timelineResponse is a space's life, oldest first.
type timelineResponse struct {
	Slug           string          `json:"slug"`
	Status         models.Status   `json:"status"`
	Exempt         bool            `json:"exempt"`
	LastActivityAt *time.Time      `json:"last_activity_at,omitempty"`
	Steps          []timelineEntry `json:"steps"`
}

// spaceTimeline lists every step of the space: what happened, who did it and when,
// then what the inactivity policy will do and when if nothing changes.
func (s *Server) spaceTimeline(c *gin.Context) {
	resp, err := s.timelineOf(c.Request.Context(), c.Param("slug"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, resp)
}

// timelineOf is a space's life as the API and the console show it.
func (s *Server) timelineOf(ctx context.Context, slug string) (*timelineResponse, error) {
	sp, err := s.loadSpace(ctx, slug)
	if err != nil {
		return nil, err
	}
	resp := timelineResponse{Slug: sp.Slug, Status: sp.Status, Exempt: sp.Exempt, LastActivityAt: sp.LastActivityAt,
		Steps: []timelineEntry{}}
	// An older space may have held the slug: its events are before this one's submission.
	if err := s.db.WithContext(ctx).Model(&models.AuditEvent{}).
		Where("slug = ? AND at >= ?", sp.Slug, sp.SubmittedAt).Order("at, id").
		Select("action, actor, reason, at").Scan(&resp.Steps).Error; err != nil {
		return nil, err
	}
	for _, p := range plannedSteps(sp) {
		resp.Steps = append(resp.Steps, timelineEntry{Action: string(p.Step), Actor: models.ActorSystem, At: p.At, Planned: true})
	}
	return &resp, nil
}

// previewItem is a step of the policy that falls on a space within the window.
type previewItem struct {
	Slug   string        `json:"slug"`
	Status models.Status `json:"status"`
	Step   models.Step   `json:"step"`
	Date   time.Time     `json:"date"`
}

// previewResponse says what the inactivity policy will do in the coming days.
type previewResponse struct {
	Policy        string              `json:"policy"`
	PolicyVersion int                 `json:"policy_version"`
	Days          int                 `json:"days"`
	Until         time.Time           `json:"until"`
	Counts        map[models.Step]int `json:"counts"`
	Items         []previewItem       `json:"items"`
}

// previewPolicy lists the warnings, deactivations and deletions due in the next ?days=
// days, by date, if no space sees any activity meanwhile: the dates of the plans the
// workflows keep in the projection. Exempt spaces are left out. Steps already overdue
// are listed too: the workflows will take them at once.
func (s *Server) previewPolicy(c *gin.Context) {
	days, err := strconv.Atoi(c.Query("days"))
	if err != nil {
		days = 0
	}
	resp, err := s.previewFor(c.Request.Context(), days)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, resp)
}

// previewFor is the policy preview of the API and the console.
func (s *Server) previewFor(ctx context.Context, days int) (*previewResponse, error) {
	if days < 1 || days > maxPreviewDays {
		return nil, models.FieldError("days", "doit être un nombre entier de jours, de 1 à %d", maxPreviewDays)
	}
	until := s.now().UTC().AddDate(0, 0, days)
	current, err := models.CurrentPolicy(ctx, s.db, s.cfg.Policy)
	if err != nil {
		return nil, err
	}
	var spaces []models.Space
	if err := s.db.WithContext(ctx).
		Select("slug, status, exempt, next_step, next_step_at, deletion_due_at, plan").
		// LEAST skips a NULL: the earlier of the two dates, which idx_spaces_plan_due reads.
		Where("status IN ? AND NOT exempt AND LEAST(next_step_at, deletion_due_at) <= ?",
			[]models.Status{models.StatusActive, models.StatusDeactivated}, until).
		Find(&spaces).Error; err != nil {
		return nil, err
	}
	resp := previewResponse{Policy: current.Policy, PolicyVersion: current.Version, Days: days, Until: until,
		Counts: make(map[models.Step]int, len(models.Steps)), Items: []previewItem{}}
	for _, step := range models.Steps {
		resp.Counts[step] = 0
	}
	for i := range spaces {
		for _, p := range plannedSteps(&spaces[i]) {
			if p.At.After(until) {
				continue
			}
			resp.Items = append(resp.Items, previewItem{Slug: spaces[i].Slug, Status: spaces[i].Status, Step: p.Step, Date: p.At})
			resp.Counts[p.Step]++
		}
	}
	slices.SortFunc(resp.Items, func(a, b previewItem) int {
		return cmp.Or(a.Date.Compare(b.Date), strings.Compare(a.Slug, b.Slug),
			cmp.Compare(models.StepIndex(a.Step), models.StepIndex(b.Step)))
	})
	return &resp, nil
}
