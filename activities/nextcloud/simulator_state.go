package nextcloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"jardinier/models"
)

// simSpace is everything the Simulator knows of one space: what it works on in memory,
// and, as it is, what Persist writes of the space, one JSON file per space. A field
// added here is kept across restarts without more code; the names in the files are
// those of the first files written, so that they still read.
type simSpace struct {
	Slug          string              `json:"slug"`
	Database      bool                `json:"database"`
	Installed     bool                `json:"installed"`
	Domain        string              `json:"domain,omitempty"`
	Bucket        string              `json:"bucket,omitempty"`
	Version       string              `json:"version,omitempty"`
	Maintenance   bool                `json:"maintenance"`
	Deactivated   bool                `json:"deactivated"`
	AdminUser     string              `json:"admin_user,omitempty"`
	Users         map[string]*simUser `json:"users,omitempty"`
	TokenActivity time.Time           `json:"token_activity,omitzero"`
	Limits        *models.Limits      `json:"limits,omitempty"`
	OtherBytes    int64               `json:"other_bytes,omitempty"`   // versions, trash, previews: what no user's files hold
	DefaultQuota  int64               `json:"default_quota,omitempty"` // 0 until shared
	OfficeSuite   models.OfficeSuite  `json:"office_suite,omitempty"`
	Apps          []string            `json:"apps,omitempty"` // enabled apps, sorted
	// AppConfig is what the apps keep of their settings (ConfigureOffice): app → key →
	// value, as Nextcloud's appconfig table holds them.
	AppConfig   map[string]map[string]string `json:"app_config,omitempty"`
	CodeVersion string                       `json:"code_version,omitempty"`
	// CronPaused rather than enabled, so that a file written before cron could be
	// paused reads as running.
	CronPaused   bool                   `json:"cron_paused"`
	Snapshots    map[string]simSnapshot `json:"snapshots,omitempty"`     // by name; nil until the first
	LastSnapshot int                    `json:"last_snapshot,omitempty"` // number of the latest snapshot, for names
	PostUpgraded bool                   `json:"post_upgraded"`
	// AppsTree is the shared tree of apps the space reads (SharedApps); "" for a space
	// with its own apps directory and the app store open, as before the shared trees.
	AppsTree string `json:"apps_tree,omitempty"`
}

// simUser is an account of a simulated space.
type simUser struct {
	LastLogin    time.Time `json:"last_login,omitzero"`
	Files        int64     `json:"files,omitempty"` // bytes of the user's files
	Quota        int64     `json:"quota,omitempty"` // 0 until shared
	Salt         []byte    `json:"salt,omitempty"`
	PasswordHash []byte    `json:"password_hash,omitempty"` // salted SHA-256 of the password; nil if it has none
	Email        string    `json:"email,omitempty"`         // the account's address, as its settings hold it
	Admin        bool      `json:"admin,omitempty"`         // a member of the admin group besides AdminUser
	Disabled     bool      `json:"disabled,omitempty"`
}

// simSnapshot is what a snapshot of a space's database holds of the space, in memory
// and on disk: what an upgrade changes in the database.
type simSnapshot struct {
	Number       int    `json:"number"`
	Version      string `json:"version"`
	PostUpgraded bool   `json:"post_upgraded"`
}

// newSimSpace is a space that has nothing yet.
func newSimSpace(slug string) *simSpace {
	return &simSpace{Slug: slug, Users: map[string]*simUser{}}
}

// cronEnabled reports whether the space's background jobs run.
func (sp *simSpace) cronEnabled() bool { return sp.Installed && !sp.CronPaused }

// enableApp adds app to the enabled apps, kept sorted.
func (sp *simSpace) enableApp(app string) {
	if i, found := slices.BinarySearch(sp.Apps, app); !found {
		sp.Apps = slices.Insert(sp.Apps, i, app)
	}
}

// disableApp takes app out of the enabled apps.
func (sp *simSpace) disableApp(app string) {
	sp.Apps = slices.DeleteFunc(sp.Apps, func(a string) bool { return a == app })
}

// user returns the account name, created if needed.
func (sp *simSpace) user(name string) *simUser {
	u := sp.Users[name]
	if u == nil {
		u = &simUser{}
		sp.Users[name] = u
	}
	return u
}

// readSimSpace reads the state file at path of the space slug.
func readSimSpace(path, slug string) (*simSpace, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// A damaged file is an error, not an unknown space: that would let provisioning
	// start again over a space that exists.
	var sp simSpace
	if err := json.Unmarshal(data, &sp); err != nil {
		return nil, fmt.Errorf("simulator state %s is damaged: %w", path, err)
	}
	if sp.Slug != slug {
		return nil, fmt.Errorf("simulator state %s is damaged: it holds space %q", path, sp.Slug)
	}
	if sp.Users == nil {
		sp.Users = map[string]*simUser{}
	}
	for name, u := range sp.Users {
		if u == nil {
			sp.Users[name] = &simUser{}
		}
	}
	slices.Sort(sp.Apps)
	sp.Apps = slices.Compact(sp.Apps)
	if sp.Installed && sp.CodeVersion == "" {
		// Written before the code base could be switched: it runs from its version.
		sp.CodeVersion = sp.Version
	}
	return &sp, nil
}

// lock starts every section that reads or changes the Simulator: it takes s.mu and,
// with Persist, the lock of its directory (flock, shared with other processes), and forgets the spaces in memory, which another
// process may have changed since: they are read again from their files.
func (s *Simulator) lock() {
	s.mu.Lock()
	if s.lockFile == nil {
		return
	}
	if err := lockShared(s.lockFile); err != nil {
		// Only a broken file descriptor fails here; go on as one process would.
		s.log.Error("nextcloud simulator: lock the state directory", "dir", s.dir, "error", err)
	}
	clear(s.spaces)
}

// unlock ends what lock started.
func (s *Simulator) unlock() {
	if s.lockFile != nil {
		_ = unlockShared(s.lockFile)
	}
	s.mu.Unlock()
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
	sp, err := readSimSpace(s.statePath(slug), slug)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read simulator state of space %q: %w", slug, err)
	}
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
	sp.Slug = slug
	if err := writeFileAtomic(s.dir, slug+".json", sp); err != nil {
		delete(s.spaces, slug)
		return fmt.Errorf("write simulator state of space %q: %w", slug, err)
	}
	return nil
}

// forget deletes what the Simulator knows of a space, its state file included. The
// caller holds s.mu.
func (s *Simulator) forget(slug string) error {
	delete(s.spaces, slug)
	if s.dir == "" {
		return nil
	}
	if err := os.Remove(s.statePath(slug)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove simulator state of space %q: %w", slug, err)
	}
	return nil
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
