package workflows_test

import (
	"bytes"
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"jardinier/models"
	"jardinier/workflows"
)

func TestPayloadCodec(t *testing.T) {
	k1 := models.PayloadKey{ID: "k1", Key: bytes.Repeat([]byte{1}, 32)}
	k2 := models.PayloadKey{ID: "k2", Key: bytes.Repeat([]byte{2}, 32)}
	plain, err := converter.GetDefaultDataConverter().ToPayload(map[string]string{"Slug": "chorale-du-port"})
	require.NoError(t, err)

	old, err := workflows.NewPayloadCodec([]models.PayloadKey{k1})
	require.NoError(t, err)
	sealed, err := old.Encode([]*commonpb.Payload{plain})
	require.NoError(t, err)

	t.Run("an encrypted payload shows nothing of its content, and names its key", func(t *testing.T) {
		assert.NotContains(t, string(sealed[0].Data), "chorale")
		assert.Equal(t, "k1", string(sealed[0].Metadata["encryption-key-id"]))
		assert.Equal(t, "binary/encrypted", string(sealed[0].Metadata["encoding"]))
	})

	t.Run("after a rotation, the new key encrypts and the old one still decrypts", func(t *testing.T) {
		rotated, err := workflows.NewPayloadCodec([]models.PayloadKey{k2, k1})
		require.NoError(t, err)
		opened, err := rotated.Decode(sealed)
		require.NoError(t, err)
		assert.Equal(t, plain.Data, opened[0].Data)
		assert.Equal(t, plain.Metadata, opened[0].Metadata)
		again, err := rotated.Encode([]*commonpb.Payload{plain})
		require.NoError(t, err)
		assert.Equal(t, "k2", string(again[0].Metadata["encryption-key-id"]))
	})

	t.Run("a payload in clear, from a history written before the keys, is left as it is", func(t *testing.T) {
		opened, err := old.Decode([]*commonpb.Payload{plain})
		require.NoError(t, err)
		assert.Same(t, plain, opened[0])
	})

	t.Run("an unknown key, a changed byte or a moved key ID are refused", func(t *testing.T) {
		other, err := workflows.NewPayloadCodec([]models.PayloadKey{k2})
		require.NoError(t, err)
		_, err = other.Decode(sealed)
		assert.ErrorContains(t, err, `key "k1" is not in TEMPORAL_PAYLOAD_KEYS`)

		tampered := &commonpb.Payload{Metadata: sealed[0].Metadata, Data: bytes.Clone(sealed[0].Data)}
		tampered.Data[len(tampered.Data)-1] ^= 1
		_, err = old.Decode([]*commonpb.Payload{tampered})
		assert.Error(t, err)

		both, err := workflows.NewPayloadCodec([]models.PayloadKey{k1, {ID: "k3", Key: k1.Key}})
		require.NoError(t, err)
		moved := &commonpb.Payload{Metadata: map[string][]byte{"encoding": []byte("binary/encrypted"),
			"encryption-key-id": []byte("k3")}, Data: sealed[0].Data}
		_, err = both.Decode([]*commonpb.Payload{moved})
		assert.Error(t, err, "the key ID is bound to the ciphertext")
	})
}

func TestParsePayloadKeys(t *testing.T) {
	keys, err := models.ParsePayloadKeys("2026b:" + b64(2) + ", 2026a:" + b64(1))
	require.NoError(t, err)
	require.Len(t, keys, 2)
	assert.Equal(t, "2026b", keys[0].ID, "the first key encrypts")
	for raw, want := range map[string]string{
		"nokey":                        "want id:base64key",
		"a:" + b64(1) + ",a:" + b64(2): `key "a": given twice`,
		"a:c2hvcnQ=":                   `key "a": must be 32 bytes`,
		"a b:" + b64(1):                "want id:base64key",
	} {
		_, err := models.ParsePayloadKeys(raw)
		assert.ErrorContains(t, err, want, raw)
		if err != nil {
			assert.NotContains(t, err.Error(), b64(1), "an error never repeats a key")
		}
	}
}

func b64(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }
