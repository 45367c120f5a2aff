package nextcloud

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshUser is the only user the test peer lets in.
const sshUser = "deploy"

// sshPeer is a test peer for SSHRunner: a real SSH server (golang.org/x/crypto/ssh)
// listening on 127.0.0.1, not a simulator. It accepts one client key for sshUser, and
// runs each "exec" request as sshd does, with `sh -c <command line>` on this machine,
// the channel wired to the program's standard input, output and error, then answers
// the program's exit status (RFC 4254 §6.10) and closes the channel. Like OpenSSH's
// sshd, it runs each program in a process group of its own, sends the signals of
// "signal" requests to that group, and does not stop a program because its client went
// away (sshd does not either, without a terminal).
type sshPeer struct {
	addr    string
	hostKey ssh.Signer
	config  *ssh.ServerConfig

	// recordOnly makes the peer answer exit 0 to every command without running it,
	// for command lines this machine cannot run (sudo to another user).
	recordOnly atomic.Bool

	mu       sync.Mutex
	lines    []string // command lines received, in order
	running  int      // programs started and not yet exited
	handlers sync.WaitGroup
}

// sshFixture is a test peer and the files a runner needs to reach it.
type sshFixture struct {
	peer       *sshPeer
	keyFile    string // the client's private key, which the peer accepts
	knownHosts string // lists the peer's host key for its address
	dir        string
}

// newED25519Signer returns a fresh key pair, and its private key in OpenSSH PEM form.
func newED25519Signer(t *testing.T) (ssh.Signer, []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(priv, "jardinier test")
	require.NoError(t, err)
	return signer, pem.EncodeToMemory(block)
}

// writeKnownHosts writes a known_hosts file saying that addr has key.
func writeKnownHosts(t *testing.T, path, addr string, key ssh.PublicKey) {
	t.Helper()
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, key)
	require.NoError(t, os.WriteFile(path, []byte(line+"\n"), 0o600))
}

// setupSSH starts a test peer that accepts a generated client key for sshUser, and
// writes that key and a known_hosts file naming the peer's host key to a temporary
// directory. The peer stops, and its programs are killed, when the test ends.
func setupSSH(t *testing.T) *sshFixture {
	t.Helper()
	dir := t.TempDir()
	hostKey, _ := newED25519Signer(t)
	clientKey, clientPEM := newED25519Signer(t)

	p := &sshPeer{hostKey: hostKey}
	p.config = &ssh.ServerConfig{
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if meta.User() == sshUser && string(key.Marshal()) == string(clientKey.PublicKey().Marshal()) {
				return nil, nil
			}
			return nil, fmt.Errorf("key %s refused for %s", ssh.FingerprintSHA256(key), meta.User())
		},
	}
	p.config.AddHostKey(hostKey)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p.addr = ln.Addr().String()
	ctx, stop := context.WithCancel(context.Background())
	p.handlers.Go(func() { p.serve(ctx, ln) })
	t.Cleanup(func() {
		stop()
		ln.Close()
		p.handlers.Wait()
	})

	f := &sshFixture{peer: p, dir: dir,
		keyFile:    filepath.Join(dir, "id_ed25519"),
		knownHosts: filepath.Join(dir, "known_hosts")}
	require.NoError(t, os.WriteFile(f.keyFile, clientPEM, 0o600))
	writeKnownHosts(t, f.knownHosts, p.addr, hostKey.PublicKey())
	return f
}

// runner returns an SSHRunner for the peer, with the fixture's key and known_hosts.
func (f *sshFixture) runner(t *testing.T, sudoUser string) *SSHRunner {
	t.Helper()
	r, err := NewSSHRunner(f.peer.addr, sshUser, f.keyFile, f.knownHosts, sudoUser)
	require.NoError(t, err)
	return r
}

// received returns the command lines the peer received so far.
func (p *sshPeer) received() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// programs returns how many programs the peer started that have not exited.
func (p *sshPeer) programs() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running
}

func (p *sshPeer) serve(ctx context.Context, ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		p.handlers.Go(func() { p.serveConn(ctx, conn) })
	}
}

func (p *sshPeer) serveConn(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	// The test's end closes connections still open, so that handlers return.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	sc, chans, reqs, err := ssh.NewServerConn(conn, p.config)
	if err != nil {
		return // refused: wrong key, or the client refused our host key
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		p.handlers.Go(func() { p.serveSession(ctx, ch, chReqs) })
	}
}

// serveSession answers the requests of one session: one "exec", and "signal"s for the
// program it started. Other requests ("env", "pty-req", "shell") are refused.
func (p *sshPeer) serveSession(ctx context.Context, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	signals := make(chan ssh.Signal, 4)
	var exited <-chan struct{}
	for req := range reqs {
		switch {
		case req.Type == "exec" && exited == nil:
			var payload struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
				_ = req.Reply(false, nil)
				continue
			}
			p.mu.Lock()
			p.lines = append(p.lines, payload.Command)
			p.mu.Unlock()
			_ = req.Reply(true, nil)
			done := make(chan struct{})
			exited = done
			go func() {
				defer close(done)
				p.exec(ctx, ch, payload.Command, signals)
			}()
		case req.Type == "signal":
			var payload struct{ Signal string }
			if ssh.Unmarshal(req.Payload, &payload) == nil {
				select {
				case signals <- ssh.Signal(payload.Signal):
				default:
				}
			}
			_ = req.Reply(false, nil) // "signal" wants no reply; Reply is then a no-op
		default:
			_ = req.Reply(false, nil)
		}
	}
	// The client went away: the program runs on, as under sshd, until it exits or the
	// test ends.
	if exited != nil {
		<-exited
	}
}

// exec runs line with sh -c, wired to ch, then sends its exit status and closes ch.
func (p *sshPeer) exec(ctx context.Context, ch ssh.Channel, line string, signals <-chan ssh.Signal) {
	defer ch.Close()
	if p.recordOnly.Load() {
		// Read the input as the program would, so that the client is done writing it.
		_, _ = io.Copy(io.Discard, ch)
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
		return
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", line)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return
	}
	cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(ch.Stderr(), err)
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{127}))
		return
	}
	p.mu.Lock()
	p.running++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.running--
		p.mu.Unlock()
	}()
	go func() {
		_, _ = io.Copy(stdin, ch)
		stdin.Close() // the client's EOF is the program's
	}()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	for running := true; running; {
		select {
		case sig := <-signals:
			if s, ok := unixSignals[sig]; ok {
				_ = syscall.Kill(-cmd.Process.Pid, s)
			}
		case <-waited:
			running = false
		}
	}
	st := cmd.ProcessState
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		name := ssh.SIGKILL
		for s, u := range unixSignals {
			if u == ws.Signal() {
				name = s
			}
		}
		_, _ = ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
			Signal     string
			CoreDumped bool
			Message    string
			Lang       string
		}{Signal: string(name)}))
		return
	}
	_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(st.ExitCode())}))
}

// unixSignals maps the signal names of RFC 4254 §6.10 to this machine's signals.
var unixSignals = map[ssh.Signal]syscall.Signal{
	ssh.SIGINT: syscall.SIGINT, ssh.SIGKILL: syscall.SIGKILL, ssh.SIGTERM: syscall.SIGTERM,
	ssh.SIGHUP: syscall.SIGHUP,
}

func TestSSHRunner(t *testing.T) {
	f := setupSSH(t)
	r := f.runner(t, "")

	t.Run("returns the standard output of the command", func(t *testing.T) {
		out, err := r.Run(t.Context(), Command{Args: []string{"echo", "bonjour", "le jardin"}})
		require.NoError(t, err)
		assert.Equal(t, "bonjour le jardin\n", string(out))
	})

	t.Run("gives the program its environment without putting it on the command line", func(t *testing.T) {
		const secret = "/srv/x/ p@ss w'rd"
		out, err := r.Run(t.Context(), Command{
			Args: []string{"sh", "-c", `printf %s "$NEXTCLOUD_CONFIG_DIR"`},
			Env:  map[string]string{"NEXTCLOUD_CONFIG_DIR": secret},
		})
		require.NoError(t, err)
		assert.Equal(t, secret, string(out))
		lines := f.peer.received()
		require.NotEmpty(t, lines)
		assert.NotContains(t, lines[len(lines)-1], "p@ss", "the command line sshd and ps show")
	})

	t.Run("gives the program its standard input, after its environment", func(t *testing.T) {
		for name, env := range map[string]map[string]string{
			"without environment": nil,
			"with environment":    {"OC_PASS": "secret"},
		} {
			file := filepath.Join(f.dir, strings.ReplaceAll(name, " ", "-"))
			_, err := r.Run(t.Context(), Command{
				Args:  []string{"sh", "-c", `cat > "$1"`, "sh", file},
				Env:   env,
				Stdin: []byte("<?php\n$CONFIG = [];\n"),
			})
			require.NoError(t, err, name)
			b, err := os.ReadFile(file)
			require.NoError(t, err, name)
			assert.Equal(t, "<?php\n$CONFIG = [];\n", string(b), name)
		}
	})

	t.Run("a non-zero exit is an ExitError with the code and the output", func(t *testing.T) {
		cmd := Command{Args: []string{"sh", "-c", "echo sortie; echo erreur >&2; exit 3"}}
		out, err := r.Run(t.Context(), cmd)
		var exit *ExitError
		require.ErrorAs(t, err, &exit)
		assert.Equal(t, &ExitError{Command: cmd.String(), ExitCode: 3, Output: "sortie\nerreur"}, exit)
		assert.Equal(t, "sortie\n", string(out))
	})

	t.Run("a host key other than the one in known_hosts is refused before anything runs", func(t *testing.T) {
		other, _ := newED25519Signer(t)
		knownHosts := filepath.Join(t.TempDir(), "known_hosts")
		writeKnownHosts(t, knownHosts, f.peer.addr, other.PublicKey())
		impostor, err := NewSSHRunner(f.peer.addr, sshUser, f.keyFile, knownHosts, "")
		require.NoError(t, err)
		before := len(f.peer.received())

		_, err = impostor.Run(t.Context(), Command{Args: []string{"touch", filepath.Join(f.dir, "pwned")}})
		var keyErr *knownhosts.KeyError
		require.ErrorAs(t, err, &keyErr)
		assert.NotEmpty(t, keyErr.Want, "known_hosts names another key for this address")
		assert.Len(t, f.peer.received(), before)
		assert.NoFileExists(t, filepath.Join(f.dir, "pwned"))
	})

	t.Run("a host missing from known_hosts is refused", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "known_hosts")
		require.NoError(t, os.WriteFile(empty, nil, 0o600))
		stranger, err := NewSSHRunner(f.peer.addr, sshUser, f.keyFile, empty, "")
		require.NoError(t, err)
		before := len(f.peer.received())

		_, err = stranger.Run(t.Context(), Command{Args: []string{"true"}})
		var keyErr *knownhosts.KeyError
		require.ErrorAs(t, err, &keyErr)
		assert.Empty(t, keyErr.Want)
		assert.Len(t, f.peer.received(), before)
	})

	t.Run("a client key the server does not accept is refused", func(t *testing.T) {
		_, otherPEM := newED25519Signer(t)
		keyFile := filepath.Join(t.TempDir(), "id_ed25519")
		require.NoError(t, os.WriteFile(keyFile, otherPEM, 0o600))
		intruder, err := NewSSHRunner(f.peer.addr, sshUser, keyFile, f.knownHosts, "")
		require.NoError(t, err)
		before := len(f.peer.received())

		_, err = intruder.Run(t.Context(), Command{Args: []string{"true"}})
		require.ErrorContains(t, err, "unable to authenticate")
		assert.Len(t, f.peer.received(), before)
	})

	t.Run("a cancelled context stops a long command promptly", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		before := len(f.peer.received())
		// Cancel once the peer has started the command, so that the runner has to
		// stop a command that runs, not one that never started.
		go func() {
			for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
				if len(f.peer.received()) > before && f.peer.programs() > 0 {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
		}()

		start := time.Now()
		_, err := r.Run(ctx, Command{Args: []string{"sleep", "30"}})
		require.ErrorIs(t, err, context.Canceled)
		assert.Less(t, time.Since(start), 5*time.Second)
		require.Len(t, f.peer.received(), before+1)
		assert.Equal(t, "sleep 30", f.peer.received()[before])
		assert.Eventually(t, func() bool { return f.peer.programs() == 0 }, 5*time.Second, 20*time.Millisecond,
			"the runner's signal kills the remote program")
	})
}

func TestSSHRunnerSudo(t *testing.T) {
	f := setupSSH(t)
	// This machine need not have a www-data user nor sudo: the peer records the line.
	f.peer.recordOnly.Store(true)

	t.Run("runs the command through sudo -n -u the web user", func(t *testing.T) {
		cmd := Command{Args: []string{"php", "occ", "status"}, Env: map[string]string{"NEXTCLOUD_CONFIG_DIR": "/srv/x/"}}
		_, err := f.runner(t, "www-data").Run(t.Context(), cmd)
		require.NoError(t, err)
		lines := f.peer.received()
		require.Len(t, lines, 1)
		assert.True(t, strings.HasPrefix(lines[0], "sudo -n -u www-data -- sh -c "), lines[0])
		assert.True(t, strings.HasSuffix(lines[0], " php occ status"), lines[0])
		assert.NotContains(t, lines[0], "/srv/x/")
	})
}
