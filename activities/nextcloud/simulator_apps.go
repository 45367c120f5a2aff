package nextcloud

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
)

// OpAppsLayout is AppsLayout, as named in InjectFailure and Calls.
const OpAppsLayout = "AppsLayout"

// simAppsRoot is where the Simulator says its shared trees of apps are, as the occ
// driver's <code root>.
const simAppsRoot = "/simulateur/code"

// simApps is what the Simulator keeps of the shared trees of apps (SharedApps): the
// code bases present, the releases the app store has, and the trees prepared. With
// Persist, each tree prepared is also written as apps-<version>.json, so that a new
// process finds them (a space rolled back to its release reads its tree again).
type simApps struct {
	// codeBases are the releases whose code base is present; nil: every release is
	// (the Simulator names none then, see CodeBases).
	codeBases []string
	// majors restricts an app to releases for these majors (SetAppReleases); an app
	// not named has a release for every major.
	majors map[string][]int
	trees  map[string]PreparedApps // by version
}

var _ SharedApps = (*Simulator)(nil)

// SetCodeBases says which releases have a code base, as the code root of a real
// fleet holds them: Install, SwitchCode and PrepareApps then refuse other versions as
// permanent, and CodeBases lists them. Until it is called every release is present and
// CodeBases names none.
func (s *Simulator) SetCodeBases(versions ...string) {
	s.lock()
	defer s.unlock()
	s.apps.codeBases = sortVersions(versions)
}

// SetAppReleases makes the app store hold releases of app for these majors only
// (none: the app has no release at all), so that PrepareApps refuses the others.
func (s *Simulator) SetAppReleases(app string, majors ...int) {
	s.lock()
	defer s.unlock()
	if s.apps.majors == nil {
		s.apps.majors = map[string][]int{}
	}
	s.apps.majors[app] = slices.Clone(majors)
}

// codeBase refuses a version without a code base. The caller holds s.mu.
func (s *Simulator) codeBase(version string) error {
	if s.apps.codeBases != nil && !slices.Contains(s.apps.codeBases, version) {
		return permanent("no code base of Nextcloud %s", version)
	}
	return nil
}

// PrepareApps implements SharedApps.
func (s *Simulator) PrepareApps(ctx context.Context, version string) (PreparedApps, error) {
	s.lock()
	defer s.unlock()
	s.log.InfoContext(ctx, "nextcloud PrepareApps", "version", version)
	if err := ctx.Err(); err != nil {
		return PreparedApps{}, err
	}
	return s.prepareApps(version)
}

// prepareApps prepares the shared tree of version, or finds it prepared. The caller
// holds s.mu.
func (s *Simulator) prepareApps(version string) (PreparedApps, error) {
	v, err := parseVersion(version)
	if err != nil {
		return PreparedApps{}, err
	}
	if err := s.codeBase(version); err != nil {
		return PreparedApps{}, err
	}
	apps := appsToPrepare(s.approved)
	if tree := s.tree(version); tree.Dir != "" && len(tree.Apps) == len(apps) {
		return tree, nil
	}
	var missing []string
	tree := PreparedApps{Version: version, Dir: path.Join(simAppsRoot, appsDirName(version))}
	for _, app := range apps {
		if majors, ok := s.apps.majors[app]; ok && !slices.Contains(majors, v.major) {
			missing = append(missing, app)
			continue
		}
		tree.Apps = append(tree.Apps, AppRelease{App: app, Release: version})
	}
	if len(missing) > 0 {
		return PreparedApps{}, noRelease(version, missing)
	}
	if s.dir != "" {
		if err := writeFileAtomic(s.dir, appsDirName(version)+".json", tree); err != nil {
			return PreparedApps{}, fmt.Errorf("write simulator tree of apps %s: %w", version, err)
		}
	}
	if s.apps.trees == nil {
		s.apps.trees = map[string]PreparedApps{}
	}
	s.apps.trees[version] = tree
	s.log.Info("Nextcloud simulator prepared the shared apps", "version", version, "dir", tree.Dir, "apps", len(tree.Apps))
	return tree, nil
}

// treeOf is the shared tree of version if it is prepared, "" otherwise. The caller
// holds s.mu.
func (s *Simulator) treeOf(version string) string {
	return s.tree(version).Dir
}

// tree is the shared tree of version, read from its file with Persist if this process
// did not prepare it; the zero value if none is known. The caller holds s.mu.
func (s *Simulator) tree(version string) PreparedApps {
	if tree, ok := s.apps.trees[version]; ok || s.dir == "" {
		return tree
	}
	data, err := os.ReadFile(filepath.Join(s.dir, appsDirName(version)+".json"))
	var tree PreparedApps
	if err != nil || json.Unmarshal(data, &tree) != nil || tree.Version != version {
		return PreparedApps{} // not prepared: it will be, before a space needs it
	}
	if s.apps.trees == nil {
		s.apps.trees = map[string]PreparedApps{}
	}
	s.apps.trees[version] = tree
	return tree
}

// AppsLayout implements SharedApps: a space with a shared tree has its app store
// closed and no apps path of its own; one without (installed before the shared trees)
// has its own writable apps directory and the app store open.
func (s *Simulator) AppsLayout(ctx context.Context, slug string) (AppsLayout, error) {
	s.lock()
	defer s.unlock()
	sp, err := s.enterInstalled(ctx, OpAppsLayout, slug)
	if err != nil {
		return AppsLayout{}, err
	}
	return sp.appsLayout(), nil
}

// appsLayout is what AppsLayout reports of the space.
func (sp *simSpace) appsLayout() AppsLayout {
	if sp.AppsTree != "" {
		return AppsLayout{Shared: sp.AppsTree}
	}
	return AppsLayout{StoreEnabled: true, Writable: []string{path.Join("/simulateur/data", sp.Slug, "apps")}}
}

// CodeBases implements SharedApps: the releases of SetCodeBases, none before.
func (s *Simulator) CodeBases(ctx context.Context) ([]string, error) {
	s.lock()
	defer s.unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return slices.Clone(s.apps.codeBases), nil
}

// appInTree refuses, on a space reading a shared tree, an app that tree does not
// hold: nothing else could install it. The caller holds s.mu.
func (s *Simulator) appInTree(sp *simSpace, app string) error {
	if sp.AppsTree == "" {
		return nil
	}
	tree := s.tree(sp.CodeVersion)
	if tree.Dir != sp.AppsTree {
		return nil // prepared by another process: what it holds is not known here
	}
	if !slices.ContainsFunc(tree.Apps, func(r AppRelease) bool { return r.App == app }) {
		return permanent("app %q is not in the shared apps of Nextcloud %s", app, sp.CodeVersion)
	}
	return nil
}
