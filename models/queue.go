package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// LongWaitDays is how long an application may wait before moderators are reminded of
// it: the service promises a decision within 1 to 10 days.
const LongWaitDays = 10

// WaitingApplication is an application waiting for a decision, for the console's home
// and the daily digest.
type WaitingApplication struct {
	ID               string
	Slug             string
	OrganizationName string
	Status           Status
	SubmittedAt      time.Time
}

// Overdue reports whether it has waited more than LongWaitDays at now.
func (w WaitingApplication) Overdue(now time.Time) bool {
	return now.Sub(w.SubmittedAt) > LongWaitDays*24*time.Hour
}

// WaitingApplications lists the applications waiting for a decision (submitted or on
// hold), oldest first, at most limit.
func WaitingApplications(ctx context.Context, db *gorm.DB, limit int) ([]WaitingApplication, int64, error) {
	q := db.WithContext(ctx).Table("applications").Joins("JOIN spaces ON spaces.application_id = applications.id").
		Where("spaces.status IN ?", []Status{StatusSubmitted, StatusOnHold})
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count waiting applications: %w", err)
	}
	var rows []WaitingApplication
	if err := q.Select("applications.id, applications.slug, applications.organization_name, spaces.status, spaces.submitted_at").
		Order("spaces.submitted_at, applications.id").Limit(limit).Scan(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("list waiting applications: %w", err)
	}
	return rows, total, nil
}

// NewApplications lists the applications submitted since a time, oldest first.
func NewApplications(ctx context.Context, db *gorm.DB, since time.Time, limit int) ([]WaitingApplication, error) {
	var rows []WaitingApplication
	err := db.WithContext(ctx).Table("applications").Joins("JOIN spaces ON spaces.application_id = applications.id").
		Where("spaces.submitted_at >= ? AND spaces.status IN ?", since, []Status{StatusSubmitted, StatusOnHold}).
		Select("applications.id, applications.slug, applications.organization_name, spaces.status, spaces.submitted_at").
		Order("spaces.submitted_at, applications.id").Limit(limit).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list new applications: %w", err)
	}
	return rows, nil
}

// The kinds of Failure.
const (
	FailureProvisioning = "provisioning_failed" // the space could not be created; its creation was undone
	FailureUpgrade      = "upgrade_failed"      // a space upgrade failed and was rolled back
)

// Failure is something that went wrong and waits for a person.
type Failure struct {
	Kind   string
	Slug   string
	Detail string
	At     time.Time
}

// Failures lists what failed and waits for a person: the spaces whose creation failed
// (still in that status), and the space upgrades rolled back since a time; newest first.
func Failures(ctx context.Context, db *gorm.DB, since time.Time, limit int) ([]Failure, error) {
	var out []Failure
	var spaces []Space
	if err := db.WithContext(ctx).Select("slug, status_reason, updated_at").Where("status = ?", StatusProvisioningFailed).
		Order("updated_at DESC").Limit(limit).Find(&spaces).Error; err != nil {
		return nil, fmt.Errorf("list failed provisionings: %w", err)
	}
	for _, sp := range spaces {
		out = append(out, Failure{Kind: FailureProvisioning, Slug: sp.Slug, Detail: sp.StatusReason, At: sp.UpdatedAt})
	}
	var upgrades []UpgradeSpace
	if err := db.WithContext(ctx).Where("status = ? AND updated_at >= ?", UpgradeSpaceFailed, since).
		Order("updated_at DESC").Limit(limit).Find(&upgrades).Error; err != nil {
		return nil, fmt.Errorf("list failed space upgrades: %w", err)
	}
	for _, u := range upgrades {
		out = append(out, Failure{Kind: FailureUpgrade, Slug: u.Slug, Detail: fmt.Sprintf("%s → %s : %s", u.From, u.To, u.Error), At: u.UpdatedAt})
	}
	return out, nil
}
