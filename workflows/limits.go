package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"jardinier/activities/database"
)

// Sizes and business rules of a limits rollout.
const (
	// limitsWindow bounds the spaces applying the limits at once when the admin does
	// not say: each runs a few occ commands, and the shared web nodes serve the spaces
	// meanwhile.
	limitsWindow = 20
	// limitsAnswerTimeout: a space that has not answered by then counts as failed and
	// the rollout goes on. A space busy with an upgrade answers once it is done.
	limitsAnswerTimeout = 2 * time.Hour
	// limitsTick is how often the rollout looks for spaces that do not answer.
	limitsTick = 5 * time.Minute
	// limitsHistoryLimit: past this many events the rollout continues as new.
	limitsHistoryLimit = 10_000
)

// LimitsRolloutWorkflow applies a version of the fleet's default limits to every space
// in service, a sliding window of spaces at a time: each space applies them inside its
// own workflow (a space with limits of its own keeps them, a deactivated one applies
// them at its reactivation) and answers. Admins pause, resume and abort it; it pauses
// by itself when failures pass the threshold.
func LimitsRolloutWorkflow(ctx workflow.Context, in LimitsRolloutInput) (LimitsProgress, error) {
	r := &limitsRollout{in: in}
	if err := r.register(ctx); err != nil {
		return LimitsProgress{}, err
	}
	if in.State != nil {
		r.st, r.in.State = *in.State, nil
	} else if err := r.start(ctx); err != nil {
		return LimitsProgress{}, err
	}
	return r.run(ctx)
}

// limitsRollout is the state of one limits rollout.
type limitsRollout struct {
	in LimitsRolloutInput
	st LimitsRolloutState
}

func (r *limitsRollout) register(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryLimitsProgress, func() (LimitsProgress, error) {
		return r.progress(workflow.Now(ctx)), nil
	}); err != nil {
		return fmt.Errorf("register progress query: %w", err)
	}
	controls := map[string]struct {
		from []string
		to   string
	}{
		UpdateLimitsPause:  {[]string{LimitsRunning}, LimitsPaused},
		UpdateLimitsResume: {[]string{LimitsPaused}, LimitsRunning},
		UpdateLimitsAbort:  {[]string{LimitsRunning, LimitsPaused}, LimitsAborted},
	}
	for _, name := range workflow.DeterministicKeys(controls) {
		c := controls[name]
		err := workflow.SetUpdateHandlerWithOptions(ctx, name,
			func(ctx workflow.Context, in LimitsControlInput) (LimitsControlResult, error) {
				r.st.Status, r.st.PauseReason = c.to, ""
				if c.to == LimitsPaused {
					r.st.PauseReason = "mis en pause par " + in.Actor
					if in.Reason != "" {
						r.st.PauseReason += " : " + in.Reason
					}
				}
				workflow.GetLogger(ctx).Info("Limits rollout control", "control", name, "actor", in.Actor, "reason", in.Reason)
				return LimitsControlResult{Status: r.st.Status}, nil
			},
			workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, in LimitsControlInput) error {
				if in.Actor == "" {
					return refuseField("actor", "l'auteur est obligatoire")
				} else if err := checkReason(in.Reason); err != nil {
					return err
				}
				if !slices.Contains(c.from, r.st.Status) {
					return refuse(ErrTypeNotAllowed, "le déploiement des limites est à l'état %s : « %s » n'est pas possible", r.st.Status, name)
				}
				return nil
			}})
		if err != nil {
			return fmt.Errorf("register %s update: %w", name, err)
		}
	}
	return nil
}

// start counts the spaces in service, for the progress.
func (r *limitsRollout) start(ctx workflow.Context) error {
	r.st = LimitsRolloutState{Status: LimitsRunning, Running: map[string]time.Time{}, StartedAt: workflow.Now(ctx)}
	var dba *database.Activities
	var n database.CountLimitsSpacesResult
	if err := workflow.ExecuteLocalActivity(fleetDBContext(ctx), dba.CountLimitsSpaces, database.CountLimitsSpacesInput{}).Get(ctx, &n); err != nil {
		return fmt.Errorf("count spaces: %w", err)
	}
	r.st.Total = n.Spaces
	workflow.GetLogger(ctx).Info("Limits rollout started", "version", r.in.Version, "limits", r.in.Limits.String(), "spaces", n.Spaces)
	return nil
}

func (r *limitsRollout) run(ctx workflow.Context) (LimitsProgress, error) {
	reports := workflow.GetSignalChannel(ctx, SignalLimitsApplied)
	for {
		r.receive(reports)
		if r.st.Status == LimitsAborted && len(r.st.Running) == 0 {
			break
		}
		if r.over() {
			r.st.Status = LimitsDone
			break
		}
		if err := r.tell(ctx); err != nil {
			return LimitsProgress{}, err
		}
		if r.over() {
			continue // the last spaces were gone: over now, not at the next tick
		}
		if info := workflow.GetInfo(ctx); info.GetCurrentHistoryLength() > limitsHistoryLimit || info.GetContinueAsNewSuggested() {
			return LimitsProgress{}, r.continueAsNew(ctx, reports)
		}
		status := r.st.Status
		if _, err := workflow.AwaitWithOptions(ctx, waitAnswers(limitsTick, "des espaces sur leurs nouvelles limites"), func() bool {
			return reports.Len() > 0 || r.st.Status != status
		}); err != nil {
			return LimitsProgress{}, err
		}
		r.expire(ctx)
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return LimitsProgress{}, err
	}
	p := r.progress(workflow.Now(ctx))
	workflow.GetLogger(ctx).Info("Limits rollout over", "version", r.in.Version, "status", p.Status,
		"applied", p.Applied, "kept", p.Kept, "deferred", p.Deferred, "skipped", p.Skipped, "failed", p.Failed)
	return p, nil
}

// over reports whether every space was read, told and has answered.
func (r *limitsRollout) over() bool {
	return r.st.ListDone && len(r.st.Pending) == 0 && len(r.st.Running) == 0
}

// tell signals spaces while the rollout runs and the window has room, reading pages
// as needed, and again as long as spaces turn out gone (their slot is free at once).
func (r *limitsRollout) tell(ctx workflow.Context) error {
	window := r.in.Concurrency
	if window <= 0 {
		window = limitsWindow
	}
	for r.st.Status == LimitsRunning {
		var slugs []string
		for len(r.st.Running)+len(slugs) < window {
			if len(r.st.Pending) == 0 && !r.st.ListDone {
				if err := r.readPage(ctx); err != nil {
					return err
				}
			}
			if len(r.st.Pending) == 0 {
				break
			}
			slugs = append(slugs, r.st.Pending[0])
			r.st.Pending = r.st.Pending[1:]
		}
		if len(slugs) == 0 || r.signal(ctx, slugs) == 0 {
			return nil
		}
	}
	return nil
}

// readPage reads the next page of spaces in service.
func (r *limitsRollout) readPage(ctx workflow.Context) error {
	size := r.in.PageSize
	if size <= 0 {
		size = policyPageSize
	}
	var dba *database.Activities
	var page database.ListPolicySpacesResult
	if err := workflow.ExecuteLocalActivity(fleetDBContext(ctx), dba.ListPolicySpaces,
		database.ListPolicySpacesInput{After: r.st.After, Limit: size}).Get(ctx, &page); err != nil {
		return fmt.Errorf("list spaces: %w", err)
	}
	r.st.Pending = page.Slugs
	r.st.ListDone = len(page.Slugs) < size
	if len(page.Slugs) > 0 {
		r.st.After = page.Slugs[len(page.Slugs)-1]
	}
	return nil
}

// signal asks spaces to apply the limits, every signal out together in one workflow
// task, and returns how many turned out gone.
func (r *limitsRollout) signal(ctx workflow.Context, slugs []string) (gone int) {
	req := ApplyLimitsRequest{RolloutID: workflow.GetInfo(ctx).WorkflowExecution.ID, Version: r.in.Version,
		Limits: r.in.Limits, Actor: r.in.Actor, Reason: r.in.Reason}
	futures := make([]workflow.Future, len(slugs))
	for i, slug := range slugs {
		futures[i] = workflow.SignalExternalWorkflow(ctx, SpaceWorkflowID(slug), "", SignalApplyLimits, req)
	}
	now := workflow.Now(ctx)
	for i, slug := range slugs {
		// The only failure of a signal is a workflow that is not running: the space
		// was deleted since its page was read.
		if err := futures[i].Get(ctx, nil); err != nil {
			gone++
			r.st.Counts.Skipped++
			continue
		}
		r.st.Running[slug] = now
	}
	return gone
}

// receive takes the spaces' answers.
func (r *limitsRollout) receive(reports workflow.ReceiveChannel) {
	for {
		var rep LimitsReport
		if !reports.ReceiveAsync(&rep) {
			return
		}
		if _, ok := r.st.Running[rep.Slug]; !ok || rep.Version != r.in.Version {
			continue // a late answer of a space already counted as failed
		}
		delete(r.st.Running, rep.Slug)
		r.account(rep)
	}
}

// account counts one space's answer and pauses the rollout when failures pass the
// threshold.
func (r *limitsRollout) account(rep LimitsReport) {
	c := &r.st.Counts
	switch rep.Outcome {
	case LimitsOutcomeApplied:
		c.Applied++
	case LimitsOutcomeKept:
		c.Kept++
	case LimitsOutcomeDeferred:
		c.Deferred++
	case LimitsOutcomeSkipped:
		c.Skipped++
	default:
		c.Failed++
		if len(r.st.Failures) < maxListedSlugs {
			r.st.Failures = append(r.st.Failures, LimitsFailure{Slug: rep.Slug, Error: rep.Error})
		}
	}
	finished := c.Applied + c.Kept + c.Failed
	if r.st.Status == LimitsRunning && r.in.MaxFailureRatio > 0 && finished >= minFinishedForRatio &&
		float64(c.Failed)/float64(finished) > r.in.MaxFailureRatio {
		r.st.Status = LimitsPaused
		r.st.PauseReason = fmt.Sprintf("seuil d'échecs dépassé : %d sur %d", c.Failed, finished)
	}
}

// expire counts the spaces that have not answered for too long as failed.
func (r *limitsRollout) expire(ctx workflow.Context) {
	now := workflow.Now(ctx)
	for _, slug := range workflow.DeterministicKeys(r.st.Running) {
		if now.Sub(r.st.Running[slug]) > limitsAnswerTimeout {
			delete(r.st.Running, slug)
			r.account(LimitsReport{Slug: slug, Outcome: LimitsOutcomeFailed, Error: "pas de réponse de l'espace"})
		}
	}
}

func (r *limitsRollout) continueAsNew(ctx workflow.Context, reports workflow.ReceiveChannel) error {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	r.receive(reports) // signals would not survive the new run
	in := r.in
	st := r.st
	in.State = &st
	return workflow.NewContinueAsNewError(ctx, LimitsRolloutWorkflowType, in)
}

// progress is what the query answers.
func (r *limitsRollout) progress(now time.Time) LimitsProgress {
	c := r.st.Counts
	answered := c.Applied + c.Kept + c.Deferred + c.Skipped + c.Failed
	p := LimitsProgress{Version: r.in.Version, Limits: r.in.Limits, Status: r.st.Status, PauseReason: r.st.PauseReason,
		LimitsCounts: c, Running: len(r.st.Running), Failures: r.st.Failures, StartedAt: r.st.StartedAt}
	// Spaces that start serving during the rollout are read too: the total grows.
	p.Remaining = len(r.st.Pending)
	if !r.st.ListDone {
		p.Remaining = max(p.Remaining, r.st.Total-answered-p.Running)
	}
	p.Total = answered + p.Running + p.Remaining
	if answered > 0 && p.Status == LimitsRunning {
		perSpace := now.Sub(r.st.StartedAt) / time.Duration(answered)
		p.EstimatedEnd = now.Add(perSpace * time.Duration(p.Remaining+p.Running))
	}
	return p
}
