package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config.
const (
	// DefaultSelector names the fleet: every deepprobe Prometheus scrapes under job "deepprobe".
	DefaultSelector = `{job="deepprobe"}`
	// DefaultTimeout bounds one query (and never goes past the caller's deadline).
	DefaultTimeout = time.Second
	// DefaultCacheFor is how long one answer (or one failure to get one) serves later callers.
	DefaultCacheFor = 5 * time.Second
)

// Config configures a Budget. Zero values mean the defaults.
type Config struct {
	// PrometheusURL is Prometheus' base URL (http://prometheus:9090, or with a path prefix);
	// required when MaxUnhealthy is set.
	PrometheusURL string
	// MaxUnhealthy is the budget: the share of the fleet (above 0, at most 1) that may fail at
	// once before a failure is held; 0 turns the budget off.
	MaxUnhealthy float64
	// Selector is the label matchers naming the fleet, in braces (default DefaultSelector).
	Selector string
	// Timeout bounds one query (default DefaultTimeout); CacheFor is how long its answer, or
	// its error, is reused (default DefaultCacheFor).
	Timeout  time.Duration
	CacheFor time.Duration
	// Logger receives a line when Prometheus stops answering and when it answers again, and
	// when a hold starts and ends; nil discards.
	Logger *slog.Logger
	// Registerer receives the budget's metrics, which exist even with the budget off; nil
	// registers nothing.
	Registerer prometheus.Registerer
	// Client replaces the HTTP client in tests; it must not follow redirects.
	Client *http.Client
	// Now replaces the clock in tests.
	Now func() time.Time
}

// SettingError is a Config value the budget cannot run with; Setting names it as the CLI's
// flag does without its dashes ("fleet-prometheus-url").
type SettingError struct {
	Setting string
	Err     error
}

// Error implements error.
func (e *SettingError) Error() string { return e.Setting + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *SettingError) Unwrap() error { return e.Err }

// Settings, named as deepprobe serve's flags.
const (
	SettingPrometheusURL = "fleet-prometheus-url"
	SettingMaxUnhealthy  = "fleet-max-unhealthy"
	SettingSelector      = "fleet-selector"
)

// Hold says why a deep failure is answered as a warning: the share of the fleet failing is
// above the budget.
type Hold struct {
	Count  Count
	Budget float64
}

// String says it in a sentence.
func (h Hold) String() string {
	return fmt.Sprintf("%s of the fleet (%d of %d workers) fails its deep check, above the budget of %s: not restarting this worker for a fleet-wide failure",
		FormatShare(h.Count.Share()), h.Count.Failing, h.Count.Total, FormatShare(h.Budget))
}

// answer is one query's outcome, kept for CacheFor.
type answer struct {
	count Count
	err   error
	at    time.Time
}

// Budget decides whether a deep failure is fleet-wide. It is safe for concurrent use.
type Budget struct {
	cfg      Config
	client   *http.Client
	endpoint string
	metrics  *metrics

	mu       sync.Mutex
	last     *answer
	inflight chan struct{} // closed when the query in flight has stored its answer
	erring   bool          // the last query failed (one log line per streak)
	holding  bool          // the last judged failure was held (one log line per streak)
}

// New returns a Budget, or a *SettingError naming what is wrong with cfg. With MaxUnhealthy
// 0 it never holds, and still registers its metrics.
func New(cfg Config) (*Budget, error) {
	if cfg.Selector == "" {
		cfg.Selector = DefaultSelector
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.CacheFor <= 0 {
		cfg.CacheFor = DefaultCacheFor
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	b := &Budget{cfg: cfg, client: cfg.Client}
	switch {
	case cfg.MaxUnhealthy < 0 || cfg.MaxUnhealthy > 1:
		return nil, &SettingError{SettingMaxUnhealthy, fmt.Errorf("must be above 0%% and at most 100%%, got %s", FormatShare(cfg.MaxUnhealthy))}
	case !strings.HasPrefix(cfg.Selector, "{") || !strings.HasSuffix(cfg.Selector, "}") || strings.ContainsAny(cfg.Selector, "\n\r"):
		return nil, &SettingError{SettingSelector, fmt.Errorf("must be label matchers in braces, such as %s, got %q", DefaultSelector, cfg.Selector)}
	case cfg.MaxUnhealthy > 0 && cfg.PrometheusURL == "":
		return nil, &SettingError{SettingMaxUnhealthy, fmt.Errorf("needs --%s", SettingPrometheusURL)}
	}
	if cfg.PrometheusURL != "" {
		u, err := url.Parse(cfg.PrometheusURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, &SettingError{SettingPrometheusURL, fmt.Errorf("must be an http(s) base URL with a host and no query, got %q", redact(cfg.PrometheusURL))}
		}
		b.endpoint = u.JoinPath("api", "v1", "query").String()
	}
	if b.client == nil {
		b.client = &http.Client{
			// One query every CacheFor at most: a connection each is cheap, and none idles.
			Transport:     &http.Transport{Proxy: http.ProxyFromEnvironment, DisableKeepAlives: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	var err error
	if b.metrics, err = newMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	return b, nil
}

// Enabled reports whether the budget can hold anything.
func (b *Budget) Enabled() bool { return b.cfg.MaxUnhealthy > 0 && b.endpoint != "" }

// Hold is asked before a deep failure becomes a 503: it reports whether the failing share of
// the fleet is above the budget, and by how much. It reuses an answer younger than CacheFor,
// joins a query in flight, or sends one, bounded by Timeout and never past ctx's deadline; with
// ctx already done it reads only the cache. When Prometheus cannot answer (unreachable, an
// error, garbage), it holds nothing: deepprobe then behaves as without a budget.
func (b *Budget) Hold(ctx context.Context) (Hold, bool) {
	if !b.Enabled() {
		return Hold{}, false
	}
	a, ok := b.answer(ctx)
	held := ok && a.err == nil && a.count.Share() > b.cfg.MaxUnhealthy
	b.mu.Lock()
	started, ended := held && !b.holding, !held && b.holding
	b.holding = held
	b.mu.Unlock()
	h := Hold{Count: a.count, Budget: b.cfg.MaxUnhealthy}
	switch {
	case started:
		b.cfg.Logger.Warn("fleet-wide failure: deep failures are answered 200 warn (fleet_wide) while the fleet is above its budget",
			"failing", a.count.Failing, "total", a.count.Total, "share", FormatShare(a.count.Share()), "budget", FormatShare(b.cfg.MaxUnhealthy))
	case ended && ok && a.err == nil:
		b.cfg.Logger.Info("fleet-wide hold ended: the fleet is within its budget; deep failures are answered 503 again",
			"failing", a.count.Failing, "total", a.count.Total, "budget", FormatShare(b.cfg.MaxUnhealthy))
	case ended:
		b.cfg.Logger.Info("fleet-wide hold ended: no fleet share to judge by; deep failures are answered 503 again")
	}
	if held {
		b.metrics.holds.Inc()
	}
	return h, held
}

// answer returns the cached answer, or the one a query gets (this caller's, or the one in
// flight that it joins); false when ctx ends first.
func (b *Budget) answer(ctx context.Context) (answer, bool) {
	for {
		b.mu.Lock()
		if a := b.last; a != nil && b.cfg.Now().Sub(a.at) < b.cfg.CacheFor {
			b.mu.Unlock()
			return *a, true
		}
		if ctx.Err() != nil {
			b.mu.Unlock()
			return answer{}, false
		}
		wait := b.inflight
		if wait == nil { // this caller queries; others wait for it
			done := make(chan struct{})
			b.inflight = done
			b.mu.Unlock()
			a, ok := b.query(ctx)
			b.mu.Lock()
			if ok {
				b.last = &a
			}
			b.inflight = nil
			close(done)
			b.mu.Unlock()
			return a, ok
		}
		b.mu.Unlock()
		select {
		case <-wait: // its answer is cached now, unless its caller left first: look again
		case <-ctx.Done():
			return answer{}, false
		}
	}
}

// query asks Prometheus once, within Timeout and ctx. It returns false, caching nothing and
// counting nothing, when the caller's own deadline (not the query's) cut it short: that says
// nothing about Prometheus.
func (b *Budget) query(ctx context.Context) (answer, bool) {
	qctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	c, err := ask(qctx, b.client, b.endpoint, b.cfg.Selector)
	if err != nil && ctx.Err() != nil {
		return answer{}, false
	}
	a := answer{count: c, err: err, at: b.cfg.Now()}
	b.mu.Lock()
	started, ended := err != nil && !b.erring, err == nil && b.erring
	b.erring = err != nil
	b.mu.Unlock()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s: %w", b.cfg.Timeout, err)
			a.err = err
		}
		b.metrics.errors.Inc()
	}
	switch {
	case started:
		b.cfg.Logger.Warn("fleet budget not applied: Prometheus gives no fleet share, so deep failures answer 503 as without a budget (logged once until it answers)",
			"prometheus", redact(b.cfg.PrometheusURL), "error", err)
	case ended:
		b.cfg.Logger.Info("fleet budget applies again: Prometheus answers", "prometheus", redact(b.cfg.PrometheusURL),
			"failing", c.Failing, "total", c.Total)
	}
	return a, true
}

// redact hides a password in a URL before it is logged or shown.
func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}

// metrics are the budget's own: bounded, no labels.
type metrics struct {
	errors prometheus.Counter
	holds  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "deepprobe_fleet_query_errors_total",
			Help: "Queries to Prometheus for the fleet's failing share that got no usable answer (the budget was not applied).",
		}),
		holds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "deepprobe_fleet_holds_total",
			Help: "Deep failures answered 200 warn (fleet_wide) because the fleet's failing share was above --fleet-max-unhealthy.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.errors, m.holds} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering fleet metrics: %w", err)
		}
	}
	return m, nil
}
