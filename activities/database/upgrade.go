package database

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"

	"jardinier/models"
)

// ListSpacesInput asks for every space that holds its slug.
type ListSpacesInput struct{}

// SpaceVersion is one space's status and Nextcloud version.
type SpaceVersion struct {
	Slug    string
	Status  models.Status
	Version string
}

// ListSpacesResult lists the spaces, by slug.
type ListSpacesResult struct{ Spaces []SpaceVersion }

// ListSpaces lists the spaces in service or on their way out, with their versions, for
// a fleet upgrade to sort.
func (a *Activities) ListSpaces(ctx context.Context, in ListSpacesInput) (ListSpacesResult, error) {
	var res ListSpacesResult
	err := a.DB.WithContext(ctx).Model(&models.Space{}).
		Where("status IN ?", []models.Status{models.StatusActive, models.StatusDeactivated, models.StatusProvisioning}).
		Order("slug").Select("slug, status, nextcloud_version AS version").Scan(&res.Spaces).Error
	if err != nil {
		return res, fmt.Errorf("list spaces: %w", err)
	}
	return res, nil
}

// UpgradeSpaceRow is one space's line in a fleet upgrade's list.
type UpgradeSpaceRow struct {
	Slug       string
	Status     string
	From, To   string
	DowntimeMS int64
	Error      string
}

// RecordUpgradeSpacesInput writes rows of a fleet upgrade's space list.
type RecordUpgradeSpacesInput struct {
	UpgradeID string
	Rows      []UpgradeSpaceRow
}

// RecordUpgradeSpacesResult is empty for now.
type RecordUpgradeSpacesResult struct{}

// RecordUpgradeSpaces inserts or updates rows of a fleet upgrade's space list; writing
// the same rows again changes nothing.
func (a *Activities) RecordUpgradeSpaces(ctx context.Context, in RecordUpgradeSpacesInput) (RecordUpgradeSpacesResult, error) {
	if len(in.Rows) == 0 {
		return RecordUpgradeSpacesResult{}, nil
	}
	now := time.Now().UTC()
	rows := make([]models.UpgradeSpace, 0, len(in.Rows))
	for _, r := range in.Rows {
		rows = append(rows, models.UpgradeSpace{UpgradeID: in.UpgradeID, Slug: r.Slug, Status: r.Status, From: r.From,
			To: r.To, DowntimeMS: r.DowntimeMS, Error: r.Error, UpdatedAt: now})
	}
	// Rows that only change the status keep what earlier rows said of versions.
	err := a.DB.WithContext(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "upgrade_id"}, {Name: "slug"}},
		DoUpdates: clause.Assignments(map[string]any{
			"status":      clause.Column{Table: "excluded", Name: "status"},
			"from":        clause.Expr{SQL: `COALESCE(NULLIF(excluded."from", ''), upgrade_spaces."from")`},
			"to":          clause.Expr{SQL: `COALESCE(NULLIF(excluded."to", ''), upgrade_spaces."to")`},
			"downtime_ms": clause.Column{Table: "excluded", Name: "downtime_ms"},
			"error":       clause.Column{Table: "excluded", Name: "error"},
			"updated_at":  clause.Column{Table: "excluded", Name: "updated_at"},
		}),
	}).CreateInBatches(&rows, 500).Error
	if err != nil {
		return RecordUpgradeSpacesResult{}, fmt.Errorf("record upgrade %s spaces: %w", in.UpgradeID, err)
	}
	return RecordUpgradeSpacesResult{}, nil
}

// MissedUpgradeInput asks which fleet upgrade a space missed.
type MissedUpgradeInput struct{ Slug string }

// MissedUpgradeResult is the target of the latest fleet upgrade that left the space
// out (deactivated when it was planned, or when its turn came); "" if none did.
type MissedUpgradeResult struct{ Target string }

// MissedUpgrade reads the target of the latest fleet upgrade that skipped the space,
// so that a space reactivated afterwards is brought to it before it is back in service.
func (a *Activities) MissedUpgrade(ctx context.Context, in MissedUpgradeInput) (MissedUpgradeResult, error) {
	var rows []models.UpgradeSpace
	err := a.DB.WithContext(ctx).Where("slug = ? AND status = ? AND \"to\" <> ''", in.Slug, models.UpgradeSpaceSkipped).
		Order("updated_at DESC").Limit(1).Find(&rows).Error
	if err != nil {
		return MissedUpgradeResult{}, fmt.Errorf("upgrades missed by %q: %w", in.Slug, err)
	}
	if len(rows) == 0 {
		return MissedUpgradeResult{}, nil
	}
	return MissedUpgradeResult{Target: rows[0].To}, nil
}
