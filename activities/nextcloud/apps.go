package nextcloud

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"

	"jardinier/models"
)

// The apps of the two office suites.
const (
	AppCollabora  = "richdocuments"
	AppOnlyOffice = "onlyoffice"
)

// officeApps returns the app of the office suite office ("" for none) and the apps of
// the others, which must be disabled: two office suites on one space would both claim
// the same documents. An unknown suite is refused as permanent.
func officeApps(office models.OfficeSuite) (app string, others []string, err error) {
	switch office {
	case models.OfficeCollabora:
		return AppCollabora, []string{AppOnlyOffice}, nil
	case models.OfficeOnlyOffice:
		return AppOnlyOffice, []string{AppCollabora}, nil
	case models.OfficeNone:
		return "", []string{AppCollabora, AppOnlyOffice}, nil
	}
	return "", nil, permanent("unknown office suite %q", office)
}

// checkApps is what every driver checks before EnableApps changes anything: the office
// suite is known, every app is operator-approved (approved) or the app of that
// office suite, and none is the app of another suite. It returns the office suite's
// app and the apps to disable.
func checkApps(office models.OfficeSuite, apps, approved []string) (officeApp string, disable []string, err error) {
	officeApp, disable, err = officeApps(office)
	if err != nil {
		return "", nil, err
	}
	for _, app := range apps {
		switch {
		case slices.Contains(disable, app):
			return "", nil, permanent("app %q does not belong to office suite %q", app, office)
		case app != officeApp && !slices.Contains(approved, app):
			return "", nil, permanent("app %q is not approved", app)
		}
	}
	return officeApp, disable, nil
}

// officeSuiteApps are the apps of every office suite: a shared tree holds them all, as
// each space's admin may switch suite at any time.
var officeSuiteApps = []string{AppCollabora, AppOnlyOffice}

// ErrNoAppRelease is returned by PrepareApps when an approved app has no release made
// for the Nextcloud release asked for; it wraps ErrPermanent.
var ErrNoAppRelease = fmt.Errorf("no release of an approved app: %w", ErrPermanent)

// SharedApps is the part of the Driver that keeps the operator-approved apps out of
// the spaces' hands: the apps of one Nextcloud release are installed once, into a
// shared read-only tree beside its code base (<code root>/apps-<version>), and every
// space of that release reads them from there, with the app store closed and no apps
// path it may write to. Install gives a new space this layout; SwitchCode gives it to
// a space moving to a release whose tree is prepared, and gives a space moving back
// (a rollback) the layout its old release had.
type SharedApps interface {
	// PrepareApps installs the approved apps and the office suites' apps made for
	// version into its shared tree; apps its code base ships are left to the code base.
	// It needs the code base of version, and every app must have a release for
	// version: otherwise it is refused as permanent (ErrNoAppRelease, naming the apps)
	// before anything is written. Preparing a prepared tree changes nothing.
	PrepareApps(ctx context.Context, version string) (PreparedApps, error)
	// AppsLayout tells where a space's apps come from, whether its app store is open,
	// and which apps paths it may write to.
	AppsLayout(ctx context.Context, slug string) (AppsLayout, error)
	// CodeBases lists, in version order, the releases whose code base is present, so
	// that a space more than one major behind can go through each major in turn.
	CodeBases(ctx context.Context) ([]string, error)
}

// PreparedApps is a shared tree of apps, ready for the spaces of a release.
type PreparedApps struct {
	Version string
	Dir     string       // where the tree is, on the web nodes
	Apps    []AppRelease // sorted by app
}

// AppRelease is one app of a shared tree.
type AppRelease struct {
	App     string
	Release string // "" for an app the code base ships
}

// AppsLayout is where a space's apps come from.
type AppsLayout struct {
	// Shared is the shared tree the space reads its apps from; "" when the space still
	// has an apps directory of its own (installed before the shared trees, until its
	// next upgrade).
	Shared string
	// StoreEnabled: the space's admin may install apps from the app store.
	StoreEnabled bool
	// Writable are the apps paths the space may write apps to.
	Writable []string
}

// Closed reports whether the space can get no app but the approved ones: apps from a
// shared tree, the app store closed, no apps path writable.
func (l AppsLayout) Closed() bool { return l.Shared != "" && !l.StoreEnabled && len(l.Writable) == 0 }

// appsToPrepare are the apps a shared tree holds: the approved ones and the office
// suites', sorted, once each.
func appsToPrepare(approved []string) []string {
	apps := slices.Concat(approved, officeSuiteApps)
	slices.Sort(apps)
	return slices.Compact(apps)
}

// appsDirName is the name of the shared tree of version, beside the code bases.
func appsDirName(version string) string { return "apps-" + version }

// noRelease is the refusal of PrepareApps for the apps missing, sorted.
func noRelease(version string, missing []string) error {
	slices.Sort(missing)
	return fmt.Errorf("%s: no release for Nextcloud %s (%w)", strings.Join(missing, ", "), version, ErrNoAppRelease)
}

// sortVersions sorts versions "major.minor.patch" in version order, and drops what is
// not one.
func sortVersions(vs []string) []string {
	out := slices.DeleteFunc(slices.Clone(vs), func(v string) bool { _, err := parseVersion(v); return err != nil })
	slices.SortFunc(out, func(a, b string) int {
		va, _ := parseVersion(a)
		vb, _ := parseVersion(b)
		switch {
		case va.less(vb):
			return -1
		case vb.less(va):
			return 1
		}
		return 0
	})
	return slices.Compact(out)
}

// Major returns the major of a version "major.minor.patch"; a permanent error for
// anything else.
func Major(v string) (int, error) {
	p, err := parseVersion(v)
	return p.major, err
}

// ErrTypeNoAppRelease is the Temporal error type of PrepareApps refused because an
// approved app has no release for the Nextcloud release asked for: the operator must
// wait for it, or stop approving the app.
const ErrTypeNoAppRelease = "NextcloudNoAppRelease"

// PrepareAppsInput asks for the shared tree of apps of a Nextcloud release.
type PrepareAppsInput struct{ Version string }

// PrepareAppsResult is the tree prepared.
type PrepareAppsResult struct {
	Dir  string
	Apps []AppRelease
}

// PrepareSharedApps installs the approved apps of a release into its shared tree
// (SharedApps.PrepareApps), the step of a fleet upgrade that comes before any space is
// touched.
func (a *Activities) PrepareSharedApps(ctx context.Context, in PrepareAppsInput) (PrepareAppsResult, error) {
	logger := a.logger(ctx, "")
	logger.Info("Preparing the shared apps", "version", in.Version)
	var tree PreparedApps
	err := heartbeating(ctx, func() (err error) {
		tree, err = a.Driver.PrepareApps(ctx, in.Version)
		return err
	})
	if errors.Is(err, ErrNoAppRelease) {
		logger.Error("An approved app has no release for this Nextcloud", "version", in.Version, "error", err)
		return PrepareAppsResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("apps of Nextcloud %s: %v", in.Version, err), ErrTypeNoAppRelease, err)
	}
	if err != nil {
		return PrepareAppsResult{}, a.failure(logger, "prepare the apps of Nextcloud "+in.Version+" for", "", err)
	}
	logger.Info("Shared apps ready", "version", in.Version, "dir", tree.Dir, "apps", len(tree.Apps))
	return PrepareAppsResult{Dir: tree.Dir, Apps: tree.Apps}, nil
}

// CodeBasesInput asks for the code bases present.
type CodeBasesInput struct{}

// CodeBasesResult lists the releases whose code base is present, in version order.
type CodeBasesResult struct{ Versions []string }

// ListCodeBases lists the releases whose code base is present (SharedApps.CodeBases).
func (a *Activities) ListCodeBases(ctx context.Context, _ CodeBasesInput) (CodeBasesResult, error) {
	versions, err := a.Driver.CodeBases(ctx)
	if err != nil {
		return CodeBasesResult{}, a.failure(a.logger(ctx, ""), "list the code bases for", "", err)
	}
	return CodeBasesResult{Versions: versions}, nil
}

// VersionLess reports whether release a comes before release b; false when either is
// not "major.minor.patch".
func VersionLess(a, b string) bool {
	va, err1 := parseVersion(a)
	vb, err2 := parseVersion(b)
	return err1 == nil && err2 == nil && va.less(vb)
}
