package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// Role is what a moderator may do.
type Role string

// The roles: moderators review applications and act on spaces; admins also manage
// moderators and fleet operations.
const (
	RoleModerator Role = "moderator"
	RoleAdmin     Role = "admin"
)

// Roles lists every role.
var Roles = []Role{RoleModerator, RoleAdmin}

// Moderator is a person allowed to use the moderation API. Only the SHA-256 of the
// token is stored: tokens are 256 random bits, so a slow hash would add nothing.
type Moderator struct {
	ID        uint   `gorm:"primaryKey"`
	Name      string `gorm:"not null;uniqueIndex"`
	Role      Role   `gorm:"not null"`
	TokenHash string `gorm:"not null;uniqueIndex"`
	CreatedAt time.Time
}

// TokenPrefix starts every API token so that a leaked one is easy to recognise.
const TokenPrefix = "jrd_"

// NewToken returns a fresh random API token and its hash.
func NewToken() (token, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken returns the stored form of a token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// ValidateModerator checks a new moderator's name and role.
func ValidateModerator(name string, role Role) error {
	if strings.TrimSpace(name) == "" {
		return FieldError("name", "est obligatoire")
	} else if len(name) > MaxNameLength {
		return FieldError("name", "ne peut dépasser %d caractères", MaxNameLength)
	} else if !slices.Contains(Roles, role) {
		return FieldError("role", "doit être moderator ou admin")
	}
	return nil
}

// Allows reports whether this role may act where want is required.
func (r Role) Allows(want Role) bool { return r == RoleAdmin || r == want }

// CreateModerator records a new moderator and returns their API token, which is shown
// only this once: only its hash is stored. The API's admin screen and the
// `jardinier moderator add` command both call it.
func CreateModerator(ctx context.Context, db *gorm.DB, name string, role Role) (string, *Moderator, error) {
	name = strings.TrimSpace(name)
	if err := ValidateModerator(name, role); err != nil {
		return "", nil, err
	}
	token, hash := NewToken()
	m := &Moderator{Name: name, Role: role, TokenHash: hash}
	err := db.WithContext(ctx).Create(m).Error
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return "", nil, &Error{Code: ECONFLICT, Field: "name", Message: "un modérateur porte déjà ce nom"}
	} else if err != nil {
		return "", nil, fmt.Errorf("create moderator %q: %w", name, err)
	}
	return token, m, nil
}
