package models

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// LinkPurpose says what a link mailed to a moderator is for.
type LinkPurpose string

// The links mailed to moderators; both lead to the page where one chooses a password.
const (
	LinkInvitation    LinkPurpose = "invitation" // a new moderator chooses their first password
	LinkPasswordReset LinkPurpose = "reset"      // a moderator who forgot theirs chooses another
)

// How long the links work: an invitation waits for a volunteer's week; a reset is
// asked for by someone in front of their mail.
const (
	InvitationValidity    = 7 * 24 * time.Hour
	PasswordResetValidity = time.Hour
)

// ErrLinkUsed: the link was already used, or a newer one replaced it.
var ErrLinkUsed = errors.New("lien déjà utilisé")

// ModeratorLink is a one-use link mailed to a moderator. Its token is not stored: it is
// the link's ID signed with a key derived from SECRET_KEY (Signer.ModeratorLinkToken),
// so the mail activity rebuilds it and it never sits in workflow history.
type ModeratorLink struct {
	ID          string      `gorm:"type:uuid;primaryKey"`
	ModeratorID uint        `gorm:"not null;index"`
	Purpose     LinkPurpose `gorm:"not null"`
	ExpiresAt   time.Time   `gorm:"not null"`
	UsedAt      *time.Time
	CreatedAt   time.Time
}

// NewModeratorLink records a new link for the moderator; earlier unused ones stop
// working, so that only the latest mail counts.
func NewModeratorLink(ctx context.Context, db *gorm.DB, moderatorID uint, purpose LinkPurpose, now time.Time) (*ModeratorLink, error) {
	validity := InvitationValidity
	if purpose == LinkPasswordReset {
		validity = PasswordResetValidity
	}
	l := &ModeratorLink{ID: uuid.NewString(), ModeratorID: moderatorID, Purpose: purpose, ExpiresAt: now.Add(validity), CreatedAt: now}
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&ModeratorLink{}).Where("moderator_id = ? AND used_at IS NULL", moderatorID).
			Update("used_at", now).Error; err != nil {
			return err
		}
		return tx.Create(l).Error
	})
	if err != nil {
		return nil, fmt.Errorf("record %s link of moderator %d: %w", purpose, moderatorID, err)
	}
	return l, nil
}

// RequestPasswordReset records a reset link for the enabled moderator with this
// address; it returns nil and no error when there is none, and the caller answers the
// same either way, so that nobody learns who has an account.
func RequestPasswordReset(ctx context.Context, db *gorm.DB, email string, now time.Time) (*ModeratorLink, *Moderator, error) {
	email = NormalizeEmail(email)
	if err := ValidateEmail("email", email); err != nil {
		return nil, nil, err
	}
	var m Moderator
	err := db.WithContext(ctx).Where("email = ? AND disabled_at IS NULL", email).Take(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, fmt.Errorf("look up moderator for a reset: %w", err)
	}
	l, err := NewModeratorLink(ctx, db, m.ID, LinkPasswordReset, now)
	return l, &m, err
}

// OpenModeratorLink returns the link and its moderator if it can still be used.
func OpenModeratorLink(ctx context.Context, db *gorm.DB, id string, now time.Time) (*ModeratorLink, *Moderator, error) {
	return openModeratorLink(db.WithContext(ctx), id, now, false)
}

func openModeratorLink(tx *gorm.DB, id string, now time.Time, lock bool) (*ModeratorLink, *Moderator, error) {
	var l ModeratorLink
	q := tx
	if lock {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	if err := q.Where("id = ?", id).Take(&l).Error; errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil, ErrTokenInvalid
	} else if err != nil {
		return nil, nil, fmt.Errorf("load moderator link: %w", err)
	}
	var m Moderator
	if err := tx.Where("id = ?", l.ModeratorID).Take(&m).Error; err != nil {
		return nil, nil, fmt.Errorf("load moderator of link: %w", err)
	}
	switch {
	case l.UsedAt != nil:
		return &l, &m, ErrLinkUsed
	case !now.Before(l.ExpiresAt):
		return &l, &m, ErrTokenExpired
	case m.Disabled():
		return &l, &m, ErrTokenInvalid
	}
	return &l, &m, nil
}

// SetPasswordWithLink sets the moderator's password through a link and uses the link
// up. Their other sessions end (a reset is often asked for after a doubt) and a
// lockout is lifted.
func SetPasswordWithLink(ctx context.Context, db *gorm.DB, id, password string, now time.Time) (*Moderator, error) {
	if err := ValidatePassword("password", password); err != nil {
		return nil, err
	}
	hash := HashPassword(password)
	var m *Moderator
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		l, mod, err := openModeratorLink(tx, id, now, true)
		if err != nil {
			return err
		}
		m = mod
		if err := tx.Model(l).Update("used_at", now).Error; err != nil {
			return err
		}
		if err := tx.Model(m).Updates(map[string]any{"password_hash": hash, "failed_sign_ins": 0, "locked_until": nil}).Error; err != nil {
			return err
		}
		return tx.Where("moderator_id = ?", m.ID).Delete(&Session{}).Error
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// ModeratorLinkToken returns the token of a moderator's link: its ID and a MAC of it.
// It is deterministic, so that a retried mail carries the same link.
func (s *Signer) ModeratorLinkToken(id string) string {
	return id + "." + base64.RawURLEncoding.EncodeToString(s.mac("moderator-link:"+id))
}

// ModeratorLinkID checks a token of ModeratorLinkToken and returns the link's ID.
func (s *Signer) ModeratorLinkID(token string) (string, error) {
	id, sig, ok := strings.Cut(token, ".")
	if !ok || uuid.Validate(id) != nil {
		return "", ErrTokenInvalid
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac("moderator-link:"+id)) {
		return "", ErrTokenInvalid
	}
	return id, nil
}
