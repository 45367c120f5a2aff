// Package api is Jardinier's HTTP API: the public application form and the moderators'
// screens, JSON under /api/v1; and the pages a space's contact reaches from the links of
// its mails, HTML in French.
package api

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/client"
	"gorm.io/gorm"

	"jardinier/models"
	"jardinier/models/metrics"
	"jardinier/workflows"
)

// maxBodyBytes bounds every request body: the longest application is about 20 KB.
const maxBodyBytes = 64 << 10

// Server serves the API.
type Server struct {
	cfg      models.Config
	db       *gorm.DB
	temporal client.Client
	logger   *slog.Logger
	limiter  *rateLimiter // applications
	contacts *rateLimiter // contacts' requests for a confirmation link
	// signer checks the links mailed to contacts; nil without SECRET_KEY, and then the
	// pages of those links say the service is unavailable.
	signer *models.Signer
	pages  *pages
	// console holds the moderators' console pages; sealer opens the admins' second
	// factor secrets (nil without SECRET_KEY: the console then refuses sign-ins).
	console map[string]*template.Template
	sealer  *models.Sealer
	signIns *rateLimiter // sign-in attempts, codes and passwords chosen, per address
	resets  *rateLimiter // password reset requests, per address
	// metrics records the requests and serves /metrics; nil without UseMetrics.
	metrics *metrics.Registry
	// background counts the work a request leaves running after its answer.
	background sync.WaitGroup
	now        func() time.Time
}

// NewServer returns a Server; it owns nothing it is given.
func NewServer(cfg models.Config, db *gorm.DB, temporal client.Client, logger *slog.Logger) *Server {
	s := &Server{cfg: cfg, db: db, temporal: temporal, logger: logger,
		limiter:  newRateLimiter(cfg.SubmitRate, time.Hour),
		contacts: newRateLimiter(cfg.SubmitRate, time.Hour), now: time.Now,
		signIns: newRateLimiter(signInsPerAddress, signInPeriod), resets: newRateLimiter(resetsPerAddress, signInPeriod)}
	if len(cfg.SecretKey) > 0 {
		s.signer = models.NewSigner(cfg.SecretKey)
		s.sealer, _ = models.NewSealer(cfg.SecretKey) // a 32-byte key, checked with the configuration
	}
	return s
}

// Handler returns the routes.
func (s *Server) Handler() (http.Handler, error) {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	if err := r.SetTrustedProxies(s.cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	p, err := loadPages(pageLanguage)
	if err != nil {
		return nil, err
	}
	s.pages = p
	cop, err := crossOrigin(s.cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	r.Use(s.logRequests, s.observeRequests, gin.CustomRecovery(func(c *gin.Context, v any) {
		s.writeError(c, fmt.Errorf("panic: %v", v))
	}), s.refuseCrossOrigin(cop), limitBody)
	r.GET("/static/*file", staticFiles())
	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	if s.metrics != nil {
		// For Prometheus, on the internal network: the public proxy must not pass it on.
		r.GET("/metrics", gin.WrapH(s.metrics.Handler()))
	}

	// The public site: what the service offers, the application form.
	r.GET("/", s.siteHome)
	r.GET("/demande", s.applyForm)
	r.POST("/demande", s.rateLimit(s.limiter), s.apply)
	r.GET("/demande/envoyee", s.appliedPage)
	r.GET("/conditions", s.termsPage)
	r.GET("/suivi", s.followPage)
	r.POST("/suivi", s.rateLimit(s.contacts), s.withdrawPage)
	r.GET("/espace", s.contactPage)
	r.POST("/espace", s.rateLimit(s.contacts), s.contactPageRequest)

	// Pages reached from the links of mails, and where the web servers send every URL
	// of a deactivated space.
	r.GET("/spaces/:slug/deactivated", s.deactivatedPage)
	r.GET("/spaces/:slug/deactivated/*rest", s.deactivatedPage)
	r.GET("/reactivate", s.reactivatePage)
	r.POST("/reactivate", s.rateLimit(s.contacts), s.reactivate)
	r.GET("/confirm", s.confirmPage)
	r.POST("/confirm", s.rateLimit(s.contacts), s.confirm)
	r.GET("/espace/contact", s.contactChangePage)
	r.POST("/espace/contact", s.rateLimit(s.contacts), s.confirmContactChangePage)

	v1 := r.Group("/api/v1")
	v1.GET(openAPIPath, serveOpenAPI)
	v1.POST("/applications", s.rateLimit(s.limiter), s.submitApplication)
	v1.GET("/slug-check", s.checkSlug)
	v1.GET("/follow", s.followJSON)
	v1.POST("/follow/withdraw", s.rateLimit(s.contacts), s.withdrawJSON)
	v1.POST("/spaces/:slug/request-deactivation", s.rateLimit(s.contacts), s.requestDeactivation)
	v1.POST("/spaces/:slug/request-deletion", s.rateLimit(s.contacts), s.requestDeletion)
	v1.POST("/spaces/:slug/request-reactivation-link", s.rateLimit(s.contacts), s.requestReactivationLink)
	v1.POST("/spaces/:slug/request-contact-change", s.rateLimit(s.contacts), s.requestContactChangeJSON)
	v1.POST("/contact-change/confirm", s.rateLimit(s.contacts), s.confirmContactChangeJSON)
	v1.POST("/spaces/:slug/request-office", s.rateLimit(s.contacts), s.requestOffice)

	mod := v1.Group("", s.authenticate(models.RoleModerator))
	mod.GET("/applications", s.listApplications)
	mod.GET("/applications/:id", s.getApplication)
	mod.POST("/applications/:id/:decision", s.decideApplication)
	mod.GET("/spaces", s.listSpaces)
	mod.GET("/spaces/:slug", s.getSpace)
	mod.GET("/spaces/:slug/timeline", s.spaceTimeline)
	mod.POST("/spaces/:slug/office", s.setOffice)
	mod.POST("/spaces/:slug/limits", s.postSpaceLimits)
	mod.POST("/spaces/:slug/:action", s.actOnSpace)
	mod.GET("/fleet/limits", s.getFleetLimits)
	mod.GET("/backups/stale", s.staleBackupsAPI)
	mod.GET("/policy", s.getPolicy)
	mod.GET("/policy/preview", s.previewPolicy)
	mod.GET("/stats", s.getStats)
	mod.GET("/audit", s.listAudit)

	if err := s.consoleRoutes(r); err != nil {
		return nil, err
	}
	if err := s.codecRoutes(r); err != nil {
		return nil, err
	}

	admin := v1.Group("", s.authenticate(models.RoleAdmin))
	admin.GET("/opening", s.getOpening)
	admin.POST("/opening", s.setOpening)
	admin.GET("/moderators", s.listModerators)
	admin.POST("/moderators", s.createModerator)
	admin.POST("/moderators/:id/disable", s.disableModeratorAPI)
	admin.POST("/upgrades", s.startUpgrade)
	admin.GET("/upgrades/:id", s.getUpgrade)
	admin.GET("/upgrades/:id/spaces", s.listUpgradeSpaces)
	admin.POST("/upgrades/:id/:action", s.controlUpgrade)
	admin.PUT("/policy", s.putPolicy)
	admin.POST("/fleet/limits", s.postFleetLimits)
	admin.POST("/fleet/limits/:action", s.controlFleetLimits)
	s.announcementRoutes(admin)
	admin.POST("/spaces/:slug/restore", s.restoreSpaceAPI)

	r.NoRoute(func(c *gin.Context) {
		if strings.HasPrefix(c.Request.URL.Path, consolePrefix+"/") {
			s.renderConsoleError(c, http.StatusNotFound, consoleNotFound, "")
			return
		}
		if !isAPIPath(c.Request.URL.Path) {
			s.renderPage(c, http.StatusNotFound, pageNotFound, pageData{})
			return
		}
		s.writeError(c, models.Errorf(models.ENOTFOUND, "adresse inconnue"))
	})
	return r, nil
}

// Run connects to the database and Temporal of the configuration and serves the API on
// cfg.APIAddr until ctx is cancelled, as worker.Run runs the worker.
func Run(ctx context.Context, cfg models.Config, logger *slog.Logger) error {
	reg := metrics.New(logger)
	defer reg.Close()
	db, c, err := workflows.ConnectMetered(ctx, cfg, logger, reg.Temporal())
	if err != nil {
		return err
	}
	defer c.Close()
	s := NewServer(cfg, db, c, logger)
	s.UseMetrics(reg)
	return s.Run(ctx)
}

// Run serves on cfg.APIAddr until ctx is cancelled, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	h, err := s.Handler()
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: s.cfg.APIAddr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	s.logger.Info("API listening", "addr", "http://"+s.cfg.APIAddr)
	select {
	case err := <-errc:
		return fmt.Errorf("API_ADDR %s: %w", s.cfg.APIAddr, err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shut down API: %w", err)
	}
	// Requests already answered may still be passing a contact's request on.
	s.background.Wait()
	return nil
}

func (s *Server) logRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	s.logger.Info("HTTP request", "method", c.Request.Method, "path", c.Request.URL.Path,
		"status", c.Writer.Status(), "duration", time.Since(start), "client", c.ClientIP())
}

func limitBody(c *gin.Context) {
	// The codec's requests carry pages of history: codecRoutes bounds them itself.
	if !strings.HasPrefix(c.Request.URL.Path, codecPrefix+"/") {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes)
	}
	c.Next()
}

func (s *Server) healthz(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

// readyz answers 200 only when the database and Temporal answer.
func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	checks := gin.H{"database": "ok", "temporal": "ok"}
	ready := true
	if sqlDB, err := s.db.DB(); err != nil || sqlDB.PingContext(ctx) != nil {
		checks["database"], ready = "unavailable", false
	}
	if _, err := s.temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		checks["temporal"], ready = "unavailable", false
	}
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	c.JSON(status, gin.H{"ready": ready, "checks": checks})
}
