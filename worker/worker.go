// Package worker builds the Temporal worker that runs the space workflows and their
// activities, with every client the activities need.
package worker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"gorm.io/gorm"

	"jardinier/activities/database"
	"jardinier/activities/mail"
	"jardinier/activities/nextcloud"
	"jardinier/activities/storage"
	"jardinier/models"
	"jardinier/models/metrics"
	"jardinier/workflows"
)

// Options are what the worker is built from. Nextcloud and Sender may be set by tests
// and benchmarks; when nil they are built from Config.
type Options struct {
	Config    models.Config
	DB        *gorm.DB
	Client    client.Client
	Logger    *slog.Logger
	Nextcloud nextcloud.Driver
	Sender    mail.Sender
	// MaxConcurrentActivities bounds the activities run at once (0: SDK default).
	MaxConcurrentActivities int
	// Metrics receives the worker's own metrics (mails, provisioning); nil for none. The
	// SDK's go through the client (workflows.ConnectMetered).
	Metrics *metrics.Registry
}

// New returns the worker of a Jardinier process: a worker on workflows.TaskQueue with
// every workflow and activity registered, together with the mail lane's worker on
// workflows.MailTaskQueue (NewMail), which runs the mail activities at MAIL_RATE.
// Start, Run and Stop act on both; registrations go to the first. Start or Run it.
func New(o Options) (worker.Worker, error) {
	cfg := o.Config
	if len(cfg.SecretKey) != 32 {
		return nil, fmt.Errorf("SECRET_KEY: must be set to 32 bytes encoded in base64 (openssl rand -base64 32)")
	}
	sealer, err := models.NewSealer(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	s3, err := storage.NewClient(cfg.S3Endpoint, cfg.S3AccessKey, cfg.S3SecretKey, cfg.S3TLS, cfg.S3Region)
	if err != nil {
		return nil, fmt.Errorf("S3_ENDPOINT: %w", err)
	}
	driver := o.Nextcloud
	if driver == nil {
		if driver, err = NewNextcloudDriver(cfg, o.Logger); err != nil {
			return nil, err
		}
	}
	mailer, err := newMailer(o, sealer)
	if err != nil {
		return nil, err
	}
	backups, err := NewBackupActivities(cfg, o.DB, s3)
	if err != nil {
		return nil, err
	}

	// The process's one cache, sized before its first worker starts (WORKFLOW_CACHE_SIZE).
	if cfg.WorkflowCacheSize > 0 {
		worker.SetStickyWorkflowCacheSize(cfg.WorkflowCacheSize)
	}
	w := worker.New(o.Client, workflows.TaskQueue, worker.Options{
		MaxConcurrentActivityExecutionSize: o.MaxConcurrentActivities,
		// Most activities wait on I/O (S3, SQL, SMTP, occ): more pollers keep tasks
		// flowing when hundreds of spaces are provisioned at once.
		MaxConcurrentActivityTaskPollers: 8,
		MaxConcurrentWorkflowTaskPollers: 8,
		// The Temporal UI shows a summary of every activity (workflows/summaries.go).
		Interceptors: []interceptor.WorkerInterceptor{&workflows.SummaryInterceptor{}},
	})
	// Registered under the names of the contracts, which recorded histories and
	// visibility queries carry, whatever the Go functions are called.
	w.RegisterWorkflowWithOptions(workflows.SpaceWorkflow, workflow.RegisterOptions{Name: workflows.SpaceWorkflowType})
	w.RegisterWorkflowWithOptions(workflows.FleetUpgradeWorkflow, workflow.RegisterOptions{Name: workflows.FleetUpgradeWorkflowType})
	w.RegisterWorkflowWithOptions(workflows.QuotaRebalanceWorkflow, workflow.RegisterOptions{Name: workflows.QuotaRebalanceWorkflowType})
	w.RegisterWorkflowWithOptions(workflows.PolicyRolloutWorkflow, workflow.RegisterOptions{Name: workflows.PolicyRolloutWorkflowType})
	w.RegisterWorkflowWithOptions(workflows.LimitsRolloutWorkflow, workflow.RegisterOptions{Name: workflows.LimitsRolloutWorkflowType})
	w.RegisterWorkflowWithOptions(workflows.ModeratorMailWorkflow, workflow.RegisterOptions{Name: workflows.ModeratorMailWorkflowType})
	w.RegisterWorkflowWithOptions(workflows.DigestWorkflow, workflow.RegisterOptions{Name: workflows.DigestWorkflowType})
	w.RegisterWorkflowWithOptions(workflows.AnnouncementWorkflow, workflow.RegisterOptions{Name: workflows.AnnouncementWorkflowType})
	w.RegisterWorkflowWithOptions(workflows.BackupFleetWorkflow, workflow.RegisterOptions{Name: workflows.BackupFleetWorkflowType})
	w.RegisterWorkflowWithOptions(workflows.FileHistoryWorkflow, workflow.RegisterOptions{Name: workflows.FileHistoryWorkflowType})
	w.RegisterActivity(backups)
	w.RegisterActivity(&database.Activities{DB: o.DB, Policy: cfg.Policy, Sealer: sealer, Limits: cfg.Limits, Metrics: o.Metrics})
	w.RegisterActivity(&storage.Activities{Client: s3, Region: cfg.S3Region})
	w.RegisterActivity(&nextcloud.Activities{Driver: driver, Sealer: sealer, Apps: cfg.NextcloudApps,
		Office: OfficeSettings(cfg), OfficeKey: cfg.SecretKey})
	w.RegisterActivity(&nextcloud.AudienceActivities{Driver: driver, DB: o.DB})
	// Also here for the runs started before the mail lane, which still schedule their
	// mails on this queue (workflows.mailLaneChange).
	w.RegisterActivity(mailer)
	mw, err := newMailWorker(o, mailer)
	if err != nil {
		return nil, err
	}
	return &pair{Worker: w, mail: mw}, nil
}

// NewMail returns a worker of the mail lane alone, on workflows.MailTaskQueue, as New
// builds it: what a process that only sends mails runs, and what tests start twice to
// see the rate hold across workers.
func NewMail(o Options) (worker.Worker, error) {
	sealer, err := models.NewSealer(o.Config.SecretKey)
	if err != nil {
		return nil, fmt.Errorf("SECRET_KEY: %w", err)
	}
	mailer, err := newMailer(o, sealer)
	if err != nil {
		return nil, err
	}
	return newMailWorker(o, mailer)
}

// newMailer returns the mail activities, sending through o.Sender or, when nil, the
// sender the configuration names.
func newMailer(o Options, sealer *models.Sealer) (*mail.Activities, error) {
	cfg := o.Config
	sender := o.Sender
	if sender == nil {
		var err error
		if sender, err = mail.NewSender(cfg.SMTPURL, cfg.MailDir); err != nil {
			return nil, err
		}
	}
	templates, err := mail.LoadTemplates(mail.DefaultLanguage)
	if err != nil {
		return nil, err
	}
	for _, k := range templates.Kinds() {
		o.Metrics.InitMail(string(k))
	}
	return &mail.Activities{DB: o.DB, Sender: sender, Templates: templates, Sealer: sealer, Metrics: o.Metrics,
		Signer: models.NewSigner(cfg.SecretKey),
		From:   cfg.MailFrom, ModeratorsEmail: cfg.ModeratorsEmail, BaseDomain: cfg.BaseDomain, PublicURL: cfg.PublicURL,
		ReturnPath: cfg.MailReturnPath}, nil
}

// newMailWorker returns the worker of workflows.MailTaskQueue running mailer's
// activities and nothing else.
func newMailWorker(o Options, mailer *mail.Activities) (worker.Worker, error) {
	if !(o.Config.MailRate > 0) {
		return nil, fmt.Errorf("MAIL_RATE: must be a number of mails per second above 0")
	}
	mw := worker.New(o.Client, workflows.MailTaskQueue, worker.Options{
		// The server holds this rate for the queue, over every worker polling it (each
		// sends the same MAIL_RATE): the relay sees MAIL_RATE however many workers run.
		// Unlike WorkerActivitiesPerSecond, which would bound each worker alone.
		TaskQueueActivitiesPerSecond:       o.Config.MailRate,
		MaxConcurrentActivityExecutionSize: o.MaxConcurrentActivities,
	})
	mw.RegisterActivity(mailer)
	return mw, nil
}

// pair is the worker New returns: the worker of workflows.TaskQueue, which takes the
// registrations, and the mail lane's, started and stopped with it.
type pair struct {
	worker.Worker
	mail worker.Worker
}

// Start starts both workers, or neither.
func (p *pair) Start() error {
	if err := p.Worker.Start(); err != nil {
		return err
	}
	if err := p.mail.Start(); err != nil {
		p.Worker.Stop()
		return fmt.Errorf("start mail worker: %w", err)
	}
	return nil
}

// Run starts both workers and stops them when interruptCh receives or is closed.
func (p *pair) Run(interruptCh <-chan interface{}) error {
	if err := p.Start(); err != nil {
		return err
	}
	<-interruptCh
	p.Stop()
	return nil
}

// Stop stops both workers, the mail lane first: the mails it runs have their results
// waited for by workflows of the other.
func (p *pair) Stop() {
	p.mail.Stop()
	p.Worker.Stop()
}

// NewNextcloudDriver returns the driver NEXTCLOUD_DRIVER names. The simulator keeps its
// spaces in NEXTCLOUD_SIM_DIR, and creates their databases on the server of
// FLEET_DATABASE_URL, when those are set.
func NewNextcloudDriver(cfg models.Config, logger *slog.Logger) (nextcloud.Driver, error) {
	switch cfg.NextcloudDriver {
	case "sim":
		sim := nextcloud.NewSimulator(logger)
		sim.SetUpgradeDuration(cfg.NextcloudSimUpgradeDuration)
		sim.SetApprovedApps(cfg.NextcloudApps)
		if cfg.NextcloudSimDir != "" {
			if err := sim.Persist(cfg.NextcloudSimDir); err != nil {
				return nil, fmt.Errorf("NEXTCLOUD_SIM_DIR: %w", err)
			}
		}
		if cfg.FleetDatabaseURL != "" {
			// It lives as long as the process: the driver has no Close.
			fleet, err := nextcloud.NewFleetDB(cfg.FleetDatabaseURL)
			if err != nil {
				return nil, fmt.Errorf("FLEET_DATABASE_URL: %w", err)
			}
			sim.UseFleetDB(fleet)
		}
		return sim, nil
	case "occ":
		return newOccDriver(cfg, logger)
	}
	return nil, fmt.Errorf("NEXTCLOUD_DRIVER: unknown driver %q", cfg.NextcloudDriver)
}

// newOccDriver returns the driver of a real fleet (deploy/nextcloud.md). The spaces
// reach PostgreSQL at NEXTCLOUD_DB_HOST, by default the server of FLEET_DATABASE_URL.
func newOccDriver(cfg models.Config, logger *slog.Logger) (nextcloud.Driver, error) {
	fleet, err := nextcloud.NewFleetDB(cfg.FleetDatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("FLEET_DATABASE_URL: %w", err)
	}
	dbHost := cfg.Occ.DBHost
	if u, err := url.Parse(cfg.FleetDatabaseURL); dbHost == "" && err == nil {
		dbHost = u.Host
		if u.Port() == "" {
			dbHost = net.JoinHostPort(u.Hostname(), "5432")
		}
	}
	o := cfg.Occ
	d, err := nextcloud.NewOcc(nextcloud.OccOptions{
		PHP: o.PHP, CodeRoot: o.CodeRoot, ConfigRoot: o.ConfigRoot, DataRoot: o.DataRoot,
		WebUser: o.WebUser, Timeout: o.Timeout,
		SSHHost: o.SSHHost, SSHUser: o.SSHUser, SSHKey: o.SSHKey, SSHKnownHosts: o.SSHKnownHosts,
		BaseDomain: cfg.BaseDomain, DBHost: dbHost,
		S3Endpoint: cfg.S3Endpoint, S3AccessKey: cfg.S3AccessKey, S3SecretKey: cfg.S3SecretKey,
		S3TLS: cfg.S3TLS, S3Region: cfg.S3Region,
		RedisHost: o.Redis, RedisPrefix: o.RedisPrefix, Secret: cfg.SecretKey, AppsURL: o.AppsURL,
		SnapshotDir: o.SnapshotDir, DeactivatedMap: o.DeactivatedMap, ReloadWeb: o.ReloadWeb,
		ReloadPHP: o.ReloadPHP, HealthURL: o.HealthURL,
		AccessControl: o.AccessControl, ApprovedApps: cfg.NextcloudApps, AppStoreURL: o.AppStoreURL,
		MailRelay: cfg.NextcloudSMTPURL, MailFrom: cfg.NextcloudMailFrom,
	}, fleet, nil, logger)
	if err != nil {
		fleet.Close()
		return nil, err
	}
	return d, nil
}

// Run builds the worker's dependencies from the configuration and runs it until ctx
// is cancelled.
func Run(ctx context.Context, cfg models.Config, logger *slog.Logger) error {
	reg := metrics.New(logger)
	defer reg.Close()
	db, c, err := workflows.ConnectMetered(ctx, cfg, logger, reg.Temporal())
	if err != nil {
		return err
	}
	defer c.Close()
	if err := reg.Serve(ctx, cfg.MetricsAddr, cfg.MetricsPprof, logger); err != nil {
		return err
	}
	w, err := New(Options{Config: cfg, DB: db, Client: c, Logger: logger, Metrics: reg})
	if err != nil {
		return err
	}
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	logger.Info("Worker started", "task_queue", workflows.TaskQueue, "mail_task_queue", workflows.MailTaskQueue,
		"mail_rate", cfg.MailRate, "namespace", cfg.TemporalNamespace)
	if err := workflows.EnsureQuotaSchedule(ctx, c, cfg.QuotaRebalanceEvery); err != nil {
		w.Stop()
		return fmt.Errorf("QUOTA_REBALANCE_EVERY: %w", err)
	}
	logger.Info("Quota rebalance scheduled", "schedule", workflows.QuotaScheduleID, "every", cfg.QuotaRebalanceEvery)
	if err := workflows.EnsureDigestSchedule(ctx, c); err != nil {
		w.Stop()
		return err
	}
	logger.Info("Moderators' digest scheduled", "schedule", workflows.DigestScheduleID, "hour", workflows.DigestHour)
	go runOfficeRefresh(ctx, c, db, cfg, logger)
	if err := startBackups(ctx, cfg, c, logger); err != nil {
		w.Stop()
		return err
	}
	stopBounces, err := serveBounces(cfg, db, logger)
	if err != nil {
		w.Stop()
		return err
	}
	<-ctx.Done()
	stopBounces()
	w.Stop()
	return nil
}

// OfficeSettings are the office servers of the configuration, as the Nextcloud
// activities write them into the spaces.
func OfficeSettings(cfg models.Config) nextcloud.OfficeSettings {
	return nextcloud.OfficeSettings{CollaboraURL: cfg.CollaboraURL, OnlyOfficeURL: cfg.OnlyOfficeURL,
		OnlyOfficeJWTSecret: cfg.OnlyOfficeJWTSecret}
}
