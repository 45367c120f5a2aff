package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"jardinier/activities/database"
	"jardinier/activities/mail"
	"jardinier/models"
)

// maxSteps bounds the steps the status query reports (the most recent ones): a space
// lives for years, and the audit trail in the database keeps them all.
const maxSteps = 50

// SpaceWorkflow carries one space from its application to its end.
func SpaceWorkflow(ctx workflow.Context, in SpaceInput) (SpaceResult, error) {
	s := &space{in: in, st: SpaceState{Status: models.StatusSubmitted}}
	if in.State != nil {
		s.st, s.in.State = *in.State, nil
	}
	if err := s.registerHandlers(ctx); err != nil {
		return SpaceResult{}, err
	}
	// Each run shows its details from its start: a run continued as new has no static
	// summary of its own.
	workflow.SetCurrentDetails(ctx, s.details())
	return s.run(ctx)
}

// space is the state of one space workflow: what it carries from one run to the next
// (st, passed whole to Continue-As-New, so that no field is lost across runs) and what
// lives only as long as a run.
type space struct {
	in      SpaceInput
	st      SpaceState
	pending *decision
	action  *action // a pending action on the space in service
	policy  models.InactivityPolicy
	// policyVersion is the version of policy; listen is set in runs that take policy
	// changes by signal (changePolicySignals).
	policyVersion int
	listen        bool
	// shown is the schedule the Temporal UI's details show (spaceDetails).
	shown *database.Schedule
	// restoring is a restore waiting for the main loop (restore.go).
	restoring *restoreRequest
	// closing is set once the run ends or continues as new: the main loop takes no
	// more updates, so the validators refuse them (busy).
	closing bool
}

// decision is a moderator's update waiting for the main loop to apply it.
type decision struct {
	update string
	in     DecisionInput
	done   bool
	result models.Status
}

func (s *space) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, s.statusQuery); err != nil {
		return fmt.Errorf("register %s query: %w", QueryStatus, err)
	}
	for _, name := range []string{UpdateAccept, UpdateHold, UpdateReject, UpdateWithdraw} {
		err := workflow.SetUpdateHandlerWithOptions(ctx, name, s.decisionHandler(name),
			workflow.UpdateHandlerOptions{Validator: s.decisionValidator(name)})
		if err != nil {
			return fmt.Errorf("register %s update: %w", name, err)
		}
	}
	if err := s.registerOfficeHandler(ctx); err != nil {
		return err
	}
	if err := s.registerLimitsHandler(ctx); err != nil {
		return err
	}
	if err := s.registerRestoreHandler(ctx); err != nil {
		return err
	}
	if err := s.registerActionHandlers(ctx); err != nil {
		return err
	}
	return s.registerContactHandlers(ctx)
}

func (s *space) statusQuery() (SpaceStatus, error) {
	st := SpaceStatus{Slug: s.in.Slug, Status: s.st.Status, NextcloudVersion: s.st.NextcloudVersion,
		Reason: s.st.Reason, LastError: s.st.LastError, Steps: s.st.Steps, Exempt: s.st.Lifecycle.Exempt,
		LastActivity: s.st.Lifecycle.LastActivity}
	if sc := s.schedule(); sc != nil {
		st.NextStep, st.NextStepAt, st.DeletionAt, st.Plan = sc.NextStep, sc.NextStepAt, sc.DeletionAt, sc.Plan
	}
	st.PolicyVersion = s.policyVersion
	st.OfficeSuite = s.officeSuite()
	st.Limits, st.OwnLimits, st.LimitsVersion = s.st.Limits.Applied, s.st.Limits.Own, s.st.Limits.Version
	return st, nil
}

// decisionValidator refuses a decision that does not fit the current status; a refused
// update leaves no trace in history.
func (s *space) decisionValidator(update string) func(workflow.Context, DecisionInput) error {
	return func(ctx workflow.Context, in DecisionInput) error {
		if in.Moderator == "" {
			return refuseField("moderator", "le nom du modérateur est obligatoire")
		} else if err := checkReason(in.Reason); err != nil {
			return err
		} else if s.pending != nil || s.closing {
			return refuse(ErrTypeBusy, "une autre décision est en cours d'application pour cet espace")
		}
		return checkTransition(update, s.in.Slug, s.st.Status)
	}
}

// decisionHandler hands the decision to the main loop and answers once it is recorded.
func (s *space) decisionHandler(update string) func(workflow.Context, DecisionInput) (DecisionResult, error) {
	return func(ctx workflow.Context, in DecisionInput) (DecisionResult, error) {
		d := &decision{update: update, in: in}
		s.pending = d
		if err := workflow.Await(ctx, func() bool { return d.done }); err != nil {
			return DecisionResult{}, err
		}
		return DecisionResult{Status: d.result}, nil
	}
}

func (s *space) run(ctx workflow.Context) (SpaceResult, error) {
	if s.st.Seq == 0 {
		if err := s.transition(ctx, models.StatusSubmitted, models.ActorApplicant, ActionSubmit, ""); err != nil {
			return SpaceResult{}, err
		}
		s.mail(ctx, mail.SendInput{Kind: mail.KindReceipt})
	}
	for {
		switch s.st.Status {
		case models.StatusSubmitted, models.StatusOnHold, models.StatusProvisioningFailed:
			if err := s.decide(ctx); err != nil {
				return SpaceResult{}, err
			}
		case models.StatusRejected, models.StatusDeleted:
			return s.finish(ctx)
		case models.StatusActive, models.StatusDeactivated:
			if s.st.Lifecycle.Countdown == 0 {
				// Just provisioned: the review is over, the life in service starts in a
				// run of its own.
				s.st.Lifecycle.LastActivity, s.st.Lifecycle.Countdown = workflow.Now(ctx), 1
				if s.action == nil {
					return SpaceResult{}, s.continueAsNew(ctx)
				}
				// An action came in while the acceptance mail went out: this run takes
				// it first, since it waits for this run's main loop.
			}
			return s.live(ctx)
		default:
			return SpaceResult{}, fmt.Errorf("space %q: no step for status %s", s.in.Slug, s.st.Status)
		}
	}
}

// decide waits for a moderator's decision and applies it.
func (s *space) decide(ctx workflow.Context) error {
	if err := workflow.Await(ctx, func() bool { return s.pending != nil }); err != nil {
		return err
	}
	d := s.pending
	var err error
	switch d.update {
	case UpdateHold:
		err = s.hold(ctx, d)
	case UpdateReject:
		err = s.reject(ctx, d)
	case UpdateAccept:
		err = s.accept(ctx, d)
	case UpdateWithdraw:
		err = s.withdraw(ctx, d)
	}
	return err
}

// settle answers the moderator's update with the status just recorded, and lets the
// next decision in while the mails of this one go out.
func (s *space) settle(d *decision) {
	d.done, d.result = true, s.st.Status
	s.pending = nil
}

func (s *space) hold(ctx workflow.Context, d *decision) error {
	if err := s.transition(ctx, models.StatusOnHold, d.in.Moderator, UpdateHold, d.in.Reason); err != nil {
		return err
	}
	s.settle(d)
	s.mail(ctx, mail.SendInput{Kind: mail.KindOnHold, Seq: s.st.Holds, Reason: d.in.Reason})
	s.st.Holds++
	return nil
}

func (s *space) reject(ctx workflow.Context, d *decision) error {
	if err := s.transition(ctx, models.StatusRejected, d.in.Moderator, UpdateReject, d.in.Reason); err != nil {
		return err
	}
	s.settle(d)
	// The mail needs the contact's address: send it before the purge.
	s.mail(ctx, mail.SendInput{Kind: mail.KindRejected, Reason: d.in.Reason})
	return s.purgeApplication(ctx)
}

// withdraw ends an application at its applicant's request, as a rejection does: the
// slug is freed and the application's data purged, after a mail confirms it.
func (s *space) withdraw(ctx workflow.Context, d *decision) error {
	if err := s.transition(ctx, models.StatusRejected, models.ActorApplicant, UpdateWithdraw, ""); err != nil {
		return err
	}
	s.settle(d)
	s.mail(ctx, mail.SendInput{Kind: mail.KindWithdrawn})
	return s.purgeApplication(ctx)
}

// purgeApplication deletes the application and its personal data.
func (s *space) purgeApplication(ctx workflow.Context) error {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 30 * time.Second})
	var dba *database.Activities
	return workflow.ExecuteLocalActivity(lctx, dba.PurgeApplication, database.PurgeApplicationInput{
		Slug: s.in.Slug, ApplicationID: s.in.ApplicationID}).Get(ctx, nil)
}

func (s *space) accept(ctx workflow.Context, d *decision) error {
	if err := s.transition(ctx, models.StatusProvisioning, d.in.Moderator, UpdateAccept, d.in.Reason); err != nil {
		return err
	}
	s.settle(d)
	adminUser, password, err := s.provision(ctx)
	if err != nil {
		s.st.Failures++
		s.st.LastError, s.st.NextcloudVersion = failureMessage(err), "" // the undo removed the instance
		workflow.GetLogger(ctx).Error("Provisioning failed and was undone", "slug", s.in.Slug, "error", err)
		if err := s.transition(ctx, models.StatusProvisioningFailed, models.ActorSystem, ActionProvisioningFailed, s.st.LastError); err != nil {
			return err
		}
		s.mail(ctx, mail.SendInput{Kind: mail.KindProvisioningFailed, Seq: s.st.Failures - 1, Detail: s.st.LastError})
		return nil
	}
	// OfficeSuite is set when provisioning wrote the suite's settings (changeOfficeSettings).
	if err := s.record(ctx, database.RecordTransitionInput{Status: models.StatusActive, Actor: models.ActorSystem,
		Action: ActionProvisioned, OfficeSuite: s.st.OfficeSuite, OfficeFingerprint: s.st.OfficeFingerprint}); err != nil {
		return err
	}
	s.mail(ctx, mail.SendInput{Kind: mail.KindAccepted, AdminUser: adminUser, Password: password})
	return nil
}

// finish lets pending update handlers complete, and answers waiting upgrade requests,
// before the workflow ends.
func (s *space) finish(ctx workflow.Context) (SpaceResult, error) {
	s.closing = true
	if a := s.action; a != nil {
		// Taken in while the space's last step ran: there is nothing left to act on.
		a.dropped = refuse(ErrTypeNotAllowed, "l'espace %q est à l'état %s : l'action n'a plus d'objet", s.in.Slug, s.st.Status)
		a.done, s.action = true, nil
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return SpaceResult{}, err
	}
	s.skipUpgrades(ctx)
	s.skipLimits(ctx)
	return SpaceResult{Status: s.st.Status}, nil
}

// continueAsNew starts a fresh run carrying the state, once every update handler has
// answered: a space lives for years, a run for one phase of it.
func (s *space) continueAsNew(ctx workflow.Context) error {
	s.closing = true // an update taken in now would wait for a main loop that is over
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	s.pendingUpgrades(ctx) // signals would not survive the new run
	s.pendingLimits(ctx)
	in := s.in
	st := s.st
	in.State = &st
	return workflow.NewContinueAsNewError(ctx, SpaceWorkflowType, in)
}

// transition records a new status in the database projection, the audit trail, the
// search attributes and the state the query reports.
func (s *space) transition(ctx workflow.Context, status models.Status, actor, action, reason string) error {
	return s.record(ctx, database.RecordTransitionInput{Status: status, Actor: actor, Action: action, Reason: reason})
}

// record writes a transition: the status, the action that caused it (none for a mere
// update of the projection) and whatever else rec carries.
func (s *space) record(ctx workflow.Context, rec database.RecordTransitionInput) error {
	now := workflow.Now(ctx)
	if rec.Action != "" {
		s.st.Seq++
		rec.EventKey = fmt.Sprintf("%s/%d", s.in.ApplicationID, s.st.Seq)
	}
	rec.Slug, rec.ApplicationID, rec.At, rec.NextcloudVersion = s.in.Slug, s.in.ApplicationID, now, s.st.NextcloudVersion
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: time.Minute},
	})
	var dba *database.Activities
	if err := workflow.ExecuteLocalActivity(lctx, dba.RecordTransition, rec).Get(ctx, nil); err != nil {
		return fmt.Errorf("record %s of %q: %w", rec.Status, s.in.Slug, err)
	}
	if rec.Schedule != nil {
		s.shown = rec.Schedule
	}
	// What the Temporal UI shows of the space now; metadata, not a command.
	defer func() { workflow.SetCurrentDetails(ctx, s.details()) }()
	if rec.Action == "" {
		return nil
	}
	changed := s.st.Status != rec.Status
	s.st.Status, s.st.Reason = rec.Status, rec.Reason
	s.st.Steps = append(s.st.Steps, Step{Status: rec.Status, Actor: rec.Actor, Reason: rec.Reason, At: now})
	if len(s.st.Steps) > maxSteps {
		s.st.Steps = s.st.Steps[len(s.st.Steps)-maxSteps:]
	}
	if !changed && s.st.Seq > 1 {
		return nil
	}
	attrs := []temporal.SearchAttributeUpdate{SearchAttrSlug.ValueSet(s.in.Slug), SearchAttrStatus.ValueSet(string(rec.Status))}
	if s.st.NextcloudVersion != "" {
		attrs = append(attrs, SearchAttrNextcloudVersion.ValueSet(s.st.NextcloudVersion))
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, attrs...); err != nil {
		return fmt.Errorf("search attributes of %q: %w", s.in.Slug, err)
	}
	return nil
}

// mail sends one mail, retrying as long as the mail server is unreachable. A mail that
// can never be sent (no recipient any more, broken template) is logged and skipped:
// it must not stop the space's life.
func (s *space) mail(ctx workflow.Context, in mail.SendInput) {
	in.Slug, in.ApplicationID = s.in.Slug, s.in.ApplicationID
	opts := workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        5 * time.Second,
			MaximumInterval:        10 * time.Minute, // a mail server down for hours delays mails, loses none
			NonRetryableErrorTypes: []string{mail.ErrTypeNoRecipient, mail.ErrTypeTemplate, mail.ErrTypeRefused, mail.ErrTypeSecret},
		},
	}
	var ma *mail.Activities
	if err := executeMail(ctx, in.Kind, opts, ma.Send, in).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("Mail not sent", "slug", s.in.Slug, "kind", in.Kind, "error", err)
	}
}
