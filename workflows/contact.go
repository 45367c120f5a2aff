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

// ContactChange is a change of the contact's address under way. It takes effect only
// once the current address confirmed it, then the new one: a stranger who knows the
// space's name can neither take it over nor make its mails go elsewhere.
type ContactChange struct {
	// Seq is the contact request that started it (Lifecycle.Request.Seq): both links
	// carry it, and a later change replaces this one.
	Seq int
	// NewEmail is the new address, sealed.
	NewEmail models.Sealed
	// CurrentConfirmed: the current address confirmed; the link to the new one is mailed.
	CurrentConfirmed bool
}

// contactChangeVersion is the change ID (workflow.GetVersion) of the code of the change
// of address. Runs from before it never reach that code (their validators refuse the
// request and the update, and a refused update leaves no trace); the marker tells the
// runs that took it apart for later changes of this code.
const contactChangeVersion = "contact-change"

// contactActivityTimeout bounds reading or writing the contact's address: one row.
const contactActivityTimeout = 30 * time.Second

func (s *space) registerContactHandlers(ctx workflow.Context) error {
	err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateConfirmContact,
		func(ctx workflow.Context, in ConfirmContactInput) (ConfirmContactResult, error) {
			a := &action{update: UpdateConfirmContact, confirm: in}
			if err := s.enqueue(ctx, a); err != nil {
				return ConfirmContactResult{}, err
			}
			return ConfirmContactResult{Changed: a.changed}, a.failure
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, in ConfirmContactInput) error {
			return s.validateConfirmContact(in)
		}})
	if err != nil {
		return fmt.Errorf("register %s update: %w", UpdateConfirmContact, err)
	}
	return nil
}

// validateConfirmContact refuses a link of a change of address that is not the one the
// workflow expects now: of another request, already used, or the new address's before
// the current one confirmed.
func (s *space) validateConfirmContact(in ConfirmContactInput) error {
	c := s.st.ContactChange
	if in.Step != ContactStepCurrent && in.Step != ContactStepNew {
		return refuseField("step", "%q n'est pas une étape du changement d'adresse", in.Step)
	} else if s.busy() {
		return refuse(ErrTypeBusy, "une autre action est en cours sur cet espace, réessayez dans un instant")
	} else if err := checkTransition(RequestChangeContact, s.in.Slug, s.st.Status); err != nil {
		return err
	} else if c == nil || c.Seq != in.TokenSeq || c.CurrentConfirmed != (in.Step == ContactStepNew) {
		return refuse(ErrTypeStaleLink, "ce lien de changement d'adresse n'est plus valable : il a déjà servi ou une demande plus récente l'a remplacé")
	}
	return nil
}

// askContactChange starts a change of address: the contact request was just recorded,
// the link goes to the current address. It replaces a change under way.
func (s *space) askContactChange(ctx workflow.Context, req ContactRequestInput) error {
	workflow.GetVersion(ctx, contactChangeVersion, workflow.DefaultVersion, 1)
	seq := s.st.Lifecycle.Request.Seq
	s.st.ContactChange = &ContactChange{Seq: seq, NewEmail: req.NewEmail}
	s.mail(ctx, mail.SendInput{Kind: mail.KindContactChangeCurrent, Seq: seq, NewContact: req.NewEmail,
		TokenSeq: seq, TokenExpires: workflow.Now(ctx).Add(confirmationValidity)})
	return nil
}

// confirmContact takes a click on a link of the change of address: the current
// address's mails a link to the new one; the new address's makes the change, and both
// addresses are told. An error stops the workflow; a change that cannot be made is the
// update's failure.
func (s *space) confirmContact(ctx workflow.Context, a *action) error {
	workflow.GetVersion(ctx, contactChangeVersion, workflow.DefaultVersion, 1)
	c := s.st.ContactChange
	if a.confirm.Step == ContactStepCurrent {
		c.CurrentConfirmed = true
		s.mail(ctx, mail.SendInput{Kind: mail.KindContactChangeNew, Seq: c.Seq, To: c.NewEmail,
			TokenSeq: c.Seq, TokenExpires: workflow.Now(ctx).Add(confirmationValidity)})
		return nil
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: contactActivityTimeout,
		// A database down delays the change; only a missing application or a key that
		// cannot open the address refuse it for good.
		RetryPolicy: &temporal.RetryPolicy{MaximumInterval: 10 * time.Minute},
	})
	var (
		dba      *database.Activities
		previous database.ContactEmailResult
	)
	// The current address, read before it is replaced and kept (sealed) in history:
	// the mail that tells it of the change still finds it after a crash.
	err := workflow.ExecuteActivity(actx, dba.SealContactEmail, database.ContactEmailInput{ApplicationID: s.in.ApplicationID}).Get(ctx, &previous)
	if err == nil {
		err = workflow.ExecuteActivity(actx, dba.ChangeContactEmail,
			database.ChangeContactEmailInput{ApplicationID: s.in.ApplicationID, Email: c.NewEmail}).Get(ctx, nil)
	}
	s.st.ContactChange = nil
	if err != nil {
		workflow.GetLogger(ctx).Error("Contact address not changed", "slug", s.in.Slug, "error", err)
		a.failure = temporal.NewNonRetryableApplicationError("l'adresse de contact n'a pas pu être changée", ErrTypeContactChange, nil)
		return nil
	}
	if err := s.record(ctx, database.RecordTransitionInput{Status: s.st.Status, Actor: models.ActorContact,
		Action: ActionContactChanged}); err != nil {
		return err
	}
	a.changed = true
	s.mail(ctx, mail.SendInput{Kind: mail.KindContactChanged, Seq: c.Seq})
	s.mail(ctx, mail.SendInput{Kind: mail.KindContactChangedPrevious, Seq: c.Seq, To: previous.Email, NewContact: c.NewEmail})
	return nil
}

// ErrTypeContactChange: a change of address confirmed by both addresses could not be
// made (the application is gone, or the new address cannot be opened with this
// worker's key).
const ErrTypeContactChange = "ContactChangeFailed"
