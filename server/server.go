package server

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/deepprobe/deepprobe/probes"
)

// Routes served, shared with tests and deployment-file checks.
const (
	PathHealthz = "/healthz"
	PathReadyz  = "/readyz"
	PathLivez   = "/livez"
	PathMetrics = "/metrics"
)

// DeepChecker runs (or joins, or reads the cache of) the deep probe.
type DeepChecker interface {
	Check(ctx context.Context) (probes.Outcome, error)
}

// ShallowChecker runs the cheap check.
type ShallowChecker interface {
	Check(ctx context.Context) []probes.StageResult
}

// Defaults of Config.
const (
	DefaultMaxWait        = 10 * time.Second
	DefaultShallowTimeout = 2 * time.Second
	// MaxTimeout is the largest ?timeout a caller may ask for.
	MaxTimeout = 5 * time.Minute
	// MaxHeaderBytes bounds a request's header.
	MaxHeaderBytes = 8 << 10
	// DefaultMaxConnections bounds the connections served at once.
	DefaultMaxConnections = 1024
)

// Config configures a Server. Zero values mean the defaults.
type Config struct {
	// Deep and Shallow are required.
	Deep    DeepChecker
	Shallow ShallowChecker
	// Registry serves /metrics and receives the HTTP metrics; nil means a new one.
	Registry *prometheus.Registry
	// Logger receives a line per request; nil discards.
	Logger *slog.Logger
	// MaxWait is how long /healthz waits for a result when the caller gives no ?timeout
	// (default 10s; set it above the workload's longest run).
	MaxWait time.Duration
	// ShallowTimeout bounds /livez when the caller gives no ?timeout (default 2s).
	ShallowTimeout time.Duration
	// AuthToken, when set, is required as "Authorization: Bearer <token>" on the deep
	// endpoints, and on /livez and /metrics unless AuthExemptShallow.
	AuthToken         string
	AuthExemptShallow bool
	// AuthExemptStatus leaves the read-only pages (the status page and /history) open when
	// AuthToken is set: they never start a workload nor call the worker, so that a browser
	// (which cannot send a bearer token) can read them, for example behind a port-forward.
	AuthExemptStatus bool
	// MaxConnections bounds the connections served at once (default 1024), shared out fairly:
	// the last eighth go only to addresses that hold none, so one client address holds at
	// most seven eighths, idle connections make room for new ones, and the rest wait up to PendingTimeout
	// (see connLimiter).
	MaxConnections int
	// Instance names the worker on the status page.
	Instance string
	// History, Janitor and Settings feed the status page and /history; nil History shows no
	// workloads, nil Janitor says it is off.
	History  HistoryReader
	Janitor  JanitorReader
	Settings []Setting
	// Latest, when set, gives the status page the verdict as /healthz would read it now
	// (Prober.Latest); otherwise it shows the newest entry of History.
	Latest func() (probes.Outcome, bool)
	// Alive, when set, says whether deepprobe's background parts run, for /ping (nil: alive
	// while the server serves). It must be quick and must not call the worker.
	Alive func() error
	// OnRequest says workloads run only when /healthz is asked (no background interval): the
	// status page then says that it never starts one itself.
	OnRequest bool
	// StaleAfter, when set, is the age past which the status page marks the last result old.
	StaleAfter time.Duration
	// Fleet, when set, is asked before a deep failure becomes a 503 (see holdFleetWide).
	Fleet FleetBudget
}

// Server serves deepprobe's endpoints.
type Server struct {
	cfg     Config
	echo    *echo.Echo
	http    *http.Server
	ln      net.Listener
	metrics *httpMetrics

	lastEncoded atomic.Pointer[encoded]
	clock       func() time.Time // the connection limiter's clock; nil is time.Now (tests set it)
}

// New returns a Server, or an error naming what is wrong with cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Deep == nil || cfg.Shallow == nil {
		return nil, errors.New("server: Deep and Shallow checkers are required")
	}
	if cfg.MaxWait < 0 || cfg.ShallowTimeout < 0 || cfg.MaxConnections < 0 {
		return nil, errors.New("server: timeouts and the connection bound must not be negative")
	}
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	if cfg.ShallowTimeout == 0 {
		cfg.ShallowTimeout = DefaultShallowTimeout
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newHTTPMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, metrics: m}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	// Client addresses come from the socket: a header such as X-Forwarded-For is anyone's to set.
	e.IPExtractor = echo.ExtractIPDirect()
	e.HTTPErrorHandler = s.handleError
	e.Use(s.observe)
	deep := []echo.MiddlewareFunc{s.requireToken}
	shallow := deep
	if cfg.AuthExemptShallow {
		shallow = nil
	}
	both := []string{http.MethodGet, http.MethodHead}
	e.Match(both, PathHealthz, s.healthz, deep...)
	e.Match(both, PathReadyz, s.healthz, deep...)
	e.Match(both, PathLivez, s.livez, shallow...)
	e.Match(both, PathPing, s.ping) // never behind the token: see ping
	e.Match(both, PathMetrics, echo.WrapHandler(promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{})), shallow...)
	pages := deep
	if cfg.AuthExemptStatus {
		pages = nil
	}
	e.Match(both, PathStatus, s.status, pages...)
	e.Match(both, PathHistory, s.history, pages...)
	s.echo = e
	s.http = &http.Server{
		Handler:           e,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		// The longest answer is a caller's ?timeout; nothing legitimate writes for longer.
		WriteTimeout: MaxTimeout + 10*time.Second,
		// A health check sends a short request line and a token; 8 KiB is plenty.
		MaxHeaderBytes: MaxHeaderBytes,
		// Probes come every few seconds at most; an idle connection is not kept longer.
		IdleTimeout: IdleTimeout,
		ErrorLog:    slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Handler returns the HTTP handler, for tests that bring their own listener.
func (s *Server) Handler() http.Handler { return s.echo }

// Listen binds addr, so that a bad address is an error before anything runs, and starts
// accepting connections for Serve; Shutdown stops it.
func (s *Server) Listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	l := newConnLimiter(ln, s.cfg.MaxConnections, s.clock)
	s.http.ConnState = l.connState
	s.ln = l
	return nil
}

// Addr returns the bound address; Listen must have succeeded.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves on the bound listener until Shutdown; it then returns nil.
func (s *Server) Serve() error {
	if s.ln == nil {
		return errors.New("server: Serve called before Listen")
	}
	if err := s.http.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting connections and waits for requests in progress, up to ctx; then it
// closes whatever is left (a half-sent request, a slow reader), so that it never takes longer.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if err != nil {
		_ = s.http.Close()
	}
	if s.ln != nil { // closed by Shutdown when Serve ran; stopped here when it never did
		_ = s.ln.Close()
	}
	return err
}

// query holds the validated query parameters.
type query struct {
	timeout time.Duration
	verbose bool
}

// parseRawQuery parses and validates the raw query string: a malformed one (`?%zz`,
// `?timeout=2s;verbose`) is an error naming the problem, never silently dropped with the
// caller's timeout in it.
func parseRawQuery(raw string, defaultTimeout time.Duration) (query, error) {
	values, err := url.ParseQuery(raw)
	if err != nil {
		return query{}, fmt.Errorf("malformed query string %q: %w", raw, err)
	}
	return parseQuery(values, defaultTimeout)
}

// parseQuery validates the query string; unknown parameters are errors, so that a typo
// (?timout=2s) is not silently ignored.
func parseQuery(values url.Values, defaultTimeout time.Duration) (query, error) {
	q := query{timeout: defaultTimeout}
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		vs := values[k]
		if len(vs) > 1 {
			return q, fmt.Errorf("query parameter %q given %d times", k, len(vs))
		}
		v := vs[0]
		switch k {
		case "timeout":
			d, err := parseTimeout(v)
			if err != nil {
				return q, fmt.Errorf("query parameter \"timeout\": %w", err)
			}
			q.timeout = d
		case "verbose":
			switch strings.ToLower(v) {
			case "", "1", "true":
				q.verbose = true
			case "0", "false":
			default:
				return q, fmt.Errorf("query parameter \"verbose\": want no value, true or false, got %q", v)
			}
		default:
			return q, fmt.Errorf("unknown query parameter %q (known: timeout, verbose)", k)
		}
	}
	return q, nil
}

// parseTimeout reads a Go duration ("2s", "1500ms") or a number of seconds ("2", "1.5").
func parseTimeout(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		f, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil {
			return 0, fmt.Errorf("want a duration such as 2s or 1500ms, got %q", v)
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d <= 0 || d > MaxTimeout {
		return 0, fmt.Errorf("must be above 0 and at most %s, got %q", MaxTimeout, v)
	}
	return d, nil
}

func (s *Server) healthz(c echo.Context) error {
	q, err := parseRawQuery(c.Request().URL.RawQuery, s.cfg.MaxWait)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), q.timeout)
	defer cancel()
	start := time.Now()
	o, err := s.cfg.Deep.Check(ctx)
	var h Health
	switch {
	case err != nil: // no outcome: the caller's deadline came with none it may be given, or shutdown
		h = Health{Status: "fail", Check: "deep", Error: err.Error(), DurationMS: ms(time.Since(start)), Stages: []Stage{}}
		h.Garden.ResponseError, h.Baggageclaim.ResponseError = h.Error, h.Error
		var te *probes.TimeoutError
		if errors.As(err, &te) {
			h.InFlight = inFlight(te.InFlight)
			if te.PastLimit {
				h.FailedStage, h.Reason = te.InFlight.Stage, string(probes.ReasonTimeout)
			}
		}
	case q.verbose || o.InFlight != nil || (s.cfg.Fleet != nil && o.Verdict() == "fail"):
		h = deepHealth(o)
	default:
		return s.respondJSON(c, httpStatus(o.Verdict()), s.encodeDeep(o))
	}
	s.holdFleetWide(ctx, &h)
	return s.respond(c, q, strings.TrimPrefix(c.Path(), "/"), h)
}

// encoded is the JSON of one outcome without its per-answer fields.
type encoded struct {
	handle      string
	completedAt time.Time
	stale       bool
	prefix      []byte // the JSON object up to, not including, "age_ms"
}

// encodeDeep returns the JSON body for o. Everything but age_ms and cached is fixed for an
// outcome, so it is encoded once and reused by every answer served from the same cache entry:
// profiling showed JSON encoding as a quarter of a cached answer's CPU.
func (s *Server) encodeDeep(o probes.Outcome) []byte {
	e := s.lastEncoded.Load()
	if e == nil || e.handle != o.Result.Handle || !e.completedAt.Equal(o.CompletedAt) || e.stale != o.Stale {
		h := deepHealth(o)
		h.AgeMS, h.Cached = 0, false
		b, err := json.Marshal(h)
		if err != nil {
			panic(err) // Health holds only strings, numbers, bools and a time
		}
		i := bytes.LastIndex(b, []byte(`"age_ms":`))
		e = &encoded{handle: o.Result.Handle, completedAt: o.CompletedAt, stale: o.Stale, prefix: b[:i]}
		s.lastEncoded.Store(e)
	}
	out := make([]byte, 0, len(e.prefix)+48)
	out = append(out, e.prefix...)
	out = append(out, `"age_ms":`...)
	out = strconv.AppendFloat(out, ms(o.Age), 'f', -1, 64)
	out = append(out, `,"cached":`...)
	out = strconv.AppendBool(out, o.Cached)
	return append(out, "}\n"...)
}

// httpStatus is the HTTP status for a health status: 503 for "fail", 200 otherwise ("warn"
// passes: the failure threshold is not reached).
func httpStatus(status string) int {
	if status == "fail" {
		return http.StatusServiceUnavailable
	}
	return http.StatusOK
}

func (s *Server) respondJSON(c echo.Context, status int, body []byte) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(status, echo.MIMEApplicationJSON, body)
}

func (s *Server) livez(c echo.Context) error {
	q, err := parseRawQuery(c.Request().URL.RawQuery, s.cfg.ShallowTimeout)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), q.timeout)
	defer cancel()
	start := time.Now()
	rs := s.cfg.Shallow.Check(ctx)
	return s.respond(c, q, "livez", shallowHealth(rs, time.Since(start)))
}

// respond writes h: 200 unless it failed, JSON or ?verbose text.
func (s *Server) respond(c echo.Context, q query, name string, h Health) error {
	status := httpStatus(h.Status)
	if q.verbose {
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.String(status, h.Text(name))
	}
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return s.respondJSON(c, status, append(b, '\n'))
}

// requireToken checks the bearer token when one is configured.
func (s *Server) requireToken(next echo.HandlerFunc) echo.HandlerFunc {
	if s.cfg.AuthToken == "" {
		return next
	}
	want := []byte(s.cfg.AuthToken)
	return func(c echo.Context) error {
		// The scheme is case-insensitive (RFC 7235); the token is compared in constant time.
		scheme, got, _ := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(strings.TrimLeft(got, " ")), want) != 1 {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="deepprobe"`)
			return echo.NewHTTPError(http.StatusUnauthorized, "missing or wrong bearer token")
		}
		return next(c)
	}
}

// handleError answers every error as JSON {"error": "..."} with its status.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, msg := http.StatusInternalServerError, "internal error"
	var he *echo.HTTPError
	if errors.As(err, &he) {
		status = he.Code
		msg = fmt.Sprint(he.Message)
		if status == http.StatusNotFound {
			msg = fmt.Sprintf("no such endpoint %s (have %s)", c.Request().URL.Path,
				strings.Join(knownRoutes, ", "))
		}
	} else {
		s.cfg.Logger.Error("handler failed", "path", c.Request().URL.Path, "error", err)
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, map[string]string{"error": msg})
}

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

var knownRoutes = []string{PathHealthz, PathReadyz, PathLivez, PathMetrics, PathStatus, PathHistory, PathPing}

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

// observe logs and counts every request.
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
