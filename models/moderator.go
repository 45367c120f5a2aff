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

// Moderator is a person allowed to use the moderators' console and API. A moderator
// without an e-mail address only has API tokens (a script); one with an address signs
// in to the console with a password chosen through a mailed link, and an admin also
// with a one-time code (TOTP).
type Moderator struct {
	ID   uint   `gorm:"primaryKey"`
	Name string `gorm:"not null;uniqueIndex"`
	Role Role   `gorm:"not null"`
	// Email is nil for a script's account: the unique index allows many of those.
	Email        *string `gorm:"uniqueIndex"`
	PasswordHash string  // argon2id (HashPassword); empty until the invitation is used
	// TOTPSecret is the second factor's secret, sealed with SECRET_KEY; TOTPEnabledAt
	// is nil while the enrolment is not confirmed by a first code. TOTPLastStep is the
	// last time step accepted, so that a code cannot be used twice.
	TOTPSecret    Sealed
	TOTPEnabledAt *time.Time
	TOTPLastStep  int64 `gorm:"not null;default:0"`
	// FailedSignIns counts the wrong passwords in a row; past MaxFailedSignIns the
	// account is locked until LockedUntil.
	FailedSignIns int `gorm:"not null;default:0"`
	LockedUntil   *time.Time
	// DisabledAt is set when an admin disables the moderator: no session nor token of
	// theirs works from then on.
	DisabledAt *time.Time
	CreatedAt  time.Time
}

// Disabled reports whether the moderator may no longer act.
func (m *Moderator) Disabled() bool { return m.DisabledAt != nil }

// EmailAddress is the moderator's address, "" for a script's account.
func (m *Moderator) EmailAddress() string {
	if m.Email == nil {
		return ""
	}
	return *m.Email
}

// TOTPEnabled reports whether the moderator's second factor is enrolled.
func (m *Moderator) TOTPEnabled() bool { return m.TOTPEnabledAt != nil }

// TokenPrefix starts every API token so that a leaked one is easy to recognise.
const TokenPrefix = "jrd_"

// NewToken returns a fresh random API token and its hash.
func NewToken() (token, hash string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken returns the stored form of a token. Tokens are 256 random bits, so a slow
// hash would add nothing.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// ValidateModerator checks a new moderator's name, role and address ("" for none).
func ValidateModerator(name string, role Role, email string) error {
	if strings.TrimSpace(name) == "" {
		return FieldError("name", "est obligatoire")
	} else if len(name) > MaxNameLength {
		return FieldError("name", "ne peut dépasser %d caractères", MaxNameLength)
	} else if !slices.Contains(Roles, role) {
		return FieldError("role", "doit être moderator ou admin")
	}
	if email != "" {
		return ValidateEmail("email", email)
	}
	return nil
}

// Allows reports whether this role may act where want is required.
func (r Role) Allows(want Role) bool { return r == RoleAdmin || r == want }

// CreateModerator records a new moderator without an address (a script's account) and
// returns their API token, which is shown only this once: only its hash is stored. The
// API and the `jardinier moderator add` command call it, or AddModerator for a person.
func CreateModerator(ctx context.Context, db *gorm.DB, name string, role Role) (string, *Moderator, error) {
	return AddModerator(ctx, db, name, role, "")
}

// AddModerator records a new moderator with a first API token, and returns the token,
// which is shown only this once. email may be "" (a script's account); otherwise the
// moderator is invited to the console with NewModeratorLink.
func AddModerator(ctx context.Context, db *gorm.DB, name string, role Role, email string) (string, *Moderator, error) {
	name, email = strings.TrimSpace(name), NormalizeEmail(email)
	if err := ValidateModerator(name, role, email); err != nil {
		return "", nil, err
	}
	m := &Moderator{Name: name, Role: role}
	if email != "" {
		m.Email = &email
	}
	var token string
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(m).Error; err != nil {
			return err
		}
		var err error
		token, _, err = createAPIToken(tx, m.ID, "premier jeton")
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		if strings.Contains(pgErr.ConstraintName, "email") {
			return "", nil, &Error{Code: ECONFLICT, Field: "email", Message: "un modérateur a déjà cette adresse"}
		}
		return "", nil, &Error{Code: ECONFLICT, Field: "name", Message: "un modérateur porte déjà ce nom"}
	} else if err != nil {
		return "", nil, fmt.Errorf("create moderator %q: %w", name, err)
	}
	return token, m, nil
}

// DisableModerator stops a moderator at once: their sessions are deleted and their API
// tokens revoked in the same transaction. An admin cannot disable themselves, so that
// the service always keeps one.
func DisableModerator(ctx context.Context, db *gorm.DB, id, by uint, now time.Time) (*Moderator, error) {
	if id == by {
		return nil, Errorf(ECONFLICT, "vous ne pouvez pas désactiver votre propre compte")
	}
	var m Moderator
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.First(&m, id).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			return Errorf(ENOTFOUND, "modérateur %d introuvable", id)
		} else if err != nil {
			return err
		}
		if m.Disabled() {
			return nil
		}
		m.DisabledAt = &now
		if err := tx.Model(&m).Update("disabled_at", now).Error; err != nil {
			return err
		}
		if err := tx.Where("moderator_id = ?", id).Delete(&Session{}).Error; err != nil {
			return err
		}
		return tx.Model(&APIToken{}).Where("moderator_id = ? AND revoked_at IS NULL", id).Update("revoked_at", now).Error
	})
	if err != nil {
		return nil, fmt.Errorf("disable moderator %d: %w", id, err)
	}
	return &m, nil
}

// FindModerator loads a moderator by ID.
func FindModerator(ctx context.Context, db *gorm.DB, id uint) (*Moderator, error) {
	var m Moderator
	if err := db.WithContext(ctx).First(&m, id).Error; errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, Errorf(ENOTFOUND, "modérateur %d introuvable", id)
	} else if err != nil {
		return nil, fmt.Errorf("load moderator %d: %w", id, err)
	}
	return &m, nil
}
