package models_test

import (
	"context"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/models"
	"jardinier/models/modeltest"
)

func TestTOTP(t *testing.T) {
	ctx := context.Background()
	db := modeltest.NewDB(t)
	sealer, err := models.NewSealer(modeltest.SecretKey)
	require.NoError(t, err)
	m := invited(t, db, "Alix", models.RoleAdmin, "alix@example.org", "un mot de passe assez long")
	now := time.Now()

	enrol, err := models.BeginTOTP(ctx, db, sealer, m)
	require.NoError(t, err)
	t.Run("the secret is stored sealed, never in clear", func(t *testing.T) {
		var stored models.Moderator
		require.NoError(t, db.First(&stored, m.ID).Error)
		assert.NotEmpty(t, stored.TOTPSecret)
		assert.NotContains(t, string(stored.TOTPSecret), enrol.Secret)
		assert.Contains(t, enrol.URL, "otpauth://totp/Jardinier:alix@example.org")
	})

	code, err := totp.GenerateCode(enrol.Secret, now)
	require.NoError(t, err)
	t.Run("a wrong first code does not turn it on", func(t *testing.T) {
		_, err := models.ConfirmTOTP(ctx, db, sealer, m, "000000", now)
		if code == "000000" {
			t.Skip("the right code is 000000 this time")
		}
		assert.ErrorIs(t, err, models.ErrBadCode)
		assert.False(t, m.TOTPEnabled())
	})
	codes, err := models.ConfirmTOTP(ctx, db, sealer, m, code, now)
	require.NoError(t, err)
	require.Len(t, codes, models.RecoveryCodeCount)

	t.Run("a code is accepted once, its successor too", func(t *testing.T) {
		assert.ErrorIs(t, models.CheckSecondFactor(ctx, db, sealer, m, code, now), models.ErrBadCode, "already used at enrolment")
		later := now.Add(30 * time.Second)
		next, err := totp.GenerateCode(enrol.Secret, later)
		require.NoError(t, err)
		require.NoError(t, models.CheckSecondFactor(ctx, db, sealer, m, next, later))
		assert.ErrorIs(t, models.CheckSecondFactor(ctx, db, sealer, m, next, later), models.ErrBadCode)
	})
	t.Run("a recovery code works once and only its hash is kept", func(t *testing.T) {
		require.NoError(t, models.CheckSecondFactor(ctx, db, sealer, m, codes[0], now))
		assert.ErrorIs(t, models.CheckSecondFactor(ctx, db, sealer, m, codes[0], now), models.ErrBadCode)
		left, err := models.RecoveryCodesLeft(ctx, db, m.ID)
		require.NoError(t, err)
		assert.EqualValues(t, models.RecoveryCodeCount-1, left)
		var n int64
		require.NoError(t, db.Model(&models.RecoveryCode{}).Where("hash = ?", codes[1]).Count(&n).Error)
		assert.Zero(t, n)
	})
	t.Run("five wrong codes in a row lock the account, the right one too, for a while", func(t *testing.T) {
		later := now.Add(2 * time.Minute)
		// The wrong codes above count too: the lock comes at the fifth in a row.
		refused := 0
		for range models.MaxFailedSignIns {
			if models.ErrorCode(models.CheckSecondFactor(ctx, db, sealer, m, "123456", later)) == models.ELIMIT {
				break
			}
			refused++
		}
		assert.Less(t, refused, models.MaxFailedSignIns)
		good, err := totp.GenerateCode(enrol.Secret, later)
		require.NoError(t, err)
		assert.Equal(t, models.ELIMIT, models.ErrorCode(models.CheckSecondFactor(ctx, db, sealer, m, good, later)))
		afterLock := later.Add(models.SignInLockout + time.Minute)
		good, err = totp.GenerateCode(enrol.Secret, afterLock)
		require.NoError(t, err)
		require.NoError(t, models.CheckSecondFactor(ctx, db, sealer, m, good, afterLock))
	})
}
