package database_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/activities/database"
	"jardinier/models"
)

func TestPolicyActivities(t *testing.T) {
	t.Run("the policy in force is the latest version, seeded from INACTIVITY_POLICY", func(t *testing.T) {
		f := setup(t)
		f.act.Policy = models.DefaultInactivityPolicy()
		val, err := f.environment(t).ExecuteActivity(f.act.CurrentPolicy, database.CurrentPolicyInput{})
		require.NoError(t, err)
		var res database.CurrentPolicyResult
		require.NoError(t, val.Get(&res))
		assert.Equal(t, database.CurrentPolicyResult{Policy: models.DefaultInactivityPolicy(), Version: 1}, res)

		_, _, err = models.ChangePolicy(t.Context(), f.db, f.act.Policy, models.PolicyChange{
			Policy: "warn1=1d,warn2=2d,deactivate=3d,notice=4d,delete=5d", Reason: "r", Actor: "alix"})
		require.NoError(t, err)
		val, err = f.environment(t).ExecuteActivity(f.act.CurrentPolicy, database.CurrentPolicyInput{})
		require.NoError(t, err)
		require.NoError(t, val.Get(&res))
		assert.Equal(t, 2, res.Version)
		assert.Equal(t, 3*24*time.Hour, res.Policy.Offset(models.StepDeactivation))
	})

	t.Run("the rollout pages through the spaces in service by slug", func(t *testing.T) {
		f := setup(t)
		for _, sp := range []struct {
			slug   string
			status models.Status
		}{{"b-actif", models.StatusActive}, {"c-desactive", models.StatusDeactivated}, {"d-refuse", models.StatusRejected},
			{"e-actif", models.StatusActive}} {
			app := f.submit(t, sp.slug)
			require.NoError(t, f.db.Model(&models.Space{}).Where("application_id = ?", app.ID).Update("status", sp.status).Error)
		}
		list := func(after string) []string {
			val, err := f.environment(t).ExecuteActivity(f.act.ListPolicySpaces, database.ListPolicySpacesInput{After: after, Limit: 2})
			require.NoError(t, err)
			var res database.ListPolicySpacesResult
			require.NoError(t, val.Get(&res))
			return res.Slugs
		}
		assert.Equal(t, []string{"b-actif", "c-desactive"}, list(""))
		assert.Equal(t, []string{"e-actif"}, list("c-desactive"))
	})

	t.Run("a transition with a plan projects it, and nothing planned clears it", func(t *testing.T) {
		f := setup(t)
		at := submitted.Add(time.Hour)
		plan := []models.PlannedStep{{Step: models.StepSecondWarning, At: at.Add(24 * time.Hour)}, {Step: models.StepDeletion, At: at.Add(48 * time.Hour)}}
		in := f.transition(1, models.StatusActive, at)
		in.Schedule = &database.Schedule{NextStep: models.StepSecondWarning, NextStepAt: plan[0].At, DeletionAt: plan[1].At, Plan: plan, PolicyVersion: 4}
		_, err := f.record(t, in)
		require.NoError(t, err)
		var sp models.Space
		require.NoError(t, f.db.Where("application_id = ?", f.app.ID).Take(&sp).Error)
		require.Len(t, sp.Plan, 2)
		assert.True(t, plan[1].At.Equal(sp.Plan[1].At))
		assert.Equal(t, 4, sp.PolicyVersion)

		in = f.transition(2, models.StatusActive, at)
		in.Schedule = &database.Schedule{}
		_, err = f.record(t, in)
		require.NoError(t, err)
		var cleared models.Space
		require.NoError(t, f.db.Where("application_id = ?", f.app.ID).Take(&cleared).Error)
		assert.Empty(t, cleared.Plan)
		assert.Nil(t, cleared.NextStepAt)
	})
}
