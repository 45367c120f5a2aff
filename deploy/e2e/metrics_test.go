package e2e

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/converter"

	"jardinier/activities/nextcloud"
	"jardinier/deploy/devstack"
	"jardinier/models"
	"jardinier/worker/cron"
	"jardinier/workflows"
)

// scrape reads what s's process exposes at /metrics.
func (s *system) scrape(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(s.api.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}

// sample returns the value of the series whose line starts with series (name and
// labels as exposed), or fails.
func sample(t *testing.T, text, series string) string {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			return rest
		}
	}
	t.Fatalf("no series %s in the scrape", series)
	return ""
}

func TestMetricsEndToEnd(t *testing.T) {
	s := startSystem(t)
	ctx := context.Background()

	// One space through provisioning, with a transient failure of the install the
	// activity's retry gets over; then a few background-jobs runs.
	s.sim.InjectFailure("metriques", nextcloud.OpInstall, nextcloud.Failure{Err: errors.New("occ: base occupée"), Times: 1})
	id := s.submit("metriques", "contact@metriques.example")
	require.Equal(t, http.StatusOK, s.call("POST", "/api/v1/applications/"+id+"/accept", s.token,
		map[string]any{"reason": "éligible"}, nil))
	s.waitStatus("metriques", models.StatusActive)
	s.smtp.WaitFor(t, 2, 30*time.Second)

	runCtx, stop := context.WithCancel(ctx)
	runner, err := cron.New(cron.Options{DB: s.db, Driver: s.sim, Logger: slog.New(slog.DiscardHandler),
		Config:  models.CronConfig{Every: 500 * time.Millisecond, Concurrency: 2, Timeout: time.Second},
		Metrics: s.metrics})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- runner.Run(runCtx) }()
	require.Eventually(t, func() bool { return s.sim.Calls("metriques", nextcloud.OpRunCron) >= 2 },
		30*time.Second, 100*time.Millisecond, "the cron runner runs the space")
	stop()
	require.NoError(t, <-done)

	var text string
	require.Eventually(t, func() bool {
		text = s.scrape(t)
		// The SDK's metrics reach the registry at its next report, within a second.
		return strings.Contains(text, "temporal_activity_execution_failed_total")
	}, 10*time.Second, 500*time.Millisecond, "the SDK's metrics are exposed")

	t.Run("the fleet, the requests, the mails, the provisioning and the cron runs are counted", func(t *testing.T) {
		assert.Equal(t, "1", sample(t, text, `jardinier_spaces{status="active"}`))
		assert.Equal(t, "0", sample(t, text, `jardinier_spaces{status="provisioning"}`), "every status is exposed, zero included")
		assert.Equal(t, "0", sample(t, text, `jardinier_spaces_provisioning_oldest_seconds`))
		assert.Equal(t, "0", sample(t, text, `jardinier_applications_waiting{status="submitted"}`))
		assert.Equal(t, "1", sample(t, text, `jardinier_mails_sent_total{kind="receipt"}`))
		assert.Equal(t, "1", sample(t, text, `jardinier_mails_sent_total{kind="accepted"}`))
		assert.Equal(t, "0", sample(t, text, `jardinier_mails_failed_total{kind="accepted"}`))
		assert.Equal(t, "1", sample(t, text, `jardinier_provisioning_duration_seconds_count`))
		assert.Equal(t, "1", sample(t, text, `jardinier_http_requests_total{method="POST",route="/api/v1/applications",status="201"}`))
		assert.Equal(t, "1", sample(t, text, `jardinier_http_requests_total{method="POST",route="/api/v1/applications/:id/:decision",status="200"}`))
		assert.NotEqual(t, "0", sample(t, text, `jardinier_cron_runs_total{outcome="ok"}`))
		// The space just provisioned has no backup yet, counted from its provisioning.
		assert.Equal(t, "0", sample(t, text, `jardinier_spaces_without_recent_backup`))
		assert.NotEqual(t, "0", sample(t, text, `jardinier_backup_oldest_seconds`))
		assert.Equal(t, "0", sample(t, text, `jardinier_fleet_scrape_errors{part="database"}`))
		assert.Equal(t, "0", sample(t, text, `jardinier_fleet_scrape_errors{part="temporal"}`))
		// The SDK's own, by activity type: the failed attempt of the install.
		for _, series := range []string{`temporal_activity_execution_failed_total{activity_type="InstallSpace"`,
			`temporal_activity_schedule_to_start_latency_seconds_bucket{`} {
			assert.True(t, strings.Contains(text, series), "no series %s in the scrape", series)
		}
	})

	t.Run("the Temporal UI reads the space's story: a summary, its details, a line per activity", func(t *testing.T) {
		id := workflows.SpaceWorkflowID("metriques")
		desc, err := s.temporal.DescribeWorkflowExecution(ctx, id, "")
		require.NoError(t, err)
		dc := converter.GetDefaultDataConverter()
		// The first run carries the static summary; every run its details.
		first, err := s.temporal.DescribeWorkflowExecution(ctx, id, desc.WorkflowExecutionInfo.FirstRunId)
		require.NoError(t, err)
		var summary string
		require.NoError(t, dc.FromPayload(first.GetExecutionConfig().GetUserMetadata().GetSummary(), &summary))
		assert.Equal(t, "Espace metriques · collectif informel", summary)

		v, err := s.temporal.QueryWorkflow(ctx, id, "", "__temporal_workflow_metadata")
		require.NoError(t, err)
		var meta sdkpb.WorkflowMetadata
		require.NoError(t, v.Get(&meta))
		assert.Contains(t, meta.GetCurrentDetails(), "**Espace** : metriques (metriques.")
		assert.Contains(t, meta.GetCurrentDetails(), "**État** : en service")
		assert.Contains(t, meta.GetCurrentDetails(), "**Prochaine étape** : 1er avertissement, le ")

		var lines []string
		it := s.temporal.GetWorkflowHistory(ctx, id, desc.WorkflowExecutionInfo.FirstRunId, false, 0)
		for it.HasNext() {
			ev, err := it.Next()
			require.NoError(t, err)
			if ev.GetActivityTaskScheduledEventAttributes() != nil {
				var line string
				require.NoError(t, dc.FromPayload(ev.GetUserMetadata().GetSummary(), &line))
				lines = append(lines, line)
			}
		}
		assert.Contains(t, lines, "installation de Nextcloud")
		assert.Contains(t, lines, "création du stockage (S3)")
		assert.Contains(t, lines, "courriel : accusé de réception")
		assert.Contains(t, lines, "courriel : espace prêt, identifiants")
		assert.NotContains(t, lines, "", "every activity has a summary")
	})

	t.Run("no slug nor address reaches a label", func(t *testing.T) {
		assert.False(t, strings.Contains(text, "metriques"), "the slug is in the scrape")
		assert.False(t, strings.Contains(text, "contact@"), "the address is in the scrape")
	})

	t.Run("every metric the alert rules and the dashboard read is exposed", func(t *testing.T) {
		root, err := devstack.RepoRoot()
		require.NoError(t, err)
		scrape := filepath.Join(t.TempDir(), "scrape.txt")
		require.NoError(t, os.WriteFile(scrape, []byte(text), 0o644))
		cmd := exec.Command("go", "run", ".", "-rules", "../alerts.yml", "-dashboard", "../../grafana/jardinier.json", "-exposed", scrape)
		cmd.Dir = filepath.Join(root, "deploy", "prometheus", "check")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, string(out), "every metric read is exposed")
	})
}
