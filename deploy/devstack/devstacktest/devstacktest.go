// Package devstacktest starts real MinIO and Temporal servers for tests and
// benchmarks, one per call, on free ports, stopped when the test ends.
//
// Tests that need them are skipped in -short mode. Otherwise a missing binary
// fails the test: `make tools` builds them.
package devstacktest

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"jardinier/deploy/devstack"
)

// MinIO is a MinIO server started for one test.
type MinIO struct {
	// Endpoint is the host:port of its S3 API, without scheme (plain HTTP).
	Endpoint string
	// AccessKey and SecretKey are its root credentials.
	AccessKey string
	SecretKey string
	// Process is the running server.
	Process *devstack.Process
}

// StartMinIO starts a MinIO server with an empty data directory, stopped at
// the end of the test.
func StartMinIO(tb testing.TB) *MinIO {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs a real MinIO server: not run in -short mode")
	}
	bin, err := devstack.Binary("minio")
	if err != nil {
		tb.Fatal(err)
	}
	port, err := devstack.FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	m := &MinIO{
		Endpoint:  "127.0.0.1:" + strconv.Itoa(port),
		AccessKey: devstack.DefaultMinIOAccessKey,
		SecretKey: devstack.DefaultMinIOSecretKey,
	}
	m.Process, err = devstack.StartMinIO(context.Background(), devstack.MinIOOptions{
		Bin:       bin,
		DataDir:   filepath.Join(tb.TempDir(), "minio"),
		Addr:      m.Endpoint,
		AccessKey: m.AccessKey,
		SecretKey: m.SecretKey,
	})
	if err != nil {
		tb.Fatal(err)
	}
	stopAtEnd(tb, m.Process)
	return m
}

// Temporal is a Temporal development server started for one test.
type Temporal struct {
	// HostPort is the address clients dial.
	HostPort string
	// Namespace is the namespace of temporal-dev.yaml, created at start-up.
	Namespace string
	// UIURL is the address of its web UI (StartTemporalUI); empty without one.
	UIURL string
	// Process is the running server.
	Process *devstack.Process
}

// StartTemporal starts a Temporal development server configured as
// temporal-dev.yaml says (namespace, search attributes, dynamic config), but
// on a free port, without web UI and with an in-memory store. It is stopped
// at the end of the test.
func StartTemporal(tb testing.TB) *Temporal {
	tb.Helper()
	return startTemporal(tb, false)
}

// StartTemporalUI is StartTemporal with the server's web UI on a free port, for a
// browser test that looks at a workflow as the operator would.
func StartTemporalUI(tb testing.TB) *Temporal {
	tb.Helper()
	return startTemporal(tb, true)
}

func startTemporal(tb testing.TB, ui bool) *Temporal {
	tb.Helper()
	if testing.Short() {
		tb.Skip("needs a real Temporal server: not run in -short mode")
	}
	bin, err := devstack.Binary("temporal")
	if err != nil {
		tb.Fatal(err)
	}
	root, err := devstack.RepoRoot()
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := devstack.LoadTemporalConfig(filepath.Join(root, devstack.TemporalConfigFile))
	if err != nil {
		tb.Fatal(err)
	}
	if cfg.Port, err = devstack.FreePort(); err != nil {
		tb.Fatal(err)
	}
	cfg.IP = "127.0.0.1"
	cfg.UIPort = 0
	if ui {
		if cfg.UIPort, err = devstack.FreePort(); err != nil {
			tb.Fatal(err)
		}
	}
	cfg.DBFilename = ""

	p, err := devstack.StartTemporal(context.Background(), devstack.TemporalOptions{Bin: bin, Config: cfg})
	if err != nil {
		tb.Fatal(err)
	}
	stopAtEnd(tb, p)
	t := &Temporal{HostPort: cfg.HostPort(), Namespace: cfg.Namespace, Process: p}
	if ui {
		t.UIURL = "http://" + cfg.IP + ":" + strconv.Itoa(cfg.UIPort)
	}
	return t
}

// stopAtEnd stops p when the test ends, showing its output if the test failed.
func stopAtEnd(tb testing.TB, p *devstack.Process) {
	tb.Helper()
	tb.Cleanup(func() {
		if err := p.Stop(); err != nil {
			tb.Error(err)
		}
		if tb.Failed() {
			tb.Logf("last output of the server (pid %d):\n%s", p.Pid(), p.Tail())
		}
	})
}
