package nextcloud

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"jardinier/models"
)

// The files the driver keeps in a space's configuration directory, next to the
// config.php Nextcloud writes. Nextcloud merges every *.config.php into its
// configuration, their values winning over config.php's; each file holds what one
// method owns, so that one can be rewritten without knowing the others.
const (
	configFileSpace  = "jardinier.config.php" // Install: storage, caches, domain, data
	configFileCode   = "code.config.php"      // SwitchCode: the apps of the code base
	configFileLimits = "limits.config.php"    // ApplyLimits: the account limit
	codeLink         = "code"                 // SwitchCode: → <code root>/<version>, read by the web server and cron
	cronPausedFile   = "cron-paused"          // SetCron(false): the cron service skips the space
	nextcloudConfig  = "config.php"
)

// phpFlags are given to php before occ: APCu, the local cache of the web nodes, is off
// on the command line unless asked for, and Nextcloud then refuses to start.
var phpFlags = []string{"-d", "apc.enable_cli=1", "-d", "memory_limit=1G"}

// videoRuleName names the workflow rule that refuses video files over the limit.
const videoRuleName = "jardinier-max-video-size"

// Occ is the Driver of a real fleet: it runs occ, as the web server's user, on a web
// node (locally or over SSH) with the space's NEXTCLOUD_CONFIG_DIR, and reaches the
// spaces' databases through FleetDB. Every space runs from one of the shared read-only
// code bases <CodeRoot>/<version>; what differs is its configuration directory
// <ConfigRoot>/<slug> and data directory <DataRoot>/<slug>. It is safe for concurrent
// use on different spaces; the workflow of a space never runs two of its steps at once.
type Occ struct {
	o     OccOptions
	run   Runner
	fleet *FleetDB
	web   *http.Client // CheckWeb's
	log   *slog.Logger
}

var _ Driver = (*Occ)(nil)

// NewOcc returns the driver of the fleet o describes, creating databases through
// fleet, and running commands with run (a LocalRunner or an SSHRunner built from o
// when nil).
func NewOcc(o OccOptions, fleet *FleetDB, run Runner, log *slog.Logger) (*Occ, error) {
	o = o.withDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if fleet == nil {
		return nil, errors.New("FLEET_DATABASE_URL: must be set for the occ driver")
	}
	if run == nil {
		if o.SSHHost != "" {
			sudo := ""
			if o.WebUser != "" && o.WebUser != o.SSHUser {
				sudo = o.WebUser
			}
			r, err := NewSSHRunner(o.SSHHost, o.SSHUser, o.SSHKey, o.SSHKnownHosts, sudo)
			if err != nil {
				return nil, fmt.Errorf("NEXTCLOUD_SSH_HOST: %w", err)
			}
			run = r
		} else {
			run = LocalRunner{User: o.WebUser}
		}
	}
	if log == nil {
		log = slog.Default()
	}
	return &Occ{o: o, run: run, fleet: fleet, web: newWebClient(), log: log.With("driver", OccName)}, nil
}

// Name implements Driver.
func (d *Occ) Name() string { return OccName }

// The paths of a space, on the web node.
func (d *Occ) configDir(slug string) string { return path.Join(d.o.ConfigRoot, slug) }
func (d *Occ) dataDir(slug string) string   { return path.Join(d.o.DataRoot, slug) }
func (d *Occ) appsDir(slug string) string   { return path.Join(d.dataDir(slug), "apps") }
func (d *Occ) codeDir(version string) string {
	return path.Join(d.o.CodeRoot, version)
}

// occCommand returns the command running occ with args for the space slug, from the
// code base the space's code link points at.
func (d *Occ) occCommand(slug string, args ...string) Command {
	argv := append([]string{d.o.PHP}, phpFlags...)
	argv = append(argv, path.Join(d.configDir(slug), codeLink, "occ"), "--no-interaction", "--no-ansi")
	return Command{
		Args: append(argv, args...),
		Env:  map[string]string{"NEXTCLOUD_CONFIG_DIR": d.configDir(slug) + "/"},
	}
}

// occ runs occ for slug with a timeout and returns its standard output.
func (d *Occ) occ(ctx context.Context, slug string, args ...string) ([]byte, error) {
	return d.exec(ctx, d.occCommand(slug, args...))
}

// exec runs cmd with a timeout.
func (d *Occ) exec(ctx context.Context, cmd Command) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	start := time.Now()
	out, err := d.run.Run(ctx, cmd)
	d.log.Debug("Ran", "command", cmd.String(), "duration", time.Since(start), "error", err)
	return out, err
}

// sh runs a shell script with args ($1...) on the web node.
func (d *Occ) sh(ctx context.Context, stdin []byte, script string, args ...string) ([]byte, error) {
	return d.exec(ctx, Command{Args: append([]string{"sh", "-c", script, "sh"}, args...), Stdin: stdin})
}

// writeFile replaces the file at p with data, atomically and readable by its owner and
// group only: configuration files hold secrets.
func (d *Occ) writeFile(ctx context.Context, p string, data []byte) error {
	_, err := d.sh(ctx, data, `umask 027 && cat > "$1.tmp" && mv -f "$1.tmp" "$1"`, p)
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// fileExists reports whether p exists on the web node.
func (d *Occ) fileExists(ctx context.Context, p string) (bool, error) {
	out, err := d.sh(ctx, nil, `if [ -e "$1" ]; then echo yes; else echo no; fi`, p)
	if err != nil {
		return false, fmt.Errorf("look for %s: %w", p, err)
	}
	return strings.TrimSpace(string(out)) == "yes", nil
}

// CreateDatabase implements Driver: the role, with its password, and the database.
func (d *Occ) CreateDatabase(ctx context.Context, slug string) error {
	if err := d.fleet.Create(ctx, slug); err != nil {
		return err
	}
	return d.fleet.SetPassword(ctx, slug, d.dbPassword(slug))
}

// Install implements Driver. It needs the database (CreateDatabase), writes the
// space's configuration, points it at the code base of spec.Version, then installs
// Nextcloud unless config.php says it is; an install that stopped half-way (config.php
// not saying so, tables in the database) is started again on an emptied database. An
// installed space keeps its bucket, domain and version.
func (d *Occ) Install(ctx context.Context, spec InstallSpec) error {
	slug := spec.Slug
	if err := checkSlug(slug); err != nil {
		return err
	}
	if _, err := parseVersion(spec.Version); err != nil {
		return err
	}
	if spec.Domain == "" || spec.Bucket == "" {
		return permanent("install %s: domain and bucket are required", slug)
	}
	database, role, err := d.fleet.Exists(ctx, slug)
	if err != nil {
		return fmt.Errorf("install %s: %w", slug, err)
	}
	if !database || !role {
		// Creating it here could bring back the database of a space being removed.
		return permanent("install %s: the database of the space does not exist", slug)
	}
	if err := d.sameSpec(ctx, spec); err != nil {
		return err
	}
	// No apps directory of its own: a new space reads the approved apps of its
	// release from the shared tree, prepared below if it is not yet.
	if _, err := d.sh(ctx, nil, `umask 027 && mkdir -p "$1" "$2"`,
		d.configDir(slug), d.dataDir(slug)); err != nil {
		return fmt.Errorf("install %s: %w", slug, err)
	}
	if err := d.writeFile(ctx, path.Join(d.configDir(slug), configFileSpace), d.spaceConfig(spec)); err != nil {
		return fmt.Errorf("install %s: %w", slug, err)
	}
	installed, err := d.configInstalled(ctx, slug)
	if err != nil {
		return err
	}
	if !installed {
		if _, err := d.PrepareApps(ctx, spec.Version); err != nil {
			return fmt.Errorf("install %s: %w", slug, err)
		}
		// Only a space not installed yet may change code base here; an installed one
		// goes through the upgrade steps.
		if err := d.switchCode(ctx, slug, spec.Version); err != nil {
			return err
		}
		if err := d.install(ctx, spec); err != nil {
			return err
		}
	}
	// Settings that do not belong in the configuration files; idempotent.
	for _, args := range [][]string{
		{"background:cron"}, // the cron service runs cron.php; no AJAX cron on page loads
		{"config:app:set", "core", "shareapi_allow_links_password_default", "--value=yes"},
	} {
		if _, err := d.occ(ctx, slug, args...); err != nil {
			return fmt.Errorf("install %s: %w", slug, occError(err))
		}
	}
	return nil
}

// sameSpec refuses to install an installed space with another bucket, domain or
// version than it has: rewriting its configuration would point it at another bucket,
// and versions change through the upgrade steps.
func (d *Occ) sameSpec(ctx context.Context, spec InstallSpec) error {
	installed, err := d.configInstalled(ctx, spec.Slug)
	if err != nil || !installed {
		return err
	}
	version, err := d.readConfigValue(ctx, spec.Slug, "version")
	if err != nil {
		return err
	}
	spaceConfig := path.Join(d.configDir(spec.Slug), configFileSpace)
	bucket, err := d.readConfig(ctx, spaceConfig, "objectstore", "arguments", "bucket")
	if err != nil {
		return err
	}
	url, err := d.readConfig(ctx, spaceConfig, "overwrite.cli.url")
	if err != nil {
		return err
	}
	switch {
	case bucket != spec.Bucket:
		return permanent("install %s: already installed on bucket %q, not %q", spec.Slug, bucket, spec.Bucket)
	case url != "https://"+spec.Domain:
		return permanent("install %s: already installed at %s, not for domain %q", spec.Slug, url, spec.Domain)
	case releaseVersion(version) != spec.Version:
		return permanent("install %s: already installed at version %s, not %s: upgrade instead",
			spec.Slug, releaseVersion(version), spec.Version)
	}
	return nil
}

// install runs maintenance:install on an empty database.
func (d *Occ) install(ctx context.Context, spec InstallSpec) error {
	slug := spec.Slug
	empty, err := d.databaseEmpty(ctx, slug)
	if err != nil {
		return err
	}
	if !empty {
		d.log.Warn("Nextcloud install had stopped half-way; starting it again on an emptied database", "slug", slug)
		if err := d.resetDatabase(ctx, slug); err != nil {
			return err
		}
	}
	// What a previous attempt wrote: the installer refuses a config.php whose
	// instance id or secrets belong to another database.
	if _, err := d.sh(ctx, nil, `rm -f "$1"`, path.Join(d.configDir(slug), nextcloudConfig)); err != nil {
		return fmt.Errorf("install %s: %w", slug, err)
	}
	admin := spec.AdminUser
	if admin == "" {
		admin = "admin"
	}
	database, role := d.fleet.Names(slug)
	// The admin's password here is thrown away: CreateAdmin sets the real one, from
	// the environment rather than the command line.
	_, err = d.occ(ctx, slug, installArgs(d.o.DBHost, database, role, d.dbPassword(slug), admin,
		randomPassword(), d.dataDir(slug))...)
	if err != nil {
		return fmt.Errorf("install %s: %w", slug, occError(err))
	}
	// The installer logs the admin in, leaving a session token whose last use would
	// count as the space's first activity.
	if err := d.forgetInstallSession(ctx, slug); err != nil {
		return err
	}
	d.log.Info("Nextcloud installed", "slug", slug, "version", spec.Version)
	return nil
}

// installArgs are the arguments of occ maintenance:install.
func installArgs(dbHost, database, role, dbPassword, admin, adminPassword, dataDir string) []string {
	return []string{"maintenance:install",
		"--database=pgsql", "--database-host=" + dbHost, "--database-name=" + database,
		"--database-user=" + role, "--database-pass=" + dbPassword,
		"--admin-user=" + admin, "--admin-pass=" + adminPassword, "--data-dir=" + dataDir}
}

// spaceConfig is the configuration the driver owns of a space: where its files,
// caches and data live, and how it is reached.
func (d *Occ) spaceConfig(spec InstallSpec) []byte {
	host, port, _ := strings.Cut(d.o.S3Endpoint, ":")
	s3Port, _ := strconv.Atoi(port)
	redisHost, redisPort := d.o.redis()
	// The connection only: Nextcloud reads no "prefix" among these.
	redis := phpArray{{"host", redisHost}, {"port", redisPort}}
	return phpConfigFile("Written by Jardinier at install; rewritten, never edited.", append(phpArray{
		{"datadirectory", d.dataDir(spec.Slug)},
		{"objectstore", phpArray{
			{"class", `\OC\Files\ObjectStore\S3`},
			{"arguments", phpArray{
				{"bucket", spec.Bucket},
				{"hostname", host},
				{"port", s3Port},
				{"use_ssl", d.o.S3TLS},
				{"use_path_style", true},
				{"region", d.o.S3Region},
				{"key", d.o.S3AccessKey},
				{"secret", d.o.S3SecretKey},
				// The bucket is created, with its versioning, by the storage activities.
				{"autocreate", false},
			}},
		}},
		{"memcache.local", `\OC\Memcache\APCu`},
		{"memcache.distributed", `\OC\Memcache\Redis`},
		{"memcache.locking", `\OC\Memcache\Redis`},
		{"redis", redis},
		// What Nextcloud puts before every key it writes to Redis, from 33.0.1 (and the
		// 32 release it was backported to) on. Earlier releases read no prefix: their
		// keys start with md5(instance id, versions, code path), distinct for every space
		// but not telling which.
		{"memcache_customprefix", d.redisPrefix(spec.Slug)},
		{"trusted_domains", []string{spec.Domain}},
		{"overwrite.cli.url", "https://" + spec.Domain},
		{"overwriteprotocol", "https"},
		{"htaccess.RewriteBase", "/"},
		// No example files: they would count against the space's quota.
		{"skeletondirectory", ""},
		{"updatechecker", false},
		{"upgrade.disable-web", true},
		{"default_language", "fr"},
		{"default_locale", "fr_FR"},
		{"default_phone_region", "FR"},
	}, d.o.mailConfig(spec.Slug)...))
}

// redisPrefix starts the keys of the space slug in Redis.
func (d *Occ) redisPrefix(slug string) string { return d.o.RedisPrefix + slug + ":" }

// codeConfig points the space at the apps of the code base of version, and at its own
// writable apps directory for the apps installed from the app store.
func (d *Occ) codeConfig(slug, version string) []byte {
	return phpConfigFile("Written by Jardinier when the space changes code base.", phpArray{
		{"apps_paths", []phpArray{
			{{"path", path.Join(d.codeDir(version), "apps")}, {"url", "/apps"}, {"writable", false}},
			{{"path", d.appsDir(slug)}, {"url", d.o.AppsURL}, {"writable", true}},
		}},
	})
}

// limitsConfig enforces the account limit: Nextcloud's "one-click instance" mode
// refuses to create an account (by the web interface, occ or the provisioning API)
// once maxAccounts enabled accounts exist.
func limitsConfig(limits models.Limits) []byte {
	return phpConfigFile("Written by Jardinier: the limits of the space.", phpArray{
		{"one-click-instance", true},
		{"one-click-instance.user-limit", limits.MaxAccounts},
	})
}

// configInstalled reads config.php's "installed" without running occ.
func (d *Occ) configInstalled(ctx context.Context, slug string) (bool, error) {
	v, err := d.readConfigValue(ctx, slug, "installed")
	if err != nil {
		return false, err
	}
	return v == "1", nil
}

// readConfigValue reads one value of the space's config.php with php itself, which
// works whatever state the instance is in; "" if the file or the key is missing.
func (d *Occ) readConfigValue(ctx context.Context, slug, key string) (string, error) {
	return d.readConfig(ctx, path.Join(d.configDir(slug), nextcloudConfig), key)
}

// readConfig reads the value of a configuration file p at keys (one per level) with
// php; "" if the file or the key is missing.
func (d *Occ) readConfig(ctx context.Context, p string, keys ...string) (string, error) {
	out, err := d.exec(ctx, Command{Args: append([]string{d.o.PHP, "-r",
		`if (is_file($argv[1])) { include $argv[1]; $v = $CONFIG; foreach (array_slice($argv, 2) as $k) { $v = is_array($v) ? ($v[$k] ?? '') : ''; } echo is_scalar($v) ? $v : ''; }`,
		p}, keys...)})
	if err != nil {
		return "", fmt.Errorf("read %s of %s: %w", strings.Join(keys, "."), p, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// inMaintenance reads config.php's "maintenance" without running occ.
func (d *Occ) inMaintenance(ctx context.Context, slug string) (bool, error) {
	v, err := d.readConfigValue(ctx, slug, "maintenance")
	return v == "1", err
}

// CreateAdmin implements Driver: it adds the user to the admin group, or resets the
// password of the user that exists. The password travels in OC_PASS.
func (d *Occ) CreateAdmin(ctx context.Context, slug, user, password string) error {
	if user == "" || len(password) < minPasswordLength {
		return permanent("admin user name is empty or password shorter than %d characters", minPasswordLength)
	}
	if err := d.mustBeInstalled(ctx, slug); err != nil {
		return err
	}
	exists, err := d.userExists(ctx, slug, user)
	if err != nil {
		return err
	}
	cmd := d.occCommand(slug, "user:resetpassword", "--password-from-env", "--", user)
	if !exists {
		cmd = d.occCommand(slug, "user:add", "--password-from-env", "--group=admin", "--", user)
	}
	cmd.Env["OC_PASS"] = password
	if _, err := d.exec(ctx, cmd); err != nil {
		return fmt.Errorf("admin of %s: %w", slug, occError(err))
	}
	// A user:add that stopped after creating the account left it out of the group.
	if _, err := d.occ(ctx, slug, "group:adduser", "admin", user); err != nil {
		return fmt.Errorf("admin of %s: %w", slug, occError(err))
	}
	return nil
}

// userExists asks occ user:info, which exits with 1 for an unknown user.
func (d *Occ) userExists(ctx context.Context, slug, user string) (bool, error) {
	users, err := d.users(ctx, slug)
	if err != nil {
		return false, err
	}
	_, ok := users[user]
	return ok, nil
}

// users lists the accounts of the space: login → display name.
func (d *Occ) users(ctx context.Context, slug string) (map[string]string, error) {
	out, err := d.occ(ctx, slug, "user:list", "--output=json", "--limit=1000")
	if err != nil {
		return nil, fmt.Errorf("users of %s: %w", slug, occError(err))
	}
	return parseUserList(out)
}

// parseUserList reads `occ user:list --output=json`.
func parseUserList(out []byte) (map[string]string, error) {
	users := map[string]string{}
	// An instance without users prints [] rather than {}.
	if s := strings.TrimSpace(string(out)); s == "[]" {
		return users, nil
	}
	if err := json.Unmarshal(out, &users); err != nil {
		return nil, fmt.Errorf("read user list: %w: %q", err, cutOutput(string(out)))
	}
	return users, nil
}

// ApplyLimits implements Driver. Accounts: Nextcloud's own hard user limit
// (limitsConfig). Storage: Nextcloud has quotas per user only, so the space's quota is
// shared out (ShareQuota), and unlimited quotas are forbidden. Video files: a rule of
// the files_accesscontrol app refuses those over the limit.
func (d *Occ) ApplyLimits(ctx context.Context, slug string, limits models.Limits) error {
	if err := checkLimits(limits); err != nil {
		return err
	}
	if err := d.mustBeInstalled(ctx, slug); err != nil {
		return err
	}
	if err := d.writeFile(ctx, path.Join(d.configDir(slug), configFileLimits), limitsConfig(limits)); err != nil {
		return fmt.Errorf("limits of %s: %w", slug, err)
	}
	// The space's admin may not give anyone an unlimited quota, which would let the
	// space outgrow its own.
	if _, err := d.occ(ctx, slug, "config:app:set", "files", "allow_unlimited_quota", "--value=0"); err != nil {
		return fmt.Errorf("limits of %s: %w", slug, occError(err))
	}
	if _, err := d.ShareQuota(ctx, slug, limits.QuotaBytes); err != nil {
		return err
	}
	if err := d.setVideoRule(ctx, slug, limits.MaxVideoBytes); err != nil {
		return err
	}
	if d.o.AccessControl {
		if _, err := d.occ(ctx, slug, "app:enable", "files_accesscontrol"); err != nil {
			return fmt.Errorf("limits of %s: %w", slug, occError(err))
		}
	}
	return nil
}

// EnableApps implements Driver: the office suite's app and apps are enabled (app:enable
// downloads an app missing from the code base into the space's apps directory), the
// other office suite's app disabled.
func (d *Occ) EnableApps(ctx context.Context, slug string, office models.OfficeSuite, apps []string) error {
	officeApp, disable, err := checkApps(office, apps, d.o.ApprovedApps)
	if err != nil {
		return err
	}
	enable := slices.Clone(apps)
	if officeApp != "" {
		enable = append(enable, officeApp)
	}
	if err := d.mustBeInstalled(ctx, slug); err != nil {
		return err
	}
	for _, app := range disable {
		// app:disable of an app not enabled says so and succeeds.
		if _, err := d.occ(ctx, slug, "app:disable", "--", app); err != nil {
			return fmt.Errorf("apps of %s: %w", slug, occError(err))
		}
	}
	if len(enable) > 0 {
		if _, err := d.occ(ctx, slug, append([]string{"app:enable", "--"}, enable...)...); err != nil {
			return fmt.Errorf("apps of %s: %w", slug, occError(err))
		}
	}
	return nil
}

// occStatus is what `occ status --output=json` prints.
type occStatus struct {
	Installed      bool   `json:"installed"`
	Version        string `json:"version"`       // of the code, four numbers
	VersionString  string `json:"versionstring"` // of the code, as released
	Maintenance    bool   `json:"maintenance"`
	NeedsDBUpgrade bool   `json:"needsDbUpgrade"`
}

// parseStatus reads `occ status --output=json`. Nextcloud may print log lines or
// warnings around the JSON (a missing config.php, an app that cannot load): the status
// is the last line that is a JSON object with "installed".
func parseStatus(out []byte) (occStatus, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		line := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(line, `{"installed":`) {
			continue
		}
		var st occStatus
		if err := json.Unmarshal([]byte(line), &st); err == nil {
			return st, nil
		}
	}
	return occStatus{}, fmt.Errorf("read occ status: no status in %q", cutOutput(string(out)))
}

// Status implements Driver. Version is the installed version, which differs from the
// code base's half-way through an upgrade.
func (d *Occ) Status(ctx context.Context, slug string) (InstanceStatus, error) {
	if err := checkSlug(slug); err != nil {
		return InstanceStatus{}, err
	}
	installed, err := d.configInstalled(ctx, slug)
	if err != nil || !installed {
		return InstanceStatus{}, err
	}
	out, err := d.occ(ctx, slug, "status", "--output=json")
	if err != nil {
		return InstanceStatus{}, fmt.Errorf("status of %s: %w", slug, occError(err))
	}
	st, err := parseStatus(out)
	if err != nil {
		return InstanceStatus{}, err
	}
	v, err := d.readConfigValue(ctx, slug, "version")
	if err != nil {
		return InstanceStatus{}, err
	}
	return InstanceStatus{Installed: st.Installed, Version: releaseVersion(v), Maintenance: st.Maintenance}, nil
}

// releaseVersion turns Nextcloud's internal version (31.0.9.1) into its release
// (31.0.9).
func releaseVersion(v string) string {
	parts := strings.Split(v, ".")
	if len(parts) > 3 {
		parts = parts[:3]
	}
	return strings.Join(parts, ".")
}

// mustBeInstalled returns an error wrapping ErrNotInstalled if the space is not.
func (d *Occ) mustBeInstalled(ctx context.Context, slug string) error {
	if err := checkSlug(slug); err != nil {
		return err
	}
	installed, err := d.configInstalled(ctx, slug)
	if err != nil {
		return err
	}
	if !installed {
		return fmt.Errorf("space %q: %w", slug, ErrNotInstalled)
	}
	return nil
}

// SetMaintenance implements Driver.
func (d *Occ) SetMaintenance(ctx context.Context, slug string, on bool) error {
	if err := d.mustBeInstalled(ctx, slug); err != nil {
		return err
	}
	if _, err := d.occ(ctx, slug, maintenanceArgs(on)...); err != nil {
		return fmt.Errorf("maintenance of %s: %w", slug, occError(err))
	}
	return nil
}

func maintenanceArgs(on bool) []string {
	if on {
		return []string{"maintenance:mode", "--on"}
	}
	return []string{"maintenance:mode", "--off"}
}

// SetDeactivated implements Driver: maintenance mode, and the space's line in the nginx
// map of deactivated spaces (deploy/nginx/deactivated.conf), then a reload of nginx.
// Deactivation puts the instance in maintenance first, reactivation takes it out last,
// so that the space is never in service by one and not the other.
func (d *Occ) SetDeactivated(ctx context.Context, slug string, deactivated bool) error {
	if err := d.mustBeInstalled(ctx, slug); err != nil {
		return err
	}
	if deactivated {
		if err := d.SetMaintenance(ctx, slug, true); err != nil {
			return err
		}
	}
	if err := d.setMapLine(ctx, slug, deactivated); err != nil {
		return err
	}
	if !deactivated {
		return d.SetMaintenance(ctx, slug, false)
	}
	return nil
}

// mapScript adds ($3 = 1) or removes the line "$2 1;" of the map file $1, under a lock
// as every space's workflow writes the same file.
const mapScript = `set -e
f="$1"; line="$2 1;"
exec 9>>"$f.lock"
flock 9
touch "$f"
if [ "$3" = 1 ] && grep -qxF "$line" "$f"; then echo unchanged; exit 0; fi
grep -vxF "$line" "$f" > "$f.tmp" || true
if [ "$3" = 1 ]; then echo "$line" >> "$f.tmp"; fi
if cmp -s "$f" "$f.tmp"; then rm -f "$f.tmp"; echo unchanged; else mv -f "$f.tmp" "$f"; echo changed; fi`

// setMapLine puts slug in the map of deactivated spaces or takes it out, and reloads
// the web server when the map changed.
func (d *Occ) setMapLine(ctx context.Context, slug string, deactivated bool) error {
	on := "0"
	if deactivated {
		on = "1"
	}
	out, err := d.sh(ctx, nil, mapScript, d.o.DeactivatedMap, slug, on)
	if err != nil {
		return fmt.Errorf("deactivated map for %s: %w", slug, err)
	}
	if strings.TrimSpace(string(out)) == "changed" && len(d.o.ReloadWeb) > 0 {
		if _, err := d.exec(ctx, Command{Args: d.o.ReloadWeb}); err != nil {
			return fmt.Errorf("reload the web server for %s: %w", slug, err)
		}
	}
	return nil
}

// LastActivity implements Driver, reading the space's database.
func (d *Occ) LastActivity(ctx context.Context, slug string) (time.Time, error) {
	if err := d.mustBeInstalled(ctx, slug); err != nil {
		return time.Time{}, err
	}
	return d.lastActivity(ctx, slug)
}

// Remove implements Driver: the line of the deactivated map, the configuration and
// data directories, then the database and role, and the snapshots left. The bucket is
// the storage activities' to delete.
func (d *Occ) Remove(ctx context.Context, slug string) error {
	if err := checkSlug(slug); err != nil {
		return err
	}
	if err := d.setMapLine(ctx, slug, false); err != nil {
		return err
	}
	// The configuration goes first: a space without it is not installed, whatever is
	// left of the rest.
	if _, err := d.sh(ctx, nil, `rm -rf -- "$1" && rm -rf -- "$2"`, d.configDir(slug), d.dataDir(slug)); err != nil {
		return fmt.Errorf("remove %s: %w", slug, err)
	}
	if err := d.fleet.Drop(ctx, slug); err != nil {
		return err
	}
	if err := d.dropSnapshots(slug); err != nil {
		return err
	}
	d.log.Info("Nextcloud instance removed", "slug", slug)
	return nil
}

// SetCron implements Driver with a file in the space's configuration directory that
// the cron service honours: it does not run cron.php for a space holding cron-paused.
func (d *Occ) SetCron(ctx context.Context, slug string, enabled bool) error {
	if err := d.mustBeInstalled(ctx, slug); err != nil {
		return err
	}
	p := path.Join(d.configDir(slug), cronPausedFile)
	script := `umask 027 && : > "$1"`
	if enabled {
		script = `rm -f "$1"`
	}
	if _, err := d.sh(ctx, nil, script, p); err != nil {
		return fmt.Errorf("cron of %s: %w", slug, err)
	}
	return nil
}

// CodeVersion implements Driver: where the space's code link points.
func (d *Occ) CodeVersion(ctx context.Context, slug string) (string, error) {
	if err := d.mustBeInstalled(ctx, slug); err != nil {
		return "", err
	}
	out, err := d.sh(ctx, nil, `readlink "$1"`, path.Join(d.configDir(slug), codeLink))
	if err != nil {
		return "", fmt.Errorf("code version of %s: %w", slug, err)
	}
	return path.Base(strings.TrimSpace(string(out))), nil
}

// SwitchCode implements Driver. Switching to the code base the space runs from moves
// nothing; otherwise maintenance must be on, and the installed version must be allowed
// to move to version (CheckUpgrade): Nextcloud would refuse a skip or a downgrade and
// stay in maintenance, so the space never runs from such a code base. Once the link is
// there, ReloadPHP makes php-fpm drop its caches, every time: a retry after a crash
// between the move and the reload finds the link moved already, and must reload all
// the same.
func (d *Occ) SwitchCode(ctx context.Context, slug, version string) error {
	if err := d.mustBeInstalled(ctx, slug); err != nil {
		return err
	}
	if _, err := parseVersion(version); err != nil {
		return err
	}
	code, err := d.CodeVersion(ctx, slug)
	if err != nil {
		return err
	}
	if code == version {
		return d.reloadPHP(ctx, slug, version)
	}
	maintenance, err := d.inMaintenance(ctx, slug)
	if err != nil {
		return err
	}
	if !maintenance {
		// In service, a code base ahead of the database only shows "update needed".
		return permanent("switch %s to %s: maintenance mode is off", slug, version)
	}
	installed, err := d.readConfigValue(ctx, slug, "version")
	if err != nil {
		return err
	}
	if err := CheckUpgrade(releaseVersion(installed), version); err != nil {
		return fmt.Errorf("switch %s to %s: %w", slug, version, err)
	}
	if err := d.switchCode(ctx, slug, version); err != nil {
		return err
	}
	return d.reloadPHP(ctx, slug, version)
}

// switchCode writes the apps paths of the code base of version, then moves the code
// link, atomically.
func (d *Occ) switchCode(ctx context.Context, slug, version string) error {
	if _, err := parseVersion(version); err != nil {
		return err
	}
	code := d.codeDir(version)
	ok, err := d.fileExists(ctx, path.Join(code, "occ"))
	if err != nil {
		return err
	}
	if !ok {
		return permanent("no code base of Nextcloud %s at %s", version, code)
	}
	// The shared tree of the release when it is prepared (an upgrade's target always
	// is); back on a release without one (a rollback of a space installed before the
	// shared trees), the space's own apps directory again.
	shared, err := d.treePrepared(ctx, version)
	if err != nil {
		return err
	}
	config := d.codeConfig(slug, version)
	if shared {
		config = d.sharedCodeConfig(version)
	}
	if err := d.writeFile(ctx, path.Join(d.configDir(slug), configFileCode), config); err != nil {
		return fmt.Errorf("switch %s to %s: %w", slug, version, err)
	}
	if shared {
		// The web server serves the tree's assets through this link (deploy/nginx/space.conf).
		if _, err := d.sh(ctx, nil, `ln -sfn "$1" "$2.tmp" && mv -fT "$2.tmp" "$2"`, d.appsTree(version),
			path.Join(d.configDir(slug), sharedAppsLink)); err != nil {
			return fmt.Errorf("switch %s to %s: %w", slug, version, err)
		}
	}
	link := path.Join(d.configDir(slug), codeLink)
	if _, err := d.sh(ctx, nil, `ln -sfn "$1" "$2.tmp" && mv -fT "$2.tmp" "$2"`, code, link); err != nil {
		return fmt.Errorf("switch %s to %s: %w", slug, version, err)
	}
	return nil
}

// Upgrade implements Driver: occ upgrade, once the space runs from the code base of
// target, which the installed version may move to. Maintenance must be on; occ
// upgrade leaves it as it found it.
func (d *Occ) Upgrade(ctx context.Context, slug, target string) error {
	st, err := d.Status(ctx, slug)
	if err != nil {
		return err
	}
	if !st.Installed {
		return fmt.Errorf("space %q: %w", slug, ErrNotInstalled)
	}
	if st.Version == target {
		return nil
	}
	if err := CheckUpgrade(st.Version, target); err != nil {
		return err
	}
	code, err := d.CodeVersion(ctx, slug)
	if err != nil {
		return err
	}
	if code != target {
		return permanent("upgrade %s to %s: it runs from the code base of %s", slug, target, code)
	}
	if !st.Maintenance {
		return permanent("upgrade %s to %s: maintenance mode is off", slug, target)
	}
	if _, err := d.occ(ctx, slug, "upgrade"); err != nil {
		return fmt.Errorf("upgrade %s to %s: %w", slug, target, occError(err))
	}
	return nil
}

// postUpgradeCommands are the slow steps occ upgrade leaves out.
var postUpgradeCommands = [][]string{
	{"db:add-missing-indices"},
	{"db:add-missing-columns"},
	{"db:add-missing-primary-keys"},
}

// PostUpgrade implements Driver. It runs in service: maintenance must be off.
func (d *Occ) PostUpgrade(ctx context.Context, slug string) error {
	if err := d.mustBeInstalled(ctx, slug); err != nil {
		return err
	}
	maintenance, err := d.inMaintenance(ctx, slug)
	if err != nil {
		return err
	}
	if maintenance {
		return permanent("post-upgrade steps of %s run in service: maintenance mode is on", slug)
	}
	for _, args := range postUpgradeCommands {
		if _, err := d.occ(ctx, slug, args...); err != nil {
			return fmt.Errorf("after the upgrade of %s: %w", slug, occError(err))
		}
	}
	if d.o.AccessControl {
		// occ upgrade disables the apps not made for the new version, and only brings
		// them back if the app store has theirs: without it, video files would no
		// longer be checked.
		if _, err := d.occ(ctx, slug, "app:enable", "files_accesscontrol"); err != nil {
			return fmt.Errorf("after the upgrade of %s: %w", slug, occError(err))
		}
	}
	return nil
}

// occError marks as permanent the failures of occ that retrying cannot fix: occ ran
// and said no (exit code 1, a command refused or unknown). Others (the web node
// unreachable, a timeout, occ killed) may pass.
func occError(err error) error {
	var exit *ExitError
	if errors.As(err, &exit) && exit.ExitCode == 1 && !transientOutput(exit.Output) {
		return fmt.Errorf("%w (%w)", err, ErrPermanent)
	}
	return err
}

// transientOutput recognises, in occ's output, failures of what Nextcloud depends on
// (database, Redis, object store, app store), which pass. An app the app store could
// not give is one of them: only operator-approved apps are asked for, so they exist,
// and the store or the network is out.
func transientOutput(out string) bool {
	for _, s := range []string{"SQLSTATE[08", "Connection refused", "RedisException", "timed out",
		"Could not resolve host", "Failed to connect", "Too many connections", "Maintenance mode is enabled",
		"Could not download app"} {
		if strings.Contains(out, s) {
			return true
		}
	}
	return false
}

// randomPassword returns a password nobody needs to know.
func randomPassword() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
