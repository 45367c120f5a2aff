package nextcloud

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// maxOutput bounds how much of a command's output an error carries: occ prints stack
// traces that would bloat workflow histories.
const maxOutput = 4000

// Command is one program run on a web node as the web server's user.
type Command struct {
	Args []string          // the program and its arguments
	Env  map[string]string // set for the program only; never on its command line
	// Stdin is given to the program on its standard input; it carries what must not
	// show in the process list (file contents).
	Stdin []byte
}

// String shows the command as a shell would run it, without its environment, which may
// hold secrets.
func (c Command) String() string {
	return shellJoin(c.Args)
}

// ExitError is the failure of a command that ran and exited with a non-zero code.
type ExitError struct {
	Command  string
	ExitCode int
	Output   string // standard output then standard error, cut to maxOutput bytes
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("%s: exit code %d: %s", e.Command, e.ExitCode, e.Output)
}

// Runner runs commands on a web node as the web server's user.
type Runner interface {
	// Run runs cmd and returns its standard output. A command that exits with a
	// non-zero code returns an *ExitError; one that could not be run another error.
	Run(ctx context.Context, cmd Command) ([]byte, error)
}

// LocalRunner runs commands on this machine with os/exec, through `sudo -u User` when
// User is set and is not the user this process runs as.
type LocalRunner struct {
	User string
}

// Run implements Runner.
func (r LocalRunner) Run(ctx context.Context, cmd Command) ([]byte, error) {
	if len(cmd.Args) == 0 {
		return nil, errors.New("empty command")
	}
	c := exec.CommandContext(ctx, cmd.Args[0], cmd.Args[1:]...)
	c.Stdin = bytes.NewReader(cmd.Stdin)
	c.Env = os.Environ()
	if r.User != "" && !isCurrentUser(r.User) {
		// sudo resets the environment: the variables travel on standard input, as
		// over SSH. -n fails at once rather than waiting for a password nobody types.
		args, stdin := envOnStdin(cmd)
		args = append([]string{"sudo", "-n", "-u", r.User, "--"}, args...)
		c = exec.CommandContext(ctx, args[0], args[1:]...)
		c.Stdin = bytes.NewReader(stdin)
		// sudo passes SIGTERM on to the program, but nobody can pass SIGKILL on: the
		// default cancel would kill sudo and leave occ running. SIGKILL follows after
		// WaitDelay if the program ignores SIGTERM.
		c.Cancel = func() error { return c.Process.Signal(syscall.SIGTERM) }
	} else {
		for _, k := range sortedKeys(cmd.Env) {
			c.Env = append(c.Env, k+"="+cmd.Env[k])
		}
	}
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	c.WaitDelay = 5 * time.Second
	err := c.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && ctx.Err() == nil {
		return stdout.Bytes(), &ExitError{Command: cmd.String(), ExitCode: exitErr.ExitCode(),
			Output: cutOutput(stdout.String() + stderr.String())}
	}
	if err != nil {
		if ctx.Err() != nil {
			return stdout.Bytes(), fmt.Errorf("%s: %w", cmd, ctx.Err())
		}
		return stdout.Bytes(), fmt.Errorf("%s: %w", cmd, err)
	}
	return stdout.Bytes(), nil
}

func isCurrentUser(name string) bool {
	u, err := user.Current()
	return err == nil && u.Username == name
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

// SSHRunner runs commands on a web node over SSH, logged in as the web server's user
// (or as a user that may `sudo -u` to it, when SudoUser is set).
type SSHRunner struct {
	Addr     string // host:port
	config   *ssh.ClientConfig
	SudoUser string
}

// NewSSHRunner returns a runner for addr (host or host:port) logging in as user with
// the private key in keyFile, and checking the host's key against knownHostsFile.
func NewSSHRunner(addr, user, keyFile, knownHostsFile, sudoUser string) (*SSHRunner, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, "22")
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("ssh key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("ssh key %s: %w", keyFile, err)
	}
	hostKeys, err := knownhosts.New(knownHostsFile)
	if err != nil {
		return nil, fmt.Errorf("ssh known hosts: %w", err)
	}
	return &SSHRunner{
		Addr:     addr,
		SudoUser: sudoUser,
		config: &ssh.ClientConfig{
			User:            user,
			Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
			HostKeyCallback: hostKeys,
			Timeout:         15 * time.Second,
		},
	}, nil
}

// Run implements Runner. Each call opens its own connection: calls are few and long
// (occ), and a connection of its own cannot be broken by another call.
func (r *SSHRunner) Run(ctx context.Context, cmd Command) ([]byte, error) {
	if len(cmd.Args) == 0 {
		return nil, errors.New("empty command")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", r.Addr)
	if err != nil {
		return nil, fmt.Errorf("ssh %s: %w", r.Addr, err)
	}
	// The handshake is bounded by the config's timeout and by ctx: a host that takes
	// the connection but never speaks SSH must not hold the call forever.
	_ = conn.SetDeadline(time.Now().Add(r.config.Timeout))
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, r.Addr, r.config)
	if !stop() {
		err = errors.Join(err, ctx.Err())
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ssh %s: %w", r.Addr, err)
	}
	_ = conn.SetDeadline(time.Time{})
	client := ssh.NewClient(c, chans, reqs)
	defer client.Close()
	session, err := client.NewSession()
	if err != nil {
		return nil, fmt.Errorf("ssh %s: %w", r.Addr, err)
	}
	defer session.Close()

	var limit time.Duration
	if deadline, ok := ctx.Deadline(); ok {
		limit = time.Until(deadline)
	}
	line, stdin := remoteCommand(cmd, r.SudoUser, limit)
	session.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	session.Stdout, session.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	go func() { done <- session.Run(line) }()
	select {
	case <-ctx.Done():
		_ = session.Signal(ssh.SIGKILL)
		client.Close()
		<-done // the session's copies into stdout end with the connection
		return stdout.Bytes(), fmt.Errorf("%s on %s: %w", cmd, r.Addr, ctx.Err())
	case err = <-done:
	}
	var exitErr *ssh.ExitError
	if errors.As(err, &exitErr) {
		return stdout.Bytes(), &ExitError{Command: cmd.String(), ExitCode: exitErr.ExitStatus(),
			Output: cutOutput(stdout.String() + stderr.String())}
	}
	if err != nil {
		return stdout.Bytes(), fmt.Errorf("%s on %s: %w", cmd, r.Addr, err)
	}
	return stdout.Bytes(), nil
}

// remoteCommand returns the shell line that runs cmd on an SSH server, and its
// standard input. Environment variables do not travel as SSH "env" requests (servers
// refuse most names) nor on the command line (the process list shows it): each value
// comes first on standard input (envOnStdin). With a limit, coreutils' timeout stops
// the program on the web node once it is over: the SIGKILL sent over SSH when a call is
// cancelled reaches neither sudo's program nor a program whose connection broke.
func remoteCommand(cmd Command, sudoUser string, limit time.Duration) (string, []byte) {
	args, stdin := envOnStdin(cmd)
	if limit > 0 {
		seconds := int64(limit/time.Second) + 1
		args = append([]string{"timeout", "--kill-after=10", strconv.FormatInt(seconds, 10)}, args...)
	}
	if sudoUser != "" {
		args = append([]string{"sudo", "-n", "-u", sudoUser, "--"}, args...)
	}
	return shellJoin(args), stdin
}

// envOnStdin returns the program and arguments that run cmd with its environment
// read from standard input, and that input: each value first, one line each, read by
// a shell before it runs the program with the rest of the input.
func envOnStdin(cmd Command) ([]string, []byte) {
	if len(cmd.Env) == 0 {
		return cmd.Args, cmd.Stdin
	}
	var script strings.Builder
	var stdin bytes.Buffer
	for _, k := range sortedKeys(cmd.Env) {
		fmt.Fprintf(&script, "IFS= read -r %s && export %s && ", k, k)
		stdin.WriteString(cmd.Env[k])
		stdin.WriteByte('\n')
	}
	script.WriteString(`exec "$@"`)
	stdin.Write(cmd.Stdin)
	return append([]string{"sh", "-c", script.String(), "sh"}, cmd.Args...), stdin.Bytes()
}

// shellJoin quotes args for a POSIX shell.
func shellJoin(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = shellQuote(a)
	}
	return strings.Join(quoted, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,@+%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func cutOutput(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxOutput {
		return s[:maxOutput] + "…"
	}
	return s
}
