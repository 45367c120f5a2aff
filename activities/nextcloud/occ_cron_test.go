package nextcloud

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/models/modeltest"
)

func TestOccRunCron(t *testing.T) {
	root := t.TempDir()
	// php stands in for the web node's: it prints what it was given, and fails when
	// the space's directory asks it to.
	php := filepath.Join(root, "php")
	require.NoError(t, os.WriteFile(php, []byte(`#!/bin/sh
echo "args: $*" >> "${NEXTCLOUD_CONFIG_DIR}ran"
if [ -e "${NEXTCLOUD_CONFIG_DIR}fail" ]; then echo "PHP Fatal error" >&2; exit 3; fi
`), 0o755))
	fleet, err := NewFleetDB(modeltest.ServerURL())
	require.NoError(t, err)
	t.Cleanup(func() { fleet.Close() })
	o := testOptions()
	o.PHP, o.ConfigRoot, o.WebUser = php, filepath.Join(root, "config"), ""
	d, err := NewOcc(o, fleet, LocalRunner{}, nil)
	require.NoError(t, err)
	space := func(slug, config string) string {
		dir := filepath.Join(o.ConfigRoot, slug)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "config.php"), []byte(config), 0o644))
		return dir
	}
	ran := func(dir string) string {
		b, _ := os.ReadFile(filepath.Join(dir, "ran"))
		return string(b)
	}
	installed := "<?php\n$CONFIG = array (\n  'installed' => true,\n  'maintenance' => false,\n);\n"

	t.Run("runs cron.php of the space's code link with APCu on and its configuration directory", func(t *testing.T) {
		dir := space("amis-du-jardin", installed)
		require.NoError(t, d.RunCron(t.Context(), "amis-du-jardin"))
		assert.Equal(t, "args: -d apc.enable_cli=1 "+filepath.Join(dir, "code", "cron.php")+"\n", ran(dir))
	})
	t.Run("a failing cron.php gives its exit code", func(t *testing.T) {
		dir := space("en-echec", installed)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "fail"), nil, 0o644))
		err := d.RunCron(t.Context(), "en-echec")
		var exit *ExitError
		require.ErrorAs(t, err, &exit)
		assert.Equal(t, 3, exit.ExitCode)
		assert.Contains(t, exit.Output, "PHP Fatal error")
	})
	t.Run("a space paused for an upgrade is skipped", func(t *testing.T) {
		dir := space("en-pause", installed)
		require.NoError(t, os.WriteFile(filepath.Join(dir, cronPausedFile), nil, 0o644))
		assert.ErrorIs(t, d.RunCron(t.Context(), "en-pause"), ErrCronSkipped)
		assert.Empty(t, ran(dir))
	})
	t.Run("a space in maintenance is skipped", func(t *testing.T) {
		dir := space("en-maintenance", "<?php\n$CONFIG = array (\n  'installed' => true,\n  'maintenance' => true,\n);\n")
		assert.ErrorIs(t, d.RunCron(t.Context(), "en-maintenance"), ErrCronSkipped)
		assert.Empty(t, ran(dir))
	})
	t.Run("a space without configuration is not installed", func(t *testing.T) {
		err := d.RunCron(t.Context(), "inconnu")
		assert.ErrorIs(t, err, ErrNotInstalled)
		assert.False(t, errors.Is(err, ErrCronSkipped))
	})
}

func TestMailConfig(t *testing.T) {
	spec := InstallSpec{Slug: "amis-du-jardin", Domain: "amis-du-jardin.jardinier.example", Bucket: "space-amis-du-jardin"}
	read := func(t *testing.T, o OccOptions) string {
		t.Helper()
		php, err := exec.LookPath("php")
		if err != nil {
			t.Skip("php is not installed: the file is not read back")
		}
		fleet, err := NewFleetDB(modeltest.ServerURL())
		require.NoError(t, err)
		t.Cleanup(func() { fleet.Close() })
		d, err := NewOcc(o, fleet, &fakeRunner{}, nil)
		require.NoError(t, err)
		p := filepath.Join(t.TempDir(), configFileSpace)
		require.NoError(t, os.WriteFile(p, d.spaceConfig(spec), 0o600))
		out, err := exec.Command(php, "-r", `include $argv[1]; echo json_encode(array_filter($CONFIG, fn($k) => str_starts_with($k, 'mail_'), ARRAY_FILTER_USE_KEY));`, p).CombinedOutput()
		require.NoError(t, err, string(out))
		return string(out)
	}
	t.Run("the relay's settings and the space's own sender", func(t *testing.T) {
		o := testOptions()
		o.MailRelay = "smtps://relais%40operateur:mot'de%20passe@smtp.operateur.example:8465"
		assert.Equal(t, `{"mail_smtpmode":"smtp","mail_smtphost":"smtp.operateur.example","mail_smtpport":8465,"mail_smtpsecure":"ssl","mail_smtpauth":true,"mail_smtpname":"relais@operateur","mail_smtppassword":"mot'de passe","mail_from_address":"ne-pas-repondre","mail_domain":"amis-du-jardin.jardinier.example"}`, read(t, o))
	})
	t.Run("a relay without credentials, STARTTLS, and a configured sender", func(t *testing.T) {
		o := testOptions()
		o.MailRelay, o.MailFrom = "smtp://relay.internal:25", "espaces@jardinier.example"
		assert.Equal(t, `{"mail_smtpmode":"smtp","mail_smtphost":"relay.internal","mail_smtpport":25,"mail_smtpsecure":"","mail_smtpauth":false,"mail_smtpname":"","mail_smtppassword":"","mail_from_address":"espaces","mail_domain":"jardinier.example"}`, read(t, o))
	})
	t.Run("without a relay the space sends nothing", func(t *testing.T) {
		assert.Equal(t, `{"mail_smtpmode":"null"}`, read(t, testOptions()))
	})
	t.Run("a malformed relay is refused, naming the variable", func(t *testing.T) {
		o := testOptions()
		o.MailRelay = "http://relay.internal"
		assert.ErrorContains(t, o.withDefaults().Validate(), "NEXTCLOUD_SMTP_URL")
	})
}
