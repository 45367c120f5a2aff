package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// minioReadyTimeout bounds how long StartMinIO waits for the server to accept
// requests; a single-drive server is usually ready within seconds.
const minioReadyTimeout = 60 * time.Second

// MinIO defaults, the ones MinIO itself documents for local use.
const (
	DefaultMinIOAddr      = "127.0.0.1:9000"
	DefaultMinIOAccessKey = "minioadmin"
	DefaultMinIOSecretKey = "minioadmin"
)

// MinIOOptions say how to run a MinIO server.
type MinIOOptions struct {
	// Bin is the minio binary; empty means bin/minio (see Binary).
	Bin string
	// DataDir is the directory the server stores buckets in. Required.
	DataDir string
	// Addr is the host:port of the S3 API; empty means DefaultMinIOAddr.
	Addr string
	// ConsoleAddr is the host:port of the web console; empty turns the
	// console off.
	ConsoleAddr string
	// AccessKey and SecretKey are the root credentials; empty means
	// DefaultMinIOAccessKey and DefaultMinIOSecretKey. MinIO wants a secret
	// key of at least 8 characters.
	AccessKey string
	SecretKey string
	// Output receives the server's standard output and error, if not nil.
	Output io.Writer
}

// StartMinIO runs `minio server` and returns once its S3 API is ready, at most
// 60 seconds later. ctx bounds only the start-up: the server runs until
// Process.Stop is called. MINIO_* variables of this process's environment are
// not passed on, so that the options alone decide how the server runs.
func StartMinIO(ctx context.Context, o MinIOOptions) (*Process, error) {
	if o.DataDir == "" {
		return nil, errors.New("start minio: no data directory")
	}
	if o.Bin == "" {
		bin, err := Binary("minio")
		if err != nil {
			return nil, fmt.Errorf("start minio: %w", err)
		}
		o.Bin = bin
	}
	if o.Addr == "" {
		o.Addr = DefaultMinIOAddr
	}
	if o.AccessKey == "" {
		o.AccessKey = DefaultMinIOAccessKey
	}
	if o.SecretKey == "" {
		o.SecretKey = DefaultMinIOSecretKey
	}
	if err := os.MkdirAll(o.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("start minio: %w", err)
	}
	for _, addr := range []string{o.Addr, o.ConsoleAddr} {
		if addr == "" {
			continue
		}
		if err := checkFree(addr); err != nil {
			return nil, fmt.Errorf("start minio: %w", err)
		}
	}

	args := []string{"server", o.DataDir, "--address", o.Addr, "--quiet"}
	env := []string{
		"MINIO_ROOT_USER=" + o.AccessKey,
		"MINIO_ROOT_PASSWORD=" + o.SecretKey,
		// No check for a newer release at start-up.
		"MINIO_UPDATE=off",
	}
	if o.ConsoleAddr != "" {
		args = append(args, "--console-address", o.ConsoleAddr)
	} else {
		env = append(env, "MINIO_BROWSER=off")
	}

	p, err := startProcess("minio", o.Bin, args, env, []string{"MINIO_"}, o.Output)
	if err != nil {
		return nil, err
	}
	readyURL := "http://" + dialAddr(o.Addr) + "/minio/health/ready"
	if err := waitReady(ctx, p, minioReadyTimeout, func(ctx context.Context) error {
		return httpOK(ctx, readyURL)
	}); err != nil {
		return nil, err
	}
	return p, nil
}

// httpOK returns nil once url answers 200.
func httpOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
