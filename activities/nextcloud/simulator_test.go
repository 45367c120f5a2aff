package nextcloud_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	acts := &nextcloud.Activities{Driver: sim, Sealer: sealer}

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
			"51 accounts":        func(l *models.Limits) { l.MaxAccounts = 51 },
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

			err := f.sim.Upgrade(f.ctx, testSlug, c.to)

			st, _ := f.sim.Status(f.ctx, testSlug)
			if c.ok {
				require.NoError(t, err)
				assert.NoError(t, nextcloud.CheckUpgrade(c.from, c.to))
				assert.Equal(t, c.to, st.Version)
			} else {
				assert.ErrorIs(t, err, nextcloud.ErrPermanent)
				assert.ErrorIs(t, nextcloud.CheckUpgrade(c.from, c.to), nextcloud.ErrPermanent)
				assert.Equal(t, c.from, st.Version)
			}
		})
	}

	t.Run("needs maintenance mode on", func(t *testing.T) {
		f := setup(t)
		f.install(t, testSlug)
		assert.ErrorIs(t, f.sim.Upgrade(f.ctx, testSlug, "32.0.0"), nextcloud.ErrPermanent)
		st, _ := f.sim.Status(f.ctx, testSlug)
		assert.Equal(t, testVersion, st.Version)
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

	t.Run("a cancelled context fails the call", func(t *testing.T) {
		f := setup(t)
		ctx, cancel := context.WithCancel(f.ctx)
		cancel()
		assert.ErrorIs(t, f.sim.CreateDatabase(ctx, testSlug), context.Canceled)
		_, known := f.sim.Instance(testSlug)
		assert.False(t, known)
	})
}
