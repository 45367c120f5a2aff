package nextcloud_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"jardinier/activities/nextcloud"
	"jardinier/activities/nextcloud/drivertest"
	"jardinier/models/modeltest"
)

// contractApps are approved apps the simulator enables.
var contractApps = []string{"calendar", "deck"}

func TestSimulatorContract(t *testing.T) {
	t.Run("in memory", func(t *testing.T) {
		drivertest.Run(t, func(t *testing.T) drivertest.Fixture {
			sim := nextcloud.NewSimulator(slog.New(slog.DiscardHandler))
			return simulatorFixture(sim, "contrat", nil)
		})
	})
	t.Run("kept on disk, with real databases", func(t *testing.T) {
		drivertest.Run(t, func(t *testing.T) drivertest.Fixture {
			sim := nextcloud.NewSimulator(slog.New(slog.DiscardHandler))
			dir := t.TempDir()
			require.NoError(t, sim.Persist(dir))
			fleet, err := nextcloud.NewFleetDB(modeltest.ServerURL())
			require.NoError(t, err)
			t.Cleanup(func() { fleet.Close() })
			sim.UseFleetDB(fleet)
			slug := randomSlug("contrat-")
			t.Cleanup(func() { _ = fleet.Drop(t.Context(), slug) })
			return simulatorFixture(sim, slug, func(t *testing.T) []string {
				left := leftDatabase(t, fleet, slug)
				files, err := os.ReadDir(dir)
				require.NoError(t, err)
				for _, f := range files {
					if !strings.HasPrefix(f.Name(), "apps-") { // the shared trees of apps outlive a space
						left = append(left, "state file "+f.Name())
					}
				}
				return left
			})
		})
	})
}

// simulatorFixture is the contract's fixture on sim, for the space slug.
func simulatorFixture(sim *nextcloud.Simulator, slug string, leftovers func(t *testing.T) []string) drivertest.Fixture {
	return drivertest.Fixture{
		Driver: sim,
		Spec: nextcloud.InstallSpec{Slug: slug, Domain: slug + ".jardinier.localhost", Version: "31.0.9",
			Bucket: "space-" + slug, AdminUser: "admin"},
		Next:         "32.0.2",
		Apps:         contractApps,
		SetLastLogin: func(_ *testing.T, user string, at time.Time) { sim.SetLastLogin(slug, user, at) },
		SetTokenUse:  func(_ *testing.T, _ string, at time.Time) { sim.SetTokenActivity(slug, at) },
		AppConfig:    func(_ *testing.T, app string) map[string]string { return sim.AppConfig(slug, app) },
		SetEmail: func(_ *testing.T, user, email string, admin bool) {
			sim.SetUserEmail(slug, user, email, admin)
		},
		Leftovers: func(t *testing.T) []string {
			var left []string
			if _, ok := sim.Instance(slug); ok {
				left = append(left, "the simulator still knows the space")
			}
			if leftovers != nil {
				left = append(left, leftovers(t)...)
			}
			return left
		},
	}
}

// TestOccDriverContract runs the contract on a real Nextcloud, set up as for
// TestOccDriverAgainstRealNextcloud; with NEXTCLOUD_TEST_NEXT_CODE_DIR, it upgrades the
// space to that release for real.
func TestOccDriverContract(t *testing.T) {
	drivertest.Run(t, func(t *testing.T) drivertest.Fixture {
		f := setupOcc(t)
		fleet, err := nextcloud.NewFleetDB(modeltest.ServerURL())
		require.NoError(t, err)
		t.Cleanup(func() { fleet.Close() })
		return drivertest.Fixture{
			Driver: f.driver,
			Spec: nextcloud.InstallSpec{Slug: f.slug, Domain: f.slug + ".jardinier.localhost", Version: f.version,
				Bucket: f.bucket, AdminUser: "admin"},
			Next: f.next,
			// It ships with every release; the app store need not be reached.
			Apps: []string{"admin_audit"},
			SetLastLogin: func(t *testing.T, user string, at time.Time) {
				out, err := f.occ(t, nil, "user:setting", user, "login", "lastLogin", strconv.FormatInt(at.Unix(), 10))
				require.NoError(t, err, out)
			},
			SetTokenUse: func(t *testing.T, user string, at time.Time) {
				f.spaceSQL(t, `INSERT INTO oc_authtoken (uid, login_name, name, token, type, remember, last_activity, last_check)
					VALUES ($1, $1, 'client de synchronisation', 'tok-'||md5(random()::text), 1, 0, $2, $2)`, user, at.Unix())
			},
			AppConfig: func(t *testing.T, app string) map[string]string {
				out, err := f.occ(t, nil, "config:list", app, "--private", "--output=json")
				require.NoError(t, err, out)
				var list struct {
					Apps map[string]map[string]any `json:"apps"`
				}
				require.NoError(t, json.Unmarshal([]byte(out), &list), out)
				values := map[string]string{}
				for k, v := range list.Apps[app] {
					values[k] = fmt.Sprint(v)
				}
				return values
			},
			SetEmail: func(t *testing.T, user, email string, admin bool) {
				if out, err := f.occ(t, nil, "user:info", "--", user); err != nil {
					out, err = f.occ(t, map[string]string{"OC_PASS": "Un-mot-de-passe-solide-42"},
						"user:add", "--password-from-env", "--", user)
					require.NoError(t, err, out)
				}
				out, err := f.occ(t, nil, "user:setting", "--", user, "settings", "email", email)
				require.NoError(t, err, out)
				if admin {
					out, err := f.occ(t, nil, "group:adduser", "admin", user)
					require.NoError(t, err, out)
				}
			},
			Leftovers: func(t *testing.T) []string {
				left := leftDatabase(t, fleet, f.slug)
				for _, dir := range []string{filepath.Join(f.opts.ConfigRoot, f.slug), filepath.Join(f.opts.DataRoot, f.slug)} {
					if _, err := os.Stat(dir); err == nil {
						left = append(left, dir)
					}
				}
				snapshots, err := filepath.Glob(filepath.Join(f.opts.SnapshotDir, f.slug+"-*"))
				require.NoError(t, err)
				left = append(left, snapshots...)
				if m, err := os.ReadFile(f.opts.DeactivatedMap); err == nil && len(m) > 0 {
					left = append(left, "deactivated map: "+string(m))
				}
				return left
			},
		}
	})
}

// leftDatabase names the database and role of slug that exist on the fleet's server.
func leftDatabase(t *testing.T, fleet *nextcloud.FleetDB, slug string) []string {
	t.Helper()
	database, role, err := fleet.Exists(t.Context(), slug)
	require.NoError(t, err)
	var left []string
	if database {
		left = append(left, "database of "+slug)
	}
	if role {
		left = append(left, "role of "+slug)
	}
	return left
}

// randomSlug is prefix and random letters: tests sharing a PostgreSQL server do not
// meet.
func randomSlug(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}
