package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"jardinier/models"
	"jardinier/workflows"
)

// policyView is a version of the inactivity policy.
type policyView struct {
	Version   int                    `json:"version"`
	Policy    string                 `json:"policy"` // the syntax of INACTIVITY_POLICY
	Offsets   map[models.Step]string `json:"offsets"`
	Actor     string                 `json:"actor"`
	Reason    string                 `json:"reason"`
	CreatedAt time.Time              `json:"created_at"`
}

func policyViewOf(v models.PolicyVersion) (policyView, error) {
	p, err := v.Offsets()
	if err != nil {
		return policyView{}, err
	}
	view := policyView{Version: v.Version, Policy: v.Policy, Offsets: make(map[models.Step]string, len(models.Steps)),
		Actor: v.Actor, Reason: v.Reason, CreatedAt: v.CreatedAt}
	for i, step := range models.Steps {
		view.Offsets[step] = models.FormatPolicyDuration(p.Offsets[i])
	}
	return view, nil
}

// policyRequest is an admin's new inactivity policy.
type policyRequest struct {
	Policy string `json:"policy"`
	Reason string `json:"reason"`
}

// policyChangeResponse is the version in force after a change, and the workflow that
// tells every space of it.
type policyChangeResponse struct {
	policyView
	Changed bool   `json:"changed"` // false: it was the policy in force already
	Rollout string `json:"rollout"`
}

// getPolicy shows the inactivity policy in force.
func (s *Server) getPolicy(c *gin.Context) {
	v, err := models.CurrentPolicy(c.Request.Context(), s.db, s.cfg.Policy)
	if err == nil {
		var view policyView
		if view, err = policyViewOf(v); err == nil {
			c.JSON(http.StatusOK, view)
			return
		}
	}
	s.writeError(c, err)
}

// putPolicy changes the inactivity policy.
func (s *Server) putPolicy(c *gin.Context) {
	var req policyRequest
	if err := decodeJSON(c.Request, &req); err != nil {
		s.writeError(c, err)
		return
	}
	admin := currentModerator(c)
	v, changed, err := s.changePolicy(c.Request.Context(), models.PolicyChange{Policy: req.Policy, Reason: req.Reason, Actor: admin.Name})
	if err != nil {
		s.writeError(c, err)
		return
	}
	view, err := policyViewOf(v)
	if err != nil {
		s.writeError(c, err)
		return
	}
	s.logger.Info("Inactivity policy changed", "version", v.Version, "policy", v.Policy, "admin", admin.Name, "changed", changed)
	c.JSON(http.StatusOK, policyChangeResponse{policyView: view, Changed: changed,
		Rollout: workflows.PolicyRolloutWorkflowID(v.Version)})
}

// changePolicy records a new version of the inactivity policy, then starts the
// workflow that tells every space of it; each plans its next step again at once.
// Given the policy in force, it records nothing and starts that version's rollout if
// it never started (a change whose rollout could not start is sent again this way).
// The JSON API and the console both change the policy through it.
func (s *Server) changePolicy(ctx context.Context, ch models.PolicyChange) (models.PolicyVersion, bool, error) {
	v, changed, err := models.ChangePolicy(ctx, s.db, s.cfg.Policy, ch)
	if err != nil {
		return v, false, err
	}
	p, err := v.Offsets()
	if err != nil {
		return v, false, err
	}
	_, err = s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.PolicyRolloutWorkflowID(v.Version),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		StaticSummary:            fmt.Sprintf("Inactivity policy %d: %s, by %s", v.Version, v.Policy, v.Actor),
	}, workflows.PolicyRolloutWorkflowType, workflows.PolicyRolloutInput{
		Change: workflows.PolicyChanged{Version: v.Version, Policy: p}})
	if err != nil && !temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		s.logger.Error("Start the rollout of the inactivity policy", "version", v.Version, "error", err)
		return v, changed, models.Errorf(models.EUNAVAILABLE,
			"la règle est enregistrée (version %d) mais n'a pas pu être envoyée aux espaces : renvoyez la même demande", v.Version)
	}
	return v, changed, nil
}
