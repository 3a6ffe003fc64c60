package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/deepprobe/deepprobe/probes"
)

// Deep is the deep probe as the server sees it (probes.Prober).
type Deep interface {
	// Check runs, joins or reads the cache of the deep probe, within ctx's deadline.
	Check(ctx context.Context) (probes.Outcome, error)
	// Latest returns the latest finished workload's outcome as /healthz would read it now,
	// without starting one; false when none has finished.
	Latest() (probes.Outcome, bool)
}

// Shallow is the cheap check (probes.Shallow).
type Shallow interface {
	// Check returns the results of a shallow round (Garden first), within ctx's deadline.
	Check(ctx context.Context) []probes.StageResult
}

var (
	_ Deep    = (*probes.Prober)(nil)
	_ Shallow = (*probes.Shallow)(nil)
)

// Config configures a Server. Zero values mean the defaults, except where a field says it is
// required.
type Config struct {
	// Deep and Shallow are required.
	Deep    Deep
	Shallow Shallow
	// MaxWait (required) is how long /healthz waits for a result when the caller gives no
	// ?timeout: the resolved probes.Timing.MaxWait, whose default and rules are the probes
	// package's.
	MaxWait time.Duration
	// ShallowTimeout (required) bounds /livez when the caller gives no ?timeout: the shallow
	// check's resolved timeout (probes.ShallowConfig.Timeout, default probes.DefaultShallowTimeout).
	ShallowTimeout time.Duration
	// Registry serves /metrics and receives the HTTP metrics; nil means a new one.
	Registry *prometheus.Registry
	// Logger receives a line per request; nil discards.
	Logger *slog.Logger
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
	// most seven eighths, idle connections make room for new ones, and the rest wait up to
	// PendingTimeout (see connLimiter).
	MaxConnections int
	// Instance names the worker on the status page.
	Instance string
	// History, Janitor and Settings feed the status page and /history; nil History shows no
	// workloads, nil Janitor says it is off.
	History  HistoryReader
	Janitor  JanitorReader
	Settings []Setting
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

	lastEncoded atomic.Pointer[encoded] // see encodeDeep
	clock       func() time.Time        // the connection limiter's clock; nil is time.Now (tests set it)
}

// New returns a Server, or an error naming what is wrong with cfg.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Deep == nil || cfg.Shallow == nil:
		return nil, errors.New("server: Deep and Shallow checkers are required")
	case cfg.MaxWait <= 0 || cfg.ShallowTimeout <= 0:
		return nil, errors.New("server: MaxWait and ShallowTimeout are required (the resolved probes.Timing.MaxWait and shallow timeout)")
	case cfg.MaxConnections < 0:
		return nil, errors.New("server: the connection bound must not be negative")
	}
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = DefaultMaxConnections
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
	s.routes(e)
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
