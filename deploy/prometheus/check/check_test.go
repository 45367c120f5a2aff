package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func write(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const goodRule = `groups:
  - name: g
    rules:
      - alert: A
        expr: max(jardinier_cron_late_spaces) > 0 and histogram_quantile(0.9, sum by (le) (rate(jardinier_cron_lag_seconds_bucket[5m]))) > 1
        annotations:
          summary: "{{ $value }}"
`

func TestShippedFilesLoad(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"-rules", "../alerts.yml", "-dashboard", "../../grafana/jardinier.json"}, &out); err != nil {
		t.Fatal(err)
	}
	rules, err := LoadRules("../alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		if len(r.Metrics) == 0 && r.Alert != "JardinierProcessDown" {
			t.Errorf("alert %s reads no metric of the service", r.Alert)
		}
	}
}

func TestRulesRefused(t *testing.T) {
	for name, text := range map[string]string{
		"an unknown field":     goodRule + "        severity: page\n",
		"a broken expression":  "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: max(jardinier_spaces > \n",
		"a broken template":    "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: jardinier_spaces > 0\n        annotations:\n          summary: \"{{ $value \"\n",
		"a rule without alert": "groups:\n  - name: g\n    rules:\n      - expr: jardinier_spaces > 0\n",
	} {
		t.Run("a file with "+name+" is refused", func(t *testing.T) {
			if _, err := LoadRules(write(t, "rules.yml", text)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestMissingMetrics(t *testing.T) {
	rules, err := LoadRules(write(t, "rules.yml", goodRule))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"jardinier_cron_lag_seconds_bucket", "jardinier_cron_late_spaces"}
	if got := rules[0].Metrics; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("metrics read: %v, want %v", got, want)
	}
	t.Run("a histogram's buckets are found through its family", func(t *testing.T) {
		if m := Missing(want, map[string]bool{"jardinier_cron_lag_seconds": true, "jardinier_cron_late_spaces": true}); len(m) != 0 {
			t.Fatalf("missing %v", m)
		}
	})
	t.Run("a metric nothing exposes is reported", func(t *testing.T) {
		exposed := write(t, "scrape.txt", "# TYPE jardinier_cron_late_spaces gauge\njardinier_cron_late_spaces 0\n")
		var out bytes.Buffer
		err := run([]string{"-rules", write(t, "r.yml", goodRule), "-dashboard", "../../grafana/jardinier.json", "-exposed", exposed}, &out)
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte("jardinier_cron_lag_seconds_bucket")) {
			t.Fatalf("want the missing histogram named, got %v", err)
		}
	})
}
