package nextcloud

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/driver/postgres"
)

// dbPassword is the password of the space's role, derived from the driver's secret:
// the same at every retry of an install, and kept nowhere but in the space's
// config.php.
func (d *Occ) dbPassword(slug string) string {
	mac := hmac.New(sha256.New, d.o.Secret)
	mac.Write([]byte("nextcloud database password\x00" + slug))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// SetPassword sets the password the role of the space slug logs in with. A malformed
// slug or password is refused with an error wrapping ErrPermanent.
func (f *FleetDB) SetPassword(ctx context.Context, slug, password string) error {
	if err := checkSlug(slug); err != nil {
		return err
	}
	// ALTER ROLE takes no parameters: the password is a literal, so only characters
	// that need no quoting are accepted.
	if len(password) < 16 || strings.Trim(password, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "" {
		return permanent("role password must be at least 16 letters, digits, - or _")
	}
	_, role := f.Names(slug)
	if err := f.exec(ctx, "ALTER ROLE "+quoteIdent(role)+" PASSWORD '"+password+"'"); err != nil {
		return fmt.Errorf("set password of role %q on %s: %w", role, f.server, err)
	}
	return nil
}

// connConfig returns the connection settings of the fleet's admin role, to the
// database of the space slug.
func (f *FleetDB) connConfig(slug string) (*pgx.ConnConfig, error) {
	dialector, ok := f.db.Dialector.(*postgres.Dialector)
	if !ok {
		return nil, errors.New("fleet database: not a PostgreSQL connection")
	}
	cfg, err := pgx.ParseConfig(dialector.Config.DSN)
	if err != nil {
		return nil, fmt.Errorf("fleet database %s: %w", f.server, err)
	}
	cfg.Database, _ = f.Names(slug)
	return cfg, nil
}

// spaceConn opens a connection, as the fleet's admin, to the database of the space
// slug. Reads there go through the admin rather than the space's role: what
// Nextcloud's tables say must not depend on what the space's admin did.
func (d *Occ) spaceConn(ctx context.Context, slug string) (*pgx.Conn, error) {
	cfg, err := d.fleet.connConfig(slug)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("database of %s: %w", slug, err)
	}
	return conn, nil
}

// withSpaceDB runs fn on a connection to the database of the space slug.
func (d *Occ) withSpaceDB(ctx context.Context, slug string, fn func(*pgx.Conn) error) error {
	conn, err := d.spaceConn(ctx, slug)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return fn(conn)
}

// databaseEmpty reports whether the space's database has no table yet.
func (d *Occ) databaseEmpty(ctx context.Context, slug string) (bool, error) {
	var tables int
	err := d.withSpaceDB(ctx, slug, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables)
	})
	if err != nil {
		return false, fmt.Errorf("tables of %s: %w", slug, err)
	}
	return tables == 0, nil
}

// resetDatabase empties the space's database, as its role so that the new schema is
// the role's.
func (d *Occ) resetDatabase(ctx context.Context, slug string) error {
	_, role := d.fleet.Names(slug)
	err := d.withSpaceDB(ctx, slug, func(c *pgx.Conn) error {
		for _, q := range []string{
			"SET ROLE " + quoteIdent(role),
			"DROP SCHEMA IF EXISTS public CASCADE",
			"CREATE SCHEMA public",
		} {
			if _, err := c.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("empty the database of %s: %w", slug, err)
	}
	return nil
}

// forgetInstallSession deletes the auth tokens and last logins of a space just
// installed: only the installer's login of the admin can be there.
func (d *Occ) forgetInstallSession(ctx context.Context, slug string) error {
	err := d.withSpaceDB(ctx, slug, func(c *pgx.Conn) error {
		if _, err := c.Exec(ctx, `DELETE FROM oc_authtoken`); err != nil {
			return err
		}
		_, err := c.Exec(ctx, `DELETE FROM oc_preferences WHERE appid = 'login' AND configkey = 'lastLogin'`)
		return err
	})
	if err != nil {
		return fmt.Errorf("install %s: forget the installer's session: %w", slug, err)
	}
	return nil
}

// lastActivityQuery is the latest of the users' last password login (preferences
// login/lastLogin, Unix seconds as text) and of the auth tokens' last use (sync
// clients and app passwords touch only those); NULL if neither ever happened.
const lastActivityQuery = `SELECT GREATEST(
	(SELECT max(configvalue::bigint) FROM oc_preferences
	  WHERE appid = 'login' AND configkey = 'lastLogin' AND configvalue ~ '^[0-9]{1,12}$'),
	(SELECT max(last_activity) FROM oc_authtoken))`

// lastActivity runs lastActivityQuery on the space's database.
func (d *Occ) lastActivity(ctx context.Context, slug string) (last time.Time, err error) {
	err = d.withSpaceDB(ctx, slug, func(c *pgx.Conn) error {
		last, err = readLastActivity(ctx, c)
		return err
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("last activity of %s: %w", slug, err)
	}
	return last, nil
}

// readLastActivity runs lastActivityQuery on a connection or a transaction: the zero
// time if nobody ever used the space.
func readLastActivity(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}) (time.Time, error) {
	var seconds *int64
	if err := q.QueryRow(ctx, lastActivityQuery).Scan(&seconds); err != nil {
		return time.Time{}, err
	}
	if seconds == nil || *seconds <= 0 {
		return time.Time{}, nil
	}
	return time.Unix(*seconds, 0).UTC(), nil
}

// storageUsageQuery gives the size of each storage's root: a user's home (files,
// versions, trash) on storage object::user:<login>, the instance's own data
// (previews, app data) on object::store:... All of it sits in the space's bucket.
const storageUsageQuery = `SELECT s.id, greatest(fc.size, 0),
	coalesce((SELECT greatest(f.size, 0) FROM oc_filecache f WHERE f.storage = s.numeric_id AND f.path = 'files'), 0)
	FROM oc_storages s JOIN oc_filecache fc ON fc.storage = s.numeric_id AND fc.path = ''`

// querier is a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// readStorageUsage returns what a space holds in all, and what each user's files take
// (storageUsageQuery).
func readStorageUsage(ctx context.Context, q querier) (total int64, files map[string]int64, err error) {
	rows, err := q.Query(ctx, storageUsageQuery)
	if err != nil {
		return 0, nil, fmt.Errorf("storage used: %w", err)
	}
	defer rows.Close()
	files = map[string]int64{}
	for rows.Next() {
		var id string
		var size, userFiles int64
		if err := rows.Scan(&id, &size, &userFiles); err != nil {
			return 0, nil, fmt.Errorf("storage used: %w", err)
		}
		total += size
		if user, ok := strings.CutPrefix(id, "object::user:"); ok {
			files[user] = userFiles
		} else if user, ok := strings.CutPrefix(id, "home::"); ok {
			files[user] = userFiles
		}
	}
	if err := rows.Err(); err != nil {
		return 0, nil, fmt.Errorf("storage used: %w", err)
	}
	return total, files, nil
}

// The classes of the video rule, as the workflowengine app and files_accesscontrol
// name them.
const (
	flowCheckSize     = `OCA\WorkflowEngine\Check\FileSize`
	flowCheckMimeType = `OCA\WorkflowEngine\Check\FileMimeType`
	flowOperation     = `OCA\FilesAccessControl\Operation`
	flowEntityFile    = `OCA\WorkflowEngine\Entity\File`
	videoMimePattern  = `/^video\/.*$/i`
)

// videoChecks are the checks of the rule refusing video files over maxBytes: class,
// operator, value, and the hash the workflowengine app keys them by.
func videoChecks(maxBytes int64) [][4]string {
	checks := [][4]string{
		{flowCheckMimeType, "matches", videoMimePattern},
		{flowCheckSize, "greater", strconv.FormatInt(maxBytes, 10) + " B"},
	}
	for i, c := range checks {
		checks[i][3] = md5Hex(c[0] + "::" + c[1] + "::" + c[2])
	}
	return checks
}

// setVideoRule writes, in the tables of Nextcloud's workflowengine, the
// files_accesscontrol rule that refuses video files over maxBytes, for every user of the
// space; occ has no command for it. It replaces the rule of a previous call.
func (d *Occ) setVideoRule(ctx context.Context, slug string, maxBytes int64) error {
	err := d.withSpaceDB(ctx, slug, func(c *pgx.Conn) error {
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			ids := make([]string, 0, 2)
			for _, ch := range videoChecks(maxBytes) {
				var id int64
				err := tx.QueryRow(ctx, `INSERT INTO oc_flow_checks (class, operator, value, hash) VALUES ($1, $2, $3, $4)
					ON CONFLICT (hash) DO UPDATE SET hash = excluded.hash RETURNING id`, ch[0], ch[1], ch[2], ch[3]).Scan(&id)
				if err != nil {
					return err
				}
				ids = append(ids, strconv.FormatInt(id, 10))
			}
			checks := "[" + strings.Join(ids, ",") + "]"
			var opID int64
			err := tx.QueryRow(ctx, `SELECT id FROM oc_flow_operations WHERE class = $1 AND name = $2`,
				flowOperation, videoRuleName).Scan(&opID)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				err = tx.QueryRow(ctx, `INSERT INTO oc_flow_operations (class, name, checks, operation, entity, events)
					VALUES ($1, $2, $3, '', $4, '[]') RETURNING id`, flowOperation, videoRuleName, checks, flowEntityFile).Scan(&opID)
			case err == nil:
				_, err = tx.Exec(ctx, `UPDATE oc_flow_operations SET checks = $1 WHERE id = $2`, checks, opID)
			}
			if err != nil {
				return err
			}
			// Scope 0: the rule of the admin, for every user.
			_, err = tx.Exec(ctx, `INSERT INTO oc_flow_operations_scope (operation_id, type, value) VALUES ($1, 0, '')
				ON CONFLICT (operation_id, type, value) DO NOTHING`, opID)
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("video size rule of %s: %w", slug, err)
	}
	return nil
}

// snapshotName is the name of a snapshot of slug taken at t: the slug, so that a
// snapshot cannot be restored into another space, and the time.
func snapshotName(slug string, t time.Time) string {
	return slug + "-" + t.UTC().Format("20060102T150405Z")
}

var snapshotPattern = regexp.MustCompile(`^[a-z0-9-]+-[0-9]{8}T[0-9]{6}Z$`)

// snapshotTimePattern is the time at the end of a snapshot's name.
var snapshotTimePattern = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z$`)

// snapshotPaths returns the files of a snapshot of slug: the database dump and the
// space's config.php, which holds the installed version.
func (d *Occ) snapshotPaths(slug, snapshot string) (dump, config string, err error) {
	if !snapshotPattern.MatchString(snapshot) || !strings.HasPrefix(snapshot, slug+"-") {
		return "", "", permanent("%q is not a snapshot of %s", snapshot, slug)
	}
	base := filepath.Join(d.o.SnapshotDir, snapshot)
	return base + ".dump", base + ".config.php", nil
}

// pgCommand returns the command running a PostgreSQL client (pg_dump, pg_restore) on
// this machine against the space's database, as the fleet's admin; the password
// travels in the environment.
func (d *Occ) pgCommand(ctx context.Context, slug, program string, args ...string) (*exec.Cmd, error) {
	cfg, err := d.fleet.connConfig(slug)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, program, append(args,
		"--host="+cfg.Host, "--port="+strconv.Itoa(int(cfg.Port)), "--username="+cfg.User,
		"--dbname="+cfg.Database, "--no-password")...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+cfg.Password, "PGCONNECT_TIMEOUT=15")
	cmd.WaitDelay = 5 * time.Second
	return cmd, nil
}

// runPG runs a PostgreSQL client with the driver's timeout.
func (d *Occ) runPG(ctx context.Context, slug, program string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, d.o.Timeout)
	defer cancel()
	cmd, err := d.pgCommand(ctx, slug, program, args...)
	if err != nil {
		return err
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) && ctx.Err() == nil {
		return &ExitError{Command: program, ExitCode: exit.ExitCode(), Output: cutOutput(string(out))}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", program, err)
	}
	return nil
}

// dataSnapshotDir is where, on the web node, a snapshot keeps a copy of the space's
// data directory, its logs aside: the files of a space are in its bucket, and what is
// left there is small but tied to the installed version. `occ upgrade` updates the
// space's own apps (data/apps) and rewrites the marker of the data directory; after a
// rollback, the old code would meet apps newer than the database knows, or no marker,
// and refuse to serve the space.
func (d *Occ) dataSnapshotDir(slug, snapshot string) string {
	return path.Join(d.dataDir(slug), snapshotsDir, snapshot)
}

// snapshotsDir, in a space's data directory, holds the copies of dataSnapshotDir.
const snapshotsDir = "snapshots"

// The scripts that copy a data directory ($1) into a snapshot ($2) and back, leaving
// out the snapshots and the logs. Restoring copies the snapshot first and keeps it, so
// that a retry after a crash half-way does it all again.
const (
	dataSnapshotScript = `set -e; rm -rf "$2"; mkdir -p "$2"; cd "$1"
for f in .[!.]* *; do
  [ -e "$f" ] || continue
  case "$f" in ` + snapshotsDir + `|*.log) continue;; esac
  cp -a "$f" "$2/"
done`
	dataRestoreScript = `set -e; [ -d "$2" ] || exit 0; cd "$1"; rm -rf .restoring; cp -a "$2" .restoring
for f in .[!.]* *; do
  [ -e "$f" ] || continue
  case "$f" in ` + snapshotsDir + `|*.log|.restoring) continue;; esac
  rm -rf "$f"
done
for f in .restoring/.[!.]* .restoring/*; do
  [ -e "$f" ] || continue
  mv "$f" .
done
rmdir .restoring`
)

// Snapshot implements Driver: pg_dump of the database, in PostgreSQL's custom format,
// and a copy of config.php, into the snapshot directory of this machine; and a copy of
// the space's data directory on the web node (dataSnapshotDir).
func (d *Occ) Snapshot(ctx context.Context, slug string) (string, error) {
	if err := d.mustBeInstalled(ctx, slug); err != nil {
		return "", err
	}
	name := snapshotName(slug, time.Now())
	dump, configCopy, err := d.snapshotPaths(slug, name)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(d.o.SnapshotDir, 0o700); err != nil {
		return "", fmt.Errorf("snapshot of %s: %w", slug, err)
	}
	config, err := d.sh(ctx, nil, `cat "$1"`, filepath.Join(d.configDir(slug), nextcloudConfig))
	if err != nil {
		return "", fmt.Errorf("snapshot of %s: %w", slug, err)
	}
	if err := os.WriteFile(configCopy, config, 0o600); err != nil {
		return "", fmt.Errorf("snapshot of %s: %w", slug, err)
	}
	if _, err := d.sh(ctx, nil, dataSnapshotScript, d.dataDir(slug), d.dataSnapshotDir(slug, name)); err != nil {
		return "", fmt.Errorf("snapshot of %s: data directory: %w", slug, err)
	}
	if err := d.runPG(ctx, slug, "pg_dump", "--format=custom", "--file="+dump+".tmp"); err != nil {
		return "", fmt.Errorf("snapshot of %s: %w", slug, err)
	}
	if err := os.Rename(dump+".tmp", dump); err != nil {
		return "", fmt.Errorf("snapshot of %s: %w", slug, err)
	}
	d.log.Info("Database snapshot taken", "slug", slug, "snapshot", name)
	return name, nil
}

// RestoreSnapshot implements Driver: the database emptied, then pg_restore of the dump
// in one transaction, then config.php and the data directory as they were. Maintenance
// must be on, as the database changes under the instance.
func (d *Occ) RestoreSnapshot(ctx context.Context, slug, snapshot string) error {
	if err := d.mustBeInstalled(ctx, slug); err != nil {
		return err
	}
	dump, configCopy, err := d.snapshotPaths(slug, snapshot)
	if err != nil {
		return err
	}
	maintenance, err := d.inMaintenance(ctx, slug)
	if err != nil {
		return err
	}
	if !maintenance {
		return permanent("restore %s of %s: maintenance mode is off", snapshot, slug)
	}
	config, err := os.ReadFile(configCopy)
	if err != nil {
		return fmt.Errorf("restore %s of %s: %w", snapshot, slug, permanentIfMissing(err))
	}
	if _, err := os.Stat(dump); err != nil {
		return fmt.Errorf("restore %s of %s: %w", snapshot, slug, permanentIfMissing(err))
	}
	// Emptied first: --clean alone drops only what the dump holds, and the tables an
	// upgrade created would stay, making the next upgrade fail on them. A crash between
	// the two leaves an empty database, which a retry restores.
	if err := d.resetDatabase(ctx, slug); err != nil {
		return fmt.Errorf("restore %s of %s: %w", snapshot, slug, err)
	}
	if err := d.runPG(ctx, slug, "pg_restore", "--clean", "--if-exists", "--single-transaction",
		"--exit-on-error", dump); err != nil {
		return fmt.Errorf("restore %s of %s: %w", snapshot, slug, err)
	}
	if err := d.writeFile(ctx, filepath.Join(d.configDir(slug), nextcloudConfig), config); err != nil {
		return fmt.Errorf("restore %s of %s: %w", snapshot, slug, err)
	}
	// A snapshot taken before data directories were kept has none to put back.
	if _, err := d.sh(ctx, nil, dataRestoreScript, d.dataDir(slug), d.dataSnapshotDir(slug, snapshot)); err != nil {
		return fmt.Errorf("restore %s of %s: data directory: %w", snapshot, slug, err)
	}
	// config.php came back as it was, maintenance mode included: a snapshot taken in
	// service would otherwise put the space back in service on its own.
	if maintenance, err = d.inMaintenance(ctx, slug); err == nil && !maintenance {
		err = d.SetMaintenance(ctx, slug, true)
	}
	if err != nil {
		return fmt.Errorf("restore %s of %s: %w", snapshot, slug, err)
	}
	d.log.Info("Database snapshot restored", "slug", slug, "snapshot", snapshot)
	return nil
}

// DropSnapshot implements Driver.
func (d *Occ) DropSnapshot(ctx context.Context, slug, snapshot string) error {
	dump, configCopy, err := d.snapshotPaths(slug, snapshot)
	if err != nil {
		return err
	}
	if _, err := d.sh(ctx, nil, `rm -rf "$1"`, d.dataSnapshotDir(slug, snapshot)); err != nil {
		return fmt.Errorf("drop snapshot %s: data directory: %w", snapshot, err)
	}
	for _, p := range []string{dump, configCopy} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("drop snapshot %s: %w", snapshot, err)
		}
	}
	return nil
}

// dropSnapshots deletes the snapshots of slug kept on this machine (their copies of
// the data directory go with it): dumps of a removed space are personal data.
func (d *Occ) dropSnapshots(slug string) error {
	files, err := os.ReadDir(d.o.SnapshotDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("snapshots of %s: %w", slug, err)
	}
	for _, f := range files {
		// Only this space's: the snapshots of "a-b" also start with "a-".
		name, _, _ := strings.Cut(f.Name(), ".")
		if at, ok := strings.CutPrefix(name, slug+"-"); !ok || !snapshotTimePattern.MatchString(at) {
			continue
		}
		if err := os.Remove(filepath.Join(d.o.SnapshotDir, f.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("snapshots of %s: %w", slug, err)
		}
	}
	return nil
}

func permanentIfMissing(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w (%w)", err, ErrPermanent)
	}
	return err
}

func mapsKeys[V any](m map[string]V) iter.Seq[string] { return maps.Keys(m) }

// md5Hex is the hash the workflowengine app keys its checks by.
func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
