package nextcloud_test

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/activities/nextcloud"
	"jardinier/models"
)

// installOn installs the space slug at version on sim.
func installOn(t *testing.T, sim *nextcloud.Simulator, slug, version string) {
	t.Helper()
	ctx := t.Context()
	require.NoError(t, sim.CreateDatabase(ctx, slug))
	require.NoError(t, sim.Install(ctx, nextcloud.InstallSpec{Slug: slug, Domain: slug + ".example", Version: version,
		Bucket: "space-" + slug, AdminUser: "admin"}))
}

// upgradeOn runs the steps of an upgrade of slug to target on sim; with fail, occ
// upgrade fails and the space is rolled back as the workflow does.
func upgradeOn(t *testing.T, sim *nextcloud.Simulator, slug, from, target string, fail bool) {
	t.Helper()
	ctx := t.Context()
	require.NoError(t, sim.SetMaintenance(ctx, slug, true))
	snap, err := sim.Snapshot(ctx, slug)
	require.NoError(t, err)
	require.NoError(t, sim.SwitchCode(ctx, slug, target))
	if fail {
		require.NoError(t, sim.RestoreSnapshot(ctx, slug, snap))
		require.NoError(t, sim.SwitchCode(ctx, slug, from))
	} else {
		require.NoError(t, sim.Upgrade(ctx, slug, target))
	}
	require.NoError(t, sim.SetMaintenance(ctx, slug, false))
}

func TestSimulatorSharedApps(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)

	t.Run("a new space reads the shared apps of its release, the store closed", func(t *testing.T) {
		sim := nextcloud.NewSimulator(quiet)
		installOn(t, sim, "neuf", "31.0.9")
		layout, err := sim.AppsLayout(t.Context(), "neuf")
		require.NoError(t, err)
		assert.True(t, layout.Closed(), "%+v", layout)
		tree, err := sim.PrepareApps(t.Context(), "31.0.9")
		require.NoError(t, err)
		assert.Equal(t, tree.Dir, layout.Shared)
		assert.Len(t, tree.Apps, len(nextcloud.DefaultApps)+2, "the approved apps and both office suites'")
	})

	t.Run("an approved app without a release for the major is refused, and nothing is prepared", func(t *testing.T) {
		sim := nextcloud.NewSimulator(quiet)
		sim.SetAppReleases("spreed", 30, 31)
		sim.SetAppReleases("collectives", 31)
		_, err := sim.PrepareApps(t.Context(), "32.0.2")
		require.ErrorIs(t, err, nextcloud.ErrNoAppRelease)
		require.ErrorIs(t, err, nextcloud.ErrPermanent)
		assert.Contains(t, err.Error(), "collectives, spreed: no release for Nextcloud 32.0.2")
		require.NoError(t, sim.CreateDatabase(t.Context(), "neuf"))
		err = sim.Install(t.Context(), nextcloud.InstallSpec{Slug: "neuf", Domain: "neuf.example", Version: "32.0.2",
			Bucket: "space-neuf", AdminUser: "admin"})
		require.ErrorIs(t, err, nextcloud.ErrNoAppRelease, "no space of that release either")
		st, _ := sim.Status(t.Context(), "neuf")
		assert.False(t, st.Installed)
		_, err = sim.PrepareApps(t.Context(), "31.0.9")
		assert.NoError(t, err, "the release they have is fine")
	})

	t.Run("a release without its code base has no tree", func(t *testing.T) {
		sim := nextcloud.NewSimulator(quiet)
		sim.SetCodeBases("31.0.9", "32.0.2")
		_, err := sim.PrepareApps(t.Context(), "33.0.1")
		assert.ErrorIs(t, err, nextcloud.ErrPermanent)
		bases, err := sim.CodeBases(t.Context())
		require.NoError(t, err)
		assert.Equal(t, []string{"31.0.9", "32.0.2"}, bases)
	})

	t.Run("a space installed before the shared trees moves to them at its next upgrade, and back to its own apps on a rollback", func(t *testing.T) {
		dir := t.TempDir()
		old := nextcloud.NewSimulator(quiet)
		require.NoError(t, old.Persist(dir))
		for _, slug := range []string{"ancien", "recule"} {
			installOn(t, old, slug, "31.0.9")
			forgetTree(t, dir, slug) // as written before the shared trees
		}
		require.NoError(t, os.Remove(filepath.Join(dir, "apps-31.0.9.json")), "no tree in those days")
		sim := nextcloud.NewSimulator(quiet) // a new worker
		require.NoError(t, sim.Persist(dir))
		for _, slug := range []string{"ancien", "recule"} {
			layout, err := sim.AppsLayout(t.Context(), slug)
			require.NoError(t, err)
			assert.True(t, layout.StoreEnabled, "its own apps, the store open, until its upgrade")
			assert.NotEmpty(t, layout.Writable)
		}
		tree, err := sim.PrepareApps(t.Context(), "32.0.2") // the fleet upgrade's first step
		require.NoError(t, err)

		upgradeOn(t, sim, "ancien", "31.0.9", "32.0.2", false)
		layout, err := sim.AppsLayout(t.Context(), "ancien")
		require.NoError(t, err)
		assert.Equal(t, nextcloud.AppsLayout{Shared: tree.Dir}, layout, "upgraded: the shared apps, the store closed")
		require.ErrorIs(t, sim.EnableApps(t.Context(), "ancien", models.OfficeNone, []string{"mail"}), nextcloud.ErrPermanent,
			"an app that is not approved")

		upgradeOn(t, sim, "recule", "31.0.9", "32.0.2", true)
		layout, err = sim.AppsLayout(t.Context(), "recule")
		require.NoError(t, err)
		assert.True(t, layout.StoreEnabled, "rolled back to the layout its release had")
		assert.NotEmpty(t, layout.Writable)
	})

	t.Run("a new process finds the trees prepared, and a space rolled back reads its tree again", func(t *testing.T) {
		dir := t.TempDir()
		first := nextcloud.NewSimulator(quiet)
		require.NoError(t, first.Persist(dir))
		installOn(t, first, "recule", "31.0.9")
		installed, err := first.AppsLayout(t.Context(), "recule")
		require.NoError(t, err)
		sim := nextcloud.NewSimulator(quiet) // a new worker
		require.NoError(t, sim.Persist(dir))
		_, err = sim.PrepareApps(t.Context(), "32.0.2")
		require.NoError(t, err)
		upgradeOn(t, sim, "recule", "31.0.9", "32.0.2", true)
		layout, err := sim.AppsLayout(t.Context(), "recule")
		require.NoError(t, err)
		assert.Equal(t, installed, layout, "the shared apps of 31.0.9 again, the store closed")
	})
}

// forgetTree rewrites the state file of slug in dir as one written before the shared
// trees, without its apps_tree.
func forgetTree(t *testing.T, dir, slug string) {
	t.Helper()
	p := filepath.Join(dir, slug+".json")
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	var state map[string]any
	require.NoError(t, json.Unmarshal(data, &state))
	require.Contains(t, state, "apps_tree")
	delete(state, "apps_tree")
	data, err = json.Marshal(state)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, data, 0o600))
}
