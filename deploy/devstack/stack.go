package devstack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
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
	// Cron starts the cron service (`jardinier cron`) too, after the worker, with the
	// same environment: make dev runs the spaces' background jobs as production does.
	Cron bool
	// Output receives every process's output, each line prefixed with its name.
	Output io.Writer
	Logger *slog.Logger
}

// Stack is the running system: PostgreSQL, Temporal, S3, the worker and the API.
type Stack struct {
	Config   models.Config
	StateDir string
	// Services are the servers the system uses, in start order: each says whether
	// StartStack started it or found it running.
	Services []Service
	// Postgres, Temporal and MinIO are the servers StartStack started; nil for one
	// found running.
	Postgres *Process
	Temporal *Process
	MinIO    *Process
	Worker   *Process
	Cron     *Process // nil unless StackOptions.Cron
	API      *Process
	// UIURL is the Temporal web UI's list of workflows; empty when unknown.
	UIURL string
	// TemporalStore is where the development server started keeps its state;
	// empty for one found running, or kept in memory.
	TemporalStore string
	// WorkerMetrics and CronMetrics are where the worker and the cron process serve
	// /metrics (METRICS_ADDR); the API serves it on its own address.
	WorkerMetrics, CronMetrics string
}

// StartStack starts what the system needs and the configuration does not find
// running: PostgreSQL at Config.DatabaseURL (a private server in StateDir/postgres),
// Temporal at the address of o.Temporal (the development server), S3 at
// Config.S3Endpoint (MinIO); then the worker and the API. It returns once the API is
// ready. The database is created if missing.
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
	if err := checkFree(cfg.APIAddr); err != nil {
		return nil, fmt.Errorf("API_ADDR: %w", err)
	}
	s := &Stack{Config: cfg, StateDir: o.StateDir}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()

	pg, err := EnsurePostgres(ctx, cfg.DatabaseURL, filepath.Join(o.StateDir, "postgres"), prefixed(o.Output, "postgres"))
	if err != nil {
		return nil, err
	}
	s.Services, s.Postgres = append(s.Services, pg), pg.Process
	db, err := models.OpenDB(ctx, cfg.DatabaseURL, o.Logger)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	// Only a check: the worker and the API open their own. An idle connection
	// left open would hold up the private server's shutdown.
	if sqlDB, err := db.DB(); err == nil {
		sqlDB.Close()
	}

	cfg.TemporalAddress, cfg.TemporalNamespace = o.Temporal.HostPort(), o.Temporal.Namespace
	tmp, err := EnsureTemporal(ctx, TemporalOptions{Config: o.Temporal, Output: prefixed(o.Output, "temporal")})
	if err != nil {
		return nil, err
	}
	s.Services, s.Temporal = append(s.Services, tmp), tmp.Process
	if tmp.Started {
		s.TemporalStore = o.Temporal.DBFilename
	}
	if o.Temporal.UIPort > 0 {
		ui := "http://" + dialAddr(net.JoinHostPort(o.Temporal.IP, strconv.Itoa(o.Temporal.UIPort)))
		// A server found running may have its UI elsewhere, or none.
		if tmp.Started || httpOK(ctx, ui+"/") == nil {
			s.UIURL = fmt.Sprintf("%s/namespaces/%s/workflows", ui, o.Temporal.Namespace)
		}
	}

	s3, err := EnsureS3(ctx, cfg, filepath.Join(o.StateDir, "minio"), prefixed(o.Output, "minio"))
	if err != nil {
		return nil, err
	}
	s.Services, s.MinIO = append(s.Services, s3), s3.Process

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
	// The worker and the cron process each serve /metrics on a port of their own.
	for _, addr := range []*string{&s.WorkerMetrics, &s.CronMetrics} {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		*addr = fmt.Sprintf("127.0.0.1:%d", port)
	}
	if s.Worker, err = startProcess("worker", o.Executable, []string{"worker"},
		slices.Concat(env, []string{"METRICS_ADDR=" + s.WorkerMetrics}), nil, prefixed(o.Output, "worker")); err != nil {
		return nil, err
	}
	if o.Cron {
		if s.Cron, err = startProcess("cron", o.Executable, []string{"cron"},
			slices.Concat(env, []string{"METRICS_ADDR=" + s.CronMetrics}), nil, prefixed(o.Output, "cron")); err != nil {
			return nil, err
		}
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

// processes returns the processes StartStack started, in start order.
func (s *Stack) processes() []*Process {
	var ps []*Process
	for _, p := range []*Process{s.Postgres, s.Temporal, s.MinIO, s.Worker, s.Cron, s.API} {
		if p != nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// Stop stops every process StartStack started, the last started first; servers
// found running are left as they are.
func (s *Stack) Stop() error {
	var errs []error
	ps := s.processes()
	for i := len(ps) - 1; i >= 0; i-- {
		errs = append(errs, ps[i].Stop())
	}
	return errors.Join(errs...)
}

// Exited returns a channel that receives the first process to end on its own.
func (s *Stack) Exited() <-chan *Process {
	ps := s.processes()
	ch := make(chan *Process, len(ps))
	for _, p := range ps {
		go func() {
			<-p.Exited()
			ch <- p
		}()
	}
	return ch
}

// Summary tells where each part of the running system is reached, and which servers
// were started (and stop with it) or found running (and are left as they are).
// Paths under root are shown relative to it.
func (s *Stack) Summary(root string) string {
	rel := func(path string) string {
		if r, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
		return path
	}
	var b strings.Builder
	addr := dialAddr(s.Config.APIAddr)
	fmt.Fprintf(&b, "  %-12s http://%s/   (apply for a space, follow an application)\n", "Site", addr)
	fmt.Fprintf(&b, "  %-12s http://%s/moderation/   (the moderators' console)\n", "Console", addr)
	fmt.Fprintf(&b, "  %-12s http://%s/api/v1   (health: /healthz, /readyz)\n", "API", addr)
	metricsOf := []string{"http://" + addr + "/metrics (api)", "http://" + s.WorkerMetrics + "/metrics (worker)"}
	if s.Cron != nil {
		metricsOf = append(metricsOf, "http://"+s.CronMetrics+"/metrics (cron)")
	}
	fmt.Fprintf(&b, "  %-12s %s\n", "Metrics", strings.Join(metricsOf, ", "))
	ui := s.UIURL
	if ui == "" {
		ui = "not known: set TEMPORAL_UI_PORT to the port of the server's web UI"
	}
	fmt.Fprintf(&b, "  %-12s %s\n", "Temporal UI", ui)
	for _, svc := range s.Services {
		var where, detail string
		switch svc.Name {
		case "PostgreSQL":
			where = redactURL(s.Config.DatabaseURL)
			detail = "private server, data in " + rel(filepath.Join(s.StateDir, "postgres"))
		case "Temporal":
			where = fmt.Sprintf("%s, namespace %s", svc.Addr, s.Config.TemporalNamespace)
			detail = "development server, store in memory"
			if s.TemporalStore != "" {
				detail = "development server, store " + rel(s.TemporalStore)
			}
		case "S3":
			where = fmt.Sprintf("http://%s (access key %s)", svc.Addr, s.Config.S3AccessKey)
			detail = "MinIO, data in " + rel(filepath.Join(s.StateDir, "minio"))
		}
		how := "reused: already running, left as it is"
		if svc.Started {
			how = "started (" + detail + ")"
		}
		fmt.Fprintf(&b, "  %-12s %s   %s\n", svc.Name, where, how)
	}
	if s.Cron != nil {
		fmt.Fprintf(&b, "  %-12s every space's background jobs every %s, %d at once (CRON_EVERY, CRON_CONCURRENCY)\n",
			"Cron", s.Config.Cron.Every, s.Config.Cron.Concurrency)
	}
	fmt.Fprintf(&b, "  %-12s %s\n", "Mails", mailsWhere(s.Config))
	return b.String()
}

// DevOptions configure RunDev.
type DevOptions struct {
	Config models.Config
	// Getenv reads the environment Config came from: TEMPORAL_ADDRESS,
	// TEMPORAL_NAMESPACE and TEMPORAL_UI_PORT, when set, override temporal-dev.yaml
	// (see ApplyTemporalEnv). Nil means os.Getenv.
	Getenv func(string) string
	Stdout io.Writer
	Logger *slog.Logger
}

// RunDev runs the whole system from the repository's .dev/ directory and
// temporal-dev.yaml, using the servers the configuration finds running and
// starting the others, prints where to reach it, and stops what it started when
// ctx is cancelled (Ctrl-C) or any part ends.
func RunDev(ctx context.Context, o DevOptions) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	tc, err := LoadTemporalConfig(filepath.Join(root, TemporalConfigFile))
	if err != nil {
		return err
	}
	if tc, err = ApplyTemporalEnv(tc, o.Getenv); err != nil {
		return err
	}
	stateDir := filepath.Join(root, ".dev")
	cfg, env, err := devPayloadKeys(o.Config, stateDir)
	if err != nil {
		return err
	}
	// The web UI asks the API to decode the payloads it shows (an admin signed in to
	// the console, README "Metrics and alerts").
	tc.UICodecEndpoint = "http://" + dialAddr(cfg.APIAddr) + "/codec"
	s, err := StartStack(ctx, StackOptions{Config: cfg, StateDir: stateDir, Temporal: tc, Env: env,
		Output: os.Stderr, Logger: o.Logger, Cron: true})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Stdout, "\nJardinier is running (Ctrl-C stops what was started):\n%s", s.Summary(root))
	select {
	case <-ctx.Done():
		fmt.Fprintln(o.Stdout, "Stopping...")
		return s.Stop()
	case p := <-s.Exited():
		s.Stop()
		return fmt.Errorf("%s stopped; its last output:\n%s", p.name, p.lastLines())
	}
}

// ApplyTemporalEnv overrides the development server's configuration with the
// environment: TEMPORAL_ADDRESS sets its ip and port, TEMPORAL_NAMESPACE its
// namespace, TEMPORAL_UI_PORT its web UI's port (0 turns the UI off), so that
// temporal-dev.yaml need not be edited to run beside another server. An error
// names the variable at fault.
func ApplyTemporalEnv(tc TemporalConfig, getenv func(string) string) (TemporalConfig, error) {
	if v := getenv("TEMPORAL_ADDRESS"); v != "" {
		host, port, err := net.SplitHostPort(v)
		n, perr := strconv.Atoi(port)
		if err != nil || perr != nil || host == "" || n <= 0 || n > 65535 {
			return tc, fmt.Errorf("TEMPORAL_ADDRESS %q: want host:port, such as 127.0.0.1:7233", v)
		}
		tc.IP, tc.Port = host, n
	}
	if v := getenv("TEMPORAL_NAMESPACE"); v != "" {
		tc.Namespace = v
	}
	if v := getenv("TEMPORAL_UI_PORT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 65535 {
			return tc, fmt.Errorf("TEMPORAL_UI_PORT %q: want a TCP port, or 0 for no web UI", v)
		}
		tc.UIPort = n
	}
	return tc, nil
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

// devPayloadKeys gives make dev's histories an encryption key of their own, kept in
// stateDir, unless TEMPORAL_PAYLOAD_KEYS gave some; env passes it to the processes.
func devPayloadKeys(cfg models.Config, stateDir string) (models.Config, []string, error) {
	if len(cfg.PayloadKeys) > 0 {
		return cfg, nil, nil
	}
	if err := os.MkdirAll(stateDir, 0o750); err != nil {
		return cfg, nil, fmt.Errorf("state directory: %w", err)
	}
	key, err := loadOrCreateKey(filepath.Join(stateDir, "payload.key"))
	if err != nil {
		return cfg, nil, err
	}
	cfg.PayloadKeys = []models.PayloadKey{{ID: "dev", Key: key}}
	return cfg, []string{"TEMPORAL_PAYLOAD_KEYS=dev:" + base64.StdEncoding.EncodeToString(key)}, nil
}

// loadOrCreateKey reads a development key (secret key, payload key), creating it the
// first time.
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
