package models

import (
	"encoding/base64"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is the configuration every Jardinier process reads from its environment.
// Defaults suit `make dev` on one machine; FromEnv checks every value at start-up.
type Config struct {
	DatabaseURL       string // DATABASE_URL
	TemporalAddress   string // TEMPORAL_ADDRESS
	TemporalNamespace string // TEMPORAL_NAMESPACE
	S3Endpoint        string // S3_ENDPOINT, host:port
	S3AccessKey       string // S3_ACCESS_KEY
	S3SecretKey       string // S3_SECRET_KEY
	S3TLS             bool   // S3_TLS
	S3Region          string // S3_REGION
	BucketPrefix      string // BUCKET_PREFIX
	SMTPURL           string // SMTP_URL; empty: mails are written to MailDir
	MailDir           string // MAIL_DIR
	MailFrom          string // MAIL_FROM
	ModeratorsEmail   string // MODERATORS_EMAIL
	// MailReturnPath (MAIL_RETURN_PATH), "bounces@<domain>", makes each mail's envelope
	// sender "bounces+<id>@<domain>" (VERP), so that a bounce names its mail; empty:
	// MAIL_FROM, and bounces are matched by their Message-ID alone.
	MailReturnPath string
	// BounceAddr (BOUNCE_ADDR) is where the worker listens for the relay's bounces over
	// SMTP, "host:port"; empty: no listener.
	BounceAddr string
	// MailRate (MAIL_RATE) is how many mails per second the whole fleet sends at most:
	// what the relay and the receiving providers accept without taking the service for
	// a spammer. Temporal's rate limit of the mail task queue enforces it across workers.
	MailRate float64
	// WorkflowCacheSize (WORKFLOW_CACHE_SIZE) is how many workflows a worker process
	// keeps in memory between their tasks (the SDK's sticky cache). A space waiting
	// weeks for its next step need not stay there: when its timer fires, the worker
	// reads its short history again. Each cached space holds about 43 KB; the cache
	// should hold the spaces a fleet upgrade runs at once (up to 1,000), or their
	// histories are read again at each of their steps.
	WorkflowCacheSize int
	NextcloudDriver   string    // NEXTCLOUD_DRIVER: sim
	NextcloudVersion  string    // NEXTCLOUD_VERSION: the version new spaces get
	NextcloudApps     []string  // NEXTCLOUD_APPS: the operator-approved apps every new space gets, comma-separated
	NextcloudSimDir   string    // NEXTCLOUD_SIM_DIR: the simulator's spaces, kept across restarts; "" (set "-" or "none"): in memory only
	Occ               OccConfig // NEXTCLOUD_*: where the occ driver finds the fleet (NEXTCLOUD_DRIVER=occ)
	FleetDatabaseURL  string    // FLEET_DATABASE_URL: admin postgres:// URL where the simulator creates the spaces' databases; empty: in memory
	BaseDomain        string    // BASE_DOMAIN: spaces live at https://<slug>.<BaseDomain>
	PublicURL         string    // PUBLIC_URL: where the API is reached, for links in mails
	TemporalUIURL     string    // TEMPORAL_UI_URL: the Temporal web UI, linked from the console's space pages; "" for no link
	APIAddr           string    // API_ADDR
	// MetricsAddr is where the worker and the cron runner serve /metrics (the API serves
	// it on API_ADDR); "" serves none. Each process on one machine needs its own.
	MetricsAddr string // METRICS_ADDR
	// MetricsPprof also serves Go's profiles (/debug/pprof/) on MetricsAddr, for an
	// operator or a benchmark profiling the worker; off by default.
	MetricsPprof   bool     // METRICS_PPROF
	TrustedProxies []string // TRUSTED_PROXIES, comma-separated addresses or CIDRs
	SubmitRate     int      // SUBMIT_RATE: applications per client address and hour
	SecretKey      []byte   // SECRET_KEY: 32 bytes, base64; seals secrets in workflow history
	// PayloadKeys encrypt every payload of the workflows' histories (TEMPORAL_PAYLOAD_KEYS);
	// none leaves them in clear, as the development server's tests read them.
	PayloadKeys []PayloadKey
	Policy      InactivityPolicy // INACTIVITY_POLICY: warn1=60d,warn2=75d,deactivate=90d,notice=105d,delete=120d
	// Limits (SPACE_LIMITS: max_accounts=50,quota_gb=50,max_video_mb=500) seeds the
	// first version of the fleet's default limits, on a database that has none; admins
	// change them afterwards (POST /api/v1/fleet/limits).
	Limits Limits

	// NextcloudSimUpgradeDuration (NEXTCLOUD_SIM_UPGRADE_DURATION) is how long each
	// `occ upgrade` of the simulator takes, to benchmark fleet upgrades; 0: at once.
	NextcloudSimUpgradeDuration time.Duration
	// QuotaRebalanceEvery (QUOTA_REBALANCE_EVERY) is how often every space's storage
	// quota is shared out again among its users, so that the shares follow use; 0 stops
	// it. Between two runs, users writing at once can take a space over its quota by
	// what it had left each (deploy/nextcloud.md, "Limits").
	QuotaRebalanceEvery time.Duration

	// Cron is how the cron service (`jardinier cron`) runs the spaces' background jobs.
	Cron CronConfig
	// NextcloudSMTPURL (NEXTCLOUD_SMTP_URL) is the operator's relay the spaces send
	// their mail through, as SMTP_URL; empty: the spaces send no mail.
	NextcloudSMTPURL string
	// NextcloudMailFrom (NEXTCLOUD_MAIL_FROM) is the sender of every space's mail;
	// empty: ne-pas-repondre@<slug>.<BASE_DOMAIN>.
	NextcloudMailFrom string

	// The operator's office servers, written into the app of each space's office suite
	// at install and again when they change (deploy/nextcloud.md, "Office suites").
	// CollaboraURL (COLLABORA_URL) is where the spaces reach Collabora Online;
	// OnlyOfficeURL (ONLYOFFICE_URL) the OnlyOffice document server, and
	// OnlyOfficeJWTSecret (ONLYOFFICE_JWT_SECRET) the secret both sign their requests
	// with. Empty: the suite's app stays without a server.
	CollaboraURL        string
	OnlyOfficeURL       string
	OnlyOfficeJWTSecret string
	// Backup says where the spaces' database backups go (BACKUP_*, models/backup.go).
	Backup BackupConfig
}

// DefaultSpaceApps are the operator-approved apps every new space gets unless
// NEXTCLOUD_APPS says otherwise; the office suite's app comes on top. They are what
// the service offers: Files, Text, Photos, Contacts, Circles and federation come with
// Nextcloud itself; Talk is "spreed", Announcements "announcementcenter"; the holiday
// calendars are the Calendar app's own (its "Holidays" subscriptions), the separate
// holiday_calendars app having no release since Nextcloud 26.
var DefaultSpaceApps = []string{"announcementcenter", "calendar", "collectives", "contacts", "deck", "forms",
	"groupfolders", "notes", "polls", "spreed", "tasks", "user_migration"}

// appID is what an app id of Nextcloud looks like.
var appID = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// DefaultWorkflowCacheSize is the workers' sticky cache (WORKFLOW_CACHE_SIZE): twice a
// fleet upgrade at its largest concurrency, a fifth of the SDK's default of 10,000.
// MinWorkflowCacheSize leaves room for the fleet's own workflows and an upgrade of 200.
const (
	DefaultWorkflowCacheSize = 2000
	MinWorkflowCacheSize     = 200
)

// DefaultConfig returns the configuration of a development machine.
func DefaultConfig() Config {
	return Config{
		DatabaseURL:       "postgres://postgres@127.0.0.1:5432/jardinier?sslmode=disable",
		TemporalAddress:   "127.0.0.1:7233",
		TemporalNamespace: "jardinier",
		S3Endpoint:        "127.0.0.1:9000",
		S3AccessKey:       "jardinier",
		S3SecretKey:       "jardinier-dev-secret",
		S3Region:          "us-east-1",
		BucketPrefix:      "space-",
		MailDir:           ".dev/mail",
		MailFrom:          "Jardinier <ne-pas-repondre@jardinier.localhost>",
		ModeratorsEmail:   "moderation@jardinier.localhost",
		MailRate:          5,
		WorkflowCacheSize: DefaultWorkflowCacheSize,
		NextcloudDriver:   "sim",
		Occ:               DefaultOccConfig(),
		NextcloudVersion:  "31.0.9",
		NextcloudSimDir:   ".dev/nextcloud-sim",
		NextcloudApps:     slices.Clone(DefaultSpaceApps),
		BaseDomain:        "jardinier.localhost",
		PublicURL:         "http://127.0.0.1:8080",
		TemporalUIURL:     "http://127.0.0.1:8233",
		APIAddr:           "127.0.0.1:8080",
		SubmitRate:        10,
		Policy:            DefaultInactivityPolicy(),
		Limits:            DefaultLimits(),
		// Short enough that shares follow uploads; a run over 10,000 spaces takes
		// about a minute of database work.
		QuotaRebalanceEvery: 10 * time.Minute,
		Cron:                DefaultCronConfig(),
		Backup:              DefaultBackupConfig(),
	}
}

// ConfigFromEnv returns DefaultConfig overridden by the environment, or an error that
// names the variable at fault.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	c := DefaultConfig()
	e := envReader{getenv: getenv}
	e.str("DATABASE_URL", &c.DatabaseURL)
	e.str("TEMPORAL_ADDRESS", &c.TemporalAddress)
	e.str("TEMPORAL_NAMESPACE", &c.TemporalNamespace)
	e.str("S3_ENDPOINT", &c.S3Endpoint)
	e.str("S3_ACCESS_KEY", &c.S3AccessKey)
	e.str("S3_SECRET_KEY", &c.S3SecretKey)
	e.boolean("S3_TLS", &c.S3TLS)
	e.str("S3_REGION", &c.S3Region)
	e.str("BUCKET_PREFIX", &c.BucketPrefix)
	e.str("SMTP_URL", &c.SMTPURL)
	e.str("MAIL_DIR", &c.MailDir)
	e.str("MAIL_FROM", &c.MailFrom)
	e.str("MODERATORS_EMAIL", &c.ModeratorsEmail)
	e.number("MAIL_RATE", &c.MailRate)
	e.integer("WORKFLOW_CACHE_SIZE", &c.WorkflowCacheSize)
	e.str("MAIL_RETURN_PATH", &c.MailReturnPath)
	e.str("BOUNCE_ADDR", &c.BounceAddr)
	e.str("NEXTCLOUD_DRIVER", &c.NextcloudDriver)
	e.str("NEXTCLOUD_VERSION", &c.NextcloudVersion)
	e.str("NEXTCLOUD_SIM_DIR", &c.NextcloudSimDir)
	c.Occ.read(&e)
	if c.NextcloudSimDir == "-" || c.NextcloudSimDir == "none" {
		c.NextcloudSimDir = ""
	}
	e.durationOrZero("NEXTCLOUD_SIM_UPGRADE_DURATION", &c.NextcloudSimUpgradeDuration)
	e.durationOrZero("QUOTA_REBALANCE_EVERY", &c.QuotaRebalanceEvery)
	e.str("FLEET_DATABASE_URL", &c.FleetDatabaseURL)
	e.duration("CRON_EVERY", &c.Cron.Every)
	e.integer("CRON_CONCURRENCY", &c.Cron.Concurrency)
	e.duration("CRON_TIMEOUT", &c.Cron.Timeout)
	e.str("NEXTCLOUD_SMTP_URL", &c.NextcloudSMTPURL)
	e.str("NEXTCLOUD_MAIL_FROM", &c.NextcloudMailFrom)
	e.str("COLLABORA_URL", &c.CollaboraURL)
	e.str("ONLYOFFICE_URL", &c.OnlyOfficeURL)
	e.str("ONLYOFFICE_JWT_SECRET", &c.OnlyOfficeJWTSecret)
	c.Backup.read(&e)
	e.str("BASE_DOMAIN", &c.BaseDomain)
	e.str("PUBLIC_URL", &c.PublicURL)
	e.str("TEMPORAL_UI_URL", &c.TemporalUIURL)
	e.str("API_ADDR", &c.APIAddr)
	e.str("METRICS_ADDR", &c.MetricsAddr)
	e.boolean("METRICS_PPROF", &c.MetricsPprof)
	e.list("NEXTCLOUD_APPS", &c.NextcloudApps)
	e.list("TRUSTED_PROXIES", &c.TrustedProxies)
	e.integer("SUBMIT_RATE", &c.SubmitRate)
	if v := getenv("INACTIVITY_POLICY"); v != "" {
		p, err := ParseInactivityPolicy(v)
		if err != nil {
			e.fail("INACTIVITY_POLICY", err.Error())
		}
		c.Policy = p
	}
	if v := getenv("TEMPORAL_PAYLOAD_KEYS"); v != "" {
		keys, err := ParsePayloadKeys(v)
		if err != nil {
			e.fail("TEMPORAL_PAYLOAD_KEYS", err.Error())
		}
		c.PayloadKeys = keys
	}
	if v := getenv("SPACE_LIMITS"); v != "" {
		l, err := ParseLimits(v)
		if err != nil {
			e.fail("SPACE_LIMITS", "want max_accounts=50,quota_gb=50,max_video_mb=500: "+err.Error())
		}
		c.Limits = l
	}
	if v := getenv("SECRET_KEY"); v != "" {
		key, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(key) != 32 {
			e.fail("SECRET_KEY", "must be 32 bytes encoded in base64 (openssl rand -base64 32)")
		}
		c.SecretKey = key
	}
	if e.err != nil {
		return c, e.err
	}
	return c, c.Validate()
}

// Validate checks values that have no sensible default or must agree with each other.
func (c Config) Validate() error {
	if _, err := url.Parse(c.DatabaseURL); err != nil || c.DatabaseURL == "" {
		return fmt.Errorf("DATABASE_URL: not a valid URL")
	}
	if c.SMTPURL != "" {
		u, err := url.Parse(c.SMTPURL)
		if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
			return fmt.Errorf("SMTP_URL: want smtp://[user:password@]host:port or smtps://..., got %q", c.SMTPURL)
		}
	}
	if c.NextcloudSMTPURL != "" {
		if _, err := ParseSMTPURL(c.NextcloudSMTPURL); err != nil {
			return fmt.Errorf("NEXTCLOUD_SMTP_URL: %w", err)
		}
	}
	if c.NextcloudMailFrom != "" {
		if err := ValidateEmail("NEXTCLOUD_MAIL_FROM", c.NextcloudMailFrom); err != nil {
			return fmt.Errorf("NEXTCLOUD_MAIL_FROM: not a valid address")
		}
	}
	for _, office := range [][2]string{{"COLLABORA_URL", c.CollaboraURL}, {"ONLYOFFICE_URL", c.OnlyOfficeURL}} {
		name, v := office[0], office[1]
		if v == "" {
			continue
		}
		// Not quoted: an operator may have put a password in it.
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("%s: want an http(s) URL without user, query or fragment, such as https://office.example.org", name)
		}
	}
	if err := c.Cron.validate(); err != nil {
		return err
	}
	if err := c.Backup.validate(); err != nil {
		return err
	}
	switch c.NextcloudDriver {
	case "sim":
	case "occ":
		if err := c.Occ.validate(c); err != nil {
			return err
		}
	default:
		return fmt.Errorf("NEXTCLOUD_DRIVER: %q is not available, use sim or occ", c.NextcloudDriver)
	}
	for _, app := range c.NextcloudApps {
		if !appID.MatchString(app) {
			return fmt.Errorf("NEXTCLOUD_APPS: %q is not a Nextcloud app id (lowercase letters, digits and _)", app)
		}
	}
	if c.FleetDatabaseURL != "" {
		// The URL is not quoted: it may hold a password.
		u, err := url.Parse(c.FleetDatabaseURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			return fmt.Errorf("FLEET_DATABASE_URL: want postgres://user:password@host:port/postgres")
		}
	}
	if u, err := url.Parse(c.PublicURL); err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("PUBLIC_URL: want an absolute URL such as https://jardinier.example.org, got %q", c.PublicURL)
	}
	if c.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil || port == "" {
			return fmt.Errorf("METRICS_ADDR: want host:port such as 127.0.0.1:9464, got %q", c.MetricsAddr)
		}
	}
	if c.TemporalUIURL != "" {
		if u, err := url.Parse(c.TemporalUIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("TEMPORAL_UI_URL: want an absolute http(s) URL such as https://temporal.example.org, got %q", c.TemporalUIURL)
		}
	}
	if c.SubmitRate < 1 {
		return fmt.Errorf("SUBMIT_RATE: must be at least 1 application per hour")
	}
	if c.WorkflowCacheSize < MinWorkflowCacheSize {
		return fmt.Errorf("WORKFLOW_CACHE_SIZE: must be at least %d workflows, such as %d", MinWorkflowCacheSize, DefaultWorkflowCacheSize)
	}
	if !(c.MailRate > 0) || math.IsInf(c.MailRate, 0) {
		return fmt.Errorf("MAIL_RATE: must be a number of mails per second above 0, such as 5 or 0.5")
	}
	if err := ValidateEmail("MODERATORS_EMAIL", c.ModeratorsEmail); err != nil {
		return fmt.Errorf("MODERATORS_EMAIL: not a valid address")
	}
	if c.MailReturnPath != "" {
		if err := ValidateEmail("MAIL_RETURN_PATH", c.MailReturnPath); err != nil || strings.Contains(c.MailReturnPath, "+") {
			return fmt.Errorf("MAIL_RETURN_PATH: want an address without \"+\", such as retours@jardinier.example.org")
		}
	}
	if c.BounceAddr != "" {
		if _, _, err := net.SplitHostPort(c.BounceAddr); err != nil {
			return fmt.Errorf("BOUNCE_ADDR: want host:port, such as 127.0.0.1:2525, got %q", c.BounceAddr)
		}
	}
	return nil
}

type envReader struct {
	getenv func(string) string
	err    error
}

func (e *envReader) fail(name, msg string) {
	if e.err == nil {
		e.err = fmt.Errorf("%s: %s", name, msg)
	}
}

func (e *envReader) str(name string, dst *string) {
	if v := e.getenv(name); v != "" {
		*dst = v
	}
}

func (e *envReader) boolean(name string, dst *bool) {
	if v := e.getenv(name); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			e.fail(name, "must be true or false")
		}
		*dst = b
	}
}

func (e *envReader) integer(name string, dst *int) {
	if v := e.getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			e.fail(name, "must be a whole number")
		}
		*dst = n
	}
}

func (e *envReader) number(name string, dst *float64) {
	if v := e.getenv(name); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			e.fail(name, "must be a number")
		}
		*dst = n
	}
}

func (e *envReader) duration(name string, dst *time.Duration) {
	if v := e.getenv(name); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			e.fail(name, "must be a positive duration such as 30s or 2m")
		}
		*dst = d
	}
}

// list reads a comma-separated list. Empty items are dropped: a stray comma would give
// gin an empty proxy address, which it refuses at start-up, or occ an empty app id.
func (e *envReader) list(name string, dst *[]string) {
	if v := e.getenv(name); v != "" {
		*dst = nil
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				*dst = append(*dst, item)
			}
		}
	}
}

// durationOrZero is duration where 0 is valid (it turns something off).
func (e *envReader) durationOrZero(name string, dst *time.Duration) {
	if v := e.getenv(name); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			e.fail(name, "must be a duration such as 90s or 2m, or 0")
		}
		*dst = d
	}
}

// OccConfig says where the occ driver (NEXTCLOUD_DRIVER=occ) finds the fleet: the web
// node it runs occ on, as which user, and the layout of code bases, configuration and
// data there. deploy/nextcloud.md describes each variable.
type OccConfig struct {
	PHP            string        // NEXTCLOUD_PHP: php binary on the web node
	CodeRoot       string        // NEXTCLOUD_CODE_ROOT: <root>/<version> are the shared code bases
	ConfigRoot     string        // NEXTCLOUD_CONFIG_ROOT: <root>/<slug> is a space's NEXTCLOUD_CONFIG_DIR
	DataRoot       string        // NEXTCLOUD_DATA_ROOT: <root>/<slug> is a space's data directory
	WebUser        string        // NEXTCLOUD_WEB_USER: runs occ; "" is the worker's user
	SSHHost        string        // NEXTCLOUD_SSH_HOST: web node reached over SSH; "": this machine
	SSHUser        string        // NEXTCLOUD_SSH_USER
	SSHKey         string        // NEXTCLOUD_SSH_KEY: private key file
	SSHKnownHosts  string        // NEXTCLOUD_SSH_KNOWN_HOSTS: known_hosts file
	DBHost         string        // NEXTCLOUD_DB_HOST: host:port of PostgreSQL for the web nodes; default FLEET_DATABASE_URL's
	Redis          string        // NEXTCLOUD_REDIS: host:port or socket of Redis
	RedisPrefix    string        // NEXTCLOUD_REDIS_PREFIX: before "<slug>:" in the spaces' Redis keys
	AppsURL        string        // NEXTCLOUD_APPS_URL: URL path of each space's own apps
	SnapshotDir    string        // NEXTCLOUD_SNAPSHOT_DIR: database snapshots, on the worker
	DeactivatedMap string        // NEXTCLOUD_DEACTIVATED_MAP: nginx map of deactivated spaces, on the web node
	ReloadWeb      []string      // NEXTCLOUD_RELOAD_WEB: command run after the map changed, split on spaces
	ReloadPHP      []string      // NEXTCLOUD_RELOAD_PHP: command run after a space's code link moved, split on spaces
	HealthURL      string        // NEXTCLOUD_HEALTH_URL: where the worker reaches a space over HTTP; {slug} is replaced
	Timeout        time.Duration // NEXTCLOUD_OCC_TIMEOUT: of one occ call
	AccessControl  bool          // NEXTCLOUD_ACCESS_CONTROL: enable files_accesscontrol (video size limit)
	AppStoreURL    string        // NEXTCLOUD_APPSTORE_URL: where the shared trees' apps come from (a mirror)
}

// DefaultOccConfig is the layout deploy/nextcloud.md describes.
func DefaultOccConfig() OccConfig {
	return OccConfig{
		PHP:            "php",
		CodeRoot:       "/srv/nextcloud/code",
		ConfigRoot:     "/srv/nextcloud/config",
		DataRoot:       "/srv/nextcloud/data",
		WebUser:        "www-data",
		Redis:          "127.0.0.1:6379",
		RedisPrefix:    "nc-",
		AppsURL:        "/custom_apps",
		SnapshotDir:    "/var/lib/jardinier/snapshots",
		DeactivatedMap: "/etc/nginx/jardinier/deactivated-spaces.map",
		Timeout:        10 * time.Minute,
		AccessControl:  true,
		AppStoreURL:    "https://apps.nextcloud.com",
	}
}

func (o *OccConfig) read(e *envReader) {
	e.str("NEXTCLOUD_PHP", &o.PHP)
	e.str("NEXTCLOUD_CODE_ROOT", &o.CodeRoot)
	e.str("NEXTCLOUD_CONFIG_ROOT", &o.ConfigRoot)
	e.str("NEXTCLOUD_DATA_ROOT", &o.DataRoot)
	e.str("NEXTCLOUD_WEB_USER", &o.WebUser)
	if o.WebUser == "-" {
		o.WebUser = ""
	}
	e.str("NEXTCLOUD_SSH_HOST", &o.SSHHost)
	e.str("NEXTCLOUD_SSH_USER", &o.SSHUser)
	e.str("NEXTCLOUD_SSH_KEY", &o.SSHKey)
	e.str("NEXTCLOUD_SSH_KNOWN_HOSTS", &o.SSHKnownHosts)
	e.str("NEXTCLOUD_DB_HOST", &o.DBHost)
	e.str("NEXTCLOUD_REDIS", &o.Redis)
	e.str("NEXTCLOUD_REDIS_PREFIX", &o.RedisPrefix)
	e.str("NEXTCLOUD_APPS_URL", &o.AppsURL)
	e.str("NEXTCLOUD_SNAPSHOT_DIR", &o.SnapshotDir)
	e.str("NEXTCLOUD_DEACTIVATED_MAP", &o.DeactivatedMap)
	if v := e.getenv("NEXTCLOUD_RELOAD_WEB"); v != "" {
		o.ReloadWeb = strings.Fields(v)
	}
	if v := e.getenv("NEXTCLOUD_RELOAD_PHP"); v != "" {
		o.ReloadPHP = strings.Fields(v)
		if err := CheckCommand(o.ReloadPHP); err != nil {
			e.fail("NEXTCLOUD_RELOAD_PHP", err.Error())
		}
	}
	if v := e.getenv("NEXTCLOUD_APPSTORE_URL"); v != "" {
		o.AppStoreURL = strings.TrimSuffix(v, "/")
		if err := CheckHealthURL(v); err != nil {
			e.fail("NEXTCLOUD_APPSTORE_URL", err.Error())
		}
	}
	if v := e.getenv("NEXTCLOUD_HEALTH_URL"); v != "" {
		o.HealthURL = v
		if err := CheckHealthURL(v); err != nil {
			e.fail("NEXTCLOUD_HEALTH_URL", err.Error())
		}
	}
	e.duration("NEXTCLOUD_OCC_TIMEOUT", &o.Timeout)
	e.boolean("NEXTCLOUD_ACCESS_CONTROL", &o.AccessControl)
}

// shellSyntax are the characters that mean something to a shell, which the commands of
// the configuration never go through.
const shellSyntax = ";&|<>()$`\\\"'*?~{}"

// CheckCommand checks a command of the configuration, split on spaces and run without a
// shell on a web node (NEXTCLOUD_RELOAD_PHP): shell syntax would reach the program as
// words of its own and do nothing of what it says.
func CheckCommand(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("empty command")
	}
	for _, a := range args {
		if strings.ContainsAny(a, shellSyntax) {
			return fmt.Errorf("%q: the command runs without a shell, split on spaces; put shell syntax in a script and name the script", a)
		}
	}
	return nil
}

// CheckHealthURL checks where the worker reaches a space over HTTP: an http or https
// URL; {slug} in it stands for the space's slug (https://{slug}.example.org), and
// without it requests go to that address with the space's domain as their Host
// (http://10.0.0.5:8080, a web node).
func CheckHealthURL(v string) error {
	u, err := url.Parse(strings.ReplaceAll(v, "{slug}", "slug"))
	switch {
	case err != nil:
		return fmt.Errorf("want an http or https URL, got %q", v)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("want an http or https URL, got %q", v)
	case u.Host == "":
		return fmt.Errorf("want a URL with a host, got %q", v)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return fmt.Errorf("want a URL without user, query or fragment, got %q", v)
	}
	return nil
}

// validate checks what the occ driver cannot start without; the driver checks the rest
// when it is built.
func (o OccConfig) validate(c Config) error {
	if c.FleetDatabaseURL == "" {
		return fmt.Errorf("FLEET_DATABASE_URL: must be set when NEXTCLOUD_DRIVER=occ")
	}
	for name, p := range map[string]string{"NEXTCLOUD_CODE_ROOT": o.CodeRoot, "NEXTCLOUD_CONFIG_ROOT": o.ConfigRoot,
		"NEXTCLOUD_DATA_ROOT": o.DataRoot, "NEXTCLOUD_SNAPSHOT_DIR": o.SnapshotDir,
		"NEXTCLOUD_DEACTIVATED_MAP": o.DeactivatedMap} {
		if !strings.HasPrefix(p, "/") || p == "/" {
			return fmt.Errorf("%s: want an absolute path other than /, got %q", name, p)
		}
	}
	if o.SSHHost != "" && (o.SSHUser == "" || o.SSHKey == "" || o.SSHKnownHosts == "") {
		return fmt.Errorf("NEXTCLOUD_SSH_HOST: NEXTCLOUD_SSH_USER, NEXTCLOUD_SSH_KEY and NEXTCLOUD_SSH_KNOWN_HOSTS must be set too")
	}
	return nil
}
