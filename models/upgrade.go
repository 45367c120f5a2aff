package models

import "time"

// UpgradeSpace is the projection of one space in one fleet upgrade: what the upgrade's
// space list reads.
type UpgradeSpace struct {
	ID         uint   `gorm:"primaryKey"`
	UpgradeID  string `gorm:"not null;uniqueIndex:idx_upgrade_space"`
	Slug       string `gorm:"not null;uniqueIndex:idx_upgrade_space"`
	Status     string `gorm:"not null;index"` // pending, running, upgraded, failed, skipped, refused
	From       string
	To         string
	DowntimeMS int64
	Error      string
	UpdatedAt  time.Time
}
