package models

import "time"

// Statuses of a space in a fleet upgrade's list.
const (
	UpgradeSpacePending  = "pending"  // included, not started yet
	UpgradeSpaceRunning  = "running"  // asked to upgrade, no answer yet
	UpgradeSpaceUpgraded = "upgraded" // on the target version
	UpgradeSpaceFailed   = "failed"   // rolled back to its version
	UpgradeSpaceSkipped  = "skipped"  // left out: deactivated, deleted, busy with its end
	UpgradeSpaceRefused  = "refused"  // too far behind the target: must go through other majors first
)

// UpgradeSpaceStatuses lists them, for validating filters.
var UpgradeSpaceStatuses = []string{UpgradeSpacePending, UpgradeSpaceRunning, UpgradeSpaceUpgraded,
	UpgradeSpaceFailed, UpgradeSpaceSkipped, UpgradeSpaceRefused}

// UpgradeSpace is the projection of one space in one fleet upgrade: what the upgrade's
// space list reads.
type UpgradeSpace struct {
	ID         uint   `gorm:"primaryKey"`
	UpgradeID  string `gorm:"not null;uniqueIndex:idx_upgrade_space"`
	Slug       string `gorm:"not null;uniqueIndex:idx_upgrade_space"`
	Status     string `gorm:"not null;index"` // one of UpgradeSpaceStatuses
	From       string
	To         string
	DowntimeMS int64
	Error      string
	UpdatedAt  time.Time
}
