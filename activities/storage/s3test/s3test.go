// Package s3test gives tests the S3 servers to run against: the MinIO server the
// tests start, and SeaweedFS's S3 gateway when bin/weed was built.
package s3test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"jardinier/activities/storage"
	"jardinier/deploy/devstack"
	"jardinier/deploy/devstack/devstacktest"
)

// Server is an S3 server started for one test.
type Server struct {
	Name      string // minio or seaweedfs
	Endpoint  string // host:port, plain HTTP
	AccessKey string
	SecretKey string
	Client    *minio.Client
}

// Servers starts MinIO, and SeaweedFS when bin/weed exists; without it the test says
// so in its log and runs on MinIO alone.
func Servers(t *testing.T) []Server {
	t.Helper()
	servers := []Server{MinIO(t)}
	if s, ok := SeaweedFS(t); ok {
		servers = append(servers, s)
	}
	return servers
}

// MinIO starts a MinIO server for the test.
func MinIO(t testing.TB) Server {
	t.Helper()
	m := devstacktest.StartMinIO(t)
	return newServer(t, "minio", m.Endpoint, m.AccessKey, m.SecretKey)
}

func newServer(t testing.TB, name, endpoint, access, secret string) Server {
	t.Helper()
	c, err := storage.NewClient(endpoint, access, secret, false, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	return Server{Name: name, Endpoint: endpoint, AccessKey: access, SecretKey: secret, Client: c}
}

// SeaweedFS starts `weed server -s3` with an empty data directory when bin/weed
// exists (`make bin/weed` builds it), and reports false otherwise.
func SeaweedFS(t testing.TB) (Server, bool) {
	t.Helper()
	if testing.Short() {
		return Server{}, false
	}
	root, err := devstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "bin", "weed")
	if _, err := os.Stat(bin); err != nil {
		t.Log("SeaweedFS not tested: bin/weed is missing (make bin/weed builds it)")
		return Server{}, false
	}
	dir := t.TempDir()
	const access, secret = "jardinier", "jardinier-test-secret"
	cfg := map[string]any{"identities": []map[string]any{{
		"name":        "jardinier",
		"credentials": []map[string]string{{"accessKey": access, "secretKey": secret}},
		"actions":     []string{"Admin", "Read", "Write", "List", "Tagging"},
	}}}
	b, _ := json.Marshal(cfg)
	s3cfg := filepath.Join(dir, "s3.json")
	if err := os.WriteFile(s3cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ports := make([]int, 5)
	for i := range ports {
		if ports[i], err = devstack.FreePort(); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-dir="+data,
		"-master.port="+strconv.Itoa(ports[0]), "-volume.port="+strconv.Itoa(ports[1]),
		"-filer.port="+strconv.Itoa(ports[2]), "-s3", "-s3.port="+strconv.Itoa(ports[3]),
		"-s3.config="+s3cfg, "-volume.max=0", "-master.volumeSizeLimitMB=64",
		"-metricsPort="+strconv.Itoa(ports[4]))
	logFile, err := os.Create(filepath.Join(dir, "weed.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start SeaweedFS: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			out, _ := os.ReadFile(logFile.Name())
			if len(out) > 4000 {
				out = out[len(out)-4000:]
			}
			t.Logf("last output of SeaweedFS:\n%s", out)
		}
	})
	s := newServer(t, "seaweedfs", net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[3])), access, secret)
	// Ready once a bucket can be made and written to: the volume servers register
	// with the master a few seconds after the S3 port opens.
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := probe(s.Client)
		if err == nil {
			return s, true
		}
		if time.Now().After(deadline) {
			t.Fatalf("SeaweedFS not ready after 60 s: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func probe(c *minio.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.MakeBucket(ctx, "ready-probe", minio.MakeBucketOptions{}); err != nil {
		if ok, e := c.BucketExists(ctx, "ready-probe"); e != nil || !ok {
			return fmt.Errorf("make bucket: %w", err)
		}
	}
	_, err := c.PutObject(ctx, "ready-probe", "x", nopReader{}, 0, minio.PutObjectOptions{})
	return err
}

type nopReader struct{}

func (nopReader) Read([]byte) (int, error) { return 0, io.EOF }
