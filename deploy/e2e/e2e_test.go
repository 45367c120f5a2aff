package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"
	"gorm.io/gorm"

	"jardinier/activities/mail/mailtest"
	"jardinier/activities/nextcloud"
	"jardinier/activities/storage"
	"jardinier/api"
	"jardinier/deploy/devstack/devstacktest"
	"jardinier/models"
	"jardinier/models/metrics"
	"jardinier/models/modeltest"
	"jardinier/worker"
	"jardinier/workflows"
)

// system is Jardinier running on real servers for one test.
type system struct {
	t        *testing.T
	cfg      models.Config
	db       *gorm.DB
	api      *httptest.Server
	smtp     *mailtest.Server
	temporal client.Client
	sim      *nextcloud.Simulator
	fleet    *nextcloud.FleetDB
	token    string
	// metrics is the test process's registry: the worker's, the API's (served at
	// /metrics) and the SDK's metrics, as one process of each would expose them.
	metrics *metrics.Registry
	// stopWorker stops the worker of the test process, for a test that runs its own.
	stopWorker func()
}

func startSystem(t *testing.T, configure ...func(*models.Config)) *system {
	t.Helper()
	return startSystemOn(t, devstacktest.StartTemporal(t), configure...)
}

// startSystemOn is startSystem on a Temporal server the test started itself, such as
// one with its web UI.
func startSystemOn(t *testing.T, tmp *devstacktest.Temporal, configure ...func(*models.Config)) *system {
	t.Helper()
	s3 := devstacktest.StartMinIO(t)
	smtp := mailtest.Start(t)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	cfg := models.DefaultConfig()
	cfg.DatabaseURL = modeltest.NewDatabaseURL(t)
	cfg.TemporalAddress, cfg.TemporalNamespace = tmp.HostPort, tmp.Namespace
	cfg.S3Endpoint, cfg.S3AccessKey, cfg.S3SecretKey = s3.Endpoint, s3.AccessKey, s3.SecretKey
	cfg.SMTPURL = smtp.URL()
	cfg.SecretKey = modeltest.SecretKey
	for _, f := range configure {
		f(&cfg)
	}
	require.NoError(t, cfg.Validate())

	ctx := context.Background()
	db, err := models.OpenDB(ctx, cfg.DatabaseURL, logger)
	require.NoError(t, err)
	reg := metrics.New(logger)
	t.Cleanup(func() { reg.Close() })
	c, err := workflows.DialMetered(ctx, cfg, logger, reg.Temporal())
	require.NoError(t, err)
	t.Cleanup(c.Close)
	fleet, err := nextcloud.NewFleetDB(modeltest.ServerURL())
	require.NoError(t, err)
	t.Cleanup(func() { fleet.Close() })
	// The simulator is built here so that the test can play the space's users; each
	// space gets a real database on the test PostgreSQL server. With the occ driver,
	// the worker builds it from the configuration, as in production.
	var sim *nextcloud.Simulator
	var driver nextcloud.Driver
	if cfg.NextcloudDriver == "sim" {
		sim = nextcloud.NewSimulator(logger)
		sim.UseFleetDB(fleet)
		driver = sim
	}
	w, err := worker.New(worker.Options{Config: cfg, DB: db, Client: c, Logger: logger, Nextcloud: driver, Metrics: reg})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	stopWorker := sync.OnceFunc(w.Stop)
	t.Cleanup(stopWorker)

	server := api.NewServer(cfg, db, c, logger)
	server.UseMetrics(reg)
	h, err := server.Handler()
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	token, _, err := models.CreateModerator(ctx, db, "camille", models.RoleModerator)
	require.NoError(t, err)
	return &system{t: t, cfg: cfg, db: db, api: srv, smtp: smtp, temporal: c, sim: sim, fleet: fleet, token: token,
		metrics: reg, stopWorker: stopWorker}
}

// call sends a JSON request to the API and decodes the answer into out.
func (s *system) call(method, path, token string, body any, out any) int {
	s.t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(s.t, err)
	if body == nil {
		raw = nil
	}
	req, err := http.NewRequest(method, s.api.URL+path, bytes.NewReader(raw))
	require.NoError(s.t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	if out != nil && len(data) > 0 {
		require.NoError(s.t, json.Unmarshal(data, out), string(data))
	}
	return resp.StatusCode
}

func (s *system) submit(slug, email string) string {
	s.t.Helper()
	return s.submitWith(slug, email, "onlyoffice")
}

// submitWith applies for a space with the office suite office.
func (s *system) submitWith(slug, email, office string) string {
	s.t.Helper()
	var resp struct{ ID, Slug, Status string }
	code := s.call("POST", "/api/v1/applications", "", map[string]any{
		"organization_name": "Collectif " + slug, "organization_type": "informal_collective",
		"sectors": []string{"culture"}, "founded_year": 2020, "employees": 0, "members": 12,
		"beneficiaries": 40, "mission": "Animer la vie culturelle du quartier.",
		"actions": "Concerts, lectures publiques.", "needs": "Partager nos documents.",
		"slug": slug, "accounts_needed": 5, "office_suite": office,
		"contact_email": email, "works_in_french": true, "storage_needed_gb": 5, "terms_accepted": true,
	}, &resp)
	require.Equal(s.t, http.StatusCreated, code)
	require.Equal(s.t, "submitted", resp.Status)
	return resp.ID
}

// waitStatus polls the space until the API reports want.
func (s *system) waitStatus(slug string, want models.Status) map[string]any {
	s.t.Helper()
	return s.waitStatusFor(slug, want, 60*time.Second)
}

// waitStatusFor is waitStatus with a deadline of its own.
func (s *system) waitStatusFor(slug string, want models.Status, within time.Duration) map[string]any {
	s.t.Helper()
	var space map[string]any
	require.Eventually(s.t, func() bool {
		space = nil
		return s.call("GET", "/api/v1/spaces/"+slug, s.token, nil, &space) == http.StatusOK && space["status"] == string(want)
	}, within, 200*time.Millisecond, "space %s never became %s: %v", slug, want, space)
	return space
}

func TestApplicationLifecycleEndToEnd(t *testing.T) {
	s := startSystem(t)
	s3, err := storage.NewClient(s.cfg.S3Endpoint, s.cfg.S3AccessKey, s.cfg.S3SecretKey, false, s.cfg.S3Region)
	require.NoError(t, err)

	t.Run("an accepted application becomes an active space with its bucket, and each mail is delivered once", func(t *testing.T) {
		id := s.submit("chorale-du-port", "chef@chorale.example")
		receipt := s.smtp.WaitFor(t, 1, 30*time.Second)
		assert.Equal(t, []string{"chef@chorale.example"}, receipt[0].To)
		assert.Contains(t, receipt[0].Body, "chorale-du-port")

		var decided map[string]any
		require.Equal(t, http.StatusOK, s.call("POST", "/api/v1/applications/"+id+"/accept", s.token,
			map[string]any{"reason": "collectif éligible"}, &decided))
		assert.Equal(t, "provisioning", decided["status"])

		space := s.waitStatus("chorale-du-port", models.StatusActive)
		assert.Equal(t, s.cfg.NextcloudVersion, space["nextcloud_version"])
		ok, err := s3.BucketExists(context.Background(), "space-chorale-du-port")
		require.NoError(t, err)
		assert.True(t, ok, "the space's bucket exists in S3")

		mails := s.smtp.WaitFor(t, 2, 30*time.Second)
		time.Sleep(2 * time.Second) // a duplicate would arrive by now
		mails = s.smtp.Messages()
		require.Len(t, mails, 2, "receipt and credentials, once each")
		accepted := mails[1]
		assert.Equal(t, []string{"chef@chorale.example"}, accepted.To)
		assert.Contains(t, accepted.Body, "https://chorale-du-port."+s.cfg.BaseDomain)
		assert.Contains(t, accepted.Body, "admin")

		// The password reached the mail but never the workflow history in clear text.
		password := passwordIn(t, accepted.Body)
		history := historyText(t, s.temporal, workflows.SpaceWorkflowID("chorale-du-port"))
		require.Contains(t, history, "chorale-du-port", "payloads are read in clear")
		require.Contains(t, history, `"AdminUser":"admin"`, "the admin creation result is in history")
		assert.NotContains(t, history, password)
		assert.NotContains(t, history, "chef@chorale.example", "no personal data in history")

		// Moderators, and ops in the Temporal UI, can find the space by its status.
		require.Eventually(t, func() bool {
			resp, err := s.temporal.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
				Query: fmt.Sprintf("%s = 'active' AND %s = 'chorale-du-port' AND ExecutionStatus = 'Running'", workflows.SearchAttrStatus.GetName(), workflows.SearchAttrSlug.GetName()),
			})
			return err == nil && len(resp.Executions) == 1
		}, 30*time.Second, 500*time.Millisecond)

		var refused map[string]map[string]string
		assert.Equal(t, http.StatusConflict, s.call("POST", "/api/v1/applications/"+id+"/reject", s.token, nil, &refused))
		assert.Contains(t, refused["error"]["message"], "active")
	})

	t.Run("a rejected application is told so, its personal data purged, and its slug freed", func(t *testing.T) {
		before := len(s.smtp.Messages())
		id := s.submit("fanfare", "fanfare@example.org")
		s.smtp.WaitFor(t, before+1, 30*time.Second)
		require.Equal(t, http.StatusOK, s.call("POST", "/api/v1/applications/"+id+"/reject", s.token,
			map[string]any{"reason": "hors du champ du service"}, nil))
		mails := s.smtp.WaitFor(t, before+2, 30*time.Second)
		assert.Contains(t, mails[before+1].Body, "hors du champ du service")
		require.Eventually(t, func() bool {
			return s.call("GET", "/api/v1/applications/"+id, s.token, nil, nil) == http.StatusNotFound
		}, 30*time.Second, 200*time.Millisecond, "the application is purged")
		s.waitStatus("fanfare", models.StatusRejected)
		s.submit("fanfare", "autre@example.org")
	})
}

// passwordIn finds the provisional password line of the credentials mail.
func passwordIn(t *testing.T, body string) string {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		if _, pw, ok := strings.Cut(line, "Mot de passe provisoire : "); ok {
			return strings.TrimSpace(pw)
		}
	}
	t.Fatalf("no password in the mail:\n%s", body)
	return ""
}

// historyText is the event history of a workflow's first and latest runs in protobuf
// wire format, where payloads stand in clear.
func historyText(t *testing.T, c client.Client, workflowID string) string {
	t.Helper()
	desc, err := c.DescribeWorkflowExecution(context.Background(), workflowID, "")
	require.NoError(t, err)
	var b strings.Builder
	for _, runID := range []string{desc.WorkflowExecutionInfo.FirstRunId, desc.WorkflowExecutionInfo.Execution.RunId} {
		it := c.GetWorkflowHistory(context.Background(), workflowID, runID, false, 0)
		for it.HasNext() {
			ev, err := it.Next()
			require.NoError(t, err)
			raw, err := proto.Marshal(ev)
			require.NoError(t, err)
			b.Write(raw)
		}
	}
	return b.String()
}
