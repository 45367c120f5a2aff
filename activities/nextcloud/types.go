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

// ErrCronSkipped is returned by RunCron for a space whose background jobs must not run
// now: paused for an upgrade (SetCron(false)), in maintenance or deactivated. Nothing
// ran; the cron service tries again at the next interval.
var ErrCronSkipped = errors.New("background jobs skipped")

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

// Driver changes Nextcloud instances. It is the contract both drivers keep (the
// Simulator and Occ) and that drivertest.Run checks on each of them:
//
//   - Idempotence: every method may be called again with the same arguments, after a
//     success or after a crash half-way; the second call finishes the job or finds it
//     done, and never fails because the first one succeeded nor duplicates anything.
//     Snapshot is the one exception: each call makes a new snapshot.
//   - Errors: a refusal that retrying cannot fix (invalid arguments, a step out of
//     order, a version rule) wraps ErrPermanent; an operation on a space that has no
//     instance wraps ErrNotInstalled; any other error may pass on a retry. A refused
//     call changes nothing.
//   - Order: CreateDatabase before Install, Install before everything else but Status,
//     Remove and DropSnapshot, which also accept a space that does not exist.
//   - Versions: a space moves only as CheckUpgrade allows (within a major to the same or
//     a later release, or to exactly the next major; never a skip, never back), and its
//     code base is switched before Upgrade runs; the only way back is RestoreSnapshot
//     then SwitchCode to the restored version.
//   - Maintenance: what changes the database or the code under the instance
//     (SwitchCode, Upgrade, RestoreSnapshot) needs maintenance mode on; PostUpgrade
//     needs it off.
type Driver interface {
	// Name says which driver this is, for logs ("simulator", "occ").
	Name() string
	// CreateDatabase creates the space's database and its role. It needs nothing;
	// creating what exists succeeds.
	CreateDatabase(ctx context.Context, slug string) error
	// Install writes the space's configuration and installs Nextcloud at spec.Version,
	// cron running, maintenance off, nobody's activity recorded. It needs the database
	// (CreateDatabase), a domain, a bucket and a version "major.minor.patch"; without
	// the database it is refused as permanent. Installing an installed space with the
	// same spec succeeds without change; with another domain, bucket or version it is
	// refused as permanent: versions change through the upgrade steps.
	Install(ctx context.Context, spec InstallSpec) error
	// CreateAdmin creates the admin account, in the admin group, or resets its password
	// if it exists. It needs the space installed, a user name and a password of at
	// least 10 characters. A new account beyond the applied account limit is refused
	// as permanent.
	CreateAdmin(ctx context.Context, slug, user, password string) error
	// ApplyLimits enforces the space's account, storage and file-size limits, and shares
	// the quota out as ShareQuota does. Limits no space may have (checkLimits) are
	// refused as permanent. Accounts beyond a lowered limit are kept; new ones are
	// refused.
	ApplyLimits(ctx context.Context, slug string, limits models.Limits) error
	// ShareQuota shares the space's storage quota out among its users (see
	// QuotaShare), and reports what the space holds; a second call without change in
	// between changes nothing (QuotaUsage.Changed 0). A quota that is not positive is
	// refused as permanent.
	ShareQuota(ctx context.Context, slug string, quota int64) (QuotaUsage, error)
	// EnableApps enables the office suite's app and apps, and disables the other office
	// suite's app; apps enabled before stay enabled. An unknown office suite, an app
	// that is not operator-approved, or the app of an office suite other than office, is
	// refused as permanent before anything changes.
	EnableApps(ctx context.Context, slug string, office models.OfficeSuite, apps []string) error
	// ConfigureOffice writes the settings of the app of the office suite office into
	// the space's own app configuration: Collabora's server (richdocuments wopi_url),
	// or OnlyOffice's document server and JWT secret (onlyoffice DocumentServerUrl,
	// jwt_secret); nothing for none. Values are written as given, empty ones too, and
	// replace what the app held, whoever set it. It needs the space installed; an
	// unknown office suite, or a server address that is not an http(s) URL, is refused
	// as permanent before anything changes. It does not enable the app (EnableApps
	// does), and a server that cannot be reached does not make it fail: the app asks
	// its server when someone opens a document.
	ConfigureOffice(ctx context.Context, slug string, office models.OfficeSuite, settings OfficeSettings) error
	// Status reports whether the instance is installed, its installed version (behind
	// the code base's half-way through an upgrade) and maintenance. A space without an
	// instance is reported as not installed, not as an error.
	Status(ctx context.Context, slug string) (InstanceStatus, error)
	// SetMaintenance switches maintenance mode on or off.
	SetMaintenance(ctx context.Context, slug string, on bool) error
	// SetDeactivated puts the instance out of service (maintenance mode on, and its web
	// route sends every URL of the space to the "space deactivated" page), or back
	// (route removed, maintenance off).
	SetDeactivated(ctx context.Context, slug string, deactivated bool) error
	// LastActivity is the latest of any user's last login and any auth token's last
	// use; the zero time if nobody ever used the space (installing it is no use).
	LastActivity(ctx context.Context, slug string) (time.Time, error)
	// AdminEmails lists the e-mail addresses of the space's admins (members of the
	// admin group, not disabled, with an address): lowercase, sorted, each once; empty
	// if none has one. It reads and changes nothing else, and works deactivated or in
	// maintenance too, when the inactivity mails need it most.
	AdminEmails(ctx context.Context, slug string) ([]string, error)
	// Remove deletes the instance, its configuration, its data directory, database
	// and role, and its web route: afterwards Status reports it not installed and
	// Install is refused until CreateDatabase runs again. Removing what does not exist
	// succeeds. The bucket is the storage activities' to delete.
	Remove(ctx context.Context, slug string) error

	// The steps of one upgrade of one space, in the order the workflow runs them:
	// maintenance on, SetCron(false), Snapshot, SwitchCode, Upgrade, Status (health),
	// maintenance off, SetCron(true), then PostUpgrade while in service. On failure:
	// RestoreSnapshot, SwitchCode back, maintenance off, SetCron(true).

	// SetCron pauses (false) or resumes (true) the space's background jobs (cron.php).
	SetCron(ctx context.Context, slug string, enabled bool) error
	// Snapshot dumps the space's database (pg_dump) and returns the snapshot's name.
	// Every call makes a new snapshot.
	Snapshot(ctx context.Context, slug string) (string, error)
	// RestoreSnapshot puts the space's database back as the snapshot holds it, the
	// installed version included; the code base stays as it is and the snapshot is
	// kept. It needs maintenance mode on, as the database changes under the instance.
	// A snapshot the space does not have is refused as permanent.
	RestoreSnapshot(ctx context.Context, slug, snapshot string) error
	// DropSnapshot deletes a snapshot that is no longer needed. Dropping a snapshot
	// that does not exist, or one of a space that does not, succeeds.
	DropSnapshot(ctx context.Context, slug, snapshot string) error
	// CodeVersion is the version of the code base the space runs from (which may be
	// ahead of its installed version half-way through an upgrade).
	CodeVersion(ctx context.Context, slug string) (string, error)
	// SwitchCode points the space at the shared code base of version. Switching to the
	// code base the space already runs from succeeds without change; any other switch
	// needs maintenance mode on, as a space in service whose code is ahead of its
	// database only shows "update needed", and a version the installed one may move to
	// (CheckUpgrade): the next releases to upgrade, or the installed version itself to
	// switch back after RestoreSnapshot. Other versions are refused as permanent.
	SwitchCode(ctx context.Context, slug, version string) error
	// Upgrade runs `occ upgrade` to the version of the code base the space runs from,
	// which must be target: same major, or exactly the next one (CheckUpgrade).
	// Maintenance must be on. Upgrading a space already at target succeeds without
	// change, so that a retried upgrade finishes instead of failing; a code base not
	// switched to target, or maintenance off, is refused as permanent.
	Upgrade(ctx context.Context, slug, target string) error
	// PostUpgrade runs the slow optional steps (missing indices, columns, primary keys)
	// once the space is back in service: maintenance must be off.
	PostUpgrade(ctx context.Context, slug string) error
	// RunCron runs the space's background jobs once (Nextcloud's cron.php) and returns
	// when they end. It is what the cron service (worker/cron) calls for every space
	// in service at every interval, not an upgrade step. A space not installed wraps
	// ErrNotInstalled; a space paused by SetCron(false), in maintenance or deactivated
	// wraps ErrCronSkipped and nothing runs. ctx bounds the run: a run cut short by it
	// is stopped and returns an error. A run that failed returns an error, an
	// *ExitError when cron.php ran and exited with a non-zero code. It changes nothing
	// the other methods see; the caller makes sure two runs of one space never overlap.
	RunCron(ctx context.Context, slug string) error
	// CheckWeb asks the space over HTTP, through its web server, whether it serves
	// version, out of maintenance, and renders its login page; the error says what is
	// wrong. It runs once maintenance is off, before background jobs resume.
	CheckWeb(ctx context.Context, slug, version string) error

	// The shared trees of approved apps (apps.go).
	SharedApps
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
