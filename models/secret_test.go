package models_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/models"
	"jardinier/models/modeltest"
)

// newSealer returns a Sealer for key.
func newSealer(t *testing.T, key []byte) *models.Sealer {
	t.Helper()
	s, err := models.NewSealer(key)
	require.NoError(t, err)
	return s
}

func TestSealer(t *testing.T) {
	const password = "Mot-de-passe-d'administration-7Yq!"
	sealer := newSealer(t, modeltest.SecretKey)

	t.Run("a sealed secret opens to the original", func(t *testing.T) {
		for _, secret := range []string{password, "", "é à ç 🌱", strings.Repeat("x", 10_000)} {
			got, err := sealer.Open(sealer.Seal(secret))
			require.NoError(t, err)
			assert.Equal(t, secret, got)
		}
	})

	t.Run("a secret sealed by one worker opens in another with the same key", func(t *testing.T) {
		other := newSealer(t, modeltest.SecretKey)
		got, err := other.Open(sealer.Seal(password))
		require.NoError(t, err)
		assert.Equal(t, password, got)
	})

	t.Run("the sealed text does not reveal the secret", func(t *testing.T) {
		sealed := string(sealer.Seal(password))
		assert.NotContains(t, sealed, password)
		assert.NotContains(t, sealed, "administration")
	})

	t.Run("sealing the same secret twice gives different texts", func(t *testing.T) {
		assert.NotEqual(t, sealer.Seal(password), sealer.Seal(password))
	})

	t.Run("a tampered sealed text does not open", func(t *testing.T) {
		raw, err := base64.RawStdEncoding.DecodeString(string(sealer.Seal(password)))
		require.NoError(t, err)
		// Flip one bit in the nonce, in the encrypted secret and in the tag.
		for _, i := range []int{0, len(raw) / 2, len(raw) - 1} {
			tampered := append([]byte(nil), raw...)
			tampered[i] ^= 0x01
			got, err := sealer.Open(models.Sealed(base64.RawStdEncoding.EncodeToString(tampered)))
			assert.Error(t, err, "bit flipped in byte %d", i)
			assert.Empty(t, got)
		}
	})

	t.Run("a truncated or malformed sealed text does not open", func(t *testing.T) {
		sealed := sealer.Seal(password)
		for _, bad := range []models.Sealed{"", "abc", sealed[:len(sealed)-4], "not base64 !", sealed + "=="} {
			_, err := sealer.Open(bad)
			assert.Error(t, err, "%q", bad)
		}
	})

	t.Run("a secret sealed with another key does not open", func(t *testing.T) {
		other := newSealer(t, []byte(strings.Repeat("k", 32)))
		_, err := sealer.Open(other.Seal(password))
		assert.Error(t, err)
	})

	t.Run("a key that is not 16, 24 or 32 bytes long is refused", func(t *testing.T) {
		for _, key := range [][]byte{nil, []byte("short"), make([]byte, 33)} {
			_, err := models.NewSealer(key)
			assert.Error(t, err, "%d bytes", len(key))
		}
	})
}
