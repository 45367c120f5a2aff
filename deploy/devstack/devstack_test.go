package devstack_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"

	"jardinier/deploy/devstack"
	"jardinier/deploy/devstack/devstacktest"
)

func TestTemporalConfig(t *testing.T) {
	t.Run("Args lists every setting as a start-dev flag, in key order", func(t *testing.T) {
		cfg := devstack.TemporalConfig{
			Namespace:  "jardinier",
			IP:         "127.0.0.1",
			Port:       7233,
			UIPort:     8233,
			DBFilename: "/tmp/x/temporal.db",
			LogLevel:   "warn",
			SearchAttributes: map[string]string{
				"JardinierStatus": "Keyword",
				"JardinierSlug":   "Keyword",
			},
			DynamicConfig: map[string]any{
				"matching.numTaskqueueWritePartitions":   1,
				"frontend.enableUpdateWorkflowExecution": true,
				"limit.note":                             "text",
			},
		}
		want := []string{
			"server", "start-dev",
			"--ip", "127.0.0.1",
			"--port", "7233",
			"--ui-port", "8233",
			"--namespace", "jardinier",
			"--db-filename", "/tmp/x/temporal.db",
			"--log-level", "warn",
			"--search-attribute", "JardinierSlug=Keyword",
			"--search-attribute", "JardinierStatus=Keyword",
			"--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true",
			"--dynamic-config-value", `limit.note="text"`,
			"--dynamic-config-value", "matching.numTaskqueueWritePartitions=1",
		}
		if got := cfg.Args(); !slices.Equal(got, want) {
			t.Errorf("Args() =\n%q\nwant\n%q", got, want)
		}
	})

	t.Run("Args turns the web UI off and keeps the store in memory when unset", func(t *testing.T) {
		cfg := devstack.TemporalConfig{Namespace: "jardinier", IP: "127.0.0.1", Port: 7300}
		want := []string{
			"server", "start-dev", "--ip", "127.0.0.1", "--port", "7300", "--headless",
			"--namespace", "jardinier",
		}
		if got := cfg.Args(); !slices.Equal(got, want) {
			t.Errorf("Args() = %q, want %q", got, want)
		}
	})

	t.Run("temporal-dev.yaml declares the namespace and the search attributes", func(t *testing.T) {
		root, err := devstack.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := devstack.LoadTemporalConfig(filepath.Join(root, devstack.TemporalConfigFile))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Namespace != "jardinier" {
			t.Errorf("namespace = %q, want jardinier", cfg.Namespace)
		}
		if cfg.HostPort() != "127.0.0.1:7233" {
			t.Errorf("HostPort() = %q, want 127.0.0.1:7233", cfg.HostPort())
		}
		if want := filepath.Join(root, ".dev", "temporal.db"); cfg.DBFilename != want {
			t.Errorf("db_filename = %q, want %q (relative to the file)", cfg.DBFilename, want)
		}
		for _, name := range []string{"JardinierSlug", "JardinierStatus", "JardinierNextcloudVersion"} {
			if cfg.SearchAttributes[name] != "Keyword" {
				t.Errorf("search attribute %s = %q, want Keyword", name, cfg.SearchAttributes[name])
			}
		}
	})

	t.Run("LoadTemporalConfig refuses unknown keys and unknown search attribute types", func(t *testing.T) {
		for name, content := range map[string]string{
			"unknown key":  "namespace: a\nip: 127.0.0.1\nport: 7233\nnamspace: b\n",
			"unknown type": "namespace: a\nip: 127.0.0.1\nport: 7233\nsearch_attributes: {X: Strange}\n",
			"no port":      "namespace: a\nip: 127.0.0.1\n",
		} {
			path := filepath.Join(t.TempDir(), "temporal.yaml")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := devstack.LoadTemporalConfig(path); err == nil {
				t.Errorf("%s: LoadTemporalConfig succeeded, want an error", name)
			}
		}
	})
}

func TestBinary(t *testing.T) {
	t.Run("a missing tool says how to build it", func(t *testing.T) {
		_, err := devstack.Binary("no-such-tool")
		if err == nil || !strings.Contains(err.Error(), "make tools") {
			t.Errorf("Binary(no-such-tool) error = %v, want one mentioning `make tools`", err)
		}
	})
}

func TestStartMinIO(t *testing.T) {
	t.Run("refuses a port something else listens on", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		_, err = devstack.StartMinIO(t.Context(), devstack.MinIOOptions{
			Bin:     "minio-never-run",
			DataDir: t.TempDir(),
			Addr:    l.Addr().String(),
		})
		if err == nil || !strings.Contains(err.Error(), "taken") {
			t.Errorf("StartMinIO error = %v, want one saying the port is taken", err)
		}
	})

	m := devstacktest.StartMinIO(t)

	t.Run("serves the S3 API once started", func(t *testing.T) {
		resp, err := http.Get("http://" + m.Endpoint + "/minio/health/live")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("health: %s, want 200", resp.Status)
		}
	})

	t.Run("stops on request", func(t *testing.T) {
		if err := m.Process.Stop(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-m.Process.Exited():
		case <-time.After(time.Second):
			t.Fatal("process still running after Stop")
		}
	})
}

func TestStartTemporal(t *testing.T) {
	tp := devstacktest.StartTemporal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := client.Dial(client.Options{HostPort: tp.HostPort, Namespace: tp.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	t.Run("answers health checks", func(t *testing.T) {
		if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("serves the configured namespace", func(t *testing.T) {
		ns, err := client.NewNamespaceClient(client.Options{HostPort: tp.HostPort})
		if err != nil {
			t.Fatal(err)
		}
		defer ns.Close()
		if _, err := ns.Describe(ctx, tp.Namespace); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("registers the search attributes of temporal-dev.yaml", func(t *testing.T) {
		resp, err := c.OperatorService().ListSearchAttributes(ctx,
			&operatorservice.ListSearchAttributesRequest{Namespace: tp.Namespace})
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"JardinierSlug", "JardinierStatus", "JardinierNextcloudVersion"} {
			if got := resp.GetCustomAttributes()[name]; got != enums.INDEXED_VALUE_TYPE_KEYWORD {
				t.Errorf("search attribute %s: type %s, want Keyword", name, got)
			}
		}
	})
}

func TestStartTemporalWithStore(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a real Temporal server: not run in -short mode")
	}
	bin, err := devstack.Binary("temporal")
	if err != nil {
		t.Fatal(err)
	}
	port, err := devstack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := devstack.TemporalConfig{
		Namespace:        "jardinier",
		IP:               "127.0.0.1",
		Port:             port,
		DBFilename:       filepath.Join(t.TempDir(), "store", "temporal.db"),
		SearchAttributes: map[string]string{"JardinierSlug": "Keyword"},
	}
	start := func(t *testing.T, cfg devstack.TemporalConfig) error {
		t.Helper()
		p, err := devstack.StartTemporal(t.Context(), devstack.TemporalOptions{Bin: bin, Config: cfg})
		if err != nil {
			return err
		}
		if err := p.Stop(); err != nil {
			t.Error(err)
		}
		return nil
	}

	if err := start(t, cfg); err != nil {
		t.Fatal(err)
	}

	t.Run("adds search attributes missing from an existing store", func(t *testing.T) {
		cfg.SearchAttributes = map[string]string{"JardinierSlug": "Keyword", "JardinierStatus": "Keyword"}
		if err := start(t, cfg); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("fails at once when the store holds a search attribute of another type", func(t *testing.T) {
		cfg.SearchAttributes = map[string]string{"JardinierSlug": "Int"}
		began := time.Now()
		err := start(t, cfg)
		if err == nil || !strings.Contains(err.Error(), "JardinierSlug") {
			t.Fatalf("start error = %v, want one about JardinierSlug", err)
		}
		if waited := time.Since(began); waited > 30*time.Second {
			t.Errorf("failed after %s, want before the start-up timeout", waited)
		}
	})
}
