package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/activities/database"
	"jardinier/activities/mail"
	"jardinier/models"
	"jardinier/models/modeltest"
)

// contactRecipient names the contact among the recipients of deliveryFake.
const contactRecipient = "contact"

// deliveryFake plays the relay's bounces for the harness: the mails to a recipient in
// bounced (contactRecipient, or an admin's address) came back as hard bounces.
type deliveryFake struct {
	sealer  *models.Sealer
	bounced map[string]bool
}

// recipient is who a mail the harness sent went to.
func (h *harness) recipient(m mail.SendInput) string {
	if m.AdminTo == "" {
		return contactRecipient
	}
	addr, err := h.delivery.sealer.Open(m.AdminTo)
	require.NoError(h.t, err)
	return addr
}

// delivered tells whether a mail the harness sent reached someone.
func (h *harness) delivered(m mail.SendInput) bool { return !h.delivery.bounced[h.recipient(m)] }

// registerDelivery registers the admins' addresses, read by the real activity on the
// simulator, and the deliveries, answered from the mails sent and deliveryFake.
func (h *harness) registerDelivery() {
	if h.delivery.sealer == nil {
		sealer, err := models.NewSealer(modeltest.SecretKey)
		require.NoError(h.t, err)
		h.delivery.sealer, h.activities.Sealer = sealer, sealer
	}
	registerCtx(h, "ReadAdminEmails", h.activities.ReadAdminEmails)
	register(h, "Delivered", func(in mail.DeliveredInput) mail.DeliveredResult {
		var res mail.DeliveredResult
		for _, m := range h.mails {
			for _, ref := range in.Mails {
				if m.Slug != in.Slug || m.Kind != ref.Kind || m.Seq != ref.Seq {
					continue
				}
				res.Accepted++
				switch {
				case !h.delivered(m):
					res.Bounced++
				case m.AdminTo != "":
					res.Delivered++
					res.AdminsDelivered++
				default:
					res.Delivered++
				}
			}
		}
		return res
	})
}

// bounce makes the mails to recipient bounce.
func (h *harness) bounce(recipient string) {
	if h.delivery.bounced == nil {
		h.delivery.bounced = map[string]bool{}
	}
	h.delivery.bounced[recipient] = true
}

// setAdminEmail gives an admin of the space an address on the simulator, at a time
// of the test.
func (h *harness) setAdminEmail(at time.Duration, user, addr string) {
	h.at(at, func() { h.sim.SetUserEmail(h.input.Slug, user, addr, true) })
}

// heldProjections returns the projections and transitions that held a step.
func (h *harness) held() []time.Time {
	var out []time.Time
	for _, tr := range h.transitions {
		if tr.Action == ActionPolicyHeld {
			out = append(out, tr.At)
		}
	}
	return out
}

func TestWarningsDelivered(t *testing.T) {
	t.Run("a hard bounce on the contact with no admin address holds the deactivation and tells the moderators", func(t *testing.T) {
		h, t0 := activeSpace(t)
		h.bounce(contactRecipient)
		var st SpaceStatus
		h.queryAt(150*day, &st)
		h.run(150 * day)

		assert.Equal(t, models.StatusActive, st.Status, "never deactivated, still less deleted")
		assert.Empty(t, h.deactivated)
		held := h.held()
		require.Len(t, held, 1, "held once, then looked at again daily without a new event")
		assertNear(t, t0.Add(90*day), held[0], "held when the deactivation fell due")
		var hold *models.Step
		for _, p := range h.projections {
			if p.Schedule != nil && p.At.After(held[0]) {
				hold = &p.Schedule.HeldStep
				assert.Equal(t, held[0], p.Schedule.HeldSince, "the moderators see since when")
			}
		}
		require.NotNil(t, hold, "the schedule keeps projecting the hold")
		assert.Equal(t, models.StepDeactivation, *hold)
		for _, tr := range h.transitions {
			if tr.Action == ActionPolicyHeld {
				assert.Equal(t, models.StepDeactivation, tr.Schedule.HeldStep, "the console home and the digest read it")
				assert.Contains(t, tr.Reason, "aucun avertissement n'a atteint personne")
			}
		}
		assert.Equal(t, []mail.Kind{mail.KindReceipt, mail.KindAccepted, mail.KindFirstWarning, mail.KindSecondWarning},
			h.mailKinds())
		assert.GreaterOrEqual(t, h.calls["ReadLastActivity"], 50, "a held space is looked at every day")
	})

	t.Run("a held space used again starts a new countdown and the hold ends", func(t *testing.T) {
		h, t0 := activeSpace(t)
		h.bounce(contactRecipient)
		used := t0.Add(100 * day)
		h.lastActivity = func(now time.Time) time.Time {
			if now.After(used) {
				return used
			}
			return time.Time{}
		}
		var st SpaceStatus
		h.queryAt(110*day, &st)
		h.run(110 * day)

		require.Len(t, h.held(), 1)
		seen, ok := h.transitionAt(ActionActivitySeen)
		require.True(t, ok)
		assertNear(t, used.Add(day), seen, "seen at the next daily look")
		assert.Equal(t, models.StepFirstWarning, st.NextStep)
		last := h.projections[len(h.projections)-1]
		for _, tr := range h.transitions {
			if tr.At.After(last.At) {
				last = tr
			}
		}
		assert.Empty(t, last.Schedule.HeldStep, "the hold is cleared in the projection")
	})

	t.Run("a moderator deactivates a held space by hand, and its deletion is held again", func(t *testing.T) {
		h, t0 := activeSpace(t)
		h.bounce(contactRecipient)
		var answer decisionAnswer
		h.send(95*day, UpdateDeactivate, ActionInput{Actor: "camille", Reason: "personne ne répond"}, &answer)
		var st SpaceStatus
		h.queryAt(200*day, &st)
		h.run(200 * day)

		require.NoError(t, answer.rejected)
		require.NoError(t, answer.err)
		assert.Equal(t, models.StatusDeactivated, st.Status, "not deleted: the deactivation and notice bounced too")
		held := h.held()
		require.Len(t, held, 2)
		assertNear(t, t0.Add(90*day), held[0], "the deactivation")
		assertNear(t, testStart.Add(95*day+30*day), held[1], "then the deletion, on its day after the deactivation by hand")
	})

	t.Run("a moderator exempts a held space: the hold ends and nothing more happens", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.bounce(contactRecipient)
		var answer decisionAnswer
		h.send(95*day, UpdateExempt, ActionInput{Actor: "camille", Reason: "archives d'un réseau, contact injoignable"}, &answer)
		h.run(300 * day)

		require.NoError(t, answer.err)
		require.Len(t, h.held(), 1)
		assert.Empty(t, h.deactivated)
		var last *models.Step
		for _, rec := range append(append([]database.RecordTransitionInput{}, h.transitions...), h.projections...) {
			if rec.Schedule != nil && !rec.At.Before(testStart.Add(95*day)) {
				last = &rec.Schedule.HeldStep
			}
		}
		require.NotNil(t, last)
		assert.Empty(t, *last, "the projection no longer lists the space for the moderators")
	})

	t.Run("a warning delivered to an admin lets the policy proceed", func(t *testing.T) {
		h, t0 := activeSpace(t)
		h.bounce(contactRecipient)
		h.setAdminEmail(70*day, AdminUser, "tresorerie@asso.example")
		h.run(200 * day)

		assert.Empty(t, h.held())
		assert.Equal(t, models.StatusDeleted, h.result.Status)
		at, ok := h.transitionAt(UpdateDeactivate)
		require.True(t, ok)
		assertNear(t, t0.Add(90*day), at, "deactivated on its day")
		var toAdmin []mail.Kind
		for _, m := range h.mails {
			if m.AdminTo != "" {
				assert.Equal(t, "tresorerie@asso.example", h.recipient(m))
				toAdmin = append(toAdmin, m.Kind)
			}
		}
		assert.Equal(t, []mail.Kind{mail.KindSecondWarning, mail.KindDeactivated, mail.KindDeletionNotice, mail.KindDeleted}, toAdmin,
			"the admin gets the mails from when they gave an address, sealed in history, down to the deletion's")
	})

	t.Run("an admin's bounce with the contact's delivered changes nothing", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.setAdminEmail(time.Hour*2, AdminUser, "parti@asso.example")
		h.bounce("parti@asso.example")
		h.run(200 * day)

		assert.Empty(t, h.held())
		assert.Equal(t, models.StatusDeleted, h.result.Status)
	})
}
