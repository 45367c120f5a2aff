package models

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
)

// Sealed is a secret encrypted with the worker's SECRET_KEY, so that it can travel
// through workflow history (activity results and arguments) without being readable there.
type Sealed string

// Sealer encrypts and decrypts secrets with AES-256-GCM.
type Sealer struct{ aead cipher.AEAD }

// NewSealer returns a Sealer for a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts a secret.
func (s *Sealer) Seal(plain string) Sealed {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return Sealed(base64.RawStdEncoding.EncodeToString(s.aead.Seal(nonce, nonce, []byte(plain), nil)))
}

// Open decrypts a sealed secret.
func (s *Sealer) Open(sealed Sealed) (string, error) {
	raw, err := base64.RawStdEncoding.DecodeString(string(sealed))
	if err != nil || len(raw) < s.aead.NonceSize() {
		return "", errors.New("open sealed secret: malformed")
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], nil)
	if err != nil {
		return "", fmt.Errorf("open sealed secret: %w", err)
	}
	return string(plain), nil
}
