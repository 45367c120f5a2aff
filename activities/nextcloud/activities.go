package nextcloud

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"jardinier/models"
)

// heartbeatInterval is how often, at most, an activity heartbeats while the driver
// works: `occ upgrade`, a database dump or an install take minutes, and a heartbeat
// lets Temporal retry the activity soon after its worker is lost instead of at the end
// of its start-to-close timeout. A heartbeat timeout under three intervals shortens
// it to a third of that timeout, so that one late heartbeat is not taken for a loss.
const heartbeatInterval = 5 * time.Second

// adminPasswordLength gives about 143 bits of entropy from 62 symbols.
const adminPasswordLength = 24

const (
	lowerLetters = "abcdefghijklmnopqrstuvwxyz"
	upperLetters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	digits       = "0123456789"
	passwordSet  = lowerLetters + upperLetters + digits
)

// Activities are the Temporal activities that change Nextcloud instances through a
// Driver. The worker builds one and registers it.
type Activities struct {
	Driver Driver
	Sealer *models.Sealer // seals the passwords the activities return
	Apps   []string       // the operator-approved apps every new space gets (NEXTCLOUD_APPS)
	// Office are the operator's office servers that ConfigureSpaceOffice writes into
	// the spaces (COLLABORA_URL, ONLYOFFICE_URL, ONLYOFFICE_JWT_SECRET); OfficeKey
	// (SECRET_KEY) keys their fingerprint.
	Office    OfficeSettings
	OfficeKey []byte
}

// CreateSpaceDatabase creates the database and role of a space.
func (a *Activities) CreateSpaceDatabase(ctx context.Context, in CreateDatabaseInput) (CreateDatabaseResult, error) {
	logger := a.logger(ctx, in.Slug)
	logger.Info("Creating space database")
	if err := heartbeating(ctx, func() error { return a.Driver.CreateDatabase(ctx, in.Slug) }); err != nil {
		return CreateDatabaseResult{}, a.failure(logger, "create database of space", in.Slug, err)
	}
	return CreateDatabaseResult{}, nil
}

// InstallSpace installs Nextcloud for a space whose database exists, and reports the
// installed version.
func (a *Activities) InstallSpace(ctx context.Context, in InstallInput) (InstallResult, error) {
	logger := a.logger(ctx, in.Spec.Slug)
	logger.Info("Installing space", "version", in.Spec.Version, "bucket", in.Spec.Bucket)
	if err := heartbeating(ctx, func() error { return a.Driver.Install(ctx, in.Spec) }); err != nil {
		return InstallResult{}, a.failure(logger, "install space", in.Spec.Slug, err)
	}
	st, err := a.Driver.Status(ctx, in.Spec.Slug)
	if err != nil {
		return InstallResult{}, a.failure(logger, "status of space", in.Spec.Slug, err)
	}
	if !st.Installed {
		// Retryable: the instance may report its state late after install.
		return InstallResult{}, fmt.Errorf("install space %q: not reported as installed", in.Spec.Slug)
	}
	return InstallResult{Version: st.Version}, nil
}

// CreateSpaceAdmin creates the admin account of a space with a new random password, or
// gives the existing account a new one, and returns that password sealed. A retry
// makes a new password, so only the last result is valid.
func (a *Activities) CreateSpaceAdmin(ctx context.Context, in CreateAdminInput) (CreateAdminResult, error) {
	logger := a.logger(ctx, in.Slug)
	logger.Info("Creating space admin", "user", in.AdminUser)
	if a.Sealer == nil {
		return CreateAdminResult{}, temporal.NewNonRetryableApplicationError(
			"create admin: no sealer configured", ErrTypePermanent, nil)
	}
	password := newPassword()
	if err := heartbeating(ctx, func() error { return a.Driver.CreateAdmin(ctx, in.Slug, in.AdminUser, password) }); err != nil {
		return CreateAdminResult{}, a.failure(logger, "create admin of space", in.Slug, err)
	}
	return CreateAdminResult{AdminUser: in.AdminUser, Password: a.Sealer.Seal(password)}, nil
}

// ApplySpaceLimits enforces the account, storage and file-size limits of a space.
func (a *Activities) ApplySpaceLimits(ctx context.Context, in ApplyLimitsInput) (ApplyLimitsResult, error) {
	logger := a.logger(ctx, in.Slug)
	logger.Info("Applying space limits", "max_accounts", in.Limits.MaxAccounts,
		"quota_bytes", in.Limits.QuotaBytes, "max_video_bytes", in.Limits.MaxVideoBytes)
	if err := heartbeating(ctx, func() error { return a.Driver.ApplyLimits(ctx, in.Slug, in.Limits) }); err != nil {
		return ApplyLimitsResult{}, a.failure(logger, "apply limits of space", in.Slug, err)
	}
	return ApplyLimitsResult{}, nil
}

// EnableSpaceApps enables the office suite and apps of a space.
func (a *Activities) EnableSpaceApps(ctx context.Context, in EnableAppsInput) (EnableAppsResult, error) {
	apps := in.Apps
	if apps == nil {
		apps = a.Apps
	}
	logger := a.logger(ctx, in.Slug)
	logger.Info("Enabling space apps", "office_suite", in.OfficeSuite, "apps", apps)
	if err := heartbeating(ctx, func() error { return a.Driver.EnableApps(ctx, in.Slug, in.OfficeSuite, apps) }); err != nil {
		return EnableAppsResult{}, a.failure(logger, "enable apps of space", in.Slug, err)
	}
	return EnableAppsResult{}, nil
}

// ConfigureSpaceOffice writes the settings of the space's office suite, from the
// worker's configuration, and returns their fingerprint (OfficeFingerprint). The
// secret is read here and never leaves the worker.
func (a *Activities) ConfigureSpaceOffice(ctx context.Context, in ConfigureOfficeInput) (ConfigureOfficeResult, error) {
	logger := a.logger(ctx, in.Slug)
	app, _ := a.Office.appSettings(in.OfficeSuite)
	logger.Info("Configuring the office suite of the space", "office_suite", in.OfficeSuite, "app", app)
	if err := heartbeating(ctx, func() error {
		return a.Driver.ConfigureOffice(ctx, in.Slug, in.OfficeSuite, a.Office)
	}); err != nil {
		return ConfigureOfficeResult{}, a.failure(logger, "configure the office suite of space", in.Slug, err)
	}
	return ConfigureOfficeResult{Fingerprint: OfficeFingerprint(in.OfficeSuite, a.Office, a.OfficeKey)}, nil
}

// RemoveSpace removes the instance, configuration, database and role of a space.
// Removing a space that is already gone succeeds.
func (a *Activities) RemoveSpace(ctx context.Context, in RemoveInput) (RemoveResult, error) {
	logger := a.logger(ctx, in.Slug)
	logger.Info("Removing space")
	if err := heartbeating(ctx, func() error { return a.Driver.Remove(ctx, in.Slug) }); err != nil {
		return RemoveResult{}, a.failure(logger, "remove space", in.Slug, err)
	}
	return RemoveResult{}, nil
}

// ReadLastActivity reads when the space was last used: the latest login or auth token
// use of any of its accounts.
func (a *Activities) ReadLastActivity(ctx context.Context, in LastActivityInput) (LastActivityResult, error) {
	last, err := a.Driver.LastActivity(ctx, in.Slug)
	if err != nil {
		return LastActivityResult{}, a.failure(a.logger(ctx, in.Slug), "read last activity of space", in.Slug, err)
	}
	return LastActivityResult{LastActivity: last.UTC()}, nil
}

// SetSpaceDeactivated puts a space out of service, or back in service.
func (a *Activities) SetSpaceDeactivated(ctx context.Context, in SetDeactivatedInput) (SetDeactivatedResult, error) {
	logger := a.logger(ctx, in.Slug)
	logger.Info("Setting space service", "deactivated", in.Deactivated)
	if err := heartbeating(ctx, func() error { return a.Driver.SetDeactivated(ctx, in.Slug, in.Deactivated) }); err != nil {
		return SetDeactivatedResult{}, a.failure(logger, "set deactivation of space", in.Slug, err)
	}
	return SetDeactivatedResult{}, nil
}

// RunUpgradeStep runs one step of a space's upgrade (in.Step, one of the UpgradeStep
// constants). Every step may be retried: the driver's operations are idempotent. Each
// step heartbeats while it runs; a retry after a lost worker runs it again, and the
// driver finishes what the lost attempt left.
func (a *Activities) RunUpgradeStep(ctx context.Context, in UpgradeStepInput) (UpgradeStepResult, error) {
	logger := log.With(a.logger(ctx, in.Slug), "step", in.Step)
	logger.Info("Running upgrade step", "version", in.Version, "snapshot", in.Snapshot, "on", in.On)
	var res UpgradeStepResult
	err := heartbeating(ctx, func() (err error) {
		res, err = a.upgradeStep(ctx, in)
		return err
	})
	if err != nil {
		return UpgradeStepResult{}, a.failure(logger, in.Step+" step of space", in.Slug, err)
	}
	logger.Info("Upgrade step done", "snapshot", res.Snapshot, "installed_version", res.Version,
		"code_version", res.CodeVersion)
	return res, nil
}

// upgradeStep asks the driver for one step of an upgrade.
func (a *Activities) upgradeStep(ctx context.Context, in UpgradeStepInput) (res UpgradeStepResult, err error) {
	switch in.Step {
	case UpgradeStepMaintenance:
		err = a.Driver.SetMaintenance(ctx, in.Slug, in.On)
	case UpgradeStepCron:
		err = a.Driver.SetCron(ctx, in.Slug, in.On)
	case UpgradeStepSnapshot:
		res.Snapshot, err = a.Driver.Snapshot(ctx, in.Slug)
	case UpgradeStepRestore:
		err = a.Driver.RestoreSnapshot(ctx, in.Slug, in.Snapshot)
	case UpgradeStepDropSnap:
		err = a.Driver.DropSnapshot(ctx, in.Slug, in.Snapshot)
	case UpgradeStepSwitchCode:
		err = a.Driver.SwitchCode(ctx, in.Slug, in.Version)
	case UpgradeStepUpgrade:
		err = a.Driver.Upgrade(ctx, in.Slug, in.Version)
	case UpgradeStepHealth:
		res, err = a.health(ctx, in.Slug)
	case UpgradeStepPost:
		err = a.Driver.PostUpgrade(ctx, in.Slug)
	case UpgradeStepWeb:
		err = a.Driver.CheckWeb(ctx, in.Slug, in.Version)
	default:
		err = permanent("unknown upgrade step %q", in.Step)
	}
	return res, err
}

// heartbeating runs do, which calls the driver, and heartbeats until it returns (see
// heartbeatInterval). It returns only once do has, also when ctx is done: the driver
// then stops what it runs, and nothing may still be running when the activity ends.
func heartbeating(ctx context.Context, do func() error) error {
	interval := heartbeatInterval
	if timeout := activity.GetInfo(ctx).HeartbeatTimeout; timeout > 0 {
		interval = max(min(interval, timeout/3), time.Millisecond)
	}
	done := make(chan error, 1)
	go func() { done <- do() }()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-ticker.C:
			activity.RecordHeartbeat(ctx)
		}
	}
}

// health reads the installed version, maintenance mode and the version of the code
// base of a space.
func (a *Activities) health(ctx context.Context, slug string) (UpgradeStepResult, error) {
	st, err := a.Driver.Status(ctx, slug)
	if err != nil {
		return UpgradeStepResult{}, err
	}
	if !st.Installed {
		return UpgradeStepResult{}, fmt.Errorf("space %q: %w", slug, ErrNotInstalled)
	}
	code, err := a.Driver.CodeVersion(ctx, slug)
	if err != nil {
		return UpgradeStepResult{}, err
	}
	return UpgradeStepResult{Version: st.Version, CodeVersion: code, Maintenance: st.Maintenance}, nil
}

func (a *Activities) logger(ctx context.Context, slug string) log.Logger {
	return log.With(activity.GetLogger(ctx), "slug", slug, "driver", a.Driver.Name())
}

// failure turns a driver error into what Temporal should do with it: errors that
// retrying will not fix become non-retryable application errors with a named type;
// the others are returned with context, so that Temporal retries them.
func (a *Activities) failure(logger log.Logger, what, slug string, err error) error {
	msg := fmt.Sprintf("%s %q", what, slug)
	switch {
	case errors.Is(err, ErrNotInstalled):
		logger.Error("Nextcloud operation failed for good", "error", err)
		return temporal.NewNonRetryableApplicationError(msg+": "+err.Error(), ErrTypeNotInstalled, err)
	case errors.Is(err, ErrPermanent):
		logger.Error("Nextcloud operation failed for good", "error", err)
		return temporal.NewNonRetryableApplicationError(msg+": "+err.Error(), ErrTypePermanent, err)
	default:
		logger.Warn("Nextcloud operation failed, will be retried", "error", err)
		return fmt.Errorf("%s: %w", msg, err)
	}
}

// newPassword returns a random password of letters and digits holding at least one
// lowercase letter, one uppercase letter and one digit, as password policies ask.
func newPassword() string {
	b := make([]byte, adminPasswordLength)
	for {
		for i := range b {
			b[i] = passwordSet[randomIndex(len(passwordSet))]
		}
		p := string(b)
		if strings.ContainsAny(p, lowerLetters) && strings.ContainsAny(p, upperLetters) && strings.ContainsAny(p, digits) {
			return p
		}
	}
}

// randomIndex returns a uniform random number in [0, n), n at most 256.
func randomIndex(n int) int {
	// Bytes at or above the largest multiple of n are rejected to avoid modulo bias.
	limit := 256 - 256%n
	var b [1]byte
	for {
		_, _ = rand.Read(b[:]) // never fails: crypto/rand aborts the program instead
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}
