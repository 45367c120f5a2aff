package database

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"jardinier/models"
)

// ListQuotaSpacesInput asks for a page of the spaces in service, by slug.
type ListQuotaSpacesInput struct {
	After string // the last slug of the previous page; "" for the first
	Limit int
}

// QuotaSpace is a space in service and its storage quota.
type QuotaSpace struct {
	Slug       string
	QuotaBytes int64
}

// ListQuotaSpacesResult is a page of spaces; fewer than Limit means the last one.
type ListQuotaSpacesResult struct{ Spaces []QuotaSpace }

// ListQuotaSpaces lists, by slug, the spaces in service whose quotas are to be shared
// out again. Deactivated spaces are left out: nobody can write to them.
func (a *Activities) ListQuotaSpaces(ctx context.Context, in ListQuotaSpacesInput) (ListQuotaSpacesResult, error) {
	if in.Limit <= 0 {
		return ListQuotaSpacesResult{}, fmt.Errorf("list spaces for quotas: limit %d is not positive", in.Limit)
	}
	var res ListQuotaSpacesResult
	err := a.DB.WithContext(ctx).Model(&models.Space{}).
		Where("status = ? AND slug > ?", models.StatusActive, in.After).
		Order("slug").Limit(in.Limit).Select("slug, quota_bytes").Scan(&res.Spaces).Error
	if err != nil {
		return res, fmt.Errorf("list spaces for quotas: %w", err)
	}
	return res, nil
}

// SpaceUsage is what a space held when its quota was last shared out, and its last
// activity then (zero: nobody ever used it).
type SpaceUsage struct {
	Slug         string
	UsedBytes    int64
	Accounts     int
	LastActivity time.Time
}

// RecordSpaceUsageInput writes what spaces held at At.
type RecordSpaceUsageInput struct {
	Spaces []SpaceUsage
	At     time.Time
}

// RecordSpaceUsageResult is empty for now.
type RecordSpaceUsageResult struct{}

// RecordSpaceUsage writes the storage used, the accounts and the last activity of
// spaces into their rows, for list screens: moderators then see a last activity at
// most one rebalance old, not the one the inactivity policy last read. A measure older
// than the one recorded is ignored, so that a late retry never puts an old figure
// back; and the last activity only ever moves forward.
func (a *Activities) RecordSpaceUsage(ctx context.Context, in RecordSpaceUsageInput) (RecordSpaceUsageResult, error) {
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, u := range in.Spaces {
			updates := map[string]any{"storage_used_bytes": u.UsedBytes, "accounts": u.Accounts, "usage_at": in.At,
				"last_activity_measured_at": in.At}
			if last := u.LastActivity.UTC(); !u.LastActivity.IsZero() {
				updates["last_activity_at"] = gorm.Expr("GREATEST(COALESCE(last_activity_at, ?), ?)", last, last)
			}
			err := tx.Model(&models.Space{}).
				Where("slug = ? AND status IN ?", u.Slug, []models.Status{models.StatusActive, models.StatusDeactivated}).
				Where("usage_at IS NULL OR usage_at <= ?", in.At).
				Updates(updates).Error
			if err != nil {
				return fmt.Errorf("record usage of %s: %w", u.Slug, err)
			}
		}
		return nil
	})
	return RecordSpaceUsageResult{}, err
}
