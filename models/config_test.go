package models_test

import (
	"encoding/base64"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/models"
)

// env is a fake environment for ConfigFromEnv.
type env map[string]string

func (e env) getenv(name string) string { return e[name] }

// configFrom reads a configuration from vars and nothing else: the test process's own
// environment must not leak in.
func configFrom(t *testing.T, vars env) (models.Config, error) {
	t.Helper()
	return models.ConfigFromEnv(vars.getenv)
}

func TestConfigFromEnv(t *testing.T) {
	t.Run("an empty environment gives the development defaults", func(t *testing.T) {
		c, err := configFrom(t, env{})
		require.NoError(t, err)
		assert.Equal(t, models.DefaultConfig(), c)
		assert.NoError(t, models.DefaultConfig().Validate(), "the defaults must pass their own checks")
	})

	key := []byte("fedcba9876543210fedcba9876543210")
	vars := env{
		"DATABASE_URL":        "postgres://jardinier:pw@db.internal:5432/jardinier",
		"TEMPORAL_ADDRESS":    "temporal.internal:7233",
		"TEMPORAL_NAMESPACE":  "prod",
		"S3_ENDPOINT":         "s3.internal:443",
		"S3_ACCESS_KEY":       "access",
		"S3_SECRET_KEY":       "secret",
		"S3_TLS":              "true",
		"S3_REGION":           "eu-west-3",
		"BUCKET_PREFIX":       "prod-space-",
		"SMTP_URL":            "smtps://user:pw@smtp.example.org:465",
		"MAIL_DIR":            "/var/mail/jardinier",
		"MAIL_FROM":           "Jardinier <noreply@jardinier.example.org>",
		"MODERATORS_EMAIL":    "moderation@jardinier.example.org",
		"NEXTCLOUD_DRIVER":    "sim",
		"NEXTCLOUD_VERSION":   "32.0.1",
		"NEXTCLOUD_SIM_DIR":   "/var/lib/jardinier/nextcloud-sim",
		"FLEET_DATABASE_URL":  "postgres://jardinier_admin:pw@fleet.internal:5432/postgres",
		"BASE_DOMAIN":         "jardinier.example.org",
		"PUBLIC_URL":          "https://jardinier.example.org",
		"TEMPORAL_UI_URL":     "https://temporal.example.org",
		"API_ADDR":            ":9090",
		"TRUSTED_PROXIES":     "10.0.0.1",
		"SUBMIT_RATE":         "3",
		"MAIL_RATE":           "2.5",
		"WORKFLOW_CACHE_SIZE": "5000",
		"SECRET_KEY":          base64.StdEncoding.EncodeToString(key),
		"INACTIVITY_POLICY":   "warn1=1h,warn2=2h,deactivate=3h,notice=4h,delete=5h",

		"NEXTCLOUD_SIM_UPGRADE_DURATION": "90s",
		"SPACE_LIMITS":                   "quota_gb=40, max_accounts=60,max_video_mb=700",
		"QUOTA_REBALANCE_EVERY":          "15m",
		"CRON_EVERY":                     "10m",
		"CRON_CONCURRENCY":               "48",
		"CRON_TIMEOUT":                   "5m",
		"NEXTCLOUD_SMTP_URL":             "smtp://relay.internal:25",
		"NEXTCLOUD_MAIL_FROM":            "espaces@jardinier.example.org",
		"NEXTCLOUD_APPS":                 "calendar, deck,,notes",
		"COLLABORA_URL":                  "https://collabora.jardinier.example.org",
		"ONLYOFFICE_URL":                 "https://onlyoffice.jardinier.example.org/",
		"ONLYOFFICE_JWT_SECRET":          "secret-jwt",
		"NEXTCLOUD_PHP":                  "/usr/bin/php8.3",
		"NEXTCLOUD_CODE_ROOT":            "/opt/nc/code",
		"NEXTCLOUD_CONFIG_ROOT":          "/opt/nc/config",
		"NEXTCLOUD_DATA_ROOT":            "/opt/nc/data",
		"NEXTCLOUD_WEB_USER":             "nginx",
		"NEXTCLOUD_SSH_HOST":             "web1.internal:2222",
		"NEXTCLOUD_SSH_USER":             "jardinier",
		"NEXTCLOUD_SSH_KEY":              "/etc/jardinier/id_ed25519",
		"NEXTCLOUD_SSH_KNOWN_HOSTS":      "/etc/jardinier/known_hosts",
		"NEXTCLOUD_DB_HOST":              "pooler.internal:6432",
		"NEXTCLOUD_REDIS":                "redis.internal:6379",
		"NEXTCLOUD_REDIS_PREFIX":         "prod-",
		"NEXTCLOUD_APPS_URL":             "/apps-extra",
		"NEXTCLOUD_SNAPSHOT_DIR":         "/srv/snapshots",
		"NEXTCLOUD_DEACTIVATED_MAP":      "/etc/nginx/deactivated.map",
		"NEXTCLOUD_RELOAD_WEB":           "sudo -n /usr/sbin/nginx -s reload",
		"NEXTCLOUD_RELOAD_PHP":           "sudo -n /usr/bin/systemctl reload php8.2-fpm",
		"NEXTCLOUD_HEALTH_URL":           "http://10.0.0.5:8080",
		"NEXTCLOUD_OCC_TIMEOUT":          "5m",
		"NEXTCLOUD_ACCESS_CONTROL":       "false",
		"NEXTCLOUD_APPSTORE_URL":         "https://apps-mirror.internal",
		"BACKUP_BUCKET":                  "prod-backups",
		"BACKUP_S3_ENDPOINT":             "s3.site2.internal:443",
		"BACKUP_S3_ACCESS_KEY":           "site2",
		"BACKUP_S3_SECRET_KEY":           "site2-secret",
		"BACKUP_S3_TLS":                  "true",
		"BACKUP_S3_REGION":               "eu-west-1",
		"BACKUP_CONCURRENCY":             "8",
		"BACKUP_WINDOW":                  "5h",
		"BACKUP_PG_BIN":                  "/usr/lib/postgresql/17/bin",
	}
	want := models.Config{
		DatabaseURL:       "postgres://jardinier:pw@db.internal:5432/jardinier",
		TemporalAddress:   "temporal.internal:7233",
		TemporalNamespace: "prod",
		S3Endpoint:        "s3.internal:443",
		S3AccessKey:       "access",
		S3SecretKey:       "secret",
		S3TLS:             true,
		S3Region:          "eu-west-3",
		BucketPrefix:      "prod-space-",
		SMTPURL:           "smtps://user:pw@smtp.example.org:465",
		MailDir:           "/var/mail/jardinier",
		MailFrom:          "Jardinier <noreply@jardinier.example.org>",
		ModeratorsEmail:   "moderation@jardinier.example.org",
		NextcloudDriver:   "sim",
		NextcloudVersion:  "32.0.1",
		NextcloudSimDir:   "/var/lib/jardinier/nextcloud-sim",
		Occ: models.OccConfig{
			PHP: "/usr/bin/php8.3", CodeRoot: "/opt/nc/code", ConfigRoot: "/opt/nc/config", DataRoot: "/opt/nc/data",
			WebUser: "nginx", SSHHost: "web1.internal:2222", SSHUser: "jardinier",
			SSHKey: "/etc/jardinier/id_ed25519", SSHKnownHosts: "/etc/jardinier/known_hosts",
			DBHost: "pooler.internal:6432", Redis: "redis.internal:6379", RedisPrefix: "prod-",
			AppsURL: "/apps-extra", SnapshotDir: "/srv/snapshots", DeactivatedMap: "/etc/nginx/deactivated.map",
			ReloadWeb: []string{"sudo", "-n", "/usr/sbin/nginx", "-s", "reload"}, Timeout: 5 * time.Minute,
			ReloadPHP: []string{"sudo", "-n", "/usr/bin/systemctl", "reload", "php8.2-fpm"},
			HealthURL: "http://10.0.0.5:8080", AppStoreURL: "https://apps-mirror.internal",
		},
		FleetDatabaseURL:  "postgres://jardinier_admin:pw@fleet.internal:5432/postgres",
		BaseDomain:        "jardinier.example.org",
		PublicURL:         "https://jardinier.example.org",
		TemporalUIURL:     "https://temporal.example.org",
		APIAddr:           ":9090",
		TrustedProxies:    []string{"10.0.0.1"},
		SubmitRate:        3,
		MailRate:          2.5,
		WorkflowCacheSize: 5000,
		SecretKey:         key,
		Policy: models.InactivityPolicy{Offsets: [5]time.Duration{
			time.Hour, 2 * time.Hour, 3 * time.Hour, 4 * time.Hour, 5 * time.Hour}},
		Limits: models.LimitsOf(60, 40, 700),

		NextcloudSimUpgradeDuration: 90 * time.Second,
		QuotaRebalanceEvery:         15 * time.Minute,
		Cron:                        models.CronConfig{Every: 10 * time.Minute, Concurrency: 48, Timeout: 5 * time.Minute},
		NextcloudSMTPURL:            "smtp://relay.internal:25",
		NextcloudMailFrom:           "espaces@jardinier.example.org",
		NextcloudApps:               []string{"calendar", "deck", "notes"},
		CollaboraURL:                "https://collabora.jardinier.example.org",
		OnlyOfficeURL:               "https://onlyoffice.jardinier.example.org/",
		OnlyOfficeJWTSecret:         "secret-jwt",
		Backup: models.BackupConfig{Bucket: "prod-backups", Endpoint: "s3.site2.internal:443", AccessKey: "site2",
			SecretKey: "site2-secret", TLS: true, Region: "eu-west-1", Concurrency: 8, Window: 5 * time.Hour,
			PGBin: "/usr/lib/postgresql/17/bin"},
	}

	t.Run("every variable overrides its default", func(t *testing.T) {
		c, err := configFrom(t, vars)
		require.NoError(t, err)
		assert.Equal(t, want, c)
	})

	for _, name := range slices.Sorted(maps.Keys(vars)) {
		t.Run(name+" alone overrides only its own setting", func(t *testing.T) {
			got, err := configFrom(t, env{name: vars[name]})
			require.NoError(t, err)
			assert.Equal(t, overrideOne(t, models.DefaultConfig(), want, name), got)
		})
	}

	t.Run("S3_TLS accepts the usual ways to say false", func(t *testing.T) {
		for _, v := range []string{"false", "0", "FALSE"} {
			c, err := configFrom(t, env{"S3_TLS": v})
			require.NoError(t, err, v)
			assert.False(t, c.S3TLS, v)
		}
	})

	t.Run("TRUSTED_PROXIES is a comma-separated list of addresses and networks", func(t *testing.T) {
		c, err := configFrom(t, env{"TRUSTED_PROXIES": "10.0.0.1, 192.168.0.0/16 ,::1"})
		require.NoError(t, err)
		assert.Equal(t, []string{"10.0.0.1", "192.168.0.0/16", "::1"}, c.TrustedProxies)
	})

	t.Run("TRUSTED_PROXIES ignores empty entries left by stray commas", func(t *testing.T) {
		c, err := configFrom(t, env{"TRUSTED_PROXIES": "10.0.0.1,, 10.0.0.2, "})
		require.NoError(t, err)
		assert.Equal(t, []string{"10.0.0.1", "10.0.0.2"}, c.TrustedProxies)
	})

	t.Run("the simulator keeps its spaces under .dev unless told otherwise", func(t *testing.T) {
		c, err := configFrom(t, env{})
		require.NoError(t, err)
		assert.Equal(t, ".dev/nextcloud-sim", c.NextcloudSimDir)
	})

	t.Run("NEXTCLOUD_SIM_DIR of - or none keeps the simulator's spaces in memory", func(t *testing.T) {
		for _, v := range []string{"-", "none"} {
			c, err := configFrom(t, env{"NEXTCLOUD_SIM_DIR": v})
			require.NoError(t, err, v)
			assert.Empty(t, c.NextcloudSimDir, v)
		}
	})

	t.Run("new spaces get the default approved apps unless NEXTCLOUD_APPS names others", func(t *testing.T) {
		c, err := configFrom(t, env{})
		require.NoError(t, err)
		assert.Equal(t, models.DefaultSpaceApps, c.NextcloudApps)
	})

	t.Run("quotas are shared out every 10 minutes unless told otherwise, and 0 stops it", func(t *testing.T) {
		c, err := configFrom(t, env{})
		require.NoError(t, err)
		assert.Equal(t, 10*time.Minute, c.QuotaRebalanceEvery)
		c, err = configFrom(t, env{"QUOTA_REBALANCE_EVERY": "0"})
		require.NoError(t, err)
		assert.Zero(t, c.QuotaRebalanceEvery)
	})

	t.Run("the simulator upgrades at once unless told otherwise", func(t *testing.T) {
		c, err := configFrom(t, env{})
		require.NoError(t, err)
		assert.Zero(t, c.NextcloudSimUpgradeDuration)
		c, err = configFrom(t, env{"NEXTCLOUD_SIM_UPGRADE_DURATION": "0"})
		require.NoError(t, err)
		assert.Zero(t, c.NextcloudSimUpgradeDuration)
	})

	t.Run("without FLEET_DATABASE_URL the spaces' databases are simulated", func(t *testing.T) {
		c, err := configFrom(t, env{})
		require.NoError(t, err)
		assert.Empty(t, c.FleetDatabaseURL)
	})

	t.Run("FLEET_DATABASE_URL accepts the postgresql scheme too", func(t *testing.T) {
		c, err := configFrom(t, env{"FLEET_DATABASE_URL": "postgresql://admin@10.0.0.5/postgres?sslmode=require"})
		require.NoError(t, err)
		assert.Equal(t, "postgresql://admin@10.0.0.5/postgres?sslmode=require", c.FleetDatabaseURL)
	})

	t.Run("NEXTCLOUD_HEALTH_URL may name the space's own address with {slug}", func(t *testing.T) {
		c, err := configFrom(t, env{"NEXTCLOUD_HEALTH_URL": "https://{slug}.internal.example.org"})
		require.NoError(t, err)
		assert.Equal(t, "https://{slug}.internal.example.org", c.Occ.HealthURL)
	})

	t.Run("without TRUSTED_PROXIES no proxy is trusted", func(t *testing.T) {
		c, err := configFrom(t, env{})
		require.NoError(t, err)
		assert.Empty(t, c.TrustedProxies)
	})

	for _, tc := range []struct {
		name, variable, value string
	}{
		{"S3_TLS that is not a boolean is refused", "S3_TLS", "maybe"},
		{"SUBMIT_RATE that is not a number is refused", "SUBMIT_RATE", "x"},
		{"SUBMIT_RATE of zero is refused", "SUBMIT_RATE", "0"},
		{"a negative SUBMIT_RATE is refused", "SUBMIT_RATE", "-5"},
		{"MAIL_RATE that is not a number is refused", "MAIL_RATE", "vite"},
		{"MAIL_RATE of zero is refused", "MAIL_RATE", "0"},
		{"a negative MAIL_RATE is refused", "MAIL_RATE", "-1"},
		{"an infinite MAIL_RATE is refused", "MAIL_RATE", "+Inf"},
		{"a WORKFLOW_CACHE_SIZE that is not a number is refused", "WORKFLOW_CACHE_SIZE", "grand"},
		{"a WORKFLOW_CACHE_SIZE below a fleet upgrade's room is refused", "WORKFLOW_CACHE_SIZE", "10"},
		{"a negative NEXTCLOUD_OCC_TIMEOUT is refused", "NEXTCLOUD_OCC_TIMEOUT", "-1s"},
		{"a zero NEXTCLOUD_OCC_TIMEOUT is refused", "NEXTCLOUD_OCC_TIMEOUT", "0s"},
		{"a NEXTCLOUD_OCC_TIMEOUT without a unit is refused", "NEXTCLOUD_OCC_TIMEOUT", "30"},
		{"a SECRET_KEY of the wrong length is refused", "SECRET_KEY",
			base64.StdEncoding.EncodeToString([]byte("only sixteen byt"))},
		{"a SECRET_KEY that is not base64 is refused", "SECRET_KEY", "not base64 at all!"},
		{"an app id that Nextcloud would not know is refused", "NEXTCLOUD_APPS", "calendar,../evil"},
		{"an SMTP_URL that is not smtp or smtps is refused", "SMTP_URL", "http://x"},
		{"an SMTP_URL without a host is refused", "SMTP_URL", "smtp://"},
		{"a NEXTCLOUD_DRIVER that does not exist is refused", "NEXTCLOUD_DRIVER", "kubernetes"},
		{"a relative PUBLIC_URL is refused", "PUBLIC_URL", "/jardinier"},
		{"a TEMPORAL_UI_URL that is not http(s) is refused", "TEMPORAL_UI_URL", "temporal.example.org"},
		{"a FLEET_DATABASE_URL that is not postgres is refused", "FLEET_DATABASE_URL", "mysql://root@db:3306/fleet"},
		{"a FLEET_DATABASE_URL without a host is refused", "FLEET_DATABASE_URL", "postgres:///postgres"},
		{"a FLEET_DATABASE_URL that is not a URL is refused", "FLEET_DATABASE_URL", "host=db user=admin"},
		{"a FLEET_DATABASE_URL that does not parse is refused", "FLEET_DATABASE_URL", "postgres://a:b@db:port/x"},
		{"an invalid MODERATORS_EMAIL is refused", "MODERATORS_EMAIL", "bad"},
		{"SPACE_LIMITS without the storage is refused", "SPACE_LIMITS", "max_accounts=50,max_video_mb=500"},
		{"SPACE_LIMITS with an unknown field is refused", "SPACE_LIMITS", "max_accounts=50,quota_gb=50,max_video_mb=500,users=3"},
		{"SPACE_LIMITS with videos larger than the storage is refused", "SPACE_LIMITS", "max_accounts=50,quota_gb=1,max_video_mb=2000"},
		{"a negative NEXTCLOUD_SIM_UPGRADE_DURATION is refused", "NEXTCLOUD_SIM_UPGRADE_DURATION", "-1s"},
		{"a QUOTA_REBALANCE_EVERY that is not a duration is refused", "QUOTA_REBALANCE_EVERY", "hourly"},
		{"a NEXTCLOUD_SIM_UPGRADE_DURATION without a unit is refused", "NEXTCLOUD_SIM_UPGRADE_DURATION", "90"},
		{"a NEXTCLOUD_RELOAD_PHP written for a shell is refused", "NEXTCLOUD_RELOAD_PHP",
			"systemctl reload php8.2-fpm && systemctl reload php8.3-fpm"},
		{"a NEXTCLOUD_RELOAD_PHP with a quoted word is refused", "NEXTCLOUD_RELOAD_PHP", `sh -c "kill -USR2 1"`},
		{"a NEXTCLOUD_HEALTH_URL without a scheme is refused", "NEXTCLOUD_HEALTH_URL", "{slug}.example.org"},
		{"a NEXTCLOUD_HEALTH_URL that is not http is refused", "NEXTCLOUD_HEALTH_URL", "ftp://web1/"},
		{"a NEXTCLOUD_HEALTH_URL without a host is refused", "NEXTCLOUD_HEALTH_URL", "https:///status"},
		{"a NEXTCLOUD_HEALTH_URL with a query is refused", "NEXTCLOUD_HEALTH_URL", "https://{slug}.example.org/?a=1"},
		{"a COLLABORA_URL without a scheme is refused", "COLLABORA_URL", "collabora.example.org"},
		{"an ONLYOFFICE_URL that is not http(s) is refused", "ONLYOFFICE_URL", "ftp://onlyoffice.example.org"},
		{"an ONLYOFFICE_URL with a user is refused", "ONLYOFFICE_URL", "https://admin:pw@onlyoffice.example.org"},
	} {
		t.Run(tc.name+" with an error naming the variable", func(t *testing.T) {
			_, err := configFrom(t, env{tc.variable: tc.value})
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), tc.variable+":"),
				"the error %q must start with the variable's name", err)
		})
	}

	t.Run("the password of FLEET_DATABASE_URL does not appear in its error message", func(t *testing.T) {
		_, err := configFrom(t, env{"FLEET_DATABASE_URL": "mysql://root:hunter2-secret@db/fleet"})
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "hunter2-secret")
	})

	t.Run("the secret key does not appear in its error message", func(t *testing.T) {
		bad := base64.StdEncoding.EncodeToString([]byte("a secret of the wrong size"))
		_, err := configFrom(t, env{"SECRET_KEY": bad})
		require.Error(t, err)
		assert.NotContains(t, err.Error(), bad)
	})
}

// overrideOne returns defaults with the setting of variable taken from full.
func overrideOne(t *testing.T, defaults, full models.Config, variable string) models.Config {
	t.Helper()
	c := defaults
	switch variable {
	case "DATABASE_URL":
		c.DatabaseURL = full.DatabaseURL
	case "TEMPORAL_ADDRESS":
		c.TemporalAddress = full.TemporalAddress
	case "TEMPORAL_NAMESPACE":
		c.TemporalNamespace = full.TemporalNamespace
	case "S3_ENDPOINT":
		c.S3Endpoint = full.S3Endpoint
	case "S3_ACCESS_KEY":
		c.S3AccessKey = full.S3AccessKey
	case "S3_SECRET_KEY":
		c.S3SecretKey = full.S3SecretKey
	case "S3_TLS":
		c.S3TLS = full.S3TLS
	case "S3_REGION":
		c.S3Region = full.S3Region
	case "BUCKET_PREFIX":
		c.BucketPrefix = full.BucketPrefix
	case "SMTP_URL":
		c.SMTPURL = full.SMTPURL
	case "MAIL_DIR":
		c.MailDir = full.MailDir
	case "MAIL_FROM":
		c.MailFrom = full.MailFrom
	case "MODERATORS_EMAIL":
		c.ModeratorsEmail = full.ModeratorsEmail
	case "NEXTCLOUD_DRIVER":
		c.NextcloudDriver = full.NextcloudDriver
	case "NEXTCLOUD_PHP":
		c.Occ.PHP = full.Occ.PHP
	case "NEXTCLOUD_CODE_ROOT":
		c.Occ.CodeRoot = full.Occ.CodeRoot
	case "NEXTCLOUD_CONFIG_ROOT":
		c.Occ.ConfigRoot = full.Occ.ConfigRoot
	case "NEXTCLOUD_DATA_ROOT":
		c.Occ.DataRoot = full.Occ.DataRoot
	case "NEXTCLOUD_WEB_USER":
		c.Occ.WebUser = full.Occ.WebUser
	case "NEXTCLOUD_SSH_HOST":
		c.Occ.SSHHost = full.Occ.SSHHost
	case "NEXTCLOUD_SSH_USER":
		c.Occ.SSHUser = full.Occ.SSHUser
	case "NEXTCLOUD_SSH_KEY":
		c.Occ.SSHKey = full.Occ.SSHKey
	case "NEXTCLOUD_SSH_KNOWN_HOSTS":
		c.Occ.SSHKnownHosts = full.Occ.SSHKnownHosts
	case "NEXTCLOUD_DB_HOST":
		c.Occ.DBHost = full.Occ.DBHost
	case "NEXTCLOUD_REDIS":
		c.Occ.Redis = full.Occ.Redis
	case "NEXTCLOUD_REDIS_PREFIX":
		c.Occ.RedisPrefix = full.Occ.RedisPrefix
	case "NEXTCLOUD_APPS_URL":
		c.Occ.AppsURL = full.Occ.AppsURL
	case "NEXTCLOUD_SNAPSHOT_DIR":
		c.Occ.SnapshotDir = full.Occ.SnapshotDir
	case "NEXTCLOUD_DEACTIVATED_MAP":
		c.Occ.DeactivatedMap = full.Occ.DeactivatedMap
	case "NEXTCLOUD_RELOAD_WEB":
		c.Occ.ReloadWeb = full.Occ.ReloadWeb
	case "NEXTCLOUD_RELOAD_PHP":
		c.Occ.ReloadPHP = full.Occ.ReloadPHP
	case "NEXTCLOUD_HEALTH_URL":
		c.Occ.HealthURL = full.Occ.HealthURL
	case "NEXTCLOUD_OCC_TIMEOUT":
		c.Occ.Timeout = full.Occ.Timeout
	case "NEXTCLOUD_ACCESS_CONTROL":
		c.Occ.AccessControl = full.Occ.AccessControl
	case "NEXTCLOUD_APPSTORE_URL":
		c.Occ.AppStoreURL = full.Occ.AppStoreURL
	case "NEXTCLOUD_VERSION":
		c.NextcloudVersion = full.NextcloudVersion
	case "NEXTCLOUD_SIM_DIR":
		c.NextcloudSimDir = full.NextcloudSimDir
	case "NEXTCLOUD_SIM_UPGRADE_DURATION":
		c.NextcloudSimUpgradeDuration = full.NextcloudSimUpgradeDuration
	case "NEXTCLOUD_APPS":
		c.NextcloudApps = full.NextcloudApps
	case "QUOTA_REBALANCE_EVERY":
		c.QuotaRebalanceEvery = full.QuotaRebalanceEvery
	case "CRON_EVERY":
		c.Cron.Every = full.Cron.Every
	case "CRON_CONCURRENCY":
		c.Cron.Concurrency = full.Cron.Concurrency
	case "CRON_TIMEOUT":
		c.Cron.Timeout = full.Cron.Timeout
	case "NEXTCLOUD_SMTP_URL":
		c.NextcloudSMTPURL = full.NextcloudSMTPURL
	case "NEXTCLOUD_MAIL_FROM":
		c.NextcloudMailFrom = full.NextcloudMailFrom
	case "FLEET_DATABASE_URL":
		c.FleetDatabaseURL = full.FleetDatabaseURL
	case "COLLABORA_URL":
		c.CollaboraURL = full.CollaboraURL
	case "ONLYOFFICE_URL":
		c.OnlyOfficeURL = full.OnlyOfficeURL
	case "ONLYOFFICE_JWT_SECRET":
		c.OnlyOfficeJWTSecret = full.OnlyOfficeJWTSecret
	case "BASE_DOMAIN":
		c.BaseDomain = full.BaseDomain
	case "PUBLIC_URL":
		c.PublicURL = full.PublicURL
	case "TEMPORAL_UI_URL":
		c.TemporalUIURL = full.TemporalUIURL
	case "API_ADDR":
		c.APIAddr = full.APIAddr
	case "TRUSTED_PROXIES":
		c.TrustedProxies = full.TrustedProxies
	case "SUBMIT_RATE":
		c.SubmitRate = full.SubmitRate
	case "MAIL_RATE":
		c.MailRate = full.MailRate
	case "WORKFLOW_CACHE_SIZE":
		c.WorkflowCacheSize = full.WorkflowCacheSize
	case "SECRET_KEY":
		c.SecretKey = full.SecretKey
	case "INACTIVITY_POLICY":
		c.Policy = full.Policy
	case "SPACE_LIMITS":
		c.Limits = full.Limits
	case "BACKUP_BUCKET":
		c.Backup.Bucket = full.Backup.Bucket
	case "BACKUP_S3_ENDPOINT":
		c.Backup.Endpoint = full.Backup.Endpoint
	case "BACKUP_S3_ACCESS_KEY":
		c.Backup.AccessKey = full.Backup.AccessKey
	case "BACKUP_S3_SECRET_KEY":
		c.Backup.SecretKey = full.Backup.SecretKey
	case "BACKUP_S3_TLS":
		c.Backup.TLS = full.Backup.TLS
	case "BACKUP_S3_REGION":
		c.Backup.Region = full.Backup.Region
	case "BACKUP_CONCURRENCY":
		c.Backup.Concurrency = full.Backup.Concurrency
	case "BACKUP_WINDOW":
		c.Backup.Window = full.Backup.Window
	case "BACKUP_PG_BIN":
		c.Backup.PGBin = full.Backup.PGBin
	default:
		t.Fatalf("no setting known for %s", variable)
	}
	return c
}
