package nextcloud

import (
	"errors"
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"
	"time"

	"jardinier/models"
)

// OccName is what Occ.Name returns and what its logs carry as "driver".
const OccName = "occ"

// DefaultOccTimeout bounds one occ call: install and upgrade of an instance take tens
// of seconds; a call still running after that is stuck.
const DefaultOccTimeout = 10 * time.Minute

// OccOptions say where and how the occ driver finds the fleet's web node, code bases,
// configuration and data. Paths are on the web node.
type OccOptions struct {
	PHP        string        // the php binary; "php" by default
	CodeRoot   string        // the shared read-only code bases, one per version: <CodeRoot>/<version>/occ
	ConfigRoot string        // one configuration directory per space: <ConfigRoot>/<slug>
	DataRoot   string        // one data directory per space: <DataRoot>/<slug>
	WebUser    string        // the web server's user, who runs occ; "" runs as this process's user
	Timeout    time.Duration // of one call; DefaultOccTimeout if zero

	// SSH: when SSHHost is set, commands run on that web node over SSH.
	SSHHost       string // host or host:port
	SSHUser       string // logs in; may sudo -u WebUser, or be WebUser
	SSHKey        string // private key file, on this machine
	SSHKnownHosts string // known_hosts file checking the host's key, on this machine

	// What the spaces' instances are configured with.
	BaseDomain     string // spaces live at https://<slug>.<BaseDomain>
	DBHost         string // host:port the web nodes reach PostgreSQL at (the pooler)
	S3Endpoint     string // host:port of the object store, as the web nodes reach it
	S3AccessKey    string
	S3SecretKey    string
	S3TLS          bool
	S3Region       string
	RedisHost      string // host:port, or a unix socket path
	RedisPrefix    string // prepended to "<slug>:" as the key prefix of each space
	Secret         []byte // derives the spaces' database passwords; 32 bytes
	AppsURL        string // URL path the web server serves each space's own apps at
	SnapshotDir    string // where database snapshots are kept, on this machine
	DeactivatedMap string // the nginx map of deactivated spaces, on the web node
	// ReloadWeb is run on the web node after the map changed (e.g. "sudo -n
	// /usr/sbin/nginx -s reload"); empty: nothing is run.
	ReloadWeb []string
	// ReloadPHP is run on the web node after a space's code link moved to another code
	// base (e.g. "sudo -n /usr/bin/systemctl reload php8.2-fpm"), so that php-fpm drops
	// its realpath and opcache caches; empty: nothing is run, as nginx passes php-fpm
	// the resolved path ($realpath_root, deploy/nginx/space.conf).
	ReloadPHP []string
	// HealthURL is where the worker reaches a space over HTTP, through its web server:
	// {slug} in it is replaced by the space's slug; without it, requests go to that
	// address with the space's domain as their Host (a web node's own address).
	// "https://{slug}.<BaseDomain>" by default.
	HealthURL string
	// AccessControl enables the files_accesscontrol app, which enforces the maximum
	// size of video files; off on machines that cannot reach the app store.
	AccessControl bool
	// MailRelay is the operator's SMTP relay the spaces send their mail through
	// (password resets, share notifications), as an SMTP URL (NEXTCLOUD_SMTP_URL);
	// empty: the spaces send no mail.
	MailRelay string
	// MailFrom is the sender of the spaces' mail (NEXTCLOUD_MAIL_FROM); empty:
	// ne-pas-repondre@<slug>.<BaseDomain>, each space its own.
	MailFrom string
	// ApprovedApps are the apps EnableApps accepts besides the office suites, as the
	// operator approves them (NEXTCLOUD_APPS); DefaultApps if nil.
	ApprovedApps []string
	// AppStoreURL is the app store PrepareApps fetches the approved apps from;
	// DefaultAppStoreURL if empty.
	AppStoreURL string
}

// withDefaults returns o with its zero values replaced by defaults.
func (o OccOptions) withDefaults() OccOptions {
	if o.PHP == "" {
		o.PHP = "php"
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultOccTimeout
	}
	if o.AppsURL == "" {
		o.AppsURL = "/custom_apps"
	}
	if o.S3Region == "" {
		o.S3Region = "us-east-1"
	}
	if o.HealthURL == "" && o.BaseDomain != "" {
		o.HealthURL = "https://{slug}." + o.BaseDomain
	}
	if o.ApprovedApps == nil {
		o.ApprovedApps = DefaultApps
	}
	return o
}

// Validate checks o. Its errors name the environment variable that sets each field,
// as worker.NewNextcloudDriver fills them.
func (o OccOptions) Validate() error {
	abs := map[string]string{
		"NEXTCLOUD_CODE_ROOT":       o.CodeRoot,
		"NEXTCLOUD_CONFIG_ROOT":     o.ConfigRoot,
		"NEXTCLOUD_DATA_ROOT":       o.DataRoot,
		"NEXTCLOUD_SNAPSHOT_DIR":    o.SnapshotDir,
		"NEXTCLOUD_DEACTIVATED_MAP": o.DeactivatedMap,
	}
	for _, name := range sortedKeys(abs) {
		if !path.IsAbs(abs[name]) || path.Clean(abs[name]) == "/" {
			return fmt.Errorf("%s: want an absolute path other than /, got %q", name, abs[name])
		}
	}
	if o.SSHHost != "" && (o.SSHUser == "" || o.SSHKey == "" || o.SSHKnownHosts == "") {
		return errors.New("NEXTCLOUD_SSH_HOST: NEXTCLOUD_SSH_USER, NEXTCLOUD_SSH_KEY and NEXTCLOUD_SSH_KNOWN_HOSTS must be set too")
	}
	if o.BaseDomain == "" {
		return errors.New("BASE_DOMAIN: must be set")
	}
	for name, hp := range map[string]string{"NEXTCLOUD_DB_HOST": o.DBHost, "S3_ENDPOINT": o.S3Endpoint} {
		if _, port, err := net.SplitHostPort(hp); err != nil || port == "" {
			return fmt.Errorf("%s: want host:port, got %q", name, hp)
		}
	}
	if o.RedisHost == "" {
		return errors.New("NEXTCLOUD_REDIS: want host:port or a socket path")
	}
	if len(o.Secret) != 32 {
		return errors.New("SECRET_KEY: must be 32 bytes; it derives the spaces' database passwords")
	}
	if o.Timeout < 0 {
		return errors.New("NEXTCLOUD_OCC_TIMEOUT: must be positive")
	}
	if err := models.CheckHealthURL(o.HealthURL); err != nil {
		return fmt.Errorf("NEXTCLOUD_HEALTH_URL: %w", err)
	}
	if o.MailRelay != "" {
		if _, err := models.ParseSMTPURL(o.MailRelay); err != nil {
			return fmt.Errorf("NEXTCLOUD_SMTP_URL: %w", err)
		}
	}
	if o.MailFrom != "" && strings.Count(o.MailFrom, "@") != 1 {
		return fmt.Errorf("NEXTCLOUD_MAIL_FROM: want one address such as ne-pas-repondre@example.org, got %q", o.MailFrom)
	}
	if len(o.ReloadPHP) > 0 {
		if err := models.CheckCommand(o.ReloadPHP); err != nil {
			return fmt.Errorf("NEXTCLOUD_RELOAD_PHP: %w", err)
		}
	}
	return nil
}

// webTarget is where CheckWeb reaches the space slug: the URL of its root, and the Host
// its requests carry ("" to keep the URL's).
func (o OccOptions) webTarget(slug string) (root, host string) {
	if strings.Contains(o.HealthURL, "{slug}") {
		return strings.TrimSuffix(strings.ReplaceAll(o.HealthURL, "{slug}", slug), "/"), ""
	}
	return strings.TrimSuffix(o.HealthURL, "/"), slug + "." + o.BaseDomain
}

// redis returns the host and port of RedisHost; port 0 for a socket.
func (o OccOptions) redis() (string, int) {
	host, port, err := net.SplitHostPort(o.RedisHost)
	if err != nil {
		return o.RedisHost, 0
	}
	n, _ := strconv.Atoi(port)
	return host, n
}

// mailSender is the sender of the space slug's mail: MailFrom, or
// ne-pas-repondre@<slug>.<BaseDomain>.
func (o OccOptions) mailSender(slug string) (local, domain string) {
	from := o.MailFrom
	if from == "" {
		from = "ne-pas-repondre@" + slug + "." + o.BaseDomain
	}
	local, domain, _ = strings.Cut(from, "@")
	return local, domain
}

// mailConfig is the part of a space's configuration that sends its mail: through the
// relay when there is one (Nextcloud's mail_* settings, config.sample.php), and
// nowhere otherwise ("null": a space never falls back to PHP's mail()). Nextcloud
// speaks STARTTLS whenever the relay offers it; "ssl" is TLS from the first byte.
func (o OccOptions) mailConfig(slug string) phpArray {
	relay, err := models.ParseSMTPURL(o.MailRelay)
	if o.MailRelay == "" || err != nil {
		return phpArray{{"mail_smtpmode", "null"}}
	}
	secure := ""
	if relay.Implicit {
		secure = "ssl"
	}
	local, domain := o.mailSender(slug)
	return phpArray{
		{"mail_smtpmode", "smtp"},
		{"mail_smtphost", relay.Host},
		{"mail_smtpport", relay.Port},
		{"mail_smtpsecure", secure},
		{"mail_smtpauth", relay.User != ""},
		{"mail_smtpname", relay.User},
		{"mail_smtppassword", relay.Password},
		{"mail_from_address", local},
		{"mail_domain", domain},
	}
}
