package models

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
)

// PayloadKey is one key that encrypts the payloads of workflow histories (AES-256-GCM).
// Its ID is written beside each payload it encrypted, so that keys can be rotated:
// a new key is put first, the old ones stay after it for as long as histories they
// encrypted are kept.
type PayloadKey struct {
	ID  string
	Key []byte // 32 bytes
}

var payloadKeyID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// ParsePayloadKeys reads TEMPORAL_PAYLOAD_KEYS: "id:base64key[,id:base64key...]", the
// first encrypting, every one decrypting. Its errors never repeat a key.
func ParsePayloadKeys(raw string) ([]PayloadKey, error) {
	var keys []PayloadKey
	seen := map[string]bool{}
	for i, part := range strings.Split(raw, ",") {
		id, enc, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || !payloadKeyID.MatchString(id) {
			return nil, fmt.Errorf("key %d: want id:base64key, the id of 1 to 32 letters, digits, - or _", i+1)
		}
		key, err := base64.StdEncoding.DecodeString(enc)
		if err != nil || len(key) != 32 {
			return nil, fmt.Errorf("key %q: must be 32 bytes encoded in base64 (openssl rand -base64 32)", id)
		}
		if seen[id] {
			return nil, fmt.Errorf("key %q: given twice", id)
		}
		seen[id] = true
		keys = append(keys, PayloadKey{ID: id, Key: key})
	}
	return keys, nil
}
