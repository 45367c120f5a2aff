// Package database keeps the database projection of each space up to date: the rows
// that list screens, statistics and the audit trail read. The space workflows call it
// as local activities at each transition.
package database

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"jardinier/models"
)

// ErrTypeNoSpace is the error type when the space row a workflow projects to is missing.
const ErrTypeNoSpace = "SpaceRowMissing"

// Activities writes the projection.
type Activities struct{ DB *gorm.DB }

// RecordTransitionInput describes one transition of a space and who caused it.
type RecordTransitionInput struct {
	// EventKey makes the transition idempotent: "<application id>/<sequence>".
	EventKey         string
	Slug             string
	ApplicationID    string
	Status           models.Status
	Actor            string
	Action           string
	Reason           string
	At               time.Time
	NextcloudVersion string
	BucketName       string
}

// RecordTransitionResult says whether this call wrote the transition (false: an
// earlier attempt already had).
type RecordTransitionResult struct{ Recorded bool }

// RecordTransition sets the space's status and the time of that step, and appends the
// audit event, in one transaction; a retried call changes nothing more.
func (a *Activities) RecordTransition(ctx context.Context, in RecordTransitionInput) (RecordTransitionResult, error) {
	var recorded bool
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var appID *string
		if in.ApplicationID != "" {
			appID = &in.ApplicationID
		}
		ev := models.AuditEvent{Key: in.EventKey, Slug: in.Slug, ApplicationID: appID,
			Actor: in.Actor, Action: in.Action, Reason: in.Reason, At: in.At.UTC()}
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&ev)
		if res.Error != nil {
			return fmt.Errorf("record audit event %s: %w", in.EventKey, res.Error)
		} else if res.RowsAffected == 0 {
			return nil // an earlier attempt committed this transition
		}
		recorded = true
		updates := map[string]any{"status": in.Status, "status_reason": in.Reason}
		if in.NextcloudVersion != "" {
			updates["nextcloud_version"] = in.NextcloudVersion
		}
		if in.BucketName != "" {
			updates["bucket_name"] = in.BucketName
		}
		if column := stepColumn(in.Status); column != "" {
			updates[column] = in.At.UTC()
		}
		res = tx.Model(&models.Space{}).Where("application_id = ?", in.ApplicationID).Updates(updates)
		if res.Error != nil {
			return fmt.Errorf("update space %q: %w", in.Slug, res.Error)
		} else if res.RowsAffected == 0 {
			return temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("no space row for application %s (%s)", in.ApplicationID, in.Slug), ErrTypeNoSpace, nil)
		}
		return nil
	})
	if err != nil {
		return RecordTransitionResult{}, err
	}
	activity.GetLogger(ctx).Info("Space transition recorded", "slug", in.Slug, "status", in.Status, "actor", in.Actor, "recorded", recorded)
	return RecordTransitionResult{Recorded: recorded}, nil
}

// stepColumn is the column holding the time a space entered a status.
func stepColumn(s models.Status) string {
	switch s {
	case models.StatusOnHold, models.StatusRejected, models.StatusProvisioning:
		return "decided_at"
	case models.StatusActive:
		return "provisioned_at"
	case models.StatusDeactivated:
		return "deactivated_at"
	case models.StatusDeleted:
		return "deleted_at"
	}
	return ""
}

// PurgeApplicationInput names the application whose personal data must go.
type PurgeApplicationInput struct {
	Slug          string
	ApplicationID string
}

// PurgeApplicationResult says whether anything was left to delete.
type PurgeApplicationResult struct{ Deleted bool }

// PurgeApplication deletes the application and every answer of its form; the space
// row stays as a tombstone (slug, dates, status, reason) without personal data.
func (a *Activities) PurgeApplication(ctx context.Context, in PurgeApplicationInput) (PurgeApplicationResult, error) {
	var deleted bool
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&models.Space{}).Where("application_id = ?", in.ApplicationID).
			Update("application_id", nil).Error; err != nil {
			return fmt.Errorf("detach space %q from its application: %w", in.Slug, err)
		}
		if err := tx.Model(&models.AuditEvent{}).Where("application_id = ?", in.ApplicationID).
			Update("application_id", nil).Error; err != nil {
			return fmt.Errorf("detach audit events of %q: %w", in.Slug, err)
		}
		res := tx.Delete(&models.Application{}, "id = ?", in.ApplicationID)
		if res.Error != nil && !errors.Is(res.Error, gorm.ErrRecordNotFound) {
			return fmt.Errorf("delete application of %q: %w", in.Slug, res.Error)
		}
		deleted = res.RowsAffected > 0
		return nil
	})
	if err != nil {
		return PurgeApplicationResult{}, err
	}
	activity.GetLogger(ctx).Info("Application purged", "slug", in.Slug, "deleted", deleted)
	return PurgeApplicationResult{Deleted: deleted}, nil
}
