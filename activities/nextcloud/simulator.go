package nextcloud

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"jardinier/models"
)

// SimulatorName is what Simulator.Name returns and what its logs carry as "driver".
const SimulatorName = "simulator"

// minPasswordLength is Nextcloud's default password policy minimum.
const minPasswordLength = 10

// Simulator is a Driver that keeps instances in memory and creates no real instance. It
// enforces the rules workflows depend on (order of steps, limits, approved apps,
// upgrade paths) so that they can be developed, tested and demonstrated without a
// Nextcloud fleet. Two options bring it closer to a real fleet: UseFleetDB creates and
// drops the spaces' real PostgreSQL databases, and Persist keeps the spaces in files so
// that a new process finds those of the previous one. It is safe for concurrent use.
//
// Its behaviour as a Driver is in this file; the state it keeps of each space, in
// memory and in the files of Persist, in simulator_state.go; what tests and
// demonstrations use to play users and failures, in simulator_hooks.go.
type Simulator struct {
	log *slog.Logger

	mu       sync.Mutex
	fleet    *FleetDB // nil: databases exist in memory only
	dir      string   // "": spaces are kept in memory only
	lockFile *os.File // dir, open: its lock is held by lock with Persist
	spaces   map[string]*simSpace
	failures map[opKey]*Failure
	calls    map[opKey]int

	upgradeDuration time.Duration // how long Upgrade takes
	approved        []string      // the apps EnableApps accepts besides the office suites
	cron            simCron       // RunCron's (simulator_cron.go)
	apps            simApps       // the shared trees of apps (simulator_apps.go)
}

var _ Driver = (*Simulator)(nil)

// NewSimulator returns an empty Simulator logging to log (slog.Default() if nil).
func NewSimulator(log *slog.Logger) *Simulator {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("driver", SimulatorName)
	log.Warn("Nextcloud simulator in use: no real instance is created")
	return &Simulator{
		log:      log,
		spaces:   map[string]*simSpace{},
		failures: map[opKey]*Failure{},
		calls:    map[opKey]int{},
		approved: DefaultApps,
	}
}

// SetApprovedApps sets the apps EnableApps accepts besides the office suites, as the
// operator approves them (NEXTCLOUD_APPS); DefaultApps until then.
func (s *Simulator) SetApprovedApps(apps []string) {
	s.lock()
	defer s.unlock()
	s.approved = slices.Clone(apps)
}

// UseFleetDB makes CreateDatabase and Remove create and drop the real database and
// role of each space through f, so that what provisioning and deletion do to the fleet's
// PostgreSQL server can be checked. The Simulator does not close f. Call it before the
// Simulator is used.
func (s *Simulator) UseFleetDB(f *FleetDB) {
	s.lock()
	defer s.unlock()
	s.fleet = f
	if f != nil {
		s.log.Info("Nextcloud simulator creates the spaces' databases for real", "server", f.server)
	}
}

// SetUpgradeDuration makes every Upgrade take d (0: at once), to see how a fleet upgrade
// behaves when `occ upgrade` takes as long as on large spaces. The wait ends early if
// the call's context is done; other operations, other spaces' upgrades included, do not
// wait for it.
func (s *Simulator) SetUpgradeDuration(d time.Duration) {
	s.lock()
	defer s.unlock()
	s.upgradeDuration = max(d, 0)
	if d > 0 {
		s.log.Info("Nextcloud simulator upgrades take time", "upgrade_duration", d)
	}
}

// Persist keeps the state of every space in dir, created if needed, as <slug>.json: the
// file is replaced after each change and deleted by Remove, and a space the Simulator
// does not know yet is read from it, so that a new process (a restarted worker) finds
// the spaces of the previous one. Spaces already in memory are written at once;
// injected failures and call counts are not kept. Several processes may share dir (the
// workers of a cluster, the cron service): each operation holds dir's lock file and
// reads the space from its file, so that none works from a state another has changed.
// Files are not synced to disk: they survive the end of a process, not a crash of the
// machine.
func (s *Simulator) Persist(dir string) error {
	if dir == "" {
		return errors.New("simulator state directory: empty path")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("simulator state directory %q: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("simulator state directory: %w", err)
	}
	// Fail now rather than at the first space provisioned.
	probe, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("simulator state directory: %w", err)
	}
	probe.Close()
	os.Remove(probe.Name())
	// The directory itself is the lock: flock(2) takes a directory, and no file
	// but the spaces' shows in it.
	lockFile, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("simulator state directory: %w", err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lockFile != nil {
		s.lockFile.Close()
	}
	s.dir, s.lockFile = dir, lockFile
	if err := lockShared(s.lockFile); err != nil {
		return fmt.Errorf("simulator state directory: %w", err)
	}
	defer unlockShared(s.lockFile)
	for _, slug := range slices.Sorted(maps.Keys(s.spaces)) {
		if err := s.save(slug, s.spaces[slug]); err != nil {
			return err
		}
	}
	s.log.Info("Nextcloud simulator keeps its spaces on disk", "dir", dir)
	return nil
}

// Name implements Driver.
func (s *Simulator) Name() string { return SimulatorName }

// CreateDatabase implements Driver. Creating an existing database succeeds. With a
// FleetDB, the real database and role are created first.
func (s *Simulator) CreateDatabase(ctx context.Context, slug string) error {
	const msg = "nextcloud CreateDatabase: real database created"
	return s.withFleet(ctx, OpCreateDatabase, slug, (*FleetDB).Create, msg, func() error {
		sp, err := s.space(slug)
		if err != nil {
			return err
		}
		if sp == nil {
			sp = newSimSpace(slug)
			s.spaces[slug] = sp
		}
		sp.Database = true
		return s.save(slug, sp)
	})
}

// Install implements Driver. It needs the database; installing again with the same
// spec succeeds without change, while a different domain, bucket or version for an
// installed space is refused as permanent (versions change through Upgrade).
func (s *Simulator) Install(ctx context.Context, spec InstallSpec) error {
	s.lock()
	defer s.unlock()
	if err := s.enter(ctx, OpInstall, spec.Slug, "version", spec.Version, "bucket", spec.Bucket); err != nil {
		return err
	}
	switch {
	case spec.Domain == "":
		return permanent("install spec has no domain")
	case spec.Bucket == "":
		return permanent("install spec has no bucket")
	}
	if _, err := parseVersion(spec.Version); err != nil {
		return err
	}
	if err := s.codeBase(spec.Version); err != nil {
		return err
	}
	sp, err := s.space(spec.Slug)
	if err != nil {
		return err
	}
	if sp == nil || !sp.Database {
		return permanent("the database of the space does not exist")
	}
	if sp.Installed {
		switch {
		case sp.Bucket != spec.Bucket:
			return permanent("already installed on bucket %q, not %q", sp.Bucket, spec.Bucket)
		case sp.Domain != spec.Domain:
			return permanent("already installed for domain %q, not %q", sp.Domain, spec.Domain)
		case sp.Version != spec.Version:
			return permanent("already installed at version %s, not %s: upgrade instead", sp.Version, spec.Version)
		}
		return nil
	}
	// A new space reads the approved apps of its release from the shared tree.
	tree, err := s.prepareApps(spec.Version)
	if err != nil {
		return err
	}
	sp.Installed, sp.AppsTree = true, tree.Dir
	sp.Domain, sp.Bucket, sp.Version = spec.Domain, spec.Bucket, spec.Version
	sp.CodeVersion, sp.CronPaused = spec.Version, false
	return s.save(spec.Slug, sp)
}

// CreateAdmin implements Driver. A new account is refused when it would exceed the
// applied limits; an existing one only gets its new password.
func (s *Simulator) CreateAdmin(ctx context.Context, slug, user, password string) error {
	return s.change(ctx, OpCreateAdmin, slug, []any{"user", user}, func(sp *simSpace) error {
		switch {
		case user == "":
			return permanent("admin user name is empty")
		case len(password) < minPasswordLength:
			return permanent("admin password is shorter than %d characters", minPasswordLength)
		}
		u := sp.Users[user]
		if u == nil {
			if sp.Limits != nil && len(sp.Users) >= sp.Limits.MaxAccounts {
				return permanent("the space already has %d accounts, its limit", len(sp.Users))
			}
			u = &simUser{}
			sp.Users[user] = u
		}
		u.Salt = make([]byte, 16)
		_, _ = rand.Read(u.Salt)
		u.PasswordHash = hashPassword(u.Salt, password)
		sp.AdminUser = user
		return nil
	})
}

// ApplyLimits implements Driver. Accounts already beyond a lowered limit are kept;
// new ones are refused. The storage quota is shared out, as ShareQuota does.
func (s *Simulator) ApplyLimits(ctx context.Context, slug string, limits models.Limits) error {
	attrs := []any{"max_accounts", limits.MaxAccounts, "quota_bytes", limits.QuotaBytes}
	return s.change(ctx, OpApplyLimits, slug, attrs, func(sp *simSpace) error {
		if err := checkLimits(limits); err != nil {
			return err
		}
		sp.Limits = &limits
		sp.shareQuota(limits.QuotaBytes)
		return nil
	})
}

// ShareQuota implements Driver, as the occ driver does: each user may use what their
// files use plus what the space has left, and new accounts get what the space has left.
func (s *Simulator) ShareQuota(ctx context.Context, slug string, quota int64) (QuotaUsage, error) {
	var usage QuotaUsage
	err := s.change(ctx, OpShareQuota, slug, []any{"quota_bytes", quota}, func(sp *simSpace) error {
		if quota <= 0 {
			return permanent("quota %d is not positive", quota)
		}
		usage = sp.shareQuota(quota)
		return nil
	})
	return usage, err
}

// shareQuota shares quota out among the space's users (QuotaShare) and reports it.
func (sp *simSpace) shareQuota(quota int64) QuotaUsage {
	total, files := sp.storage()
	perUser, newUsers := QuotaShare(quota, total, files)
	usage := QuotaUsage{UsedBytes: total, Accounts: len(sp.Users), LastActivity: sp.lastActivity()}
	for name, u := range sp.Users {
		if want := max(perUser[name], 1); u.Quota != want {
			u.Quota = want
			usage.Changed++
		}
	}
	if want := max(newUsers, 1); sp.DefaultQuota != want {
		sp.DefaultQuota = want
		usage.Changed++
	}
	return usage
}

// storage returns what the space holds in all, and what each user's files take.
func (sp *simSpace) storage() (total int64, files map[string]int64) {
	total = sp.OtherBytes
	files = make(map[string]int64, len(sp.Users))
	for name, u := range sp.Users {
		files[name] = u.Files
		total += u.Files
	}
	return total, files
}

// EnableApps implements Driver. Apps already enabled stay enabled; the app of the
// office suite not chosen is disabled.
func (s *Simulator) EnableApps(ctx context.Context, slug string, office models.OfficeSuite, apps []string) error {
	return s.change(ctx, OpEnableApps, slug, []any{"office_suite", office, "apps", apps}, func(sp *simSpace) error {
		officeApp, disable, err := checkApps(office, apps, s.approved)
		if err != nil {
			return err
		}
		for _, app := range append(slices.Clone(apps), officeApp) {
			if err := s.appInTree(sp, app); app != "" && err != nil {
				return err
			}
		}
		for _, app := range disable {
			sp.disableApp(app)
		}
		for _, app := range apps {
			sp.enableApp(app)
		}
		if officeApp != "" {
			sp.enableApp(officeApp)
		}
		sp.OfficeSuite = office
		return nil
	})
}

// Status implements Driver. A space without an instance is reported as not installed,
// not as an error.
func (s *Simulator) Status(ctx context.Context, slug string) (InstanceStatus, error) {
	s.lock()
	defer s.unlock()
	if err := s.enter(ctx, OpStatus, slug); err != nil {
		return InstanceStatus{}, err
	}
	sp, err := s.space(slug)
	if err != nil {
		return InstanceStatus{}, err
	}
	if sp == nil || !sp.Installed {
		return InstanceStatus{}, nil
	}
	return InstanceStatus{Installed: true, Version: sp.Version, Maintenance: sp.Maintenance}, nil
}

// SetMaintenance implements Driver.
func (s *Simulator) SetMaintenance(ctx context.Context, slug string, on bool) error {
	return s.change(ctx, OpSetMaintenance, slug, []any{"on", on}, func(sp *simSpace) error {
		sp.Maintenance = on
		return nil
	})
}

// SetDeactivated implements Driver: maintenance mode follows, as on a real instance.
func (s *Simulator) SetDeactivated(ctx context.Context, slug string, deactivated bool) error {
	return s.change(ctx, OpSetDeactivated, slug, []any{"deactivated", deactivated}, func(sp *simSpace) error {
		sp.Deactivated, sp.Maintenance = deactivated, deactivated
		return nil
	})
}

// LastActivity implements Driver.
func (s *Simulator) LastActivity(ctx context.Context, slug string) (time.Time, error) {
	s.lock()
	defer s.unlock()
	sp, err := s.enterInstalled(ctx, OpLastActivity, slug)
	if err != nil {
		return time.Time{}, err
	}
	return sp.lastActivity(), nil
}

// lastActivity is the latest of the users' last login and the auth tokens' last use.
func (sp *simSpace) lastActivity() time.Time {
	last := sp.TokenActivity
	for _, u := range sp.Users {
		if u.LastLogin.After(last) {
			last = u.LastLogin
		}
	}
	return last
}

// Remove implements Driver: the Simulator forgets everything of the space, and deletes
// its state file. With a FleetDB, the real database and role are dropped first.
func (s *Simulator) Remove(ctx context.Context, slug string) error {
	// The state goes after the database, so that a retry after a failure there still
	// finds a space to remove.
	const msg = "nextcloud Remove: real database dropped"
	return s.withFleet(ctx, OpRemove, slug, (*FleetDB).Drop, msg, func() error {
		return s.forget(slug)
	})
}

// SetCron implements Driver.
func (s *Simulator) SetCron(ctx context.Context, slug string, enabled bool) error {
	return s.change(ctx, OpSetCron, slug, []any{"enabled", enabled}, func(sp *simSpace) error {
		sp.CronPaused = !enabled
		return nil
	})
}

// Snapshot implements Driver: every call makes a new snapshot, named <slug>-<n>, of what
// an upgrade changes in the database (the installed version, whether PostUpgrade ran).
func (s *Simulator) Snapshot(ctx context.Context, slug string) (string, error) {
	var name string
	err := s.change(ctx, OpSnapshot, slug, nil, func(sp *simSpace) error {
		if sp.Snapshots == nil {
			sp.Snapshots = map[string]simSnapshot{}
		}
		sp.LastSnapshot++
		name = fmt.Sprintf("%s-%d", slug, sp.LastSnapshot)
		sp.Snapshots[name] = simSnapshot{Number: sp.LastSnapshot, Version: sp.Version, PostUpgraded: sp.PostUpgraded}
		return nil
	})
	if err != nil {
		return "", err
	}
	return name, nil
}

// RestoreSnapshot implements Driver. It needs maintenance mode on, as the database
// changes under the instance; the code base stays as it is, and the snapshot is kept.
// A snapshot the space does not have is a permanent failure.
func (s *Simulator) RestoreSnapshot(ctx context.Context, slug, snapshot string) error {
	return s.change(ctx, OpRestoreSnapshot, slug, []any{"snapshot", snapshot}, func(sp *simSpace) error {
		snap, ok := sp.Snapshots[snapshot]
		switch {
		case !ok:
			return permanent("space %q has no snapshot %q", slug, snapshot)
		case !sp.Maintenance:
			return permanent("restoring a snapshot needs maintenance mode on")
		}
		sp.Version, sp.PostUpgraded = snap.Version, snap.PostUpgraded
		return nil
	})
}

// DropSnapshot implements Driver. Dropping a snapshot that does not exist, or one of a
// space that does not, succeeds.
func (s *Simulator) DropSnapshot(ctx context.Context, slug, snapshot string) error {
	s.lock()
	defer s.unlock()
	if err := s.enter(ctx, OpDropSnapshot, slug, "snapshot", snapshot); err != nil {
		return err
	}
	if snapshot == "" {
		return permanent("no snapshot named")
	}
	sp, err := s.space(slug)
	if err != nil {
		return err
	}
	if sp == nil {
		return nil
	}
	if _, ok := sp.Snapshots[snapshot]; !ok {
		return nil
	}
	delete(sp.Snapshots, snapshot)
	return s.save(slug, sp)
}

// CodeVersion implements Driver.
func (s *Simulator) CodeVersion(ctx context.Context, slug string) (string, error) {
	s.lock()
	defer s.unlock()
	sp, err := s.enterInstalled(ctx, OpCodeVersion, slug)
	if err != nil {
		return "", err
	}
	return sp.CodeVersion, nil
}

// SwitchCode implements Driver. It needs maintenance mode on, as a space in service
// whose code base is ahead of its database only shows "update needed". The version must
// be one the space may be upgraded to (CheckUpgrade), or its installed version, to
// switch back when an upgrade is rolled back. Switching to the code base the space
// already runs from succeeds without change.
func (s *Simulator) SwitchCode(ctx context.Context, slug, version string) error {
	// Not through change: switching to the code base the space already runs from
	// writes nothing.
	s.lock()
	defer s.unlock()
	sp, err := s.enterInstalled(ctx, OpSwitchCode, slug, "version", version)
	if err != nil {
		return err
	}
	if _, err := parseVersion(version); err != nil {
		return err
	}
	if sp.CodeVersion == version {
		return nil
	}
	if !sp.Maintenance {
		return permanent("switching the code base needs maintenance mode on")
	}
	if version != sp.Version {
		if err := CheckUpgrade(sp.Version, version); err != nil {
			return err
		}
	}
	if err := s.codeBase(version); err != nil {
		return err
	}
	// The shared tree of the new release if it is prepared; back on a release without
	// one (a rollback of a space that had its own apps), its own apps again.
	sp.CodeVersion, sp.AppsTree = version, s.treeOf(version)
	return s.save(slug, sp)
}

// Upgrade implements Driver: it moves an installed space in maintenance mode, whose
// code base was switched to target, to the target version under the rules of
// CheckUpgrade, after the time set by SetUpgradeDuration. The slow optional steps of
// the new version are left for PostUpgrade. Upgrading a space already at target
// succeeds without change, so that a retried upgrade finishes instead of failing.
func (s *Simulator) Upgrade(ctx context.Context, slug, target string) error {
	s.lock()
	defer s.unlock()
	if err := s.enter(ctx, OpUpgrade, slug, "target", target); err != nil {
		return err
	}
	sp, done, err := s.upgradable(slug, target)
	if err != nil || done {
		return err
	}
	if d := s.upgradeDuration; d > 0 {
		// Without s.mu, so that other operations and other spaces' upgrades go on.
		s.unlock()
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-timer.C:
		}
		timer.Stop()
		s.lock()
		if err != nil {
			return err
		}
		// The space may have changed meanwhile: removed, or upgraded by a retry of this
		// call that did not wait for this one to end.
		if sp, done, err = s.upgradable(slug, target); err != nil || done {
			return err
		}
	}
	sp.Version, sp.PostUpgraded = target, false
	if err := s.save(slug, sp); err != nil {
		return err
	}
	return s.injected(ctx, OpUpgrade, slug, true)
}

// upgradable returns the space if it may be upgraded to target now, and done if it
// already is. The caller holds s.mu.
func (s *Simulator) upgradable(slug, target string) (sp *simSpace, done bool, err error) {
	sp, err = s.installed(slug)
	if err != nil {
		return nil, false, err
	}
	if _, err := parseVersion(target); err != nil {
		return nil, false, err
	}
	switch {
	case sp.Version == target && sp.CodeVersion == target:
		return sp, true, nil
	case !sp.Maintenance:
		return nil, false, permanent("upgrade needs maintenance mode on")
	case sp.CodeVersion != target:
		return nil, false, permanent("code base not switched: the space runs from %s, not %s", sp.CodeVersion, target)
	}
	if err := CheckUpgrade(sp.Version, target); err != nil {
		return nil, false, err
	}
	return sp, false, nil
}

// PostUpgrade implements Driver. It runs in service, so maintenance mode must be off,
// and on a finished upgrade: the code base and the database at the same version.
func (s *Simulator) PostUpgrade(ctx context.Context, slug string) error {
	return s.change(ctx, OpPostUpgrade, slug, nil, func(sp *simSpace) error {
		switch {
		case sp.Maintenance:
			return permanent("post-upgrade steps run in service: maintenance mode must be off")
		case sp.CodeVersion != sp.Version:
			return permanent("the upgrade from %s to %s is not finished", sp.Version, sp.CodeVersion)
		}
		sp.PostUpgraded = true
		return nil
	})
}

// enter starts every operation: it logs and counts the call, then fails it if the
// context is done, the slug empty or a failure injected. The caller holds s.mu.
func (s *Simulator) enter(ctx context.Context, op, slug string, attrs ...any) error {
	s.log.InfoContext(ctx, "nextcloud "+op, append([]any{"slug", slug}, attrs...)...)
	s.calls[opKey{slug, op}]++
	if err := ctx.Err(); err != nil {
		return err
	}
	// A real driver turns the slug into database, role and file names; so do
	// UseFleetDB and Persist.
	if err := checkSlug(slug); err != nil {
		return err
	}
	return s.injected(ctx, op, slug, false)
}

// enterInstalled is enter followed by installed. The caller holds s.mu.
func (s *Simulator) enterInstalled(ctx context.Context, op, slug string, attrs ...any) (*simSpace, error) {
	if err := s.enter(ctx, op, slug, attrs...); err != nil {
		return nil, err
	}
	return s.installed(slug)
}

// change runs the operations that change an installed space: under s.mu, it enters
// op, runs fn on the space and saves it unless fn fails. fn checks everything before
// it changes anything, so that a call that fails changes nothing.
func (s *Simulator) change(ctx context.Context, op, slug string, attrs []any, fn func(sp *simSpace) error) error {
	s.lock()
	defer s.unlock()
	sp, err := s.enterInstalled(ctx, op, slug, attrs...)
	if err != nil {
		return err
	}
	if err := fn(sp); err != nil {
		return err
	}
	return s.save(slug, sp)
}

// withFleet runs the operations that create or drop a space's database: it enters op;
// with a FleetDB, it runs do on it for the space and logs msg with the names of the
// database and role; then it runs then. do runs outside s.mu, as creating or dropping a
// database takes a while and other spaces need not wait; then runs under s.mu.
func (s *Simulator) withFleet(ctx context.Context, op, slug string,
	do func(f *FleetDB, ctx context.Context, slug string) error, msg string, then func() error,
) error {
	s.lock()
	err := s.enter(ctx, op, slug)
	fleet := s.fleet
	s.unlock()
	if err != nil {
		return err
	}
	if fleet != nil {
		if err := do(fleet, ctx, slug); err != nil {
			return err
		}
		database, role := fleet.Names(slug)
		s.log.InfoContext(ctx, msg, "slug", slug, "database", database, "role", role)
	}

	s.lock()
	defer s.unlock()
	return then()
}

// installed returns the space's instance, or an error wrapping ErrNotInstalled. The
// caller holds s.mu.
func (s *Simulator) installed(slug string) (*simSpace, error) {
	sp, err := s.space(slug)
	if err != nil {
		return nil, err
	}
	if sp == nil || !sp.Installed {
		return nil, fmt.Errorf("space %q: %w", slug, ErrNotInstalled)
	}
	return sp, nil
}

func hashPassword(salt []byte, password string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(password))
	return h.Sum(nil)
}

// permanent returns an error wrapping ErrPermanent.
func permanent(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrPermanent)
}
