package cluster

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The schemas temporal-sql-tool carries for PostgreSQL 12 and later, named as its
// --schema-name wants them.
const (
	persistenceSchema = "postgresql/v12/temporal"
	visibilitySchema  = "postgresql/v12/visibility"
)

// SetupSchemas makes Temporal's two databases ready for the server built beside
// sqlTool: each is created if missing, gets the schema versioning tables, and is
// brought to the latest schema version the tool knows (update-schema applies only
// the versions the database lacks, so running it again, or after an upgrade of the
// server, is how a cluster's schema follows its server).
func SetupSchemas(ctx context.Context, sqlTool string, db Database, output io.Writer) error {
	for _, s := range []struct{ database, schema string }{
		{db.Name, persistenceSchema},
		{db.VisibilityName(), visibilitySchema},
	} {
		exists, err := databaseExists(ctx, db, s.database)
		if err != nil {
			return err
		}
		if !exists {
			if err := runSQLTool(ctx, sqlTool, db, s.database, output, "create-database"); err != nil {
				return err
			}
		}
		if err := runSQLTool(ctx, sqlTool, db, s.database, output, "setup-schema", "-v", "0.0"); err != nil {
			return err
		}
		if err := runSQLTool(ctx, sqlTool, db, s.database, output, "update-schema", "--schema-name", s.schema); err != nil {
			return err
		}
	}
	return nil
}

// databaseExists asks the server, through its postgres database, whether name exists.
func databaseExists(ctx context.Context, db Database, name string) (bool, error) {
	conn, err := pgx.Connect(ctx, db.adminURL())
	if err != nil {
		return false, fmt.Errorf("TEMPORAL_DATABASE_URL: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return false, fmt.Errorf("TEMPORAL_DATABASE_URL: look for database %q: %w", name, err)
	}
	return exists, nil
}

// runSQLTool runs one command of temporal-sql-tool on database; the password goes
// through the environment, not the command line.
func runSQLTool(ctx context.Context, sqlTool string, db Database, database string, output io.Writer, args ...string) error {
	full := append([]string{"--plugin", "postgres12", "--endpoint", db.Host, "--port", db.Port, "--user", db.User,
		"--database", database}, args...)
	if db.SSLMode != "" && db.SSLMode != "disable" {
		full = append([]string{"--tls"}, full...)
	}
	cmd := exec.CommandContext(ctx, sqlTool, full...)
	cmd.Env = append(os.Environ(), "SQL_PASSWORD="+db.Password)
	var out strings.Builder
	if output != nil {
		cmd.Stdout, cmd.Stderr = io.MultiWriter(&out, output), io.MultiWriter(&out, output)
	} else {
		cmd.Stdout, cmd.Stderr = &out, &out
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("temporal-sql-tool %s on %s: %w\n%s", args[0], database, err, out.String())
	}
	return nil
}

// DropDatabases drops Temporal's two databases, for tests that made their own: the
// server using them must be stopped first.
func DropDatabases(ctx context.Context, db Database) error {
	conn, err := pgx.Connect(ctx, db.adminURL())
	if err != nil {
		return fmt.Errorf("TEMPORAL_DATABASE_URL: %w", err)
	}
	defer conn.Close(ctx)
	for _, name := range []string{db.Name, db.VisibilityName()} {
		if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
			return fmt.Errorf("drop database %q: %w", name, err)
		}
	}
	return nil
}

// adminURL is the URL of the server's postgres database, as d's user.
func (d Database) adminURL() string {
	u := url.URL{Scheme: "postgres", Host: d.Host + ":" + d.Port, Path: "/postgres", RawQuery: "sslmode=" + d.SSLMode}
	if d.Password != "" {
		u.User = url.UserPassword(d.User, d.Password)
	} else {
		u.User = url.User(d.User)
	}
	return u.String()
}
