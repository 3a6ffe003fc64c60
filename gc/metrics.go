package gc

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	found, reaped, failed *prometheus.CounterVec
	skipped               *prometheus.CounterVec
	sweeps                *prometheus.CounterVec
	lastSweep             prometheus.Gauge
	stuck                 prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		found:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "deepprobe_janitor_found_total", Help: "Marked resources the janitor listed, by kind."}, []string{"kind"}),
		reaped:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "deepprobe_janitor_reaped_total", Help: "Leftovers the janitor destroyed, by kind."}, []string{"kind"}),
		failed:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "deepprobe_janitor_failed_total", Help: "Reaps that failed, by kind."}, []string{"kind"}),
		skipped:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "deepprobe_janitor_skipped_total", Help: "Resources the janitor left alone, by kind and reason."}, []string{"kind", "reason"}),
		sweeps:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "deepprobe_janitor_sweeps_total", Help: "Sweeps, by result."}, []string{"result"}),
		lastSweep: prometheus.NewGauge(prometheus.GaugeOpts{Name: "deepprobe_janitor_last_sweep_timestamp_seconds", Help: "Unix time of the last sweep."}),
		stuck: prometheus.NewGauge(prometheus.GaugeOpts{Name: "deepprobe_janitor_stuck_containers",
			Help: "Health-check containers that Garden answered \"already being destroyed\" for on consecutive sweeps, as of the last sweep."}),
	}
	// Every series exists from start-up, so that rate() and absent() work before the first event.
	for _, kind := range []string{KindContainer, KindVolume} {
		m.found.WithLabelValues(kind)
		m.reaped.WithLabelValues(kind)
		m.failed.WithLabelValues(kind)
		for _, reason := range skipReasons {
			m.skipped.WithLabelValues(kind, reason)
		}
	}
	m.sweeps.WithLabelValues("ok")
	m.sweeps.WithLabelValues("failed")
	if reg != nil {
		for _, c := range []prometheus.Collector{m.found, m.reaped, m.failed, m.skipped, m.sweeps, m.lastSweep, m.stuck} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("registering janitor metrics: %w", err)
			}
		}
	}
	return m, nil
}

// record adds a sweep's tally to the counters.
func (m *metrics) record(r Report, now time.Time) {
	for k, n := range r.tally {
		m.found.WithLabelValues(k.kind).Add(float64(n))
		switch k.action {
		case ActionReaped:
			m.reaped.WithLabelValues(k.kind).Add(float64(n))
		case ActionFailed:
			m.failed.WithLabelValues(k.kind).Add(float64(n))
		case ActionSkipped:
			m.skipped.WithLabelValues(k.kind, k.reason).Add(float64(n))
		}
	}
	result := "ok"
	if r.Failed() {
		result = "failed"
	}
	m.sweeps.WithLabelValues(result).Inc()
	m.lastSweep.Set(float64(now.Unix()))
}
