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
		h.decide(2*time.Hour, UpdateWithdraw, DecisionInput{Moderator: ActorApplicant}, &withdraw)
		h.run(24 * time.Hour)

		require.NoError(t, h.err)
		require.NoError(t, withdraw.rejected)
		assert.Equal(t, models.StatusRejected, h.result.Status)
		assert.Equal(t, []models.Status{models.StatusSubmitted, models.StatusOnHold, models.StatusRejected}, h.statuses())
		last := h.transitions[len(h.transitions)-1]
		assert.Equal(t, UpdateWithdraw, last.Action)
		assert.Equal(t, ActorApplicant, last.Actor)
		assert.Equal(t, []mail.Kind{mail.KindReceipt, mail.KindOnHold, mail.KindWithdrawn}, h.mailKinds())
		assert.True(t, h.purged, "the application is purged")
	})

	t.Run("an accepted application can no longer be withdrawn", func(t *testing.T) {
		h := newHarness(t)
		var accept, withdraw decisionAnswer
		h.decide(time.Hour, UpdateAccept, DecisionInput{Moderator: "camille"}, &accept)
		h.decide(2*time.Hour, UpdateWithdraw, DecisionInput{Moderator: ActorApplicant}, &withdraw)
		h.run(3 * time.Hour)

		require.NoError(t, accept.rejected)
		assert.ErrorContains(t, withdraw.rejected, "active")
		assert.False(t, h.purged)
	})
}
