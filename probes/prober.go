package probes

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrTimeout is returned by Prober.Check when the caller's context ends before a result is
// ready; the workload goes on and its result is cached for the next caller. The error returned
// is a *TimeoutError when the Prober knows which stage was running.
var ErrTimeout = errors.New("timed out waiting for probe")

// TimeoutError is ErrTimeout with the stage the workload was in when the caller gave up.
type TimeoutError struct {
	Stage   string
	Elapsed time.Duration // time spent in Stage so far
}

// Error implements error.
func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%v (%s running for %s)", ErrTimeout, e.Stage, e.Elapsed.Round(time.Millisecond))
}

// Is makes errors.Is(err, ErrTimeout) hold.
func (e *TimeoutError) Is(target error) bool { return target == ErrTimeout }

// ErrClosed is returned by Prober.Check once the Prober is shutting down and has no result.
var ErrClosed = errors.New("prober is shutting down")

// Defaults of ProberConfig.
const (
	DefaultMinInterval      = 5 * time.Second
	DefaultFailureThreshold = 1
)

// ProberConfig configures a Prober. Zero values mean the defaults.
type ProberConfig struct {
	// Run runs one workload; required. It is never called twice at once.
	Run func(ctx context.Context) Result
	// Running, when set, names the stage of the workload under way, for callers that time out.
	Running func() (stage string, elapsed time.Duration, ok bool)
	// MinInterval is how long a completed result is served before a new workload may start
	// (default 5s).
	MinInterval time.Duration
	// Interval, when set, runs the workload in the background every Interval (see Prober.Run);
	// callers then never start one, they read the latest result.
	Interval time.Duration
	// MaxAge is how old the latest background result may be before it is served as stale, a
	// failure (default 3 * Interval + LongestRun).
	MaxAge time.Duration
	// LongestRun is the most one Run can take (Workload.MaxDuration; default that of a
	// workload with default timeouts).
	LongestRun time.Duration
	// FailureThreshold is how many consecutive failed workloads make the worker unhealthy
	// (default 1).
	FailureThreshold int
	// Registerer receives the workload metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Now replaces the clock in tests.
	Now func() time.Time
}

// Outcome is what a caller gets: the latest result and how to read it.
type Outcome struct {
	Result Result
	// CompletedAt is when the workload ended; Age is how long ago that was.
	CompletedAt time.Time
	Age         time.Duration
	// Cached is true when the result was already there before this call.
	Cached bool
	// Stale is true when, in background mode, the result is older than MaxAge.
	Stale bool
	// ConsecutiveFailures counts failed workloads in a row up to and including this one.
	ConsecutiveFailures int
	// Healthy is the verdict: fresh, and fewer consecutive failures than the threshold.
	Healthy bool
}

// State is "pass" when the last workload passed, "warn" when it failed but the failure
// threshold is not reached, "fail" otherwise (including stale).
func (o Outcome) State() string {
	switch {
	case !o.Healthy:
		return "fail"
	case o.Result.Passed():
		return "pass"
	default:
		return "warn"
	}
}

type flight struct {
	done    chan struct{}
	outcome Outcome
}

// Prober lets any number of callers share one workload: concurrent callers join the one in
// flight, and a finished result is reused for MinInterval. At most one workload ever runs.
type Prober struct {
	cfg     ProberConfig
	metrics *proberMetrics
	wg      sync.WaitGroup // the workload goroutine

	mu                  sync.Mutex
	closing             bool
	inflight            *flight
	cancelInflight      context.CancelFunc // cancels the workload in flight (Shutdown only)
	last                *Outcome
	consecutiveFailures int
}

// NewProber returns a Prober, or an error naming what is wrong with cfg.
func NewProber(cfg ProberConfig) (*Prober, error) {
	if cfg.Run == nil {
		return nil, errors.New("probes: ProberConfig.Run is required")
	}
	switch {
	case cfg.MinInterval < 0:
		return nil, fmt.Errorf("min interval must not be negative, got %s", cfg.MinInterval)
	case cfg.Interval < 0:
		return nil, fmt.Errorf("interval must not be negative, got %s", cfg.Interval)
	case cfg.MaxAge < 0 || cfg.LongestRun < 0:
		return nil, fmt.Errorf("max age and longest run must not be negative, got %s and %s", cfg.MaxAge, cfg.LongestRun)
	case cfg.FailureThreshold < 0:
		return nil, fmt.Errorf("failure threshold must be at least 1, got %d", cfg.FailureThreshold)
	case cfg.MaxAge != 0 && cfg.Interval != 0 && cfg.MaxAge <= cfg.Interval:
		return nil, fmt.Errorf("max age (%s) must exceed the interval (%s), or every result would be stale before the next", cfg.MaxAge, cfg.Interval)
	}
	if cfg.MinInterval == 0 {
		cfg.MinInterval = DefaultMinInterval
	}
	if cfg.FailureThreshold == 0 {
		cfg.FailureThreshold = DefaultFailureThreshold
	}
	if cfg.LongestRun == 0 {
		cfg.LongestRun = DefaultTimeout + 2*DefaultCleanupTimeout
	}
	if cfg.MaxAge == 0 && cfg.Interval > 0 {
		// Three missed ticks, plus a run in progress.
		cfg.MaxAge = 3*cfg.Interval + cfg.LongestRun
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m, err := newProberMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Prober{cfg: cfg, metrics: m}, nil
}

// Check returns the outcome of the current workload, starting one unless a fresh result is
// cached (or, in background mode, unless any result exists). It returns ErrTimeout when ctx
// ends first.
func (p *Prober) Check(ctx context.Context) (Outcome, error) {
	p.mu.Lock()
	if o, ok := p.servableLocked(); ok {
		p.mu.Unlock()
		p.metrics.cached.Inc()
		return o, nil
	}
	f := p.inflight
	if f == nil {
		if p.closing {
			p.mu.Unlock()
			return Outcome{}, ErrClosed
		}
		f = p.startLocked(ctx)
	} else {
		p.metrics.coalesced.Inc()
	}
	p.mu.Unlock()

	select {
	case <-f.done:
		return f.outcome, nil
	case <-ctx.Done():
		if p.cfg.Running != nil {
			if stage, elapsed, ok := p.cfg.Running(); ok {
				return Outcome{}, &TimeoutError{Stage: stage, Elapsed: elapsed}
			}
		}
		return Outcome{}, ErrTimeout
	}
}

// servableLocked returns the cached outcome if the caller should get it without waiting.
func (p *Prober) servableLocked() (Outcome, bool) {
	if p.last == nil {
		return Outcome{}, false
	}
	o := *p.last
	o.Cached = true
	o.Age = p.cfg.Now().Sub(o.CompletedAt)
	if p.cfg.Interval > 0 {
		if o.Age > p.cfg.MaxAge {
			o.Stale, o.Healthy = true, false
		}
		return o, true
	}
	if o.Age < p.cfg.MinInterval || p.closing {
		return o, true
	}
	return Outcome{}, false
}

// startLocked starts a workload; p.mu must be held and no workload in flight. The workload
// keeps ctx's values but not its cancellation: a caller that gives up must not cut short a
// workload other callers share; only Shutdown cancels it.
func (p *Prober) startLocked(ctx context.Context) *flight {
	f := &flight{done: make(chan struct{})}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.inflight, p.cancelInflight = f, cancel
	p.metrics.inFlight.Set(1)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer cancel()
		res := p.cfg.Run(wctx)
		p.finish(f, res)
	}()
	return f
}

func (p *Prober) finish(f *flight, res Result) {
	now := p.cfg.Now()
	p.metrics.observe(res, now)

	p.mu.Lock()
	if res.Passed() {
		p.consecutiveFailures = 0
	} else {
		p.consecutiveFailures++
	}
	o := Outcome{
		Result:              res,
		CompletedAt:         now,
		ConsecutiveFailures: p.consecutiveFailures,
		Healthy:             p.consecutiveFailures < p.cfg.FailureThreshold,
	}
	p.last = &o
	p.inflight, p.cancelInflight = nil, nil
	p.metrics.inFlight.Set(0)
	p.metrics.consecutiveFailures.Set(float64(o.ConsecutiveFailures))
	p.mu.Unlock()

	f.outcome = o
	close(f.done)
}

// Trigger starts a workload unless one is in flight or the Prober is shutting down. It is
// what background mode does on every tick.
func (p *Prober) Trigger(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inflight == nil && !p.closing {
		p.startLocked(ctx)
	}
}

// Run drives background mode: a workload at once and then every Interval, until ctx ends.
// Without an Interval it only waits for ctx. It does not wait for the last workload; call
// Shutdown for that.
func (p *Prober) Run(ctx context.Context) error {
	if p.cfg.Interval <= 0 {
		<-ctx.Done()
		return nil
	}
	ticker := time.NewTicker(p.cfg.Interval)
	defer ticker.Stop()
	p.Trigger(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			p.Trigger(ctx)
		}
	}
}

// Shutdown stops new workloads and waits for the one in flight to finish, cleanup included.
// When ctx ends first, the workload is cancelled (its destroys still run under their own short
// deadlines) and Shutdown waits for that. Callers still get the last result meanwhile.
func (p *Prober) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()

	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("workload still running at shutdown, cancelled it: %w", ctx.Err())
		p.mu.Lock()
		if p.cancelInflight != nil {
			p.cancelInflight()
		}
		p.mu.Unlock()
		<-done
	}
	return err
}

// proberMetrics are the workload's Prometheus metrics.
type proberMetrics struct {
	stageDuration       *prometheus.HistogramVec
	duration            prometheus.Histogram
	results             *prometheus.CounterVec
	inFlight            prometheus.Gauge
	coalesced           prometheus.Counter
	cached              prometheus.Counter
	lastSuccess         prometheus.Gauge
	consecutiveFailures prometheus.Gauge
}

func newProberMetrics(reg prometheus.Registerer) (*proberMetrics, error) {
	buckets := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	m := &proberMetrics{
		stageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "deepprobe_workload_stage_duration_seconds", Help: "Duration of each workload stage.", Buckets: buckets,
		}, []string{"stage", "status"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "deepprobe_workload_duration_seconds", Help: "Duration of whole workloads, cleanup included.", Buckets: buckets,
		}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deepprobe_workloads_total", Help: "Workloads run, by result and first failed stage.",
		}, []string{"result", "failed_stage"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "deepprobe_workload_in_flight", Help: "1 while a workload runs.",
		}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "deepprobe_coalesced_requests_total", Help: "Checks that joined a workload already in flight.",
		}),
		cached: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "deepprobe_cached_responses_total", Help: "Checks answered from the cached result.",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "deepprobe_last_success_timestamp_seconds", Help: "Unix time of the last passing workload.",
		}),
		consecutiveFailures: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "deepprobe_consecutive_failures", Help: "Failed workloads in a row.",
		}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.stageDuration, m.duration, m.results, m.inFlight, m.coalesced,
			m.cached, m.lastSuccess, m.consecutiveFailures} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("registering workload metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *proberMetrics) observe(res Result, now time.Time) {
	for _, s := range res.Stages {
		if s.Status != StatusSkip {
			m.stageDuration.WithLabelValues(s.Name, string(s.Status)).Observe(s.Duration.Seconds())
		}
	}
	m.duration.Observe(res.Duration.Seconds())
	if f, failed := res.FirstFailure(); failed {
		m.results.WithLabelValues("fail", f.Name).Inc()
		return
	}
	m.results.WithLabelValues("pass", "").Inc()
	m.lastSuccess.Set(float64(now.UnixNano()) / 1e9)
}
