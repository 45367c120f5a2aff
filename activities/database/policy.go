package database

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"jardinier/models"
)

// CurrentPolicyInput asks for the inactivity policy in force.
type CurrentPolicyInput struct{}

// CurrentPolicyResult is the inactivity policy in force and its version.
type CurrentPolicyResult struct {
	Policy  models.InactivityPolicy
	Version int // 0 from workers of before the policy was versioned
}

// CurrentPolicy tells workflows the latest version of the inactivity policy in the
// database (INACTIVITY_POLICY seeds the first). Workflows read it each time a run
// starts planning, and are signalled when it changes; the answer is recorded in
// history, which keeps replays deterministic.
func (a *Activities) CurrentPolicy(ctx context.Context, in CurrentPolicyInput) (CurrentPolicyResult, error) {
	v, err := models.CurrentPolicy(ctx, a.DB, a.Policy)
	if err != nil {
		return CurrentPolicyResult{}, err
	}
	p, err := v.Offsets()
	if err != nil {
		return CurrentPolicyResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeNoPolicy, nil)
	}
	return CurrentPolicyResult{Policy: p, Version: v.Version}, nil
}

// ListPolicySpacesInput asks for a page of the spaces under the inactivity policy.
type ListPolicySpacesInput struct {
	After string // the last slug of the previous page; "" for the first
	Limit int
}

// ListPolicySpacesResult is a page of slugs; fewer than Limit means the last one.
type ListPolicySpacesResult struct{ Slugs []string }

// ListPolicySpaces lists, by slug, the spaces in service (active or deactivated),
// whose workflows plan the steps of the inactivity policy.
func (a *Activities) ListPolicySpaces(ctx context.Context, in ListPolicySpacesInput) (ListPolicySpacesResult, error) {
	if in.Limit <= 0 {
		return ListPolicySpacesResult{}, fmt.Errorf("list spaces for the policy: limit %d is not positive", in.Limit)
	}
	var res ListPolicySpacesResult
	err := a.DB.WithContext(ctx).Model(&models.Space{}).
		Where("status IN ? AND slug > ?", []models.Status{models.StatusActive, models.StatusDeactivated}, in.After).
		Order("slug").Limit(in.Limit).Pluck("slug", &res.Slugs).Error
	if err != nil {
		return res, fmt.Errorf("list spaces for the policy: %w", err)
	}
	return res, nil
}
