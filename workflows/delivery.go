package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"jardinier/activities/database"
	"jardinier/activities/mail"
	"jardinier/activities/nextcloud"
	"jardinier/models"
)

// deliveryChange is the change ID (workflow.GetVersion) of the runs that send the
// inactivity mails to the space's Nextcloud admins as well as its contact, and that
// hold a deactivation or deletion when no warning of the countdown reached anyone.
const deliveryChange = "warnings-delivered"

// heldRecheck is how often a held step looks at the space again: one read of its
// activity a day, which ends the hold if someone came back.
const heldRecheck = 24 * time.Hour

// delivering reports whether this run follows deliveryChange.
func (s *space) delivering(ctx workflow.Context) bool {
	return workflow.GetVersion(ctx, deliveryChange, workflow.DefaultVersion, 1) >= 1
}

// mailPeople sends an inactivity mail to the contact and, in runs that follow
// deliveryChange, to each of the space's admins: the people who use the space, who
// may be reached when the contact's mailbox is dead.
func (s *space) mailPeople(ctx workflow.Context, in mail.SendInput) {
	if !s.delivering(ctx) {
		s.mail(ctx, in)
		return
	}
	s.mailWithAdmins(ctx, in, s.readAdmins(ctx))
}

// mailWithAdmins sends a mail to the contact, then a copy to each admin's address.
func (s *space) mailWithAdmins(ctx workflow.Context, in mail.SendInput, admins []models.Sealed) {
	s.mail(ctx, in)
	for _, to := range admins {
		in.AdminTo = to
		s.mail(ctx, in)
	}
}

// readAdmins reads the admins' addresses, sealed; none if they cannot be read, as the
// contact's mail goes out anyway and a step no warning reached waits.
func (s *space) readAdmins(ctx workflow.Context) []models.Sealed {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second, // one query of the space's database
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 10 * time.Second, MaximumInterval: 5 * time.Minute,
			MaximumAttempts: 10}, // about half an hour, then the mail goes to the contact alone
	})
	var na *nextcloud.Activities
	var res nextcloud.AdminEmailsResult
	if err := workflow.ExecuteActivity(actx, na.ReadAdminEmails, nextcloud.AdminEmailsInput{Slug: s.in.Slug}).Get(ctx, &res); err != nil {
		workflow.GetLogger(ctx).Error("Admin addresses unreadable: the mail goes to the contact alone", "slug", s.in.Slug, "error", err)
		return nil
	}
	return res.Addresses
}

// countdownMails names the mails of the current countdown that warn of step.
func (s *space) countdownMails(step models.Step) []mail.MailRef {
	l := s.st.Lifecycle
	refs := []mail.MailRef{{Kind: mail.KindFirstWarning, Seq: l.Countdown}, {Kind: mail.KindSecondWarning, Seq: l.Countdown}}
	if step == models.StepDeletion {
		if !l.DoneAt[models.StepIndex(models.StepDeactivation)].IsZero() {
			refs = append(refs, mail.MailRef{Kind: mail.KindDeactivated, Seq: l.Deactivations})
		}
		refs = append(refs, mail.MailRef{Kind: mail.KindDeletionNotice, Seq: l.Countdown})
	}
	return refs
}

// holdUnwarned checks, before the policy deactivates or deletes the space, that a
// warning of the countdown reached someone (accepted by the relay and not bounced for
// good since). If none did, the step is held: recorded once with the moderators'
// notice (console home, digest), looked at again every heldRecheck. held is true when
// the step must not be taken now.
func (s *space) holdUnwarned(ctx workflow.Context, step models.Step) (held bool, err error) {
	logger := workflow.GetLogger(ctx)
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: time.Minute, MaximumAttempts: 10},
	})
	var ma *mail.Activities
	var res mail.DeliveredResult
	now := workflow.Now(ctx)
	l := &s.st.Lifecycle
	if err := workflow.ExecuteLocalActivity(lctx, ma.Delivered, mail.DeliveredInput{Slug: s.in.Slug,
		ApplicationID: s.in.ApplicationID, Mails: s.countdownMails(step)}).Get(ctx, &res); err != nil {
		// Never act without knowing someone was told: try again later.
		logger.Error("Deliveries unreadable, step postponed", "slug", s.in.Slug, "step", step, "error", err)
		l.RetryAt = now.Add(unreadableRetry)
		return true, s.projectSchedule(ctx)
	}
	if res.Delivered > 0 {
		if l.HeldStep != "" {
			logger.Info("A warning reached someone: the held step goes on", "slug", s.in.Slug, "step", step)
		}
		l.HeldStep, l.HeldSince = "", time.Time{}
		return false, nil
	}
	first := l.HeldStep != step
	if first {
		l.HeldStep, l.HeldSince = step, now
	}
	l.RetryAt = now.Add(heldRecheck)
	if !first {
		return true, s.projectSchedule(ctx)
	}
	logger.Warn("No warning reached anyone: step held for the moderators", "slug", s.in.Slug, "step", step,
		"accepted", res.Accepted, "bounced", res.Bounced)
	return true, s.record(ctx, s.heldTransition(step, res))
}

// heldTransition is the audit event of a step held for want of a delivered warning;
// its reason is what the console shows beside the space.
func (s *space) heldTransition(step models.Step, res mail.DeliveredResult) database.RecordTransitionInput {
	reason := fmt.Sprintf("aucun avertissement n'a atteint personne : %d accepté(s) par le relais, %d revenu(s) en erreur définitive",
		res.Accepted, res.Bounced)
	return database.RecordTransitionInput{Status: s.st.Status, Actor: models.ActorSystem, Action: ActionPolicyHeld,
		Step: "", Reason: reason, Schedule: s.schedule()}
}

// endHold forgets a held step, and the daily recheck that came with it.
func (s *space) endHold() {
	if l := &s.st.Lifecycle; l.HeldStep != "" {
		l.HeldStep, l.HeldSince, l.RetryAt = "", time.Time{}, time.Time{}
	}
}
