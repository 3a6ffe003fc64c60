package server

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Routes served, shared with tests and deployment-file checks.
const (
	// PathHealthz and PathReadyz answer from the deep probe.
	PathHealthz = "/healthz"
	PathReadyz  = "/readyz"
	// PathLivez answers from the shallow check.
	PathLivez = "/livez"
	// PathMetrics serves Prometheus.
	PathMetrics = "/metrics"
	// PathPing is deepprobe's own liveness: it calls nothing upstream and needs no token.
	PathPing = "/ping"
	// PathStatus (the status page) and PathHistory are the fleet view: read-only, they never
	// start a workload.
	PathStatus  = "/"
	PathHistory = "/history"
)

// knownRoutes are the route label's values (see observe), and the routes a 404 lists.
var knownRoutes = []string{PathHealthz, PathReadyz, PathLivez, PathMetrics, PathStatus, PathHistory, PathPing}

// routes registers every route on e, each behind the token when one is configured, except
// where Config exempts it.
func (s *Server) routes(e *echo.Echo) {
	deep := []echo.MiddlewareFunc{s.requireToken}
	shallow := deep
	if s.cfg.AuthExemptShallow {
		shallow = nil
	}
	pages := deep
	if s.cfg.AuthExemptStatus {
		pages = nil
	}
	both := []string{http.MethodGet, http.MethodHead}
	e.Match(both, PathHealthz, s.healthz, deep...)
	e.Match(both, PathReadyz, s.healthz, deep...)
	e.Match(both, PathLivez, s.livez, shallow...)
	e.Match(both, PathPing, s.ping) // never behind the token: see ping
	e.Match(both, PathMetrics, echo.WrapHandler(promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{})), shallow...)
	e.Match(both, PathStatus, s.status, pages...)
	e.Match(both, PathHistory, s.history, pages...)
}
