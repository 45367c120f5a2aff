package devstack

import (
	"context"
	"errors"
	"io"
	"os"
	"time"
)

// The process helpers below are those StartStack uses, for the other ways of running
// the system on one machine (deploy/cluster).

// StartProcess runs bin with args as the server name. env is added to this process's
// environment after removing the variables named in drop (prefixes ending in "_" drop
// every variable that starts with them). Its output goes to output, if not nil, and
// its end is kept for error messages. The kernel ends it if this process dies.
func StartProcess(name, bin string, args, env, drop []string, output io.Writer) (*Process, error) {
	return startProcess(name, bin, args, env, drop, output)
}

// WaitReady calls check until it succeeds, the process exits, ctx ends or timeout
// passes; in every case but success it stops the process and returns an error with
// the end of its output.
func WaitReady(ctx context.Context, p *Process, timeout time.Duration, check func(context.Context) error) error {
	return waitReady(ctx, p, timeout, check)
}

// LoadOrCreateKey reads the 32-byte base64 key kept at path, creating it the first time.
func LoadOrCreateKey(path string) ([]byte, error) { return loadOrCreateKey(path) }

// HTTPOK returns nil once url answers 200.
func HTTPOK(ctx context.Context, url string) error { return httpOK(ctx, url) }

// Prefixed writes each line to w behind "[name] "; nil stays nil.
func Prefixed(w io.Writer, name string) io.Writer { return prefixed(w, name) }

// ReadyForJardinier waits until the Temporal server at cfg's address serves cfg's
// namespace with its search attributes, registering and adding what is missing.
func ReadyForJardinier(ctx context.Context, cfg TemporalConfig) error {
	return readyForJardinier(ctx, cfg)
}

// Name is the name the process was started under.
func (p *Process) Name() string { return p.name }

// LastLines returns the last lines of the process's output, short enough for an error.
func (p *Process) LastLines() string { return p.lastLines() }

// Kill ends the process at once (SIGKILL), as a crash would, and waits for it.
func (p *Process) Kill() error {
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-p.done
	return nil
}
