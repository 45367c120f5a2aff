package database_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/activities/database"
	"jardinier/models"
)

func TestPolicyHoldProjection(t *testing.T) {
	f := setup(t)
	at := time.Date(2026, 4, 5, 9, 0, 0, 0, time.UTC)
	holds := func() []models.PolicyHold {
		var out []models.PolicyHold
		require.NoError(t, f.db.Find(&out).Error)
		return out
	}
	in := f.transition(1, models.StatusActive, at)
	in.Schedule = &database.Schedule{NextStep: models.StepDeactivation, NextStepAt: at.Add(24 * time.Hour),
		HeldStep: models.StepDeactivation, HeldSince: at}

	t.Run("a schedule with a held step writes the hold, once however often retried", func(t *testing.T) {
		for range 2 {
			_, err := f.record(t, in)
			require.NoError(t, err)
		}
		got := holds()
		require.Len(t, got, 1)
		assert.Equal(t, f.app.Slug, got[0].Slug)
		assert.Equal(t, models.StepDeactivation, got[0].Step)
		assert.True(t, at.Equal(got[0].Since))
		held, total, err := models.HeldSpaces(t.Context(), f.db, 10)
		require.NoError(t, err)
		assert.EqualValues(t, 1, total)
		require.Len(t, held, 1)
		assert.Equal(t, models.StatusActive, held[0].Status)
	})

	t.Run("a projection without the schedule leaves it, a new schedule without a hold clears it", func(t *testing.T) {
		_, err := f.record(t, database.RecordTransitionInput{Slug: f.app.Slug, ApplicationID: f.app.ID, Status: models.StatusActive, At: at})
		require.NoError(t, err)
		assert.Len(t, holds(), 1)
		_, err = f.record(t, database.RecordTransitionInput{Slug: f.app.Slug, ApplicationID: f.app.ID, Status: models.StatusActive, At: at,
			Schedule: &database.Schedule{NextStep: models.StepFirstWarning, NextStepAt: at.Add(60 * 24 * time.Hour)}})
		require.NoError(t, err)
		assert.Empty(t, holds())
	})
}
