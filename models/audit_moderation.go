package models

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// Actions of the audit trail about moderators rather than spaces; their events have no
// slug.
const (
	AuditModeratorInvited  = "moderator_invited"
	AuditModeratorDisabled = "moderator_disabled"
	AuditTokenCreated      = "token_created"
	AuditTokenRevoked      = "token_revoked"
	AuditTOTPEnabled       = "totp_enabled"
)

// RecordModeratorEvent adds an event about a moderator's account to the audit trail:
// actor did action; detail says to whom (a name, a token's label), never a secret.
func RecordModeratorEvent(ctx context.Context, db *gorm.DB, actor, action, detail string, now time.Time) error {
	e := AuditEvent{Key: "moderation/" + uuid.NewString(), Actor: actor, Action: action, Reason: detail, At: now}
	if err := db.WithContext(ctx).Create(&e).Error; err != nil {
		return fmt.Errorf("record %s by %s: %w", action, actor, err)
	}
	return nil
}
