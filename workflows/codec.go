package workflows

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"jardinier/models"
)

// Metadata of an encrypted payload: its encoding says it is one, its key ID which key
// of TEMPORAL_PAYLOAD_KEYS opens it. The payload's own metadata travels inside.
const (
	payloadEncoding      = "binary/encrypted"
	payloadMetadataKeyID = "encryption-key-id"
	payloadMetadataEnc   = "encoding"
)

// PayloadCodec encrypts every payload of a workflow's history with AES-256-GCM under
// the first key, and decrypts with whichever key a payload names. A payload that is
// not encrypted (histories recorded before the keys were set) is left as it is.
type PayloadCodec struct {
	current string
	aeads   map[string]cipher.AEAD
}

// NewPayloadCodec returns the codec of keys (at least one; the first encrypts).
func NewPayloadCodec(keys []models.PayloadKey) (*PayloadCodec, error) {
	if len(keys) == 0 {
		return nil, fmt.Errorf("TEMPORAL_PAYLOAD_KEYS: no key")
	}
	c := &PayloadCodec{current: keys[0].ID, aeads: map[string]cipher.AEAD{}}
	for _, k := range keys {
		block, err := aes.NewCipher(k.Key)
		if err != nil {
			return nil, fmt.Errorf("TEMPORAL_PAYLOAD_KEYS: key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("TEMPORAL_PAYLOAD_KEYS: key %q: %w", k.ID, err)
		}
		c.aeads[k.ID] = aead
	}
	return c, nil
}

// Encode encrypts payloads under the current key.
func (c *PayloadCodec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.aeads[c.current]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := p.Marshal()
		if err != nil {
			return nil, fmt.Errorf("encode payload: %w", err)
		}
		nonce := make([]byte, aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("encode payload: %w", err)
		}
		// The key ID is bound to the ciphertext: a payload moved under another ID fails.
		sealed := aead.Seal(nonce, nonce, plain, []byte(c.current))
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				payloadMetadataEnc:   []byte(payloadEncoding),
				payloadMetadataKeyID: []byte(c.current),
			},
			Data: sealed,
		}
	}
	return out, nil
}

// Decode decrypts the payloads encrypted by Encode, with the key each names.
func (c *PayloadCodec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[payloadMetadataEnc]) != payloadEncoding {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[payloadMetadataKeyID])
		aead, ok := c.aeads[id]
		if !ok {
			return nil, fmt.Errorf("decode payload: key %q is not in TEMPORAL_PAYLOAD_KEYS", id)
		}
		data := p.GetData()
		if len(data) < aead.NonceSize() {
			return nil, fmt.Errorf("decode payload: too short")
		}
		plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], []byte(id))
		if err != nil {
			return nil, fmt.Errorf("decode payload under key %q: %w", id, err)
		}
		var decoded commonpb.Payload
		if err := decoded.Unmarshal(plain); err != nil {
			return nil, fmt.Errorf("decode payload: %w", err)
		}
		out[i] = &decoded
	}
	return out, nil
}

// DataConverter is the SDK's default converter, its payloads encrypted when the
// configuration has keys; nil (the SDK's default) when it has none.
func DataConverter(cfg models.Config) (converter.DataConverter, error) {
	if len(cfg.PayloadKeys) == 0 {
		return nil, nil
	}
	codec, err := NewPayloadCodec(cfg.PayloadKeys)
	if err != nil {
		return nil, err
	}
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), codec), nil
}
