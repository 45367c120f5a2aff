package workflows

import (
	"context"
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"gorm.io/gorm"

	"jardinier/models"
)

// Dial connects to the Temporal server of the configuration, logging through logger.
func Dial(ctx context.Context, cfg models.Config, logger *slog.Logger) (client.Client, error) {
	return DialMetered(ctx, cfg, logger, nil)
}

// DialMetered is Dial with the SDK's metrics reported to metrics (nil: none).
func DialMetered(ctx context.Context, cfg models.Config, logger *slog.Logger, metrics client.MetricsHandler) (client.Client, error) {
	dc, err := DataConverter(cfg)
	if err != nil {
		return nil, err
	}
	c, err := client.DialContext(ctx, client.Options{
		HostPort:       cfg.TemporalAddress,
		Namespace:      cfg.TemporalNamespace,
		Logger:         log.NewStructuredLogger(logger),
		MetricsHandler: metrics,
		DataConverter:  dc,
	})
	if err != nil {
		return nil, fmt.Errorf("TEMPORAL_ADDRESS %s: %w", cfg.TemporalAddress, err)
	}
	return c, nil
}

// Connect opens the database of the configuration (creating and migrating it) and dials
// its Temporal server: what the API, the worker, the administration commands and the
// benchmarks need first. The caller closes the client.
func Connect(ctx context.Context, cfg models.Config, logger *slog.Logger) (*gorm.DB, client.Client, error) {
	return ConnectMetered(ctx, cfg, logger, nil)
}

// ConnectMetered is Connect with the SDK's metrics reported to metrics (nil: none).
func ConnectMetered(ctx context.Context, cfg models.Config, logger *slog.Logger, metrics client.MetricsHandler) (*gorm.DB, client.Client, error) {
	db, err := models.OpenDB(ctx, cfg.DatabaseURL, logger)
	if err != nil {
		return nil, nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	c, err := DialMetered(ctx, cfg, logger, metrics)
	if err != nil {
		if sqlDB, dbErr := db.DB(); dbErr == nil {
			sqlDB.Close()
		}
		return nil, nil, err
	}
	return db, c, nil
}
