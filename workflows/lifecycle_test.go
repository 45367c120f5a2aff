package workflows

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"jardinier/activities/mail"
	"jardinier/models"
)

const day = 24 * time.Hour

// activeSpace is a harness whose space is accepted one hour into the test; it is active
// moments later, at activeAt, when its countdown starts.
func activeSpace(t *testing.T) (*harness, time.Time) {
	t.Helper()
	h := newHarness(t)
	h.decide(time.Hour, UpdateAccept, DecisionInput{Moderator: "camille"}, &decisionAnswer{})
	return h, testStart.Add(time.Hour)
}

// mailsOf returns the mails of one kind.
func (h *harness) mailsOf(kind mail.Kind) []mail.SendInput {
	var out []mail.SendInput
	for _, m := range h.mails {
		if m.Kind == kind {
			out = append(out, m)
		}
	}
	return out
}

// transitionAt finds the audited action and when it happened.
func (h *harness) transitionAt(action string) (time.Time, bool) {
	for _, tr := range h.transitions {
		if tr.Action == action {
			return tr.At, true
		}
	}
	return time.Time{}, false
}

// assertNear checks a date to the minute: the accept and provisioning take moments.
func assertNear(t *testing.T, want, got time.Time, msg string) {
	t.Helper()
	assert.WithinDuration(t, want, got, time.Minute, msg)
}

func TestInactivityPolicy(t *testing.T) {
	t.Run("a space nobody uses is warned at 60 and 75 days, deactivated at 90, told at 105 and deleted at 120, each mail with its dates", func(t *testing.T) {
		h, t0 := activeSpace(t)
		h.run(200 * day)

		require.NoError(t, h.err)
		assert.Equal(t, models.StatusDeleted, h.result.Status)
		for _, step := range []struct {
			action string
			at     time.Duration
		}{{"warn1", 60 * day}, {"warn2", 75 * day}, {UpdateDeactivate, 90 * day}, {"notice", 105 * day}, {UpdateDelete, 120 * day}} {
			at, ok := h.transitionAt(step.action)
			require.True(t, ok, step.action)
			assertNear(t, t0.Add(step.at), at, step.action)
		}
		assert.Equal(t, []mail.Kind{mail.KindReceipt, mail.KindAccepted, mail.KindFirstWarning, mail.KindSecondWarning,
			mail.KindDeactivated, mail.KindDeletionNotice, mail.KindDeleted, mail.KindDeletedModerators}, h.mailKinds())
		deletion := t0.Add(120 * day)
		for _, m := range []struct {
			kind mail.Kind
			next time.Time
		}{{mail.KindFirstWarning, t0.Add(75 * day)}, {mail.KindSecondWarning, t0.Add(90 * day)},
			{mail.KindDeactivated, t0.Add(105 * day)}, {mail.KindDeletionNotice, deletion}} {
			sent := h.mailsOf(m.kind)[0]
			assertNear(t, m.next, sent.NextStepAt, string(m.kind)+": date of the next step")
			assertNear(t, deletion, sent.DeletionAt, string(m.kind)+": date of deletion")
			assertNear(t, t0, sent.LastActivityAt, string(m.kind)+": last activity")
		}
		deactivated := h.mailsOf(mail.KindDeactivated)[0]
		assert.Equal(t, deletion, deactivated.TokenExpires, "the reactivation link expires at the deletion")
		assert.Equal(t, []bool{true}, h.deactivated, "the instance was put out of service")
		assert.Equal(t, 1, h.calls["RemoveSpace"])
		assert.Equal(t, 1, h.calls["DeleteBucket"])
		assert.True(t, h.purged, "personal data purged")
		assert.Equal(t, 5, h.calls["ReadLastActivity"], "one read before each step")
		assert.Equal(t, 2, h.runs, "the workflow continued as new at each phase change: review, active, deactivated")
	})

	t.Run("any activity before a step sends the space back to watching without a mail", func(t *testing.T) {
		h, t0 := activeSpace(t)
		used := t0.Add(70 * day) // after the first warning, before the second
		h.lastActivity = func(now time.Time) time.Time {
			if now.After(used) {
				return used
			}
			return time.Time{}
		}
		var st SpaceStatus
		h.queryAt(100*day, &st)
		h.run(100 * day)

		assert.Equal(t, []mail.Kind{mail.KindReceipt, mail.KindAccepted, mail.KindFirstWarning}, h.mailKinds(),
			"no second warning: the space was used")
		seen, ok := h.transitionAt("activity_seen")
		require.True(t, ok)
		assertNear(t, t0.Add(75*day), seen, "the check happened when the second warning was due")
		assert.Equal(t, models.StatusActive, st.Status)
		assert.Equal(t, models.StepFirstWarning, st.NextStep, "a new countdown starts")
		assertNear(t, used.Add(60*day), st.NextStepAt, "from the activity")
		assertNear(t, used.Add(120*day), st.DeletionAt, "deletion moves too")
		assert.Empty(t, h.deactivated)
	})

	t.Run("a space used every day for a year costs at most 7 last-activity reads", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.lastActivity = func(now time.Time) time.Time { return now.Add(-2 * time.Hour) }
		h.run(365 * day)

		assert.LessOrEqual(t, h.calls["ReadLastActivity"], 7)
		assert.GreaterOrEqual(t, h.calls["ReadLastActivity"], 5, "it does check")
		assert.Equal(t, []mail.Kind{mail.KindReceipt, mail.KindAccepted}, h.mailKinds())
	})

	t.Run("an exempt space is never warned, and lifting the exemption starts a full countdown", func(t *testing.T) {
		h, _ := activeSpace(t)
		var exempt, unexempt decisionAnswer
		h.send(2*time.Hour, UpdateExempt, ActionInput{Actor: "camille", Reason: "archives d'un réseau national"}, &exempt)
		lifted := testStart.Add(400 * day)
		h.send(400*day, UpdateUnexempt, ActionInput{Actor: "camille", Reason: "fin du partenariat"}, &unexempt)
		var st SpaceStatus
		h.queryAt(399*day, &st)
		h.run(450 * day)

		require.NoError(t, exempt.rejected)
		require.NoError(t, unexempt.rejected)
		assert.True(t, st.Exempt)
		assert.Empty(t, st.NextStep, "nothing planned while exempt")
		assert.Zero(t, h.calls["ReadLastActivity"], "an exempt space is not even checked")
		warnings := h.mailsOf(mail.KindFirstWarning)
		require.Len(t, warnings, 0, "the new countdown has not reached 60 days")
		h2, _ := activeSpace(t)
		h2.send(2*time.Hour, UpdateExempt, ActionInput{Actor: "camille", Reason: "r"}, &decisionAnswer{})
		h2.send(400*day, UpdateUnexempt, ActionInput{Actor: "camille", Reason: "r"}, &decisionAnswer{})
		h2.run(470 * day)
		warnings = h2.mailsOf(mail.KindFirstWarning)
		require.Len(t, warnings, 1)
		first, _ := h2.transitionAt("warn1")
		assertNear(t, lifted.Add(60*day), first, "60 days after the exemption was lifted")
	})

	t.Run("a shorter policy never brings a step sooner than a mail announced", func(t *testing.T) {
		h, t0 := activeSpace(t)
		h.at(61*day, func() {
			h.policy = models.InactivityPolicy{Offsets: [5]time.Duration{10 * day, 12 * day, 14 * day, 16 * day, 18 * day}}
		})
		h.run(200 * day)

		warn2, _ := h.transitionAt("warn2")
		deleted, _ := h.transitionAt(UpdateDelete)
		deactivated, _ := h.transitionAt(UpdateDeactivate)
		assertNear(t, t0.Add(75*day), warn2, "the second warning keeps the date the first mail gave")
		assert.False(t, deactivated.Before(warn2.Add(2*day)), "the new gap between warning and deactivation is kept")
		assertNear(t, t0.Add(120*day), deleted, "deletion keeps the date every mail gave")
		assert.Equal(t, 1, len(h.mailsOf(mail.KindSecondWarning)), "no step is skipped")
	})
}

func TestSpaceActions(t *testing.T) {
	t.Run("the contact reactivates a deactivated space with the link, once", func(t *testing.T) {
		h, _ := activeSpace(t)
		var reactivate, again decisionAnswer
		h.send(95*day, UpdateReactivate, ActionInput{Actor: models.ActorContact, TokenSeq: 1}, &reactivate)
		h.send(96*day, UpdateReactivate, ActionInput{Actor: models.ActorContact, TokenSeq: 1}, &again)
		var st SpaceStatus
		h.queryAt(97*day, &st)
		h.run(100 * day)

		deactivated := h.mailsOf(mail.KindDeactivated)
		require.Len(t, deactivated, 1)
		require.Equal(t, 1, deactivated[0].TokenSeq, "the link of the first deactivation")
		require.NoError(t, reactivate.rejected)
		assert.Equal(t, models.StatusActive, reactivate.result.Status)
		assert.ErrorContains(t, again.rejected, "réactivé", "a used link is refused")
		assert.Equal(t, []bool{true, false}, h.deactivated, "out of service, then back")
		assert.Len(t, h.mailsOf(mail.KindReactivated), 1)
		assert.Equal(t, models.StatusActive, st.Status)
		assertNear(t, testStart.Add(95*day+60*day), st.NextStepAt, "the countdown starts again from the reactivation")
		tr, ok := h.transitionAt(UpdateReactivate)
		require.True(t, ok)
		assertNear(t, testStart.Add(95*day), tr, "recorded when")
		for _, x := range h.transitions {
			if x.Action == UpdateReactivate {
				assert.Equal(t, models.ActorContact, x.Actor, "recorded who")
			}
		}
	})

	t.Run("a link of another deactivation, or to an active space, is refused", func(t *testing.T) {
		h, _ := activeSpace(t)
		var early, wrongSeq decisionAnswer
		h.send(50*day, UpdateReactivate, ActionInput{Actor: models.ActorContact, TokenSeq: 1}, &early)
		h.send(95*day, UpdateReactivate, ActionInput{Actor: models.ActorContact, TokenSeq: 7}, &wrongSeq)
		h.run(100 * day)

		assert.ErrorContains(t, early.rejected, "désactivé")
		assert.ErrorContains(t, wrongSeq.rejected, "n'est plus valable")
		assert.Equal(t, []bool{true}, h.deactivated)
	})

	t.Run("the contact asks for deletion, confirms with the link, and the space is deleted", func(t *testing.T) {
		h, _ := activeSpace(t)
		var request, tooSoon, confirm, forged decisionAnswer
		h.send(10*day, UpdateContactRequest, ContactRequestInput{Action: UpdateDelete}, &request)
		h.send(10*day+time.Minute, UpdateContactRequest, ContactRequestInput{Action: UpdateDelete}, &tooSoon)
		h.send(11*day, UpdateDelete, ActionInput{Actor: models.ActorContact, TokenSeq: 2}, &forged)
		h.send(11*day+time.Hour, UpdateDelete, ActionInput{Actor: models.ActorContact, TokenSeq: 1}, &confirm)
		h.run(30 * day)

		require.NoError(t, request.rejected)
		assert.True(t, request.mailed)
		assert.Error(t, tooSoon.rejected, "one confirmation mail per 10 minutes")
		assert.Error(t, forged.rejected, "a link that was never sent is refused")
		require.NoError(t, confirm.rejected)
		confirmation := h.mailsOf(mail.KindConfirmDeletion)
		require.Len(t, confirmation, 1)
		assert.Equal(t, 1, confirmation[0].TokenSeq)
		assertNear(t, testStart.Add(17*day), confirmation[0].TokenExpires, "valid 7 days")
		assert.Equal(t, models.StatusDeleted, h.result.Status)
		assert.Equal(t, 1, h.calls["DeleteBucket"])
		assert.True(t, h.purged)
	})

	t.Run("moderators deactivate, reactivate and delete with a reason; wrong transitions are refused", func(t *testing.T) {
		h, _ := activeSpace(t)
		var noReason, deactivate, deactivateAgain, reactivate, del decisionAnswer
		h.send(2*day, UpdateDeactivate, ActionInput{Actor: "camille"}, &noReason)
		h.send(3*day, UpdateDeactivate, ActionInput{Actor: "camille", Reason: "contenu illicite signalé"}, &deactivate)
		h.send(4*day, UpdateDeactivate, ActionInput{Actor: "camille", Reason: "x"}, &deactivateAgain)
		h.send(5*day, UpdateReactivate, ActionInput{Actor: "camille", Reason: "signalement levé"}, &reactivate)
		h.send(6*day, UpdateDelete, ActionInput{Actor: "dominique", Reason: "demande écrite de l'association"}, &del)
		h.run(10 * day)

		assertRefused(t, noReason.rejected, ErrTypeInvalidInput, "reason")
		require.NoError(t, deactivate.rejected)
		assert.Equal(t, models.StatusDeactivated, deactivate.result.Status)
		assert.Error(t, deactivateAgain.rejected)
		require.NoError(t, reactivate.rejected)
		require.NoError(t, del.rejected)
		assert.Equal(t, models.StatusDeleted, h.result.Status)
		assert.Equal(t, "contenu illicite signalé", h.mailsOf(mail.KindDeactivated)[0].Reason)
		for _, p := range h.projections {
			if p.Status == models.StatusDeactivated {
				assert.Equal(t, "contenu illicite signalé", p.Reason, "a new plan keeps the reason the projection shows")
			}
		}
		deleted := h.mailsOf(mail.KindDeletedModerators)
		require.Len(t, deleted, 1)
		assert.Equal(t, "dominique", deleted[0].Actor)
	})

	t.Run("state survives Continue-As-New: steps, counters and the reactivation sequence", func(t *testing.T) {
		h, _ := activeSpace(t)
		var st SpaceStatus
		h.send(2*day, UpdateDeactivate, ActionInput{Actor: "camille", Reason: "r"}, &decisionAnswer{})
		h.send(3*day, UpdateReactivate, ActionInput{Actor: "camille", Reason: "r"}, &decisionAnswer{})
		h.send(4*day, UpdateDeactivate, ActionInput{Actor: "camille", Reason: "r"}, &decisionAnswer{})
		h.queryAt(5*day, &st)
		h.run(6 * day)

		assert.GreaterOrEqual(t, h.runs, 4)
		deactivations := h.mailsOf(mail.KindDeactivated)
		require.Len(t, deactivations, 2)
		assert.NotEqual(t, deactivations[0].TokenSeq, deactivations[1].TokenSeq, "each deactivation has its own link")
		assert.NotEqual(t, deactivations[0].Seq, deactivations[1].Seq, "and its own mail")
		assert.Equal(t, models.StatusDeactivated, st.Status)
		var statuses []models.Status
		for _, step := range st.Steps {
			statuses = append(statuses, step.Status)
		}
		assert.Equal(t, []models.Status{models.StatusSubmitted, models.StatusProvisioning, models.StatusActive,
			models.StatusDeactivated, models.StatusActive, models.StatusDeactivated}, statuses)
	})
}

func TestSpaceState(t *testing.T) {
	t.Run("every field of the state crosses Continue-As-New", func(t *testing.T) {
		h := newHarness(t)
		at := testStart.Add(-time.Hour)
		st := SpaceState{Status: models.StatusActive, NextcloudVersion: "31.0.9", Reason: "r", LastError: "une erreur ancienne",
			Steps: []Step{{Status: models.StatusActive, Actor: models.ActorSystem, At: at}}, Seq: 7, Holds: 2, Failures: 1,
			Lifecycle: Lifecycle{Exempt: false, LastActivity: at, Countdown: 3, Deactivations: 4,
				Request: ContactRequest{Seq: 5, Action: UpdateDelete, At: at}, RetryAt: at.Add(time.Minute)}}
		h.input = testInput
		h.input.State = &st
		h.install()
		h.send(time.Hour, UpdateDeactivate, ActionInput{Actor: "camille", Reason: "signalement"}, &decisionAnswer{})
		h.run(2 * time.Hour)

		require.NotEmpty(t, h.carried, "the deactivation is a phase change: the workflow continued as new")
		got := h.carried[0]
		assert.Equal(t, st.NextcloudVersion, got.NextcloudVersion)
		assert.Equal(t, st.LastError, got.LastError)
		assert.Equal(t, st.Holds, got.Holds)
		assert.Equal(t, st.Failures, got.Failures)
		assert.Equal(t, st.Seq+1, got.Seq, "one more transition")
		assert.Equal(t, append(st.Steps, Step{Status: models.StatusDeactivated, Actor: "camille", Reason: "signalement",
			At: testStart.Add(time.Hour)}), got.Steps)
		assert.Equal(t, models.StatusDeactivated, got.Status)
		assert.Equal(t, st.Lifecycle.Countdown, got.Lifecycle.Countdown)
		assert.Equal(t, st.Lifecycle.Deactivations+1, got.Lifecycle.Deactivations)
		assert.Equal(t, st.Lifecycle.Request, got.Lifecycle.Request)
		assert.Equal(t, st.Lifecycle.LastActivity, got.Lifecycle.LastActivity)
	})
}

// An update the validator let in waits for the main loop: a run that ends or continues
// as new without taking it would leave it, and the space, waiting for ever.
func TestActionsAtPhaseChange(t *testing.T) {
	t.Run("a deactivation sent while the acceptance mail goes out is taken before the life in service starts", func(t *testing.T) {
		h := newHarness(t)
		h.fail["Send"] = func(attempt int) error {
			if attempt == 1 && len(h.mails) == 1 {
				return errors.New("mail server busy") // the acceptance mail waits for its retry
			}
			return nil
		}
		var accept, deactivate, later decisionAnswer
		h.decide(time.Hour, UpdateAccept, DecisionInput{Moderator: "camille"}, &accept)
		h.send(time.Hour+time.Second, UpdateDeactivate, ActionInput{Actor: "camille", Reason: "contenu illicite signalé"}, &deactivate)
		h.send(2*time.Hour, UpdateReactivate, ActionInput{Actor: "camille", Reason: "signalement levé"}, &later)
		h.run(3 * time.Hour)

		require.NoError(t, deactivate.rejected)
		require.True(t, deactivate.done, "the deactivation is answered")
		require.NoError(t, deactivate.err)
		assert.Equal(t, models.StatusDeactivated, deactivate.result.Status)
		require.NoError(t, later.rejected, "the next run takes actions as usual")
		assert.Equal(t, []models.Status{models.StatusSubmitted, models.StatusProvisioning, models.StatusActive,
			models.StatusDeactivated, models.StatusActive}, h.statuses())
		assert.Equal(t, []mail.Kind{mail.KindReceipt, mail.KindAccepted, mail.KindDeactivated, mail.KindReactivated}, h.mailKinds())
		assert.GreaterOrEqual(t, h.runs, 2, "the space still continues as new at its phase changes")
	})

	t.Run("a reactivation taken in while the deletion runs is answered that nothing is left, and the workflow ends", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.fail["RemoveSpace"] = func(attempt int) error {
			if attempt <= 8 {
				return errors.New("instance host unreachable") // about 4 minutes of retries
			}
			return nil
		}
		var reactivate decisionAnswer
		h.send(time.Hour+120*day+time.Minute, UpdateReactivate, ActionInput{Actor: "camille", Reason: "l'association a écrit"}, &reactivate)
		h.run(130 * day)

		require.NoError(t, h.err, "the workflow ends rather than waits")
		assert.Equal(t, models.StatusDeleted, h.result.Status)
		require.NoError(t, reactivate.rejected, "the space was still deactivated when the reactivation came")
		require.True(t, reactivate.done, "the reactivation is answered")
		var appErr *temporal.ApplicationError
		require.ErrorAs(t, reactivate.err, &appErr)
		assert.Equal(t, ErrTypeNotAllowed, appErr.Type())
		assert.Contains(t, appErr.Error(), "n'a plus d'objet")
		assert.Empty(t, h.mailsOf(mail.KindReactivated))
	})
}
