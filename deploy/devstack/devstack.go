// Package devstack starts the real servers Jardinier depends on (MinIO, the
// Temporal development server, a private PostgreSQL) as child processes, for
// `jardinier dev`, the tests and the benchmarks; StartStack uses the ones it
// finds running instead. MinIO and Temporal are the binaries `make tools` builds
// into the repository's bin/ directory; PostgreSQL is the machine's own.
package devstack

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// RepoRoot returns the repository root: the nearest directory holding a go.mod
// file, walking up from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		_, err := os.Stat(filepath.Join(dir, "go.mod"))
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("find repository root: %w", err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repository root: no go.mod in the working directory or above")
		}
		dir = parent
	}
}

// Binary returns the path of a tool built by `make tools`: bin/<name> under
// the repository root.
func Binary(name string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	path := filepath.Join(root, "bin", name)
	info, err := os.Stat(path)
	if err != nil || info.IsDir() {
		return "", fmt.Errorf("bin/%s not found: run `make tools`", name)
	}
	return path, nil
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on now. Another
// process may still take it before the caller binds it.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// dialAddr turns a listen address into one to connect to: a server listening
// on every interface is reached on the loopback one.
func dialAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// checkFree fails if something already listens on addr. Without it, a server
// left running on the same port would answer the readiness checks in place of
// the one being started.
func checkFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s is taken, is another server running? %w", addr, err)
	}
	return l.Close()
}
