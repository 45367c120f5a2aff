package database

import (
	"context"
	"fmt"

	"jardinier/models"
)

// SpaceLimits are the limits a space holds, as its workflow records them.
type SpaceLimits struct {
	Limits models.Limits
	// Own is set for limits a moderator gave the space, which the fleet's defaults
	// leave alone.
	Own bool
	// Version is the version of the fleet's defaults the space was last told of.
	Version int
}

// CurrentLimitsInput asks for the fleet's default limits in force.
type CurrentLimitsInput struct{}

// CurrentLimitsResult is the fleet's default limits in force and their version.
type CurrentLimitsResult struct {
	Limits  models.Limits
	Version int
}

// CurrentLimits tells workflows the latest version of the fleet's default limits in
// the database (SPACE_LIMITS seeds the first): what a new space gets, and what a space
// whose own limits are lifted goes back to.
func (a *Activities) CurrentLimits(ctx context.Context, in CurrentLimitsInput) (CurrentLimitsResult, error) {
	v, err := models.CurrentLimits(ctx, a.DB, a.Limits)
	if err != nil {
		return CurrentLimitsResult{}, err
	}
	return CurrentLimitsResult{Limits: v.Limits(), Version: v.Version}, nil
}

// CountLimitsSpacesInput asks how many spaces a rollout of the default limits tells.
type CountLimitsSpacesInput struct{}

// CountLimitsSpacesResult is that number, for the rollout's progress.
type CountLimitsSpacesResult struct{ Spaces int }

// CountLimitsSpaces counts the spaces in service (active or deactivated), those that
// ListPolicySpaces pages through.
func (a *Activities) CountLimitsSpaces(ctx context.Context, in CountLimitsSpacesInput) (CountLimitsSpacesResult, error) {
	var n int64
	err := a.DB.WithContext(ctx).Model(&models.Space{}).
		Where("status IN ?", []models.Status{models.StatusActive, models.StatusDeactivated}).Count(&n).Error
	if err != nil {
		return CountLimitsSpacesResult{}, fmt.Errorf("count spaces for the limits: %w", err)
	}
	return CountLimitsSpacesResult{Spaces: int(n)}, nil
}
