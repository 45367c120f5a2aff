package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopTimeout is how long Stop lets a server shut down cleanly before killing
// it: long enough for MinIO and Temporal to flush their stores.
const stopTimeout = 10 * time.Second

// tailSize is how much of a server's latest output a Process keeps, to explain
// a failed start.
const tailSize = 16 << 10

// Process is a server running as a child process.
type Process struct {
	name string
	cmd  *exec.Cmd
	tail *tailBuffer

	// stopSignal asks the server to end; SIGTERM unless the server wants another
	// (PostgreSQL takes SIGTERM as "wait for every client to leave").
	stopSignal syscall.Signal

	done    chan struct{} // closed once the process has exited
	waitErr error         // set before done is closed

	stopOnce sync.Once
	stopErr  error
}

// startProcess runs bin with args. env is added to this process's environment
// after removing the variables named in drop (prefixes ending in "_" drop every
// variable that starts with them). The child's output goes to output, if not
// nil, and its end is kept for error messages.
func startProcess(name, bin string, args, env, drop []string, output io.Writer) (*Process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(filterEnv(os.Environ(), drop), env...)
	cmd.SysProcAttr = sysProcAttr()
	return startCommand(name, cmd, output)
}

// startCommand starts cmd as the server name, its output going to output (if not
// nil) and kept for error messages.
func startCommand(name string, cmd *exec.Cmd, output io.Writer) (*Process, error) {
	tail := &tailBuffer{}
	var out io.Writer = tail
	if output != nil {
		out = io.MultiWriter(output, tail)
	}
	cmd.Stdout = out
	cmd.Stderr = out
	// A grandchild keeping the output pipe open must not block Wait forever.
	cmd.WaitDelay = stopTimeout

	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{name: name, cmd: cmd, tail: tail, stopSignal: syscall.SIGTERM, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid returns the operating system's id of the process.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Wait blocks until the process exits and returns how it ended, as
// exec.Cmd.Wait does. It may be called several times and together with Stop.
func (p *Process) Wait() error {
	<-p.done
	if p.waitErr != nil {
		return fmt.Errorf("%s: %w", p.name, p.waitErr)
	}
	return nil
}

// Exited returns a channel closed once the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Tail returns the latest output of the process, at most 16 KiB of it.
func (p *Process) Tail() string { return p.tail.String() }

// Stop asks the process to end (SIGTERM for most servers) and waits for it; after 10
// seconds it kills the process and returns an error saying so. An exit status
// caused by the request is not an error. Stop may be called several times.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() { p.stopErr = p.stop() })
	return p.stopErr
}

func (p *Process) stop() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(p.stopSignal); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s: %w", p.name, err)
	}
	<-p.done
	return fmt.Errorf("stop %s: still running %s after %s, killed", p.name, stopTimeout, p.stopSignal)
}

// exitedError describes a process that ended while it was expected to start.
func (p *Process) exitedError() error {
	return fmt.Errorf("%s exited during start-up (%v); its last output:\n%s", p.name, p.waitErr, p.lastLines())
}

// lastLines returns the last lines of the output, short enough for an error.
func (p *Process) lastLines() string {
	const maxLines = 30
	lines := strings.Split(strings.TrimRight(p.Tail(), "\n"), "\n")
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return strings.Join(lines, "\n")
}

// filterEnv returns env without the variables named in drop; a name ending in
// "_" is a prefix.
func filterEnv(env, drop []string) []string {
	kept := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		dropped := false
		for _, d := range drop {
			if name == d || (strings.HasSuffix(d, "_") && strings.HasPrefix(name, d)) {
				dropped = true
				break
			}
		}
		if !dropped {
			kept = append(kept, kv)
		}
	}
	return kept
}

// tailBuffer keeps the last tailSize bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - tailSize; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// waitReady calls check until it succeeds, returns a permanentError, the
// process exits, ctx ends or timeout passes. In every case but success it
// stops the process and returns an error, with the end of its output if that
// may explain it.
func waitReady(ctx context.Context, p *Process, timeout time.Duration, check func(context.Context) error) error {
	const (
		pollInterval = 200 * time.Millisecond
		checkTimeout = 5 * time.Second
	)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var lastErr error
	for {
		checkCtx, cancelCheck := context.WithTimeout(ctx, checkTimeout)
		lastErr = check(checkCtx)
		cancelCheck()
		if lastErr == nil {
			return nil
		}
		var perm permanentError
		if errors.As(lastErr, &perm) {
			return errors.Join(fmt.Errorf("start %s: %w", p.name, perm.err), p.Stop())
		}
		select {
		case <-p.Exited():
			return p.exitedError()
		case <-ctx.Done():
			stopErr := p.Stop()
			return errors.Join(
				fmt.Errorf("%s not ready (%w, limit %s): last check: %v; its last output:\n%s",
					p.name, context.Cause(ctx), timeout, lastErr, p.lastLines()),
				stopErr)
		case <-time.After(pollInterval):
		}
	}
}

// permanentError is a readiness check failure that waiting cannot cure.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
