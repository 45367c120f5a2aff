package models

import (
	"slices"
	"time"
)

// Status is where a space stands in its life. The space workflow owns it; the database
// holds a projection for list screens.
type Status string

// The statuses of a space, in the order of its life.
const (
	StatusSubmitted          Status = "submitted"           // waiting for a moderator
	StatusOnHold             Status = "on_hold"             // eligible, waiting for room
	StatusRejected           Status = "rejected"            // refused; personal data purged
	StatusProvisioning       Status = "provisioning"        // accepted, being created
	StatusProvisioningFailed Status = "provisioning_failed" // creation failed and was undone
	StatusActive             Status = "active"              // in service
	StatusDeactivated        Status = "deactivated"         // out of service, can be reactivated
	StatusDeleted            Status = "deleted"             // gone; the row is a tombstone
)

// Statuses lists every status, for validating filters.
var Statuses = []Status{StatusSubmitted, StatusOnHold, StatusRejected, StatusProvisioning,
	StatusProvisioningFailed, StatusActive, StatusDeactivated, StatusDeleted}

// ClosedStatuses are the ends of a space's life: its row is a tombstone without
// personal data and its slug is free again (after SlugReservationDays once deleted).
// The partial unique index on Space.Slug spells them out too, as SQL.
var ClosedStatuses = []Status{StatusRejected, StatusDeleted}

// Open reports whether a space in this status holds its slug and counts against its
// contact's allowance of open applications and spaces.
func (s Status) Open() bool { return !slices.Contains(ClosedStatuses, s) }

// SlugReservationDays is how long a deleted space's slug stays reserved, so that links
// and mails to the old space do not reach a new organisation.
const SlugReservationDays = 90

// BucketName is the S3 bucket of a space: BUCKET_PREFIX then the slug.
func BucketName(prefix, slug string) string { return prefix + slug }

// Limits are what a space may hold (DOMAIN.md: 50 accounts, 50 GB shared, 500 MB per
// video file).
type Limits struct {
	MaxAccounts   int   `json:"max_accounts"`
	QuotaBytes    int64 `json:"quota_bytes"`
	MaxVideoBytes int64 `json:"max_video_bytes"`
}

// DefaultLimits are the limits of every space.
func DefaultLimits() Limits {
	return Limits{
		MaxAccounts:   MaxSpaceAccounts,
		QuotaBytes:    MaxSpaceStorageGB << 30,
		MaxVideoBytes: MaxVideoFileMB << 20,
	}
}

// Space is the database projection of one space's workflow: what list screens and
// statistics read. Rejected and deleted spaces stay as tombstones without personal data.
type Space struct {
	ID               uint    `gorm:"primaryKey"`
	Slug             string  `gorm:"not null;uniqueIndex:idx_spaces_open_slug,where:status <> 'rejected' AND status <> 'deleted'"`
	ApplicationID    *string `gorm:"type:uuid;index"`
	Status           Status  `gorm:"not null;index"`
	NextcloudVersion string
	OfficeSuite      OfficeSuite `gorm:"not null"`
	// OfficeFingerprint names the settings last written into the app of the office
	// suite (nextcloud.OfficeFingerprint); "" before any.
	OfficeFingerprint string `gorm:"not null;default:''"`
	MaxAccounts       int
	QuotaBytes        int64
	MaxVideoBytes     int64
	// OwnLimits is set when a moderator gave the space limits of its own, which the
	// fleet's defaults leave alone; LimitsVersion is the version of the defaults the
	// space was last told of (0: before the defaults were versioned).
	OwnLimits        bool `gorm:"not null;default:false"`
	LimitsVersion    int  `gorm:"not null;default:0"`
	BucketName       string
	Exempt           bool      `gorm:"not null;default:false"` // never warned nor deactivated for inactivity
	SubmittedAt      time.Time `gorm:"not null"`
	DecidedAt        *time.Time
	ProvisionedAt    *time.Time
	LastActivityAt   *time.Time
	FirstWarningAt   *time.Time
	SecondWarningAt  *time.Time
	DeactivatedAt    *time.Time
	DeletionNoticeAt *time.Time
	DeletedAt        *time.Time
	// The next step of the inactivity policy if nothing happens, and when; and when
	// the space will be deleted. Kept up to date by the workflow, read by the preview.
	NextStep      Step       `gorm:"index"`
	NextStepAt    *time.Time `gorm:"index"`
	DeletionDueAt *time.Time
	// Plan is every step ahead, from the next to the deletion, on the dates the
	// workflow will take them: what the timeline and the policy preview show.
	Plan          []PlannedStep `gorm:"serializer:json"`
	PolicyVersion int           `gorm:"not null;default:0"` // the version the plan follows
	StatusReason  string
	// What the space held when its quota was last shared out (quota rebalance).
	StorageUsedBytes int64 `gorm:"not null;default:0"`
	Accounts         int   `gorm:"not null;default:0"`
	UsageAt          *time.Time
	UpdatedAt        time.Time

	// LastActivityMeasuredAt is when LastActivityAt was last read from the space itself
	// (quota rebalance).
	LastActivityMeasuredAt *time.Time
}
