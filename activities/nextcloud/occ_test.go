package nextcloud

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/models"
	"jardinier/models/modeltest"
)

// recorded returns a file of testdata/occ, recorded from a real Nextcloud (see its
// README.md).
func recorded(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "occ", name))
	require.NoError(t, err)
	return b
}

// recordedExit returns the failure of the command whose output and exit code were
// recorded as name.txt and name.exitcode.
func recordedExit(t *testing.T, name string) *ExitError {
	t.Helper()
	code, err := strconv.Atoi(strings.TrimSpace(string(recorded(t, name+".exitcode"))))
	require.NoError(t, err)
	return &ExitError{Command: "occ", ExitCode: code, Output: cutOutput(string(recorded(t, name+".txt")))}
}

func TestParseStatus(t *testing.T) {
	t.Run("reads an installed instance in service", func(t *testing.T) {
		st, err := parseStatus(recorded(t, "status.json"))
		require.NoError(t, err)
		assert.Equal(t, occStatus{Installed: true, Version: "29.0.6.1", VersionString: "29.0.6"}, st)
	})
	t.Run("reads maintenance mode", func(t *testing.T) {
		st, err := parseStatus(recorded(t, "status-maintenance.json"))
		require.NoError(t, err)
		assert.True(t, st.Maintenance)
	})
	t.Run("reads an instance not installed, even among log lines", func(t *testing.T) {
		for _, name := range []string{"status-not-installed.json", "status-not-installed-with-stderr.txt"} {
			st, err := parseStatus(recorded(t, name))
			require.NoError(t, err, name)
			assert.False(t, st.Installed, name)
		}
	})
	t.Run("refuses an output without a status", func(t *testing.T) {
		_, err := parseStatus(recorded(t, "user-add-exists.txt"))
		assert.Error(t, err)
	})
}

func TestParseUserList(t *testing.T) {
	t.Run("maps logins to display names", func(t *testing.T) {
		users, err := parseUserList(recorded(t, "user-list.json"))
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"admin": "admin", "bob": "bob", "carol": "carol"}, users)
	})
	t.Run("reads the empty list occ prints as []", func(t *testing.T) {
		users, err := parseUserList(recorded(t, "user-list-none.json"))
		require.NoError(t, err)
		assert.Empty(t, users)
	})
}

func TestOccError(t *testing.T) {
	t.Run("a refusal of occ is permanent and keeps its exit code and output", func(t *testing.T) {
		exit := recordedExit(t, "user-add-exists")
		err := occError(exit)
		assert.ErrorIs(t, err, ErrPermanent)
		var got *ExitError
		require.ErrorAs(t, err, &got)
		assert.Equal(t, 1, got.ExitCode)
		assert.Contains(t, err.Error(), exit.Output)
	})
	t.Run("an app the app store cannot give passes: approved apps exist, the store is out", func(t *testing.T) {
		exit := recordedExit(t, "app-enable-unknown")
		err := occError(exit)
		assert.NotErrorIs(t, err, ErrPermanent)
		assert.Contains(t, err.Error(), exit.Output)
	})
	t.Run("a database or cache outage passes", func(t *testing.T) {
		err := occError(&ExitError{ExitCode: 1, Output: "SQLSTATE[08006] [7] connection to server failed"})
		assert.NotErrorIs(t, err, ErrPermanent)
	})
	t.Run("a command killed or unreachable node passes", func(t *testing.T) {
		assert.NotErrorIs(t, occError(&ExitError{ExitCode: 137}), ErrPermanent)
		assert.NotErrorIs(t, occError(context.DeadlineExceeded), ErrPermanent)
	})
}

// fakeRunner records the commands it is given and answers with reply.
type fakeRunner struct {
	mu       sync.Mutex
	commands []Command
	reply    func(Command) ([]byte, error)
}

func (r *fakeRunner) Run(_ context.Context, cmd Command) ([]byte, error) {
	r.mu.Lock()
	r.commands = append(r.commands, cmd)
	r.mu.Unlock()
	if r.reply != nil {
		return r.reply(cmd)
	}
	return nil, nil
}

// occArgs returns the occ arguments of the commands run, one line each.
func (r *fakeRunner) occArgs() []string {
	var lines []string
	for _, c := range r.commands {
		for i, a := range c.Args {
			if strings.HasSuffix(a, "/occ") {
				lines = append(lines, strings.Join(c.Args[i+3:], " ")) // after --no-interaction --no-ansi
			}
		}
	}
	return lines
}

func testOptions() OccOptions {
	return OccOptions{
		CodeRoot: "/srv/nextcloud/code", ConfigRoot: "/srv/nextcloud/config", DataRoot: "/srv/nextcloud/data",
		WebUser: "www-data", BaseDomain: "jardinier.example", DBHost: "pooler:6432",
		S3Endpoint: "s3.internal:9000", S3AccessKey: "AK", S3SecretKey: "it's secret", RedisHost: "redis:6379",
		RedisPrefix: "nc-", Secret: make([]byte, 32), SnapshotDir: "/var/lib/jardinier/snapshots",
		DeactivatedMap: "/etc/nginx/jardinier/deactivated-spaces.map",
	}
}

// newTestOcc returns a driver whose commands go to a fakeRunner, on which every space
// is installed.
func newTestOcc(t testing.TB) (*Occ, *fakeRunner) {
	t.Helper()
	fleet, err := NewFleetDB(modeltest.ServerURL())
	require.NoError(t, err)
	t.Cleanup(func() { fleet.Close() })
	run := &fakeRunner{reply: func(c Command) ([]byte, error) {
		if len(c.Args) > 1 && c.Args[1] == "-r" && c.Args[len(c.Args)-1] == "installed" {
			return []byte("1"), nil // config.php: installed, not in maintenance
		}
		if slices.Contains(c.Args, "user:list") {
			return []byte("[]"), nil
		}
		return nil, nil
	}}
	d, err := NewOcc(testOptions(), fleet, run, nil)
	require.NoError(t, err)
	return d, run
}

func TestOccCommands(t *testing.T) {
	t.Run("occ runs from the space's code link with its configuration directory", func(t *testing.T) {
		d, _ := newTestOcc(t)
		cmd := d.occCommand("amis-du-jardin", "status", "--output=json")
		assert.Equal(t, []string{"php", "-d", "apc.enable_cli=1", "-d", "memory_limit=1G",
			"/srv/nextcloud/config/amis-du-jardin/code/occ", "--no-interaction", "--no-ansi",
			"status", "--output=json"}, cmd.Args)
		assert.Equal(t, map[string]string{"NEXTCLOUD_CONFIG_DIR": "/srv/nextcloud/config/amis-du-jardin/"}, cmd.Env)
	})
	t.Run("the admin's password travels in OC_PASS, never in the arguments", func(t *testing.T) {
		d, run := newTestOcc(t)
		require.NoError(t, d.CreateAdmin(t.Context(), "amis-du-jardin", "camille", "Un-mot-de-passe-solide"))
		var withPass []Command
		for _, c := range run.commands {
			assert.NotContains(t, strings.Join(c.Args, " "), "Un-mot-de-passe-solide")
			if c.Env["OC_PASS"] != "" {
				withPass = append(withPass, c)
			}
		}
		require.Len(t, withPass, 1)
		assert.Equal(t, "Un-mot-de-passe-solide", withPass[0].Env["OC_PASS"])
		// No user exists on the fake: the admin is added, in the admin group.
		assert.Contains(t, run.occArgs(), "user:add --password-from-env --group=admin -- camille")
		assert.Contains(t, run.occArgs(), "group:adduser admin camille")
	})
	t.Run("maintenance", func(t *testing.T) {
		d, run := newTestOcc(t)
		require.NoError(t, d.SetMaintenance(t.Context(), "amis-du-jardin", true))
		require.NoError(t, d.SetMaintenance(t.Context(), "amis-du-jardin", false))
		assert.Equal(t, []string{"maintenance:mode --on", "maintenance:mode --off"}, run.occArgs())
	})
	t.Run("the office suite chosen is enabled with the apps, the other disabled", func(t *testing.T) {
		d, run := newTestOcc(t)
		require.NoError(t, d.EnableApps(t.Context(), "amis-du-jardin", models.OfficeCollabora, []string{"calendar", "deck"}))
		assert.Equal(t, []string{"app:disable -- onlyoffice", "app:enable -- calendar deck richdocuments"}, run.occArgs())
	})
	t.Run("post-upgrade adds what occ upgrade leaves out", func(t *testing.T) {
		d, run := newTestOcc(t)
		require.NoError(t, d.PostUpgrade(t.Context(), "amis-du-jardin"))
		assert.Equal(t, []string{"db:add-missing-indices", "db:add-missing-columns", "db:add-missing-primary-keys"}, run.occArgs())
	})
	t.Run("install passes the database and a throw-away admin password", func(t *testing.T) {
		args := installArgs("pooler:6432", "nc_x", "nc_x", "dbpw", "admin", "tmp", "/srv/nextcloud/data/x")
		assert.Equal(t, []string{"maintenance:install", "--database=pgsql", "--database-host=pooler:6432",
			"--database-name=nc_x", "--database-user=nc_x", "--database-pass=dbpw", "--admin-user=admin",
			"--admin-pass=tmp", "--data-dir=/srv/nextcloud/data/x"}, args)
	})
	t.Run("a malformed slug never reaches a command", func(t *testing.T) {
		d, run := newTestOcc(t)
		assert.ErrorIs(t, d.Remove(t.Context(), "../etc"), ErrPermanent)
		assert.ErrorIs(t, d.SetMaintenance(t.Context(), "a b", true), ErrPermanent)
		assert.Empty(t, run.commands)
	})
	t.Run("the database password is stable per space and differs between spaces", func(t *testing.T) {
		d, _ := newTestOcc(t)
		assert.Equal(t, d.dbPassword("a"), d.dbPassword("a"))
		assert.NotEqual(t, d.dbPassword("a"), d.dbPassword("b"))
		assert.Len(t, d.dbPassword("a"), 43)
	})
}

func TestEnvOnStdin(t *testing.T) {
	cmd := Command{Args: []string{"sh", "-c", `printf '%s|%s|' "$OC_PASS" "$NEXTCLOUD_CONFIG_DIR"; cat`},
		Env:   map[string]string{"OC_PASS": "p@ss w'rd", "NEXTCLOUD_CONFIG_DIR": "/srv/c/x/"},
		Stdin: []byte("file contents")}
	t.Run("secrets are not on the command line", func(t *testing.T) {
		line, _ := remoteCommand(cmd, "www-data", 0)
		assert.NotContains(t, line, "p@ss")
		assert.True(t, strings.HasPrefix(line, "sudo -n -u www-data -- sh -c "), line)
	})
	t.Run("the program gets its environment, then its own input", func(t *testing.T) {
		args, stdin := envOnStdin(cmd)
		c := exec.Command(args[0], args[1:]...)
		c.Stdin = strings.NewReader(string(stdin))
		out, err := c.Output()
		require.NoError(t, err)
		assert.Equal(t, "p@ss w'rd|/srv/c/x/|file contents", string(out))
	})
	t.Run("with a limit, the web node stops the program itself, inside sudo", func(t *testing.T) {
		line, _ := remoteCommand(cmd, "www-data", 90*time.Second+time.Millisecond)
		assert.True(t, strings.HasPrefix(line, "sudo -n -u www-data -- timeout --kill-after=10 91 sh -c "), line)
		line, stdin := remoteCommand(Command{Args: []string{"sh", "-c", "sleep 5; echo trop tard"}}, "", time.Second)
		c := exec.Command("sh", "-c", line)
		c.Stdin = strings.NewReader(string(stdin))
		out, err := c.Output()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit)
		assert.Equal(t, 124, exit.ExitCode(), "timeout's exit code: the program was stopped")
		assert.Empty(t, string(out))
	})
	t.Run("the line a remote shell runs quotes every argument", func(t *testing.T) {
		line, stdin := remoteCommand(cmd, "", 0)
		c := exec.Command("sh", "-c", line)
		c.Stdin = strings.NewReader(string(stdin))
		out, err := c.Output()
		require.NoError(t, err)
		assert.Equal(t, "p@ss w'rd|/srv/c/x/|file contents", string(out))
	})
}

func TestLocalRunner(t *testing.T) {
	t.Run("a failure carries the exit code and output", func(t *testing.T) {
		_, err := LocalRunner{}.Run(t.Context(), Command{Args: []string{"sh", "-c", "echo refusé; exit 3"}})
		var exit *ExitError
		require.ErrorAs(t, err, &exit)
		assert.Equal(t, 3, exit.ExitCode)
		assert.Equal(t, "refusé", exit.Output)
	})
}

func TestDeactivatedMap(t *testing.T) {
	d, _ := newTestOcc(t)
	d.run = LocalRunner{}
	dir := t.TempDir()
	d.o.DeactivatedMap = filepath.Join(dir, "deactivated-spaces.map")
	reloaded := filepath.Join(dir, "reloaded")
	d.o.ReloadWeb = []string{"sh", "-c", "echo x >> " + reloaded}
	read := func() string {
		b, err := os.ReadFile(d.o.DeactivatedMap)
		require.NoError(t, err)
		return string(b)
	}
	reloads := func() int {
		b, _ := os.ReadFile(reloaded)
		return strings.Count(string(b), "x")
	}

	t.Run("deactivated spaces get one line each, as deploy/nginx/deactivated.conf reads", func(t *testing.T) {
		require.NoError(t, d.setMapLine(t.Context(), "atelier-velo", true))
		require.NoError(t, d.setMapLine(t.Context(), "amis-du-jardin", true))
		require.NoError(t, d.setMapLine(t.Context(), "atelier-velo", true))
		assert.Equal(t, "atelier-velo 1;\namis-du-jardin 1;\n", read())
		assert.Equal(t, 2, reloads(), "nginx reloads only when the map changed")
	})
	t.Run("reactivation takes the line out and keeps the others", func(t *testing.T) {
		require.NoError(t, d.setMapLine(t.Context(), "atelier-velo", false))
		require.NoError(t, d.setMapLine(t.Context(), "atelier-velo", false))
		assert.Equal(t, "amis-du-jardin 1;\n", read())
		assert.Equal(t, 3, reloads())
	})
	t.Run("a slug that contains another is not touched", func(t *testing.T) {
		require.NoError(t, d.setMapLine(t.Context(), "amis-du-jardin-2", true))
		require.NoError(t, d.setMapLine(t.Context(), "amis", false))
		assert.Equal(t, "amis-du-jardin 1;\namis-du-jardin-2 1;\n", read())
	})
}

func TestQuotaShare(t *testing.T) {
	const gb = int64(1) << 30
	t.Run("each user may use what they use plus what the space has left", func(t *testing.T) {
		perUser, newUsers := QuotaShare(50*gb, 12*gb, map[string]int64{"admin": 8 * gb, "bob": 2 * gb})
		assert.Equal(t, map[string]int64{"admin": 46 * gb, "bob": 40 * gb}, perUser)
		assert.Equal(t, 38*gb, newUsers)
	})
	t.Run("a full space lets nobody add anything", func(t *testing.T) {
		perUser, newUsers := QuotaShare(50*gb, 51*gb, map[string]int64{"admin": 30 * gb})
		assert.Equal(t, map[string]int64{"admin": 30 * gb}, perUser)
		assert.Zero(t, newUsers)
		assert.Equal(t, "1 B", quotaString(newUsers), "0 B would read as no limit")
	})
}

func TestPHPConfigFile(t *testing.T) {
	d, _ := newTestOcc(t)
	spec := InstallSpec{Slug: "amis-du-jardin", Domain: "amis-du-jardin.jardinier.example", Bucket: "space-amis-du-jardin"}
	files := map[string][]byte{
		"space":  d.spaceConfig(spec),
		"code":   d.codeConfig("amis-du-jardin", "31.0.9"),
		"limits": limitsConfig(models.DefaultLimits()),
	}
	t.Run("quotes what PHP would read otherwise", func(t *testing.T) {
		assert.Contains(t, string(files["space"]), `'secret' => 'it\'s secret',`)
		assert.Contains(t, string(files["space"]), `'class' => '\\OC\\Files\\ObjectStore\\S3',`)
		assert.Contains(t, string(files["space"]), `'memcache_customprefix' => 'nc-amis-du-jardin:',`)
		assert.Contains(t, string(files["code"]), `'path' => '/srv/nextcloud/code/31.0.9/apps',`)
		assert.Contains(t, string(files["limits"]), `'one-click-instance.user-limit' => 50,`)
	})
	php, err := exec.LookPath("php")
	if err != nil {
		t.Skip("php is not installed: the files are not read back")
	}
	t.Run("php reads the values back", func(t *testing.T) {
		dir := t.TempDir()
		for name, content := range files {
			p := filepath.Join(dir, name+".config.php")
			require.NoError(t, os.WriteFile(p, content, 0o600))
			out, err := exec.Command(php, "-r", `include $argv[1]; echo json_encode($CONFIG);`, p).CombinedOutput()
			require.NoError(t, err, string(out))
			switch name {
			case "space":
				assert.Contains(t, string(out), `"objectstore":{"class":"\\OC\\Files\\ObjectStore\\S3","arguments":{"bucket":"space-amis-du-jardin","hostname":"s3.internal","port":9000,"use_ssl":false,"use_path_style":true`)
				assert.Contains(t, string(out), `"trusted_domains":["amis-du-jardin.jardinier.example"]`)
				assert.Contains(t, string(out), `"secret":"it's secret"`)
				// memcache_customprefix is the key Nextcloud reads (lib/private/Server.php
				// from 33.0.1); "redis" holds only the connection (RedisFactory).
				assert.Contains(t, string(out), `"memcache.distributed":"\\OC\\Memcache\\Redis"`)
				assert.Contains(t, string(out), `"memcache_customprefix":"nc-amis-du-jardin:"`)
				assert.Contains(t, string(out), `"redis":{"host":"redis","port":6379}`)
			case "code":
				assert.Contains(t, string(out), `"apps_paths":[{"path":"\/srv\/nextcloud\/code\/31.0.9\/apps","url":"\/apps","writable":false},{"path":"\/srv\/nextcloud\/data\/amis-du-jardin\/apps","url":"\/custom_apps","writable":true}]`)
			case "limits":
				assert.Equal(t, `{"one-click-instance":true,"one-click-instance.user-limit":50}`, string(out))
			}
		}
	})
}

func TestVideoChecks(t *testing.T) {
	checks := videoChecks(500 << 20)
	assert.Equal(t, [4]string{flowCheckSize, "greater", "524288000 B",
		md5hex(flowCheckSize + "::greater::524288000 B")}, checks[1])
	assert.Equal(t, "matches", checks[0][1])
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestOccOptionsValidate(t *testing.T) {
	for variable, change := range map[string]func(*OccOptions){
		"NEXTCLOUD_CODE_ROOT":       func(o *OccOptions) { o.CodeRoot = "code" },
		"NEXTCLOUD_CONFIG_ROOT":     func(o *OccOptions) { o.ConfigRoot = "/" },
		"NEXTCLOUD_DB_HOST":         func(o *OccOptions) { o.DBHost = "pooler" },
		"NEXTCLOUD_SSH_HOST":        func(o *OccOptions) { o.SSHHost = "web1" },
		"SECRET_KEY":                func(o *OccOptions) { o.Secret = nil },
		"NEXTCLOUD_DEACTIVATED_MAP": func(o *OccOptions) { o.DeactivatedMap = "" },
		"NEXTCLOUD_HEALTH_URL":      func(o *OccOptions) { o.HealthURL = "web1:8080" },
		"NEXTCLOUD_RELOAD_PHP":      func(o *OccOptions) { o.ReloadPHP = []string{"kill", "-USR2", "$(cat", "/run/php.pid)"} },
	} {
		t.Run("names "+variable, func(t *testing.T) {
			o := testOptions()
			change(&o)
			err := o.withDefaults().Validate()
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), variable+":"), err.Error())
		})
	}
	assert.NoError(t, testOptions().withDefaults().Validate())
}

func TestSnapshotNames(t *testing.T) {
	d, _ := newTestOcc(t)
	t.Run("a snapshot belongs to its space", func(t *testing.T) {
		_, _, err := d.snapshotPaths("amis", "autre-20250101T000000Z")
		assert.ErrorIs(t, err, ErrPermanent)
		_, _, err = d.snapshotPaths("amis", "amis-../../etc")
		assert.ErrorIs(t, err, ErrPermanent)
		dump, config, err := d.snapshotPaths("amis", "amis-20250101T000000Z")
		require.NoError(t, err)
		assert.Equal(t, "/var/lib/jardinier/snapshots/amis-20250101T000000Z.dump", dump)
		assert.Equal(t, "/var/lib/jardinier/snapshots/amis-20250101T000000Z.config.php", config)
	})
	t.Run("versions of config.php become releases", func(t *testing.T) {
		assert.Equal(t, "29.0.6", releaseVersion("29.0.6.1"))
		assert.Equal(t, "29.0.6", releaseVersion("29.0.6"))
	})
	assert.False(t, errors.Is(nil, ErrPermanent))
}
