package workflows

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"jardinier/activities/database"
	"jardinier/activities/mail"
	"jardinier/models"
)

// sealedNew stands for a new address sealed by the API: the workflow never sees one in
// clear.
const sealedNew models.Sealed = "bm91dmVsbGUtYWRyZXNzZQ"

// changeContact asks, at a time of the test, to change the contact's address.
func (h *harness) changeContact(at time.Duration, answer *decisionAnswer) {
	h.send(at, UpdateContactRequest, ContactRequestInput{Action: RequestChangeContact, NewEmail: sealedNew}, answer)
}

// confirmContact clicks a link of a change of address at a time of the test.
func (h *harness) confirmContact(at time.Duration, step string, seq int, answer *decisionAnswer) {
	h.send(at, UpdateConfirmContact, ConfirmContactInput{Step: step, TokenSeq: seq}, answer)
}

func TestContactChange(t *testing.T) {
	t.Run("the change takes effect once the current address, then the new one, confirmed; both are told", func(t *testing.T) {
		h, _ := activeSpace(t)
		var request, newTooEarly, current, currentAgain, confirmNew, newAgain decisionAnswer
		h.changeContact(10*day, &request)
		h.confirmContact(10*day+10*time.Minute, ContactStepNew, 1, &newTooEarly)
		h.confirmContact(10*day+time.Hour, ContactStepCurrent, 1, &current)
		h.confirmContact(10*day+2*time.Hour, ContactStepCurrent, 1, &currentAgain)
		var midway SpaceStatus
		h.queryAt(10*day+3*time.Hour, &midway)
		h.confirmContact(11*day, ContactStepNew, 1, &confirmNew)
		h.confirmContact(11*day+time.Hour, ContactStepNew, 1, &newAgain)
		h.run(12 * day)

		require.NoError(t, request.rejected)
		assert.True(t, request.mailed)
		assertRefused(t, newTooEarly.rejected, ErrTypeStaleLink, "")
		require.NoError(t, current.rejected)
		assert.True(t, current.done)
		assert.False(t, current.changed, "the current address's link alone changes nothing")
		assertRefused(t, currentAgain.rejected, ErrTypeStaleLink, "")
		require.NoError(t, confirmNew.rejected)
		require.NoError(t, confirmNew.err)
		assert.True(t, confirmNew.changed)
		assertRefused(t, newAgain.rejected, ErrTypeStaleLink, "")

		asked := h.mailsOf(mail.KindContactChangeCurrent)
		require.Len(t, asked, 1)
		assert.Equal(t, mail.SendInput{Slug: testInput.Slug, ApplicationID: testInput.ApplicationID, Kind: mail.KindContactChangeCurrent,
			Seq: 1, NewContact: sealedNew, TokenSeq: 1, TokenExpires: asked[0].TokenExpires}, asked[0], "to the contact's address, showing the new one")
		assertNear(t, testStart.Add(17*day), asked[0].TokenExpires, "valid 7 days")
		toNew := h.mailsOf(mail.KindContactChangeNew)
		require.Len(t, toNew, 1)
		assert.Equal(t, sealedNew, toNew[0].To, "the second link goes to the new address")
		assert.Equal(t, 1, toNew[0].TokenSeq)
		assertNear(t, testStart.Add(17*day+time.Hour), toNew[0].TokenExpires, "valid 7 days from its own mail")

		assert.Equal(t, []database.ChangeContactEmailInput{{ApplicationID: testInput.ApplicationID, Email: sealedNew}}, h.contactChanges,
			"written once, after both confirmed")
		done := h.mailsOf(mail.KindContactChanged)
		require.Len(t, done, 1)
		assert.Empty(t, done[0].To, "to the contact's address, the new one by then")
		previous := h.mailsOf(mail.KindContactChangedPrevious)
		require.Len(t, previous, 1)
		assert.Equal(t, harnessSealedContact, previous[0].To, "to the former address, read before the change")
		assert.Equal(t, sealedNew, previous[0].NewContact)

		at, ok := h.transitionAt(ActionRequestPrefix + RequestChangeContact)
		require.True(t, ok, "the request is in the audit trail")
		assertNear(t, testStart.Add(10*day), at, "recorded when")
		at, ok = h.transitionAt(ActionContactChanged)
		require.True(t, ok, "the change is in the audit trail")
		assertNear(t, testStart.Add(11*day), at, "recorded when")
		for _, tr := range h.transitions {
			if tr.Action == ActionContactChanged {
				assert.Equal(t, models.ActorContact, tr.Actor)
				assert.Equal(t, models.StatusActive, tr.Status, "the space stays as it was")
				assert.Empty(t, tr.Reason, "no address in the audit trail")
			}
		}
		assert.Equal(t, models.StatusActive, midway.Status)
		assert.Equal(t, []bool(nil), h.deactivated, "nothing else happened to the space")
	})

	t.Run("a request without address, a forged link, another step's link and a replaced change are refused", func(t *testing.T) {
		h, _ := activeSpace(t)
		var noAddress, first, forged, wrongStep, second, firstLink, secondLink decisionAnswer
		h.send(10*day, UpdateContactRequest, ContactRequestInput{Action: RequestChangeContact}, &noAddress)
		h.changeContact(10*day+time.Minute, &first)
		h.confirmContact(10*day+2*time.Minute, ContactStepCurrent, 9, &forged)
		h.confirmContact(10*day+3*time.Minute, "ancienne", 1, &wrongStep)
		h.changeContact(10*day+20*time.Minute, &second)
		h.confirmContact(10*day+30*time.Minute, ContactStepCurrent, 1, &firstLink)
		h.confirmContact(10*day+40*time.Minute, ContactStepCurrent, 2, &secondLink)
		h.run(11 * day)

		assertRefused(t, noAddress.rejected, ErrTypeInvalidInput, "new_email")
		require.NoError(t, first.rejected)
		assertRefused(t, forged.rejected, ErrTypeStaleLink, "")
		assertRefused(t, wrongStep.rejected, ErrTypeInvalidInput, "step")
		require.NoError(t, second.rejected)
		assertRefused(t, firstLink.rejected, ErrTypeStaleLink, "")
		require.NoError(t, secondLink.rejected, "the later request's link works")
		assert.Len(t, h.mailsOf(mail.KindContactChangeCurrent), 2)
		assert.Len(t, h.mailsOf(mail.KindContactChangeNew), 1)
		assert.Empty(t, h.contactChanges)
	})

	t.Run("a change under way survives Continue-As-New and works on a deactivated space", func(t *testing.T) {
		h, _ := activeSpace(t)
		var current, confirmNew decisionAnswer
		h.changeContact(10*day, &decisionAnswer{})
		h.send(10*day+time.Hour, UpdateDeactivate, ActionInput{Actor: "camille", Reason: "contrôle"}, &decisionAnswer{})
		h.confirmContact(10*day+2*time.Hour, ContactStepCurrent, 1, &current)
		h.confirmContact(10*day+3*time.Hour, ContactStepNew, 1, &confirmNew)
		h.run(11 * day)

		require.NoError(t, current.rejected)
		require.NoError(t, confirmNew.rejected)
		assert.True(t, confirmNew.changed)
		assert.Len(t, h.contactChanges, 1)
		require.NotEmpty(t, h.carried)
		var carried *ContactChange
		for _, st := range h.carried {
			if st.Status == models.StatusDeactivated {
				carried = st.ContactChange
			}
		}
		require.NotNil(t, carried, "the change under way went to the next run")
		assert.Equal(t, ContactChange{Seq: 1, NewEmail: sealedNew}, *carried)
	})

	t.Run("a change that cannot be written fails the update, not the space", func(t *testing.T) {
		h, _ := activeSpace(t)
		h.fail["ChangeContactEmail"] = func(int) error {
			return temporal.NewNonRetryableApplicationError("sealed with another key", database.ErrTypeSealed, nil)
		}
		var confirmNew, later decisionAnswer
		h.changeContact(10*day, &decisionAnswer{})
		h.confirmContact(10*day+time.Hour, ContactStepCurrent, 1, &decisionAnswer{})
		h.confirmContact(10*day+2*time.Hour, ContactStepNew, 1, &confirmNew)
		h.send(10*day+3*time.Hour, UpdateDeactivate, ActionInput{Actor: "camille", Reason: "contrôle"}, &later)
		h.run(11 * day)

		require.NoError(t, confirmNew.rejected)
		var appErr *temporal.ApplicationError
		require.True(t, errors.As(confirmNew.err, &appErr), "%v", confirmNew.err)
		assert.Equal(t, ErrTypeContactChange, appErr.Type())
		assert.False(t, confirmNew.changed)
		assert.Empty(t, h.mailsOf(mail.KindContactChanged))
		assert.Empty(t, h.mailsOf(mail.KindContactChangedPrevious))
		require.NoError(t, later.rejected, "the space goes on")
		assert.Equal(t, models.StatusDeactivated, later.result.Status)
	})
}
