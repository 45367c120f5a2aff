package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// maxTokenLabelLength bounds the label of an API token: a few words saying what uses it.
const maxTokenLabelLength = 100

// APIToken is a bearer token of a moderator, for scripts. Only its hash is kept: the
// token is shown once, when it is created.
type APIToken struct {
	ID          uint   `gorm:"primaryKey"`
	ModeratorID uint   `gorm:"not null;index"`
	Label       string `gorm:"not null"`
	Hash        string `gorm:"not null;uniqueIndex"`
	CreatedAt   time.Time
	LastUsedAt  *time.Time
	RevokedAt   *time.Time
}

// createAPIToken records a new token of the moderator inside tx.
func createAPIToken(tx *gorm.DB, moderatorID uint, label string) (string, *APIToken, error) {
	token, hash := NewToken()
	t := &APIToken{ModeratorID: moderatorID, Label: label, Hash: hash}
	if err := tx.Create(t).Error; err != nil {
		return "", nil, fmt.Errorf("create API token: %w", err)
	}
	return token, t, nil
}

// CreateAPIToken gives the moderator a new token labelled by what will use it, and
// returns it: it is shown only this once.
func CreateAPIToken(ctx context.Context, db *gorm.DB, moderatorID uint, label string) (string, *APIToken, error) {
	label = strings.TrimSpace(label)
	if label == "" {
		return "", nil, FieldError("label", "est obligatoire : dites ce qui utilisera ce jeton")
	} else if utf8.RuneCountInString(label) > maxTokenLabelLength {
		return "", nil, FieldError("label", "ne peut dépasser %d caractères", maxTokenLabelLength)
	}
	return createAPIToken(db.WithContext(ctx), moderatorID, label)
}

// ListAPITokens returns the moderator's tokens, newest first, revoked ones included.
func ListAPITokens(ctx context.Context, db *gorm.DB, moderatorID uint) ([]APIToken, error) {
	var rows []APIToken
	if err := db.WithContext(ctx).Where("moderator_id = ?", moderatorID).Order("created_at DESC, id DESC").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list API tokens of moderator %d: %w", moderatorID, err)
	}
	return rows, nil
}

// RevokeAPIToken revokes one of the moderator's tokens; it stops working at once.
func RevokeAPIToken(ctx context.Context, db *gorm.DB, moderatorID, tokenID uint, now time.Time) error {
	res := db.WithContext(ctx).Model(&APIToken{}).Where("id = ? AND moderator_id = ? AND revoked_at IS NULL", tokenID, moderatorID).
		Update("revoked_at", now)
	if res.Error != nil {
		return fmt.Errorf("revoke API token %d: %w", tokenID, res.Error)
	} else if res.RowsAffected == 0 {
		return Errorf(ENOTFOUND, "jeton %d introuvable ou déjà révoqué", tokenID)
	}
	return nil
}

// ErrBadToken: no enabled moderator holds this token, or it was revoked.
var ErrBadToken = Errorf(EUNAUTHORIZED, "jeton d'accès invalide")

// ModeratorByToken returns the enabled moderator holding a token that is not revoked.
func ModeratorByToken(ctx context.Context, db *gorm.DB, token string, now time.Time) (*Moderator, error) {
	var t APIToken
	err := db.WithContext(ctx).Where("hash = ? AND revoked_at IS NULL", HashToken(token)).Take(&t).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrBadToken
	} else if err != nil {
		return nil, fmt.Errorf("look up API token: %w", err)
	}
	var m Moderator
	err = db.WithContext(ctx).Where("id = ? AND disabled_at IS NULL", t.ModeratorID).Take(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrBadToken
	} else if err != nil {
		return nil, fmt.Errorf("load moderator of API token: %w", err)
	}
	// Last use is a hint for the console: one write a minute per token is enough.
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > time.Minute {
		db.WithContext(ctx).Model(&t).Update("last_used_at", now)
	}
	return &m, nil
}

// migrateModeratorTokens moves the tokens of a database from before APIToken (one
// token_hash column on moderators) to api_tokens, once.
func migrateModeratorTokens(tx *gorm.DB) error {
	if !tx.Migrator().HasColumn(&Moderator{}, "token_hash") {
		return nil
	}
	if err := tx.Exec(`INSERT INTO api_tokens (moderator_id, label, hash, created_at)
		SELECT id, 'premier jeton', token_hash, created_at FROM moderators WHERE token_hash IS NOT NULL AND token_hash <> ''
		ON CONFLICT (hash) DO NOTHING`).Error; err != nil {
		return fmt.Errorf("move API tokens: %w", err)
	}
	return tx.Migrator().DropColumn(&Moderator{}, "token_hash")
}
