package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// postgresReadyTimeout bounds how long StartPostgres waits for the server after
// initdb: recovery after a crash replays the write-ahead log first.
const postgresReadyTimeout = 60 * time.Second

// PostgresSearchPath returns the directories where the machine's PostgreSQL
// programs are looked for: PATH, /usr/local/bin (where source builds and some
// images put them), then Debian's and Ubuntu's /usr/lib/postgresql/<version>/bin,
// newest version first. Debian's packages put only client programs on PATH.
func PostgresSearchPath() []string {
	dirs := filepath.SplitList(os.Getenv("PATH"))
	dirs = append(dirs, "/usr/local/bin", "/usr/local/pgsql/bin")
	versioned, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(versioned, func(a, b string) int {
		return postgresMajor(b) - postgresMajor(a)
	})
	return append(dirs, versioned...)
}

// postgresMajor reads the major version of /usr/lib/postgresql/<version>/bin:
// 15 for 15, 9 for 9.6.
func postgresMajor(binDir string) int {
	v := filepath.Base(filepath.Dir(binDir))
	major, _, _ := strings.Cut(v, ".")
	n, _ := strconv.Atoi(major)
	return n
}

// FindPostgres returns the first of dirs that holds both initdb and postgres.
// A symbolic link to initdb is followed: the server program sits beside the
// real one.
func FindPostgres(dirs []string) (string, error) {
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		initdb := filepath.Join(dir, "initdb")
		if !isExecutable(initdb) {
			continue
		}
		for _, candidate := range []string{dir, realDir(initdb)} {
			if isExecutable(filepath.Join(candidate, "postgres")) {
				return candidate, nil
			}
		}
	}
	return "", fmt.Errorf("PostgreSQL's initdb and postgres programs not found in %s: install PostgreSQL (Debian: apt-get install postgresql)",
		strings.Join(slices.DeleteFunc(slices.Clone(dirs), func(d string) bool { return d == "" }), ", "))
}

func isExecutable(path string) bool {
	info, err := os.Stat(path)
	return err == nil && !info.IsDir() && info.Mode()&0o111 != 0
}

func realDir(path string) string {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return filepath.Dir(path)
	}
	return filepath.Dir(real)
}

// PostgresOptions say how to run a private PostgreSQL server.
type PostgresOptions struct {
	// BinDir holds initdb and postgres; empty means FindPostgres(PostgresSearchPath()).
	BinDir string
	// DataDir is the cluster's directory, made by initdb the first time. Required.
	DataDir string
	// Addr is the host:port the server listens on (TCP only, no Unix socket).
	Addr string
	// User is the superuser initdb creates; it connects without a password, from
	// this machine only.
	User string
	// Output receives initdb's and the server's output, if not nil.
	Output io.Writer
}

// StartPostgres runs a PostgreSQL server of its own on o.DataDir, making the
// cluster first if the directory holds none, and returns once it accepts
// connections. Run as root, it runs the server as the machine's postgres user,
// since PostgreSQL refuses root. Stop ends it with a fast shutdown.
func StartPostgres(ctx context.Context, o PostgresOptions) (*Process, error) {
	if o.DataDir == "" || o.Addr == "" || o.User == "" {
		return nil, errors.New("start postgres: data directory, address and user are required")
	}
	host, port, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("start postgres: address %q: %w", o.Addr, err)
	}
	if o.BinDir == "" {
		if o.BinDir, err = FindPostgres(PostgresSearchPath()); err != nil {
			return nil, fmt.Errorf("start postgres: %w", err)
		}
	}
	if err := checkFree(o.Addr); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	attr, uid, gid, err := postgresProcAttr()
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	if err := preparePostgresDir(o.DataDir, uid, gid); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	if _, err := os.Stat(filepath.Join(o.DataDir, "PG_VERSION")); errors.Is(err, fs.ErrNotExist) {
		initdb := exec.CommandContext(ctx, filepath.Join(o.BinDir, "initdb"),
			"--pgdata", o.DataDir, "--username", o.User, "--auth", "trust", "--encoding", "UTF8", "--no-locale")
		initdb.Dir, initdb.SysProcAttr = o.DataDir, attr
		out, err := initdb.CombinedOutput()
		if o.Output != nil {
			o.Output.Write(out)
		}
		if err != nil {
			return nil, fmt.Errorf("start postgres: initdb %s: %w\n%s", o.DataDir, err, out)
		}
	}

	cmd := exec.Command(filepath.Join(o.BinDir, "postgres"), "-D", o.DataDir, "-h", host, "-p", port, "-k", "")
	cmd.Dir, cmd.SysProcAttr = o.DataDir, attr
	// This process's PG* variables are for its clients, not for the server.
	cmd.Env = filterEnv(os.Environ(), []string{"PGDATA", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGOPTIONS"})
	p, err := startCommand("postgres", cmd, o.Output)
	if err != nil {
		return nil, err
	}
	p.stopSignal = syscall.SIGINT // fast shutdown: clients are disconnected
	url := fmt.Sprintf("postgres://%s@%s/postgres?sslmode=disable", o.User, dialAddr(o.Addr))
	if err := waitReady(ctx, p, postgresReadyTimeout, func(ctx context.Context) error {
		conn, err := pgconn.Connect(ctx, url)
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	}); err != nil {
		return nil, err
	}
	return p, nil
}

// preparePostgresDir makes the data directory, owned by uid:gid when those are
// not -1. PostgreSQL wants it private (0700); running as another user, it must
// also be able to reach it, so the directory above is opened for traversal.
func preparePostgresDir(dir string, uid, gid int) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if uid < 0 {
		return nil
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("give %s to the postgres user: %w", dir, err)
	}
	parent := filepath.Dir(dir)
	info, err := os.Stat(parent)
	if err != nil {
		return err
	}
	if info.Mode().Perm()&0o001 == 0 {
		if err := os.Chmod(parent, info.Mode().Perm()|0o001); err != nil {
			return fmt.Errorf("let the postgres user reach %s: %w", dir, err)
		}
	}
	return nil
}
