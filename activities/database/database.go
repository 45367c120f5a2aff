// Package database keeps the database projection of each space up to date: the rows
// that list screens, statistics and the audit trail read. The space workflows call it
// as local activities at each transition.
package database

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"jardinier/models"
	"jardinier/models/metrics"
)

// ErrTypeNoSpace is the error type when the space row a workflow projects to is missing.
const ErrTypeNoSpace = "SpaceRowMissing"

// ErrTypeNoPolicy is the error type when the worker has no valid inactivity policy.
const ErrTypeNoPolicy = "InactivityPolicyInvalid"

// Activities writes the projection, and tells workflows the inactivity policy in force.
type Activities struct {
	DB *gorm.DB
	// Policy is INACTIVITY_POLICY: the first version of the policy when the database
	// has none yet.
	Policy models.InactivityPolicy
	// Metrics times the provisionings recorded; nil times nothing.
	Metrics *metrics.Registry
	// Sealer seals and opens the contact's address on its way through a change of
	// address (contact.go).
	Sealer *models.Sealer
	// Limits is SPACE_LIMITS: the first version of the fleet's default limits when the
	// database has none yet.
	Limits models.Limits
}

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

	// Step is a step of the inactivity policy done now: its time column gets At.
	Step models.Step
	// ClearSteps starts a new countdown: the warning and notice times are cleared.
	ClearSteps bool
	// LastActivityAt is the last activity seen on the space; zero leaves it unchanged.
	LastActivityAt time.Time
	// Exempt sets the exemption from the inactivity policy; nil leaves it unchanged.
	Exempt *bool
	// Schedule is what the policy plans next; nil leaves it unchanged.
	Schedule *Schedule
	// OfficeSuite is the office suite the space offers now, and OfficeFingerprint
	// names the settings written into its app; an empty OfficeSuite leaves both
	// unchanged.
	OfficeSuite       models.OfficeSuite
	OfficeFingerprint string
	// Limits are the limits the space now holds; nil leaves them unchanged.
	Limits *SpaceLimits
}

// Schedule is the next step of the inactivity policy and the deletion date, if nothing
// happens on the space. A zero NextStep means nothing is planned (exempt, deleted...).
type Schedule struct {
	NextStep   models.Step
	NextStepAt time.Time
	DeletionAt time.Time
	// Plan is every step ahead, NextStep first, on the dates the workflow will take
	// them; PolicyVersion the policy it follows. A nil Plan leaves both unchanged
	// (histories recorded before plans were projected).
	Plan          []models.PlannedStep
	PolicyVersion int
	// HeldStep, since HeldSince, waits for the moderators: no warning of the countdown
	// reached anyone (see models.PolicyHold). Zero: nothing held.
	HeldStep  models.Step
	HeldSince time.Time
}

// RecordTransitionResult says whether this call wrote the transition (false: an
// earlier attempt already had).
type RecordTransitionResult struct{ Recorded bool }

// RecordTransition sets the space's status and the time of that step, and appends the
// audit event, in one transaction; a retried call changes nothing more.
func (a *Activities) RecordTransition(ctx context.Context, in RecordTransitionInput) (RecordTransitionResult, error) {
	var recorded bool
	var provisioning time.Duration // acceptance to service, when this transition ends a provisioning
	err := a.DB.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var appID *string
		if in.ApplicationID != "" {
			appID = &in.ApplicationID
		}
		// Without an action this is an update of the projection only (a new schedule),
		// not an event of the space's life.
		if in.Action != "" {
			ev := models.AuditEvent{Key: in.EventKey, Slug: in.Slug, ApplicationID: appID,
				Actor: in.Actor, Action: in.Action, Reason: in.Reason, At: in.At.UTC()}
			res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&ev)
			if res.Error != nil {
				return fmt.Errorf("record audit event %s: %w", in.EventKey, res.Error)
			} else if res.RowsAffected == 0 {
				return nil // an earlier attempt committed this transition
			}
			if err := models.RecordStatsTransition(tx, in.ApplicationID, in.Status, in.Actor, in.Action, in.At); err != nil {
				return err
			}
		}
		recorded = true
		updates := map[string]any{"status": in.Status, "status_reason": in.Reason}
		if in.NextcloudVersion != "" {
			updates["nextcloud_version"] = in.NextcloudVersion
		}
		if in.BucketName != "" {
			updates["bucket_name"] = in.BucketName
		}
		at := in.At.UTC()
		switch in.Status {
		case models.StatusOnHold, models.StatusRejected, models.StatusProvisioning:
			updates["decided_at"] = at
		case models.StatusActive:
			// The first activation only: a reactivation keeps the provisioning time.
			updates["provisioned_at"] = gorm.Expr("COALESCE(provisioned_at, ?)", at)
			var before struct{ DecidedAt, ProvisionedAt *time.Time }
			if err := tx.Model(&models.Space{}).Select("decided_at, provisioned_at").
				Where("application_id = ?", in.ApplicationID).Take(&before).Error; err == nil &&
				before.ProvisionedAt == nil && before.DecidedAt != nil {
				provisioning = at.Sub(*before.DecidedAt)
			}
		case models.StatusDeactivated:
			updates["deactivated_at"] = gorm.Expr("CASE WHEN status = ? THEN deactivated_at ELSE ? END", models.StatusDeactivated, at)
		case models.StatusDeleted:
			updates["deleted_at"] = at
		}
		if in.ClearSteps {
			for _, column := range []string{"first_warning_at", "second_warning_at", "deletion_notice_at"} {
				updates[column] = nil
			}
		}
		if column := policyStepColumn[in.Step]; column != "" {
			updates[column] = at
		}
		if last := in.LastActivityAt.UTC(); !in.LastActivityAt.IsZero() {
			// Never back: the quota rebalance may have seen a later one.
			updates["last_activity_at"] = gorm.Expr("GREATEST(COALESCE(last_activity_at, ?), ?)", last, last)
		}
		if in.Exempt != nil {
			updates["exempt"] = *in.Exempt
		}
		if in.OfficeSuite != "" {
			updates["office_suite"], updates["office_fingerprint"] = in.OfficeSuite, in.OfficeFingerprint
		}
		if l := in.Limits; l != nil {
			updates["max_accounts"], updates["quota_bytes"], updates["max_video_bytes"] =
				l.Limits.MaxAccounts, l.Limits.QuotaBytes, l.Limits.MaxVideoBytes
			updates["own_limits"], updates["limits_version"] = l.Own, l.Version
		}
		if sc := in.Schedule; sc != nil {
			updates["next_step"] = sc.NextStep
			updates["next_step_at"], updates["deletion_due_at"] = nullTime(sc.NextStepAt), nullTime(sc.DeletionAt)
			if sc.Plan != nil || sc.NextStep == "" {
				updates["plan"] = planColumn(sc.Plan)
				updates["policy_version"] = sc.PolicyVersion
			}
		}
		if err := recordHold(tx, in.Slug, in.Schedule); err != nil {
			return err
		}
		res := tx.Model(&models.Space{}).Where("application_id = ?", in.ApplicationID).Updates(updates)
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
	if recorded && provisioning > 0 {
		a.Metrics.ObserveProvisioning(provisioning) // once: the audit event above is written once
	}
	activity.GetLogger(ctx).Info("Space transition recorded", "slug", in.Slug, "status", in.Status, "actor", in.Actor, "recorded", recorded)
	return RecordTransitionResult{Recorded: recorded}, nil
}

// policyStepColumn is the column holding the time a policy step was done; deactivation
// and deletion are statuses, recorded with them.
var policyStepColumn = map[models.Step]string{
	models.StepFirstWarning:   "first_warning_at",
	models.StepSecondWarning:  "second_warning_at",
	models.StepDeletionNotice: "deletion_notice_at",
}

// planColumn is the JSON of a plan for its column: nothing planned is an empty list.
func planColumn(plan []models.PlannedStep) any {
	if plan == nil {
		plan = []models.PlannedStep{}
	}
	b, _ := json.Marshal(plan) // a slice of plain structs always marshals
	return string(b)
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
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
