package models

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Session lengths: a session unused for SessionIdleTimeout ends, and none outlives
// SessionMaxAge, so that a forgotten browser or a stolen cookie opens the console for
// one working day at most.
const (
	SessionIdleTimeout = 8 * time.Hour
	SessionMaxAge      = 12 * time.Hour
	// sessionTouchEvery bounds the writes of a busy session: its last use is recorded
	// once a minute, which is precise enough for an eight-hour idle timeout.
	sessionTouchEvery = time.Minute
)

// Sign-in limits: after MaxFailedSignIns wrong passwords in a row, the account refuses
// every attempt for SignInLockout, whatever the password.
const (
	MaxFailedSignIns = 5
	SignInLockout    = 15 * time.Minute
)

// Session is a moderator signed in to the console. The browser holds a random token in
// a cookie; the database holds only its hash, so that a leaked table opens nothing.
type Session struct {
	ID          string `gorm:"primaryKey"` // HashToken of the cookie's token
	ModeratorID uint   `gorm:"not null;index"`
	// CSRFToken goes in a hidden field of every form of the session: a page of another
	// site cannot read it, so it cannot post in the moderator's name.
	CSRFToken string `gorm:"not null"`
	// Verified is false between the password and the one-time code of an admin: such a
	// session may only enter the code or enrol a second factor.
	Verified   bool      `gorm:"not null"`
	CreatedAt  time.Time `gorm:"not null"`
	LastSeenAt time.Time `gorm:"not null"`
	ExpiresAt  time.Time `gorm:"not null;index"`
}

// ErrNoSession: the cookie names no session, or one that has ended.
var ErrNoSession = Errorf(EUNAUTHORIZED, "session terminée, reconnectez-vous")

// ErrSignIn is the one answer to a wrong address or password, so that it does not tell
// which addresses have an account.
var ErrSignIn = &Error{Code: EUNAUTHORIZED, Field: "password", Message: "adresse ou mot de passe incorrect"}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewSession opens a session for the moderator and returns the cookie's token. Every
// sign-in gets a new one: an identifier planted before sign-in is worth nothing after.
func NewSession(ctx context.Context, db *gorm.DB, moderatorID uint, verified bool, now time.Time) (string, *Session, error) {
	token := randomToken()
	s := &Session{ID: HashToken(token), ModeratorID: moderatorID, CSRFToken: randomToken(), Verified: verified,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(SessionMaxAge)}
	if err := db.WithContext(ctx).Create(s).Error; err != nil {
		return "", nil, fmt.Errorf("open session: %w", err)
	}
	return token, s, nil
}

// LookupSession returns the session of a cookie's token and its moderator, if it has
// not ended (idle, too old, signed out, or the moderator disabled), and records its use.
func LookupSession(ctx context.Context, db *gorm.DB, token string, now time.Time) (*Session, *Moderator, error) {
	if token == "" {
		return nil, nil, ErrNoSession
	}
	var s Session
	err := db.WithContext(ctx).Where("id = ?", HashToken(token)).Take(&s).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil, ErrNoSession
	} else if err != nil {
		return nil, nil, fmt.Errorf("look up session: %w", err)
	}
	if !now.Before(s.ExpiresAt) || now.Sub(s.LastSeenAt) >= SessionIdleTimeout {
		db.WithContext(ctx).Delete(&s)
		return nil, nil, ErrNoSession
	}
	var m Moderator
	err = db.WithContext(ctx).Where("id = ? AND disabled_at IS NULL", s.ModeratorID).Take(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil, ErrNoSession
	} else if err != nil {
		return nil, nil, fmt.Errorf("load moderator of session: %w", err)
	}
	if now.Sub(s.LastSeenAt) >= sessionTouchEvery {
		s.LastSeenAt = now
		if err := db.WithContext(ctx).Model(&s).Update("last_seen_at", now).Error; err != nil {
			return nil, nil, fmt.Errorf("record session use: %w", err)
		}
	}
	return &s, &m, nil
}

// EndSession deletes the session of a cookie's token: signing out ends it on the
// server, whatever the browser keeps.
func EndSession(ctx context.Context, db *gorm.DB, token string) error {
	if err := db.WithContext(ctx).Where("id = ?", HashToken(token)).Delete(&Session{}).Error; err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// EndSessions deletes every session of a moderator, for instance when their password
// changes.
func EndSessions(ctx context.Context, db *gorm.DB, moderatorID uint) error {
	if err := db.WithContext(ctx).Where("moderator_id = ?", moderatorID).Delete(&Session{}).Error; err != nil {
		return fmt.Errorf("end sessions of moderator %d: %w", moderatorID, err)
	}
	return nil
}

// SignIn checks a moderator's address and password. After MaxFailedSignIns wrong
// passwords in a row the account refuses every attempt for SignInLockout, the right
// password included, so that guessing gets nowhere; the count is kept in the database,
// under a row lock, so that parallel attempts are counted too.
func SignIn(ctx context.Context, db *gorm.DB, email, password string, now time.Time) (*Moderator, error) {
	email = NormalizeEmail(email)
	if email == "" {
		return nil, FieldError("email", "est obligatoire")
	} else if password == "" {
		return nil, FieldError("password", "est obligatoire")
	} else if len(password) > 4*MaxPasswordLength {
		return nil, ErrSignIn
	}
	var (
		m      Moderator
		result error
	)
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("email = ?", email).Take(&m).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			CheckPassword(dummyHash, password)
			result = ErrSignIn
			return nil
		} else if err != nil {
			return err
		}
		if result = lockedError(&m, now); result != nil {
			return nil
		}
		if !CheckPassword(m.PasswordHash, password) {
			result = ErrSignIn
			return recordFailure(tx, &m, now)
		}
		if m.Disabled() {
			result = Errorf(EFORBIDDEN, "ce compte est désactivé")
			return nil
		}
		m.FailedSignIns, m.LockedUntil = 0, nil
		return tx.Model(&m).Updates(map[string]any{"failed_sign_ins": 0, "locked_until": nil}).Error
	})
	if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	} else if result != nil {
		return nil, result
	}
	return &m, nil
}

// lockedError is the refusal of an account locked at now, nil if it is not.
func lockedError(m *Moderator, now time.Time) error {
	if m.LockedUntil == nil || !now.Before(*m.LockedUntil) {
		return nil
	}
	minutes := int(m.LockedUntil.Sub(now).Minutes()) + 1
	return Errorf(ELIMIT, "trop d'essais : ce compte est bloqué, réessayez dans %d minutes ou choisissez un nouveau mot de passe", minutes)
}

// recordFailure counts a wrong password or code of the moderator, whose row tx holds
// locked, and locks the account at the MaxFailedSignIns-th in a row.
func recordFailure(tx *gorm.DB, m *Moderator, now time.Time) error {
	m.FailedSignIns++
	updates := map[string]any{"failed_sign_ins": m.FailedSignIns}
	if m.FailedSignIns >= MaxFailedSignIns {
		lock := now.Add(SignInLockout)
		m.FailedSignIns, m.LockedUntil = 0, &lock
		updates = map[string]any{"failed_sign_ins": 0, "locked_until": lock}
	}
	return tx.Model(&Moderator{}).Where("id = ?", m.ID).Updates(updates).Error
}
