package database_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"jardinier/activities/database"
	"jardinier/models"
	"jardinier/models/modeltest"
)

func TestChangeContactEmail(t *testing.T) {
	sealer, err := models.NewSealer(modeltest.SecretKey)
	require.NoError(t, err)
	contactOf := func(t *testing.T, f *fixture) string {
		t.Helper()
		var app models.Application
		require.NoError(t, f.db.Select("contact_email").Take(&app, "id = ?", f.app.ID).Error)
		return app.ContactEmail
	}

	t.Run("the current address comes back sealed, then the new one replaces it, once however often retried", func(t *testing.T) {
		f := setup(t)
		f.act.Sealer = sealer
		env := f.environment(t)
		val, err := env.ExecuteActivity(f.act.SealContactEmail, database.ContactEmailInput{ApplicationID: f.app.ID})
		require.NoError(t, err)
		var current database.ContactEmailResult
		require.NoError(t, val.Get(&current))
		assert.NotContains(t, string(current.Email), "@", "sealed, not in clear")
		opened, err := sealer.Open(current.Email)
		require.NoError(t, err)
		assert.Equal(t, f.app.ContactEmail, opened)

		in := database.ChangeContactEmailInput{ApplicationID: f.app.ID, Email: sealer.Seal("  Nouveau.Bureau@Asso.Example ")}
		for i, want := range []bool{true, false} {
			val, err := env.ExecuteActivity(f.act.ChangeContactEmail, in)
			require.NoError(t, err)
			var res database.ChangeContactEmailResult
			require.NoError(t, val.Get(&res))
			assert.Equal(t, want, res.Changed, "attempt %d", i+1)
		}
		assert.Equal(t, "nouveau.bureau@asso.example", contactOf(t, f), "normalised as at submission")
	})

	t.Run("an address sealed with another key, or not an address, is refused for good and changes nothing", func(t *testing.T) {
		f := setup(t)
		f.act.Sealer = sealer
		other, err := models.NewSealer([]byte("fedcba9876543210fedcba9876543210"))
		require.NoError(t, err)
		for _, sealed := range []models.Sealed{other.Seal("autre@asso.example"), sealer.Seal("pas une adresse"), "abc"} {
			_, err := f.environment(t).ExecuteActivity(f.act.ChangeContactEmail,
				database.ChangeContactEmailInput{ApplicationID: f.app.ID, Email: sealed})
			var appErr *temporal.ApplicationError
			require.True(t, errors.As(err, &appErr), "%v", err)
			assert.Equal(t, database.ErrTypeSealed, appErr.Type())
			assert.True(t, appErr.NonRetryable())
			assert.NotContains(t, err.Error(), "autre@asso.example")
			assert.Equal(t, f.app.ContactEmail, contactOf(t, f))
		}
	})

	t.Run("a purged application is refused for good", func(t *testing.T) {
		f := setup(t)
		f.act.Sealer = sealer
		for _, id := range []string{"8d0f6f5e-0000-4000-8000-000000000000", "pas-un-uuid"} {
			_, err := f.environment(t).ExecuteActivity(f.act.SealContactEmail, database.ContactEmailInput{ApplicationID: id})
			var appErr *temporal.ApplicationError
			require.True(t, errors.As(err, &appErr), "%v", err)
			assert.Equal(t, database.ErrTypeNoApplication, appErr.Type())
		}
	})

	t.Run("without a key nothing is read nor written", func(t *testing.T) {
		f := setup(t)
		_, err := f.environment(t).ExecuteActivity(f.act.ChangeContactEmail,
			database.ChangeContactEmailInput{ApplicationID: f.app.ID, Email: sealer.Seal("x@asso.example")})
		require.Error(t, err)
		assert.Equal(t, f.app.ContactEmail, contactOf(t, f))
	})
}
