package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// AddressHash identifies an e-mail address without holding it: the hex SHA-256 of the
// address in lowercase. The bounce records and deliveries keep it, not the address,
// so that they hold no personal data once a space and its application are gone.
func AddressHash(addr string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(addr))))
	return hex.EncodeToString(sum[:])
}

// MailDelivery is one mail the relay accepted for one recipient, and whether it came
// back as a hard bounce: what tells the inactivity policy a warning reached someone.
type MailDelivery struct {
	// MessageID is the mail's Message-ID (and its VERP token's source); Key the
	// sent_mails key of the mail.
	MessageID     string `gorm:"primaryKey"`
	Key           string `gorm:"not null;uniqueIndex"`
	Slug          string `gorm:"not null;index:idx_mail_deliveries_mail"`
	ApplicationID string `gorm:"not null;index:idx_mail_deliveries_mail"`
	Kind          string `gorm:"not null;index:idx_mail_deliveries_mail"`
	Seq           int    `gorm:"not null;index:idx_mail_deliveries_mail"`
	RecipientHash string `gorm:"not null;index"` // AddressHash of the recipient
	// Admin is set for a mail to one of the space's Nextcloud admins rather than its
	// contact.
	Admin      bool      `gorm:"not null;default:false"`
	AcceptedAt time.Time `gorm:"not null"`
	BouncedAt  *time.Time
	// Diagnostic is the relay's or the receiving server's reason, without the address.
	Diagnostic string
}

// Bounce marks an address that bounced for good (a DSN with a 5.x.x status): when it
// last did, why, and how often.
type Bounce struct {
	AddressHash string    `gorm:"primaryKey"`
	BouncedAt   time.Time `gorm:"not null"`
	Status      string    `gorm:"not null"` // the DSN's status code, such as 5.1.1
	Diagnostic  string    // the reason given, without the address
	MessageID   string    // the mail that bounced last
	Count       int       `gorm:"not null;default:1"`
}

// RecordBounce marks the delivery of a mail as bounced, if known, and the address (by
// its hash; "" for the delivery's recipient) as hard-bounced, in one transaction. ref
// is the mail's Message-ID, or its part before the "@" (the VERP token). Recording the
// same bounce twice changes nothing but the date. found is false when no delivery
// matches ref.
func RecordBounce(ctx context.Context, db *gorm.DB, ref, addressHash, status, diagnostic string, at time.Time) (found bool, err error) {
	messageID := ref
	err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var d MailDelivery
		if ref != "" {
			res := tx.Where("message_id = ? OR message_id LIKE ?", ref, strings.ReplaceAll(ref, "%", "")+"@%").Limit(1).Find(&d)
			if res.Error != nil {
				return res.Error
			}
			found = res.RowsAffected == 1
		}
		if found {
			messageID = d.MessageID
			if addressHash == "" {
				addressHash = d.RecipientHash
			}
			if err := tx.Model(&MailDelivery{}).Where("message_id = ? AND bounced_at IS NULL", messageID).
				Updates(map[string]any{"bounced_at": at, "diagnostic": diagnostic}).Error; err != nil {
				return err
			}
		}
		if addressHash == "" {
			return nil
		}
		b := Bounce{AddressHash: addressHash, BouncedAt: at, Status: status, Diagnostic: diagnostic, MessageID: messageID, Count: 1}
		return tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "address_hash"}},
			DoUpdates: clause.Assignments(map[string]any{"bounced_at": at, "status": status, "diagnostic": diagnostic,
				"message_id": messageID, "count": gorm.Expr("CASE WHEN bounces.message_id = ? THEN bounces.count ELSE bounces.count + 1 END", messageID)}),
		}).Create(&b).Error
	})
	if err != nil {
		return false, fmt.Errorf("record bounce of %s: %w", messageID, err)
	}
	return found, nil
}

// PolicyHold is a space whose next step of the inactivity policy waits for the
// moderators: no warning of its countdown reached anyone (every one refused or
// bounced, and no admin address). The workflow keeps it with the schedule.
type PolicyHold struct {
	Slug  string    `gorm:"primaryKey"`
	Step  Step      `gorm:"not null"` // the step held: deactivation or deletion
	Since time.Time `gorm:"not null;index"`
}

// HeldSpace is a space held by the policy, for the console's home and the digest.
type HeldSpace struct {
	Slug   string
	Step   Step
	Since  time.Time
	Status Status
}

// HeldSpaces lists the spaces in service whose policy step is held, longest held
// first, at most limit, and how many there are.
func HeldSpaces(ctx context.Context, db *gorm.DB, limit int) ([]HeldSpace, int64, error) {
	q := func() *gorm.DB {
		return db.WithContext(ctx).Table("policy_holds h").Joins("JOIN spaces s ON s.slug = h.slug AND s.status IN ?",
			[]Status{StatusActive, StatusDeactivated})
	}
	var total int64
	if err := q().Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count held spaces: %w", err)
	}
	var out []HeldSpace
	if err := q().Select("h.slug, h.step, h.since, s.status").Order("h.since, h.slug").Limit(limit).
		Scan(&out).Error; err != nil {
		return nil, 0, fmt.Errorf("list held spaces: %w", err)
	}
	return out, total, nil
}
