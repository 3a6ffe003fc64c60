package probes

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrTimeout is matched by the error Prober.Check returns when the caller's context ends
// before a result it may be given is ready; the workload goes on and its result is cached for
// the next caller. The error is a *TimeoutError.
var ErrTimeout = errors.New("timed out waiting for probe")

// TimeoutError is why a caller whose deadline came got no result: none yet, none fresh enough,
// or the workload in flight has run past its own limit (that is then the failure).
type TimeoutError struct {
	// InFlight is the workload under way, when there is one.
	InFlight *Progress
	// PastLimit is true when that workload's stage has run past its own limit.
	PastLimit bool
	// Why says what the caller lacked ("no result yet", "no result younger than 42s").
	Why string
}

// Error implements error.
func (e *TimeoutError) Error() string {
	switch {
	case e.PastLimit:
		return fmt.Sprintf("%s has run past its limit of %s (running for %s)", e.InFlight.Stage, e.InFlight.Limit, e.InFlight.Elapsed.Round(time.Millisecond))
	case e.InFlight != nil:
		return fmt.Sprintf("%s: %s running for %s", e.Why, e.InFlight.Stage, e.InFlight.Elapsed.Round(time.Millisecond))
	default:
		return e.Why
	}
}

// Is makes errors.Is(err, ErrTimeout) hold.
func (e *TimeoutError) Is(target error) bool { return target == ErrTimeout }

// ErrClosed is returned by Prober.Check once the Prober is shutting down and has no result.
var ErrClosed = errors.New("prober is shutting down")

// Saturation says what a worker at its container limit is: full, not broken ("warn", 200,
// the default), or a failure like any other ("fail").
type Saturation string

// Saturation verdicts.
const (
	SaturationWarn Saturation = "warn"
	SaturationFail Saturation = "fail"
)

// Validate refuses a verdict other than warn and fail.
func (s Saturation) Validate() error {
	if s != SaturationWarn && s != SaturationFail {
		return fmt.Errorf("must be %s or %s, got %q", SaturationWarn, SaturationFail, string(s))
	}
	return nil
}

// DefaultFailureThreshold is the default of ProberConfig.FailureThreshold.
const DefaultFailureThreshold = 1

// ProberConfig configures a Prober. Zero values mean the defaults.
type ProberConfig struct {
	// Run runs one workload; required. It is never called twice at once.
	Run func(ctx context.Context) Result
	// Running, when set, says what the workload under way is doing, for callers whose
	// deadline comes first.
	Running func() (Progress, bool)
	// Timing holds MinInterval, Interval, MaxAge, Freshness and MaxTimeInError (see Timing).
	Timing Timing
	// FailureThreshold is how many consecutive failed workloads make the worker unhealthy
	// (default 1).
	FailureThreshold int
	// OnSaturation is the verdict of a worker at its container limit (default warn).
	OnSaturation Saturation
	// Listeners are called with every finished workload's outcome, in order, from the
	// workload's goroutine, before any caller gets it (logs, metrics and the heartbeat file
	// subscribe here). They must be quick.
	Listeners []func(Outcome)
	// Registerer receives the prober's metrics; nil registers nothing.
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
	// InFlight is the workload under way when this caller's deadline came and it was given
	// this (fresh enough) earlier result instead.
	InFlight *Progress
	// ConsecutiveFailures counts failed workloads in a row up to and including this one;
	// FailingSince is when the first of them ended (zero when the last one passed).
	ConsecutiveFailures int
	FailingSince        time.Time
	// Saturated is true when the worker is full, not broken (at its container limit, or so
	// near it that the container stages were held back for builds), and that is read as a
	// warning (OnSaturation warn).
	Saturated bool
	// Busy is set when this answer was read from a workload still in flight whose stage is
	// slow while the worker shows progress: busy, not broken.
	Busy *Busy
	// Interruptions counts interrupted workloads in a row, this one included (see
	// Result.Interrupted): the first is re-run at once, a second is a warning.
	Interruptions int
	// Healthy is the verdict: fresh, and not failing past the threshold (and the time in
	// error, when set).
	Healthy bool
}

// Verdict is "fail" when the worker is judged unhealthy (stale included); "pass" when the last
// workload passed with nothing to say; "warn" otherwise: a failure below the thresholds, a
// saturated, busy or interrupted worker.
func (o Outcome) Verdict() string {
	switch {
	case !o.Healthy:
		return "fail"
	case o.Busy != nil || o.Saturated || o.Result.Interrupted != "" || o.Result.HeldBack != "" || !o.Result.Passed():
		return "warn"
	default:
		return "pass"
	}
}

// Why returns the reason and the explanation of an outcome that is not a plain pass: the first
// failed stage's, or busy, interrupted or saturated; empty for a pass.
func (o Outcome) Why() (Reason, string) {
	f, failed := o.Result.FirstFailure()
	switch {
	case o.Busy != nil && o.Healthy:
		return ReasonBusy, "busy, not broken: " + o.Busy.String()
	case failed && o.Result.Interrupted != "":
		return ReasonInterrupted, fmt.Sprintf("interrupted %d times in a row (%s), not a failure of the worker: %s failed: %v", o.Interruptions, o.Result.Interrupted, f.Name, f.Err)
	case failed && o.Saturated:
		return f.Reason, fmt.Sprintf("saturated, not broken: %s failed: %v", f.Name, f.Err)
	case failed:
		return f.Reason, fmt.Sprintf("%s failed: %v", f.Name, f.Err)
	case o.Result.HeldBack != "":
		return ReasonSaturated, "saturated, not broken: container stages " + o.Result.HeldBack
	}
	return "", ""
}

// Prober lets any number of callers share one workload: concurrent callers join the one in
// flight, and a finished result is reused for MinInterval. At most one workload ever runs.
type Prober struct {
	cfg     ProberConfig
	metrics *proberMetrics
	crew    crew // the workload goroutine

	mu                  sync.Mutex
	closing             bool
	inflight            *flight[Outcome]
	cancelInflight      context.CancelFunc // cancels the workload in flight (Shutdown only)
	last                *Outcome
	consecutiveFailures int
	failingSince        time.Time
	interruptions       int
}

// NewProber returns a Prober, or an error naming what is wrong with cfg.
func NewProber(cfg ProberConfig) (*Prober, error) {
	if cfg.Run == nil {
		return nil, errors.New("probes: ProberConfig.Run is required")
	}
	t, err := cfg.Timing.Resolve()
	if err != nil {
		return nil, err
	}
	cfg.Timing = t
	if cfg.OnSaturation == "" {
		cfg.OnSaturation = SaturationWarn
	}
	if err := cfg.OnSaturation.Validate(); err != nil {
		return nil, &SettingError{Setting: SettingOnSaturation, Err: err}
	}
	switch {
	case cfg.FailureThreshold < 0:
		return nil, settingErr(SettingFailureThreshold, "must be at least 1, got %d", cfg.FailureThreshold)
	case cfg.FailureThreshold == 0:
		cfg.FailureThreshold = DefaultFailureThreshold
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

// Timing returns the resolved timing the Prober runs with.
func (p *Prober) Timing() Timing { return p.cfg.Timing }

// Check returns the outcome of the current workload, starting one unless a fresh result is
// cached (or, in background mode, unless any result exists). When ctx ends first, the caller
// gets the latest completed result if it is younger than Timing.Freshness (with InFlight
// set), and otherwise a *TimeoutError: a caller's deadline is never itself a verdict.
func (p *Prober) Check(ctx context.Context) (Outcome, error) {
	p.mu.Lock()
	if o, ok := p.servableLocked(); ok {
		running := p.inflight != nil && p.cfg.Timing.Interval > 0
		p.mu.Unlock()
		if running { // background mode: a workload in flight may say more than the last result
			if o, err, handled := p.inFlightView(o, true); handled {
				return o, err
			}
		}
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

	if o, ok := f.wait(ctx); ok {
		return o, nil
	}
	return p.atDeadline()
}

// atDeadline is what a caller whose deadline came while the workload runs gets: what the
// workload in flight already says (a failure, a stage past its hard limit, a busy worker), or
// else the latest result if it is fresh enough.
func (p *Prober) atDeadline() (Outcome, error) {
	te := &TimeoutError{Why: "no result yet"}
	p.mu.Lock()
	o, ok := p.latestLocked()
	p.mu.Unlock()
	if v, err, handled := p.inFlightView(o, ok); handled {
		return v, err
	}
	if prog, running := p.running(); running {
		te.InFlight = &prog
	}
	if ok {
		o.InFlight = te.InFlight
		if o.Age <= p.cfg.Timing.Freshness {
			p.metrics.deadline.WithLabelValues("fresh_result").Inc()
			return o, nil
		}
		te.Why = fmt.Sprintf("no result younger than %s (the latest is %s old)", p.cfg.Timing.Freshness, o.Age.Round(time.Second))
	}
	p.metrics.deadline.WithLabelValues("no_result").Inc()
	return Outcome{}, te
}

// running returns the progress of the workload in flight, if any.
func (p *Prober) running() (Progress, bool) {
	if p.cfg.Running == nil {
		return Progress{}, false
	}
	return p.cfg.Running()
}

// inFlightView reads the workload in flight, given the latest outcome (when ok): it already
// failed a stage (that failure, judged as if it had ended now), or its stage is past its hard
// limit, or its stage is slow while the worker shows progress (busy: 200, unless the latest
// workload failed for another reason than time, which stands). handled is false when the
// workload in flight says nothing yet.
func (p *Prober) inFlightView(latest Outcome, ok bool) (Outcome, error, bool) {
	prog, running := p.running()
	if !running {
		return Outcome{}, nil, false
	}
	now := time.Now() // contexts and the watch run on the real clock
	switch {
	case prog.Failed != nil:
		p.metrics.deadline.WithLabelValues("failed_in_flight").Inc()
		return p.failedInFlight(prog), nil, true
	case !prog.Deadline.IsZero() && now.After(prog.Deadline):
		p.metrics.deadline.WithLabelValues("past_limit").Inc()
		return Outcome{}, &TimeoutError{InFlight: &prog, PastLimit: true}, true
	case !p.progressing(prog, now):
		return Outcome{}, nil, false
	}
	p.metrics.deadline.WithLabelValues("busy").Inc()
	if failureStands(latest, ok) {
		latest.InFlight, latest.Busy = &prog, prog.Busy
		return latest, nil, true
	}
	p.mu.Lock()
	o := Outcome{
		Result:              prog.Partial,
		ConsecutiveFailures: p.consecutiveFailures,
		FailingSince:        p.failingSince,
		Busy:                prog.Busy,
		InFlight:            &prog,
		Healthy:             true,
	}
	p.mu.Unlock()
	return o, nil, true
}

// failedInFlight is the outcome of a workload in flight that has already failed a stage: that
// failure, judged as if the workload had ended now (nothing is committed).
func (p *Prober) failedInFlight(prog Progress) Outcome {
	p.mu.Lock()
	o := p.judgeLocked(prog.Partial, p.cfg.Now(), false)
	p.mu.Unlock()
	o.InFlight = &prog
	return o
}

// progressing reports whether the workload in flight reads busy at now: a stage slow while the
// worker showed progress within the stall timeout.
func (p *Prober) progressing(prog Progress, now time.Time) bool {
	return prog.Busy != nil && prog.Busy.Progressing(now, p.cfg.Timing.StallTimeout)
}

// failureStands reports whether the latest outcome is a failure that a busy workload in flight
// does not set aside: any but a stall. A stall said the worker did nothing; progress now says
// it works again. A hard timeout stands: a create slower than Concourse's own tolerance fails
// builds too, busy or not.
func failureStands(latest Outcome, ok bool) bool {
	f, failed := latest.Result.FirstFailure()
	return ok && !latest.Healthy && failed && f.Reason != ReasonStalled
}

// Latest returns the latest finished workload's outcome as a caller would read it now (its age,
// and in background mode whether it is stale), without starting a workload nor counting an
// answer. While the workload in flight reads busy (and has failed no stage yet, within its hard
// limit), the outcome carries Busy and InFlight and is healthy, as /healthz answers it, unless
// the latest failure stands.
func (p *Prober) Latest() (Outcome, bool) {
	p.mu.Lock()
	o, ok := p.latestLocked()
	p.mu.Unlock()
	if !ok {
		return o, false
	}
	now := time.Now() // contexts and the watch run on the real clock
	prog, running := p.running()
	if running && prog.Failed != nil { // as /healthz answers it
		return p.failedInFlight(prog), true
	}
	if !running || (!prog.Deadline.IsZero() && now.After(prog.Deadline)) || !p.progressing(prog, now) {
		return o, true
	}
	o.Busy, o.InFlight = prog.Busy, &prog
	if !failureStands(o, true) {
		o.Healthy, o.Stale = true, false
	}
	return o, true
}

// latestLocked is Latest with p.mu held.
func (p *Prober) latestLocked() (Outcome, bool) {
	if p.last == nil {
		return Outcome{}, false
	}
	o := *p.last
	o.Cached, o.Age = true, p.cfg.Now().Sub(o.CompletedAt)
	if p.cfg.Timing.Interval > 0 && o.Age > p.cfg.Timing.MaxAge && !p.liveLocked() {
		o.Stale, o.Healthy = true, false
	}
	return o, true
}

// liveLocked reports whether a workload is in flight within its hard limit: in background mode
// the last result is then not stale, however slow that workload is (what it says is read from
// it); stale means the loop has stopped. p.mu must be held.
func (p *Prober) liveLocked() bool {
	if p.inflight == nil {
		return false
	}
	prog, running := p.running()
	return running && (prog.Deadline.IsZero() || time.Now().Before(prog.Deadline))
}

// servableLocked returns the cached outcome if the caller should get it without waiting: in
// background mode always, otherwise while it is younger than MinInterval (or deepprobe is
// shutting down and will start no workload).
func (p *Prober) servableLocked() (Outcome, bool) {
	o, ok := p.latestLocked()
	if !ok {
		return Outcome{}, false
	}
	if p.cfg.Timing.Interval > 0 || o.Age < p.cfg.Timing.MinInterval || p.closing {
		return o, true
	}
	return Outcome{}, false
}

// startLocked starts a workload; p.mu must be held and no workload in flight. The workload
// keeps ctx's values but not its cancellation: a caller that gives up must not cut short a
// workload other callers share; only Shutdown cancels it.
func (p *Prober) startLocked(ctx context.Context) *flight[Outcome] {
	f := newFlight[Outcome]()
	p.inflight = f
	p.metrics.inFlight.Set(1)
	p.cancelInflight = p.crew.launch(ctx, func(wctx context.Context) {
		res := p.cfg.Run(wctx)
		if res.Interrupted != "" && wctx.Err() == nil {
			// The first interruption in a row is not a verdict: tell the listeners, keep the
			// last outcome, and run again at once.
			p.mu.Lock()
			o := p.judgeLocked(res, p.cfg.Now(), false)
			if o.Interruptions == 1 {
				o = p.judgeLocked(res, o.CompletedAt, true)
			}
			p.mu.Unlock()
			if o.Interruptions == 1 {
				p.notify(o)
				res = p.cfg.Run(wctx)
			}
		}
		p.finish(f, res)
	})
	return f
}

// judgeLocked reads res as if it had ended at now: the failing streak and the interruptions in
// a row it makes, and the verdict. With commit, that state is kept. p.mu must be held.
func (p *Prober) judgeLocked(res Result, now time.Time, commit bool) Outcome {
	streak, since, interruptions := p.consecutiveFailures, p.failingSince, p.interruptions
	saturated := res.Saturated() && p.cfg.OnSaturation == SaturationWarn
	f, _ := res.FirstFailure()
	switch {
	case res.Interrupted != "": // not the worker's failure: the streak neither grows nor ends
		interruptions++
	case f.Reason == ReasonCancelled: // deepprobe shutting down: no verdict on the worker
	case saturated: // full, not broken (or Garden not exercised): the streak neither grows nor ends
		interruptions = 0
	case res.Passed() && res.HeldBack == "":
		streak, since, interruptions = 0, time.Time{}, 0
	default:
		if streak == 0 {
			since = now
		}
		streak, interruptions = streak+1, 0
	}
	if commit {
		p.consecutiveFailures, p.failingSince, p.interruptions = streak, since, interruptions
	}
	failing := streak >= p.cfg.FailureThreshold &&
		(p.cfg.Timing.MaxTimeInError == 0 || now.Sub(since) >= p.cfg.Timing.MaxTimeInError)
	return Outcome{
		Result:              res,
		CompletedAt:         now,
		ConsecutiveFailures: streak,
		FailingSince:        since,
		Saturated:           saturated,
		Interruptions:       interruptions,
		Healthy:             !failing || saturated,
	}
}

// notify calls the listeners with o.
func (p *Prober) notify(o Outcome) {
	for _, l := range p.cfg.Listeners {
		l(o)
	}
}

func (p *Prober) finish(f *flight[Outcome], res Result) {
	p.mu.Lock()
	o := p.judgeLocked(res, p.cfg.Now(), true)
	p.last = &o
	p.inflight, p.cancelInflight = nil, nil
	p.metrics.inFlight.Set(0)
	p.mu.Unlock()

	// Listeners first, so that a caller who sees this result also sees its metrics, log line
	// and heartbeat.
	p.notify(o)
	f.land(o)
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
	if p.cfg.Timing.Interval <= 0 {
		<-ctx.Done()
		return nil
	}
	ticker := time.NewTicker(p.cfg.Timing.Interval)
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
		p.crew.wait()
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

// proberMetrics are the Prober's own metrics; results are counted by a listener (Metrics).
type proberMetrics struct {
	inFlight  prometheus.Gauge
	coalesced prometheus.Counter
	cached    prometheus.Counter
	deadline  *prometheus.CounterVec
}

func newProberMetrics(reg prometheus.Registerer) (*proberMetrics, error) {
	m := &proberMetrics{
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "deepprobe_workload_in_flight", Help: "1 while a workload runs.",
		}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "deepprobe_coalesced_requests_total", Help: "Checks that joined a workload already in flight.",
		}),
		cached: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "deepprobe_cached_responses_total", Help: "Checks answered from the cached result.",
		}),
		deadline: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deepprobe_deadline_answers_total",
			Help: "Checks whose deadline came while a workload ran (or that read one in background mode), by what they got: fresh_result, no_result, past_limit, busy, failed_in_flight.",
		}, []string{"answer"}),
	}
	for _, a := range []string{"fresh_result", "no_result", "past_limit", "busy", "failed_in_flight"} {
		m.deadline.WithLabelValues(a)
	}
	return m, register(reg, m.inFlight, m.coalesced, m.cached, m.deadline)
}

func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("registering metrics: %w", err)
		}
	}
	return nil
}
