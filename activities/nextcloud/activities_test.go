package nextcloud_test

import (
	"errors"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"jardinier/activities/nextcloud"
	"jardinier/models"
)

// applicationError returns the Temporal application error err holds.
func applicationError(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	require.Error(t, err)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "not an application error: %v", err)
	return appErr
}

func TestActivitiesProvisionASpace(t *testing.T) {
	f := setup(t)

	_, err := f.env.ExecuteActivity(f.acts.CreateSpaceDatabase, nextcloud.CreateDatabaseInput{Slug: testSlug})
	require.NoError(t, err)

	val, err := f.env.ExecuteActivity(f.acts.InstallSpace, nextcloud.InstallInput{Spec: spec(testSlug)})
	require.NoError(t, err)
	var installed nextcloud.InstallResult
	require.NoError(t, val.Get(&installed))
	assert.Equal(t, testVersion, installed.Version)

	_, err = f.env.ExecuteActivity(f.acts.ApplySpaceLimits, nextcloud.ApplyLimitsInput{Slug: testSlug, Limits: models.DefaultLimits()})
	require.NoError(t, err)
	_, err = f.env.ExecuteActivity(f.acts.EnableSpaceApps, nextcloud.EnableAppsInput{
		Slug: testSlug, OfficeSuite: models.OfficeCollabora, Apps: nextcloud.DefaultApps})
	require.NoError(t, err)

	in, ok := f.sim.Instance(testSlug)
	require.True(t, ok)
	assert.True(t, in.Installed)
	assert.Equal(t, models.DefaultLimits(), in.Limits)
	assert.Contains(t, in.Apps, nextcloud.AppCollabora)

	_, err = f.env.ExecuteActivity(f.acts.RemoveSpace, nextcloud.RemoveInput{Slug: testSlug})
	require.NoError(t, err)
	_, err = f.env.ExecuteActivity(f.acts.RemoveSpace, nextcloud.RemoveInput{Slug: testSlug})
	require.NoError(t, err, "removing again succeeds")
	_, ok = f.sim.Instance(testSlug)
	assert.False(t, ok)
}

func TestActivitiesCreateSpaceAdmin(t *testing.T) {
	t.Run("returns a sealed strong password that the instance accepts", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)

		val, err := f.env.ExecuteActivity(f.acts.CreateSpaceAdmin, nextcloud.CreateAdminInput{Slug: testSlug, AdminUser: "admin"})
		require.NoError(t, err)
		var res nextcloud.CreateAdminResult
		require.NoError(t, val.Get(&res))

		password, err := f.sealer.Open(res.Password)
		require.NoError(t, err)
		assert.Equal(t, "admin", res.AdminUser)
		assert.True(t, f.sim.CheckPassword(testSlug, "admin", password))
		assert.GreaterOrEqual(t, len(password), 20)
		for _, r := range password {
			assert.True(t, r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)), "unexpected %q", r)
		}
		assert.NotContains(t, string(res.Password), password)
		assert.NotContains(t, f.logs.String(), password)
	})

	t.Run("gives a new password each time", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		seen := map[string]bool{}
		for range 3 {
			val, err := f.env.ExecuteActivity(f.acts.CreateSpaceAdmin, nextcloud.CreateAdminInput{Slug: testSlug, AdminUser: "admin"})
			require.NoError(t, err)
			var res nextcloud.CreateAdminResult
			require.NoError(t, val.Get(&res))
			password, err := f.sealer.Open(res.Password)
			require.NoError(t, err)
			seen[password] = true
		}
		assert.Len(t, seen, 3)
	})
}

func TestActivitiesErrors(t *testing.T) {
	t.Run("a transient driver failure is retryable", func(t *testing.T) {
		f := setup(t)
		require.NoError(t, f.sim.CreateDatabase(f.ctx, testSlug))
		f.sim.InjectFailure(testSlug, nextcloud.OpInstall, nextcloud.Failure{Err: errors.New("connection reset"), Times: 1})

		_, err := f.env.ExecuteActivity(f.acts.InstallSpace, nextcloud.InstallInput{Spec: spec(testSlug)})

		appErr := applicationError(t, err)
		assert.False(t, appErr.NonRetryable())
		assert.Contains(t, appErr.Error(), `install space "`+testSlug+`": connection reset`)
		_, err = f.env.ExecuteActivity(f.acts.InstallSpace, nextcloud.InstallInput{Spec: spec(testSlug)})
		assert.NoError(t, err, "the retry succeeds")
	})

	t.Run("a permanent driver failure is not retryable", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		f.sim.InjectFailure(testSlug, nextcloud.OpApplyLimits,
			nextcloud.Failure{Err: errors.Join(errors.New("bad config"), nextcloud.ErrPermanent)})

		_, err := f.env.ExecuteActivity(f.acts.ApplySpaceLimits, nextcloud.ApplyLimitsInput{Slug: testSlug, Limits: models.DefaultLimits()})

		appErr := applicationError(t, err)
		assert.True(t, appErr.NonRetryable())
		assert.Equal(t, nextcloud.ErrTypePermanent, appErr.Type())
	})

	t.Run("installing without a database is not retryable", func(t *testing.T) {
		f := setup(t)
		_, err := f.env.ExecuteActivity(f.acts.InstallSpace, nextcloud.InstallInput{Spec: spec(testSlug)})
		appErr := applicationError(t, err)
		assert.True(t, appErr.NonRetryable())
		assert.Equal(t, nextcloud.ErrTypePermanent, appErr.Type())
	})

	t.Run("an operation on a space without instance is not retryable", func(t *testing.T) {
		f := setup(t)
		_, err := f.env.ExecuteActivity(f.acts.CreateSpaceAdmin, nextcloud.CreateAdminInput{Slug: testSlug, AdminUser: "admin"})
		appErr := applicationError(t, err)
		assert.True(t, appErr.NonRetryable())
		assert.Equal(t, nextcloud.ErrTypeNotInstalled, appErr.Type())
	})
}
