// Package cluster runs Jardinier on a real Temporal cluster on one machine, as
// production runs it on several: the Temporal server itself (bin/temporal-server,
// built from go.temporal.io/server by `make cluster`) on PostgreSQL, its
// persistence and SQL visibility store in databases of their own made by
// temporal-sql-tool, then several workers, several API instances and the cron
// service, on the machine's PostgreSQL and MinIO. `jardinier cluster` (make
// cluster) and the chaos tests call Start.
//
// The processes are those of deploy/devstack; the Temporal server reads
// temporal.yaml and dynamicconfig.yaml of this directory.
package cluster

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"jardinier/deploy/devstack"
	"jardinier/models"
)

// The binaries `make cluster` builds into bin/.
const (
	ServerBinary    = "temporal-server"
	SQLToolBinary   = "temporal-sql-tool"
	UIServerBinary  = "temporal-ui-server"
	serverReadyTime = 2 * time.Minute // a first start creates the shards in PostgreSQL
	apiReadyTimeout = 60 * time.Second
)

// DefaultTemporalDatabaseURL is where the cluster's Temporal server keeps its
// persistence; its visibility store is the database of the same name with
// "_visibility" after it, on the same server.
const DefaultTemporalDatabaseURL = "postgres://postgres@127.0.0.1:5432/temporal?sslmode=disable"

// Options say how to run the cluster.
type Options struct {
	// Config is what the Jardinier processes get: TEMPORAL_ADDRESS is where the
	// Temporal frontend listens, API_ADDR the first API instance's address (the
	// others take the next ports), DATABASE_URL and S3_* as in production.
	Config models.Config
	// TemporalDatabaseURL is the PostgreSQL database of Temporal's persistence,
	// with a user that may create databases (TEMPORAL_DATABASE_URL); empty means
	// DefaultTemporalDatabaseURL.
	TemporalDatabaseURL string
	// StateDir keeps MinIO's data, the mails, the secret key and the simulator's
	// spaces (.cluster/).
	StateDir string
	// Workers and APIs are how many worker and API processes run; 0 means 2.
	Workers, APIs int
	// Cron starts the cron service too.
	Cron bool
	// UIPort is the port of the Temporal web UI (bin/temporal-ui-server) on
	// 127.0.0.1; 0 runs none.
	UIPort int
	// Executable is what runs as worker, API and cron: empty means this process's
	// own executable, run as `<executable> worker` and so on. Args, if not nil,
	// gives the arguments for each role ("worker", "api", "cron") instead.
	Executable string
	Args       func(role string) []string
	// Env is added to every Jardinier process's environment.
	Env []string
	// TemporalLogLevel is the server's log level; empty means warn.
	TemporalLogLevel string
	// Output receives every process's output, each line behind its name.
	Output io.Writer
	Logger *slog.Logger
}

// Cluster is the running system.
type Cluster struct {
	Config models.Config
	// Temporal is the Temporal server; UI its web UI (nil without one).
	Temporal *devstack.Process
	UI       *devstack.Process
	// Services are PostgreSQL and S3, started or found running.
	Services []devstack.Service
	Workers  []*devstack.Process
	APIs     []*devstack.Process
	Cron     *devstack.Process
	// APIURLs are the base URLs of the API instances, in order.
	APIURLs []string
	// UIURL is the web UI's list of the namespace's workflows; empty without UI.
	UIURL string

	o          Options
	serverArgs []string
	serverEnv  []string
	env        []string
}

// Start sets up Temporal's databases (created if missing, schemas brought to the
// server's version), starts the Temporal server and registers the namespace and the
// search attributes of temporal-dev.yaml, then the web UI, MinIO (when nothing answers
// at S3_ENDPOINT), the workers, the cron service and the API instances. It returns
// once every API instance is ready.
func Start(ctx context.Context, o Options) (_ *Cluster, err error) {
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.APIs <= 0 {
		o.APIs = 2
	}
	if o.TemporalDatabaseURL == "" {
		o.TemporalDatabaseURL = DefaultTemporalDatabaseURL
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Executable == "" {
		if o.Executable, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("find the jardinier binary: %w", err)
		}
	}
	if o.Args == nil {
		o.Args = func(role string) []string { return []string{role} }
	}
	cfg := o.Config
	if err := os.MkdirAll(o.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	if len(cfg.SecretKey) == 0 {
		if cfg.SecretKey, err = devstack.LoadOrCreateKey(filepath.Join(o.StateDir, "secret.key")); err != nil {
			return nil, err
		}
	}
	root, err := devstack.RepoRoot()
	if err != nil {
		return nil, err
	}
	dev, err := devstack.LoadTemporalConfig(filepath.Join(root, devstack.TemporalConfigFile))
	if err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(cfg.TemporalAddress)
	if err != nil {
		return nil, fmt.Errorf("TEMPORAL_ADDRESS %q: %w", cfg.TemporalAddress, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("TEMPORAL_ADDRESS %q: the cluster's server listens on the loopback address only", cfg.TemporalAddress)
	}
	apiAddrs, err := apiAddrs(cfg.APIAddr, o.APIs)
	if err != nil {
		return nil, err
	}
	for _, addr := range append([]string{cfg.TemporalAddress}, apiAddrs...) {
		if err := checkFree(addr); err != nil {
			return nil, err
		}
	}

	c := &Cluster{Config: cfg, o: o}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()

	pg, err := devstack.EnsurePostgres(ctx, cfg.DatabaseURL, filepath.Join(o.StateDir, "postgres"),
		devstack.Prefixed(o.Output, "postgres"))
	if err != nil {
		return nil, err
	}
	c.Services = append(c.Services, pg)

	db, err := ParseDatabaseURL(o.TemporalDatabaseURL)
	if err != nil {
		return nil, err
	}
	sqlTool, err := devstack.Binary(SQLToolBinary)
	if err != nil {
		return nil, fmt.Errorf("%w (make cluster builds it)", err)
	}
	if err := SetupSchemas(ctx, sqlTool, db, devstack.Prefixed(o.Output, "temporal-sql-tool")); err != nil {
		return nil, err
	}

	serverBin, err := devstack.Binary(ServerBinary)
	if err != nil {
		return nil, fmt.Errorf("%w (make cluster builds it)", err)
	}
	ports, err := freeLowPorts(8)
	if err != nil {
		return nil, err
	}
	logLevel := o.TemporalLogLevel
	if logLevel == "" {
		logLevel = "warn"
	}
	c.serverEnv = append(db.serverEnv(), []string{
		"CLUSTER_TEMPORAL_LOG_LEVEL=" + logLevel,
		"CLUSTER_TEMPORAL_FRONTEND_PORT=" + port,
		"CLUSTER_TEMPORAL_FRONTEND_MEMBERSHIP_PORT=" + ports[0],
		"CLUSTER_TEMPORAL_FRONTEND_HTTP_PORT=" + ports[1],
		"CLUSTER_TEMPORAL_HISTORY_PORT=" + ports[2],
		"CLUSTER_TEMPORAL_HISTORY_MEMBERSHIP_PORT=" + ports[3],
		"CLUSTER_TEMPORAL_MATCHING_PORT=" + ports[4],
		"CLUSTER_TEMPORAL_MATCHING_MEMBERSHIP_PORT=" + ports[5],
		"CLUSTER_TEMPORAL_WORKER_PORT=" + ports[6],
		"CLUSTER_TEMPORAL_WORKER_MEMBERSHIP_PORT=" + ports[7],
		"CLUSTER_TEMPORAL_DYNAMIC_CONFIG=" + filepath.Join(root, "deploy", "cluster", "dynamicconfig.yaml"),
	}...)
	c.serverArgs = []string{"--root", "/", "--config", filepath.Join(root, "deploy", "cluster"), "--env", "temporal",
		"--allow-no-auth", "start"}
	if err := c.startTemporal(ctx, serverBin); err != nil {
		return nil, err
	}
	tc := dev
	tc.IP, tc.Namespace = host, cfg.TemporalNamespace
	tc.Port, _ = strconv.Atoi(port)
	if err := devstack.ReadyForJardinier(ctx, tc); err != nil {
		return nil, fmt.Errorf("register namespace %q and its search attributes: %w", cfg.TemporalNamespace, err)
	}

	if o.UIPort > 0 {
		if err := c.startUI(ctx, root); err != nil {
			return nil, err
		}
	}

	s3, err := devstack.EnsureS3(ctx, cfg, filepath.Join(o.StateDir, "minio"), devstack.Prefixed(o.Output, "minio"))
	if err != nil {
		return nil, err
	}
	c.Services = append(c.Services, s3)

	if cfg.SMTPURL == "" && !filepath.IsAbs(cfg.MailDir) {
		cfg.MailDir = filepath.Join(o.StateDir, "mail")
	}
	c.Config = cfg
	c.env = append([]string{
		"SECRET_KEY=" + base64.StdEncoding.EncodeToString(cfg.SecretKey),
		"TEMPORAL_ADDRESS=" + cfg.TemporalAddress,
		"TEMPORAL_NAMESPACE=" + cfg.TemporalNamespace,
		"MAIL_DIR=" + cfg.MailDir,
		"NEXTCLOUD_SIM_DIR=" + c.SimDir(),
		"DATABASE_URL=" + cfg.DatabaseURL,
		"S3_ENDPOINT=" + cfg.S3Endpoint,
		"S3_ACCESS_KEY=" + cfg.S3AccessKey,
		"S3_SECRET_KEY=" + cfg.S3SecretKey,
	}, o.Env...)
	if c.UIURL != "" {
		c.env = append(c.env, "TEMPORAL_UI_URL="+strings.TrimSuffix(c.UIURL, "/namespaces/"+cfg.TemporalNamespace+"/workflows"))
	}
	c.Workers = make([]*devstack.Process, o.Workers)
	for i := range c.Workers {
		if err := c.StartWorker(i); err != nil {
			return nil, err
		}
	}
	if o.Cron {
		if c.Cron, err = devstack.StartProcess("cron", o.Executable, o.Args("cron"), c.env, nil,
			devstack.Prefixed(o.Output, "cron")); err != nil {
			return nil, err
		}
	}
	for i, addr := range apiAddrs {
		name := fmt.Sprintf("api-%d", i+1)
		p, err := devstack.StartProcess(name, o.Executable, o.Args("api"), append(c.env, "API_ADDR="+addr), nil,
			devstack.Prefixed(o.Output, name))
		if err != nil {
			return nil, err
		}
		c.APIs = append(c.APIs, p)
		c.APIURLs = append(c.APIURLs, "http://"+addr)
	}
	for i, p := range c.APIs {
		readyURL := c.APIURLs[i] + "/readyz"
		if err := devstack.WaitReady(ctx, p, apiReadyTimeout, func(ctx context.Context) error {
			return devstack.HTTPOK(ctx, readyURL)
		}); err != nil {
			return nil, err
		}
	}
	for _, w := range c.Workers {
		select {
		case <-w.Exited():
			return nil, fmt.Errorf("%s exited during start-up; its last output:\n%s", w.Name(), w.LastLines())
		default:
		}
	}
	return c, nil
}

// startTemporal starts the Temporal server and waits until its frontend answers.
func (c *Cluster) startTemporal(ctx context.Context, bin string) error {
	p, err := devstack.StartProcess("temporal", bin, c.serverArgs, c.serverEnv, []string{"CLUSTER_TEMPORAL_", "TEMPORAL_"},
		devstack.Prefixed(c.o.Output, "temporal"))
	if err != nil {
		return err
	}
	var tc client.Client
	err = devstack.WaitReady(ctx, p, serverReadyTime, func(ctx context.Context) error {
		if tc == nil {
			dialed, err := client.DialContext(ctx, client.Options{
				HostPort: c.Config.TemporalAddress,
				Logger:   log.NewStructuredLogger(slog.New(slog.DiscardHandler)),
			})
			if err != nil {
				return err
			}
			tc = dialed
		}
		_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	})
	if tc != nil {
		tc.Close()
	}
	if err != nil {
		return err
	}
	c.Temporal = p
	return nil
}

// RestartTemporal kills the Temporal server (SIGKILL, as a crash of its machine
// would) and starts it again on the same ports and databases, returning once its
// frontend answers.
func (c *Cluster) RestartTemporal(ctx context.Context) error {
	bin, err := devstack.Binary(ServerBinary)
	if err != nil {
		return err
	}
	if c.Temporal != nil {
		if err := c.Temporal.Kill(); err != nil {
			return fmt.Errorf("kill the Temporal server: %w", err)
		}
	}
	return c.startTemporal(ctx, bin)
}

// startUI starts the Temporal web UI against the cluster's frontend.
func (c *Cluster) startUI(ctx context.Context, root string) error {
	bin, err := devstack.Binary(UIServerBinary)
	if err != nil {
		return fmt.Errorf("%w (make cluster builds it; TEMPORAL_UI_PORT=0 runs no UI)", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(c.o.UIPort))
	if err := checkFree(addr); err != nil {
		return fmt.Errorf("TEMPORAL_UI_PORT: %w", err)
	}
	env := []string{
		"TEMPORAL_ADDRESS=" + c.Config.TemporalAddress,
		"TEMPORAL_UI_PORT=" + strconv.Itoa(c.o.UIPort),
		"TEMPORAL_DEFAULT_NAMESPACE=" + c.Config.TemporalNamespace,
	}
	p, err := devstack.StartProcess("temporal-ui", bin,
		[]string{"--root", "/", "--config", filepath.Join(root, "deploy", "cluster"), "--env", "ui", "start"},
		env, []string{"TEMPORAL_"}, devstack.Prefixed(c.o.Output, "temporal-ui"))
	if err != nil {
		return err
	}
	if err := devstack.WaitReady(ctx, p, time.Minute, func(ctx context.Context) error {
		return devstack.HTTPOK(ctx, "http://"+addr+"/")
	}); err != nil {
		return err
	}
	c.UI = p
	c.UIURL = fmt.Sprintf("http://%s/namespaces/%s/workflows", addr, c.Config.TemporalNamespace)
	return nil
}

// SimDir is where the workers' Nextcloud simulator keeps the spaces
// (NEXTCLOUD_SIM_DIR), shared by every worker and the cron service.
func (c *Cluster) SimDir() string { return filepath.Join(c.o.StateDir, "nextcloud-sim") }

// StartWorker starts worker i (from 0), or starts it again once it has ended.
func (c *Cluster) StartWorker(i int) error {
	name := fmt.Sprintf("worker-%d", i+1)
	p, err := devstack.StartProcess(name, c.o.Executable, c.o.Args("worker"), c.env, nil, devstack.Prefixed(c.o.Output, name))
	if err != nil {
		return err
	}
	c.Workers[i] = p
	return nil
}

// KillWorker kills worker i (SIGKILL: no heartbeat, no answer to Temporal, as a
// crash would) and waits for it to end.
func (c *Cluster) KillWorker(i int) error {
	return c.Workers[i].Kill()
}

// Stop stops every process Start started, the last started first; PostgreSQL and
// S3 found running are left as they are.
func (c *Cluster) Stop() error {
	var ps []*devstack.Process
	ps = append(ps, c.APIs...)
	if c.Cron != nil {
		ps = append(ps, c.Cron)
	}
	ps = append(ps, c.Workers...)
	for i := len(c.Services) - 1; i >= 0; i-- {
		if c.Services[i].Process != nil && c.Services[i].Name == "S3" {
			ps = append(ps, c.Services[i].Process)
		}
	}
	ps = append(ps, c.UI, c.Temporal)
	for _, s := range c.Services {
		if s.Process != nil && s.Name == "PostgreSQL" {
			ps = append(ps, s.Process)
		}
	}
	var errs []error
	for _, p := range ps {
		if p != nil {
			errs = append(errs, p.Stop())
		}
	}
	return errors.Join(errs...)
}

// Processes returns every process the cluster runs now.
func (c *Cluster) Processes() []*devstack.Process {
	var ps []*devstack.Process
	for _, p := range append(append([]*devstack.Process{c.Temporal, c.UI, c.Cron}, c.Workers...), c.APIs...) {
		if p != nil {
			ps = append(ps, p)
		}
	}
	for _, s := range c.Services {
		if s.Process != nil {
			ps = append(ps, s.Process)
		}
	}
	return ps
}

// apiAddrs returns n addresses for the API instances: first, then the next ports.
func apiAddrs(first string, n int) ([]string, error) {
	host, port, err := net.SplitHostPort(first)
	p, perr := strconv.Atoi(port)
	if err != nil || perr != nil {
		return nil, fmt.Errorf("API_ADDR %q: want host:port", first)
	}
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = net.JoinHostPort(host, strconv.Itoa(p+i))
	}
	return addrs, nil
}

// checkFree fails if something already listens on addr.
func checkFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s is taken, is another server running? %w", addr, err)
	}
	return l.Close()
}

// freeLowPorts returns n distinct free TCP ports on 127.0.0.1 below 32768, held until
// all are found so that none is returned twice: Temporal keeps the membership ports
// in a smallint column.
func freeLowPorts(n int) ([]string, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]string, 0, n)
	for try := 0; len(ports) < n && try < 1000; try++ {
		port := 20000 + mrand.IntN(12000)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		ls = append(ls, l)
		ports = append(ports, strconv.Itoa(port))
	}
	if len(ports) < n {
		return nil, errors.New("find free ports below 32768 for the Temporal server: none")
	}
	return ports, nil
}

// Database is where the Temporal server keeps one of its stores.
type Database struct {
	Host, Port, User, Password, Name, SSLMode string
}

// VisibilityName is the database of the visibility store, beside Name.
func (d Database) VisibilityName() string { return d.Name + "_visibility" }

// ParseDatabaseURL reads TEMPORAL_DATABASE_URL: postgres://user[:password]@host[:port]/name[?sslmode=...].
func ParseDatabaseURL(raw string) (Database, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return Database{}, fmt.Errorf("TEMPORAL_DATABASE_URL %q: want postgres://user@host:port/name", raw)
	}
	d := Database{Host: u.Hostname(), Port: u.Port(), User: u.User.Username(), Name: strings.TrimPrefix(u.Path, "/"),
		SSLMode: u.Query().Get("sslmode")}
	d.Password, _ = u.User.Password()
	if d.Port == "" {
		d.Port = "5432"
	}
	if d.SSLMode == "" {
		d.SSLMode = "disable"
	}
	if d.Name == "" || strings.ContainsAny(d.Name, "/\"' ") || d.User == "" {
		return Database{}, fmt.Errorf("TEMPORAL_DATABASE_URL %q: a user and a database name are needed", raw)
	}
	return d, nil
}

// serverEnv is what temporal.yaml reads of d.
func (d Database) serverEnv() []string {
	return []string{
		"CLUSTER_TEMPORAL_DB=" + d.Name,
		"CLUSTER_TEMPORAL_VISIBILITY_DB=" + d.VisibilityName(),
		"CLUSTER_TEMPORAL_DB_ADDR=" + net.JoinHostPort(d.Host, d.Port),
		"CLUSTER_TEMPORAL_DB_USER=" + d.User,
		"CLUSTER_TEMPORAL_DB_PASSWORD=" + d.Password,
		"CLUSTER_TEMPORAL_DB_TLS=" + strconv.FormatBool(d.SSLMode != "disable"),
	}
}
