package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"jardinier/activities/database"
	"jardinier/activities/mail"
	"jardinier/activities/nextcloud"
	"jardinier/activities/storage"
	"jardinier/models"
)

// Lifecycle is the state of a space in service under the inactivity policy.
type Lifecycle struct {
	Exempt bool
	// LastActivity is the last activity seen on the space; the countdown runs from it.
	LastActivity time.Time
	// Countdown numbers the countdowns: each activity seen, or reactivation, starts a new
	// one (it tells their mails apart).
	Countdown int
	// Done counts the policy steps done in this countdown (0: watching; 3: deactivated).
	Done int
	// DoneAt is when each step was done in this countdown, indexed like models.Steps.
	DoneAt [5]time.Time
	// Promised holds the dates the mails of this countdown announced for later steps: a
	// step never happens before the date a mail gave, whatever the policy says since.
	Promised [5]time.Time
	// Deactivations numbers the deactivations: a reactivation link works for the
	// current one only.
	Deactivations int
	// Request is the contact's last request for a confirmation link.
	Request ContactRequest
	// RetryAt delays the next step after the last activity could not be read, or
	// while the step is held.
	RetryAt time.Time
	// HeldStep is the deactivation or deletion held since HeldSince because no
	// warning of this countdown reached anyone; "" when nothing is held.
	HeldStep  models.Step
	HeldSince time.Time
	// Upgrades are the fleet upgrades' requests waiting for their turn.
	Upgrades []UpgradeSpaceRequest
}

// ContactRequest is a confirmation link mailed to the contact.
type ContactRequest struct {
	Seq    int
	Action string // UpdateDeactivate, UpdateDelete, UpdateReactivate, RequestChangeContact or UpdateOffice
	At     time.Time
	Used   bool
	// Suite is the office suite asked for, with UpdateOffice.
	Suite models.OfficeSuite `json:",omitempty"`
}

// Business durations of the space's life in service.
const (
	// confirmationValidity is how long the contact's confirmation link works.
	confirmationValidity = 7 * 24 * time.Hour
	// requestInterval keeps a stranger from flooding a contact with confirmation mails.
	requestInterval = 10 * time.Minute
	// unreadableRetry is how long to wait after the last activity could not be read:
	// no step is taken on a space whose use is unknown.
	unreadableRetry = 6 * time.Hour
)

// action is an update on the space in service waiting for the main loop.
type action struct {
	update string
	in     ActionInput
	req    ContactRequestInput
	done   bool
	result ActionResult
	mailed bool
	// confirm is a click on a link of a change of address (UpdateConfirmContact);
	// changed says the change is made, failure why it could not be.
	confirm ConfirmContactInput
	changed bool
	failure error
	office  OfficeInput // UpdateOffice's
	// err is what the handler answers when the action could not be done (an office
	// switch undone, limits not applied); the space's life goes on.
	err error
	// limits is the input of UpdateSetLimits, limitsResult its answer.
	limits       SetLimitsInput
	limitsResult SetLimitsResult
	// dropped is the answer of an action the run ended without taking (finish).
	dropped error
}

func (s *space) registerActionHandlers(ctx workflow.Context) error {
	for _, name := range []string{UpdateDeactivate, UpdateReactivate, UpdateDelete, UpdateExempt, UpdateUnexempt} {
		err := workflow.SetUpdateHandlerWithOptions(ctx, name,
			func(ctx workflow.Context, in ActionInput) (ActionResult, error) {
				a := &action{update: name, in: in}
				return a.result, s.enqueue(ctx, a)
			},
			workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, in ActionInput) error {
				return s.validateAction(name, in)
			}})
		if err != nil {
			return fmt.Errorf("register %s update: %w", name, err)
		}
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateContactRequest,
		func(ctx workflow.Context, in ContactRequestInput) (ContactRequestResult, error) {
			a := &action{update: UpdateContactRequest, req: in}
			err := s.enqueue(ctx, a)
			return ContactRequestResult{Mailed: a.mailed}, err
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, in ContactRequestInput) error {
			return s.validateContactRequest(ctx, in)
		}})
}

// enqueue hands an action to the main loop and waits until it is recorded.
func (s *space) enqueue(ctx workflow.Context, a *action) error {
	s.action = a
	if err := workflow.Await(ctx, func() bool { return a.done }); err != nil {
		return err
	}
	a.result.Status = s.st.Status
	return a.dropped
}

// busy says the main loop cannot take an action now: one waits for it, or the run is
// ending and an action taken in would wait for ever.
func (s *space) busy() bool { return s.action != nil || s.closing }

// validateAction refuses an action that does not fit the space's status, or a link of
// the contact's that is not the current one; a refused update leaves no trace.
func (s *space) validateAction(update string, in ActionInput) error {
	if in.Actor == "" {
		return refuseField("actor", "l'auteur de l'action est obligatoire")
	} else if in.Actor != models.ActorContact && in.Reason == "" {
		return refuseField("reason", "la raison est obligatoire")
	} else if err := checkReason(in.Reason); err != nil {
		return err
	} else if s.busy() {
		return refuse(ErrTypeBusy, "une autre action est en cours sur cet espace, réessayez dans un instant")
	} else if err := checkTransition(update, s.in.Slug, s.st.Status); err != nil {
		return err
	}
	switch update {
	case UpdateReactivate:
		if in.Actor == models.ActorContact && in.TokenSeq != s.st.Lifecycle.Deactivations {
			return refuse(ErrTypeStaleLink, "ce lien de réactivation n'est plus valable : il a déjà servi ou une désactivation plus récente l'a remplacé")
		}
		return nil
	case UpdateExempt, UpdateUnexempt:
		if s.st.Lifecycle.Exempt == (update == UpdateExempt) {
			return refuse(ErrTypeNotAllowed, "l'espace %q est déjà %s", s.in.Slug, map[bool]string{true: "exempté", false: "soumis à la règle d'inactivité"}[s.st.Lifecycle.Exempt])
		} else if in.Actor == models.ActorContact {
			return refuseField("actor", "seuls les modérateurs peuvent exempter un espace")
		}
		return nil
	}
	if in.Actor == models.ActorContact {
		r := s.st.Lifecycle.Request
		if r.Action != update || r.Seq != in.TokenSeq || r.Used {
			return refuse(ErrTypeStaleLink, "ce lien de confirmation n'est plus valable : il a déjà servi ou une demande plus récente l'a remplacé")
		}
	}
	return nil
}

func (s *space) validateContactRequest(ctx workflow.Context, in ContactRequestInput) error {
	if in.Action != UpdateDeactivate && in.Action != UpdateDelete && in.Action != UpdateReactivate &&
		in.Action != RequestChangeContact && in.Action != UpdateOffice {
		return refuseField("action", "%q n'est pas une demande possible", in.Action)
	} else if in.Action == RequestChangeContact && in.NewEmail == "" {
		return refuseField("new_email", "la nouvelle adresse de contact est obligatoire")
	} else if err := s.validateOfficeRequest(in); err != nil {
		return err
	} else if err := checkTransition(in.Action, s.in.Slug, s.st.Status); err != nil {
		return err
	} else if s.busy() {
		return refuse(ErrTypeBusy, "une autre action est en cours sur cet espace")
	} else if !s.st.Lifecycle.Request.At.IsZero() && workflow.Now(ctx).Sub(s.st.Lifecycle.Request.At) < requestInterval {
		return refuse(ErrTypeTooSoon, "un lien de confirmation vient d'être envoyé")
	}
	return nil
}

// live carries a space in service: it waits for the next step of the inactivity policy
// or for an action, whichever comes first, and continues as new at each phase change.
func (s *space) live(ctx workflow.Context) (SpaceResult, error) {
	logger := workflow.GetLogger(ctx)
	// Runs from before policy versions neither listen for policy changes nor project
	// their plan when the policy they read changes.
	s.listen = workflow.GetVersion(ctx, changePolicySignals, workflow.DefaultVersion, 1) >= 1
	if _, err := s.loadPolicy(ctx); err != nil {
		return SpaceResult{}, err
	}
	if err := s.projectSchedule(ctx); err != nil {
		return SpaceResult{}, err
	}
	woken := func() bool {
		return s.action != nil || s.upgradeWaiting(ctx) || s.policyWaiting(ctx) || s.limitsWaiting(ctx)
	}
	phase := s.st.Status // a run for each phase
	for {
		sc := s.schedule()
		acted := false
		switch {
		case sc == nil: // exempt: only an action moves the space
			if err := workflow.Await(ctx, woken); err != nil {
				return SpaceResult{}, err
			}
			acted = true
		default:
			wait := sc.NextStepAt.Sub(workflow.Now(ctx))
			if wait > 0 {
				// The timer's summary is metadata: histories recorded before it replay.
				ok, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: wait,
					TimerOptions: workflow.TimerOptions{Summary: stepTimerSummary(sc)}}, woken)
				if err != nil {
					return SpaceResult{}, err
				}
				acted = ok
			} else {
				acted = woken()
			}
		}
		var err error
		switch {
		case acted && s.action != nil:
			err = s.act(ctx)
		case acted && s.upgradeWaiting(ctx):
			err = s.upgradeNext(ctx)
		case acted && s.limitsWaiting(ctx):
			err = s.limitsNext(ctx)
		case acted:
			// A new policy: plan again at once, the timer of the old plan is dropped.
			err = s.replan(ctx)
			if err == nil {
				continue
			}
		default:
			err = s.step(ctx, sc.NextStep)
		}
		if err != nil {
			return SpaceResult{}, err
		}
		if s.st.Status == models.StatusDeleted {
			logger.Info("Space deleted", "slug", s.in.Slug)
			return s.finish(ctx)
		}
		if s.action != nil {
			continue // taken in during the step: it waits for this run's main loop
		} else if s.st.Status != phase || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return SpaceResult{}, s.continueAsNew(ctx)
		}
		changed, err := s.loadPolicy(ctx)
		if err != nil {
			return SpaceResult{}, err
		}
		if changed && s.listen {
			if err := s.projectSchedule(ctx); err != nil {
				return SpaceResult{}, err
			}
		}
	}
}

// deletedAdminsChange is the change ID (workflow.GetVersion) of the runs that tell the
// space's Nextcloud admins, as well as its contact, that it was deleted: their
// addresses are read before the instance is removed.
const deletedAdminsChange = "deleted-mail-admins"

// changePolicySignals is the change ID (workflow.GetVersion) of the space workflows
// that listen for SignalPolicyChanged and project their whole plan.
const changePolicySignals = "policy-signals"

// policyWaiting reports whether a policy change waits in its signal channel.
func (s *space) policyWaiting(ctx workflow.Context) bool {
	return s.listen && workflow.GetSignalChannel(ctx, SignalPolicyChanged).Len() > 0
}

// replan takes the newest policy of the waiting signals and, if it is newer than the
// one in force, plans the next steps with it and projects the new plan. The rule of
// dueAt holds across the change: never before a date a mail announced, never sooner
// after the step before than the new policy's gap.
func (s *space) replan(ctx workflow.Context) error {
	ch := workflow.GetSignalChannel(ctx, SignalPolicyChanged)
	changed := false
	for {
		var sig PolicyChanged
		if !ch.ReceiveAsync(&sig) {
			break
		}
		if sig.Version > s.policyVersion && sig.Policy.Validate() == nil {
			s.policy, s.policyVersion, changed = sig.Policy, sig.Version, true
		}
	}
	if !changed {
		return nil
	}
	workflow.GetLogger(ctx).Info("Inactivity policy changed, next steps planned again", "slug", s.in.Slug,
		"version", s.policyVersion, "policy", s.policy.String())
	return s.projectSchedule(ctx)
}

// loadPolicy reads the inactivity policy in force, and says whether it differs from
// the one the workflow followed. A version older than one a signal brought is ignored.
func (s *space) loadPolicy(ctx workflow.Context) (changed bool, err error) {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var dba *database.Activities
	var res database.CurrentPolicyResult
	if err := workflow.ExecuteLocalActivity(lctx, dba.CurrentPolicy, database.CurrentPolicyInput{}).Get(ctx, &res); err != nil {
		return false, fmt.Errorf("read the inactivity policy: %w", err)
	}
	if res.Version < s.policyVersion {
		return false, nil
	}
	changed = res.Policy != s.policy
	s.policy, s.policyVersion = res.Policy, res.Version
	return changed, nil
}

// dueAt is when step i of the policy is due in this countdown if nothing happens: its
// offset after the last activity, but never sooner after the step before than the
// policy's gap between them, nor sooner than a mail announced.
func (s *space) dueAt(i int) time.Time {
	t := s.st.Lifecycle.LastActivity.Add(s.policy.Offsets[i])
	if i > 0 {
		prev := s.st.Lifecycle.DoneAt[i-1]
		if prev.IsZero() {
			prev = s.dueAt(i - 1)
		}
		t = later(t, prev.Add(s.policy.Offsets[i]-s.policy.Offsets[i-1]))
	}
	return later(t, s.st.Lifecycle.Promised[i])
}

// schedule is the next step and the deletion date; nil when nothing is planned.
func (s *space) schedule() *database.Schedule {
	if s.st.Lifecycle.Exempt || s.st.Lifecycle.Countdown == 0 || s.st.Lifecycle.Done >= len(models.Steps) ||
		(s.st.Status != models.StatusActive && s.st.Status != models.StatusDeactivated) {
		return nil
	}
	next := s.st.Lifecycle.Done
	sc := &database.Schedule{NextStep: models.Steps[next],
		NextStepAt: later(s.dueAt(next), s.st.Lifecycle.RetryAt), DeletionAt: later(s.dueAt(len(models.Steps)-1), s.st.Lifecycle.RetryAt),
		PolicyVersion: s.policyVersion, HeldStep: s.st.Lifecycle.HeldStep, HeldSince: s.st.Lifecycle.HeldSince}
	sc.Plan = s.plan(sc)
	return sc
}

// plan is every step ahead on the date the workflow will take it if nothing happens:
// the next step on the schedule's date, each later one by the rule of dueAt from the
// date of the one before. The deletion may come after the schedule's DeletionAt, which
// the mails announce: that one is a date it never comes before.
func (s *space) plan(sc *database.Schedule) []models.PlannedStep {
	l, off := s.st.Lifecycle, s.policy.Offsets
	out := []models.PlannedStep{{Step: sc.NextStep, At: sc.NextStepAt}}
	prev := sc.NextStepAt
	for i := l.Done + 1; i < len(models.Steps); i++ {
		at := later(later(l.LastActivity.Add(off[i]), prev.Add(off[i]-off[i-1])), l.Promised[i])
		out = append(out, models.PlannedStep{Step: models.Steps[i], At: at})
		prev = at
	}
	return out
}

// projectSchedule writes the schedule to the projection, for the list screens and the
// policy preview.
func (s *space) projectSchedule(ctx workflow.Context) error {
	// The reason of the last transition goes with the status, which the projection
	// writes together: without it the reason shown would be lost at each new plan.
	return s.record(ctx, database.RecordTransitionInput{Status: s.st.Status, Reason: s.st.Reason,
		Schedule: orEmpty(s.schedule()), LastActivityAt: s.st.Lifecycle.LastActivity})
}

// step runs a policy step whose time has come, after checking the space was not used
// since the countdown started.
func (s *space) step(ctx workflow.Context, step models.Step) error {
	logger := workflow.GetLogger(ctx)
	last, err := s.readLastActivity(ctx)
	if err != nil {
		// Never act on a space whose use is unknown: try again later.
		logger.Error("Last activity unreadable, step postponed", "slug", s.in.Slug, "step", step, "error", err)
		s.st.Lifecycle.RetryAt = workflow.Now(ctx).Add(unreadableRetry)
		return s.projectSchedule(ctx)
	}
	s.st.Lifecycle.RetryAt = time.Time{}
	if last.After(s.st.Lifecycle.LastActivity) {
		if s.st.Status == models.StatusDeactivated {
			// A deactivated space cannot be used; if it was, keep it rather than delete it.
			return s.reactivate(ctx, ActionInput{Actor: models.ActorSystem, Reason: "activité constatée sur l'espace désactivé"}, last)
		}
		// Used since: back to watching, without a mail.
		s.newCountdown(last)
		return s.record(ctx, database.RecordTransitionInput{Status: s.st.Status, Actor: models.ActorSystem, Action: ActionActivitySeen,
			ClearSteps: true, LastActivityAt: last, Schedule: s.schedule()})
	}
	now := workflow.Now(ctx)
	i := models.StepIndex(step)
	if (step == models.StepDeactivation || step == models.StepDeletion) && s.delivering(ctx) {
		if held, err := s.holdUnwarned(ctx, step); held || err != nil {
			return err
		}
	}
	switch step {
	case models.StepDeactivation:
		return s.deactivate(ctx, ActionInput{Actor: models.ActorSystem, Reason: "inactivité"})
	case models.StepDeletion:
		return s.delete(ctx, ActionInput{Actor: models.ActorSystem, Reason: "inactivité"})
	}
	s.st.Lifecycle.DoneAt[i], s.st.Lifecycle.Done = now, i+1
	sc := s.promise()
	kind := map[models.Step]mail.Kind{models.StepFirstWarning: mail.KindFirstWarning,
		models.StepSecondWarning: mail.KindSecondWarning, models.StepDeletionNotice: mail.KindDeletionNotice}[step]
	if err := s.record(ctx, database.RecordTransitionInput{Status: s.st.Status, Actor: models.ActorSystem, Action: string(step),
		Step: step, Schedule: sc}); err != nil {
		return err
	}
	s.mailPeople(ctx, mail.SendInput{Kind: kind, Seq: s.st.Lifecycle.Countdown, LastActivityAt: s.st.Lifecycle.LastActivity,
		NextStepAt: sc.NextStepAt, DeletionAt: sc.DeletionAt, TokenSeq: s.st.Lifecycle.Deactivations, TokenExpires: sc.DeletionAt})
	return nil
}

// promise fixes the dates of the next step and of the deletion, which the coming mail
// announces, and returns the schedule.
func (s *space) promise() *database.Schedule {
	sc := s.schedule()
	if sc != nil {
		s.st.Lifecycle.Promised[s.st.Lifecycle.Done] = sc.NextStepAt
		s.st.Lifecycle.Promised[len(models.Steps)-1] = sc.DeletionAt
	}
	return sc
}

// newCountdown starts watching again from the last activity.
func (s *space) newCountdown(last time.Time) {
	s.st.Lifecycle.LastActivity = last
	s.st.Lifecycle.Countdown++
	s.st.Lifecycle.Done, s.st.Lifecycle.DoneAt, s.st.Lifecycle.Promised = 0, [5]time.Time{}, [5]time.Time{}
	s.st.Lifecycle.HeldStep, s.st.Lifecycle.HeldSince = "", time.Time{}
}

func (s *space) readLastActivity(ctx workflow.Context) (time.Time, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second, // one query of the space's database
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 10 * time.Second, MaximumInterval: 10 * time.Minute,
			MaximumAttempts: 20}, // about two hours of trying before the step is postponed
	})
	var na *nextcloud.Activities
	var res nextcloud.LastActivityResult
	err := workflow.ExecuteActivity(actx, na.ReadLastActivity, nextcloud.LastActivityInput{Slug: s.in.Slug}).Get(ctx, &res)
	return res.LastActivity, err
}

// act applies the pending action and answers its update.
func (s *space) act(ctx workflow.Context) error {
	a := s.action
	var err error
	switch a.update {
	case UpdateDeactivate:
		err = s.deactivate(ctx, a.in)
	case UpdateReactivate:
		err = s.reactivate(ctx, a.in, workflow.Now(ctx))
	case UpdateDelete:
		err = s.delete(ctx, a.in)
	case UpdateExempt, UpdateUnexempt:
		err = s.setExempt(ctx, a.in, a.update == UpdateExempt)
	case UpdateRestore:
		err = s.restore(ctx)
	case UpdateContactRequest:
		a.mailed = true
		err = s.mailConfirmation(ctx, a.req)
	case UpdateConfirmContact:
		err = s.confirmContact(ctx, a)
	case UpdateOffice:
		// A switch that failed was undone: the space goes on with its suite, and the
		// update answers the failure.
		a.err = s.switchOffice(ctx, a.office)
	case UpdateSetLimits:
		err = s.setLimits(ctx, a)
	}
	a.done, s.action = true, nil
	return err
}

// inService runs an activity that must succeed for the space to change state: it
// retries as long as it takes, since giving up half-way would leave a space neither in
// nor out of service.
func inService(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		HeartbeatTimeout:    heartbeatTimeout, // half in service meanwhile: retried soon after a lost worker
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: 10 * time.Minute},
	})
}

func (s *space) deactivate(ctx workflow.Context, in ActionInput) error {
	var na *nextcloud.Activities
	if err := workflow.ExecuteActivity(inService(ctx), na.SetSpaceDeactivated,
		nextcloud.SetDeactivatedInput{Slug: s.in.Slug, Deactivated: true}).Get(ctx, nil); err != nil {
		return fmt.Errorf("deactivate %q: %w", s.in.Slug, err)
	}
	i := models.StepIndex(models.StepDeactivation)
	s.st.Lifecycle.DoneAt[i], s.st.Lifecycle.Done = workflow.Now(ctx), i+1
	s.st.Lifecycle.Deactivations++
	s.endHold() // deactivated by hand while held: what was held is done, the deletion is next
	if in.Actor == models.ActorContact {
		s.st.Lifecycle.Request.Used = true
	}
	// An exempt space has nothing planned: deactivated by hand, it keeps no date.
	sc := orEmpty(s.promise())
	if err := s.record(ctx, database.RecordTransitionInput{Status: models.StatusDeactivated, Actor: in.Actor,
		Action: UpdateDeactivate, Reason: in.Reason, Schedule: sc}); err != nil {
		return err
	}
	reason := in.Reason
	if in.Actor == models.ActorSystem {
		reason = "" // the mail explains inactivity itself
	}
	s.mailPeople(ctx, mail.SendInput{Kind: mail.KindDeactivated, Seq: s.st.Lifecycle.Deactivations, Actor: in.Actor, Reason: reason,
		LastActivityAt: s.st.Lifecycle.LastActivity, NextStepAt: sc.NextStepAt, DeletionAt: sc.DeletionAt,
		TokenSeq: s.st.Lifecycle.Deactivations, TokenExpires: sc.DeletionAt})
	return nil
}

func (s *space) reactivate(ctx workflow.Context, in ActionInput, activity time.Time) error {
	// A space deactivated during a fleet upgrade comes back on the fleet's release,
	// upgraded while it is still out of service (space_upgrade.go).
	var snapshot string
	if workflow.GetVersion(ctx, reactivateCatchUpChange, workflow.DefaultVersion, 1) == 1 {
		var err error
		if snapshot, err = s.catchUp(ctx); err != nil {
			return err
		}
	}
	var na *nextcloud.Activities
	if err := workflow.ExecuteActivity(inService(ctx), na.SetSpaceDeactivated,
		nextcloud.SetDeactivatedInput{Slug: s.in.Slug, Deactivated: false}).Get(ctx, nil); err != nil {
		return fmt.Errorf("reactivate %q: %w", s.in.Slug, err)
	}
	seq := s.st.Lifecycle.Deactivations
	s.st.Lifecycle.Deactivations++ // the link of this deactivation has served
	s.newCountdown(activity)
	if err := s.record(ctx, database.RecordTransitionInput{Status: models.StatusActive, Actor: in.Actor,
		Action: UpdateReactivate, Reason: in.Reason, ClearSteps: true, LastActivityAt: activity,
		Schedule: s.schedule()}); err != nil {
		return err
	}
	s.mail(ctx, mail.SendInput{Kind: mail.KindReactivated, Seq: seq, Actor: in.Actor, Reason: in.Reason})
	if snapshot != "" {
		s.afterUpgrade(ctx, snapshot) // in service now
	}
	return nil
}

func (s *space) setExempt(ctx workflow.Context, in ActionInput, exempt bool) error {
	s.st.Lifecycle.Exempt = exempt
	if exempt {
		s.endHold() // the moderators decided
	}
	if !exempt {
		// The countdown starts again from now, with every warning it implies.
		s.newCountdown(later(s.st.Lifecycle.LastActivity, workflow.Now(ctx)))
		if s.st.Status == models.StatusDeactivated {
			i := models.StepIndex(models.StepDeactivation)
			s.st.Lifecycle.DoneAt[i], s.st.Lifecycle.Done = workflow.Now(ctx), i+1
		}
	}
	action := map[bool]string{true: UpdateExempt, false: UpdateUnexempt}[exempt]
	return s.record(ctx, database.RecordTransitionInput{Status: s.st.Status, Actor: in.Actor, Action: action,
		Reason: in.Reason, Exempt: &exempt, ClearSteps: !exempt, Schedule: orEmpty(s.schedule())})
}

// delete removes the space and all its data: instance, configuration, database, bucket
// with every object version, then the personal data; a tombstone row stays.
func (s *space) delete(ctx workflow.Context, in ActionInput) error {
	logger := workflow.GetLogger(ctx)
	logger.Info("Deleting space", "slug", s.in.Slug, "actor", in.Actor, "reason", in.Reason)
	if in.Actor == models.ActorContact {
		s.st.Lifecycle.Request.Used = true
	}
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	var admins []models.Sealed
	if workflow.GetVersion(ctx, deletedAdminsChange, workflow.DefaultVersion, 1) >= 1 && s.delivering(ctx) {
		admins = s.readAdmins(dctx) // while the instance is there to tell them
	}
	var (
		na *nextcloud.Activities
		sa *storage.Activities
	)
	if err := workflow.ExecuteActivity(inService(dctx), na.RemoveSpace, nextcloud.RemoveInput{Slug: s.in.Slug}).Get(ctx, nil); err != nil {
		return fmt.Errorf("remove instance of %q: %w", s.in.Slug, err)
	}
	bctx := workflow.WithActivityOptions(dctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Hour, // 100,000+ objects; progress survives a retry
		HeartbeatTimeout:    bucketHeartbeatTimeout,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: 10 * time.Minute},
	})
	if err := workflow.ExecuteActivity(bctx, sa.DeleteBucket, storage.DeleteBucketInput{Bucket: s.in.Bucket}).Get(ctx, nil); err != nil {
		return fmt.Errorf("delete bucket of %q: %w", s.in.Slug, err)
	}
	// The mails need the contact's address and the organisation's name: before the purge.
	now := workflow.Now(ctx)
	contactReason := in.Reason
	if in.Actor == models.ActorSystem {
		contactReason = "" // the mail explains inactivity itself
	}
	s.mailWithAdmins(ctx, mail.SendInput{Kind: mail.KindDeleted, Actor: in.Actor, Reason: contactReason, DeletionAt: now}, admins)
	s.mail(ctx, mail.SendInput{Kind: mail.KindDeletedModerators, Actor: in.Actor, Reason: in.Reason, DeletionAt: now})
	if err := s.record(ctx, database.RecordTransitionInput{Status: models.StatusDeleted, Actor: in.Actor,
		Action: UpdateDelete, Reason: in.Reason, Schedule: &database.Schedule{}}); err != nil {
		return err
	}
	lctx := workflow.WithLocalActivityOptions(dctx, workflow.LocalActivityOptions{StartToCloseTimeout: 30 * time.Second})
	var dba *database.Activities
	return workflow.ExecuteLocalActivity(lctx, dba.PurgeApplication, database.PurgeApplicationInput{
		Slug: s.in.Slug, ApplicationID: s.in.ApplicationID}).Get(ctx, nil)
}

// mailConfirmation sends the contact a signed link to confirm deactivating or
// deleting the space.
func (s *space) mailConfirmation(ctx workflow.Context, req ContactRequestInput) error {
	now := workflow.Now(ctx)
	s.st.Lifecycle.Request = ContactRequest{Seq: s.st.Lifecycle.Request.Seq + 1, Action: req.Action, At: now, Suite: req.Suite}
	kind := mail.KindConfirmDeactivation
	switch req.Action {
	case UpdateDelete:
		kind = mail.KindConfirmDeletion
	case UpdateOffice:
		kind = mail.KindConfirmOffice
	}
	if err := s.record(ctx, database.RecordTransitionInput{Status: s.st.Status, Actor: models.ActorContact,
		Action: ActionRequestPrefix + req.Action}); err != nil {
		return err
	}
	if req.Action == RequestChangeContact {
		return s.askContactChange(ctx, req)
	}
	if req.Action == UpdateReactivate {
		// A new copy of the current deactivation's link, for a contact who lost the
		// mail: it is the link that mail carried, valid until the deletion.
		sc := orEmpty(s.schedule())
		s.mail(ctx, mail.SendInput{Kind: mail.KindReactivationLink, Seq: s.st.Lifecycle.Request.Seq,
			DeletionAt: sc.DeletionAt, TokenSeq: s.st.Lifecycle.Deactivations, TokenExpires: sc.DeletionAt})
		return nil
	}
	s.mail(ctx, mail.SendInput{Kind: kind, Seq: s.st.Lifecycle.Request.Seq, TokenSeq: s.st.Lifecycle.Request.Seq,
		TokenExpires: now.Add(confirmationValidity), Suite: req.Suite})
	return nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func orEmpty(sc *database.Schedule) *database.Schedule {
	if sc == nil {
		return &database.Schedule{}
	}
	return sc
}
