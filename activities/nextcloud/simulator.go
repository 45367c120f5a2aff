package nextcloud

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
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

// The operations of the Simulator, as named in InjectFailure and Calls.
const (
	OpCreateDatabase = "CreateDatabase"
	OpInstall        = "Install"
	OpCreateAdmin    = "CreateAdmin"
	OpApplyLimits    = "ApplyLimits"
	OpShareQuota     = "ShareQuota"
	OpEnableApps     = "EnableApps"
	OpStatus         = "Status"
	OpSetMaintenance = "SetMaintenance"
	OpSetDeactivated = "SetDeactivated"
	OpLastActivity   = "LastActivity"
	OpRemove         = "Remove"

	// The steps of an upgrade.
	OpSetCron         = "SetCron"
	OpSnapshot        = "Snapshot"
	OpRestoreSnapshot = "RestoreSnapshot"
	OpDropSnapshot    = "DropSnapshot"
	OpCodeVersion     = "CodeVersion"
	OpSwitchCode      = "SwitchCode"
	OpUpgrade         = "Upgrade"
	OpPostUpgrade     = "PostUpgrade"
)

// The apps of the two office suites.
const (
	AppCollabora  = "richdocuments"
	AppOnlyOffice = "onlyoffice"
)

// minPasswordLength is Nextcloud's default password policy minimum.
const minPasswordLength = 10

// Failure is a failure injected into the Simulator: the next Times calls of an
// operation fail with Err; Times 0 means every call fails until the failure is replaced.
// A call that fails changes nothing, unless AfterChange says otherwise.
type Failure struct {
	Err   error
	Times int
	// AfterChange makes Upgrade fail only once it has upgraded the space, as when
	// `occ upgrade` ran but its answer was lost: a retry finds the work done, and a
	// rollback must restore the snapshot to get the old version back. The other
	// operations ignore it and fail before changing anything.
	AfterChange bool
}

// SimInstance is a copy of what the Simulator knows of one space, for tests and
// demonstrations.
type SimInstance struct {
	DatabaseCreated bool
	Installed       bool
	Domain          string
	Bucket          string
	Version         string
	Maintenance     bool
	Deactivated     bool // its web route shows the "space deactivated" page
	AdminUser       string
	Users           map[string]time.Time // user → last password login; zero if never
	Quotas          map[string]int64     // user → quota in bytes; absent until shared
	DefaultQuota    int64                // quota of new accounts; 0 until shared
	UsedBytes       int64                // everything the space holds (SetUsage)
	TokenActivity   time.Time            // latest use of any auth token; zero if never
	LimitsApplied   bool
	Limits          models.Limits
	OfficeSuite     models.OfficeSuite
	Apps            []string // enabled apps, sorted
	CodeVersion     string   // the version of the code base it runs from
	CronEnabled     bool     // its background jobs run
	Snapshots       []string // names of its database snapshots, oldest first
	PostUpgraded    bool     // PostUpgrade ran since the last Upgrade
}

// Simulator is a Driver that keeps instances in memory and creates no real instance. It
// enforces the rules workflows depend on (order of steps, limits, approved apps,
// upgrade paths) so that they can be developed, tested and demonstrated without a
// Nextcloud fleet. Two options bring it closer to a real fleet: UseFleetDB creates and
// drops the spaces' real PostgreSQL databases, and Persist keeps the spaces in files so
// that a new process finds those of the previous one. It is safe for concurrent use.
type Simulator struct {
	log *slog.Logger

	mu       sync.Mutex
	fleet    *FleetDB // nil: databases exist in memory only
	dir      string   // "": spaces are kept in memory only
	spaces   map[string]*simSpace
	failures map[opKey]*Failure
	calls    map[opKey]int

	upgradeDuration time.Duration // how long Upgrade takes
	approved        []string      // the apps EnableApps accepts besides the office suites
}

var _ Driver = (*Simulator)(nil)

type opKey struct{ slug, op string }

type simSpace struct {
	database      bool
	installed     bool
	domain        string
	bucket        string
	version       string
	maintenance   bool
	deactivated   bool
	adminUser     string
	users         map[string]*simUser
	tokenActivity time.Time
	limits        *models.Limits
	otherBytes    int64 // versions, trash, previews: what no user's files hold
	defaultQuota  int64 // 0 until shared
	office        models.OfficeSuite
	apps          map[string]bool
	cronEnabled   bool
	codeVersion   string
	snapshots     map[string]simSnapshot // by name; nil until the first
	lastSnapshot  int                    // number of the latest snapshot, for names
	postUpgraded  bool
}

// simSnapshot is what a snapshot of a space's database holds of the space, in memory
// and on disk: what an upgrade changes in the database.
type simSnapshot struct {
	Number       int    `json:"number"`
	Version      string `json:"version"`
	PostUpgraded bool   `json:"post_upgraded"`
}

type simUser struct {
	lastLogin time.Time
	files     int64 // bytes of the user's files
	quota     int64 // 0 until shared
	salt      []byte
	hash      []byte // salted SHA-256 of the password; nil if it has none
}

// simState is the state of a space as Persist writes it, one JSON file per space.
type simState struct {
	Slug          string                  `json:"slug"`
	Database      bool                    `json:"database"`
	Installed     bool                    `json:"installed"`
	Domain        string                  `json:"domain,omitempty"`
	Bucket        string                  `json:"bucket,omitempty"`
	Version       string                  `json:"version,omitempty"`
	Maintenance   bool                    `json:"maintenance"`
	Deactivated   bool                    `json:"deactivated"`
	AdminUser     string                  `json:"admin_user,omitempty"`
	Users         map[string]simUserState `json:"users,omitempty"`
	TokenActivity time.Time               `json:"token_activity,omitzero"`
	Limits        *models.Limits          `json:"limits,omitempty"`
	OtherBytes    int64                   `json:"other_bytes,omitempty"`
	DefaultQuota  int64                   `json:"default_quota,omitempty"`
	OfficeSuite   models.OfficeSuite      `json:"office_suite,omitempty"`
	Apps          []string                `json:"apps,omitempty"`
	CodeVersion   string                  `json:"code_version,omitempty"`
	// CronPaused rather than enabled, so that a file written before cron could be
	// paused reads as running.
	CronPaused   bool                   `json:"cron_paused"`
	Snapshots    map[string]simSnapshot `json:"snapshots,omitempty"`
	LastSnapshot int                    `json:"last_snapshot,omitempty"`
	PostUpgraded bool                   `json:"post_upgraded"`
}

type simUserState struct {
	LastLogin    time.Time `json:"last_login,omitzero"`
	Files        int64     `json:"files,omitempty"`
	Quota        int64     `json:"quota,omitempty"`
	Salt         []byte    `json:"salt,omitempty"`
	PasswordHash []byte    `json:"password_hash,omitempty"`
}

// state returns what is written of sp.
func (sp *simSpace) state(slug string) simState {
	st := simState{
		Slug:          slug,
		Database:      sp.database,
		Installed:     sp.installed,
		Domain:        sp.domain,
		Bucket:        sp.bucket,
		Version:       sp.version,
		Maintenance:   sp.maintenance,
		Deactivated:   sp.deactivated,
		AdminUser:     sp.adminUser,
		Users:         make(map[string]simUserState, len(sp.users)),
		TokenActivity: sp.tokenActivity,
		Limits:        sp.limits,
		OtherBytes:    sp.otherBytes,
		DefaultQuota:  sp.defaultQuota,
		OfficeSuite:   sp.office,
		Apps:          slices.Sorted(maps.Keys(sp.apps)),
		CodeVersion:   sp.codeVersion,
		CronPaused:    sp.installed && !sp.cronEnabled,
		Snapshots:     sp.snapshots,
		LastSnapshot:  sp.lastSnapshot,
		PostUpgraded:  sp.postUpgraded,
	}
	for name, u := range sp.users {
		st.Users[name] = simUserState{LastLogin: u.lastLogin, Files: u.files, Quota: u.quota, Salt: u.salt, PasswordHash: u.hash}
	}
	return st
}

// space returns the space st describes.
func (st simState) space() *simSpace {
	sp := &simSpace{
		database:      st.Database,
		installed:     st.Installed,
		domain:        st.Domain,
		bucket:        st.Bucket,
		version:       st.Version,
		maintenance:   st.Maintenance,
		deactivated:   st.Deactivated,
		adminUser:     st.AdminUser,
		users:         make(map[string]*simUser, len(st.Users)),
		tokenActivity: st.TokenActivity,
		limits:        st.Limits,
		otherBytes:    st.OtherBytes,
		defaultQuota:  st.DefaultQuota,
		office:        st.OfficeSuite,
		apps:          make(map[string]bool, len(st.Apps)),
		cronEnabled:   st.Installed && !st.CronPaused,
		codeVersion:   st.CodeVersion,
		snapshots:     st.Snapshots,
		lastSnapshot:  st.LastSnapshot,
		postUpgraded:  st.PostUpgraded,
	}
	if sp.installed && sp.codeVersion == "" {
		// Written before the code base could be switched: it runs from its version.
		sp.codeVersion = sp.version
	}
	for name, u := range st.Users {
		sp.users[name] = &simUser{lastLogin: u.LastLogin, files: u.Files, quota: u.Quota, salt: u.Salt, hash: u.PasswordHash}
	}
	for _, app := range st.Apps {
		sp.apps[app] = true
	}
	return sp
}

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
	s.mu.Lock()
	defer s.mu.Unlock()
	s.approved = slices.Clone(apps)
}

// UseFleetDB makes CreateDatabase and Remove create and drop the real database and
// role of each space through f, so that what provisioning and deletion do to the fleet's
// PostgreSQL server can be checked. The Simulator does not close f. Call it before the
// Simulator is used.
func (s *Simulator) UseFleetDB(f *FleetDB) {
	s.mu.Lock()
	defer s.mu.Unlock()
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
	s.mu.Lock()
	defer s.mu.Unlock()
	s.upgradeDuration = max(d, 0)
	if d > 0 {
		s.log.Info("Nextcloud simulator upgrades take time", "upgrade_duration", d)
	}
}

// Persist keeps the state of every space in dir, created if needed, as <slug>.json: the
// file is replaced after each change and deleted by Remove, and a space the Simulator
// does not know yet is read from it, so that a new process (a restarted worker) finds
// the spaces of the previous one. Spaces already in memory are written at once;
// injected failures and call counts are not kept. Only one process may use dir at a
// time. Files are not synced to disk: they survive the end of a process, not a crash
// of the machine.
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

	s.mu.Lock()
	defer s.mu.Unlock()
	s.dir = dir
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
			sp = &simSpace{users: map[string]*simUser{}, apps: map[string]bool{}}
			s.spaces[slug] = sp
		}
		sp.database = true
		return s.save(slug, sp)
	})
}

// Install implements Driver. It needs the database; installing again with the same
// spec succeeds without change, while a different domain, bucket or version for an
// installed space is refused as permanent (versions change through Upgrade).
func (s *Simulator) Install(ctx context.Context, spec InstallSpec) error {
	s.mu.Lock()
	defer s.mu.Unlock()
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
	sp, err := s.space(spec.Slug)
	if err != nil {
		return err
	}
	if sp == nil || !sp.database {
		return permanent("the database of the space does not exist")
	}
	if sp.installed {
		switch {
		case sp.bucket != spec.Bucket:
			return permanent("already installed on bucket %q, not %q", sp.bucket, spec.Bucket)
		case sp.domain != spec.Domain:
			return permanent("already installed for domain %q, not %q", sp.domain, spec.Domain)
		case sp.version != spec.Version:
			return permanent("already installed at version %s, not %s: upgrade instead", sp.version, spec.Version)
		}
		return nil
	}
	sp.installed = true
	sp.domain, sp.bucket, sp.version = spec.Domain, spec.Bucket, spec.Version
	sp.codeVersion, sp.cronEnabled = spec.Version, true
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
		u := sp.users[user]
		if u == nil {
			if sp.limits != nil && len(sp.users) >= sp.limits.MaxAccounts {
				return permanent("the space already has %d accounts, its limit", len(sp.users))
			}
			u = &simUser{}
			sp.users[user] = u
		}
		u.salt = make([]byte, 16)
		_, _ = rand.Read(u.salt)
		u.hash = hashPassword(u.salt, password)
		sp.adminUser = user
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
		sp.limits = &limits
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
	usage := QuotaUsage{UsedBytes: total, Accounts: len(sp.users), LastActivity: sp.lastActivity()}
	for name, u := range sp.users {
		if want := max(perUser[name], 1); u.quota != want {
			u.quota = want
			usage.Changed++
		}
	}
	if want := max(newUsers, 1); sp.defaultQuota != want {
		sp.defaultQuota = want
		usage.Changed++
	}
	return usage
}

// storage returns what the space holds in all, and what each user's files take.
func (sp *simSpace) storage() (total int64, files map[string]int64) {
	total = sp.otherBytes
	files = make(map[string]int64, len(sp.users))
	for name, u := range sp.users {
		files[name] = u.files
		total += u.files
	}
	return total, files
}

// EnableApps implements Driver. Apps already enabled stay enabled; the app of the
// office suite not chosen is disabled.
func (s *Simulator) EnableApps(ctx context.Context, slug string, office models.OfficeSuite, apps []string) error {
	return s.change(ctx, OpEnableApps, slug, []any{"office_suite", office, "apps", apps}, func(sp *simSpace) error {
		officeApp := ""
		switch office {
		case models.OfficeCollabora:
			officeApp = AppCollabora
		case models.OfficeOnlyOffice:
			officeApp = AppOnlyOffice
		case models.OfficeNone:
		default:
			return permanent("unknown office suite %q", office)
		}
		for _, app := range apps {
			switch {
			case !slices.Contains(s.approved, app) && app != AppCollabora && app != AppOnlyOffice:
				return permanent("app %q is not approved", app)
			case (app == AppCollabora || app == AppOnlyOffice) && app != officeApp:
				return permanent("app %q does not belong to office suite %q", app, office)
			}
		}
		for _, app := range apps {
			sp.apps[app] = true
		}
		// Two office suites on one space would both claim the same documents.
		delete(sp.apps, AppCollabora)
		delete(sp.apps, AppOnlyOffice)
		if officeApp != "" {
			sp.apps[officeApp] = true
		}
		sp.office = office
		return nil
	})
}

// Status implements Driver. A space without an instance is reported as not installed,
// not as an error.
func (s *Simulator) Status(ctx context.Context, slug string) (InstanceStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter(ctx, OpStatus, slug); err != nil {
		return InstanceStatus{}, err
	}
	sp, err := s.space(slug)
	if err != nil {
		return InstanceStatus{}, err
	}
	if sp == nil || !sp.installed {
		return InstanceStatus{}, nil
	}
	return InstanceStatus{Installed: true, Version: sp.version, Maintenance: sp.maintenance}, nil
}

// SetMaintenance implements Driver.
func (s *Simulator) SetMaintenance(ctx context.Context, slug string, on bool) error {
	return s.change(ctx, OpSetMaintenance, slug, []any{"on", on}, func(sp *simSpace) error {
		sp.maintenance = on
		return nil
	})
}

// SetDeactivated implements Driver: maintenance mode follows, as on a real instance.
func (s *Simulator) SetDeactivated(ctx context.Context, slug string, deactivated bool) error {
	return s.change(ctx, OpSetDeactivated, slug, []any{"deactivated", deactivated}, func(sp *simSpace) error {
		sp.deactivated, sp.maintenance = deactivated, deactivated
		return nil
	})
}

// LastActivity implements Driver.
func (s *Simulator) LastActivity(ctx context.Context, slug string) (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp, err := s.enterInstalled(ctx, OpLastActivity, slug)
	if err != nil {
		return time.Time{}, err
	}
	return sp.lastActivity(), nil
}

// lastActivity is the latest of the users' last login and the auth tokens' last use.
func (sp *simSpace) lastActivity() time.Time {
	last := sp.tokenActivity
	for _, u := range sp.users {
		if u.lastLogin.After(last) {
			last = u.lastLogin
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
		delete(s.spaces, slug)
		if s.dir == "" {
			return nil
		}
		if err := os.Remove(s.statePath(slug)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove simulator state of space %q: %w", slug, err)
		}
		return nil
	})
}

// SetCron implements Driver.
func (s *Simulator) SetCron(ctx context.Context, slug string, enabled bool) error {
	return s.change(ctx, OpSetCron, slug, []any{"enabled", enabled}, func(sp *simSpace) error {
		sp.cronEnabled = enabled
		return nil
	})
}

// Snapshot implements Driver: every call makes a new snapshot, named <slug>-<n>, of what
// an upgrade changes in the database (the installed version, whether PostUpgrade ran).
func (s *Simulator) Snapshot(ctx context.Context, slug string) (string, error) {
	var name string
	err := s.change(ctx, OpSnapshot, slug, nil, func(sp *simSpace) error {
		if sp.snapshots == nil {
			sp.snapshots = map[string]simSnapshot{}
		}
		sp.lastSnapshot++
		name = fmt.Sprintf("%s-%d", slug, sp.lastSnapshot)
		sp.snapshots[name] = simSnapshot{Number: sp.lastSnapshot, Version: sp.version, PostUpgraded: sp.postUpgraded}
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
		snap, ok := sp.snapshots[snapshot]
		switch {
		case !ok:
			return permanent("space %q has no snapshot %q", slug, snapshot)
		case !sp.maintenance:
			return permanent("restoring a snapshot needs maintenance mode on")
		}
		sp.version, sp.postUpgraded = snap.Version, snap.PostUpgraded
		return nil
	})
}

// DropSnapshot implements Driver. Dropping a snapshot that does not exist, or one of a
// space that does not, succeeds.
func (s *Simulator) DropSnapshot(ctx context.Context, slug, snapshot string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
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
	if _, ok := sp.snapshots[snapshot]; !ok {
		return nil
	}
	delete(sp.snapshots, snapshot)
	return s.save(slug, sp)
}

// CodeVersion implements Driver.
func (s *Simulator) CodeVersion(ctx context.Context, slug string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp, err := s.enterInstalled(ctx, OpCodeVersion, slug)
	if err != nil {
		return "", err
	}
	return sp.codeVersion, nil
}

// SwitchCode implements Driver. It needs maintenance mode on, as a space in service
// whose code base is ahead of its database only shows "update needed". The version must
// be one the space may be upgraded to (CheckUpgrade), or its installed version, to
// switch back when an upgrade is rolled back. Switching to the code base the space
// already runs from succeeds without change.
func (s *Simulator) SwitchCode(ctx context.Context, slug, version string) error {
	// Not through change: switching to the code base the space already runs from
	// writes nothing.
	s.mu.Lock()
	defer s.mu.Unlock()
	sp, err := s.enterInstalled(ctx, OpSwitchCode, slug, "version", version)
	if err != nil {
		return err
	}
	if _, err := parseVersion(version); err != nil {
		return err
	}
	if sp.codeVersion == version {
		return nil
	}
	if !sp.maintenance {
		return permanent("switching the code base needs maintenance mode on")
	}
	if version != sp.version {
		if err := CheckUpgrade(sp.version, version); err != nil {
			return err
		}
	}
	sp.codeVersion = version
	return s.save(slug, sp)
}

// Upgrade implements Driver: it moves an installed space in maintenance mode, whose
// code base was switched to target, to the target version under the rules of
// CheckUpgrade, after the time set by SetUpgradeDuration. The slow optional steps of
// the new version are left for PostUpgrade. Upgrading a space already at target
// succeeds without change, so that a retried upgrade finishes instead of failing.
func (s *Simulator) Upgrade(ctx context.Context, slug, target string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.enter(ctx, OpUpgrade, slug, "target", target); err != nil {
		return err
	}
	sp, done, err := s.upgradable(slug, target)
	if err != nil || done {
		return err
	}
	if d := s.upgradeDuration; d > 0 {
		// Without s.mu, so that other operations and other spaces' upgrades go on.
		s.mu.Unlock()
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-timer.C:
		}
		timer.Stop()
		s.mu.Lock()
		if err != nil {
			return err
		}
		// The space may have changed meanwhile: removed, or upgraded by a retry of this
		// call that did not wait for this one to end.
		if sp, done, err = s.upgradable(slug, target); err != nil || done {
			return err
		}
	}
	sp.version, sp.postUpgraded = target, false
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
	case sp.version == target && sp.codeVersion == target:
		return sp, true, nil
	case !sp.maintenance:
		return nil, false, permanent("upgrade needs maintenance mode on")
	case sp.codeVersion != target:
		return nil, false, permanent("code base not switched: the space runs from %s, not %s", sp.codeVersion, target)
	}
	if err := CheckUpgrade(sp.version, target); err != nil {
		return nil, false, err
	}
	return sp, false, nil
}

// PostUpgrade implements Driver. It runs in service, so maintenance mode must be off,
// and on a finished upgrade: the code base and the database at the same version.
func (s *Simulator) PostUpgrade(ctx context.Context, slug string) error {
	return s.change(ctx, OpPostUpgrade, slug, nil, func(sp *simSpace) error {
		switch {
		case sp.maintenance:
			return permanent("post-upgrade steps run in service: maintenance mode must be off")
		case sp.codeVersion != sp.version:
			return permanent("the upgrade from %s to %s is not finished", sp.version, sp.codeVersion)
		}
		sp.postUpgraded = true
		return nil
	})
}

// SetLastLogin records a password login of user at t, creating the user if needed
// (as an admin would in the web interface, regardless of limits). It is for tests and
// demonstrations, and does nothing for a space that is not installed.
func (s *Simulator) SetLastLogin(slug, user string, t time.Time) {
	s.hookChange(slug, func(sp *simSpace) {
		u := sp.users[user]
		if u == nil {
			u = &simUser{}
			sp.users[user] = u
		}
		u.lastLogin = t
	})
}

// SetUsage records that the files of user take files bytes, creating the user if
// needed, and that the space holds other bytes besides users' files (versions, trash,
// previews). It is for tests and demonstrations, and does nothing for a space that is
// not installed.
func (s *Simulator) SetUsage(slug, user string, files, other int64) {
	s.hookChange(slug, func(sp *simSpace) {
		u := sp.users[user]
		if u == nil {
			u = &simUser{}
			sp.users[user] = u
		}
		u.files, sp.otherBytes = files, other
	})
}

// SetTokenActivity records that an auth token of the space (sync client, app
// password) was last used at t. It is for tests and demonstrations, and does nothing
// for a space that is not installed.
func (s *Simulator) SetTokenActivity(slug string, t time.Time) {
	s.hookChange(slug, func(sp *simSpace) { sp.tokenActivity = t })
}

// CheckPassword reports whether password is the one user of the space was given. It
// is for tests and demonstrations.
func (s *Simulator) CheckPassword(slug, user, password string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.hookSpace(slug)
	if sp == nil {
		return false
	}
	u := sp.users[user]
	if u == nil || u.hash == nil {
		return false
	}
	return subtle.ConstantTimeCompare(u.hash, hashPassword(u.salt, password)) == 1
}

// Instance returns a copy of what the Simulator knows of a space, from its state file
// if needed, and false if it knows nothing of it. It is for tests and demonstrations.
func (s *Simulator) Instance(slug string) (SimInstance, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.hookSpace(slug)
	if sp == nil {
		return SimInstance{}, false
	}
	in := SimInstance{
		DatabaseCreated: sp.database,
		Installed:       sp.installed,
		Domain:          sp.domain,
		Bucket:          sp.bucket,
		Version:         sp.version,
		Maintenance:     sp.maintenance,
		Deactivated:     sp.deactivated,
		AdminUser:       sp.adminUser,
		Users:           make(map[string]time.Time, len(sp.users)),
		Quotas:          map[string]int64{},
		DefaultQuota:    sp.defaultQuota,
		TokenActivity:   sp.tokenActivity,
		LimitsApplied:   sp.limits != nil,
		OfficeSuite:     sp.office,
		Apps:            slices.Sorted(maps.Keys(sp.apps)),
		CodeVersion:     sp.codeVersion,
		CronEnabled:     sp.cronEnabled,
		Snapshots: slices.SortedFunc(maps.Keys(sp.snapshots), func(a, b string) int {
			return cmp.Compare(sp.snapshots[a].Number, sp.snapshots[b].Number)
		}),
		PostUpgraded: sp.postUpgraded,
	}
	for name, u := range sp.users {
		in.Users[name] = u.lastLogin
		if u.quota > 0 {
			in.Quotas[name] = u.quota
		}
	}
	in.UsedBytes, _ = sp.storage()
	if sp.limits != nil {
		in.Limits = *sp.limits
	}
	return in, true
}

// InjectFailure makes the next calls of op (one of the Op constants) for slug fail as
// f says. It replaces any failure injected before for the same slug and op; a Failure
// with a nil Err removes it. It is for tests and demonstrations.
func (s *Simulator) InjectFailure(slug, op string, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Err == nil {
		delete(s.failures, opKey{slug, op})
		return
	}
	s.failures[opKey{slug, op}] = &f
}

// Calls counts the calls of op for slug, failed ones included, since the Simulator
// was created; Remove does not reset it. It is for tests and demonstrations.
func (s *Simulator) Calls(slug, op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[opKey{slug, op}]
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
	s.mu.Lock()
	defer s.mu.Unlock()
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
	s.mu.Lock()
	err := s.enter(ctx, op, slug)
	fleet := s.fleet
	s.mu.Unlock()
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

	s.mu.Lock()
	defer s.mu.Unlock()
	return then()
}

// injected returns the failure injected for op on slug, if it is due at this point of
// the operation: before any change, or, with afterChange, once the change is made
// (Failure.AfterChange, for Upgrade only). The caller holds s.mu.
func (s *Simulator) injected(ctx context.Context, op, slug string, afterChange bool) error {
	key := opKey{slug, op}
	f := s.failures[key]
	if f == nil || (f.AfterChange && op == OpUpgrade) != afterChange {
		return nil
	}
	if f.Times > 0 {
		f.Times--
		if f.Times == 0 {
			delete(s.failures, key)
		}
	}
	s.log.WarnContext(ctx, "nextcloud "+op+": injected failure", "slug", slug, "error", f.Err)
	return f.Err
}

// installed returns the space's instance, or an error wrapping ErrNotInstalled. The
// caller holds s.mu.
func (s *Simulator) installed(slug string) (*simSpace, error) {
	sp, err := s.space(slug)
	if err != nil {
		return nil, err
	}
	if sp == nil || !sp.installed {
		return nil, fmt.Errorf("space %q: %w", slug, ErrNotInstalled)
	}
	return sp, nil
}

// space returns what the Simulator knows of a space, reading its state file if the
// space is not in memory yet; nil if nothing is known. The caller holds s.mu.
func (s *Simulator) space(slug string) (*simSpace, error) {
	if sp := s.spaces[slug]; sp != nil {
		return sp, nil
	}
	if s.dir == "" || checkSlug(slug) != nil {
		return nil, nil
	}
	path := s.statePath(slug)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read simulator state of space %q: %w", slug, err)
	}
	// A damaged file is an error, not an unknown space: that would let provisioning
	// start again over a space that exists.
	var st simState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("simulator state %s is damaged: %w", path, err)
	}
	if st.Slug != slug {
		return nil, fmt.Errorf("simulator state %s is damaged: it holds space %q", path, st.Slug)
	}
	sp := st.space()
	s.spaces[slug] = sp
	return sp, nil
}

// save writes the state of a space to its file, through a temporary file renamed over
// it so that a crash leaves the old state or the new one, never a mix. If that fails
// the space is forgotten from memory, to be read again from the last state written:
// memory never runs ahead of the file, and a retry of the operation does it again.
// The caller holds s.mu.
func (s *Simulator) save(slug string, sp *simSpace) error {
	if s.dir == "" {
		return nil
	}
	if err := writeFileAtomic(s.dir, slug+".json", sp.state(slug)); err != nil {
		delete(s.spaces, slug)
		return fmt.Errorf("write simulator state of space %q: %w", slug, err)
	}
	return nil
}

// hookSpace is space for the test hooks, which have no error to return: they log it.
// The caller holds s.mu.
func (s *Simulator) hookSpace(slug string) *simSpace {
	sp, err := s.space(slug)
	if err != nil {
		s.log.Error("nextcloud simulator: cannot read space", "slug", slug, "error", err)
	}
	return sp
}

// hookChange is change for the test hooks: it runs fn on the space and saves it, and
// does nothing for a space that is not installed.
func (s *Simulator) hookChange(slug string, fn func(sp *simSpace)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.hookSpace(slug)
	if sp == nil || !sp.installed {
		return
	}
	fn(sp)
	s.hookSave(slug, sp)
}

// hookSave is save for the test hooks. The caller holds s.mu.
func (s *Simulator) hookSave(slug string, sp *simSpace) {
	if err := s.save(slug, sp); err != nil {
		s.log.Error("nextcloud simulator: cannot save space", "slug", slug, "error", err)
	}
}

// statePath is the file of a space's state. The caller holds s.mu.
func (s *Simulator) statePath(slug string) string {
	return filepath.Join(s.dir, slug+".json")
}

// writeFileAtomic writes v as JSON to dir/name, replacing the file at once.
func writeFileAtomic(dir, name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(data, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
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
