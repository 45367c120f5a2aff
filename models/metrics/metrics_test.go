package metrics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"jardinier/models/metrics"
)

func TestRegistry(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)

	t.Run("a nil registry records nothing and does not fail", func(t *testing.T) {
		var r *metrics.Registry
		r.ObserveHTTP("/", "GET", 200, time.Millisecond)
		r.ObserveMail("receipt", nil)
		r.ObserveProvisioning(time.Second)
		r.ObserveCron("ok", time.Second, time.Second)
		r.InitMail("receipt")
		assert.Nil(t, r.Temporal())
		assert.NoError(t, r.Close())
	})

	t.Run("the worker's endpoint serves what was recorded, the unknown routes under one label", func(t *testing.T) {
		r := metrics.New(logger)
		defer r.Close()
		r.InitMail("receipt", "accepted")
		r.ObserveMail("receipt", nil)
		r.ObserveMail("accepted", errors.New("relay down"))
		r.ObserveHTTP("", "GET", 404, time.Millisecond)
		r.Temporal().Counter("temporal_test_requests").Inc(3)

		addr := serve(t, r, false, logger)

		var body string
		require.Eventually(t, func() bool {
			resp, err := http.Get("http://" + addr + "/metrics")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			body = string(raw)
			// The SDK's metrics are copied in once a second.
			return resp.StatusCode == http.StatusOK &&
				contains(body, "temporal_test_requests_total 3")
		}, 5*time.Second, 100*time.Millisecond)
		for _, series := range []string{
			`jardinier_mails_sent_total{kind="receipt"} 1`, `jardinier_mails_sent_total{kind="accepted"} 0`,
			`jardinier_mails_failed_total{kind="accepted"} 1`,
			`jardinier_http_requests_total{method="GET",route="unknown",status="404"} 1`, "go_goroutines",
		} {
			assert.True(t, contains(body, series), "no %s in the scrape", series)
		}
	})

	t.Run("Go's profiles are served only when asked (METRICS_PPROF)", func(t *testing.T) {
		for _, withPprof := range []bool{false, true} {
			r := metrics.New(logger)
			defer r.Close()
			addr := serve(t, r, withPprof, logger)
			want := map[bool]int{false: http.StatusNotFound, true: http.StatusOK}[withPprof]
			require.Eventually(t, func() bool {
				resp, err := http.Get("http://" + addr + "/debug/pprof/heap?debug=1")
				if err != nil {
					return false
				}
				resp.Body.Close()
				return resp.StatusCode == want
			}, 5*time.Second, 50*time.Millisecond, "pprof %v: want %d", withPprof, want)
		}
	})

	t.Run("a taken address is refused, naming the variable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer l.Close()
		r := metrics.New(logger)
		defer r.Close()
		err = r.Serve(context.Background(), l.Addr().String(), false, logger)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "METRICS_ADDR")
	})
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// serve serves r on a free address until the test ends, and returns the address.
func serve(t *testing.T, r *metrics.Registry, withPprof bool, logger *slog.Logger) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	require.NoError(t, r.Serve(ctx, addr, withPprof, logger))
	return addr
}
