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

// Bounds and defaults of a limits rollout's settings.
const (
	// defaultLimitsConcurrency: each space runs a few occ commands; twenty at once
	// tell 10,000 spaces in well under an hour without loading the web nodes.
	defaultLimitsConcurrency = 20
	maxLimitsConcurrency     = 500
)

// limitsControls maps the action in the URL to the rollout's update.
var limitsControls = map[string]string{
	"pause":  workflows.UpdateLimitsPause,
	"resume": workflows.UpdateLimitsResume,
	"abort":  workflows.UpdateLimitsAbort,
}

// limitsRequest is new limits, for the fleet or for one space, in the units people
// write. Pointers tell a missing field from a zero. A space's request may instead ask
// for the fleet's defaults (Defaults).
type limitsRequest struct {
	MaxAccounts *int   `json:"max_accounts"`
	QuotaGB     *int64 `json:"quota_gb"`
	MaxVideoMB  *int64 `json:"max_video_mb"`
	Reason      string `json:"reason"`
	// Concurrency is the rollout's window (fleet only; 0 or missing: the default).
	Concurrency *int `json:"concurrency,omitempty"`
	// Defaults takes a space back to the fleet's defaults (space only).
	Defaults bool `json:"defaults,omitempty"`
}

// limits checks the three fields and returns the limits, with every field at fault.
func (req limitsRequest) limits() (models.Limits, error) {
	var errs models.FieldErrors
	missing := func(field string) {
		errs.Add(models.FieldError(field, "est obligatoire"))
	}
	if req.MaxAccounts == nil {
		missing(models.LimitsFieldAccounts)
	}
	if req.QuotaGB == nil {
		missing(models.LimitsFieldQuotaGB)
	}
	if req.MaxVideoMB == nil {
		missing(models.LimitsFieldVideoMB)
	}
	if len(errs) > 0 {
		errs.Sort(models.LimitsFields)
		return models.Limits{}, errs
	}
	l := models.LimitsOf(*req.MaxAccounts, *req.QuotaGB, *req.MaxVideoMB)
	// Out of range before the multiplication: a huge number must not wrap around.
	if *req.QuotaGB > models.MaxGrantedStorageGB || *req.QuotaGB < 0 {
		l.QuotaBytes = -1
	}
	if *req.MaxVideoMB > models.MaxGrantedStorageGB<<10 || *req.MaxVideoMB < 0 {
		l.MaxVideoBytes = -1
	}
	return l, l.Validate()
}

// limitsView is limits in the units people write, and in bytes.
type limitsView struct {
	MaxAccounts   int   `json:"max_accounts"`
	QuotaGB       int64 `json:"quota_gb"`
	MaxVideoMB    int64 `json:"max_video_mb"`
	QuotaBytes    int64 `json:"quota_bytes"`
	MaxVideoBytes int64 `json:"max_video_bytes"`
}

func limitsViewOf(l models.Limits) limitsView {
	return limitsView{MaxAccounts: l.MaxAccounts, QuotaGB: l.QuotaGB(), MaxVideoMB: l.MaxVideoMB(),
		QuotaBytes: l.QuotaBytes, MaxVideoBytes: l.MaxVideoBytes}
}

// fleetLimitsView is the fleet's default limits in force and their rollout.
type fleetLimitsView struct {
	Version   int        `json:"version"`
	Limits    limitsView `json:"limits"`
	Actor     string     `json:"actor"`
	Reason    string     `json:"reason"`
	CreatedAt time.Time  `json:"created_at"`
	// Changed is false when the limits sent were those in force (POST only).
	Changed *bool `json:"changed,omitempty"`
	// Rollout is the progress of the rollout of this version; none for the seed.
	Rollout *limitsRolloutView `json:"rollout"`
}

// limitsRolloutView is the progress of a rollout of the default limits.
type limitsRolloutView struct {
	WorkflowID   string              `json:"workflow_id"`
	Status       string              `json:"status"`
	PauseReason  string              `json:"pause_reason,omitempty"`
	Total        int                 `json:"total"`
	Applied      int                 `json:"applied"`
	Kept         int                 `json:"kept"`
	Deferred     int                 `json:"deferred"`
	Skipped      int                 `json:"skipped"`
	Failed       int                 `json:"failed"`
	Running      int                 `json:"running"`
	Remaining    int                 `json:"remaining"`
	Answered     int                 `json:"answered"` // every outcome but running and remaining
	Failures     []limitsFailureView `json:"failures"`
	StartedAt    time.Time           `json:"started_at"`
	EstimatedEnd *time.Time          `json:"estimated_end,omitempty"`
}

type limitsFailureView struct {
	Slug  string `json:"slug"`
	Error string `json:"error"`
}

func limitsRolloutViewOf(version int, p workflows.LimitsProgress) *limitsRolloutView {
	v := &limitsRolloutView{WorkflowID: workflows.LimitsRolloutWorkflowID(version), Status: p.Status,
		PauseReason: p.PauseReason, Total: p.Total, Applied: p.Applied, Kept: p.Kept, Deferred: p.Deferred,
		Skipped: p.Skipped, Failed: p.Failed, Running: p.Running, Remaining: p.Remaining,
		Failures: []limitsFailureView{}, StartedAt: p.StartedAt,
		Answered: p.Applied + p.Kept + p.Deferred + p.Skipped + p.Failed}
	if !p.EstimatedEnd.IsZero() {
		v.EstimatedEnd = &p.EstimatedEnd
	}
	for _, f := range p.Failures {
		v.Failures = append(v.Failures, limitsFailureView{Slug: f.Slug, Error: f.Error})
	}
	return v
}

// getFleetLimits shows the fleet's default limits in force and their rollout.
func (s *Server) getFleetLimits(c *gin.Context) {
	view, err := s.fleetLimits(c.Request.Context())
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, view)
}

// fleetLimits reads the defaults in force and asks their rollout for its progress, for
// the API and the console. A rollout that does not answer leaves Rollout empty.
func (s *Server) fleetLimits(ctx context.Context) (*fleetLimitsView, error) {
	v, err := models.CurrentLimits(ctx, s.db, s.cfg.Limits)
	if err != nil {
		return nil, err
	}
	view := &fleetLimitsView{Version: v.Version, Limits: limitsViewOf(v.Limits()), Actor: v.Actor, Reason: v.Reason,
		CreatedAt: v.CreatedAt}
	if p, err := s.limitsProgressOf(ctx, v.Version); err == nil && p != nil {
		view.Rollout = limitsRolloutViewOf(v.Version, *p)
	} else if err != nil {
		s.logger.Warn("Limits rollout did not answer its progress query", "version", v.Version, "error", err)
	}
	return view, nil
}

// limitsProgressOf asks the rollout of a version for its progress; nil when there is
// none (the seed, or a rollout that could not start).
func (s *Server) limitsProgressOf(ctx context.Context, version int) (*workflows.LimitsProgress, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var p workflows.LimitsProgress
	v, err := s.temporal.QueryWorkflow(ctx, workflows.LimitsRolloutWorkflowID(version), "", workflows.QueryLimitsProgress)
	if err == nil {
		err = v.Get(&p)
	}
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("query progress of limits rollout %d: %w", version, err)
	}
	return &p, nil
}

// postFleetLimits changes the fleet's default limits.
func (s *Server) postFleetLimits(c *gin.Context) {
	var req limitsRequest
	if err := decodeJSON(c.Request, &req); err != nil {
		s.writeError(c, err)
		return
	}
	view, err := s.changeFleetLimits(c.Request.Context(), currentModerator(c), req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusAccepted, view)
}

// changeFleetLimits records a new version of the default limits, then starts the
// rollout that applies it to every space in service, for the API and the console.
// Given the limits in force, it records nothing and starts that version's rollout if it
// never started. A rollout still under way (or paused) refuses the change: two would
// compete for the same spaces.
func (s *Server) changeFleetLimits(ctx context.Context, admin *models.Moderator, req limitsRequest) (*fleetLimitsView, error) {
	var errs models.FieldErrors
	limits, err := req.limits()
	errs.Add(err)
	reason := strings.TrimSpace(req.Reason)
	if reason == "" {
		errs.Add(models.FieldError("reason", "est obligatoire : l'historique des limites dit pourquoi elles ont changé"))
	}
	concurrency := defaultLimitsConcurrency
	if req.Concurrency != nil {
		if *req.Concurrency < 1 || *req.Concurrency > maxLimitsConcurrency {
			errs.Add(models.FieldError("concurrency", "doit être entre 1 et %d espaces à la fois", maxLimitsConcurrency))
		}
		concurrency = *req.Concurrency
	}
	if req.Defaults {
		errs.Add(models.FieldError("defaults", "ne concerne que les limites d'un espace"))
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	cur, err := models.CurrentLimits(ctx, s.db, s.cfg.Limits)
	if err != nil {
		return nil, err
	}
	if cur.Limits() != limits {
		p, err := s.limitsProgressOf(ctx, cur.Version)
		if err != nil {
			return nil, models.Errorf(models.EUNAVAILABLE, "le service est momentanément indisponible, réessayez plus tard")
		}
		if p != nil && (p.Status == workflows.LimitsRunning || p.Status == workflows.LimitsPaused) {
			return nil, models.Errorf(models.ECONFLICT, "le déploiement des limites version %d est en cours : attendez sa fin ou arrêtez-le (abort)", cur.Version)
		}
	}
	v, changed, err := models.ChangeLimits(ctx, s.db, s.cfg.Limits, models.LimitsChange{Limits: limits, Reason: reason, Actor: admin.Name})
	if err != nil {
		return nil, err
	}
	if v.Version > 1 || changed {
		_, err = s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID:                       workflows.LimitsRolloutWorkflowID(v.Version),
			TaskQueue:                workflows.TaskQueue,
			WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
			StaticSummary:            fmt.Sprintf("Default limits %d: %s, by %s", v.Version, v.Limits().String(), v.Actor),
		}, workflows.LimitsRolloutWorkflowType, workflows.LimitsRolloutInput{Version: v.Version, Limits: v.Limits(),
			Actor: v.Actor, Reason: v.Reason, Concurrency: concurrency, MaxFailureRatio: defaultMaxFailureRatio})
		if err != nil && !temporal.IsWorkflowExecutionAlreadyStartedError(err) {
			s.logger.Error("Start the rollout of the default limits", "version", v.Version, "error", err)
			return nil, models.Errorf(models.EUNAVAILABLE,
				"les limites sont enregistrées (version %d) mais n'ont pas pu être envoyées aux espaces : renvoyez la même demande", v.Version)
		}
	}
	s.logger.Info("Default limits changed", "version", v.Version, "limits", v.Limits().String(), "admin", admin.Name, "changed", changed)
	view, err := s.fleetLimits(ctx)
	if err != nil {
		return nil, err
	}
	view.Changed = &changed
	return view, nil
}

// controlFleetLimits pauses, resumes or aborts the rollout of the defaults in force.
func (s *Server) controlFleetLimits(c *gin.Context) {
	reason, err := readReason(c, false)
	if err != nil {
		s.writeError(c, err)
		return
	}
	status, err := s.controlLimitsAs(c.Request.Context(), currentModerator(c), c.Param("action"), reason)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": status})
}

// controlLimitsAs pauses, resumes or aborts the rollout of the defaults in force, for
// the API and the console; the workflow's validator refuses a control that does not
// fit its status.
func (s *Server) controlLimitsAs(ctx context.Context, admin *models.Moderator, action, reason string) (string, error) {
	update, ok := limitsControls[action]
	if !ok {
		return "", models.Errorf(models.ENOTFOUND, "action inconnue %q : pause, resume ou abort", action)
	}
	v, err := models.CurrentLimits(ctx, s.db, s.cfg.Limits)
	if err != nil {
		return "", err
	}
	result, err := updateWorkflow[workflows.LimitsControlResult](ctx, s.temporal,
		workflows.LimitsRolloutWorkflowID(v.Version), update, workflows.LimitsControlInput{Actor: admin.Name, Reason: strings.TrimSpace(reason)})
	if err != nil {
		return "", updateError(err, fmt.Sprintf("aucun déploiement des limites version %d n'est en cours", v.Version))
	}
	s.logger.Info("Limits rollout control recorded", "version", v.Version, "action", update, "admin", admin.Name, "status", result.Status)
	return result.Status, nil
}

// spaceLimitsResponse is what a space holds once a moderator's limits are applied.
type spaceLimitsResponse struct {
	Slug   string     `json:"slug"`
	Limits limitsView `json:"limits"`
	Own    bool       `json:"own_limits"`
}

// postSpaceLimits gives a space limits of its own, or takes it back to the defaults.
func (s *Server) postSpaceLimits(c *gin.Context) {
	var req limitsRequest
	if err := decodeJSON(c.Request, &req); err != nil {
		s.writeError(c, err)
		return
	}
	slug := c.Param("slug")
	res, err := s.setSpaceLimits(c.Request.Context(), currentModerator(c), slug, req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, spaceLimitsResponse{Slug: slug, Limits: limitsViewOf(res.Limits), Own: res.Own})
}

// setSpaceLimits sends a moderator's limits for one space to its workflow, which
// applies them and records them in the timeline, for the API and the console.
func (s *Server) setSpaceLimits(ctx context.Context, mod *models.Moderator, slug string, req limitsRequest) (workflows.SetLimitsResult, error) {
	var errs models.FieldErrors
	in := workflows.SetLimitsInput{Actor: mod.Name, Reason: strings.TrimSpace(req.Reason)}
	switch {
	case req.Defaults && (req.MaxAccounts != nil || req.QuotaGB != nil || req.MaxVideoMB != nil):
		errs.Add(models.FieldError("defaults", "ne peut être donné avec des limites : soit les limites par défaut, soit les siennes"))
	case !req.Defaults:
		limits, err := req.limits()
		errs.Add(err)
		in.Limits = &limits
	}
	if req.Concurrency != nil {
		errs.Add(models.FieldError("concurrency", "ne concerne que le déploiement des limites par défaut"))
	}
	if in.Reason == "" {
		errs.Add(models.FieldError("reason", "est obligatoire : l'historique de l'espace dit pourquoi chaque action a eu lieu"))
	} else if len([]rune(in.Reason)) > models.MaxReasonLength {
		errs.Add(models.FieldError("reason", "ne peut dépasser %d caractères", models.MaxReasonLength))
	}
	if err := errs.Err(); err != nil {
		return workflows.SetLimitsResult{}, err
	}
	res, err := updateWorkflow[workflows.SetLimitsResult](ctx, s.temporal, workflows.SpaceWorkflowID(slug), workflows.UpdateSetLimits, in)
	if err != nil {
		return res, updateError(err, noSpace)
	}
	s.logger.Info("Space limits set", "slug", slug, "moderator", mod.Name, "limits", res.Limits.String(), "own", res.Own)
	return res, nil
}
