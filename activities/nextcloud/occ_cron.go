package nextcloud

import (
	"context"
	"fmt"
	"path"
	"strings"
)

// cronSkipped is what the cron script prints, instead of running cron.php, for a space
// whose background jobs must not run.
const cronSkipped = "jardinier: cron skipped"

// cronScript runs cron.php for one space ($1: its configuration directory; then the
// php command) unless the space is not installed, paused for an upgrade (cron-paused)
// or in maintenance. One shell on the web node for all of it: the cron service runs it
// 2.9 million times a day for 10,000 spaces, and a second php process per run to read
// config.php would double the work. Maintenance is read the way Nextcloud writes it in
// config.php ('maintenance' => true,); cron.php checks it again itself.
const cronScript = `dir=$1; shift
if [ ! -f "$dir/config.php" ]; then echo "jardinier: not installed"; exit 0; fi
if [ -e "$dir/` + cronPausedFile + `" ]; then echo "` + cronSkipped + `: paused"; exit 0; fi
if grep -q "'maintenance' => true" "$dir/config.php"; then echo "` + cronSkipped + `: maintenance"; exit 0; fi
exec "$@"`

// cronCommand is the command the cron service runs for slug, as deploy/nextcloud.md
// describes it: php with APCu on, cron.php of the code base the space's code link points
// at, and the space's NEXTCLOUD_CONFIG_DIR.
func (d *Occ) cronCommand(slug string) Command {
	argv := []string{"sh", "-c", cronScript, "sh", d.configDir(slug), d.o.PHP, "-d", "apc.enable_cli=1",
		path.Join(d.configDir(slug), codeLink, "cron.php")}
	return Command{Args: argv, Env: map[string]string{"NEXTCLOUD_CONFIG_DIR": d.configDir(slug) + "/"}}
}

// RunCron implements Driver. Deactivated spaces are in maintenance, and skipped as
// such. ctx bounds the run, and so does the driver's timeout of one command.
func (d *Occ) RunCron(ctx context.Context, slug string) error {
	if err := checkSlug(slug); err != nil {
		return err
	}
	out, err := d.exec(ctx, d.cronCommand(slug))
	if err != nil {
		return fmt.Errorf("cron of %s: %w", slug, err)
	}
	switch s := strings.TrimSpace(string(out)); {
	case s == "jardinier: not installed":
		return fmt.Errorf("cron of %s: %w", slug, ErrNotInstalled)
	case strings.HasPrefix(s, cronSkipped):
		return fmt.Errorf("cron of %s: %s: %w", slug, strings.TrimPrefix(s, cronSkipped+": "), ErrCronSkipped)
	}
	return nil
}
