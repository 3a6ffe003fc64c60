package probes

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts finished workloads; subscribe its Observe to a Prober (ProberConfig.Listeners).
// Every series exists from start-up, with labels from fixed sets only (stage names, statuses,
// reasons), so that absent() and rate() alerts work before the first failure.
type Metrics struct {
	stageDuration       *prometheus.HistogramVec
	duration            prometheus.Histogram
	results             *prometheus.CounterVec
	stageFailures       *prometheus.CounterVec
	lastSuccess         prometheus.Gauge
	lastResult          prometheus.Gauge
	consecutiveFailures prometheus.Gauge
	healthy             prometheus.Gauge
	saturated           prometheus.Gauge
	failingSince        prometheus.Gauge
}

// Workload results, the values of deepprobe_workloads_total's result label.
const (
	ResultPass      = "pass"
	ResultFail      = "fail"
	ResultSaturated = "saturated"
	// ResultInterrupted: the workload's own volume or container vanished under it.
	ResultInterrupted = "interrupted"
)

// NewMetrics registers the workload metrics with reg (which must not be nil).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	// Up to the hard timeout: a busy worker's stage may wait minutes.
	buckets := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}
	m := &Metrics{
		stageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "deepprobe_workload_stage_duration_seconds", Help: "Duration of each workload stage that ran, by stage and status.", Buckets: buckets,
		}, []string{"stage", "status"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "deepprobe_workload_duration_seconds", Help: "Duration of whole workloads, cleanup included.", Buckets: buckets,
		}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deepprobe_workloads_total", Help: "Finished workloads by result: pass, fail, saturated (at or near the container limit, read as a warning), interrupted (its own volume or container vanished under it).",
		}, []string{"result"}),
		stageFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "deepprobe_stage_failures_total", Help: "Failed stages by stage and reason.",
		}, []string{"stage", "reason"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "deepprobe_last_success_timestamp_seconds", Help: "Unix time of the last passing workload (0: none yet).",
		}),
		lastResult: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "deepprobe_last_result_timestamp_seconds", Help: "Unix time of the last finished workload (0: none yet).",
		}),
		consecutiveFailures: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "deepprobe_consecutive_failures", Help: "Failed workloads in a row.",
		}),
		healthy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "deepprobe_healthy", Help: "1 when the last verdict was pass or warn (HTTP 200), 0 when fail or none yet.",
		}),
		saturated: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "deepprobe_saturated", Help: "1 when the last workload found the worker at its container limit.",
		}),
		failingSince: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "deepprobe_failing_since_timestamp_seconds", Help: "Unix time the current failing streak began (0: not failing).",
		}),
	}
	for _, s := range StageNames() {
		for _, st := range []Status{StatusPass, StatusFail} {
			m.stageDuration.WithLabelValues(s, string(st))
		}
		for _, r := range Reasons {
			m.stageFailures.WithLabelValues(s, string(r))
		}
	}
	for _, r := range []string{ResultPass, ResultFail, ResultSaturated, ResultInterrupted} {
		m.results.WithLabelValues(r)
	}
	return m, register(reg, m.stageDuration, m.duration, m.results, m.stageFailures, m.lastSuccess, m.lastResult,
		m.consecutiveFailures, m.healthy, m.saturated, m.failingSince)
}

// Observe records a finished workload.
func (m *Metrics) Observe(o Outcome) {
	res := o.Result
	for _, s := range res.Stages {
		if s.Status == StatusSkip {
			continue
		}
		m.stageDuration.WithLabelValues(s.Name, string(s.Status)).Observe(s.Duration.Seconds())
		if s.Status == StatusFail {
			m.stageFailures.WithLabelValues(s.Name, string(s.Reason)).Inc()
		}
	}
	m.duration.Observe(res.Duration.Seconds())
	ts := float64(o.CompletedAt.UnixNano()) / 1e9
	m.lastResult.Set(ts)
	first, _ := res.FirstFailure()
	switch {
	case first.Reason == ReasonCancelled: // deepprobe shutting down: no result to count
	case res.Interrupted != "":
		m.results.WithLabelValues(ResultInterrupted).Inc()
	case o.Saturated: // not a success: Garden was not exercised, or refused for being full
		m.results.WithLabelValues(ResultSaturated).Inc()
	case res.Passed() && res.HeldBack == "": // held back under --on-saturation fail: a failure
		m.results.WithLabelValues(ResultPass).Inc()
		m.lastSuccess.Set(ts)
	default:
		m.results.WithLabelValues(ResultFail).Inc()
	}
	m.consecutiveFailures.Set(float64(o.ConsecutiveFailures))
	m.healthy.Set(boolGauge(o.Healthy))
	m.saturated.Set(boolGauge(o.Saturated))
	since := 0.0
	if !o.FailingSince.IsZero() {
		since = float64(o.FailingSince.Unix())
	}
	m.failingSince.Set(since)
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// NewDeepFailing registers deepprobe_deep_failing with reg and returns its listener (subscribe
// it to a Prober): 1 when this worker's own deep verdict is a failure, before any fleet hold, 0
// otherwise (and before the first result). A failure the fleet budget answers as a warning
// still counts here, so holding never makes the fleet look healthier than it is; the fleet
// budget counts this gauge across the fleet.
func NewDeepFailing(reg prometheus.Registerer) (func(Outcome), error) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "deepprobe_deep_failing",
		Help: "1 when this worker's own deep verdict is a failure (before any fleet-wide hold), else 0.",
	})
	if err := register(reg, g); err != nil {
		return nil, err
	}
	return func(o Outcome) { g.Set(boolGauge(o.Verdict() == "fail")) }, nil
}
