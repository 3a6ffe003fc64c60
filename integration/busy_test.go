package integration

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestBusyWorkerIsNotDead reproduces the measured case at a smaller scale: containerd serves
// creates one at a time, 40 builds keep creates and destroys in flight, and deepprobe's own
// create waits in that queue far longer than --probe-timeout. Every probe, the way the
// Kubernetes recipe probes (?timeout below the period), answers 200: busy while a stage waits,
// pass once the workload ends; never 503.
func TestBusyWorkerIsNotDead(t *testing.T) {
	w := startWorker(t, "--garden-create-time", "100ms", "--garden-destroy-time", "100ms",
		"--garden-load", "40", "--garden-load-hold", "200ms")
	w.needSim(t)
	d := startDeepprobe(t, w, "--probe-timeout", "1s", "--process-timeout", "500ms", "--cleanup-timeout", "1s",
		"--stall-timeout", "3s", "--min-interval", "1s", "--grace-time", "1m")
	// The first caller waits for a result, as Kubernetes' startupProbe does.
	first := d.get(t, "/healthz?timeout=8s")
	if first.status != http.StatusOK {
		t.Fatalf("first answer %d %s", first.status, first.body)
	}
	busy := 0
	var took time.Duration
	const probes_ = 16
	for i := range probes_ {
		time.Sleep(700 * time.Millisecond) // the caller's period, not synchronisation
		a := d.get(t, "/healthz?timeout=500ms")
		if a.status != http.StatusOK {
			t.Errorf("probe %d: %d %s", i, a.status, a.body)
		}
		if a.health.Busy != nil {
			busy++
			if a.health.Status != "warn" || a.health.Reason != "busy" || !strings.Contains(a.health.Error, "created and") ||
				a.health.Busy.Created+a.health.Busy.Destroyed == 0 {
				t.Errorf("probe %d: busy answer %s", i, a.body)
			}
		}
		took = max(took, a.took)
	}
	t.Logf("%d of %d answers said busy; slowest answer %s", busy, probes_, took)
	if busy == 0 && first.health.Busy == nil {
		t.Error("no answer said busy: the test did not reproduce a slow create")
	}
	if took > 1500*time.Millisecond {
		t.Errorf("an answer took %s with ?timeout=500ms", took)
	}
	if got := d.metric(t, `deepprobe_workloads_total{result="fail"}`); got != 0 {
		t.Errorf("%v failed workloads under load", got)
	}
	if got := d.metric(t, `deepprobe_workloads_total{result="pass"}`); got == 0 {
		t.Error("no workload passed under load")
	}
}

// TestConcourseGCIsNotAFailure: beside a web node whose garbage collector destroys every handle
// it does not know, deepprobe's included, mid-workload, no answer is a 503: an interrupted
// workload is re-run, and two in a row are a warning.
func TestConcourseGCIsNotAFailure(t *testing.T) {
	w := startWorker(t, "--gc-interval", "300ms", "--gc-delay", "5ms", "--garden-create-time", "20ms", "--garden-destroy-time", "5ms")
	w.needSim(t)
	d := startDeepprobe(t, w, "--min-interval", "1ms", "--freshness", "1s")
	n := 400
	if testing.Short() {
		n = 50
	}
	for i := range n {
		if a := d.get(t, "/healthz"); a.status != http.StatusOK {
			t.Fatalf("workload %d: %d %s", i, a.status, a.body)
		}
	}
	interrupted := d.metric(t, `deepprobe_workloads_total{result="interrupted"}`)
	t.Logf("%d answers, %v interrupted workloads, 0 answers of 503", n, interrupted)
	if interrupted == 0 && !testing.Short() {
		t.Error("the garbage collector never caught a workload: the test did not reproduce the case")
	}
	if got := d.metric(t, `deepprobe_workloads_total{result="fail"}`); got != 0 {
		t.Errorf("%v failed workloads", got)
	}
}
