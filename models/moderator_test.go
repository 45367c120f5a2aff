package models_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/models"
	"jardinier/models/modeltest"
)

func TestNewToken(t *testing.T) {
	token, hash := models.NewToken()

	t.Run("a token is recognisable by its prefix", func(t *testing.T) {
		assert.True(t, strings.HasPrefix(token, models.TokenPrefix), token)
		assert.Len(t, token, len(models.TokenPrefix)+43, "256 random bits in unpadded base64url")
	})

	t.Run("the hash returned is the stored form of the token", func(t *testing.T) {
		assert.Equal(t, models.HashToken(token), hash)
		assert.NotContains(t, hash, strings.TrimPrefix(token, models.TokenPrefix))
	})

	t.Run("every token is new", func(t *testing.T) {
		seen := map[string]bool{token: true}
		for range 100 {
			next, nextHash := models.NewToken()
			require.False(t, seen[next], "token %s given twice", next)
			assert.NotEqual(t, hash, nextHash)
			seen[next] = true
		}
	})
}

func TestHashToken(t *testing.T) {
	t.Run("the same token always gives the same hash", func(t *testing.T) {
		assert.Equal(t, models.HashToken("jrd_abc"), models.HashToken("jrd_abc"))
		// SHA-256 in hexadecimal: stored hashes stay valid from one release to the next.
		assert.Equal(t, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", models.HashToken("abc"))
	})

	t.Run("different tokens give different hashes", func(t *testing.T) {
		assert.NotEqual(t, models.HashToken("jrd_abc"), models.HashToken("jrd_abd"))
	})
}

func TestRoleAllows(t *testing.T) {
	for _, tc := range []struct {
		name      string
		role      models.Role
		want      models.Role
		isAllowed bool
	}{
		{"a moderator may do what moderators do", models.RoleModerator, models.RoleModerator, true},
		{"a moderator may not do what only admins do", models.RoleModerator, models.RoleAdmin, false},
		{"an admin may do what moderators do", models.RoleAdmin, models.RoleModerator, true},
		{"an admin may do what admins do", models.RoleAdmin, models.RoleAdmin, true},
		{"an unknown role may do nothing", models.Role("guest"), models.RoleModerator, false},
		{"an empty role may do nothing", models.Role(""), models.RoleModerator, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.isAllowed, tc.role.Allows(tc.want))
		})
	}
}

func TestValidateModerator(t *testing.T) {
	t.Run("a named moderator or admin is accepted", func(t *testing.T) {
		assert.NoError(t, models.ValidateModerator("Camille", models.RoleModerator, ""))
		assert.NoError(t, models.ValidateModerator("Dominique", models.RoleAdmin, ""))
	})
	t.Run("a blank name is refused", func(t *testing.T) {
		requireFieldError(t, models.ValidateModerator("  ", models.RoleModerator, ""), models.EINVALID, "name")
	})
	t.Run("a name over 200 characters is refused", func(t *testing.T) {
		requireFieldError(t, models.ValidateModerator(strings.Repeat("n", models.MaxNameLength+1), models.RoleModerator, ""), models.EINVALID, "name")
	})
	t.Run("an address, when given, must be valid", func(t *testing.T) {
		assert.NoError(t, models.ValidateModerator("Camille", models.RoleModerator, "camille@example.org"))
		requireFieldError(t, models.ValidateModerator("Camille", models.RoleModerator, "camille"), models.EINVALID, "email")
	})
	t.Run("an unknown role is refused", func(t *testing.T) {
		requireFieldError(t, models.ValidateModerator("Camille", "superuser", ""), models.EINVALID, "role")
	})
}

func TestCreateModerator(t *testing.T) {
	db := modeltest.NewDB(t)
	ctx := t.Context()

	t.Run("records the moderator with the hash of the token it returns, once", func(t *testing.T) {
		token, m, err := models.CreateModerator(ctx, db, "  camille ", models.RoleAdmin)
		require.NoError(t, err)
		assert.Equal(t, "camille", m.Name, "the name is trimmed")
		var stored models.Moderator
		require.NoError(t, db.First(&stored, m.ID).Error)
		var t0 models.APIToken
		require.NoError(t, db.First(&t0, "moderator_id = ?", m.ID).Error)
		assert.Equal(t, models.HashToken(token), t0.Hash)
		assert.Equal(t, models.RoleAdmin, stored.Role)
	})

	t.Run("a name taken is a conflict on the name field, and adds nobody", func(t *testing.T) {
		_, _, err := models.CreateModerator(ctx, db, "camille", models.RoleModerator)
		var e *models.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, models.ECONFLICT, e.Code)
		assert.Equal(t, "name", e.Field)
		var n int64
		require.NoError(t, db.Model(&models.Moderator{}).Where("name = ?", "camille").Count(&n).Error)
		assert.EqualValues(t, 1, n)
	})

	t.Run("an address taken by another moderator is a conflict on the email field", func(t *testing.T) {
		_, _, err := models.AddModerator(ctx, db, "dominique", models.RoleModerator, "Dominique@example.org")
		require.NoError(t, err)
		_, _, err = models.AddModerator(ctx, db, "dom", models.RoleModerator, "dominique@example.org")
		var e *models.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, "email", e.Field)
	})

	t.Run("an unknown role names the role field", func(t *testing.T) {
		_, _, err := models.CreateModerator(ctx, db, "eli", models.Role("chef"))
		var e *models.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, "role", e.Field)
	})
}
