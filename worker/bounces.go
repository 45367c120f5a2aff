package worker

import (
	"fmt"
	"log/slog"
	"net"

	"gorm.io/gorm"

	"jardinier/activities/mail"
	"jardinier/models"
)

// serveBounces listens for the relay's bounces on BOUNCE_ADDR, if set, until the
// returned function stops it.
func serveBounces(cfg models.Config, db *gorm.DB, logger *slog.Logger) (stop func(), err error) {
	if cfg.BounceAddr == "" {
		return func() {}, nil
	}
	l, err := net.Listen("tcp", cfg.BounceAddr)
	if err != nil {
		return nil, fmt.Errorf("BOUNCE_ADDR: %w", err)
	}
	srv := mail.NewBounceServer(&mail.Bounces{DB: db, ReturnPath: cfg.MailReturnPath, Log: logger}, cfg.BaseDomain)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil {
			logger.Error("Bounce server stopped", "error", err)
		}
	}()
	logger.Info("Listening for bounces", "addr", l.Addr().String(), "return_path", cfg.MailReturnPath)
	return func() {
		_ = srv.Close()
		<-done
	}, nil
}
