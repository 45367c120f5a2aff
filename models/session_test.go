package models_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"jardinier/models"
	"jardinier/models/modeltest"
)

// invited creates a moderator with an address and sets their password through the
// invitation link, as the console does.
func invited(t *testing.T, db *gorm.DB, name string, role models.Role, email, password string) *models.Moderator {
	t.Helper()
	ctx := context.Background()
	_, m, err := models.AddModerator(ctx, db, name, role, email)
	require.NoError(t, err)
	link, err := models.NewModeratorLink(ctx, db, m.ID, models.LinkInvitation, time.Now())
	require.NoError(t, err)
	m, err = models.SetPasswordWithLink(ctx, db, link.ID, password, time.Now())
	require.NoError(t, err)
	return m
}

func TestPasswords(t *testing.T) {
	hash := models.HashPassword("correct horse battery")
	t.Run("a password matches its argon2id hash and nothing else", func(t *testing.T) {
		assert.Contains(t, hash, "$argon2id$v=19$m=19456,t=2,p=1$")
		assert.True(t, models.CheckPassword(hash, "correct horse battery"))
		assert.False(t, models.CheckPassword(hash, "correct horse batterz"))
		assert.False(t, models.CheckPassword("", "correct horse battery"))
		assert.False(t, models.CheckPassword("$argon2id$v=19$m=0,t=2,p=1$AAAA$AAAA", ""))
	})
	t.Run("two hashes of one password differ: each has its salt", func(t *testing.T) {
		assert.NotEqual(t, hash, models.HashPassword("correct horse battery"))
	})
	t.Run("a short password is refused, naming the field", func(t *testing.T) {
		requireFieldError(t, models.ValidatePassword("password", "court"), models.EINVALID, "password")
	})
}

func TestSignIn(t *testing.T) {
	ctx := context.Background()
	db := modeltest.NewDB(t)
	invited(t, db, "Camille", models.RoleModerator, "Camille@Example.org", "un mot de passe assez long")
	now := time.Now()

	t.Run("the right address and password sign in, whatever the address's case", func(t *testing.T) {
		m, err := models.SignIn(ctx, db, "camille@example.ORG", "un mot de passe assez long", now)
		require.NoError(t, err)
		assert.Equal(t, "Camille", m.Name)
	})
	t.Run("an unknown address gets the same answer as a wrong password", func(t *testing.T) {
		_, err1 := models.SignIn(ctx, db, "personne@example.org", "un mot de passe assez long", now)
		_, err2 := models.SignIn(ctx, db, "camille@example.org", "pas le bon mot de passe", now)
		assert.Equal(t, err1, err2)
		// The right password resets the count of the wrong one above.
		_, err := models.SignIn(ctx, db, "camille@example.org", "un mot de passe assez long", now)
		require.NoError(t, err)
	})
	t.Run("the sixth attempt after five wrong passwords in a row is refused, the right one too, for a while", func(t *testing.T) {
		for range models.MaxFailedSignIns {
			_, err := models.SignIn(ctx, db, "camille@example.org", "pas le bon mot de passe", now)
			require.Equal(t, models.EUNAUTHORIZED, models.ErrorCode(err))
		}
		_, err := models.SignIn(ctx, db, "camille@example.org", "un mot de passe assez long", now.Add(time.Minute))
		assert.Equal(t, models.ELIMIT, models.ErrorCode(err), "locked")
		m, err := models.SignIn(ctx, db, "camille@example.org", "un mot de passe assez long", now.Add(models.SignInLockout+time.Second))
		require.NoError(t, err, "the lock is over")
		assert.Equal(t, "Camille", m.Name)
	})
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	db := modeltest.NewDB(t)
	m := invited(t, db, "Camille", models.RoleModerator, "camille@example.org", "un mot de passe assez long")
	now := time.Now()

	t.Run("a session works until it is idle for eight hours", func(t *testing.T) {
		token, _, err := models.NewSession(ctx, db, m.ID, true, now)
		require.NoError(t, err)
		_, got, err := models.LookupSession(ctx, db, token, now.Add(7*time.Hour))
		require.NoError(t, err)
		assert.Equal(t, m.ID, got.ID)
		_, _, err = models.LookupSession(ctx, db, token, now.Add(7*time.Hour+models.SessionIdleTimeout))
		assert.ErrorIs(t, err, models.ErrNoSession)
	})
	t.Run("no session outlives its maximum age, however busy", func(t *testing.T) {
		token, _, err := models.NewSession(ctx, db, m.ID, true, now)
		require.NoError(t, err)
		for h := time.Duration(1); h < 12; h++ {
			_, _, err = models.LookupSession(ctx, db, token, now.Add(h*time.Hour))
			require.NoError(t, err)
		}
		_, _, err = models.LookupSession(ctx, db, token, now.Add(models.SessionMaxAge))
		assert.ErrorIs(t, err, models.ErrNoSession)
	})
	t.Run("only the hash of the cookie's token is stored", func(t *testing.T) {
		token, s, err := models.NewSession(ctx, db, m.ID, true, now)
		require.NoError(t, err)
		assert.NotEqual(t, token, s.ID)
		var n int64
		require.NoError(t, db.Model(&models.Session{}).Where("id = ?", token).Count(&n).Error)
		assert.Zero(t, n)
	})
	t.Run("disabling a moderator ends their sessions and revokes their tokens at once", func(t *testing.T) {
		admin := invited(t, db, "Alix", models.RoleAdmin, "alix@example.org", "un mot de passe assez long")
		token, _, err := models.NewSession(ctx, db, m.ID, true, now)
		require.NoError(t, err)
		api, _, err := models.CreateAPIToken(ctx, db, m.ID, "script")
		require.NoError(t, err)
		_, err = models.ModeratorByToken(ctx, db, api, now)
		require.NoError(t, err)
		_, err = models.DisableModerator(ctx, db, m.ID, admin.ID, now)
		require.NoError(t, err)
		_, _, err = models.LookupSession(ctx, db, token, now)
		assert.ErrorIs(t, err, models.ErrNoSession)
		_, err = models.ModeratorByToken(ctx, db, api, now)
		assert.ErrorIs(t, err, models.ErrBadToken)
	})
}

func TestModeratorLinks(t *testing.T) {
	ctx := context.Background()
	db := modeltest.NewDB(t)
	_, m, err := models.AddModerator(ctx, db, "Camille", models.RoleModerator, "camille@example.org")
	require.NoError(t, err)
	signer := models.NewSigner(modeltest.SecretKey)
	now := time.Now()

	t.Run("an invitation works once, for seven days", func(t *testing.T) {
		link, err := models.NewModeratorLink(ctx, db, m.ID, models.LinkInvitation, now)
		require.NoError(t, err)
		id, err := signer.ModeratorLinkID(signer.ModeratorLinkToken(link.ID))
		require.NoError(t, err)
		_, _, err = models.OpenModeratorLink(ctx, db, id, now.Add(models.InvitationValidity))
		assert.ErrorIs(t, err, models.ErrTokenExpired)
		_, err = models.SetPasswordWithLink(ctx, db, id, "un mot de passe assez long", now.Add(time.Hour))
		require.NoError(t, err)
		_, err = models.SetPasswordWithLink(ctx, db, id, "un autre mot de passe long", now.Add(time.Hour))
		assert.ErrorIs(t, err, models.ErrLinkUsed)
	})
	t.Run("a forged token is refused", func(t *testing.T) {
		link, err := models.NewModeratorLink(ctx, db, m.ID, models.LinkPasswordReset, now)
		require.NoError(t, err)
		_, err = signer.ModeratorLinkID(link.ID + ".AAAA")
		assert.ErrorIs(t, err, models.ErrTokenInvalid)
	})
	t.Run("a new link replaces the unused ones", func(t *testing.T) {
		first, err := models.NewModeratorLink(ctx, db, m.ID, models.LinkPasswordReset, now)
		require.NoError(t, err)
		_, err = models.NewModeratorLink(ctx, db, m.ID, models.LinkPasswordReset, now)
		require.NoError(t, err)
		_, _, err = models.OpenModeratorLink(ctx, db, first.ID, now)
		assert.ErrorIs(t, err, models.ErrLinkUsed)
	})
}

func TestMigrateModeratorTokens(t *testing.T) {
	ctx := context.Background()
	db := modeltest.NewDB(t)
	// A database from before API tokens had their own table: one hash per moderator.
	token, hash := models.NewToken()
	require.NoError(t, db.Exec(`ALTER TABLE moderators ADD COLUMN token_hash text`).Error)
	require.NoError(t, db.Exec(`INSERT INTO moderators (name, role, token_hash, created_at) VALUES ('camille', 'moderator', ?, now())`, hash).Error)

	require.NoError(t, models.Migrate(db))
	t.Run("the old token still works, from the new table, and the old column is gone", func(t *testing.T) {
		m, err := models.ModeratorByToken(ctx, db, token, time.Now())
		require.NoError(t, err)
		assert.Equal(t, "camille", m.Name)
		assert.False(t, db.Migrator().HasColumn(&models.Moderator{}, "token_hash"))
	})
	t.Run("migrating again changes nothing", func(t *testing.T) {
		require.NoError(t, models.Migrate(db))
		var n int64
		require.NoError(t, db.Model(&models.APIToken{}).Count(&n).Error)
		assert.EqualValues(t, 1, n)
	})
}
