package nextcloud

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/models"
)

// The refusals of the Driver contract (drivertest) that the occ driver makes before
// any command changes the space, checked without a Nextcloud: the contract suite
// checks them on a real one.
func TestOccKeepsTheContractWithoutNextcloud(t *testing.T) {
	const slug = "amis-du-jardin"
	// changes reports the commands that would change the space.
	changes := func(run *fakeRunner) []string {
		var out []string
		for _, c := range run.commands {
			line := strings.Join(c.Args, " ")
			if slices.Contains(c.Args, "-r") || strings.Contains(line, "readlink") {
				continue // reads config.php, the code link
			}
			out = append(out, line)
		}
		return out
	}

	t.Run("install refuses a space without its database, before any command", func(t *testing.T) {
		d, run := newTestOcc(t)
		err := d.Install(t.Context(), InstallSpec{Slug: "sans-base-" + slug, Domain: "x.example", Bucket: "space-x", Version: "31.0.9"})
		assert.ErrorIs(t, err, ErrPermanent)
		assert.Empty(t, run.commands)
	})
	t.Run("apps not approved, or of another office suite, are refused before any command", func(t *testing.T) {
		d, run := newTestOcc(t)
		assert.ErrorIs(t, d.EnableApps(t.Context(), slug, models.OfficeNone, []string{"jardinier_not_approved"}), ErrPermanent)
		assert.ErrorIs(t, d.EnableApps(t.Context(), slug, models.OfficeNone, []string{AppCollabora}), ErrPermanent)
		assert.ErrorIs(t, d.EnableApps(t.Context(), slug, models.OfficeCollabora, []string{AppOnlyOffice}), ErrPermanent)
		assert.ErrorIs(t, d.EnableApps(t.Context(), slug, "", nil), ErrPermanent)
		assert.Empty(t, run.commands)
	})
	t.Run("the approved apps are those of the options", func(t *testing.T) {
		d, run := newTestOcc(t)
		d.o.ApprovedApps = []string{"admin_audit"}
		require.NoError(t, d.EnableApps(t.Context(), slug, models.OfficeNone, []string{"admin_audit"}))
		assert.Contains(t, run.occArgs(), "app:enable -- admin_audit")
		assert.ErrorIs(t, d.EnableApps(t.Context(), slug, models.OfficeNone, []string{"calendar"}), ErrPermanent)
	})
	t.Run("the code base is switched and a snapshot restored in maintenance only", func(t *testing.T) {
		d, run := newTestOcc(t) // in service: config.php has no maintenance
		assert.ErrorIs(t, d.SwitchCode(t.Context(), slug, "32.0.0"), ErrPermanent)
		assert.ErrorIs(t, d.RestoreSnapshot(t.Context(), slug, slug+"-20260101T000000Z"), ErrPermanent)
		assert.Empty(t, changes(run))
	})
	t.Run("post-upgrade steps are refused in maintenance", func(t *testing.T) {
		d, run := newTestOcc(t)
		run.reply = func(c Command) ([]byte, error) {
			if key := c.Args[len(c.Args)-1]; c.Args[1] == "-r" && (key == "installed" || key == "maintenance") {
				return []byte("1"), nil
			}
			return nil, nil
		}
		assert.ErrorIs(t, d.PostUpgrade(t.Context(), slug), ErrPermanent)
		assert.Empty(t, run.occArgs())
	})
	t.Run("remove deletes the space's snapshots, and only its own", func(t *testing.T) {
		d, _ := newTestOcc(t)
		d.o.SnapshotDir = t.TempDir()
		mine := []string{slug + "-20260101T000000Z.dump", slug + "-20260101T000000Z.config.php", slug + "-20260102T000000Z.dump.tmp"}
		others := []string{slug + "-bis-20260101T000000Z.dump", "autre-20260101T000000Z.dump"}
		for _, name := range append(slices.Clone(mine), others...) {
			require.NoError(t, os.WriteFile(filepath.Join(d.o.SnapshotDir, name), []byte("dump"), 0o600))
		}
		require.NoError(t, d.Remove(t.Context(), slug))
		left, err := os.ReadDir(d.o.SnapshotDir)
		require.NoError(t, err)
		var names []string
		for _, f := range left {
			names = append(names, f.Name())
		}
		assert.ElementsMatch(t, others, names)
	})
}
