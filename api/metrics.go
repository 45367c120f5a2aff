package api

import (
	"context"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/api/workflowservice/v1"

	"jardinier/models"
	"jardinier/models/metrics"
	"jardinier/workflows"
)

// fleetScrapeTimeout bounds the queries one scrape of /metrics makes: a slow database
// gives a scrape without the fleet's figures rather than a hung one.
const fleetScrapeTimeout = 5 * time.Second

// UseMetrics makes the server record its requests into reg and serve reg, with the
// fleet's state, at /metrics. Call it before Handler.
func (s *Server) UseMetrics(reg *metrics.Registry) {
	s.metrics = reg
	reg.MustRegister(newFleetCollector(s))
}

// observeRequests records every request answered, under its route's pattern: a path
// carries slugs and tokens, which must not become label values.
func (s *Server) observeRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	s.metrics.ObserveHTTP(c.FullPath(), c.Request.Method, c.Writer.Status(), time.Since(start))
}

// fleetCollector reads, at each scrape, the fleet's state that the alerts watch: the
// spaces by status, the applications waiting, a provisioning that does not end, the
// spaces whose background jobs are late or whose backups are missing, and the fleet
// upgrades under way. Every API
// instance reports the same figures; alerts take their max.
type fleetCollector struct {
	s *Server

	spaces, waiting, oldestWaiting, oldestProvisioning, cronLate *prometheus.Desc
	backupOldest, backupStale                                    *prometheus.Desc
	upgrades, upgradeDowntime, scrapeErrors                      *prometheus.Desc
}

func newFleetCollector(s *Server) *fleetCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(metrics.Namespace, "", name), help, labels, nil)
	}
	return &fleetCollector{s: s,
		spaces:             desc("spaces", "Spaces by status (applications included).", "status"),
		waiting:            desc("applications_waiting", "Applications waiting for a moderator (submitted) or for room (on_hold).", "status"),
		oldestWaiting:      desc("applications_oldest_waiting_seconds", "Age of the oldest application waiting for a moderator; 0 when none."),
		oldestProvisioning: desc("spaces_provisioning_oldest_seconds", "Time since the oldest provisioning under way was accepted; 0 when none."),
		cronLate:           desc("cron_late_spaces", "Spaces in service whose background jobs failed last or have not run for 3 intervals."),
		backupOldest:       desc("backup_oldest_seconds", "Longest time a space in service has gone without a good backup (since its provisioning when it has none); 0 when no space is in service."),
		backupStale:        desc("spaces_without_recent_backup", "Spaces in service for more than 48 h without a good backup for 48 h (console: sauvegardes en retard)."),
		upgrades:           desc("fleet_upgrades", "Fleet upgrades under way, by status (running, paused).", "status"),
		upgradeDowntime:    desc("fleet_upgrade_downtime_seconds", "Downtime of the spaces of the fleet upgrade under way, by statistic (p50, p95).", "stat"),
		scrapeErrors:       desc("fleet_scrape_errors", "Parts of the fleet's state this scrape could not read (database, temporal).", "part"),
	}
}

func (f *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{f.spaces, f.waiting, f.oldestWaiting, f.oldestProvisioning,
		f.cronLate, f.backupOldest, f.backupStale, f.upgrades, f.upgradeDowntime, f.scrapeErrors} {
		ch <- d
	}
}

func (f *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), fleetScrapeTimeout)
	defer cancel()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	dbErr, temporalErr := 0.0, 0.0
	if err := f.collectDatabase(ctx, gauge); err != nil {
		f.s.logger.Warn("Metrics: fleet state not read from the database", "error", err)
		dbErr = 1
	}
	if err := f.collectUpgrades(ctx, gauge); err != nil {
		f.s.logger.Warn("Metrics: fleet upgrades not read from Temporal", "error", err)
		temporalErr = 1
	}
	gauge(f.scrapeErrors, dbErr, "database")
	gauge(f.scrapeErrors, temporalErr, "temporal")
}

func (f *fleetCollector) collectDatabase(ctx context.Context, gauge func(*prometheus.Desc, float64, ...string)) error {
	db := f.s.db.WithContext(ctx)
	var counts []struct {
		Status models.Status
		N      int64
	}
	if err := db.Model(&models.Space{}).Select("status, count(*) AS n").Group("status").Scan(&counts).Error; err != nil {
		return err
	}
	byStatus := map[models.Status]int64{}
	for _, c := range counts {
		byStatus[c.Status] = c.N
	}
	// Every status, with its zero: an alert on a series that is absent never fires.
	for _, st := range models.Statuses {
		gauge(f.spaces, float64(byStatus[st]), string(st))
	}
	gauge(f.waiting, float64(byStatus[models.StatusSubmitted]), string(models.StatusSubmitted))
	gauge(f.waiting, float64(byStatus[models.StatusOnHold]), string(models.StatusOnHold))

	now := f.s.now()
	var oldest struct{ Submitted, Decided *time.Time }
	err := db.Model(&models.Space{}).Select(
		"MIN(submitted_at) FILTER (WHERE status = ?) AS submitted, MIN(decided_at) FILTER (WHERE status = ?) AS decided",
		models.StatusSubmitted, models.StatusProvisioning).Scan(&oldest).Error
	if err != nil {
		return err
	}
	gauge(f.oldestWaiting, ageSeconds(now, oldest.Submitted))
	gauge(f.oldestProvisioning, ageSeconds(now, oldest.Decided))

	since := models.CronLateSince(now, f.s.cfg.Cron.Every)
	var late int64
	if err := db.Model(&models.Space{}).Where(models.CronLateCondition, since, since).Count(&late).Error; err != nil {
		return err
	}
	gauge(f.cronLate, float64(late))

	backups, err := models.BackupFreshnessAt(db, now)
	if err != nil {
		return err
	}
	gauge(f.backupOldest, ageSeconds(now, backups.Oldest))
	gauge(f.backupStale, float64(backups.Stale))
	return nil
}

func (f *fleetCollector) collectUpgrades(ctx context.Context, gauge func(*prometheus.Desc, float64, ...string)) error {
	resp, err := f.s.temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: runningUpgradesQuery, PageSize: 10})
	if err != nil {
		return err
	}
	byStatus := map[string]float64{workflows.UpgradeRunning: 0, workflows.UpgradePaused: 0}
	var p50, p95 float64
	for _, e := range resp.Executions {
		p, err := f.s.upgradeProgressOf(ctx, strings.TrimPrefix(e.GetExecution().GetWorkflowId(), workflows.UpgradeWorkflowID("")))
		if err != nil {
			return err
		}
		byStatus[p.Status]++
		p50, p95 = max(p50, p.DowntimeP50.Seconds()), max(p95, p.DowntimeP95.Seconds())
	}
	for _, st := range []string{workflows.UpgradeRunning, workflows.UpgradePaused} {
		gauge(f.upgrades, byStatus[st], st)
	}
	gauge(f.upgradeDowntime, p50, "p50")
	gauge(f.upgradeDowntime, p95, "p95")
	return nil
}

func ageSeconds(now time.Time, t *time.Time) float64 {
	if t == nil {
		return 0
	}
	return max(now.Sub(*t).Seconds(), 0)
}
