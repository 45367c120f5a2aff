package nextcloud_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"jardinier/activities/nextcloud"
	"jardinier/models"
)

const (
	testSlug    = "les-jardins"
	testVersion = "31.0.9"
)

// fixture holds a Simulator and the activities driving it.
type fixture struct {
	ctx    context.Context
	sim    *nextcloud.Simulator
	sealer *models.Sealer
	acts   *nextcloud.Activities
	env    *testsuite.TestActivityEnvironment
	logs   *bytes.Buffer // what the simulator logged
}

// setup returns an empty Simulator, its activities and a Temporal test environment
// with them registered.
func setup(t *testing.T) *fixture {
	t.Helper()
	sealer, err := models.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	logs := &bytes.Buffer{}
	sim := nextcloud.NewSimulator(slog.New(slog.NewTextHandler(io.MultiWriter(logs, t.Output()), nil)))
	acts := &nextcloud.Activities{Driver: sim, Sealer: sealer, Apps: nextcloud.DefaultApps} // as the worker builds them

	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(t.Output(), nil))))
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	return &fixture{ctx: t.Context(), sim: sim, sealer: sealer, acts: acts, env: env, logs: logs}
}

// spec is how the tests install a space.
func spec(slug string) nextcloud.InstallSpec {
	return nextcloud.InstallSpec{
		Slug:    slug,
		Domain:  slug + ".example.org",
		Version: testVersion,
		Bucket:  "space-" + slug,
	}
}

// install creates the database of a space and installs it from spec.
func (f *fixture) install(t *testing.T, slug string) {
	t.Helper()
	require.NoError(t, f.sim.CreateDatabase(f.ctx, slug))
	require.NoError(t, f.sim.Install(f.ctx, spec(slug)))
}

func TestSimulatorSaysWhatItIs(t *testing.T) {
	f := setup(t)
	f.install(t, testSlug)

	assert.Equal(t, "simulator", f.sim.Name())
	assert.Contains(t, f.logs.String(), "level=WARN msg=\"Nextcloud simulator in use: no real instance is created\"")
	assert.Contains(t, f.logs.String(), "level=INFO msg=\"nextcloud Install\" driver=simulator slug="+testSlug)
}

func TestSimulatorInstall(t *testing.T) {
	t.Run("installing twice with the same spec succeeds and changes nothing", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		before, _ := f.sim.Instance(testSlug)

		require.NoError(t, f.sim.CreateDatabase(f.ctx, testSlug))
		require.NoError(t, f.sim.Install(f.ctx, spec(testSlug)))

		after, ok := f.sim.Instance(testSlug)
		require.True(t, ok)
		assert.Equal(t, before, after)
		assert.True(t, after.Installed)
		assert.Equal(t, spec(testSlug).Bucket, after.Bucket)
		st, err := f.sim.Status(f.ctx, testSlug)
		require.NoError(t, err)
		assert.Equal(t, nextcloud.InstanceStatus{Installed: true, Version: testVersion}, st)
	})

	t.Run("installing without a database is a permanent failure", func(t *testing.T) {
		f := setup(t)
		err := f.sim.Install(f.ctx, spec(testSlug))
		assert.ErrorIs(t, err, nextcloud.ErrPermanent)
		st, err := f.sim.Status(f.ctx, testSlug)
		require.NoError(t, err)
		assert.False(t, st.Installed)
	})

	t.Run("installing an installed space elsewhere is a permanent failure", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		for name, change := range map[string]func(*nextcloud.InstallSpec){
			"bucket":  func(s *nextcloud.InstallSpec) { s.Bucket = "other" },
			"domain":  func(s *nextcloud.InstallSpec) { s.Domain = "other.example.org" },
			"version": func(s *nextcloud.InstallSpec) { s.Version = "32.0.0" },
		} {
			s := spec(testSlug)
			change(&s)
			assert.ErrorIs(t, f.sim.Install(f.ctx, s), nextcloud.ErrPermanent, name)
		}
	})

	t.Run("a version that is not major.minor.patch is refused", func(t *testing.T) {
		f := setup(t)
		require.NoError(t, f.sim.CreateDatabase(f.ctx, testSlug))
		for _, v := range []string{"", "31", "31.0", "31.0.x", "v31.0.9", "31.0.9.1", "31..9", "+31.0.9"} {
			s := spec(testSlug)
			s.Version = v
			assert.ErrorIs(t, f.sim.Install(f.ctx, s), nextcloud.ErrPermanent, v)
		}
	})
}

func TestSimulatorCreateAdmin(t *testing.T) {
	t.Run("needs an installed space", func(t *testing.T) {
		f := setup(t)
		require.NoError(t, f.sim.CreateDatabase(f.ctx, testSlug))
		err := f.sim.CreateAdmin(f.ctx, testSlug, "admin", "long-enough-password")
		assert.ErrorIs(t, err, nextcloud.ErrNotInstalled)
	})

	t.Run("creating again resets the password without adding an account", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		require.NoError(t, f.sim.CreateAdmin(f.ctx, testSlug, "admin", "first-password"))
		require.NoError(t, f.sim.CreateAdmin(f.ctx, testSlug, "admin", "second-password"))

		assert.False(t, f.sim.CheckPassword(testSlug, "admin", "first-password"))
		assert.True(t, f.sim.CheckPassword(testSlug, "admin", "second-password"))
		in, _ := f.sim.Instance(testSlug)
		assert.Len(t, in.Users, 1)
		assert.Equal(t, "admin", in.AdminUser)
	})

	t.Run("a short password is refused", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		assert.ErrorIs(t, f.sim.CreateAdmin(f.ctx, testSlug, "admin", "short"), nextcloud.ErrPermanent)
	})

	t.Run("limits refuse a 51st account but still reset existing ones", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		require.NoError(t, f.sim.ApplyLimits(f.ctx, testSlug, models.DefaultLimits()))
		for i := range models.MaxSpaceAccounts {
			require.NoError(t, f.sim.CreateAdmin(f.ctx, testSlug, fmt.Sprintf("user%02d", i), "long-enough-password"))
		}

		err := f.sim.CreateAdmin(f.ctx, testSlug, "one-too-many", "long-enough-password")
		assert.ErrorIs(t, err, nextcloud.ErrPermanent)
		assert.NoError(t, f.sim.CreateAdmin(f.ctx, testSlug, "user00", "another-long-password"))
		in, _ := f.sim.Instance(testSlug)
		assert.Len(t, in.Users, models.MaxSpaceAccounts)
	})
}

func TestSimulatorApplyLimits(t *testing.T) {
	t.Run("stores valid limits", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		require.NoError(t, f.sim.ApplyLimits(f.ctx, testSlug, models.DefaultLimits()))
		in, _ := f.sim.Instance(testSlug)
		assert.True(t, in.LimitsApplied)
		assert.Equal(t, models.DefaultLimits(), in.Limits)
	})

	t.Run("refuses limits out of bounds", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		for name, change := range map[string]func(*models.Limits){
			"no account":         func(l *models.Limits) { l.MaxAccounts = 0 },
			"501 accounts":       func(l *models.Limits) { l.MaxAccounts = models.MaxGrantedAccounts + 1 },
			"no quota":           func(l *models.Limits) { l.QuotaBytes = 0 },
			"no video":           func(l *models.Limits) { l.MaxVideoBytes = 0 },
			"video beyond quota": func(l *models.Limits) { l.MaxVideoBytes = l.QuotaBytes + 1 },
		} {
			l := models.DefaultLimits()
			change(&l)
			assert.ErrorIs(t, f.sim.ApplyLimits(f.ctx, testSlug, l), nextcloud.ErrPermanent, name)
		}
		in, _ := f.sim.Instance(testSlug)
		assert.False(t, in.LimitsApplied)
	})
}

func TestSimulatorEnableApps(t *testing.T) {
	t.Run("switching office suite disables the other one", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)

		require.NoError(t, f.sim.EnableApps(f.ctx, testSlug, models.OfficeCollabora, nextcloud.DefaultApps))
		in, _ := f.sim.Instance(testSlug)
		assert.Contains(t, in.Apps, nextcloud.AppCollabora)
		assert.NotContains(t, in.Apps, nextcloud.AppOnlyOffice)
		assert.Subset(t, in.Apps, nextcloud.DefaultApps)

		require.NoError(t, f.sim.EnableApps(f.ctx, testSlug, models.OfficeOnlyOffice, nil))
		in, _ = f.sim.Instance(testSlug)
		assert.Equal(t, models.OfficeOnlyOffice, in.OfficeSuite)
		assert.Contains(t, in.Apps, nextcloud.AppOnlyOffice)
		assert.NotContains(t, in.Apps, nextcloud.AppCollabora)
		assert.Subset(t, in.Apps, nextcloud.DefaultApps, "other apps stay enabled")

		require.NoError(t, f.sim.EnableApps(f.ctx, testSlug, models.OfficeNone, nil))
		in, _ = f.sim.Instance(testSlug)
		assert.NotContains(t, in.Apps, nextcloud.AppOnlyOffice)
		assert.NotContains(t, in.Apps, nextcloud.AppCollabora)
	})

	t.Run("refuses apps that are not approved or contradict the office suite", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		for _, apps := range [][]string{{"calendar", "bitcoin-miner"}, {nextcloud.AppOnlyOffice}} {
			err := f.sim.EnableApps(f.ctx, testSlug, models.OfficeCollabora, apps)
			assert.ErrorIs(t, err, nextcloud.ErrPermanent, apps)
		}
		assert.ErrorIs(t, f.sim.EnableApps(f.ctx, testSlug, "libreoffice", nil), nextcloud.ErrPermanent)
		in, _ := f.sim.Instance(testSlug)
		assert.Empty(t, in.Apps, "a refused request enables nothing")
	})
}

func TestSimulatorLastActivity(t *testing.T) {
	login := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	token := login.Add(48 * time.Hour)

	t.Run("is zero when nobody ever used the space", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		last, err := f.sim.LastActivity(f.ctx, testSlug)
		require.NoError(t, err)
		assert.True(t, last.IsZero())
	})

	t.Run("is the latest of logins and token activity", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		f.sim.SetLastLogin(testSlug, "alice", login)
		f.sim.SetLastLogin(testSlug, "bob", login.Add(-time.Hour))
		f.sim.SetTokenActivity(testSlug, token)

		last, err := f.sim.LastActivity(f.ctx, testSlug)
		require.NoError(t, err)
		assert.Equal(t, token, last)

		f.sim.SetLastLogin(testSlug, "bob", token.Add(time.Minute))
		last, err = f.sim.LastActivity(f.ctx, testSlug)
		require.NoError(t, err)
		assert.Equal(t, token.Add(time.Minute), last)
	})

	t.Run("fails for a space that is not installed", func(t *testing.T) {
		f := setup(t)
		_, err := f.sim.LastActivity(f.ctx, testSlug)
		assert.ErrorIs(t, err, nextcloud.ErrNotInstalled)
	})
}

func TestSimulatorMaintenance(t *testing.T) {
	t.Run("shows in the status", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		require.NoError(t, f.sim.SetMaintenance(f.ctx, testSlug, true))
		st, err := f.sim.Status(f.ctx, testSlug)
		require.NoError(t, err)
		assert.True(t, st.Maintenance)
	})

	t.Run("needs an installed space", func(t *testing.T) {
		f := setup(t)
		assert.ErrorIs(t, f.sim.SetMaintenance(f.ctx, testSlug, true), nextcloud.ErrNotInstalled)
	})
}

func TestSimulatorRemove(t *testing.T) {
	t.Run("forgets everything and can be repeated", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		require.NoError(t, f.sim.CreateAdmin(f.ctx, testSlug, "admin", "long-enough-password"))

		require.NoError(t, f.sim.Remove(f.ctx, testSlug))
		require.NoError(t, f.sim.Remove(f.ctx, testSlug))

		_, known := f.sim.Instance(testSlug)
		assert.False(t, known)
		assert.False(t, f.sim.CheckPassword(testSlug, "admin", "long-enough-password"))
		st, err := f.sim.Status(f.ctx, testSlug)
		require.NoError(t, err)
		assert.False(t, st.Installed)
		assert.ErrorIs(t, f.sim.Install(f.ctx, spec(testSlug)), nextcloud.ErrPermanent, "the database is gone too")
	})

	t.Run("succeeds for a space never created", func(t *testing.T) {
		f := setup(t)
		assert.NoError(t, f.sim.Remove(f.ctx, "never-seen"))
	})
}

// inMaintenance installs a space and puts it in maintenance mode, as an upgrade starts.
func (f *fixture) inMaintenance(t *testing.T, slug string) {
	t.Helper()
	f.install(t, slug)
	require.NoError(t, f.sim.SetMaintenance(f.ctx, slug, true))
}

// readyToUpgrade installs a space in maintenance mode with its code base switched to
// version, ready for Upgrade to version.
func (f *fixture) readyToUpgrade(t *testing.T, slug, version string) {
	t.Helper()
	f.inMaintenance(t, slug)
	require.NoError(t, f.sim.SwitchCode(f.ctx, slug, version))
}

// snapshot takes a snapshot of a space and returns its name.
func (f *fixture) snapshot(t *testing.T, slug string) string {
	t.Helper()
	snap, err := f.sim.Snapshot(f.ctx, slug)
	require.NoError(t, err)
	return snap
}

// versions returns the installed version of a space and that of its code base.
func (f *fixture) versions(t *testing.T, slug string) (installed, code string) {
	t.Helper()
	in, known := f.sim.Instance(slug)
	require.True(t, known, slug)
	return in.Version, in.CodeVersion
}

func TestSimulatorUpgrade(t *testing.T) {
	for _, c := range []struct {
		from, to string
		ok       bool
	}{
		{"31.0.9", "31.0.10", true},
		{"31.0.9", "31.1.0", true},
		{"31.0.9", "32.0.0", true},
		{"31.0.9", "31.0.9", true},
		{"31.0.9", "33.0.0", false},
		{"32.0.0", "31.0.9", false},
		{"31.0.10", "31.0.9", false},
		{"31.0.9", "32", false},
	} {
		name := c.from + " to " + c.to + " is refused"
		if c.ok {
			name = c.from + " to " + c.to + " is allowed"
		}
		t.Run(name, func(t *testing.T) {
			f := setup(t)
			require.NoError(t, f.sim.CreateDatabase(f.ctx, testSlug))
			s := spec(testSlug)
			s.Version = c.from
			require.NoError(t, f.sim.Install(f.ctx, s))
			require.NoError(t, f.sim.SetMaintenance(f.ctx, testSlug, true))

			switchErr := f.sim.SwitchCode(f.ctx, testSlug, c.to)
			err := f.sim.Upgrade(f.ctx, testSlug, c.to)

			installed, code := f.versions(t, testSlug)
			if c.ok {
				require.NoError(t, switchErr)
				require.NoError(t, err)
				assert.NoError(t, nextcloud.CheckUpgrade(c.from, c.to))
				assert.Equal(t, c.to, installed)
				assert.Equal(t, c.to, code)
			} else {
				assert.ErrorIs(t, switchErr, nextcloud.ErrPermanent)
				assert.ErrorIs(t, err, nextcloud.ErrPermanent)
				assert.ErrorIs(t, nextcloud.CheckUpgrade(c.from, c.to), nextcloud.ErrPermanent)
				assert.Equal(t, c.from, installed)
				assert.Equal(t, c.from, code)
			}
			st, _ := f.sim.Status(f.ctx, testSlug)
			assert.Equal(t, installed, st.Version, "the status reports the installed version")
		})
	}

	t.Run("needs maintenance mode on", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		err := f.sim.Upgrade(f.ctx, testSlug, "32.0.0")
		assert.ErrorIs(t, err, nextcloud.ErrPermanent)
		assert.ErrorContains(t, err, "maintenance")
		installed, _ := f.versions(t, testSlug)
		assert.Equal(t, testVersion, installed)
	})

	t.Run("needs the code base switched to the target", func(t *testing.T) {
		f := setup(t)
		f.inMaintenance(t, testSlug)
		err := f.sim.Upgrade(f.ctx, testSlug, "32.0.0")
		assert.ErrorIs(t, err, nextcloud.ErrPermanent)
		assert.ErrorContains(t, err, "code base not switched")

		require.NoError(t, f.sim.SwitchCode(f.ctx, testSlug, "32.0.0"))
		err = f.sim.Upgrade(f.ctx, testSlug, "32.0.1")
		assert.ErrorContains(t, err, "code base not switched", "only to the version of the code base")
		installed, _ := f.versions(t, testSlug)
		assert.Equal(t, testVersion, installed)
	})

	t.Run("upgrading again once done succeeds without change, even in service", func(t *testing.T) {
		f := setup(t)
		f.readyToUpgrade(t, testSlug, "32.0.0")
		require.NoError(t, f.sim.Upgrade(f.ctx, testSlug, "32.0.0"))
		require.NoError(t, f.sim.SetMaintenance(f.ctx, testSlug, false))
		require.NoError(t, f.sim.PostUpgrade(f.ctx, testSlug))

		assert.NoError(t, f.sim.Upgrade(f.ctx, testSlug, "32.0.0"))
		in, _ := f.sim.Instance(testSlug)
		assert.True(t, in.PostUpgraded, "nothing was done again")
	})
}

func TestSimulatorSwitchCode(t *testing.T) {
	t.Run("an install runs from the code base of its version", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		code, err := f.sim.CodeVersion(f.ctx, testSlug)
		require.NoError(t, err)
		assert.Equal(t, testVersion, code)
	})

	t.Run("moves the code base ahead of the database, and back", func(t *testing.T) {
		f := setup(t)
		f.readyToUpgrade(t, testSlug, "32.0.0")
		code, err := f.sim.CodeVersion(f.ctx, testSlug)
		require.NoError(t, err)
		assert.Equal(t, "32.0.0", code)
		st, err := f.sim.Status(f.ctx, testSlug)
		require.NoError(t, err)
		assert.Equal(t, testVersion, st.Version, "the database is not upgraded yet")

		require.NoError(t, f.sim.SwitchCode(f.ctx, testSlug, testVersion), "back, as a rollback does")
		installed, code := f.versions(t, testSlug)
		assert.Equal(t, testVersion, installed)
		assert.Equal(t, testVersion, code)
	})

	for _, c := range []struct{ name, version string }{
		{"skipping a major", "33.0.0"},
		{"a downgrade", "30.0.5"},
		{"an older release of the same major", "31.0.8"},
		{"a version that is not major.minor.patch", "32"},
	} {
		t.Run(c.name+" is refused", func(t *testing.T) {
			f := setup(t)
			f.inMaintenance(t, testSlug)
			assert.ErrorIs(t, f.sim.SwitchCode(f.ctx, testSlug, c.version), nextcloud.ErrPermanent)
			_, code := f.versions(t, testSlug)
			assert.Equal(t, testVersion, code)
		})
	}

	t.Run("switching back below an upgraded database is a downgrade", func(t *testing.T) {
		f := setup(t)
		f.readyToUpgrade(t, testSlug, "32.0.0")
		require.NoError(t, f.sim.Upgrade(f.ctx, testSlug, "32.0.0"))
		assert.ErrorIs(t, f.sim.SwitchCode(f.ctx, testSlug, testVersion), nextcloud.ErrPermanent)
	})

	t.Run("needs maintenance mode on, unless nothing changes", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		err := f.sim.SwitchCode(f.ctx, testSlug, "32.0.0")
		assert.ErrorIs(t, err, nextcloud.ErrPermanent)
		assert.ErrorContains(t, err, "maintenance")
		assert.NoError(t, f.sim.SwitchCode(f.ctx, testSlug, testVersion))
	})

	t.Run("needs an installed space", func(t *testing.T) {
		f := setup(t)
		assert.ErrorIs(t, f.sim.SwitchCode(f.ctx, testSlug, "32.0.0"), nextcloud.ErrNotInstalled)
		_, err := f.sim.CodeVersion(f.ctx, testSlug)
		assert.ErrorIs(t, err, nextcloud.ErrNotInstalled)
	})
}

func TestSimulatorSnapshots(t *testing.T) {
	t.Run("restoring a snapshot puts the installed version back", func(t *testing.T) {
		f := setup(t)
		f.inMaintenance(t, testSlug)
		snap := f.snapshot(t, testSlug)
		require.NoError(t, f.sim.SwitchCode(f.ctx, testSlug, "32.0.0"))
		require.NoError(t, f.sim.Upgrade(f.ctx, testSlug, "32.0.0"))

		require.NoError(t, f.sim.RestoreSnapshot(f.ctx, testSlug, snap))
		require.NoError(t, f.sim.RestoreSnapshot(f.ctx, testSlug, snap), "restoring again changes nothing")

		installed, code := f.versions(t, testSlug)
		assert.Equal(t, testVersion, installed)
		assert.Equal(t, "32.0.0", code, "the code base is not in the database")
		in, _ := f.sim.Instance(testSlug)
		assert.Equal(t, []string{snap}, in.Snapshots, "the snapshot is kept until dropped")
	})

	t.Run("each snapshot gets a new name after the space", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		var names []string
		for range 11 {
			names = append(names, f.snapshot(t, testSlug))
		}
		assert.Equal(t, testSlug+"-1", names[0])
		assert.Equal(t, testSlug+"-11", names[10])
		in, _ := f.sim.Instance(testSlug)
		assert.Equal(t, names, in.Snapshots, "oldest first")

		require.NoError(t, f.sim.DropSnapshot(f.ctx, testSlug, names[10]))
		snap := f.snapshot(t, testSlug)
		assert.Equal(t, testSlug+"-12", snap, "names are not reused")
	})

	t.Run("a snapshot keeps whether the post-upgrade steps ran", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		require.NoError(t, f.sim.PostUpgrade(f.ctx, testSlug))
		require.NoError(t, f.sim.SetMaintenance(f.ctx, testSlug, true))
		snap := f.snapshot(t, testSlug)
		require.NoError(t, f.sim.SwitchCode(f.ctx, testSlug, "32.0.0"))
		require.NoError(t, f.sim.Upgrade(f.ctx, testSlug, "32.0.0"))
		in, _ := f.sim.Instance(testSlug)
		assert.False(t, in.PostUpgraded, "a new version has new optional steps")

		require.NoError(t, f.sim.RestoreSnapshot(f.ctx, testSlug, snap))
		in, _ = f.sim.Instance(testSlug)
		assert.True(t, in.PostUpgraded)
	})

	t.Run("dropping is idempotent", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		snap := f.snapshot(t, testSlug)
		require.NoError(t, f.sim.DropSnapshot(f.ctx, testSlug, snap))
		require.NoError(t, f.sim.DropSnapshot(f.ctx, testSlug, snap))
		assert.NoError(t, f.sim.DropSnapshot(f.ctx, "never-seen", snap))
		in, _ := f.sim.Instance(testSlug)
		assert.Empty(t, in.Snapshots)
		assert.ErrorIs(t, f.sim.DropSnapshot(f.ctx, testSlug, ""), nextcloud.ErrPermanent)
	})

	t.Run("restoring a snapshot the space does not have is a permanent failure", func(t *testing.T) {
		f := setup(t)
		f.inMaintenance(t, testSlug)
		f.install(t, "autre-espace")
		other := f.snapshot(t, "autre-espace")
		for _, snap := range []string{"", testSlug + "-1", other} {
			assert.ErrorIs(t, f.sim.RestoreSnapshot(f.ctx, testSlug, snap), nextcloud.ErrPermanent, snap)
		}
	})

	t.Run("restoring needs maintenance mode on", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		snap := f.snapshot(t, testSlug)
		assert.ErrorIs(t, f.sim.RestoreSnapshot(f.ctx, testSlug, snap), nextcloud.ErrPermanent)
	})
}

func TestSimulatorCronAndPostUpgrade(t *testing.T) {
	t.Run("cron runs from the install, and pauses and resumes", func(t *testing.T) {
		f := setup(t)
		require.NoError(t, f.sim.CreateDatabase(f.ctx, testSlug))
		in, _ := f.sim.Instance(testSlug)
		assert.False(t, in.CronEnabled, "nothing to run before the install")

		require.NoError(t, f.sim.Install(f.ctx, spec(testSlug)))
		in, _ = f.sim.Instance(testSlug)
		assert.True(t, in.CronEnabled)
		require.NoError(t, f.sim.SetCron(f.ctx, testSlug, false))
		in, _ = f.sim.Instance(testSlug)
		assert.False(t, in.CronEnabled)
		require.NoError(t, f.sim.SetCron(f.ctx, testSlug, true))
		in, _ = f.sim.Instance(testSlug)
		assert.True(t, in.CronEnabled)
	})

	t.Run("post-upgrade steps run in service only", func(t *testing.T) {
		f := setup(t)
		f.inMaintenance(t, testSlug)
		err := f.sim.PostUpgrade(f.ctx, testSlug)
		assert.ErrorIs(t, err, nextcloud.ErrPermanent)
		assert.ErrorContains(t, err, "maintenance")

		require.NoError(t, f.sim.SetMaintenance(f.ctx, testSlug, false))
		require.NoError(t, f.sim.PostUpgrade(f.ctx, testSlug))
		in, _ := f.sim.Instance(testSlug)
		assert.True(t, in.PostUpgraded)
	})

	t.Run("post-upgrade steps need the upgrade finished", func(t *testing.T) {
		f := setup(t)
		f.readyToUpgrade(t, testSlug, "32.0.0")
		require.NoError(t, f.sim.SetMaintenance(f.ctx, testSlug, false))
		assert.ErrorIs(t, f.sim.PostUpgrade(f.ctx, testSlug), nextcloud.ErrPermanent)
	})

	t.Run("need an installed space", func(t *testing.T) {
		f := setup(t)
		assert.ErrorIs(t, f.sim.SetCron(f.ctx, testSlug, false), nextcloud.ErrNotInstalled)
		assert.ErrorIs(t, f.sim.PostUpgrade(f.ctx, testSlug), nextcloud.ErrNotInstalled)
		_, err := f.sim.Snapshot(f.ctx, testSlug)
		assert.ErrorIs(t, err, nextcloud.ErrNotInstalled)
	})
}

func TestSimulatorUpgradeDuration(t *testing.T) {
	t.Run("an upgrade takes the time set", func(t *testing.T) {
		f := setup(t)
		f.readyToUpgrade(t, testSlug, "32.0.0")
		f.sim.SetUpgradeDuration(300 * time.Millisecond)

		start := time.Now()
		require.NoError(t, f.sim.Upgrade(f.ctx, testSlug, "32.0.0"))
		assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
		installed, _ := f.versions(t, testSlug)
		assert.Equal(t, "32.0.0", installed)

		start = time.Now()
		require.NoError(t, f.sim.Upgrade(f.ctx, testSlug, "32.0.0"))
		assert.Less(t, time.Since(start), 300*time.Millisecond, "nothing to wait for once done")
	})

	t.Run("a cancelled upgrade stops at once and changes nothing", func(t *testing.T) {
		f := setup(t)
		f.readyToUpgrade(t, testSlug, "32.0.0")
		f.sim.SetUpgradeDuration(time.Hour)
		ctx, cancel := context.WithTimeout(f.ctx, 100*time.Millisecond)
		defer cancel()

		start := time.Now()
		err := f.sim.Upgrade(ctx, testSlug, "32.0.0")
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 10*time.Second)
		installed, _ := f.versions(t, testSlug)
		assert.Equal(t, testVersion, installed)
	})

	t.Run("other operations do not wait for an upgrade", func(t *testing.T) {
		f := setup(t)
		f.readyToUpgrade(t, testSlug, "32.0.0")
		f.install(t, "autre-espace")
		f.sim.SetUpgradeDuration(time.Hour)
		ctx, cancel := context.WithCancel(f.ctx)
		done := make(chan error, 1)
		go func() { done <- f.sim.Upgrade(ctx, testSlug, "32.0.0") }()
		for f.sim.Calls(testSlug, nextcloud.OpUpgrade) == 0 {
			time.Sleep(time.Millisecond)
		}

		status := make(chan error, 1)
		go func() {
			_, err := f.sim.Status(f.ctx, "autre-espace")
			status <- err
		}()
		select {
		case err := <-status:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("Status of another space waited for the upgrade")
		}
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled)
	})
}

func TestSimulatorInjectFailure(t *testing.T) {
	errDown := errors.New("database server down")

	t.Run("fails the next calls, then recovers", func(t *testing.T) {
		f := setup(t)
		f.sim.InjectFailure(testSlug, nextcloud.OpCreateDatabase, nextcloud.Failure{Err: errDown, Times: 2})

		assert.ErrorIs(t, f.sim.CreateDatabase(f.ctx, testSlug), errDown)
		assert.ErrorIs(t, f.sim.CreateDatabase(f.ctx, testSlug), errDown)
		assert.NoError(t, f.sim.CreateDatabase(f.ctx, testSlug))
		assert.NoError(t, f.sim.CreateDatabase(f.ctx, "other-space"), "other spaces are not affected")
		assert.Equal(t, 3, f.sim.Calls(testSlug, nextcloud.OpCreateDatabase))
	})

	t.Run("fails forever with zero times, until cleared", func(t *testing.T) {
		f := setup(t)
		f.sim.InjectFailure(testSlug, nextcloud.OpRemove, nextcloud.Failure{Err: errDown})
		for range 5 {
			assert.ErrorIs(t, f.sim.Remove(f.ctx, testSlug), errDown)
		}
		f.sim.InjectFailure(testSlug, nextcloud.OpRemove, nextcloud.Failure{})
		assert.NoError(t, f.sim.Remove(f.ctx, testSlug))
		assert.Equal(t, 6, f.sim.Calls(testSlug, nextcloud.OpRemove))
	})

	t.Run("an upgrade failing before any change leaves the space as it was", func(t *testing.T) {
		f := setup(t)
		f.readyToUpgrade(t, testSlug, "32.0.0")
		f.sim.InjectFailure(testSlug, nextcloud.OpUpgrade, nextcloud.Failure{Err: errDown, Times: 1})

		assert.ErrorIs(t, f.sim.Upgrade(f.ctx, testSlug, "32.0.0"), errDown)
		installed, _ := f.versions(t, testSlug)
		assert.Equal(t, testVersion, installed)
	})

	t.Run("an upgrade failing after the change leaves the space upgraded, and a retry succeeds", func(t *testing.T) {
		f := setup(t)
		f.readyToUpgrade(t, testSlug, "32.0.0")
		f.sim.InjectFailure(testSlug, nextcloud.OpUpgrade, nextcloud.Failure{Err: errDown, AfterChange: true})

		assert.ErrorIs(t, f.sim.Upgrade(f.ctx, testSlug, "32.0.0"), errDown)
		installed, _ := f.versions(t, testSlug)
		assert.Equal(t, "32.0.0", installed)
		assert.NoError(t, f.sim.Upgrade(f.ctx, testSlug, "32.0.0"), "the work is done")
	})

	t.Run("other operations ignore AfterChange and fail before any change", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		f.sim.InjectFailure(testSlug, nextcloud.OpSetCron, nextcloud.Failure{Err: errDown, Times: 1, AfterChange: true})

		assert.ErrorIs(t, f.sim.SetCron(f.ctx, testSlug, false), errDown)
		in, _ := f.sim.Instance(testSlug)
		assert.True(t, in.CronEnabled)
	})

	t.Run("a cancelled context fails the call", func(t *testing.T) {
		f := setup(t)
		ctx, cancel := context.WithCancel(f.ctx)
		cancel()
		assert.ErrorIs(t, f.sim.CreateDatabase(ctx, testSlug), context.Canceled)
		_, known := f.sim.Instance(testSlug)
		assert.False(t, known)
	})
}

// provision takes a space through every provisioning step, as the space workflow does.
func provision(t *testing.T, ctx context.Context, sim *nextcloud.Simulator, slug string) {
	t.Helper()
	require.NoError(t, provisionSteps(ctx, sim, slug))
}

// provisionSteps is provision for goroutines other than the test's: it returns the
// first error.
func provisionSteps(ctx context.Context, sim *nextcloud.Simulator, slug string) error {
	for _, step := range []func() error{
		func() error { return sim.CreateDatabase(ctx, slug) },
		func() error { return sim.Install(ctx, spec(slug)) },
		func() error { return sim.CreateAdmin(ctx, slug, "admin", "long-enough-password") },
		func() error { return sim.ApplyLimits(ctx, slug, models.DefaultLimits()) },
		func() error { return sim.EnableApps(ctx, slug, models.OfficeCollabora, nextcloud.DefaultApps) },
	} {
		if err := step(); err != nil {
			return fmt.Errorf("provision %s: %w", slug, err)
		}
	}
	return nil
}

// setupPersisted returns a fixture whose Simulator keeps its spaces in a directory of
// the test's own, and that directory.
func setupPersisted(t *testing.T) (*fixture, string) {
	t.Helper()
	f := setup(t)
	dir := filepath.Join(t.TempDir(), "nextcloud-sim")
	require.NoError(t, f.sim.Persist(dir))
	return f, dir
}

// reopen returns a new Simulator on dir, as a restarted worker builds it.
func reopen(t *testing.T, dir string) *nextcloud.Simulator {
	t.Helper()
	sim := nextcloud.NewSimulator(slog.New(slog.NewTextHandler(t.Output(), nil)))
	require.NoError(t, sim.Persist(dir))
	return sim
}

func TestSimulatorPersist(t *testing.T) {
	login := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

	t.Run("a new simulator on the same directory finds the spaces of the previous one", func(t *testing.T) {
		f, dir := setupPersisted(t)
		provision(t, f.ctx, f.sim, testSlug)
		f.sim.SetLastLogin(testSlug, "alice", login)
		f.sim.SetTokenActivity(testSlug, login.Add(time.Hour))
		require.NoError(t, f.sim.SetDeactivated(f.ctx, testSlug, true))
		require.NoError(t, f.sim.SwitchCode(f.ctx, testSlug, "32.0.0"))
		require.NoError(t, f.sim.Upgrade(f.ctx, testSlug, "32.0.0"))
		want, _ := f.sim.Instance(testSlug)

		next := reopen(t, dir)

		got, known := next.Instance(testSlug)
		require.True(t, known)
		assert.Equal(t, want, got)
		assert.True(t, got.Installed)
		assert.True(t, got.Deactivated)
		assert.Equal(t, "32.0.0", got.Version)
		assert.Equal(t, map[string]time.Time{"admin": {}, "alice": login}, got.Users)
		assert.True(t, next.CheckPassword(testSlug, "admin", "long-enough-password"))
		last, err := next.LastActivity(f.ctx, testSlug)
		require.NoError(t, err)
		assert.Equal(t, login.Add(time.Hour), last)
	})

	t.Run("operations find the space on disk without Instance being asked first", func(t *testing.T) {
		f, dir := setupPersisted(t)
		provision(t, f.ctx, f.sim, testSlug)

		next := reopen(t, dir)
		st, err := next.Status(f.ctx, testSlug)
		require.NoError(t, err)
		assert.Equal(t, nextcloud.InstanceStatus{Installed: true, Version: testVersion}, st)

		next = reopen(t, dir)
		assert.NoError(t, next.SetMaintenance(f.ctx, testSlug, true))

		next = reopen(t, dir)
		next.SetLastLogin(testSlug, "bob", login)
		last, err := reopen(t, dir).LastActivity(f.ctx, testSlug)
		require.NoError(t, err)
		assert.Equal(t, login, last, "test hooks are written too")
	})

	t.Run("every change is written at once", func(t *testing.T) {
		f, dir := setupPersisted(t)
		provision(t, f.ctx, f.sim, testSlug)
		for name, change := range map[string]func(){
			"maintenance":    func() { require.NoError(t, f.sim.SetMaintenance(f.ctx, testSlug, true)) },
			"reactivation":   func() { require.NoError(t, f.sim.SetDeactivated(f.ctx, testSlug, false)) },
			"token activity": func() { f.sim.SetTokenActivity(testSlug, login) },
			"login":          func() { f.sim.SetLastLogin(testSlug, "carol", login) },
			"office suite":   func() { require.NoError(t, f.sim.EnableApps(f.ctx, testSlug, models.OfficeOnlyOffice, nil)) },
			"new password":   func() { require.NoError(t, f.sim.CreateAdmin(f.ctx, testSlug, "admin", "another-long-password")) },
		} {
			change()
			want, _ := f.sim.Instance(testSlug)
			got, _ := reopen(t, dir).Instance(testSlug)
			assert.Equal(t, want, got, name)
		}
		assert.True(t, reopen(t, dir).CheckPassword(testSlug, "admin", "another-long-password"))
	})

	t.Run("every step of an upgrade is written at once", func(t *testing.T) {
		f, dir := setupPersisted(t)
		provision(t, f.ctx, f.sim, testSlug)
		var snaps []string
		snapshot := func() { snaps = append(snaps, f.snapshot(t, testSlug)) }
		for _, step := range []struct {
			name string
			do   func()
		}{
			{"maintenance on", func() { require.NoError(t, f.sim.SetMaintenance(f.ctx, testSlug, true)) }},
			{"cron paused", func() { require.NoError(t, f.sim.SetCron(f.ctx, testSlug, false)) }},
			{"snapshot", snapshot},
			{"another snapshot", snapshot},
			{"code switched", func() { require.NoError(t, f.sim.SwitchCode(f.ctx, testSlug, "32.0.0")) }},
			{"upgraded", func() { require.NoError(t, f.sim.Upgrade(f.ctx, testSlug, "32.0.0")) }},
			{"snapshot dropped", func() { require.NoError(t, f.sim.DropSnapshot(f.ctx, testSlug, snaps[1])) }},
			{"maintenance off", func() { require.NoError(t, f.sim.SetMaintenance(f.ctx, testSlug, false)) }},
			{"post-upgrade", func() { require.NoError(t, f.sim.PostUpgrade(f.ctx, testSlug)) }},
			{"maintenance on again", func() { require.NoError(t, f.sim.SetMaintenance(f.ctx, testSlug, true)) }},
			{"snapshot restored", func() { require.NoError(t, f.sim.RestoreSnapshot(f.ctx, testSlug, snaps[0])) }},
			{"code switched back", func() { require.NoError(t, f.sim.SwitchCode(f.ctx, testSlug, testVersion)) }},
			{"cron resumed", func() { require.NoError(t, f.sim.SetCron(f.ctx, testSlug, true)) }},
		} {
			step.do()
			want, _ := f.sim.Instance(testSlug)
			got, _ := reopen(t, dir).Instance(testSlug)
			assert.Equal(t, want, got, step.name)
		}

		next := reopen(t, dir)
		got, _ := next.Instance(testSlug)
		assert.Equal(t, testVersion, got.Version)
		assert.Equal(t, testVersion, got.CodeVersion)
		assert.True(t, got.CronEnabled)
		assert.False(t, got.PostUpgraded, "the snapshot was taken before the post-upgrade steps")
		assert.Equal(t, []string{testSlug + "-1"}, got.Snapshots)
		require.NoError(t, next.RestoreSnapshot(f.ctx, testSlug, snaps[0]), "a new simulator restores an old snapshot")
		snap, err := next.Snapshot(f.ctx, testSlug)
		require.NoError(t, err)
		assert.Equal(t, testSlug+"-3", snap, "and does not reuse a name")
	})

	t.Run("a file written before upgrades had steps runs from its version, cron on", func(t *testing.T) {
		_, dir := setupPersisted(t)
		old := `{"slug": "` + testSlug + `", "database": true, "installed": true, "domain": "x.example.org",
			"bucket": "space-x", "version": "30.0.4", "maintenance": false, "deactivated": false}`
		require.NoError(t, os.WriteFile(filepath.Join(dir, testSlug+".json"), []byte(old), 0o600))

		got, known := reopen(t, dir).Instance(testSlug)
		require.True(t, known)
		assert.Equal(t, "30.0.4", got.CodeVersion)
		assert.True(t, got.CronEnabled)
		assert.Empty(t, got.Snapshots)
	})

	t.Run("each space is one JSON file named after it, with no temporary file left", func(t *testing.T) {
		f, dir := setupPersisted(t)
		provision(t, f.ctx, f.sim, testSlug)
		require.NoError(t, f.sim.CreateDatabase(f.ctx, "autre-espace"))

		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		assert.Equal(t, []string{"autre-espace.json", testSlug + ".json"}, names)
		data, err := os.ReadFile(filepath.Join(dir, testSlug+".json"))
		require.NoError(t, err)
		assert.True(t, json.Valid(data))
		assert.NotContains(t, string(data), "long-enough-password", "only a hash of the password is kept")
	})

	t.Run("Remove deletes the file, and a new simulator knows nothing of the space", func(t *testing.T) {
		f, dir := setupPersisted(t)
		provision(t, f.ctx, f.sim, testSlug)
		require.FileExists(t, filepath.Join(dir, testSlug+".json"))

		require.NoError(t, f.sim.Remove(f.ctx, testSlug))
		require.NoError(t, f.sim.Remove(f.ctx, testSlug))

		assert.NoFileExists(t, filepath.Join(dir, testSlug+".json"))
		next := reopen(t, dir)
		_, known := next.Instance(testSlug)
		assert.False(t, known)
		_, err := next.LastActivity(f.ctx, testSlug)
		assert.ErrorIs(t, err, nextcloud.ErrNotInstalled)
	})

	t.Run("a removed space is not read back from disk by the same simulator", func(t *testing.T) {
		f, _ := setupPersisted(t)
		provision(t, f.ctx, f.sim, testSlug)
		require.NoError(t, f.sim.Remove(f.ctx, testSlug))
		st, err := f.sim.Status(f.ctx, testSlug)
		require.NoError(t, err)
		assert.False(t, st.Installed)
	})

	t.Run("spaces created before Persist are written by it", func(t *testing.T) {
		f := setup(t)
		provision(t, f.ctx, f.sim, testSlug)
		dir := t.TempDir()
		require.NoError(t, f.sim.Persist(dir))

		_, known := reopen(t, dir).Instance(testSlug)
		assert.True(t, known)
	})

	t.Run("a damaged file is an error, not a space that does not exist", func(t *testing.T) {
		f, dir := setupPersisted(t)
		require.NoError(t, os.WriteFile(filepath.Join(dir, testSlug+".json"), []byte(`{"slug": "les-jar`), 0o600))

		_, err := f.sim.Status(f.ctx, testSlug)
		require.Error(t, err)
		assert.NotErrorIs(t, err, nextcloud.ErrNotInstalled)
		assert.NotErrorIs(t, err, nextcloud.ErrPermanent, "retried until someone repairs the file")
		assert.ErrorContains(t, err, "damaged")
		assert.Error(t, f.sim.CreateDatabase(f.ctx, testSlug), "not provisioned again over it")
	})

	t.Run("a file holding another space is damaged", func(t *testing.T) {
		f, dir := setupPersisted(t)
		provision(t, f.ctx, f.sim, "autre-espace")
		require.NoError(t, os.Rename(filepath.Join(dir, "autre-espace.json"), filepath.Join(dir, testSlug+".json")))

		_, err := f.sim.Status(f.ctx, testSlug)
		assert.ErrorContains(t, err, "damaged")
	})

	t.Run("a malformed slug is refused and touches no file", func(t *testing.T) {
		f, dir := setupPersisted(t)
		for _, slug := range []string{"../evasion", "a/b", "", "Majuscules", ".cache"} {
			assert.ErrorIs(t, f.sim.CreateDatabase(f.ctx, slug), nextcloud.ErrPermanent, slug)
			f.sim.SetTokenActivity(slug, login)
			_, known := f.sim.Instance(slug)
			assert.False(t, known, slug)
		}
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		assert.Empty(t, entries)
		assert.NoFileExists(t, filepath.Join(filepath.Dir(dir), "evasion.json"))
	})

	t.Run("a directory that cannot be created is refused", func(t *testing.T) {
		f := setup(t)
		file := filepath.Join(t.TempDir(), "a-file")
		require.NoError(t, os.WriteFile(file, nil, 0o600))
		assert.Error(t, f.sim.Persist(filepath.Join(file, "nextcloud-sim")))
		assert.Error(t, f.sim.Persist(""))
	})
}

func TestSimulatorWithFleetDB(t *testing.T) {
	t.Run("CreateDatabase creates the real database and role, Remove drops them", func(t *testing.T) {
		f := setup(t)
		fleet := setupFleet(t)
		f.sim.UseFleetDB(fleet.fleet)
		slug := fleet.slug(t)

		provision(t, f.ctx, f.sim, slug)
		c := fleet.catalogOrNothing(t, slug)
		assert.True(t, c.Database && c.Role, "created: %+v", c)
		database, _ := fleet.fleet.Names(slug)
		assert.Contains(t, f.logs.String(), `msg="nextcloud CreateDatabase: real database created" driver=simulator slug=`+slug+` database=`+database)

		require.NoError(t, f.sim.Remove(f.ctx, slug))
		assert.Equal(t, catalog{}, fleet.catalogOrNothing(t, slug))
		assert.Contains(t, f.logs.String(), `msg="nextcloud Remove: real database dropped" driver=simulator slug=`+slug)
		_, known := f.sim.Instance(slug)
		assert.False(t, known)
	})

	t.Run("a server that cannot be reached fails the call for a retry and changes nothing", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		down, err := nextcloud.NewFleetDB("postgres://nobody@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2")
		require.NoError(t, err)
		t.Cleanup(func() { down.Close() })
		f.sim.UseFleetDB(down)

		err = f.sim.CreateDatabase(f.ctx, "nouvel-espace")
		require.Error(t, err)
		assert.NotErrorIs(t, err, nextcloud.ErrPermanent)
		_, known := f.sim.Instance("nouvel-espace")
		assert.False(t, known)

		err = f.sim.Remove(f.ctx, testSlug)
		require.Error(t, err)
		assert.NotErrorIs(t, err, nextcloud.ErrPermanent)
		_, known = f.sim.Instance(testSlug)
		assert.True(t, known, "kept, so that the retry removes it")
	})
}

func TestSimulatorManySpacesAtOnce(t *testing.T) {
	f, dir := setupPersisted(t)
	fleet := setupFleet(t)
	f.sim.UseFleetDB(fleet.fleet)
	const spaces = 24
	slugs := make([]string, spaces)
	for i := range slugs {
		slugs[i] = fleet.slug(t)
	}
	login := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

	var wg sync.WaitGroup
	for i, slug := range slugs {
		wg.Go(func() {
			assert.NoError(t, provisionSteps(f.ctx, f.sim, slug))
			f.sim.SetLastLogin(slug, "admin", login.Add(time.Duration(i)*time.Hour))
			assert.NoError(t, f.sim.SetDeactivated(f.ctx, slug, i%3 == 0))
			if i%4 == 0 {
				assert.NoError(t, f.sim.Remove(f.ctx, slug))
			}
		})
	}
	wg.Wait()

	next := reopen(t, dir)
	for i, slug := range slugs {
		in, known := next.Instance(slug)
		c := fleet.catalogOrNothing(t, slug)
		if i%4 == 0 {
			assert.False(t, known, slug)
			assert.Equal(t, catalog{}, c, slug)
			continue
		}
		require.True(t, known, slug)
		assert.True(t, c.Database && c.Role, slug)
		assert.Equal(t, i%3 == 0, in.Deactivated, slug)
		assert.Equal(t, login.Add(time.Duration(i)*time.Hour), in.Users["admin"], slug)
	}
}
