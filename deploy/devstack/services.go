package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/minio/minio-go/v7"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"jardinier/activities/storage"
	"jardinier/models"
)

// reuseTimeout bounds how long a server found running may take to be ready for
// Jardinier (a namespace registered, search attributes added).
const reuseTimeout = 30 * time.Second

// Service is a server the stack depends on, and whether StartStack started it or
// found it running.
type Service struct {
	// Name is what the server is: PostgreSQL, Temporal or S3.
	Name string
	// Addr is where clients reach it.
	Addr string
	// Started is false for a server that was already running: it is used as it
	// is, and left running at the end.
	Started bool
	// Process is the server started; nil when it was reused.
	Process *Process
}

// How says "started" or "reused".
func (s Service) How() string {
	if s.Started {
		return "started"
	}
	return "reused"
}

// listening reports whether something accepts connections at addr.
func listening(addr string) bool {
	conn, err := net.DialTimeout("tcp", dialAddr(addr), time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// startable reports whether a server can be started here to listen on host:
// the loopback addresses, localhost, and every interface.
func startable(host string) bool {
	if host == "" || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// EnsurePostgres makes sure PostgreSQL answers at databaseURL. A server already
// there is used. When nothing listens at a loopback address, a private server
// is started from the machine's PostgreSQL programs, its cluster in dataDir,
// with the URL's user as superuser.
func EnsurePostgres(ctx context.Context, databaseURL, dataDir string, output io.Writer) (Service, error) {
	pc, err := pgconn.ParseConfig(databaseURL)
	if err != nil {
		return Service{}, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if filepath.IsAbs(pc.Host) {
		socket := filepath.Join(pc.Host, fmt.Sprintf(".s.PGSQL.%d", pc.Port))
		if _, err := os.Stat(socket); err != nil {
			return Service{}, fmt.Errorf("DATABASE_URL: no PostgreSQL socket at %s: %w", socket, err)
		}
		return Service{Name: "PostgreSQL", Addr: socket}, nil
	}
	addr := net.JoinHostPort(pc.Host, fmt.Sprint(pc.Port))
	if listening(addr) {
		return Service{Name: "PostgreSQL", Addr: addr}, nil
	}
	if !startable(pc.Host) {
		return Service{}, fmt.Errorf("DATABASE_URL: nothing answers at %s, and a private PostgreSQL can only be started on this machine's loopback address", addr)
	}
	p, err := StartPostgres(ctx, PostgresOptions{DataDir: dataDir, Addr: addr, User: pc.User, Output: output})
	if err != nil {
		return Service{}, fmt.Errorf("DATABASE_URL: nothing answers at %s, and %w", addr, err)
	}
	return Service{Name: "PostgreSQL", Addr: addr, Started: true, Process: p}, nil
}

// EnsureTemporal makes sure a Temporal server answers at cfg's address and serves
// cfg's namespace with its search attributes. A server already there is used, its
// namespace registered and search attributes added if missing (its dynamic
// configuration stays its own). When nothing listens at a loopback address, the
// development server is started as cfg says.
func EnsureTemporal(ctx context.Context, o TemporalOptions) (Service, error) {
	cfg := o.Config
	if err := cfg.validate(); err != nil {
		return Service{}, fmt.Errorf("temporal: %w", err)
	}
	addr := cfg.HostPort()
	if listening(addr) {
		if err := readyForJardinier(ctx, cfg); err != nil {
			return Service{}, fmt.Errorf("TEMPORAL_ADDRESS %s answers, but: %w", addr, err)
		}
		return Service{Name: "Temporal", Addr: addr}, nil
	}
	if !startable(cfg.IP) {
		return Service{}, fmt.Errorf("TEMPORAL_ADDRESS: nothing answers at %s, and the development server can only be started on this machine's loopback address", addr)
	}
	p, err := StartTemporal(ctx, o)
	if err != nil {
		return Service{}, err
	}
	return Service{Name: "Temporal", Addr: addr, Started: true, Process: p}, nil
}

// readyForJardinier waits until a running Temporal server serves cfg's namespace
// with its search attributes, adding what is missing.
func readyForJardinier(ctx context.Context, cfg TemporalConfig) error {
	ctx, cancel := context.WithTimeout(ctx, reuseTimeout)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  cfg.HostPort(),
		Namespace: cfg.Namespace,
		Logger:    log.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	for {
		err := temporalReady(ctx, c, cfg)
		var perm permanentError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &perm):
			return perm.err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w", reuseTimeout, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// EnsureS3 makes sure an S3 server answers at cfg.S3Endpoint and accepts cfg's
// credentials. A server already there is used. When nothing listens at a loopback
// address (and S3_TLS is off), MinIO is started there with those credentials, its
// buckets in dataDir.
func EnsureS3(ctx context.Context, cfg models.Config, dataDir string, output io.Writer) (Service, error) {
	addr := cfg.S3Endpoint
	if listening(addr) {
		if err := checkS3(ctx, cfg); err != nil {
			return Service{}, err
		}
		return Service{Name: "S3", Addr: addr}, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return Service{}, fmt.Errorf("S3_ENDPOINT %q: %w", addr, err)
	}
	if cfg.S3TLS || !startable(host) {
		return Service{}, fmt.Errorf("S3_ENDPOINT: nothing answers at %s, and MinIO can only be started on this machine's loopback address, without S3_TLS", addr)
	}
	p, err := StartMinIO(ctx, MinIOOptions{DataDir: dataDir, Addr: addr, AccessKey: cfg.S3AccessKey, SecretKey: cfg.S3SecretKey,
		Output: output})
	if err != nil {
		return Service{}, err
	}
	return Service{Name: "S3", Addr: addr, Started: true, Process: p}, nil
}

// checkS3 lists the buckets of a running S3 server with the worker's own client
// settings, so that wrong credentials show now rather than at the first
// provisioning.
func checkS3(ctx context.Context, cfg models.Config) error {
	c, err := storage.NewClient(cfg.S3Endpoint, cfg.S3AccessKey, cfg.S3SecretKey, cfg.S3TLS, cfg.S3Region)
	if err != nil {
		return fmt.Errorf("S3_ENDPOINT: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = c.ListBuckets(ctx)
	switch minio.ToErrorResponse(err).Code {
	case "":
	case "InvalidAccessKeyId":
		return fmt.Errorf("S3_ACCESS_KEY: %s refuses it: %w", cfg.S3Endpoint, err)
	case "SignatureDoesNotMatch":
		return fmt.Errorf("S3_SECRET_KEY: %s refuses it: %w", cfg.S3Endpoint, err)
	default:
		return fmt.Errorf("S3_ENDPOINT %s answers, but not as an S3 server with these credentials: %w", cfg.S3Endpoint, err)
	}
	if err != nil {
		return fmt.Errorf("S3_ENDPOINT %s answers, but not as an S3 server: %w", cfg.S3Endpoint, err)
	}
	return nil
}
