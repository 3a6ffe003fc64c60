package probes

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestDeepFailing: the gauge follows the worker's own verdict: 1 on a failure, 0 on a pass
// and on a warning (a failure below the threshold, or a full worker).
func TestDeepFailing(t *testing.T) {
	reg := prometheus.NewRegistry()
	observe, err := NewDeepFailing(reg)
	if err != nil {
		t.Fatal(err)
	}
	read := func() float64 {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "deepprobe_deep_failing" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("deepprobe_deep_failing is not exported")
		return 0
	}
	if read() != 0 {
		t.Error("not 0 before the first result")
	}
	failed := Result{Stages: []StageResult{{Name: StageContainerCreate, Status: StatusFail, Err: errors.New("boom")}}}
	for _, tt := range []struct {
		name string
		o    Outcome
		want float64
	}{
		{"fail", Outcome{Result: failed, Healthy: false}, 1},
		{"warn below the threshold", Outcome{Result: failed, Healthy: true}, 0},
		{"pass", Outcome{Healthy: true}, 0},
		{"stale", Outcome{Healthy: false, Stale: true}, 1},
	} {
		observe(tt.o)
		if got := read(); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
