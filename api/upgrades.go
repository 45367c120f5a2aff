package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"jardinier/models"
	"jardinier/workflows"
)

// Bounds and defaults of a fleet upgrade's settings.
const (
	// maxCanary bounds the canary: its spaces upgrade one at a time.
	maxCanary = 1000
	// maxCanarySlugs bounds a named canary: a handful of spaces a person chose.
	maxCanarySlugs = 100
	// defaultUpgradeConcurrency keeps the load on the shared database servers modest
	// when the admin does not say.
	defaultUpgradeConcurrency = 20
	maxUpgradeConcurrency     = 1000
	// defaultMaxFailureRatio pauses the rollout once one space in twenty fails.
	defaultMaxFailureRatio = 0.05
)

// runningUpgradesQuery finds the fleet upgrades under way: one at a time.
var runningUpgradesQuery = fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running'", workflows.FleetUpgradeWorkflowType)

// targetPattern is a full Nextcloud version, major.minor.patch, without leading zeros
// (so that one version has one spelling in the search attribute) and short enough to
// parse as integers.
var targetPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})$`)

// upgradeIDPattern is what an upgrade ID may look like; anything else is unknown
// without asking Temporal.
var upgradeIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// upgradeSpaceStatuses are the statuses of models.UpgradeSpace, for the list filter.
var upgradeSpaceStatuses = models.UpgradeSpaceStatuses

// upgradeControls maps the action in the URL to the fleet upgrade's update.
var upgradeControls = map[string]string{
	"pause":  workflows.UpdateUpgradePause,
	"resume": workflows.UpdateUpgradeResume,
	"abort":  workflows.UpdateUpgradeAbort,
}

// upgradeRequest starts a fleet upgrade. Pointers tell a missing setting, which takes
// its default, from a zero, which is refused.
type upgradeRequest struct {
	Target          string   `json:"target"`
	Canary          *int     `json:"canary"`
	CanarySlugs     []string `json:"canary_slugs"`
	Concurrency     *int     `json:"concurrency"`
	MaxFailureRatio *float64 `json:"max_failure_ratio"`
}

// upgradeStarted answers the start of a fleet upgrade.
type upgradeStarted struct {
	ID         string `json:"id"`
	WorkflowID string `json:"workflow_id"`
	Target     string `json:"target"`
	Status     string `json:"status"`
}

// toInput checks the settings and builds the workflow's input, defaults filled in.
func (req *upgradeRequest) toInput(requester string) (workflows.FleetUpgradeInput, error) {
	in := workflows.FleetUpgradeInput{Target: strings.TrimSpace(req.Target), Requester: requester,
		Concurrency: defaultUpgradeConcurrency, MaxFailureRatio: defaultMaxFailureRatio}
	if in.Target == "" {
		return in, models.FieldError("target", "est obligatoire : la version visée, par exemple 32.0.3")
	} else if !targetPattern.MatchString(in.Target) {
		return in, models.FieldError("target", "doit être une version complète majeure.mineure.correctif, par exemple 32.0.3")
	}
	if req.Canary != nil {
		if *req.Canary < 0 || *req.Canary > maxCanary {
			return in, models.FieldError("canary", "doit être entre 0 et %d espaces", maxCanary)
		}
		in.Canary = *req.Canary
	}
	if len(req.CanarySlugs) > 0 {
		if in.Canary > 0 {
			return in, models.FieldError("canary_slugs", "ne peut être donné avec canary : soit un nombre d'espaces, soit leurs noms")
		} else if len(req.CanarySlugs) > maxCanarySlugs {
			return in, models.FieldError("canary_slugs", "au plus %d espaces", maxCanarySlugs)
		}
		for i, slug := range req.CanarySlugs {
			var e *models.Error
			if err := models.ValidateSlug(slug); errors.As(err, &e) {
				return in, models.FieldError("canary_slugs", "%q : %s", slug, e.Message)
			} else if slices.Contains(req.CanarySlugs[:i], slug) {
				return in, models.FieldError("canary_slugs", "%q est nommé deux fois", slug)
			}
		}
		in.CanarySlugs = req.CanarySlugs
	}
	if req.Concurrency != nil {
		if *req.Concurrency < 1 || *req.Concurrency > maxUpgradeConcurrency {
			return in, models.FieldError("concurrency", "doit être entre 1 et %d espaces à la fois", maxUpgradeConcurrency)
		}
		in.Concurrency = *req.Concurrency
	}
	if req.MaxFailureRatio != nil {
		if !(*req.MaxFailureRatio > 0 && *req.MaxFailureRatio <= 1) {
			return in, models.FieldError("max_failure_ratio", "doit être une proportion supérieure à 0 et au plus 1, par exemple 0.05")
		}
		in.MaxFailureRatio = *req.MaxFailureRatio
	}
	return in, nil
}

// startUpgrade starts a fleet upgrade to the target version, unless one is under way.
// The workflow refuses the spaces that cannot go to the target and reports them.
func (s *Server) startUpgrade(c *gin.Context) {
	var req upgradeRequest
	if err := decodeJSON(c.Request, &req); err != nil {
		s.writeError(c, err)
		return
	}
	started, err := s.beginUpgrade(c.Request.Context(), currentModerator(c), req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusAccepted, started)
}

// beginUpgrade starts a fleet upgrade for the API and the console.
func (s *Server) beginUpgrade(ctx context.Context, admin *models.Moderator, req upgradeRequest) (*upgradeStarted, error) {
	in, err := req.toInput(admin.Name)
	if err != nil {
		return nil, err
	}
	if err := s.checkCanaries(ctx, in.CanarySlugs); err != nil {
		return nil, err
	}
	if err := s.checkNoUpgradeRunning(ctx); err != nil {
		return nil, err
	}
	id, err := s.newUpgradeID()
	if err != nil {
		return nil, err
	}
	in.ID = id
	workflowID := workflows.UpgradeWorkflowID(id)
	_, err = s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflowID,
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		TypedSearchAttributes:    temporal.NewSearchAttributes(workflows.SearchAttrNextcloudVersion.ValueSet(in.Target)),
		StaticSummary:            fmt.Sprintf("Nextcloud %s, requested by %s", in.Target, admin.Name),
	}, workflows.FleetUpgradeWorkflow, in)
	if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		return nil, models.Errorf(models.ECONFLICT, "la mise à niveau %s existe déjà, réessayez", id)
	} else if err != nil {
		s.logger.Error("Start fleet upgrade", "upgrade_id", id, "target", in.Target, "error", err)
		return nil, models.Errorf(models.EUNAVAILABLE, "le service est momentanément indisponible, réessayez plus tard")
	}
	s.logger.Info("Fleet upgrade started", "upgrade_id", id, "target", in.Target, "admin", admin.Name,
		"canary", in.Canary, "canary_slugs", len(in.CanarySlugs), "concurrency", in.Concurrency)
	return &upgradeStarted{ID: id, WorkflowID: workflowID, Target: in.Target, Status: workflows.UpgradeRunning}, nil
}

// newUpgradeID is short, sorts by start time and reads as a date in the Temporal UI;
// its random tail keeps two starts in one second apart.
func (s *Server) newUpgradeID() (string, error) {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("upgrade id: %w", err)
	}
	return s.now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b), nil
}

// checkCanaries refuses named canaries that are not spaces in service: a mistyped name
// would otherwise leave the rollout without the canary the admin asked for.
func (s *Server) checkCanaries(ctx context.Context, slugs []string) error {
	if len(slugs) == 0 {
		return nil
	}
	var active []string
	if err := s.db.WithContext(ctx).Model(&models.Space{}).Where("slug IN ? AND status = ?", slugs, models.StatusActive).
		Pluck("slug", &active).Error; err != nil {
		return fmt.Errorf("check canary spaces: %w", err)
	}
	var missing []string
	for _, slug := range slugs {
		if !slices.Contains(active, slug) {
			missing = append(missing, slug)
		}
	}
	if len(missing) > 0 {
		return models.FieldError("canary_slugs", "pas des espaces en service : %s", strings.Join(missing, ", "))
	}
	return nil
}

// checkNoUpgradeRunning refuses a second fleet upgrade while one is under way: two
// rollouts would compete for the same spaces.
func (s *Server) checkNoUpgradeRunning(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := s.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query:    runningUpgradesQuery,
		PageSize: 1,
	})
	if err != nil {
		s.logger.Error("List running fleet upgrades", "error", err)
		return models.Errorf(models.EUNAVAILABLE, "le service est momentanément indisponible, réessayez plus tard")
	}
	if running := resp.GetExecutions(); len(running) > 0 {
		id := strings.TrimPrefix(running[0].GetExecution().GetWorkflowId(), workflows.UpgradeWorkflowID(""))
		return models.Errorf(models.ECONFLICT, "la mise à niveau %s est en cours : attendez sa fin ou arrêtez-la (abort)", id)
	}
	return nil
}

// upgradeProgressView is the progress of a fleet upgrade; durations are in seconds.
type upgradeProgressView struct {
	ID                 string             `json:"id"`
	WorkflowID         string             `json:"workflow_id"`
	Target             string             `json:"target"`
	Status             string             `json:"status"`
	PauseReason        string             `json:"pause_reason,omitempty"`
	Total              int                `json:"total"`
	Upgraded           int                `json:"upgraded"`
	Failed             int                `json:"failed"`
	Skipped            int                `json:"skipped"`
	Running            int                `json:"running"`
	Remaining          int                `json:"remaining"`
	Refused            []refusedSpaceView `json:"refused"`
	StartedAt          time.Time          `json:"started_at"`
	EstimatedEnd       *time.Time         `json:"estimated_end,omitempty"`
	DowntimeP50Seconds float64            `json:"downtime_p50_seconds"`
	DowntimeP95Seconds float64            `json:"downtime_p95_seconds"`
}

// refusedSpaceView is a space left out for being too far behind, with the versions it
// must go through first.
type refusedSpaceView struct {
	Slug    string   `json:"slug"`
	Version string   `json:"version"`
	Steps   []string `json:"steps"`
	// Missing are the majors in between whose code base is not installed.
	Missing []string `json:"missing,omitempty"`
}

// progressView turns the workflow's answer into its JSON view.
func progressView(id string, p workflows.UpgradeProgress) upgradeProgressView {
	v := upgradeProgressView{ID: id, WorkflowID: workflows.UpgradeWorkflowID(id), Target: p.Target, Status: p.Status,
		PauseReason: p.PauseReason, Total: p.Total, Upgraded: p.Upgraded, Failed: p.Failed, Skipped: p.Skipped,
		Running: p.Running, Remaining: p.Remaining, Refused: []refusedSpaceView{}, StartedAt: p.StartedAt,
		DowntimeP50Seconds: p.DowntimeP50.Seconds(), DowntimeP95Seconds: p.DowntimeP95.Seconds()}
	if !p.EstimatedEnd.IsZero() {
		v.EstimatedEnd = &p.EstimatedEnd
	}
	for _, r := range p.Refused {
		v.Refused = append(v.Refused, refusedSpaceView{Slug: r.Slug, Version: r.Version, Steps: append([]string{}, r.Steps...),
			Missing: r.Missing})
	}
	return v
}

// upgradeID reads the upgrade's ID from the URL.
func upgradeID(c *gin.Context) (string, error) {
	id := c.Param("id")
	if !upgradeIDPattern.MatchString(id) {
		return "", unknownUpgrade(id)
	}
	return id, nil
}

func unknownUpgrade(id string) error {
	return models.Errorf(models.ENOTFOUND, "mise à niveau %q introuvable", id)
}

// getUpgrade asks the fleet upgrade's workflow for its progress.
func (s *Server) getUpgrade(c *gin.Context) {
	id, err := upgradeID(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	p, err := s.upgradeProgressOf(c.Request.Context(), id)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, progressView(id, *p))
}

// upgradeProgressOf asks a fleet upgrade's workflow for its progress, for the API and
// the console.
func (s *Server) upgradeProgressOf(ctx context.Context, id string) (*workflows.UpgradeProgress, error) {
	if !upgradeIDPattern.MatchString(id) {
		return nil, unknownUpgrade(id)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var p workflows.UpgradeProgress
	v, err := s.temporal.QueryWorkflow(ctx, workflows.UpgradeWorkflowID(id), "", workflows.QueryUpgradeProgress)
	if err == nil {
		err = v.Get(&p)
	}
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return nil, unknownUpgrade(id)
	case errors.Is(err, context.DeadlineExceeded):
		// No worker picked the query up in time: the answer may come on a retry.
		s.logger.Warn("Fleet upgrade did not answer its progress query", "upgrade_id", id, "error", err)
		return nil, models.Errorf(models.EUNAVAILABLE, "la mise à niveau ne répond pas, réessayez plus tard")
	case err != nil:
		return nil, fmt.Errorf("query progress of upgrade %s: %w", id, err)
	}
	return &p, nil
}

// controlUpgrade pauses, resumes or aborts a fleet upgrade; the workflow's validator
// refuses a control that does not fit its status.
func (s *Server) controlUpgrade(c *gin.Context) {
	id, err := upgradeID(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	reason, err := readReason(c, false)
	if err != nil {
		s.writeError(c, err)
		return
	}
	status, err := s.controlUpgradeAs(c.Request.Context(), currentModerator(c), id, c.Param("action"), reason)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": id, "status": status})
}

// controlUpgradeAs pauses, resumes or aborts a fleet upgrade for the API and the
// console; the workflow's validator refuses a control that does not fit its status.
func (s *Server) controlUpgradeAs(ctx context.Context, admin *models.Moderator, id, action, reason string) (string, error) {
	update, ok := upgradeControls[action]
	if !ok {
		return "", models.Errorf(models.ENOTFOUND, "action inconnue %q : pause, resume ou abort", action)
	}
	if !upgradeIDPattern.MatchString(id) {
		return "", unknownUpgrade(id)
	}
	result, err := updateWorkflow[workflows.UpgradeControlResult](ctx, s.temporal,
		workflows.UpgradeWorkflowID(id), update, workflows.UpgradeControlInput{Actor: admin.Name, Reason: strings.TrimSpace(reason)})
	if err != nil {
		return "", updateError(err, fmt.Sprintf("aucune mise à niveau en cours n'a l'identifiant %q", id))
	}
	s.logger.Info("Fleet upgrade control recorded", "upgrade_id", id, "action", update, "admin", admin.Name, "status", result.Status)
	return result.Status, nil
}

// upgradeSpaceView is one space of a fleet upgrade.
type upgradeSpaceView struct {
	Slug            string    `json:"slug"`
	Status          string    `json:"status"`
	From            string    `json:"from,omitempty"`
	To              string    `json:"to,omitempty"`
	DowntimeSeconds float64   `json:"downtime_seconds"`
	Error           string    `json:"error,omitempty"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// listUpgradeSpaces lists the spaces of a fleet upgrade by slug, from the projection
// the workflow keeps, filtered by ?status=.
func (s *Server) listUpgradeSpaces(c *gin.Context) {
	id, err := upgradeID(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	page, err := pageParam(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	resp, err := s.upgradeSpacesOf(c.Request.Context(), id, page, c.Query("status"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, resp)
}

// upgradeSpacesOf lists the spaces of a fleet upgrade by slug for the API and the
// console, from the projection the workflow keeps, filtered by status ("" for any).
func (s *Server) upgradeSpacesOf(ctx context.Context, id string, page int, status string) (*listResponse[upgradeSpaceView], error) {
	q := s.db.WithContext(ctx).Model(&models.UpgradeSpace{}).Where("upgrade_id = ?", id)
	if status != "" {
		if !slices.Contains(upgradeSpaceStatuses, status) {
			return nil, models.FieldError("status", "état inconnu %q : %s", status, strings.Join(upgradeSpaceStatuses, ", "))
		}
		q = q.Where("status = ?", status)
	}
	var resp listResponse[upgradeSpaceView]
	if err := q.Count(&resp.Total).Error; err != nil {
		return nil, err
	}
	var rows []models.UpgradeSpace
	if err := q.Order("slug").Offset((page - 1) * pageSize).Limit(pageSize).Find(&rows).Error; err != nil {
		return nil, err
	}
	resp.Page, resp.Items = page, make([]upgradeSpaceView, 0, len(rows))
	for _, r := range rows {
		resp.Items = append(resp.Items, upgradeSpaceView{Slug: r.Slug, Status: r.Status, From: r.From, To: r.To,
			DowntimeSeconds: (time.Duration(r.DowntimeMS) * time.Millisecond).Seconds(), Error: r.Error, UpdatedAt: r.UpdatedAt})
	}
	return &resp, nil
}
