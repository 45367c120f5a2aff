package devstack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"jardinier/models"
)

// apiReadyTimeout bounds how long StartStack waits for the API's /readyz.
const apiReadyTimeout = 60 * time.Second

// StackOptions say how to run the whole system on one machine.
type StackOptions struct {
	// Config is the configuration the worker and the API get; StartStack fills in
	// the addresses of the servers it starts and a secret key if none is set.
	Config models.Config
	// StateDir keeps the servers' data, the mails and the secret key (.dev/).
	StateDir string
	// Temporal is the development server's configuration (temporal-dev.yaml).
	Temporal TemporalConfig
	// Executable is the jardinier binary run as worker and API; empty means this
	// process's own executable.
	Executable string
	// Env is added to the worker's and the API's environment.
	Env []string
	// Output receives every process's output, each line prefixed with its name.
	Output io.Writer
	Logger *slog.Logger
}

// Stack is the running system: Temporal, MinIO, the worker and the API.
type Stack struct {
	Config   models.Config
	StateDir string
	Temporal *Process
	MinIO    *Process
	Worker   *Process
	API      *Process
	UIURL    string
}

// StartStack starts the Temporal development server, MinIO, the worker and the API,
// and returns once the API is ready. PostgreSQL is the one of Config.DatabaseURL: the
// database is created if missing.
func StartStack(ctx context.Context, o StackOptions) (_ *Stack, err error) {
	cfg := o.Config
	if err := os.MkdirAll(o.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	if len(cfg.SecretKey) == 0 {
		if cfg.SecretKey, err = loadOrCreateKey(filepath.Join(o.StateDir, "secret.key")); err != nil {
			return nil, err
		}
	}
	if o.Executable == "" {
		if o.Executable, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find the jardinier binary: %w", err)
		}
	}
	if _, err := models.OpenDB(ctx, cfg.DatabaseURL, o.Logger); err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	s := &Stack{Config: cfg, StateDir: o.StateDir}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()

	cfg.TemporalAddress, cfg.TemporalNamespace = o.Temporal.HostPort(), o.Temporal.Namespace
	s.Temporal, err = StartTemporal(ctx, TemporalOptions{Config: o.Temporal, Output: prefixed(o.Output, "temporal")})
	if err != nil {
		return nil, err
	}
	if o.Temporal.UIPort > 0 {
		s.UIURL = fmt.Sprintf("http://%s/namespaces/%s/workflows", dialAddr(o.Temporal.IP+":"+strconv.Itoa(o.Temporal.UIPort)), o.Temporal.Namespace)
	}
	s.MinIO, err = StartMinIO(ctx, MinIOOptions{DataDir: filepath.Join(o.StateDir, "minio"), Addr: cfg.S3Endpoint,
		AccessKey: cfg.S3AccessKey, SecretKey: cfg.S3SecretKey, Output: prefixed(o.Output, "minio")})
	if err != nil {
		return nil, err
	}
	if cfg.SMTPURL == "" && !filepath.IsAbs(cfg.MailDir) {
		cfg.MailDir = filepath.Join(filepath.Dir(o.StateDir), cfg.MailDir)
	}
	env := append([]string{
		"SECRET_KEY=" + base64.StdEncoding.EncodeToString(cfg.SecretKey),
		"TEMPORAL_ADDRESS=" + cfg.TemporalAddress,
		"TEMPORAL_NAMESPACE=" + cfg.TemporalNamespace,
		"MAIL_DIR=" + cfg.MailDir,
		"NEXTCLOUD_SIM_DIR=" + filepath.Join(o.StateDir, "nextcloud-sim"),
		"DATABASE_URL=" + cfg.DatabaseURL,
		"S3_ENDPOINT=" + cfg.S3Endpoint,
		"S3_ACCESS_KEY=" + cfg.S3AccessKey,
		"S3_SECRET_KEY=" + cfg.S3SecretKey,
		"API_ADDR=" + cfg.APIAddr,
	}, o.Env...)
	s.Config = cfg
	if s.Worker, err = startProcess("worker", o.Executable, []string{"worker"}, env, nil, prefixed(o.Output, "worker")); err != nil {
		return nil, err
	}
	if s.API, err = startProcess("api", o.Executable, []string{"api"}, env, nil, prefixed(o.Output, "api")); err != nil {
		return nil, err
	}
	readyURL := "http://" + dialAddr(cfg.APIAddr) + "/readyz"
	if err := waitReady(ctx, s.API, apiReadyTimeout, func(ctx context.Context) error { return httpOK(ctx, readyURL) }); err != nil {
		return nil, err
	}
	select {
	case <-s.Worker.Exited():
		return nil, s.Worker.exitedError()
	default:
	}
	return s, nil
}

// Stop stops every process, the last started first.
func (s *Stack) Stop() error {
	var errs []error
	for _, p := range []*Process{s.API, s.Worker, s.MinIO, s.Temporal} {
		if p != nil {
			errs = append(errs, p.Stop())
		}
	}
	return errors.Join(errs...)
}

// Exited returns a channel that receives the first process to end on its own.
func (s *Stack) Exited() <-chan *Process {
	ch := make(chan *Process, 4)
	for _, p := range []*Process{s.Temporal, s.MinIO, s.Worker, s.API} {
		go func() {
			<-p.Exited()
			ch <- p
		}()
	}
	return ch
}

// DevOptions configure RunDev.
type DevOptions struct {
	Config models.Config
	Stdout io.Writer
	Logger *slog.Logger
}

// RunDev runs the whole system from the repository's .dev/ directory and
// temporal-dev.yaml, prints where to reach it, and stops everything when ctx is
// cancelled (Ctrl-C) or any part ends.
func RunDev(ctx context.Context, o DevOptions) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	tc, err := LoadTemporalConfig(filepath.Join(root, TemporalConfigFile))
	if err != nil {
		return err
	}
	s, err := StartStack(ctx, StackOptions{Config: o.Config, StateDir: filepath.Join(root, ".dev"), Temporal: tc,
		Output: os.Stderr, Logger: o.Logger})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Stdout, `
Jardinier is running (Ctrl-C stops everything):
  API          http://%s/api/v1   (health: /healthz, /readyz)
  Temporal UI  %s
  Temporal     %s, namespace %s
  S3 (MinIO)   http://%s   (access key %s)
  Mails        %s
  Database     %s
`, dialAddr(s.Config.APIAddr), s.UIURL, s.Config.TemporalAddress, s.Config.TemporalNamespace,
		s.Config.S3Endpoint, s.Config.S3AccessKey, mailsWhere(s.Config), redactURL(s.Config.DatabaseURL))
	select {
	case <-ctx.Done():
		fmt.Fprintln(o.Stdout, "Stopping...")
		return s.Stop()
	case p := <-s.Exited():
		s.Stop()
		return fmt.Errorf("%s stopped; its last output:\n%s", p.name, p.lastLines())
	}
}

func mailsWhere(c models.Config) string {
	if c.SMTPURL != "" {
		return redactURL(c.SMTPURL)
	}
	return "written as .eml files under " + c.MailDir
}

func redactURL(s string) string {
	if i, j := strings.Index(s, "://"), strings.LastIndex(s, "@"); i >= 0 && j > i {
		if k := strings.Index(s[i+3:j], ":"); k >= 0 {
			return s[:i+3+k] + ":***" + s[j:]
		}
	}
	return s
}

// loadOrCreateKey reads the development secret key, creating it the first time.
func loadOrCreateKey(path string) ([]byte, error) {
	if raw, err := os.ReadFile(path); err == nil {
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil || len(key) != 32 {
			return nil, fmt.Errorf("%s: not a 32-byte base64 key; delete it to make a new one", path)
		}
		return key, nil
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write secret key: %w", err)
	}
	return key, nil
}

// prefixed writes each line to w behind "[name] ".
func prefixed(w io.Writer, name string) io.Writer {
	if w == nil {
		return nil
	}
	return &prefixWriter{w: w, prefix: "[" + name + "] "}
}

type prefixWriter struct {
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := strings.IndexByte(string(p.buf), '\n')
		if i < 0 {
			return len(b), nil
		}
		if _, err := io.WriteString(p.w, p.prefix+string(p.buf[:i+1])); err != nil {
			return len(b), err
		}
		p.buf = p.buf[i+1:]
	}
}
