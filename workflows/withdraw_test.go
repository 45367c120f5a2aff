package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/activities/mail"
	"jardinier/models"
)

func TestWithdraw(t *testing.T) {
	t.Run("an application on hold withdrawn by its applicant is told so, purged, and the workflow ends", func(t *testing.T) {
		h := newHarness(t)
		var hold, withdraw decisionAnswer
		h.decide(time.Hour, UpdateHold, DecisionInput{Moderator: "camille"}, &hold)
		h.decide(2*time.Hour, UpdateWithdraw, DecisionInput{Moderator: models.ActorApplicant}, &withdraw)
		h.run(24 * time.Hour)

		require.NoError(t, h.err)
		require.NoError(t, withdraw.rejected)
		assert.Equal(t, models.StatusRejected, h.result.Status)
		assert.Equal(t, []models.Status{models.StatusSubmitted, models.StatusOnHold, models.StatusRejected}, h.statuses())
		last := h.transitions[len(h.transitions)-1]
		assert.Equal(t, UpdateWithdraw, last.Action)
		assert.Equal(t, models.ActorApplicant, last.Actor)
		assert.Equal(t, []mail.Kind{mail.KindReceipt, mail.KindOnHold, mail.KindWithdrawn}, h.mailKinds())
		assert.True(t, h.purged, "the application is purged")
	})

	t.Run("an accepted application can no longer be withdrawn", func(t *testing.T) {
		h := newHarness(t)
		var accept, withdraw decisionAnswer
		h.decide(time.Hour, UpdateAccept, DecisionInput{Moderator: "camille"}, &accept)
		h.decide(2*time.Hour, UpdateWithdraw, DecisionInput{Moderator: models.ActorApplicant}, &withdraw)
		h.run(3 * time.Hour)

		require.NoError(t, accept.rejected)
		assert.ErrorContains(t, withdraw.rejected, "active")
		assert.False(t, h.purged)
	})
}

func TestNewReactivationLink(t *testing.T) {
	t.Run("the contact of a deactivated space gets a new copy of its current link, once per interval", func(t *testing.T) {
		h, _ := activeSpace(t)
		var early, request, tooSoon, reactivate decisionAnswer
		h.send(10*day, UpdateContactRequest, ContactRequestInput{Action: UpdateReactivate}, &early)
		h.send(2*day+91*day, UpdateContactRequest, ContactRequestInput{Action: UpdateReactivate}, &request)
		h.send(2*day+91*day+time.Minute, UpdateContactRequest, ContactRequestInput{Action: UpdateReactivate}, &tooSoon)
		h.send(2*day+92*day, UpdateReactivate, ActionInput{Actor: models.ActorContact, TokenSeq: 1}, &reactivate)
		h.run(2*day + 93*day)

		assert.ErrorContains(t, early.rejected, "active", "an active space needs no reactivation link")
		require.NoError(t, request.rejected)
		assert.True(t, request.mailed)
		assert.Error(t, tooSoon.rejected, "one mail per interval")
		links := h.mailsOf(mail.KindReactivationLink)
		require.Len(t, links, 1)
		deactivated := h.mailsOf(mail.KindDeactivated)
		require.Len(t, deactivated, 1)
		assert.Equal(t, deactivated[0].TokenSeq, links[0].TokenSeq, "the same link as the deactivation mail's")
		assert.Equal(t, deactivated[0].TokenExpires, links[0].TokenExpires)
		assert.False(t, links[0].DeletionAt.IsZero())
		require.NoError(t, reactivate.rejected, "the link still works")
	})
}
