package models

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password rules: long rather than complicated (ANSSI and NIST advice); the upper bound
// only keeps hashing cheap.
const (
	MinPasswordLength = 12
	MaxPasswordLength = 200
)

// argon2id settings: OWASP's first recommendation (19 MiB, 2 passes, 1 lane), about
// 30 ms on one core, so that a stolen database is slow to attack and sign-in stays fast.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	argonSaltLen   = 16
)

// ValidatePassword checks a new password against the rules; field names the form field.
func ValidatePassword(field, password string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case n < MinPasswordLength:
		return FieldError(field, "doit compter au moins %d caractères", MinPasswordLength)
	case n > MaxPasswordLength:
		return FieldError(field, "ne peut dépasser %d caractères", MaxPasswordLength)
	case strings.TrimSpace(password) == "":
		return FieldError(field, "ne peut être fait que d'espaces")
	}
	return nil
}

// HashPassword returns the argon2id hash of a password in the PHC string format, which
// carries its settings so that they can be raised later without breaking old hashes.
func HashPassword(password string) string {
	salt := make([]byte, argonSaltLen)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemoryKiB, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// dummyHash is checked against when there is no account, so that a wrong address takes
// as long to refuse as a wrong password.
var dummyHash = HashPassword("jardinier: no such account")

// CheckPassword reports whether password matches a hash of HashPassword. A malformed or
// empty hash matches nothing.
func CheckPassword(hash, password string) bool {
	var (
		version, memory, passes int
		threads                 uint8
	)
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &passes, &threads); err != nil ||
		memory < 1 || memory > 1<<22 || passes < 1 || passes > 16 || threads < 1 {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, uint32(passes), uint32(memory), threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}
