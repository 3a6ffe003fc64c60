package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// httpMetrics count requests by route and code.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deepprobe_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "deepprobe_http_request_duration_seconds", Help: "HTTP request duration by route.",
			Buckets: []float64{.0005, .001, .005, .01, .05, .1, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
	}
	// Every route's series exist from start-up (the usual answers; others appear when they occur).
	for _, route := range knownRoutes {
		m.duration.WithLabelValues(route)
		for _, code := range []string{"200", "503"} {
			m.requests.WithLabelValues(route, http.MethodGet, code)
		}
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering HTTP metrics: %w", err)
		}
	}
	return m, nil
}

// knownMethods are the method label's values; any other method is counted as "other", so that
// made-up methods cannot grow the metrics without bound.
var knownMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete,
	http.MethodPatch, http.MethodOptions, http.MethodConnect, http.MethodTrace}

func methodLabel(m string) string {
	if slices.Contains(knownMethods, m) {
		return m
	}
	return "other"
}

// observe logs and counts every request, with labels from bounded sets only.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		took := time.Since(start)
		route := c.Path()
		if !slices.Contains(knownRoutes, route) {
			route = "other"
		}
		status := c.Response().Status
		s.metrics.requests.WithLabelValues(route, methodLabel(c.Request().Method), strconv.Itoa(status)).Inc()
		s.metrics.duration.WithLabelValues(route).Observe(took.Seconds())
		// Only server-side trouble is worth a line at info: a flood of 4xx (scanners, typos,
		// bad tokens) must not flood the log; it is counted in the metrics.
		level := slog.LevelInfo
		if route == PathMetrics || status < 500 {
			level = slog.LevelDebug
		}
		if ctx := c.Request().Context(); s.cfg.Logger.Enabled(ctx, level) {
			s.cfg.Logger.Log(ctx, level, "request", "method", c.Request().Method,
				"path", c.Request().URL.Path, "status", status, "duration", took.Round(time.Microsecond),
				"remote", c.RealIP())
		}
		return nil
	}
}
