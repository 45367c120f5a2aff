package models

import "time"

// Actors recorded in the audit trail besides moderators' names.
const (
	ActorApplicant = "applicant"
	ActorSystem    = "system"
	ActorContact   = "contact" // the space's contact, through a signed link
)

// MaxReasonLength bounds the reason of a decision or action, in characters: a few
// sentences for the audit trail, the mails and the workflow history.
const MaxReasonLength = 2000

// AuditEvent records one action on a space or application: who, what, why, when.
// Key makes recording idempotent when an activity is retried.
type AuditEvent struct {
	ID            uint    `gorm:"primaryKey"`
	Key           string  `gorm:"not null;uniqueIndex"`
	Slug          string  `gorm:"not null;index"`
	ApplicationID *string `gorm:"type:uuid"`
	Actor         string  `gorm:"not null"`
	Action        string  `gorm:"not null"`
	Reason        string
	At            time.Time `gorm:"not null;index"`
}

// SentMail remembers every mail handed to the mail server, so that a retried activity
// does not send it twice. Key is "<slug>/<kind>[/<n>]".
type SentMail struct {
	ID        uint   `gorm:"primaryKey"`
	Key       string `gorm:"not null;uniqueIndex"`
	Slug      string `gorm:"not null;index"`
	Kind      string `gorm:"not null"`
	MessageID string `gorm:"not null"`
	Sent      bool   `gorm:"not null;default:false"` // false while the SMTP transaction is under way
	CreatedAt time.Time
	SentAt    *time.Time
}
