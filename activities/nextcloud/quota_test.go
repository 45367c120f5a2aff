package nextcloud_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/activities/nextcloud"
	"jardinier/models"
)

const gb = int64(1) << 30

func TestSimulatorShareQuota(t *testing.T) {
	t.Run("each user may use their files plus what the space has left", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		f.sim.SetUsage(testSlug, "admin", 8*gb, 2*gb)
		f.sim.SetUsage(testSlug, "bob", 2*gb, 2*gb)
		login := time.Date(2026, 5, 4, 9, 30, 0, 0, time.UTC)
		f.sim.SetLastLogin(testSlug, "bob", login)
		f.sim.SetTokenActivity(testSlug, login.Add(-time.Hour))

		usage, err := f.sim.ShareQuota(f.ctx, testSlug, 50*gb)
		require.NoError(t, err)
		assert.Equal(t, nextcloud.QuotaUsage{UsedBytes: 12 * gb, Accounts: 2, Changed: 3, LastActivity: login}, usage,
			"the last activity is read too")
		in, _ := f.sim.Instance(testSlug)
		assert.Equal(t, map[string]int64{"admin": 46 * gb, "bob": 40 * gb}, in.Quotas)
		assert.Equal(t, 38*gb, in.DefaultQuota, "new accounts get what is left")
	})

	t.Run("sharing again without change rewrites nothing", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		f.sim.SetUsage(testSlug, "admin", gb, 0)
		_, err := f.sim.ShareQuota(f.ctx, testSlug, 50*gb)
		require.NoError(t, err)
		usage, err := f.sim.ShareQuota(f.ctx, testSlug, 50*gb)
		require.NoError(t, err)
		assert.Zero(t, usage.Changed)
	})

	t.Run("a space over its quota lets nobody write more", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		f.sim.SetUsage(testSlug, "admin", 30*gb, 0)
		f.sim.SetUsage(testSlug, "bob", 21*gb, 0)
		_, err := f.sim.ShareQuota(f.ctx, testSlug, 50*gb)
		require.NoError(t, err)
		in, _ := f.sim.Instance(testSlug)
		assert.Equal(t, map[string]int64{"admin": 30 * gb, "bob": 21 * gb}, in.Quotas)
		assert.Equal(t, int64(1), in.DefaultQuota, "1 byte: 0 would mean no limit to Nextcloud")
	})

	t.Run("applying the limits shares the quota out at once, as the occ driver does", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		f.sim.SetUsage(testSlug, "admin", 2*gb, 0)
		require.NoError(t, f.sim.ApplyLimits(f.ctx, testSlug, models.DefaultLimits()))
		in, _ := f.sim.Instance(testSlug)
		assert.Equal(t, map[string]int64{"admin": 50 * gb}, in.Quotas)
		assert.Equal(t, 48*gb, in.DefaultQuota)
	})

	t.Run("a space without instance fails with ErrNotInstalled", func(t *testing.T) {
		f := setup(t)
		_, err := f.sim.ShareQuota(f.ctx, testSlug, 50*gb)
		assert.ErrorIs(t, err, nextcloud.ErrNotInstalled)
	})

	t.Run("a quota that is not positive is refused for good", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		_, err := f.sim.ShareQuota(f.ctx, testSlug, 0)
		assert.ErrorIs(t, err, nextcloud.ErrPermanent)
	})
}

func TestActivitiesShareSpaceQuotas(t *testing.T) {
	f := setup(t)
	for _, slug := range []string{"alpha", "bravo", "charlie"} {
		f.install(t, slug)
		f.sim.SetUsage(slug, "admin", 5*gb, gb)
	}
	f.sim.InjectFailure("bravo", nextcloud.OpShareQuota, nextcloud.Failure{Err: errors.New("connection refused")})

	val, err := f.env.ExecuteActivity(f.acts.ShareSpaceQuotas, nextcloud.ShareQuotasInput{
		Spaces: []nextcloud.SpaceQuota{
			{Slug: "alpha", QuotaBytes: 50 * gb},
			{Slug: "bravo", QuotaBytes: 50 * gb},
			{Slug: "charlie", QuotaBytes: 6 * gb},
			{Slug: "gone", QuotaBytes: 50 * gb},
		},
		Concurrency: 2,
	})
	require.NoError(t, err, "a space that fails does not fail the others")
	var res nextcloud.ShareQuotasResult
	require.NoError(t, val.Get(&res))
	require.Len(t, res.Spaces, 4)

	t.Run("lines come back in the order asked", func(t *testing.T) {
		for i, slug := range []string{"alpha", "bravo", "charlie", "gone"} {
			assert.Equal(t, slug, res.Spaces[i].Slug)
		}
	})
	t.Run("spaces that could be shared report what they hold", func(t *testing.T) {
		assert.Empty(t, res.Spaces[0].Error)
		assert.Equal(t, nextcloud.QuotaUsage{UsedBytes: 6 * gb, Accounts: 1, Changed: 2}, res.Spaces[0].Usage)
		assert.Empty(t, res.Spaces[2].Error)
		assert.Equal(t, 6*gb, res.Spaces[2].Usage.UsedBytes)
		alpha, _ := f.sim.Instance("alpha")
		assert.Equal(t, map[string]int64{"admin": 49 * gb}, alpha.Quotas)
		charlie, _ := f.sim.Instance("charlie")
		assert.Equal(t, map[string]int64{"admin": 5 * gb}, charlie.Quotas, "a full space: each keeps what it has")
	})
	t.Run("a failure or a missing instance is reported in its line", func(t *testing.T) {
		assert.Contains(t, res.Spaces[1].Error, "connection refused")
		assert.Zero(t, res.Spaces[1].Usage)
		assert.Contains(t, res.Spaces[3].Error, nextcloud.ErrNotInstalled.Error())
	})
}
