// Package metrics holds what Jardinier's processes expose to Prometheus at /metrics: one
// registry per process, the Temporal SDK's own metrics reported into it, and the
// service's metrics (HTTP requests, mails, provisioning, cron, the fleet's state).
//
// Cardinality stays bounded: labels carry routes, statuses, kinds and outcomes, never a
// space's slug nor an address.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
)

// Namespace prefixes every metric of the service's own; the SDK's start with temporal_.
const Namespace = "jardinier"

// temporalReportEvery is how often the SDK's metrics are copied into the registry: a
// scrape sees them at most this late.
const temporalReportEvery = time.Second

// durationBuckets fit what the service times: requests of milliseconds, provisioning
// and cron runs of seconds to minutes.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// Registry is one process's metrics. The zero value is not usable: call New.
type Registry struct {
	*prometheus.Registry
	temporal      client.MetricsHandler
	temporalScope io.Closer

	// The service's metrics; each process produces some of them.
	httpRequests     *prometheus.CounterVec
	httpDuration     *prometheus.HistogramVec
	mailsSent        *prometheus.CounterVec
	mailsFailed      *prometheus.CounterVec
	provisioningTime prometheus.Histogram
	cronRuns         *prometheus.CounterVec
	cronLag          prometheus.Histogram
	cronDuration     prometheus.Histogram
}

// New returns a registry holding the Go runtime's and the process's metrics, the
// service's metrics, and a Temporal metrics handler reporting into it. Close it.
func New(logger *slog.Logger) *Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r := &Registry{Registry: reg}

	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:              reg,
		DefaultTimerType:        tallyprom.HistogramTimerType,
		DefaultHistogramBuckets: durationBuckets,
		// The SDK may report one name with two sets of tags; the second is dropped
		// rather than bringing the process down.
		OnRegisterError: func(err error) { logger.Debug("Temporal metric not registered", "error", err) },
	})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
	}, temporalReportEvery)
	r.temporal = sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope))
	r.temporalScope = closer

	f := factory{reg}
	r.httpRequests = f.counters("http_requests_total", "HTTP requests answered, by route, method and status.", "route", "method", "status")
	r.httpDuration = f.histograms("http_request_duration_seconds", "Time to answer HTTP requests, by route and method.", "route", "method")
	r.mailsSent = f.counters("mails_sent_total", "Mails the relay accepted, by kind.", "kind")
	r.mailsFailed = f.counters("mails_failed_total", "Attempts to send a mail that failed, by kind.", "kind")
	r.provisioningTime = f.histogram("provisioning_duration_seconds", "Time from a moderator's acceptance to the space in service.")
	r.cronRuns = f.counters("cron_runs_total", "Runs of the spaces' background jobs (cron.php), by outcome.", "outcome")
	r.cronLag = f.histogram("cron_lag_seconds", "Delay between a space's cron run falling due and its start.")
	r.cronDuration = f.histogram("cron_run_duration_seconds", "Time a space's cron run took.")
	return r
}

// The Observe methods record one event; on a nil Registry (tests, benchmarks) they do
// nothing.

// ObserveHTTP records a request answered: route is the router's pattern (never the
// path itself, which carries slugs and tokens), empty for an unknown address.
func (r *Registry) ObserveHTTP(route, method string, status int, d time.Duration) {
	if r == nil {
		return
	}
	if route == "" {
		route = "unknown"
	}
	r.httpRequests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	r.httpDuration.WithLabelValues(route, method).Observe(d.Seconds())
}

// ObserveMail records an attempt to send a mail of a kind: sent when err is nil.
func (r *Registry) ObserveMail(kind string, err error) {
	if r == nil {
		return
	}
	if err != nil {
		r.mailsFailed.WithLabelValues(kind).Inc()
		return
	}
	r.mailsSent.WithLabelValues(kind).Inc()
}

// InitMail makes the mail counters of every kind exist at zero, so that a rate over
// them, and an alert on it, is defined before the first failure.
func (r *Registry) InitMail(kinds ...string) {
	if r == nil {
		return
	}
	for _, k := range kinds {
		r.mailsSent.WithLabelValues(k)
		r.mailsFailed.WithLabelValues(k)
	}
}

// InitCron makes the cron counters of every outcome exist at zero.
func (r *Registry) InitCron(outcomes ...string) {
	if r == nil {
		return
	}
	for _, o := range outcomes {
		r.cronRuns.WithLabelValues(o)
	}
}

// ObserveProvisioning records the time a space took from acceptance to service.
func (r *Registry) ObserveProvisioning(d time.Duration) {
	if r == nil || d < 0 {
		return
	}
	r.provisioningTime.Observe(d.Seconds())
}

// ObserveCron records one cron run: its outcome, how late it started, how long it took.
func (r *Registry) ObserveCron(outcome string, lag, took time.Duration) {
	if r == nil {
		return
	}
	r.cronRuns.WithLabelValues(outcome).Inc()
	r.cronLag.Observe(max(lag, 0).Seconds())
	r.cronDuration.Observe(took.Seconds())
}

// Temporal is the handler to give the SDK (client.Options.MetricsHandler).
func (r *Registry) Temporal() client.MetricsHandler {
	if r == nil {
		return nil
	}
	return r.temporal
}

// Handler serves the registry in Prometheus' text format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.Registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Close stops reporting the SDK's metrics.
func (r *Registry) Close() error {
	if r == nil {
		return nil
	}
	return r.temporalScope.Close()
}

// Serve serves /metrics on addr until ctx is cancelled: the worker's and the cron
// runner's endpoint (the API serves it on its own address), and with withPprof Go's
// profiles under /debug/pprof/ (METRICS_PPROF). An empty addr serves nothing.
func (r *Registry) Serve(ctx context.Context, addr string, withPprof bool, logger *slog.Logger) error {
	if addr == "" {
		return nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("METRICS_ADDR %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", r.Handler())
	if withPprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	logger.Info("Metrics listening", "addr", "http://"+l.Addr().String()+"/metrics")
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("Metrics server stopped", "error", err)
		}
	}()
	return nil
}

// factory registers the service's metrics under Namespace.
type factory struct{ reg prometheus.Registerer }

func (f factory) counters(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) histograms(name, help string, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: durationBuckets}, labels)
	f.reg.MustRegister(h)
	return h
}

func (f factory) histogram(name, help string) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: durationBuckets})
	f.reg.MustRegister(h)
	return h
}
