package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"jardinier/activities/mail/mailtest"
	"jardinier/activities/nextcloud"
	"jardinier/activities/storage"
	"jardinier/api"
	"jardinier/deploy/cluster"
	"jardinier/deploy/devstack"
	"jardinier/deploy/devstack/devstacktest"
	"jardinier/models"
	"jardinier/models/modeltest"
	"jardinier/worker"
	"jardinier/workflows"
)

// The variables of a chaos run. CHAOS=long is `make chaos`; without it the short run
// of `make test`.
const (
	chaosModeEnv = "CHAOS"      // long: make chaos
	chaosSeedEnv = "CHAOS_SEED" // the seed of the kills' moments; empty: a new one, reported
)

// chaosRole makes the test binary a worker or API process of TestChaosOnCluster
// (TestChaosClusterProcess).
var chaosRole = flag.String("chaos.role", "", "worker or api: run as that process of TestChaosOnCluster")

// chaosRun is the size of a chaos run.
type chaosRun struct {
	spaces   int           // applications accepted
	deleted  int           // of which deleted while the fleet upgrade runs
	minKills int           // a run with fewer kills fails
	killGap  time.Duration // a worker is killed after a random wait of up to killGap (at least a quarter of it)
	occ      time.Duration // each simulated `occ upgrade`
	// concurrency is how many spaces the fleet upgrade upgrades at once.
	concurrency int
	within      time.Duration // how long the spaces may take to reach their state
}

var (
	// The short run's occ upgrade outlasts the first kill (6 s at most): with its short
	// steps local, an upgrade of 2 s could end the run before any worker was killed.
	shortChaos = chaosRun{spaces: 4, deleted: 2, minKills: 1, killGap: 6 * time.Second, occ: 5 * time.Second, concurrency: 3, within: 4 * time.Minute}
	longChaos  = chaosRun{spaces: 60, deleted: 20, minKills: 30, killGap: 6 * time.Second, occ: 2 * time.Second, concurrency: 10, within: 20 * time.Minute}
)

// chaosUpgradeTarget is the next major of the version new spaces get.
const chaosUpgradeTarget = "32.0.0"

// TestChaosOnCluster runs the system on a real Temporal cluster (deploy/cluster: the
// Temporal server on PostgreSQL, two worker processes, two API instances) and, while it
// provisions spaces, deletes some and upgrades the others, SIGKILLs a worker at random
// moments (seeded, reported), each started again a moment later as a supervisor would,
// and kills and restarts the Temporal server once in the middle. At the end every space
// is in its expected state, no workflow is stuck, every mail arrived once (a copy
// carrying the same Message-ID after a kill is the known window of a crash after the
// SMTP server accepted: counted and reported), and no bucket, database or role is left
// of a deleted space, nor missing of a kept one.
func TestChaosOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the cluster's Temporal server, MinIO and PostgreSQL: not run in -short mode")
	}
	run := shortChaos
	if os.Getenv(chaosModeEnv) == "long" {
		run = longChaos
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(chaosSeedEnv); v != "" {
		var err error
		seed, err = strconv.ParseUint(v, 10, 64)
		require.NoError(t, err, chaosSeedEnv)
	}
	t.Logf("chaos: seed=%d (%s=%d runs the same moments again)", seed, chaosSeedEnv, seed)
	rng := mrand.New(mrand.NewPCG(seed, seed>>1|1))

	id := make([]byte, 2)
	_, _ = rand.Read(id)
	prefix := "chaos" + hex.EncodeToString(id)
	slugs := make([]string, run.spaces)
	fleet, err := nextcloud.NewFleetDB(modeltest.ServerURL())
	require.NoError(t, err)
	t.Cleanup(func() { fleet.Close() })
	for i := range slugs {
		slugs[i] = fmt.Sprintf("%s-%02d", prefix, i)
		// Once the cluster has stopped: a worker cut short leaves nothing either.
		t.Cleanup(func() { _ = fleet.Drop(context.Background(), slugs[i]) })
	}
	c, s := startChaosCluster(t, run)
	admin, _, err := models.CreateModerator(context.Background(), s.db, "dominique", models.RoleAdmin)
	require.NoError(t, err)
	deleted, kept := slugs[:run.deleted], slugs[run.deleted:]

	chaos := startKilling(t, c, rng, run.killGap)
	defer chaos.stop()

	// Provisioning under kills.
	ids, retried := map[string]string{}, 0
	for _, slug := range slugs {
		ids[slug] = s.submit(slug, "contact@"+slug+".example")
		retried += s.acceptUnderChaos(ids[slug], slug)
	}
	t.Logf("chaos: %d acceptances answered with an error (the worker of the update killed) and sent again", retried)
	for _, slug := range slugs {
		s.waitStatusFor(slug, models.StatusActive, run.within)
	}

	// Deletions and the fleet upgrade under kills, and the Temporal server restarted in
	// the middle.
	for _, slug := range deleted {
		s.callInBackground("POST", "/api/v1/spaces/"+slug+"/delete", `{"reason": "dissolution"}`)
	}
	var upgrade struct{ ID string }
	require.Eventually(t, func() bool {
		return s.call("POST", "/api/v1/upgrades", admin,
			map[string]any{"target": chaosUpgradeTarget, "canary": 0, "concurrency": run.concurrency}, &upgrade) == http.StatusAccepted
	}, time.Minute, time.Second, "the fleet upgrade did not start")
	time.Sleep(time.Duration(rng.Int64N(int64(3 * time.Second))))
	restartAt := time.Now()
	require.NoError(t, c.RestartTemporal(context.Background()))
	chaos.restarted(restartAt)
	t.Logf("chaos: Temporal server killed and started again at +%.1fs, serving again %.1fs later",
		restartAt.Sub(chaos.start).Seconds(), time.Since(restartAt).Seconds())

	deadline := time.Now().Add(run.within)
	for _, slug := range deleted {
		// A deletion asked while the server was down is asked again.
		for s.statusOf(slug) != models.StatusDeleted && time.Now().Before(deadline) {
			if s.statusOf(slug) == models.StatusActive {
				s.callInBackground("POST", "/api/v1/spaces/"+slug+"/delete", `{"reason": "dissolution"}`)
			}
			time.Sleep(5 * time.Second)
		}
	}
	var progress struct {
		Status            string
		Upgraded, Skipped int
		Failed            int
	}
	for time.Now().Before(deadline) {
		if s.call("GET", "/api/v1/upgrades/"+upgrade.ID, admin, nil, &progress) == http.StatusOK && progress.Status == workflows.UpgradeDone {
			break
		}
		time.Sleep(time.Second)
	}
	chaos.stop()

	report := chaosReport{kills: chaos.count(), restarts: 1, spaces: run.spaces}
	t.Run("every space reached its expected state: deleted, or active on the new version", func(t *testing.T) {
		assert.Equal(t, workflows.UpgradeDone, progress.Status, "the fleet upgrade: %+v", progress)
		assert.Zero(t, progress.Failed, "%+v", progress)
		for _, slug := range deleted {
			assert.Equal(t, models.StatusDeleted, s.statusOf(slug), slug)
			assert.Equal(t, http.StatusNotFound, s.call("GET", "/api/v1/applications/"+ids[slug], s.token, nil, nil),
				"the application of %s is purged", slug)
		}
		for _, slug := range kept {
			space := s.waitStatusFor(slug, models.StatusActive, time.Minute)
			assert.Equal(t, chaosUpgradeTarget, space["nextcloud_version"], slug)
		}
	})

	t.Run("no workflow is stuck", func(t *testing.T) {
		report.stuck = stuckWorkflows(t, s.temporal, deleted, kept, upgrade.ID)
		assert.Zero(t, report.stuck)
	})

	t.Run("every mail arrived exactly once, but for the copies of a crash after the SMTP server accepted", func(t *testing.T) {
		var unexplained []string
		report.duplicates, unexplained = duplicateMails(s.smtp.Messages(), chaos.kills())
		assert.Empty(t, unexplained, "copies of a mail with no worker killed between them")
		byContact := map[string]map[string]bool{}
		for _, m := range s.smtp.Messages() {
			for _, to := range m.To {
				if byContact[to] == nil {
					byContact[to] = map[string]bool{}
				}
				byContact[to][m.MessageID] = true
			}
		}
		for _, slug := range kept {
			assert.Len(t, byContact["contact@"+slug+".example"], 2, "%s: receipt and credentials", slug)
		}
		for _, slug := range deleted {
			assert.Len(t, byContact["contact@"+slug+".example"], 3, "%s: receipt, credentials and deletion", slug)
		}
	})

	t.Run("nothing of a deleted space remains, nothing of a kept one is missing", func(t *testing.T) {
		report.leaks = leaks(t, s, c, deleted, kept)
		assert.Zero(t, report.leaks)
	})

	line := report.String()
	t.Log(line)
	fmt.Println(line)
	if os.Getenv(chaosModeEnv) == "long" {
		fmt.Printf("chaos: seed=%d kill_moments=%s\n", seed, chaos.moments())
	}
	assert.GreaterOrEqual(t, report.kills, run.minKills, "too few kills: the run ended before")
}

// chaosReport is the line `make chaos` prints.
type chaosReport struct{ kills, restarts, spaces, duplicates, leaks, stuck int }

func (r chaosReport) String() string {
	return fmt.Sprintf("chaos: kills=%d restarts=%d spaces=%d duplicates=%d leaks=%d stuck=%d",
		r.kills, r.restarts, r.spaces, r.duplicates, r.leaks, r.stuck)
}

// startChaosCluster starts the cluster for one test: Temporal's databases of its own on
// the test PostgreSQL server, a MinIO server and an SMTP server of the test, the test
// binary as the workers and API instances (TestChaosClusterProcess). It returns the
// system as the end-to-end helpers drive it, through the first API instance.
func startChaosCluster(t *testing.T, run chaosRun) (*cluster.Cluster, *system) {
	t.Helper()
	s3 := devstacktest.StartMinIO(t)
	smtp := mailtest.Start(t)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	cfg := models.DefaultConfig()
	cfg.DatabaseURL = modeltest.NewDatabaseURL(t)
	cfg.S3Endpoint, cfg.S3AccessKey, cfg.S3SecretKey = s3.Endpoint, s3.AccessKey, s3.SecretKey
	cfg.SMTPURL = smtp.URL()
	cfg.SecretKey = modeltest.SecretKey
	port, err := devstack.FreePort()
	require.NoError(t, err)
	cfg.TemporalAddress = "127.0.0.1:" + strconv.Itoa(port)
	cfg.APIAddr = freePortPair(t)
	tdb, err := cluster.ParseDatabaseURL(modeltest.ServerURL())
	require.NoError(t, err)
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	tdb.Name = "jardinier_chaos_" + hex.EncodeToString(suffix)

	var out io.Writer // the processes' output, for the long run only
	if os.Getenv(chaosModeEnv) == "long" {
		out = os.Stderr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Options{
		Config:              cfg,
		TemporalDatabaseURL: fmt.Sprintf("postgres://%s@%s:%s/%s?sslmode=disable", tdb.User, tdb.Host, tdb.Port, tdb.Name),
		StateDir:            t.TempDir(),
		Workers:             2,
		APIs:                2,
		Executable:          os.Args[0],
		Args: func(role string) []string {
			return []string{"-test.run=^TestChaosClusterProcess$", "-test.timeout=0", "-chaos.role=" + role}
		},
		Env: []string{
			"SMTP_URL=" + smtp.URL(),
			"FLEET_DATABASE_URL=" + modeltest.ServerURL(),
			"QUOTA_REBALANCE_EVERY=0",
			"MAIL_RATE=50",
			"SUBMIT_RATE=100000",
			"NEXTCLOUD_SIM_UPGRADE_DURATION=" + run.occ.String(),
		},
		Output: out,
		Logger: logger,
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = c.Stop()
		_ = cluster.DropDatabases(context.Background(), tdb)
	})

	db, err := models.OpenDB(context.Background(), cfg.DatabaseURL, logger)
	require.NoError(t, err)
	tc, err := workflows.Dial(context.Background(), c.Config, logger)
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	fleet, err := nextcloud.NewFleetDB(modeltest.ServerURL())
	require.NoError(t, err)
	t.Cleanup(func() { fleet.Close() })
	token, _, err := models.CreateModerator(context.Background(), db, "camille", models.RoleModerator)
	require.NoError(t, err)
	return c, &system{t: t, cfg: c.Config, db: db, api: &httptest.Server{URL: c.APIURLs[0]}, smtp: smtp, temporal: tc,
		fleet: fleet, token: token, stopWorker: func() {}}
}

// freePortPair returns 127.0.0.1:P where P and P+1 are free: the two API instances.
func freePortPair(t *testing.T) string {
	t.Helper()
	for range 50 {
		port, err := devstack.FreePort()
		require.NoError(t, err)
		if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+1)); err == nil {
			l.Close()
			return "127.0.0.1:" + strconv.Itoa(port)
		}
	}
	t.Fatal("no two free ports in a row")
	return ""
}

// TestChaosClusterProcess is a worker or API process of TestChaosOnCluster, reading its
// configuration from the environment as `jardinier worker` and `jardinier api` do; it
// is skipped otherwise.
func TestChaosClusterProcess(t *testing.T) {
	role := *chaosRole
	if role == "" {
		t.Skip("a process of TestChaosOnCluster")
	}
	cfg, err := models.ConfigFromEnv(os.Getenv)
	require.NoError(t, err)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	switch role {
	case "worker":
		err = worker.Run(context.Background(), cfg, logger)
	case "api":
		err = api.Run(context.Background(), cfg, logger)
	default:
		t.Fatalf("-chaos.role=%q: want worker or api", role)
	}
	require.NoError(t, err)
}

// acceptUnderChaos accepts the application as a moderator would while workers die: an
// update whose worker is killed before it answers times out with an error, and the
// moderator sends it again until it is accepted, or refused because it already was.
// It returns how many answers were errors.
func (s *system) acceptUnderChaos(id, slug string) int {
	s.t.Helper()
	errs := 0
	deadline := time.Now().Add(3 * time.Minute)
	for {
		code := s.call("POST", "/api/v1/applications/"+id+"/accept", s.token, map[string]any{"reason": "collectif éligible"}, nil)
		if code == http.StatusOK || (code == http.StatusConflict && s.statusOf(slug) != models.StatusSubmitted) {
			return errs
		}
		errs++
		require.True(s.t, time.Now().Before(deadline), "the acceptance of %s never went through: %d", slug, code)
		time.Sleep(time.Second)
	}
}

// statusOf is the space's status as the API reports it; empty when it does not answer.
func (s *system) statusOf(slug string) models.Status {
	var space map[string]any
	if s.call("GET", "/api/v1/spaces/"+slug, s.token, nil, &space) != http.StatusOK {
		return ""
	}
	status, _ := space["status"].(string)
	return models.Status(status)
}

// killer SIGKILLs a random worker of the cluster after a random wait, then starts it
// again a moment later, until stopped.
type killer struct {
	t     *testing.T
	start time.Time
	done  chan struct{}
	ended chan struct{}
	once  sync.Once

	mu    sync.Mutex
	times []time.Time // of each kill, and of the Temporal server's restart
	names []string
}

func startKilling(t *testing.T, c *cluster.Cluster, rng *mrand.Rand, gap time.Duration) *killer {
	k := &killer{t: t, start: time.Now(), done: make(chan struct{}), ended: make(chan struct{})}
	go func() {
		defer close(k.ended)
		for {
			wait := gap/4 + time.Duration(rng.Int64N(int64(gap*3/4)))
			i := rng.IntN(len(c.Workers))
			select {
			case <-k.done:
				return
			case <-time.After(wait):
			}
			if err := c.KillWorker(i); err != nil {
				t.Errorf("kill worker %d: %v", i+1, err)
				return
			}
			k.mu.Lock()
			k.times = append(k.times, time.Now())
			k.names = append(k.names, fmt.Sprintf("worker-%d@+%.1fs", i+1, time.Since(k.start).Seconds()))
			k.mu.Unlock()
			time.Sleep(500 * time.Millisecond) // as a supervisor restarts it
			if err := c.StartWorker(i); err != nil {
				t.Errorf("start worker %d again: %v", i+1, err)
				return
			}
		}
	}()
	return k
}

// restarted records the Temporal server's restart as a moment of a crash.
func (k *killer) restarted(at time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.times = append(k.times, at)
}

func (k *killer) stop() {
	k.once.Do(func() { close(k.done) })
	<-k.ended
}

func (k *killer) count() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.names)
}

func (k *killer) kills() []time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.times)
}

func (k *killer) moments() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return strings.Join(k.names, ",")
}

// duplicateMails counts the copies of mails that arrived more than once with the same
// Message-ID, and returns those with no crash between the first copy and the next:
// only a crash after the server accepted explains one.
func duplicateMails(msgs []mailtest.Received, crashes []time.Time) (duplicates int, unexplained []string) {
	first := map[string]time.Time{}
	for _, m := range msgs {
		at, seen := first[m.MessageID]
		if !seen {
			first[m.MessageID] = m.At
			continue
		}
		duplicates++
		explained := slices.ContainsFunc(crashes, func(c time.Time) bool { return !c.Before(at.Add(-time.Second)) && !c.After(m.At) })
		if !explained {
			unexplained = append(unexplained, fmt.Sprintf("%s to %v (%q)", m.MessageID, m.To, m.Subject))
		}
		first[m.MessageID] = m.At
	}
	return duplicates, unexplained
}

// stuckWorkflows counts the workflows not where they should be once everything is
// done: a kept space's workflow not running or with an activity still pending, a
// deleted space's still running, the fleet upgrade not completed.
func stuckWorkflows(t *testing.T, c client.Client, deleted, kept []string, upgradeID string) int {
	t.Helper()
	ctx := context.Background()
	stuck := 0
	check := func(workflowID string, wantRunning bool) {
		var why string
		// Activities of the last steps may still be finishing: a little time to settle.
		for range 30 {
			desc, err := c.DescribeWorkflowExecution(ctx, workflowID, "")
			switch {
			case err != nil:
				why = err.Error()
			case wantRunning && desc.WorkflowExecutionInfo.Status != enums.WORKFLOW_EXECUTION_STATUS_RUNNING:
				why = "not running: " + desc.WorkflowExecutionInfo.Status.String()
			case !wantRunning && desc.WorkflowExecutionInfo.Status != enums.WORKFLOW_EXECUTION_STATUS_COMPLETED:
				why = "not completed: " + desc.WorkflowExecutionInfo.Status.String()
			case len(desc.PendingActivities) > 0:
				why = fmt.Sprintf("%d activities pending, first %s attempt %d", len(desc.PendingActivities),
					desc.PendingActivities[0].ActivityType.GetName(), desc.PendingActivities[0].Attempt)
			default:
				return
			}
			time.Sleep(time.Second)
		}
		t.Logf("stuck: %s: %s", workflowID, why)
		stuck++
	}
	for _, slug := range kept {
		check(workflows.SpaceWorkflowID(slug), true)
	}
	for _, slug := range deleted {
		check(workflows.SpaceWorkflowID(slug), false)
	}
	check(workflows.UpgradeWorkflowID(upgradeID), false)
	return stuck
}

// leaks counts what a deleted space left behind (bucket, database, role, instance) and
// what a kept one lacks.
func leaks(t *testing.T, s *system, c *cluster.Cluster, deleted, kept []string) int {
	t.Helper()
	ctx := context.Background()
	s3, err := storage.NewClient(s.cfg.S3Endpoint, s.cfg.S3AccessKey, s.cfg.S3SecretKey, false, s.cfg.S3Region)
	require.NoError(t, err)
	sim := nextcloud.NewSimulator(slog.New(slog.DiscardHandler))
	require.NoError(t, sim.Persist(c.SimDir()))
	n := 0
	for _, slug := range append(slices.Clone(deleted), kept...) {
		want := slices.Contains(kept, slug)
		bucket, err := s3.BucketExists(ctx, s.cfg.BucketPrefix+slug)
		require.NoError(t, err)
		dbExists, roleExists, err := s.fleet.Exists(ctx, slug)
		require.NoError(t, err)
		_, instance := sim.Instance(slug)
		for what, got := range map[string]bool{"bucket": bucket, "database": dbExists, "role": roleExists, "instance": instance} {
			if got != want {
				t.Logf("leak: %s of %s: exists=%v, want %v", what, slug, got, want)
				n++
			}
		}
	}
	return n
}
