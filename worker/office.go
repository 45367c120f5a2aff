package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	"gorm.io/gorm"

	"jardinier/activities/nextcloud"
	"jardinier/models"
	"jardinier/workflows"
)

// Sizes of the office settings refresh.
const (
	// officeRefreshEvery is how often a worker looks for spaces whose office settings
	// are not the configuration's: once at start, which is when the configuration
	// changes, then again for the spaces that were busy, deactivated or unreachable.
	officeRefreshEvery = time.Hour
	// officeRefreshWindow bounds the updates in flight at once: each rewrites one
	// space's settings with one occ call.
	officeRefreshWindow = 8
	// officeRefreshReason is what the timeline says of a refresh.
	officeRefreshReason = "réglages du serveur de la suite bureautique changés"
)

// OfficeRefresh counts what one pass of RefreshOffice did.
type OfficeRefresh struct {
	Stale     int // spaces in service whose settings were not the configuration's
	Rewritten int // their settings written again
	Failed    int // refused (busy, deactivated meanwhile) or failed: for the next pass
}

// RefreshOffice writes the office settings of the configuration again into every
// space in service whose recorded fingerprint (models.Space.OfficeFingerprint) is not
// theirs: it sends the space's workflow the office update as the system, with the
// suite in use, so that the rewrite is one step of the space's life among the others
// and shows in its timeline. Spaces without a suite have nothing to write; spaces
// deactivated get theirs at a pass after their reactivation.
func RefreshOffice(ctx context.Context, c client.Client, db *gorm.DB, settings nextcloud.OfficeSettings, key []byte,
	logger *slog.Logger,
) (OfficeRefresh, error) {
	type stale struct {
		Slug        string
		OfficeSuite models.OfficeSuite
	}
	var spaces []stale
	for _, suite := range []models.OfficeSuite{models.OfficeCollabora, models.OfficeOnlyOffice} {
		var page []stale
		if err := db.WithContext(ctx).Model(&models.Space{}).Select("slug", "office_suite").
			Where("status = ? AND office_suite = ? AND office_fingerprint <> ?", models.StatusActive, suite,
				nextcloud.OfficeFingerprint(suite, settings, key)).
			Order("slug").Scan(&page).Error; err != nil {
			return OfficeRefresh{}, fmt.Errorf("list the spaces whose office settings changed: %w", err)
		}
		spaces = append(spaces, page...)
	}
	res := OfficeRefresh{Stale: len(spaces)}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		slot = make(chan struct{}, officeRefreshWindow)
	)
	for _, sp := range spaces {
		slot <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slot; wg.Done() }()
			err := refreshSpaceOffice(ctx, c, sp.Slug, sp.OfficeSuite)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Failed++
				logger.Warn("Office settings not written again; the next pass tries again", "slug", sp.Slug,
					"office_suite", sp.OfficeSuite, "error", err)
				return
			}
			res.Rewritten++
		}()
	}
	wg.Wait()
	return res, ctx.Err()
}

// refreshSpaceOffice sends one space's workflow the system's office update.
func refreshSpaceOffice(ctx context.Context, c client.Client, slug string, suite models.OfficeSuite) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	handle, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   workflows.SpaceWorkflowID(slug),
		UpdateName:   workflows.UpdateOffice,
		Args:         []any{workflows.OfficeInput{Actor: models.ActorSystem, Reason: officeRefreshReason, Suite: suite}},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = handle.Get(ctx, nil)
	}
	return err
}

// runOfficeRefresh runs RefreshOffice at start, then every officeRefreshEvery, until
// ctx is done, when the configuration names an office server. Several workers may run it at once: a space's workflow takes one update
// at a time and refuses the others as busy, and a rewrite twice is harmless.
func runOfficeRefresh(ctx context.Context, c client.Client, db *gorm.DB, cfg models.Config, logger *slog.Logger) {
	settings := OfficeSettings(cfg)
	if settings.CollaboraURL == "" && settings.OnlyOfficeURL == "" {
		// No office server (make dev, the benchmarks): nothing to connect the spaces to.
		logger.Info("No office server configured: the spaces' office settings are left as they are")
		return
	}
	for {
		res, err := RefreshOffice(ctx, c, db, settings, cfg.SecretKey, logger)
		switch {
		case errors.Is(err, context.Canceled):
			return
		case err != nil:
			logger.Error("Office settings refresh", "error", err)
		case res.Stale > 0:
			logger.Info("Office settings written again", "stale", res.Stale, "rewritten", res.Rewritten, "failed", res.Failed)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(officeRefreshEvery):
		}
	}
}
