// Package drivertest is the contract every nextcloud.Driver keeps, as a test suite:
// Run drives one space through its whole life (install, admin, limits, apps,
// maintenance, deactivation, activity, upgrade steps, removal) and checks at each step
// what the Driver interface promises, each method called twice. The simulator runs it
// in every `make test`; the occ driver runs it against a real Nextcloud.
package drivertest

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/activities/nextcloud"
	"jardinier/models"
)

// Fixture is what Run needs of a driver under test.
type Fixture struct {
	Driver nextcloud.Driver
	// Spec is a space that does not exist yet, whose bucket does; its Version is a
	// release the driver can install, and its AdminUser the admin CreateAdmin makes.
	Spec nextcloud.InstallSpec
	// Next is a version the driver can really upgrade Spec.Version to; "" leaves out
	// the real upgrade (the version rules are checked all the same).
	Next string
	// Apps are operator-approved apps the driver can enable on the space.
	Apps []string
	// SetLastLogin records a password login of user at t, as a person logging in would;
	// SetTokenUse a use of an auth token of user at t, as a sync client would.
	SetLastLogin func(t *testing.T, user string, at time.Time)
	SetTokenUse  func(t *testing.T, user string, at time.Time)
	// AppConfig reads the settings app keeps in the space (occ config:list <app>), to
	// check what ConfigureOffice wrote; nil leaves that check out.
	AppConfig func(t *testing.T, app string) map[string]string
	// SetEmail gives user (created if needed) the address email in their settings,
	// and puts them in the admin group if admin is set, as a space's admin would.
	SetEmail func(t *testing.T, user, email string, admin bool)
	// Leftovers lists what is left of the space outside the Driver's view (files,
	// database, role...) once it is removed; nil if the driver has nothing more to say.
	Leftovers func(t *testing.T) []string
}

// adminPassword is long enough for Nextcloud's password policy.
const adminPassword = "Un-mot-de-passe-solide-42"

// Run checks the contract on the fixture newFixture returns. Its subtests run in order
// on one space, each starting from where the previous one left it.
func Run(t *testing.T, newFixture func(t *testing.T) Fixture) {
	f := newFixture(t)
	c := &contract{f: f, d: f.Driver, slug: f.Spec.Slug, ctx: t.Context()}
	steps := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"a space that does not exist is not installed and refuses what needs an instance", c.notInstalled},
		{"install needs the database, then is idempotent and refuses another spec", c.install},
		{"the admin is created then its password reset, and a short password is refused", c.admin},
		{"nobody's activity at first, then the latest of logins and token uses", c.activity},
		{"limits are checked, applied twice, and cap accounts", c.limits},
		{"the quota is shared out, and sharing again changes nothing", c.quota},
		{"only approved apps and the app of the chosen office suite are enabled", c.apps},
		{"the office suite's own settings are written, and rewritten when they change", c.office},
		{"the approved apps come from the shared tree of the release, the app store closed", c.sharedApps},
		{"maintenance goes on and off, twice each", c.maintenance},
		{"deactivation puts the space in maintenance, reactivation takes it out", c.deactivation},
		{"the admins' addresses are listed, lowercase and sorted, in service and deactivated", c.adminEmails},
		{"cron runs, pauses and resumes, twice each; paused or in maintenance it skips", c.cron},
		{"no major skipped, no downgrade, code switched only in maintenance", c.versionRules},
		{"upgrade needs maintenance and the code base of its target", c.upgradeOrder},
		{"snapshots restore in maintenance only, and drop twice", c.snapshots},
		{"a real upgrade, rolled back, then done", c.upgrade},
		{"post-upgrade steps run in service only", c.postUpgrade},
		{"remove leaves nothing, snapshots included, twice", c.remove},
	}
	for _, step := range steps {
		if !t.Run(step.name, step.fn) {
			// Each step starts where the one before left the space.
			t.Fatalf("contract stopped at %q", step.name)
		}
	}
}

// contract holds the space Run drives.
type contract struct {
	f    Fixture
	d    nextcloud.Driver
	slug string
	ctx  context.Context
}

// requirePermanent checks that err is a refusal retrying cannot fix.
func requirePermanent(t *testing.T, err error, what string) {
	t.Helper()
	require.Error(t, err, what)
	require.True(t, errors.Is(err, nextcloud.ErrPermanent), "%s: want a permanent refusal, got %v", what, err)
}

// twice calls fn twice: every method of the contract is idempotent.
func twice(t *testing.T, what string, fn func() error) {
	t.Helper()
	require.NoError(t, fn(), what)
	require.NoError(t, fn(), what+", again")
}

// status reads the space's status.
func (c *contract) status(t *testing.T) nextcloud.InstanceStatus {
	t.Helper()
	st, err := c.d.Status(c.ctx, c.slug)
	require.NoError(t, err)
	return st
}

// code reads the version of the code base the space runs from.
func (c *contract) code(t *testing.T) string {
	t.Helper()
	v, err := c.d.CodeVersion(c.ctx, c.slug)
	require.NoError(t, err)
	return v
}

// inService is the status of the installed space in service at version.
func inService(version string) nextcloud.InstanceStatus {
	return nextcloud.InstanceStatus{Installed: true, Version: version}
}

func (c *contract) notInstalled(t *testing.T) {
	assert.Equal(t, nextcloud.InstanceStatus{}, c.status(t))
	for name, err := range map[string]error{
		"SetMaintenance": c.d.SetMaintenance(c.ctx, c.slug, true),
		"CreateAdmin":    c.d.CreateAdmin(c.ctx, c.slug, c.f.Spec.AdminUser, adminPassword),
		"SwitchCode":     c.d.SwitchCode(c.ctx, c.slug, c.f.Spec.Version),
	} {
		assert.ErrorIs(t, err, nextcloud.ErrNotInstalled, name)
	}
	_, err := c.d.LastActivity(c.ctx, c.slug)
	assert.ErrorIs(t, err, nextcloud.ErrNotInstalled, "LastActivity")
	_, err = c.d.AdminEmails(c.ctx, c.slug)
	assert.ErrorIs(t, err, nextcloud.ErrNotInstalled, "AdminEmails")
	requirePermanent(t, c.d.Install(c.ctx, c.f.Spec), "install without the database")
	assert.Equal(t, nextcloud.InstanceStatus{}, c.status(t), "a refused install changes nothing")
	twice(t, "remove what does not exist", func() error { return c.d.Remove(c.ctx, c.slug) })
	twice(t, "drop a snapshot of a space that does not exist", func() error {
		return c.d.DropSnapshot(c.ctx, c.slug, c.unknownSnapshot())
	})
}

func (c *contract) install(t *testing.T) {
	noDomain := c.f.Spec
	noDomain.Domain = ""
	requirePermanent(t, c.d.Install(c.ctx, noDomain), "install without a domain")
	badVersion := c.f.Spec
	badVersion.Version = "31"
	requirePermanent(t, c.d.Install(c.ctx, badVersion), "install of a version that is not major.minor.patch")

	twice(t, "create the database", func() error { return c.d.CreateDatabase(c.ctx, c.slug) })
	twice(t, "install", func() error { return c.d.Install(c.ctx, c.f.Spec) })
	assert.Equal(t, inService(c.f.Spec.Version), c.status(t), "installed, in service")
	assert.Equal(t, c.f.Spec.Version, c.code(t), "runs from the code base of its version")
	twice(t, "create the database of an installed space", func() error { return c.d.CreateDatabase(c.ctx, c.slug) })

	for what, change := range map[string]func(*nextcloud.InstallSpec){
		"another bucket":  func(s *nextcloud.InstallSpec) { s.Bucket += "-autre" },
		"another domain":  func(s *nextcloud.InstallSpec) { s.Domain = "autre." + s.Domain },
		"another version": func(s *nextcloud.InstallSpec) { s.Version = nextPatch(t, s.Version) },
	} {
		spec := c.f.Spec
		change(&spec)
		requirePermanent(t, c.d.Install(c.ctx, spec), "install again with "+what)
	}
	assert.Equal(t, inService(c.f.Spec.Version), c.status(t), "refused installs change nothing")
	require.NoError(t, c.d.Install(c.ctx, c.f.Spec), "the spec of the space is still accepted")
}

func (c *contract) admin(t *testing.T) {
	admin := c.f.Spec.AdminUser
	requirePermanent(t, c.d.CreateAdmin(c.ctx, c.slug, admin, "court"), "a short password")
	requirePermanent(t, c.d.CreateAdmin(c.ctx, c.slug, "", adminPassword), "no user name")
	twice(t, "create the admin", func() error { return c.d.CreateAdmin(c.ctx, c.slug, admin, adminPassword) })
	require.NoError(t, c.d.CreateAdmin(c.ctx, c.slug, admin, adminPassword+"-bis"), "a new password")
}

func (c *contract) activity(t *testing.T) {
	last, err := c.d.LastActivity(c.ctx, c.slug)
	require.NoError(t, err)
	assert.True(t, last.IsZero(), "last activity %v of a space nobody used", last)

	admin := c.f.Spec.AdminUser
	login := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	c.f.SetLastLogin(t, admin, login)
	last, err = c.d.LastActivity(c.ctx, c.slug)
	require.NoError(t, err)
	assert.True(t, login.Equal(last), "last activity %v, want the login at %v", last, login)

	token := login.Add(48 * time.Hour)
	c.f.SetTokenUse(t, admin, token)
	last, err = c.d.LastActivity(c.ctx, c.slug)
	require.NoError(t, err)
	assert.True(t, token.Equal(last), "last activity %v, want the token's use at %v", last, token)

	c.f.SetLastLogin(t, admin, login.Add(time.Hour))
	again, err := c.d.LastActivity(c.ctx, c.slug)
	require.NoError(t, err)
	assert.True(t, token.Equal(again), "an older login does not move the last activity back: %v", again)
}

func (c *contract) adminEmails(t *testing.T) {
	admins := func() []string {
		t.Helper()
		var addrs []string
		twice(t, "list the admins' addresses", func() error {
			var err error
			addrs, err = c.d.AdminEmails(c.ctx, c.slug)
			return err
		})
		return addrs
	}
	assert.Empty(t, admins(), "the admin has no address yet")
	admin := c.f.Spec.AdminUser
	c.f.SetEmail(t, admin, "Tresorerie@Amis-Du-Jardin.example", true)
	c.f.SetEmail(t, "membre", "membre@amis-du-jardin.example", false)
	assert.Equal(t, []string{"tresorerie@amis-du-jardin.example"}, admins(), "admins only, lowercase")
	c.f.SetEmail(t, "secretaire", "bureau@amis-du-jardin.example", true)
	assert.Equal(t, []string{"bureau@amis-du-jardin.example", "tresorerie@amis-du-jardin.example"}, admins())

	require.NoError(t, c.d.SetDeactivated(c.ctx, c.slug, true))
	assert.Len(t, admins(), 2, "read while deactivated, when the notices need them")
	require.NoError(t, c.d.SetDeactivated(c.ctx, c.slug, false))
}

func (c *contract) limits(t *testing.T) {
	for what, change := range map[string]func(*models.Limits){
		"no account":          func(l *models.Limits) { l.MaxAccounts = 0 },
		"too many accounts":   func(l *models.Limits) { l.MaxAccounts = models.MaxGrantedAccounts + 1 },
		"no quota":            func(l *models.Limits) { l.QuotaBytes = 0 },
		"videos over a quota": func(l *models.Limits) { l.MaxVideoBytes = l.QuotaBytes + 1 },
	} {
		limits := models.DefaultLimits()
		change(&limits)
		requirePermanent(t, c.d.ApplyLimits(c.ctx, c.slug, limits), "limits with "+what)
	}
	limits := models.DefaultLimits()
	limits.MaxAccounts = 1
	twice(t, "apply limits of one account", func() error { return c.d.ApplyLimits(c.ctx, c.slug, limits) })
	requirePermanent(t, c.d.CreateAdmin(c.ctx, c.slug, "second-admin", adminPassword), "an account over the limit")
	require.NoError(t, c.d.CreateAdmin(c.ctx, c.slug, c.f.Spec.AdminUser, adminPassword),
		"the account within the limit keeps working")
	granted := models.LimitsOf(models.MaxSpaceAccounts*2, models.MaxSpaceStorageGB*2, models.MaxVideoFileMB*2)
	twice(t, "grant one space more than the service's limits", func() error { return c.d.ApplyLimits(c.ctx, c.slug, granted) })
	twice(t, "apply the default limits", func() error { return c.d.ApplyLimits(c.ctx, c.slug, models.DefaultLimits()) })
}

func (c *contract) quota(t *testing.T) {
	_, err := c.d.ShareQuota(c.ctx, c.slug, 0)
	requirePermanent(t, err, "a quota that is not positive")
	quota := models.DefaultLimits().QuotaBytes
	usage, err := c.d.ShareQuota(c.ctx, c.slug, quota/2)
	require.NoError(t, err)
	assert.Equal(t, 1, usage.Accounts, "the admin")
	assert.Positive(t, usage.Changed, "a new quota rewrites the shares")
	again, err := c.d.ShareQuota(c.ctx, c.slug, quota/2)
	require.NoError(t, err)
	assert.Zero(t, again.Changed, "sharing again without change rewrites nothing")
	assert.Equal(t, usage.Accounts, again.Accounts)
	_, err = c.d.ShareQuota(c.ctx, c.slug, quota)
	require.NoError(t, err)
}

func (c *contract) apps(t *testing.T) {
	requirePermanent(t, c.d.EnableApps(c.ctx, c.slug, "libreoffice", c.f.Apps), "an unknown office suite")
	requirePermanent(t, c.d.EnableApps(c.ctx, c.slug, "", c.f.Apps), "no office suite")
	requirePermanent(t, c.d.EnableApps(c.ctx, c.slug, models.OfficeNone, []string{"jardinier_not_approved"}),
		"an app the operator did not approve")
	requirePermanent(t, c.d.EnableApps(c.ctx, c.slug, models.OfficeNone, []string{nextcloud.AppCollabora}),
		"the app of an office suite not chosen")
	requirePermanent(t, c.d.EnableApps(c.ctx, c.slug, models.OfficeCollabora, []string{nextcloud.AppOnlyOffice}),
		"the app of the other office suite")
	twice(t, "enable approved apps", func() error {
		return c.d.EnableApps(c.ctx, c.slug, models.OfficeNone, c.f.Apps)
	})
}

func (c *contract) office(t *testing.T) {
	settings := nextcloud.OfficeSettings{CollaboraURL: "https://collabora.jardinier.example",
		OnlyOfficeURL: "https://onlyoffice.jardinier.example/", OnlyOfficeJWTSecret: "un-secret-partage-de-32-caracteres"}
	bad := settings
	bad.CollaboraURL = "collabora.jardinier.example"
	requirePermanent(t, c.d.ConfigureOffice(c.ctx, c.slug, "libreoffice", settings), "an unknown office suite")
	requirePermanent(t, c.d.ConfigureOffice(c.ctx, c.slug, models.OfficeCollabora, bad), "a server address that is not a URL")
	assert.ErrorIs(t, c.d.ConfigureOffice(c.ctx, "jamais-installe", models.OfficeCollabora, settings),
		nextcloud.ErrNotInstalled, "a space not installed")
	if c.f.AppConfig != nil {
		assert.Empty(t, c.f.AppConfig(t, nextcloud.AppCollabora)[`wopi_url`], "a refused call writes nothing")
	}

	twice(t, "configure Collabora", func() error {
		return c.d.ConfigureOffice(c.ctx, c.slug, models.OfficeCollabora, settings)
	})
	twice(t, "configure OnlyOffice", func() error {
		return c.d.ConfigureOffice(c.ctx, c.slug, models.OfficeOnlyOffice, settings)
	})
	twice(t, "no office suite writes nothing", func() error {
		return c.d.ConfigureOffice(c.ctx, c.slug, models.OfficeNone, settings)
	})
	moved := settings
	moved.CollaboraURL = "https://bureautique.jardinier.example"
	twice(t, "configure Collabora's new server", func() error {
		return c.d.ConfigureOffice(c.ctx, c.slug, models.OfficeCollabora, moved)
	})
	if c.f.AppConfig == nil {
		return
	}
	assert.Equal(t, moved.CollaboraURL, c.f.AppConfig(t, nextcloud.AppCollabora)["wopi_url"], "Collabora's server, rewritten")
	only := c.f.AppConfig(t, nextcloud.AppOnlyOffice)
	assert.Equal(t, settings.OnlyOfficeURL, only["DocumentServerUrl"], "OnlyOffice's document server")
	assert.Equal(t, settings.OnlyOfficeJWTSecret, only["jwt_secret"], "OnlyOffice's JWT secret")
}

func (c *contract) sharedApps(t *testing.T) {
	v := c.f.Spec.Version
	_, err := c.d.PrepareApps(c.ctx, "31")
	requirePermanent(t, err, "apps of a version that is not major.minor.patch")
	var tree nextcloud.PreparedApps
	twice(t, "prepare the apps of the space's release, prepared at install", func() (err error) {
		tree, err = c.d.PrepareApps(c.ctx, v)
		return err
	})
	assert.Equal(t, v, tree.Version)
	assert.NotEmpty(t, tree.Dir)
	for _, app := range append([]string{nextcloud.AppCollabora, nextcloud.AppOnlyOffice}, c.f.Apps...) {
		assert.True(t, slices.ContainsFunc(tree.Apps, func(r nextcloud.AppRelease) bool { return r.App == app }),
			"the tree holds %s: %v", app, tree.Apps)
	}
	layout := c.layout(t)
	assert.Equal(t, nextcloud.AppsLayout{Shared: tree.Dir}, layout, "a new space reads the shared tree, nothing else")
	assert.True(t, layout.Closed(), "no app store, no apps path the space may write to")
	requirePermanent(t, c.d.EnableApps(c.ctx, c.slug, models.OfficeNone, []string{"jardinier_not_approved"}),
		"an app the operator did not approve, with the store closed")
	_, err = c.d.AppsLayout(c.ctx, "jamais-installe")
	assert.ErrorIs(t, err, nextcloud.ErrNotInstalled, "the layout of a space not installed")

	bases, err := c.d.CodeBases(c.ctx)
	require.NoError(t, err)
	if len(bases) > 0 { // a simulator not told its code bases names none
		assert.Contains(t, bases, v, "the code base the space runs from is listed")
		assert.Equal(t, slices.Compact(slices.Clone(bases)), bases, "each code base once")
	}
}

// layout reads where the space's apps come from.
func (c *contract) layout(t *testing.T) nextcloud.AppsLayout {
	t.Helper()
	l, err := c.d.AppsLayout(c.ctx, c.slug)
	require.NoError(t, err)
	return l
}

// tree is the directory of the shared apps of version, prepared.
func (c *contract) tree(t *testing.T, version string) string {
	t.Helper()
	tree, err := c.d.PrepareApps(c.ctx, version)
	require.NoError(t, err)
	return tree.Dir
}

func (c *contract) maintenance(t *testing.T) {
	twice(t, "maintenance on", func() error { return c.d.SetMaintenance(c.ctx, c.slug, true) })
	assert.True(t, c.status(t).Maintenance)
	twice(t, "maintenance off", func() error { return c.d.SetMaintenance(c.ctx, c.slug, false) })
	assert.Equal(t, inService(c.f.Spec.Version), c.status(t))
}

func (c *contract) deactivation(t *testing.T) {
	twice(t, "deactivate", func() error { return c.d.SetDeactivated(c.ctx, c.slug, true) })
	assert.True(t, c.status(t).Maintenance, "a deactivated space is in maintenance")
	twice(t, "reactivate", func() error { return c.d.SetDeactivated(c.ctx, c.slug, false) })
	assert.Equal(t, inService(c.f.Spec.Version), c.status(t), "back in service")
}

func (c *contract) cron(t *testing.T) {
	assert.ErrorIs(t, c.d.RunCron(c.ctx, "jamais-installe"), nextcloud.ErrNotInstalled, "run a space not installed")
	twice(t, "run the background jobs", func() error { return c.d.RunCron(c.ctx, c.slug) })
	twice(t, "pause cron", func() error { return c.d.SetCron(c.ctx, c.slug, false) })
	assert.ErrorIs(t, c.d.RunCron(c.ctx, c.slug), nextcloud.ErrCronSkipped, "run while paused")
	twice(t, "resume cron", func() error { return c.d.SetCron(c.ctx, c.slug, true) })
	require.NoError(t, c.d.SetMaintenance(c.ctx, c.slug, true))
	assert.ErrorIs(t, c.d.RunCron(c.ctx, c.slug), nextcloud.ErrCronSkipped, "run in maintenance")
	require.NoError(t, c.d.SetMaintenance(c.ctx, c.slug, false))
	require.NoError(t, c.d.RunCron(c.ctx, c.slug), "run once resumed")
}

func (c *contract) versionRules(t *testing.T) {
	v := c.f.Spec.Version
	patch := nextPatch(t, v)
	requirePermanent(t, c.d.SwitchCode(c.ctx, c.slug, patch), "a switch in service")
	assert.Equal(t, v, c.code(t), "a refused switch changes nothing")
	twice(t, "switch to the code base the space runs from, in service", func() error {
		return c.d.SwitchCode(c.ctx, c.slug, v)
	})

	require.NoError(t, c.d.SetMaintenance(c.ctx, c.slug, true))
	for what, target := range map[string]string{
		"skipping a major":         majorPlus(t, v, 2),
		"a downgrade to a major":   majorPlus(t, v, -1),
		"a downgrade in the major": previousPatch(t, v),
		"not a version":            "trente-deux",
	} {
		if target == "" {
			continue
		}
		requirePermanent(t, c.d.SwitchCode(c.ctx, c.slug, target), what)
		assert.Equal(t, v, c.code(t), "a refused switch changes nothing: %s", what)
	}
	for _, target := range []string{majorPlus(t, v, 2), majorPlus(t, v, -1)} {
		requirePermanent(t, nextcloud.CheckUpgrade(v, target), "CheckUpgrade from "+v+" to "+target)
	}
	require.NoError(t, nextcloud.CheckUpgrade(v, majorPlus(t, v, 1)), "to the next major")
	require.NoError(t, nextcloud.CheckUpgrade(v, patch), "to the next patch")
	require.NoError(t, c.d.SetMaintenance(c.ctx, c.slug, false))
	assert.Equal(t, inService(v), c.status(t))
}

func (c *contract) upgradeOrder(t *testing.T) {
	v := c.f.Spec.Version
	target := majorPlus(t, v, 1)
	requirePermanent(t, c.d.Upgrade(c.ctx, c.slug, target), "an upgrade in service")
	require.NoError(t, c.d.SetMaintenance(c.ctx, c.slug, true))
	requirePermanent(t, c.d.Upgrade(c.ctx, c.slug, target), "an upgrade before its code base is switched")
	requirePermanent(t, c.d.Upgrade(c.ctx, c.slug, majorPlus(t, v, 2)), "an upgrade that skips a major")
	twice(t, "upgrade to the installed version", func() error { return c.d.Upgrade(c.ctx, c.slug, v) })
	require.NoError(t, c.d.SetMaintenance(c.ctx, c.slug, false))
	assert.Equal(t, inService(v), c.status(t), "refused upgrades change nothing")
}

func (c *contract) snapshots(t *testing.T) {
	v := c.f.Spec.Version
	snap, err := c.d.Snapshot(c.ctx, c.slug)
	require.NoError(t, err)
	require.NotEmpty(t, snap)

	requirePermanent(t, c.d.RestoreSnapshot(c.ctx, c.slug, snap), "a restore in service")
	require.NoError(t, c.d.SetMaintenance(c.ctx, c.slug, true))
	requirePermanent(t, c.d.RestoreSnapshot(c.ctx, c.slug, c.unknownSnapshot()), "a snapshot the space does not have")
	twice(t, "restore", func() error { return c.d.RestoreSnapshot(c.ctx, c.slug, snap) })
	assert.Equal(t, nextcloud.InstanceStatus{Installed: true, Version: v, Maintenance: true}, c.status(t))
	require.NoError(t, c.d.SetMaintenance(c.ctx, c.slug, false))
	assert.Equal(t, inService(v), c.status(t))

	twice(t, "drop", func() error { return c.d.DropSnapshot(c.ctx, c.slug, snap) })
	twice(t, "drop one that does not exist", func() error {
		return c.d.DropSnapshot(c.ctx, c.slug, c.unknownSnapshot())
	})
	require.NoError(t, c.d.SetMaintenance(c.ctx, c.slug, true))
	requirePermanent(t, c.d.RestoreSnapshot(c.ctx, c.slug, snap), "a dropped snapshot")
	require.NoError(t, c.d.SetMaintenance(c.ctx, c.slug, false))
}

// upgrade runs the steps of an upgrade in the order of the space workflow (Driver):
// once rolled back as when the health check fails, then to the end.
func (c *contract) upgrade(t *testing.T) {
	v, next := c.f.Spec.Version, c.f.Next
	if next == "" {
		t.Skip("no release to upgrade to: Fixture.Next is empty")
	}
	// As the fleet upgrade does before any space moves.
	var nextTree nextcloud.PreparedApps
	twice(t, "prepare the apps of the next release", func() (err error) {
		nextTree, err = c.d.PrepareApps(c.ctx, next)
		return err
	})
	start := func() string {
		t.Helper()
		require.NoError(t, c.d.SetMaintenance(c.ctx, c.slug, true))
		require.NoError(t, c.d.SetCron(c.ctx, c.slug, false))
		snap, err := c.d.Snapshot(c.ctx, c.slug)
		require.NoError(t, err)
		twice(t, "switch code", func() error { return c.d.SwitchCode(c.ctx, c.slug, next) })
		assert.Equal(t, next, c.code(t))
		assert.Equal(t, nextcloud.InstanceStatus{Installed: true, Version: v, Maintenance: true}, c.status(t),
			"the database stays at its version until the upgrade")
		twice(t, "upgrade", func() error { return c.d.Upgrade(c.ctx, c.slug, next) })
		assert.Equal(t, nextcloud.InstanceStatus{Installed: true, Version: next, Maintenance: true}, c.status(t))
		return snap
	}
	backInService := func() {
		t.Helper()
		require.NoError(t, c.d.SetMaintenance(c.ctx, c.slug, false))
		require.NoError(t, c.d.SetCron(c.ctx, c.slug, true))
	}

	snap := start()
	requirePermanent(t, c.d.SwitchCode(c.ctx, c.slug, v), "back to the old code base before the restore")
	require.NoError(t, c.d.RestoreSnapshot(c.ctx, c.slug, snap))
	assert.Equal(t, v, c.status(t).Version, "the snapshot brings the old version back")
	twice(t, "switch code back", func() error { return c.d.SwitchCode(c.ctx, c.slug, v) })
	backInService()
	assert.Equal(t, inService(v), c.status(t), "rolled back")
	assert.Equal(t, v, c.code(t))
	assert.Equal(t, c.tree(t, v), c.layout(t).Shared, "rolled back to the shared apps of its release")
	require.NoError(t, c.d.DropSnapshot(c.ctx, c.slug, snap))

	snap = start()
	backInService()
	require.NoError(t, c.d.DropSnapshot(c.ctx, c.slug, snap))
	assert.Equal(t, inService(next), c.status(t), "upgraded")
	assert.Equal(t, nextcloud.AppsLayout{Shared: nextTree.Dir}, c.layout(t), "the shared apps of the new release")
	require.NoError(t, c.d.SetMaintenance(c.ctx, c.slug, true))
	requirePermanent(t, c.d.SwitchCode(c.ctx, c.slug, v), "a downgrade")
	require.NoError(t, c.d.SetMaintenance(c.ctx, c.slug, false))
	c.f.Spec.Version = next // what the next steps expect
}

func (c *contract) postUpgrade(t *testing.T) {
	require.NoError(t, c.d.SetMaintenance(c.ctx, c.slug, true))
	requirePermanent(t, c.d.PostUpgrade(c.ctx, c.slug), "post-upgrade steps in maintenance")
	require.NoError(t, c.d.SetMaintenance(c.ctx, c.slug, false))
	twice(t, "post-upgrade steps", func() error { return c.d.PostUpgrade(c.ctx, c.slug) })
	assert.Equal(t, inService(c.f.Spec.Version), c.status(t))
}

func (c *contract) remove(t *testing.T) {
	// A snapshot an upgrade could not drop holds the space's data too.
	_, err := c.d.Snapshot(c.ctx, c.slug)
	require.NoError(t, err)
	twice(t, "remove", func() error { return c.d.Remove(c.ctx, c.slug) })
	assert.Equal(t, nextcloud.InstanceStatus{}, c.status(t), "not installed")
	_, err = c.d.LastActivity(c.ctx, c.slug)
	assert.ErrorIs(t, err, nextcloud.ErrNotInstalled)
	requirePermanent(t, c.d.Install(c.ctx, c.f.Spec), "install after remove: the database is gone too")
	if c.f.Leftovers != nil {
		assert.Empty(t, c.f.Leftovers(t), "what remove left")
	}
}

// unknownSnapshot names a snapshot of the space, in the form the occ driver gives
// them, that was never taken.
func (c *contract) unknownSnapshot() string { return c.slug + "-20000101T000000Z" }

// majorPlus is the first release of the major n after v's (n may be negative); "" if
// there is none.
func majorPlus(t *testing.T, v string, n int) string {
	t.Helper()
	major, _ := parts(t, v)
	if major+n < 1 {
		return ""
	}
	return strconv.Itoa(major+n) + ".0.0"
}

// nextPatch is the release after v in its major.
func nextPatch(t *testing.T, v string) string {
	t.Helper()
	major, rest := parts(t, v)
	return strconv.Itoa(major) + "." + rest[0] + "." + strconv.Itoa(atoi(t, rest[1])+1)
}

// previousPatch is the release before v in its major; "" for a first release.
func previousPatch(t *testing.T, v string) string {
	t.Helper()
	major, rest := parts(t, v)
	patch := atoi(t, rest[1])
	if patch == 0 {
		return ""
	}
	return strconv.Itoa(major) + "." + rest[0] + "." + strconv.Itoa(patch-1)
}

// parts splits major.minor.patch into its major and the two others.
func parts(t *testing.T, v string) (int, []string) {
	t.Helper()
	p := strings.Split(v, ".")
	require.Len(t, p, 3, "version %q", v)
	return atoi(t, p[0]), p[1:]
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}
