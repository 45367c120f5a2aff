package devstack_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"gorm.io/gorm"

	"jardinier/activities/storage"
	"jardinier/deploy/devstack"
	"jardinier/deploy/devstack/devstacktest"
	"jardinier/models"
	"jardinier/models/modeltest"
)

func TestApplyTemporalEnv(t *testing.T) {
	yaml := devstack.TemporalConfig{Namespace: "jardinier", IP: "127.0.0.1", Port: 7233, UIPort: 8233}
	env := func(vars map[string]string) func(string) string {
		return func(name string) string { return vars[name] }
	}

	t.Run("the environment sets the ports without editing temporal-dev.yaml", func(t *testing.T) {
		got, err := devstack.ApplyTemporalEnv(yaml, env(map[string]string{
			"TEMPORAL_ADDRESS": "127.0.0.1:7300", "TEMPORAL_UI_PORT": "8300", "TEMPORAL_NAMESPACE": "essai"}))
		if err != nil {
			t.Fatal(err)
		}
		if got.HostPort() != "127.0.0.1:7300" || got.UIPort != 8300 || got.Namespace != "essai" {
			t.Errorf("got %s ui %d namespace %s, want 127.0.0.1:7300 ui 8300 namespace essai", got.HostPort(), got.UIPort, got.Namespace)
		}
	})

	t.Run("unset variables keep temporal-dev.yaml's values", func(t *testing.T) {
		got, err := devstack.ApplyTemporalEnv(yaml, env(nil))
		if err != nil {
			t.Fatal(err)
		}
		if got.HostPort() != yaml.HostPort() || got.UIPort != yaml.UIPort || got.Namespace != yaml.Namespace {
			t.Errorf("got %+v, want %+v", got, yaml)
		}
	})

	t.Run("TEMPORAL_UI_PORT=0 turns the web UI off", func(t *testing.T) {
		got, err := devstack.ApplyTemporalEnv(yaml, env(map[string]string{"TEMPORAL_UI_PORT": "0"}))
		if err != nil || got.UIPort != 0 {
			t.Errorf("got ui port %d, %v; want 0", got.UIPort, err)
		}
	})

	t.Run("a bad value is an error naming its variable", func(t *testing.T) {
		for name, value := range map[string]string{
			"TEMPORAL_ADDRESS": "7300",
			"TEMPORAL_UI_PORT": "huit mille",
		} {
			_, err := devstack.ApplyTemporalEnv(yaml, env(map[string]string{name: value}))
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%s: error %v, want one naming %s", name, value, err, name)
			}
		}
	})
}

func TestFindPostgres(t *testing.T) {
	fakeInstall := func(t *testing.T, programs ...string) string {
		t.Helper()
		dir := t.TempDir()
		for _, p := range programs {
			if err := os.WriteFile(filepath.Join(dir, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}

	t.Run("takes the first directory holding both initdb and postgres", func(t *testing.T) {
		clientOnly := fakeInstall(t, "psql", "pg_isready")
		initdbOnly := fakeInstall(t, "initdb")
		full := fakeInstall(t, "initdb", "postgres", "pg_ctl")
		later := fakeInstall(t, "initdb", "postgres")
		got, err := devstack.FindPostgres([]string{"", clientOnly, initdbOnly, full, later})
		if err != nil || got != full {
			t.Errorf("FindPostgres = %q, %v; want %q", got, err, full)
		}
	})

	t.Run("follows a link to initdb to the server beside it", func(t *testing.T) {
		real := fakeInstall(t, "initdb", "postgres")
		links := t.TempDir()
		if err := os.Symlink(filepath.Join(real, "initdb"), filepath.Join(links, "initdb")); err != nil {
			t.Fatal(err)
		}
		if got, err := devstack.FindPostgres([]string{links}); err != nil || got != real {
			t.Errorf("FindPostgres = %q, %v; want %q", got, err, real)
		}
	})

	t.Run("says where it looked and what to install", func(t *testing.T) {
		empty := t.TempDir()
		_, err := devstack.FindPostgres([]string{empty})
		if err == nil || !strings.Contains(err.Error(), empty) || !strings.Contains(err.Error(), "install PostgreSQL") {
			t.Errorf("error %v, want one naming %s and what to install", err, empty)
		}
	})

	t.Run("the search path covers PATH, /usr/local/bin and Debian's versioned directories", func(t *testing.T) {
		path := devstack.PostgresSearchPath()
		joined := strings.Join(path, ":")
		if !strings.Contains(joined, "/usr/local/bin") {
			t.Errorf("search path %s lacks /usr/local/bin", joined)
		}
		debian, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		for _, d := range debian {
			if !strings.Contains(joined, d) {
				t.Errorf("search path %s lacks %s", joined, d)
			}
		}
	})
}

func TestEnsurePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real PostgreSQL server: not run in -short mode")
	}
	ctx := t.Context()

	t.Run("uses the server already answering at DATABASE_URL", func(t *testing.T) {
		svc, err := devstack.EnsurePostgres(ctx, modeltest.ServerURL(), filepath.Join(t.TempDir(), "unused"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if svc.Started || svc.Process != nil {
			t.Errorf("%+v: want the running server reused", svc)
		}
	})

	t.Run("refuses to start one for a remote address", func(t *testing.T) {
		_, err := devstack.EnsurePostgres(ctx, "postgres://postgres@db.invalid:5432/jardinier", t.TempDir(), nil)
		if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
			t.Errorf("error %v, want one naming DATABASE_URL", err)
		}
	})

	if _, err := devstack.FindPostgres(devstack.PostgresSearchPath()); err != nil {
		t.Skipf("no PostgreSQL programs on this machine: %v", err)
	}
	// Made by hand rather than t.TempDir: run as root, the server runs as the postgres
	// user, who must be able to reach its directory's parent.
	stateDir, err := os.MkdirTemp("", "devstack-postgres-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(stateDir) })
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dsn := fmt.Sprintf("postgres://jardinier@127.0.0.1:%d/jardinier?sslmode=disable", port)
	dataDir := filepath.Join(stateDir, "postgres")
	logger := slog.New(slog.DiscardHandler)

	start := func(t *testing.T) devstack.Service {
		t.Helper()
		svc, err := devstack.EnsurePostgres(ctx, dsn, dataDir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !svc.Started || svc.Process == nil {
			t.Fatalf("%+v: want a private server started", svc)
		}
		t.Cleanup(func() { svc.Process.Stop() })
		return svc
	}

	t.Run("starts a private server in the state directory when none answers", func(t *testing.T) {
		svc := start(t)
		db, err := models.OpenDB(ctx, dsn, logger)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := models.CreateModerator(ctx, db, "camille", models.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		closeDB(t, db)
		if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); err != nil {
			t.Errorf("no cluster in %s: %v", dataDir, err)
		}

		t.Run("and a second call while it runs uses it", func(t *testing.T) {
			again, err := devstack.EnsurePostgres(ctx, dsn, dataDir, nil)
			if err != nil || again.Started {
				t.Errorf("%+v, %v: want the private server reused", again, err)
			}
		})

		began := time.Now()
		if err := svc.Process.Stop(); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(began); took > 5*time.Second {
			t.Errorf("stopping took %s: want a fast shutdown", took)
		}
	})

	t.Run("started again, it keeps its data", func(t *testing.T) {
		start(t)
		db, err := models.OpenDB(ctx, dsn, logger)
		if err != nil {
			t.Fatal(err)
		}
		defer closeDB(t, db)
		var n int64
		if err := db.Model(&models.Moderator{}).Where("name = ?", "camille").Count(&n).Error; err != nil || n != 1 {
			t.Errorf("moderators named camille: %d, %v; want the one made before the restart", n, err)
		}
	})
}

func TestEnsureTemporal(t *testing.T) {
	running := devstacktest.StartTemporal(t)
	bin, err := devstack.Binary("temporal")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	t.Run("uses a server already answering, adding the namespace and search attributes it lacks", func(t *testing.T) {
		cfg := devstack.TemporalConfig{Namespace: "autre", IP: "127.0.0.1", Port: portOf(t, running.HostPort),
			SearchAttributes: map[string]string{"JardinierSlug": "Keyword", "JardinierEssai": "Keyword"}}
		svc, err := devstack.EnsureTemporal(ctx, devstack.TemporalOptions{Bin: "temporal-never-run", Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		if svc.Started || svc.Process != nil {
			t.Errorf("%+v: want the running server reused", svc)
		}
		c, err := client.Dial(client.Options{HostPort: running.HostPort, Namespace: "autre"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "autre"})
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.GetCustomAttributes()["JardinierEssai"]; got != enums.INDEXED_VALUE_TYPE_KEYWORD {
			t.Errorf("JardinierEssai: %s, want Keyword", got)
		}
	})

	t.Run("starts the development server on the port asked for when none answers", func(t *testing.T) {
		port, err := devstack.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		cfg := devstack.TemporalConfig{Namespace: "jardinier", IP: "127.0.0.1", Port: port}
		svc, err := devstack.EnsureTemporal(ctx, devstack.TemporalOptions{Bin: bin, Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		defer svc.Process.Stop()
		if !svc.Started || svc.Addr != fmt.Sprintf("127.0.0.1:%d", port) {
			t.Errorf("%+v: want a server started at 127.0.0.1:%d", svc, port)
		}
		c, err := client.Dial(client.Options{HostPort: svc.Addr, Namespace: "jardinier"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			t.Error(err)
		}
	})

	t.Run("refuses to start one for a remote address", func(t *testing.T) {
		cfg := devstack.TemporalConfig{Namespace: "jardinier", IP: "temporal.invalid", Port: 7233}
		_, err := devstack.EnsureTemporal(ctx, devstack.TemporalOptions{Bin: bin, Config: cfg})
		if err == nil || !strings.Contains(err.Error(), "TEMPORAL_ADDRESS") {
			t.Errorf("error %v, want one naming TEMPORAL_ADDRESS", err)
		}
	})
}

func TestEnsureS3(t *testing.T) {
	running := devstacktest.StartMinIO(t)
	ctx := t.Context()
	cfg := models.DefaultConfig()
	cfg.S3Endpoint, cfg.S3AccessKey, cfg.S3SecretKey = running.Endpoint, running.AccessKey, running.SecretKey

	t.Run("uses a server already answering with the configured credentials", func(t *testing.T) {
		svc, err := devstack.EnsureS3(ctx, cfg, filepath.Join(t.TempDir(), "unused"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if svc.Started || svc.Process != nil {
			t.Errorf("%+v: want the running server reused", svc)
		}
	})

	t.Run("wrong credentials are an error naming the variable", func(t *testing.T) {
		for name, set := range map[string]func(*models.Config){
			"S3_ACCESS_KEY": func(c *models.Config) { c.S3AccessKey = "inconnu" },
			"S3_SECRET_KEY": func(c *models.Config) { c.S3SecretKey = "pas-le-bon-secret" },
		} {
			bad := cfg
			set(&bad)
			_, err := devstack.EnsureS3(ctx, bad, t.TempDir(), nil)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s wrong: error %v, want one naming %s", name, err, name)
			}
		}
	})

	t.Run("starts MinIO with the configured credentials when none answers", func(t *testing.T) {
		port, err := devstack.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		fresh := cfg
		fresh.S3Endpoint, fresh.S3AccessKey, fresh.S3SecretKey = fmt.Sprintf("127.0.0.1:%d", port), "jardinier", "jardinier-dev-secret"
		svc, err := devstack.EnsureS3(ctx, fresh, filepath.Join(t.TempDir(), "minio"), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer svc.Process.Stop()
		if !svc.Started {
			t.Errorf("%+v: want MinIO started", svc)
		}
		c, err := storage.NewClient(fresh.S3Endpoint, fresh.S3AccessKey, fresh.S3SecretKey, false, fresh.S3Region)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ListBuckets(ctx); err != nil {
			t.Errorf("list buckets with the configured credentials: %v", err)
		}
	})

	t.Run("refuses to start one for a remote address", func(t *testing.T) {
		remote := cfg
		remote.S3Endpoint = "s3.invalid:9000"
		_, err := devstack.EnsureS3(ctx, remote, t.TempDir(), nil)
		if err == nil || !strings.Contains(err.Error(), "S3_ENDPOINT") {
			t.Errorf("error %v, want one naming S3_ENDPOINT", err)
		}
	})
}

func TestStackSummary(t *testing.T) {
	root := "/src/jardinier"
	cfg := models.DefaultConfig()
	s := &devstack.Stack{
		Config:   cfg,
		StateDir: filepath.Join(root, ".dev"),
		Services: []devstack.Service{
			{Name: "PostgreSQL", Addr: "127.0.0.1:5432", Started: true},
			{Name: "Temporal", Addr: "127.0.0.1:7233"},
			{Name: "S3", Addr: "127.0.0.1:9000", Started: true},
		},
		WorkerMetrics: "127.0.0.1:40001",
	}
	got := s.Summary(root)
	lines := map[string]string{}
	for _, line := range strings.Split(got, "\n") {
		if fields := strings.Fields(line); len(fields) > 0 {
			lines[fields[0]] = line
		}
	}

	t.Run("each server says whether it was started or reused", func(t *testing.T) {
		for name, want := range map[string]string{
			"PostgreSQL": "started (private server, data in .dev/postgres)",
			"Temporal":   "reused: already running",
			"S3":         "started (MinIO, data in .dev/minio)",
		} {
			if !strings.Contains(lines[name], want) {
				t.Errorf("%s line %q, want it to say %q\n%s", name, lines[name], want, got)
			}
		}
	})

	t.Run("the site, the console, the API and the metrics are given", func(t *testing.T) {
		for name, want := range map[string]string{
			"Site":    "http://127.0.0.1:8080/ ",
			"Console": "http://127.0.0.1:8080/moderation/",
			"API":     "http://127.0.0.1:8080/api/v1",
			"Metrics": "http://127.0.0.1:8080/metrics (api), http://127.0.0.1:40001/metrics (worker)",
		} {
			if !strings.Contains(lines[name], want) {
				t.Errorf("%s line %q, want it to say %q\n%s", name, lines[name], want, got)
			}
		}
	})

	t.Run("a reused Temporal's unknown web UI says how to give it", func(t *testing.T) {
		if !strings.Contains(got, "TEMPORAL_UI_PORT") {
			t.Errorf("summary:\n%s\nwant the UI line to mention TEMPORAL_UI_PORT", got)
		}
	})
}

func portOf(t *testing.T, hostPort string) int {
	t.Helper()
	var port int
	if _, err := fmt.Sscanf(hostPort[strings.LastIndex(hostPort, ":")+1:], "%d", &port); err != nil {
		t.Fatalf("port of %q: %v", hostPort, err)
	}
	return port
}

func closeDB(t *testing.T, db *gorm.DB) {
	t.Helper()
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	sqlDB.Close()
}
