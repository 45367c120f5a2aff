package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"jardinier/activities/database"
	"jardinier/activities/nextcloud"
	"jardinier/models"
)

// Changes of running space workflows for the versioned limits (workflow.GetVersion).
const (
	// limitsDefaultsChange: provisioning applies the fleet's defaults in force (read
	// from the database) rather than the built-in ones, and projects them.
	limitsDefaultsChange = "limits-defaults"
	// limitsRequestsChange: the space applies the rollouts' requests and a moderator's
	// limits of its own.
	limitsRequestsChange = "limits-requests"
)

// limitsAttempts bounds the tries of applying limits: past that the space keeps its
// old limits, the rollout counts a failure and a moderator's update is answered with
// the error, so that an instance that does not answer never blocks the space's life.
const limitsAttempts = 5

// registerLimitsHandler registers the moderator's update that sets the space's own
// limits or takes it back to the fleet's defaults. It goes through the main loop as
// the other actions do, so it never runs during an upgrade or a deactivation.
func (s *space) registerLimitsHandler(ctx workflow.Context) error {
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateSetLimits,
		func(ctx workflow.Context, in SetLimitsInput) (SetLimitsResult, error) {
			a := &action{update: UpdateSetLimits, limits: in}
			if err := s.enqueue(ctx, a); err != nil {
				return SetLimitsResult{}, err
			}
			return a.limitsResult, a.err
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, in SetLimitsInput) error {
			return s.validateLimits(in)
		}})
	if err != nil {
		return fmt.Errorf("register %s update: %w", UpdateSetLimits, err)
	}
	return nil
}

// validateLimits refuses a moderator's limits that no space may have, without an
// author or a reason, or that the space's status does not take.
func (s *space) validateLimits(in SetLimitsInput) error {
	switch {
	case in.Actor == "":
		return refuseField("actor", "l'auteur de l'action est obligatoire")
	case strings.TrimSpace(in.Reason) == "":
		return refuseField("reason", "la raison est obligatoire")
	}
	if err := checkReason(in.Reason); err != nil {
		return err
	}
	if in.Limits != nil {
		if err := in.Limits.Validate(); err != nil {
			var fe *models.Error
			if errors.As(err, &fe) {
				return refuseField(fe.Field, "%s", fe.Message)
			}
			return err
		}
	}
	if s.busy() {
		return refuse(ErrTypeBusy, "une autre action est en cours sur cet espace, réessayez dans un instant")
	}
	return checkTransition(UpdateSetLimits, s.in.Slug, s.st.Status)
}

// setLimits applies a moderator's limits, or the fleet's defaults in force, and
// records them in the timeline. A failure to apply them answers the update with the
// error and records nothing: the space keeps its limits.
func (s *space) setLimits(ctx workflow.Context, a *action) error {
	_ = workflow.GetVersion(ctx, limitsRequestsChange, workflow.DefaultVersion, 1)
	in := a.limits
	next := s.st.Limits
	if in.Limits != nil {
		next.Applied, next.Own = *in.Limits, true
	} else {
		cur, err := s.currentLimits(ctx)
		if err != nil {
			a.err = refuse(ErrTypeNotApplied, "les limites par défaut n'ont pas pu être lues : %s", failureMessage(err))
			return nil
		}
		next.Applied, next.Own, next.Version = cur.Limits, false, max(next.Version, cur.Version)
	}
	if err := s.applyLimits(ctx, next.Applied); err != nil {
		workflow.GetLogger(ctx).Error("Limits not applied", "slug", s.in.Slug, "error", err)
		a.err = refuse(ErrTypeNotApplied, "les limites n'ont pas pu être appliquées à l'espace, rien n'a changé : %s", failureMessage(err))
		return nil
	}
	next.Waiting = s.st.Limits.Waiting
	s.st.Limits = next
	a.limitsResult = SetLimitsResult{Limits: next.Applied, Own: next.Own}
	return s.record(ctx, database.RecordTransitionInput{Status: s.st.Status, Actor: in.Actor, Action: UpdateSetLimits,
		Reason: strings.TrimSpace(in.Reason), Limits: s.limitsProjection()})
}

// limitsProjection is what the projection shows of the space's limits.
func (s *space) limitsProjection() *database.SpaceLimits {
	return &database.SpaceLimits{Limits: s.st.Limits.Applied, Own: s.st.Limits.Own, Version: s.st.Limits.Version}
}

// currentLimits reads the fleet's default limits in force.
func (s *space) currentLimits(ctx workflow.Context) (database.CurrentLimitsResult, error) {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: limitsAttempts},
	})
	var dba *database.Activities
	var cur database.CurrentLimitsResult
	err := workflow.ExecuteLocalActivity(lctx, dba.CurrentLimits, database.CurrentLimitsInput{}).Get(ctx, &cur)
	return cur, err
}

// applyLimits enforces limits on the instance, trying a few times.
func (s *space) applyLimits(ctx workflow.Context, limits models.Limits) error {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: nextcloudShortTimeout,
		HeartbeatTimeout:    heartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: limitsAttempts, MaximumInterval: time.Minute,
			NonRetryableErrorTypes: []string{nextcloud.ErrTypePermanent, nextcloud.ErrTypeNotInstalled}},
	})
	var na *nextcloud.Activities
	return workflow.ExecuteActivity(actx, na.ApplySpaceLimits, nextcloud.ApplyLimitsInput{Slug: s.in.Slug, Limits: limits}).Get(ctx, nil)
}

// provisionLimits is what a new space is provisioned with: the fleet's defaults in
// force. Runs from before the defaults were versioned apply the built-in ones.
func (s *space) provisionLimits(ctx workflow.Context) (models.Limits, int, error) {
	if workflow.GetVersion(ctx, limitsDefaultsChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return models.DefaultLimits(), 0, nil
	}
	cur, err := s.currentLimits(ctx)
	if err != nil {
		return models.Limits{}, 0, fmt.Errorf("read the default limits: %w", err)
	}
	return cur.Limits, cur.Version, nil
}

// limitsWaiting reports whether a rollout's request waits: in its signal channel, or
// kept in the state until the space is active again.
func (s *space) limitsWaiting(ctx workflow.Context) bool {
	return workflow.GetSignalChannel(ctx, SignalApplyLimits).Len() > 0 ||
		(s.st.Limits.Waiting != nil && s.st.Status == models.StatusActive)
}

// pendingLimits moves the rollouts' requests waiting in the signal channel into the
// state, keeping the newest version only: an older one is answered as skipped at once.
// None is lost across Continue-As-New or while the space is busy.
func (s *space) pendingLimits(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, SignalApplyLimits)
	for {
		var req ApplyLimitsRequest
		if !ch.ReceiveAsync(&req) {
			return
		}
		w := s.st.Limits.Waiting
		switch {
		case req.Version < s.st.Limits.Version || (w != nil && req.Version < w.Request.Version):
			s.reportLimits(ctx, req, LimitsOutcomeSkipped, "une version plus récente des limites par défaut est déjà connue de l'espace")
		default:
			if w != nil && !w.Answered {
				s.reportLimits(ctx, w.Request, LimitsOutcomeSkipped, fmt.Sprintf("remplacée par la version %d", req.Version))
			}
			s.st.Limits.Waiting = &WaitingLimits{Request: req}
		}
	}
}

// limitsNext takes the newest rollout request: a deactivated space answers that it
// will apply it once reactivated, an active one applies it now, unless it has limits
// of its own, and answers the rollout.
func (s *space) limitsNext(ctx workflow.Context) error {
	s.pendingLimits(ctx)
	w := s.st.Limits.Waiting
	if w == nil {
		return nil
	}
	_ = workflow.GetVersion(ctx, limitsRequestsChange, workflow.DefaultVersion, 1)
	if s.st.Status != models.StatusActive {
		if !w.Answered {
			s.reportLimits(ctx, w.Request, LimitsOutcomeDeferred, fmt.Sprintf("l'espace est à l'état %s : appliquées à sa réactivation", s.st.Status))
			w.Answered = true
		}
		return nil
	}
	s.st.Limits.Waiting = nil
	req := w.Request
	outcome, failure := s.applyDefaults(ctx, req)
	if !w.Answered {
		s.reportLimits(ctx, req, outcome, failure)
	}
	return nil
}

// applyDefaults applies a version of the fleet's defaults to an active space and says
// what came of it.
func (s *space) applyDefaults(ctx workflow.Context, req ApplyLimitsRequest) (outcome, failure string) {
	if req.Version < s.st.Limits.Version {
		return LimitsOutcomeSkipped, fmt.Sprintf("l'espace a déjà la version %d des limites par défaut", s.st.Limits.Version)
	}
	if s.st.Limits.Own {
		s.st.Limits.Version = req.Version
		if err := s.record(ctx, database.RecordTransitionInput{Status: s.st.Status, Reason: s.st.Reason, Limits: s.limitsProjection()}); err != nil {
			workflow.GetLogger(ctx).Error("Limits version not projected", "slug", s.in.Slug, "error", err)
		}
		return LimitsOutcomeKept, ""
	}
	if s.st.Limits.Applied == req.Limits && s.st.Limits.Version == req.Version {
		return LimitsOutcomeApplied, "" // a repeated request
	}
	if err := s.applyLimits(ctx, req.Limits); err != nil {
		workflow.GetLogger(ctx).Error("Default limits not applied", "slug", s.in.Slug, "version", req.Version, "error", err)
		return LimitsOutcomeFailed, failureMessage(err)
	}
	s.st.Limits.Applied, s.st.Limits.Version = req.Limits, req.Version
	reason := fmt.Sprintf("limites par défaut, version %d : %s", req.Version, req.Reason)
	if err := s.record(ctx, database.RecordTransitionInput{Status: s.st.Status, Actor: req.Actor, Action: ActionLimitsApplied,
		Reason: reason, Limits: s.limitsProjection()}); err != nil {
		// The instance holds the new limits; the projection catches up at the next change.
		workflow.GetLogger(ctx).Error("Default limits not recorded", "slug", s.in.Slug, "error", err)
	}
	return LimitsOutcomeApplied, ""
}

// skipLimits answers the waiting request when the space ends.
func (s *space) skipLimits(ctx workflow.Context) {
	s.pendingLimits(ctx)
	if w := s.st.Limits.Waiting; w != nil && !w.Answered {
		s.reportLimits(ctx, w.Request, LimitsOutcomeSkipped, fmt.Sprintf("l'espace est à l'état %s", s.st.Status))
	}
	s.st.Limits.Waiting = nil
}

// reportLimits answers a rollout; one that is over (aborted) is only logged.
func (s *space) reportLimits(ctx workflow.Context, req ApplyLimitsRequest, outcome, failure string) {
	rep := LimitsReport{Slug: s.in.Slug, Version: req.Version, Outcome: outcome, Error: failure}
	if err := workflow.SignalExternalWorkflow(ctx, req.RolloutID, "", SignalLimitsApplied, rep).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("Limits report not delivered", "slug", s.in.Slug, "rollout", req.RolloutID, "error", err)
	}
}
