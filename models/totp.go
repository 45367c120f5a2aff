package models

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// TOTPIssuer names the service in authenticator apps.
const TOTPIssuer = "Jardinier"

// RecoveryCodeCount is how many recovery codes an admin gets: each works once, for the
// day their phone is lost.
const RecoveryCodeCount = 10

// totpPeriod is the standard 30-second step of authenticator apps.
const totpPeriod = 30

// ErrBadCode: the one-time code or recovery code is wrong, or was already used.
var ErrBadCode = &Error{Code: EUNAUTHORIZED, Field: "code", Message: "code incorrect ou déjà utilisé"}

// RecoveryCode is one of an admin's recovery codes; only its hash is kept.
type RecoveryCode struct {
	ID          uint   `gorm:"primaryKey"`
	ModeratorID uint   `gorm:"not null;index"`
	Hash        string `gorm:"not null;uniqueIndex"`
	UsedAt      *time.Time
	CreatedAt   time.Time
}

// TOTPEnrolment is what a moderator needs to add the service to an authenticator app.
type TOTPEnrolment struct {
	Secret string // base32, for typing in
	URL    string // otpauth://, for a QR code
}

// BeginTOTP gives the moderator a new second-factor secret, kept sealed and not in use
// until ConfirmTOTP sees a first code from it.
func BeginTOTP(ctx context.Context, db *gorm.DB, sealer *Sealer, m *Moderator) (TOTPEnrolment, error) {
	if m.TOTPEnabled() {
		return TOTPEnrolment{}, Errorf(ECONFLICT, "la double authentification est déjà en place")
	}
	account := m.EmailAddress()
	if account == "" {
		account = m.Name
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: TOTPIssuer, AccountName: account})
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("generate TOTP secret: %w", err)
	}
	sealed := sealer.Seal(key.Secret())
	if err := db.WithContext(ctx).Model(m).Update("totp_secret", sealed).Error; err != nil {
		return TOTPEnrolment{}, fmt.Errorf("record TOTP secret: %w", err)
	}
	m.TOTPSecret = sealed
	return TOTPEnrolment{Secret: key.Secret(), URL: key.URL()}, nil
}

// PendingTOTP returns the enrolment under way, to show it again.
func PendingTOTP(sealer *Sealer, m *Moderator) (TOTPEnrolment, error) {
	if m.TOTPSecret == "" || m.TOTPEnabled() {
		return TOTPEnrolment{}, Errorf(ENOTFOUND, "aucune mise en place de la double authentification en cours")
	}
	secret, err := sealer.Open(m.TOTPSecret)
	if err != nil {
		return TOTPEnrolment{}, err
	}
	account := m.EmailAddress()
	if account == "" {
		account = m.Name
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("TOTP secret: %w", err)
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: TOTPIssuer, AccountName: account, Secret: raw})
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("TOTP key: %w", err)
	}
	return TOTPEnrolment{Secret: secret, URL: key.URL()}, nil
}

// ConfirmTOTP turns the second factor on once a code from the new secret is right, and
// returns the recovery codes, shown only this once.
func ConfirmTOTP(ctx context.Context, db *gorm.DB, sealer *Sealer, m *Moderator, code string, now time.Time) ([]string, error) {
	if m.TOTPEnabled() {
		return nil, Errorf(ECONFLICT, "la double authentification est déjà en place")
	} else if m.TOTPSecret == "" {
		return nil, Errorf(ECONFLICT, "commencez par afficher le secret à ajouter à votre application")
	}
	step, err := matchTOTP(sealer, m, code, now)
	if err != nil {
		return nil, err
	}
	codes := make([]string, RecoveryCodeCount)
	rows := make([]RecoveryCode, RecoveryCodeCount)
	for i := range codes {
		codes[i] = newRecoveryCode()
		rows[i] = RecoveryCode{ModeratorID: m.ID, Hash: HashToken(codes[i]), CreatedAt: now}
	}
	err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("moderator_id = ?", m.ID).Delete(&RecoveryCode{}).Error; err != nil {
			return err
		}
		if err := tx.Create(&rows).Error; err != nil {
			return err
		}
		return tx.Model(m).Updates(map[string]any{"totp_enabled_at": now, "totp_last_step": step}).Error
	})
	if err != nil {
		return nil, fmt.Errorf("turn TOTP on: %w", err)
	}
	m.TOTPEnabledAt, m.TOTPLastStep = &now, step
	return codes, nil
}

// CheckSecondFactor accepts a one-time code of the moderator's app, each code once, or
// one of their unused recovery codes, which is then used up. Wrong codes count with
// wrong passwords: after MaxFailedSignIns in a row the account is locked, so that six
// digits cannot be guessed.
func CheckSecondFactor(ctx context.Context, db *gorm.DB, sealer *Sealer, m *Moderator, code string, now time.Time) error {
	code = strings.ToLower(strings.Join(strings.Fields(code), ""))
	if code == "" {
		return FieldError("code", "est obligatoire")
	} else if !m.TOTPEnabled() {
		return Errorf(ECONFLICT, "la double authentification n'est pas en place")
	}
	var result error
	// The row lock makes two sign-ins with one code take turns: the second finds the
	// step used.
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var cur Moderator
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", m.ID).Take(&cur).Error; err != nil {
			return err
		}
		if result = lockedError(&cur, now); result != nil {
			return nil
		}
		if strings.Contains(code, "-") {
			res := tx.Model(&RecoveryCode{}).Where("moderator_id = ? AND hash = ? AND used_at IS NULL", m.ID, HashToken(code)).
				Update("used_at", now)
			if res.Error != nil {
				return res.Error
			} else if res.RowsAffected == 0 {
				result = ErrBadCode
				return recordFailure(tx, &cur, now)
			}
			return tx.Model(&cur).Update("failed_sign_ins", 0).Error
		}
		step, err := matchTOTP(sealer, &cur, code, now)
		if errors.Is(err, ErrBadCode) {
			result = ErrBadCode
			return recordFailure(tx, &cur, now)
		} else if err != nil {
			return err
		}
		m.TOTPLastStep = step
		return tx.Model(&cur).Updates(map[string]any{"totp_last_step": step, "failed_sign_ins": 0}).Error
	})
	if err != nil {
		return fmt.Errorf("check second factor: %w", err)
	}
	return result
}

// RecoveryCodesLeft counts the moderator's unused recovery codes.
func RecoveryCodesLeft(ctx context.Context, db *gorm.DB, moderatorID uint) (int64, error) {
	var n int64
	err := db.WithContext(ctx).Model(&RecoveryCode{}).Where("moderator_id = ? AND used_at IS NULL", moderatorID).Count(&n).Error
	return n, err
}

// matchTOTP returns the time step of the code if it is one of the secret's around now
// (one step either way, for clocks a little off) and newer than the last accepted.
func matchTOTP(sealer *Sealer, m *Moderator, code string, now time.Time) (int64, error) {
	code = strings.Join(strings.Fields(code), "")
	if len(code) != 6 {
		return 0, ErrBadCode
	}
	secret, err := sealer.Open(m.TOTPSecret)
	if err != nil {
		return 0, err
	}
	opts := totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	for _, skew := range []int64{0, -1, 1} {
		at := now.Add(time.Duration(skew*totpPeriod) * time.Second)
		want, err := totp.GenerateCodeCustom(secret, at, opts)
		if err != nil {
			return 0, fmt.Errorf("TOTP code: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			step := at.Unix() / totpPeriod
			if step <= m.TOTPLastStep {
				return 0, ErrBadCode
			}
			return step, nil
		}
	}
	return 0, ErrBadCode
}

// newRecoveryCode returns a code like "k3xq-7b2m-9zrt": 60 random bits, grouped to be
// copied by hand.
func newRecoveryCode() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	s := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))[:12]
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12]
}
