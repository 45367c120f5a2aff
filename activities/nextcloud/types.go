// Package nextcloud drives the Nextcloud instances of the fleet: one instance per
// space, all running from one shared code base. Driver is the interface the workflows
// need; Simulator implements it without Nextcloud for development and tests; FleetDB
// creates and drops the spaces' PostgreSQL databases and roles.
package nextcloud

import (
	"context"
	"errors"
	"time"

	"jardinier/models"
)

// ErrTypePermanent is the Temporal error type of a Nextcloud failure that retrying will
// not fix (an invalid request, a refused upgrade...).
const ErrTypePermanent = "NextcloudPermanentFailure"

// ErrTypeNotInstalled is the Temporal error type of an operation on a space that has
// no instance; retrying will not fix it, and a caller removing a space may take it as
// done.
const ErrTypeNotInstalled = "NextcloudNotInstalled"

// ErrPermanent marks a driver error that retrying will not fix; wrap it with %w.
var ErrPermanent = errors.New("permanent failure")

// ErrNotInstalled is returned for operations on a space that has no instance.
var ErrNotInstalled = errors.New("space not installed")

// InstallSpec is what an instance is installed with.
type InstallSpec struct {
	Slug      string
	Domain    string // <slug>.<base domain>
	Version   string // the Nextcloud version of the shared code base to install
	Bucket    string // primary object storage
	AdminUser string // the first admin's login; set by CreateAdmin
}

// InstanceStatus is what `occ status` tells of an instance.
type InstanceStatus struct {
	Installed   bool
	Version     string
	Maintenance bool
}

// Driver changes Nextcloud instances. Every method is idempotent: calling it again
// after a crash half-way finishes the job instead of failing or duplicating.
type Driver interface {
	// Name says which driver this is, for logs ("simulator", "occ").
	Name() string
	// CreateDatabase creates the space's database and its role.
	CreateDatabase(ctx context.Context, slug string) error
	// Install writes the space's configuration and installs Nextcloud.
	Install(ctx context.Context, spec InstallSpec) error
	// CreateAdmin creates the admin account, or resets its password if it exists.
	CreateAdmin(ctx context.Context, slug, user, password string) error
	// ApplyLimits enforces the space's account, storage and file-size limits.
	ApplyLimits(ctx context.Context, slug string, limits models.Limits) error
	// ShareQuota shares the space's storage quota out among its users (see
	// QuotaShare), and reports what the space holds.
	ShareQuota(ctx context.Context, slug string, quota int64) (QuotaUsage, error)
	// EnableApps enables the office suite and the allowed apps, and disables the
	// other office suite.
	EnableApps(ctx context.Context, slug string, office models.OfficeSuite, apps []string) error
	// Status reports whether the instance is installed, its version and maintenance.
	Status(ctx context.Context, slug string) (InstanceStatus, error)
	// SetMaintenance switches maintenance mode on or off.
	SetMaintenance(ctx context.Context, slug string, on bool) error
	// SetDeactivated puts the instance out of service (maintenance mode on, and its web
	// route sends every URL of the space to the "space deactivated" page), or back.
	SetDeactivated(ctx context.Context, slug string, deactivated bool) error
	// LastActivity is the latest of any user's last login and any auth token's last
	// use; the zero time if nobody ever used the space.
	LastActivity(ctx context.Context, slug string) (time.Time, error)
	// Remove deletes the instance, its configuration, its data directory, database
	// and role. Removing what does not exist succeeds.
	Remove(ctx context.Context, slug string) error

	// The steps of one upgrade of one space, in the order the workflow runs them:
	// maintenance on, SetCron(false), Snapshot, SwitchCode, Upgrade, Status (health),
	// maintenance off, SetCron(true), then PostUpgrade while in service. On failure:
	// RestoreSnapshot, SwitchCode back, maintenance off, SetCron(true).

	// SetCron pauses (false) or resumes (true) the space's background jobs (cron.php).
	SetCron(ctx context.Context, slug string, enabled bool) error
	// Snapshot dumps the space's database (pg_dump) and returns the snapshot's name.
	Snapshot(ctx context.Context, slug string) (string, error)
	// RestoreSnapshot puts the space's database back as the snapshot holds it.
	RestoreSnapshot(ctx context.Context, slug, snapshot string) error
	// DropSnapshot deletes a snapshot that is no longer needed.
	DropSnapshot(ctx context.Context, slug, snapshot string) error
	// CodeVersion is the version of the code base the space runs from (which may be
	// ahead of its installed version half-way through an upgrade).
	CodeVersion(ctx context.Context, slug string) (string, error)
	// SwitchCode points the space at the shared code base of version.
	SwitchCode(ctx context.Context, slug, version string) error
	// Upgrade runs `occ upgrade` to the version of the code base the space runs from,
	// which must be target: same major, or exactly the next one (CheckUpgrade).
	// Maintenance must be on.
	Upgrade(ctx context.Context, slug, target string) error
	// PostUpgrade runs the slow optional steps (missing indices, columns, primary keys)
	// once the space is back in service.
	PostUpgrade(ctx context.Context, slug string) error
	// CheckWeb asks the space over HTTP, through its web server, whether it serves
	// version, out of maintenance, and renders its login page; the error says what is
	// wrong. It runs once maintenance is off, before background jobs resume.
	CheckWeb(ctx context.Context, slug, version string) error
}

// DefaultApps are the operator-approved apps enabled on every new space when the
// worker's configuration (NEXTCLOUD_APPS) does not name others.
var DefaultApps = models.DefaultSpaceApps

// CreateDatabaseInput asks for a space's database.
type CreateDatabaseInput struct{ Slug string }

// CreateDatabaseResult is empty for now.
type CreateDatabaseResult struct{}

// InstallInput asks for a space's instance.
type InstallInput struct{ Spec InstallSpec }

// InstallResult reports the installed version.
type InstallResult struct{ Version string }

// CreateAdminInput asks for a space's first admin.
type CreateAdminInput struct {
	Slug      string
	AdminUser string
}

// CreateAdminResult holds the admin's password, sealed: it never sits in clear text
// in workflow history.
type CreateAdminResult struct {
	AdminUser string
	Password  models.Sealed
}

// ApplyLimitsInput asks to enforce limits on a space.
type ApplyLimitsInput struct {
	Slug   string
	Limits models.Limits
}

// ApplyLimitsResult is empty for now.
type ApplyLimitsResult struct{}

// EnableAppsInput asks to enable the office suite and apps of a space.
type EnableAppsInput struct {
	Slug        string
	OfficeSuite models.OfficeSuite
	// Apps are the apps to enable; nil: the approved apps of the worker's
	// configuration (Activities.Apps).
	Apps []string
}

// EnableAppsResult is empty for now.
type EnableAppsResult struct{}

// RemoveInput asks to remove a space's instance and database.
type RemoveInput struct{ Slug string }

// RemoveResult is empty for now.
type RemoveResult struct{}

// LastActivityInput asks for a space's last activity.
type LastActivityInput struct{ Slug string }

// LastActivityResult is the latest of any user's last login and any auth token's last
// use; zero if nobody ever used the space.
type LastActivityResult struct{ LastActivity time.Time }

// SetDeactivatedInput puts a space out of service or back.
type SetDeactivatedInput struct {
	Slug        string
	Deactivated bool
}

// SetDeactivatedResult is empty for now.
type SetDeactivatedResult struct{}

// UpgradeStepInput is one step of a space's upgrade.
type UpgradeStepInput struct {
	Slug string
	// Step is one of the UpgradeStep constants.
	Step string
	// Version is the target of SwitchCode and Upgrade; Snapshot the snapshot of
	// RestoreSnapshot and DropSnapshot; On the state of maintenance and cron.
	Version  string
	Snapshot string
	On       bool
}

// UpgradeStepResult reports what a step found or made.
type UpgradeStepResult struct {
	Snapshot    string // Snapshot: the snapshot's name
	Version     string // Health: the installed version
	CodeVersion string // Health: the version of the code base
	Maintenance bool   // Health: maintenance mode
}

// The steps of an upgrade, run by the RunUpgradeStep activity.
const (
	UpgradeStepMaintenance = "maintenance"   // On: maintenance mode on or off
	UpgradeStepCron        = "cron"          // On: background jobs resumed or paused
	UpgradeStepSnapshot    = "snapshot"      // dump the database
	UpgradeStepRestore     = "restore"       // restore Snapshot
	UpgradeStepDropSnap    = "drop-snapshot" // delete Snapshot
	UpgradeStepSwitchCode  = "switch-code"   // point at the code base of Version
	UpgradeStepUpgrade     = "upgrade"       // occ upgrade to Version
	UpgradeStepHealth      = "health"        // status: installed version, code version, maintenance
	UpgradeStepPost        = "post-upgrade"  // slow optional steps, in service
	UpgradeStepWeb         = "web"           // Version served over HTTP (CheckWeb), maintenance off
)
