package models_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/models"
	"jardinier/models/modeltest"
)

func TestPolicyVersions(t *testing.T) {
	seed := models.DefaultInactivityPolicy()

	t.Run("processes starting at once seed one first version", func(t *testing.T) {
		db := modeltest.NewDB(t)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				v, err := models.CurrentPolicy(t.Context(), db, seed)
				assert.NoError(t, err)
				assert.Equal(t, 1, v.Version)
			})
		}
		wg.Wait()
		var n int64
		require.NoError(t, db.Model(&models.PolicyVersion{}).Count(&n).Error)
		assert.Equal(t, int64(1), n)
	})

	t.Run("a change is the next version; the policy in force again is no new version", func(t *testing.T) {
		db := modeltest.NewDB(t)
		ch := models.PolicyChange{Policy: " warn1=30d, warn2=45d,deactivate=60d,notice=75d,delete=90d ", Reason: "r", Actor: "alix"}
		v, changed, err := models.ChangePolicy(t.Context(), db, seed, ch)
		require.NoError(t, err)
		assert.True(t, changed)
		assert.Equal(t, 2, v.Version)
		assert.Equal(t, "warn1=30d,warn2=45d,deactivate=60d,notice=75d,delete=90d", v.Policy, "stored in one spelling")
		again, changed, err := models.ChangePolicy(t.Context(), db, seed, ch)
		require.NoError(t, err)
		assert.False(t, changed)
		assert.Equal(t, 2, again.Version)
		cur, err := models.CurrentPolicy(t.Context(), db, seed)
		require.NoError(t, err)
		p, err := cur.Offsets()
		require.NoError(t, err)
		assert.Equal(t, 60*24, int(p.Offset(models.StepDeactivation).Hours()))
	})

	t.Run("a reason that is not UTF-8 is refused naming it, for the policy and the limits, and records nothing", func(t *testing.T) {
		db := modeltest.NewDB(t)
		_, _, err := models.ChangePolicy(t.Context(), db, seed, models.PolicyChange{
			Policy: "warn1=30d,warn2=45d,deactivate=60d,notice=75d,delete=90d", Reason: "d\xe9cision", Actor: "alix"})
		var fe *models.Error
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, "reason", fe.Field)
		_, _, err = models.ChangeLimits(t.Context(), db, models.DefaultLimits(), models.LimitsChange{
			Limits: models.LimitsOf(30, 40, 400), Reason: "d\xe9cision", Actor: "alix"})
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, "reason", fe.Field)
		var n int64
		require.NoError(t, db.Model(&models.PolicyVersion{}).Where("version > 1").Count(&n).Error)
		assert.Zero(t, n)
		require.NoError(t, db.Model(&models.LimitsVersion{}).Where("version > 1").Count(&n).Error)
		assert.Zero(t, n)
	})

	t.Run("two changes at once: one wins, the other is a conflict and records nothing", func(t *testing.T) {
		db := modeltest.NewDB(t)
		_, err := models.CurrentPolicy(t.Context(), db, seed)
		require.NoError(t, err)
		var wg sync.WaitGroup
		codes := make([]string, 2)
		for i, p := range []string{"warn1=1d,warn2=2d,deactivate=3d,notice=4d,delete=5d", "warn1=2d,warn2=3d,deactivate=4d,notice=5d,delete=6d"} {
			wg.Go(func() {
				_, _, err := models.ChangePolicy(t.Context(), db, seed, models.PolicyChange{Policy: p, Reason: "r", Actor: "alix"})
				codes[i] = models.ErrorCode(err)
			})
		}
		wg.Wait()
		var n int64
		require.NoError(t, db.Model(&models.PolicyVersion{}).Count(&n).Error)
		assert.LessOrEqual(t, n, int64(3))
		for _, c := range codes {
			assert.Contains(t, []string{"", models.ECONFLICT}, c)
		}
		if n == 2 {
			assert.ElementsMatch(t, []string{"", models.ECONFLICT}, codes)
		}
	})
}
