package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"jardinier/activities/database"
	"jardinier/activities/mail"
	"jardinier/models"
)

// SpaceInput starts the workflow of one space, on submission of its application. It
// carries no personal data: activities read the application by ID.
type SpaceInput struct {
	ApplicationID    string
	Slug             string
	OfficeSuite      models.OfficeSuite
	Bucket           string // the space's S3 bucket
	Domain           string // <slug>.<base domain>
	NextcloudVersion string // the version new spaces are installed with
	// State carries the space over Continue-As-New; nil when the application is new.
	State *SpaceState
}

// SpaceState is what a space workflow carries from one run to the next.
type SpaceState struct {
	Status           models.Status
	NextcloudVersion string
	Reason           string
	LastError        string
	Steps            []Step
	Seq, Holds       int
	Failures         int
	Lifecycle        Lifecycle
}

// SpaceResult is how a space's workflow ended.
type SpaceResult struct{ Status models.Status }

// DecisionInput is a moderator's decision on an application.
type DecisionInput struct {
	Moderator string
	Reason    string
}

// DecisionResult is the status of the space right after the decision was recorded.
type DecisionResult struct{ Status models.Status }

// Step is one transition in a space's life, as the status query reports it.
type Step struct {
	Status models.Status
	Actor  string
	Reason string
	At     time.Time
}

// SpaceStatus answers QueryStatus.
type SpaceStatus struct {
	Slug             string
	Status           models.Status
	NextcloudVersion string
	Reason           string // of the last transition
	LastError        string // of the last failed provisioning
	Steps            []Step
	Exempt           bool
	LastActivity     time.Time   // the last activity seen on the space
	NextStep         models.Step // the next step of the inactivity policy, "" if none
	NextStepAt       time.Time
	DeletionAt       time.Time
}

// maxSteps bounds the steps the status query reports (the most recent ones): a space
// lives for years, and the audit trail in the database keeps them all.
const maxSteps = 50

// maxReasonLength bounds a moderator's reason: it goes into mails and history.
const maxReasonLength = 2000

// SpaceWorkflow carries one space from its application to its end.
func SpaceWorkflow(ctx workflow.Context, in SpaceInput) (SpaceResult, error) {
	s := &space{in: in, status: models.StatusSubmitted}
	if st := in.State; st != nil {
		s.status, s.version, s.reason, s.lastError = st.Status, st.NextcloudVersion, st.Reason, st.LastError
		s.steps, s.seq, s.holds, s.failures, s.life = st.Steps, st.Seq, st.Holds, st.Failures, st.Lifecycle
		s.in.State = nil
	}
	if err := s.registerHandlers(ctx); err != nil {
		return SpaceResult{}, err
	}
	return s.run(ctx)
}

// space is the state of one space workflow.
type space struct {
	in        SpaceInput
	status    models.Status
	version   string
	reason    string
	lastError string
	steps     []Step
	seq       int // transitions recorded, for idempotent audit keys
	holds     int // on_hold mails sent
	failures  int // failed provisionings
	pending   *decision
	life      Lifecycle
	action    *action // a pending action on the space in service
	policy    models.InactivityPolicy
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
	return s.registerActionHandlers(ctx)
}

func (s *space) statusQuery() (SpaceStatus, error) {
	st := SpaceStatus{Slug: s.in.Slug, Status: s.status, NextcloudVersion: s.version,
		Reason: s.reason, LastError: s.lastError, Steps: s.steps, Exempt: s.life.Exempt,
		LastActivity: s.life.LastActivity}
	if sc := s.schedule(); sc != nil {
		st.NextStep, st.NextStepAt, st.DeletionAt = sc.NextStep, sc.NextStepAt, sc.DeletionAt
	}
	return st, nil
}

// allowedFrom lists, for each decision, the statuses it may be taken in.
var allowedFrom = map[string][]models.Status{
	UpdateAccept: {models.StatusSubmitted, models.StatusOnHold, models.StatusProvisioningFailed},
	UpdateHold:   {models.StatusSubmitted},
	UpdateReject: {models.StatusSubmitted, models.StatusOnHold, models.StatusProvisioningFailed},
	// The applicant withdraws while nobody has accepted the application yet.
	UpdateWithdraw: {models.StatusSubmitted, models.StatusOnHold},
}

// decisionValidator refuses a decision that does not fit the current status; a refused
// update leaves no trace in history.
func (s *space) decisionValidator(update string) func(workflow.Context, DecisionInput) error {
	return func(ctx workflow.Context, in DecisionInput) error {
		if in.Moderator == "" {
			return errors.New("moderator: le nom du modérateur est obligatoire")
		} else if len([]rune(in.Reason)) > maxReasonLength {
			return fmt.Errorf("reason: ne peut dépasser %d caractères", maxReasonLength)
		} else if s.pending != nil {
			return errors.New("une autre décision est en cours d'application pour cet espace")
		}
		for _, st := range allowedFrom[update] {
			if s.status == st {
				return nil
			}
		}
		return fmt.Errorf("transition refusée : l'espace %q est à l'état %s, où « %s » n'est pas possible",
			s.in.Slug, s.status, update)
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
	if s.seq == 0 {
		if err := s.transition(ctx, models.StatusSubmitted, ActorApplicant, "submit", ""); err != nil {
			return SpaceResult{}, err
		}
		s.mail(ctx, mail.SendInput{Kind: mail.KindReceipt})
	}
	for {
		switch s.status {
		case models.StatusSubmitted, models.StatusOnHold, models.StatusProvisioningFailed:
			if err := s.decide(ctx); err != nil {
				return SpaceResult{}, err
			}
		case models.StatusRejected, models.StatusDeleted:
			return s.finish(ctx)
		case models.StatusActive, models.StatusDeactivated:
			if s.life.Countdown == 0 {
				// Just provisioned: the review is over, the life in service starts in a
				// run of its own.
				s.life.LastActivity, s.life.Countdown = workflow.Now(ctx), 1
				return SpaceResult{}, s.continueAsNew(ctx)
			}
			return s.live(ctx)
		default:
			return SpaceResult{}, fmt.Errorf("space %q: no step for status %s", s.in.Slug, s.status)
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
	d.done, d.result = true, s.status
	s.pending = nil
}

func (s *space) hold(ctx workflow.Context, d *decision) error {
	if err := s.transition(ctx, models.StatusOnHold, d.in.Moderator, UpdateHold, d.in.Reason); err != nil {
		return err
	}
	s.settle(d)
	s.mail(ctx, mail.SendInput{Kind: mail.KindOnHold, Seq: s.holds, Reason: d.in.Reason})
	s.holds++
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
	if err := s.transition(ctx, models.StatusRejected, ActorApplicant, UpdateWithdraw, ""); err != nil {
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
		s.failures++
		s.lastError, s.version = err.Error(), "" // the undo removed the instance
		workflow.GetLogger(ctx).Error("Provisioning failed and was undone", "slug", s.in.Slug, "error", err)
		if err := s.transition(ctx, models.StatusProvisioningFailed, ActorSystem, "provisioning_failed", s.lastError); err != nil {
			return err
		}
		s.mail(ctx, mail.SendInput{Kind: mail.KindProvisioningFailed, Seq: s.failures - 1, Detail: s.lastError})
		return nil
	}
	if err := s.transition(ctx, models.StatusActive, ActorSystem, "provisioned", ""); err != nil {
		return err
	}
	s.mail(ctx, mail.SendInput{Kind: mail.KindAccepted, AdminUser: adminUser, Password: password})
	return nil
}

// finish lets pending update handlers complete, and answers waiting upgrade requests,
// before the workflow ends.
func (s *space) finish(ctx workflow.Context) (SpaceResult, error) {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return SpaceResult{}, err
	}
	s.skipUpgrades(ctx)
	return SpaceResult{Status: s.status}, nil
}

// continueAsNew starts a fresh run carrying the state, once every update handler has
// answered: a space lives for years, a run for one phase of it.
func (s *space) continueAsNew(ctx workflow.Context) error {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	s.pendingUpgrades(ctx) // signals would not survive the new run
	in := s.in
	in.State = &SpaceState{Status: s.status, NextcloudVersion: s.version, Reason: s.reason,
		LastError: s.lastError, Steps: s.steps, Seq: s.seq, Holds: s.holds, Failures: s.failures,
		Lifecycle: s.life}
	return workflow.NewContinueAsNewError(ctx, SpaceWorkflow, in)
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
		s.seq++
		rec.EventKey = fmt.Sprintf("%s/%d", s.in.ApplicationID, s.seq)
	}
	rec.Slug, rec.ApplicationID, rec.At, rec.NextcloudVersion = s.in.Slug, s.in.ApplicationID, now, s.version
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: time.Minute},
	})
	var dba *database.Activities
	if err := workflow.ExecuteLocalActivity(lctx, dba.RecordTransition, rec).Get(ctx, nil); err != nil {
		return fmt.Errorf("record %s of %q: %w", rec.Status, s.in.Slug, err)
	}
	if rec.Action == "" {
		return nil
	}
	changed := s.status != rec.Status
	s.status, s.reason = rec.Status, rec.Reason
	s.steps = append(s.steps, Step{Status: rec.Status, Actor: rec.Actor, Reason: rec.Reason, At: now})
	if len(s.steps) > maxSteps {
		s.steps = s.steps[len(s.steps)-maxSteps:]
	}
	if !changed && s.seq > 1 {
		return nil
	}
	attrs := []temporal.SearchAttributeUpdate{SearchAttrSlug.ValueSet(s.in.Slug), SearchAttrStatus.ValueSet(string(rec.Status))}
	if s.version != "" {
		attrs = append(attrs, SearchAttrNextcloudVersion.ValueSet(s.version))
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
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        5 * time.Second,
			MaximumInterval:        10 * time.Minute, // a mail server down for hours delays mails, loses none
			NonRetryableErrorTypes: []string{mail.ErrTypeNoRecipient, mail.ErrTypeTemplate, mail.ErrTypeRefused, mail.ErrTypeSecret},
		},
	})
	var ma *mail.Activities
	if err := workflow.ExecuteActivity(actx, ma.Send, in).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("Mail not sent", "slug", s.in.Slug, "kind", in.Kind, "error", err)
	}
}
