package nextcloud

import (
	"cmp"
	"context"
	"crypto/subtle"
	"maps"
	"slices"
	"time"

	"jardinier/models"
)

// The test hooks of the Simulator: what tests and demonstrations use to play what
// users do on a space (logins, files, sync clients), to read what the Simulator knows,
// and to make its operations fail. None of them is part of the Driver.

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
// demonstrations; changing it changes nothing in the Simulator.
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

// SetLastLogin records a password login of user at t, creating the user if needed
// (as an admin would in the web interface, regardless of limits). It is for tests and
// demonstrations, and does nothing for a space that is not installed.
func (s *Simulator) SetLastLogin(slug, user string, t time.Time) {
	s.hookChange(slug, func(sp *simSpace) { sp.user(user).LastLogin = t })
}

// SetUsage records that the files of user take files bytes, creating the user if
// needed, and that the space holds other bytes besides users' files (versions, trash,
// previews). It is for tests and demonstrations, and does nothing for a space that is
// not installed.
func (s *Simulator) SetUsage(slug, user string, files, other int64) {
	s.hookChange(slug, func(sp *simSpace) {
		sp.user(user).Files, sp.OtherBytes = files, other
	})
}

// SetTokenActivity records that an auth token of the space (sync client, app
// password) was last used at t. It is for tests and demonstrations, and does nothing
// for a space that is not installed.
func (s *Simulator) SetTokenActivity(slug string, t time.Time) {
	s.hookChange(slug, func(sp *simSpace) { sp.TokenActivity = t })
}

// CheckPassword reports whether password is the one user of the space was given. It
// is for tests and demonstrations.
func (s *Simulator) CheckPassword(slug, user, password string) bool {
	s.lock()
	defer s.unlock()
	sp := s.hookSpace(slug)
	if sp == nil {
		return false
	}
	u := sp.Users[user]
	if u == nil || u.PasswordHash == nil {
		return false
	}
	return subtle.ConstantTimeCompare(u.PasswordHash, hashPassword(u.Salt, password)) == 1
}

// Instance returns a copy of what the Simulator knows of a space, from its state file
// if needed, and false if it knows nothing of it. It is for tests and demonstrations.
func (s *Simulator) Instance(slug string) (SimInstance, bool) {
	s.lock()
	defer s.unlock()
	sp := s.hookSpace(slug)
	if sp == nil {
		return SimInstance{}, false
	}
	in := SimInstance{
		DatabaseCreated: sp.Database,
		Installed:       sp.Installed,
		Domain:          sp.Domain,
		Bucket:          sp.Bucket,
		Version:         sp.Version,
		Maintenance:     sp.Maintenance,
		Deactivated:     sp.Deactivated,
		AdminUser:       sp.AdminUser,
		Users:           make(map[string]time.Time, len(sp.Users)),
		Quotas:          map[string]int64{},
		DefaultQuota:    sp.DefaultQuota,
		TokenActivity:   sp.TokenActivity,
		LimitsApplied:   sp.Limits != nil,
		OfficeSuite:     sp.OfficeSuite,
		Apps:            slices.Clone(sp.Apps),
		CodeVersion:     sp.CodeVersion,
		CronEnabled:     sp.cronEnabled(),
		Snapshots: slices.SortedFunc(maps.Keys(sp.Snapshots), func(a, b string) int {
			return cmp.Compare(sp.Snapshots[a].Number, sp.Snapshots[b].Number)
		}),
		PostUpgraded: sp.PostUpgraded,
	}
	for name, u := range sp.Users {
		in.Users[name] = u.LastLogin
		if u.Quota > 0 {
			in.Quotas[name] = u.Quota
		}
	}
	in.UsedBytes, _ = sp.storage()
	if sp.Limits != nil {
		in.Limits = *sp.Limits
	}
	return in, true
}

// InjectFailure makes the next calls of op (one of the Op constants) for slug fail as
// f says. It replaces any failure injected before for the same slug and op; a Failure
// with a nil Err removes it. It is for tests and demonstrations.
func (s *Simulator) InjectFailure(slug, op string, f Failure) {
	s.lock()
	defer s.unlock()
	if f.Err == nil {
		delete(s.failures, opKey{slug, op})
		return
	}
	s.failures[opKey{slug, op}] = &f
}

// Calls counts the calls of op for slug, failed ones included, since the Simulator
// was created; Remove does not reset it. It is for tests and demonstrations.
func (s *Simulator) Calls(slug, op string) int {
	s.lock()
	defer s.unlock()
	return s.calls[opKey{slug, op}]
}

// opKey names the operation op on the space slug, for InjectFailure and Calls.
type opKey struct{ slug, op string }

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
	s.lock()
	defer s.unlock()
	sp := s.hookSpace(slug)
	if sp == nil || !sp.Installed {
		return
	}
	fn(sp)
	if err := s.save(slug, sp); err != nil {
		s.log.Error("nextcloud simulator: cannot save space", "slug", slug, "error", err)
	}
}
