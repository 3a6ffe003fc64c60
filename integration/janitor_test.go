package integration

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/workersim/faults"
)

// waitUntil polls cond until it holds or timeout passes: the servers reap on their own clocks.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startWorkloadAndWait sends one /healthz in the background and waits until the simulator has
// seen count calls on garden route.
func startWorkloadAndWait(t *testing.T, w *worker, d *deepprobe, route string) {
	t.Helper()
	go func() {
		resp, err := http.Get(d.url + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
	}()
	waitUntil(t, 5*time.Second, "workload reaching garden "+route, func() bool { return w.calls(t, "garden")[route] > 0 })
}

// TestCrashThenJanitorReaps: kill -9 while Garden hangs inside container.create (the container
// exists, its grace time is not armed yet); the restarted deepprobe's janitor reaps both.
func TestCrashThenJanitorReaps(t *testing.T) {
	w := startWorker(t)
	w.needSim(t)
	timing := []string{"--probe-timeout", "1s", "--hard-timeout", "1s", "--cleanup-timeout", "100ms", "--grace-time", "1m"}
	d := startDeepprobe(t, w, timing...)
	w.fault(t, "garden", garden.RouteGraceTime, faults.Fault{Hang: true})
	startWorkloadAndWait(t, w, d, garden.RouteGraceTime)
	if err := d.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	d.wait(t, 5*time.Second)
	w.clearFaults(t)
	if cs, vs := w.ours(t, d.instance); len(cs) != 1 || len(vs) != 2 {
		t.Fatalf("after kill -9: containers %v volumes %v, want the container, its volume and the volume's copy-on-write child", cs, vs)
	}

	// Restarted under the same --instance: its own leftovers go by the orphan age (another
	// instance's would wait 10 x).
	restarted := startDeepprobe(t, w, append(timing, "--janitor-interval", "1s", "--orphan-age", "2500ms", "--instance", d.instance)...)
	// Orphan age 2.5s from creation, then at most one janitor interval.
	waitUntil(t, 2500*time.Millisecond+time.Second+2*time.Second, "janitor reaping the crash's leftovers", func() bool {
		cs, vs := w.ours(t, d.instance)
		return len(cs)+len(vs) == 0
	})
	// The log line is written as the sweep ends, which can be a moment after the destroys.
	waitLog(t, restarted.proc, "janitor: reaped")
}

// TestGraceTimeReaperAloneRemovesContainer: janitor disabled, kill -9 after the grace time was
// armed; the simulator's reaper removes the container on its own, which proves the PUT. The
// volume (no TTL) stays until `deepprobe janitor --once` reaps it.
func TestGraceTimeReaperAloneRemovesContainer(t *testing.T) {
	w := startWorker(t)
	w.needSim(t)
	d := startDeepprobe(t, w, "--probe-timeout", "1s", "--cleanup-timeout", "500ms", "--grace-time", "2s")
	w.fault(t, "garden", garden.RouteDestroy, faults.Fault{Hang: true})
	startWorkloadAndWait(t, w, d, garden.RouteDestroy)
	_ = d.cmd.Process.Kill()
	d.wait(t, 5*time.Second)
	w.clearFaults(t)

	waitUntil(t, 2*time.Second+3*time.Second, "Garden's grace-time reaper", func() bool {
		cs, _ := w.ours(t, d.instance)
		return len(cs) == 0
	})
	_, vs := w.ours(t, d.instance)
	if len(vs) != 2 {
		t.Fatalf("volumes %v, want the two left behind (the volume and its copy-on-write child)", vs)
	}

	args := []string{"janitor", "--once", "--garden-url", w.gardenURL, "--baggageclaim-url", w.bcURL, "--instance", d.instance,
		"--probe-timeout", "500ms", "--hard-timeout", "500ms", "--cleanup-timeout", "100ms", "--grace-time", "2s", "--orphan-age", "2s"}
	waitUntil(t, 5*time.Second, "volume older than the orphan age", func() bool {
		out, code := runCommand(t, append(args, "--dry-run"), nil)
		return code == 0 && strings.Contains(out, vs[0]) && strings.Contains(out, "would-reap")
	})
	out, code := runCommand(t, args, nil)
	if code != 0 || !strings.Contains(out, "volume") || !strings.Contains(out, vs[0]) || !strings.Contains(out, "reaped") {
		t.Fatalf("janitor --once: exit %d\n%s", code, out)
	}
	w.assertNoResidue(t, d.instance)
}

// TestJanitorCommandFailsWhenAReapFails: exit non-zero, the failure in the table.
func TestJanitorCommandFailsWhenAReapFails(t *testing.T) {
	w := startWorker(t)
	w.needSim(t)
	// One volume per workload, so that the one destroy refused is the volume's.
	d := startDeepprobe(t, w, "--probe-timeout", "1s", "--cleanup-timeout", "500ms", "--grace-time", "1m", "--skip-stages", "volume.cow")
	w.fault(t, "baggageclaim", baggageclaim.RouteDestroy, faults.Fault{Status: 500, Times: 1})
	if a := d.get(t, "/healthz"); a.health.FailedStage != "volume.destroy" {
		t.Fatalf("got %s", a.body)
	}
	w.fault(t, "baggageclaim", baggageclaim.RouteDestroy, faults.Fault{Status: 500})
	args := []string{"janitor", "--once", "--garden-url", w.gardenURL, "--baggageclaim-url", w.bcURL, "--instance", d.instance,
		"--probe-timeout", "500ms", "--hard-timeout", "500ms", "--cleanup-timeout", "100ms", "--orphan-age", "2s"}
	time.Sleep(2 * time.Second) // the leftover must be older than --orphan-age
	out, code := runCommand(t, args, nil)
	if code != 1 || !strings.Contains(out, "failed") || !strings.Contains(out, "500") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	w.clearFaults(t)
	if out, code := runCommand(t, args, nil); code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	w.assertNoResidue(t, d.instance)
}

// TestSoak runs 2,000 workloads with random faults on every route: no 200 while a stage failed,
// nothing left after one janitor sweep, goroutines back to their baseline.
func TestSoak(t *testing.T) {
	w := startWorker(t)
	w.needSim(t)
	n := 2000
	if testing.Short() {
		n = 200
	}
	// A hang or a latency beyond the deadlines meets the hard limit (an idle worker would only
	// be called stalled after --stall-timeout).
	d := startDeepprobe(t, w, "--probe-timeout", "100ms", "--cleanup-timeout", "100ms", "--hard-timeout", "200ms", "--grace-time", "1m",
		"--min-interval", "1ns", "--log-level", "info")
	if a := d.get(t, "/healthz"); a.status != http.StatusOK {
		t.Fatalf("warm-up: %d %s", a.status, a.body)
	}
	baseline := d.metric(t, "go_goroutines")

	routes := map[string][]string{
		"garden":       {garden.RouteCreate, garden.RouteGraceTime, garden.RouteDestroy},
		"baggageclaim": {baggageclaim.RouteCreate, baggageclaim.RouteDestroy},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := []faults.Fault{
		{Latency: faults.Duration(5 * time.Millisecond)},
		{Latency: faults.Duration(time.Second)}, // beyond the deadlines
		{Hang: true},
		{Status: 500},
		{Status: 503, Body: "<html>busy</html>", ContentType: "text/html"},
		{Reset: true},
	}
	var passed, failed int
	for i := range n {
		if rng.IntN(3) == 0 { // a third of the workloads meet a fault
			sim := []string{"garden", "baggageclaim"}[rng.IntN(2)]
			route := routes[sim][rng.IntN(len(routes[sim]))]
			f := kinds[rng.IntN(len(kinds))]
			if sim == "baggageclaim" && route == baggageclaim.RouteCreate && rng.IntN(4) == 0 {
				f = faults.Fault{DiskFull: true}
			}
			f.Times = 1
			w.fault(t, sim, route, f)
		}
		a := d.get(t, "/healthz")
		anyFailed := false
		for _, s := range a.health.Stages {
			anyFailed = anyFailed || s.Status == "fail"
		}
		switch {
		case a.status == http.StatusOK && (anyFailed || a.health.Status != "pass"):
			t.Fatalf("workload %d: 200 while a stage failed: %s", i, a.body)
		case a.status == http.StatusOK:
			passed++
		case a.status == http.StatusServiceUnavailable && a.health.FailedStage != "":
			failed++
		default:
			t.Fatalf("workload %d: unexpected answer %d %s", i, a.status, a.body)
		}
		w.clearFaults(t)
	}
	t.Logf("%d workloads: %d passed, %d failed", n, passed, failed)
	if passed == 0 || failed == 0 {
		t.Errorf("the soak did not exercise both outcomes")
	}

	// The janitor reaps every leftover: sweep until a sweep leaves nothing of this instance. A
	// leftover younger than --orphan-age, or one whose create the server finished after its
	// workload gave up on it, is reaped by a later sweep; one that never goes fails the test.
	waitUntil(t, 30*time.Second, "a janitor sweep that leaves nothing behind", func() bool {
		out, code := runCommand(t, []string{"janitor", "--once", "--garden-url", w.gardenURL, "--baggageclaim-url", w.bcURL,
			"--instance", d.instance, "--probe-timeout", "100ms", "--hard-timeout", "100ms", "--cleanup-timeout", "50ms", "--orphan-age", "400ms"}, nil)
		if code != 0 {
			t.Fatalf("janitor: exit %d\n%s", code, out)
		}
		cs, vs := w.ours(t, d.instance)
		return len(cs)+len(vs) == 0
	})

	waitUntil(t, 10*time.Second, fmt.Sprintf("goroutines back to the baseline of %v", baseline), func() bool {
		return d.metric(t, "go_goroutines") <= baseline+4
	})
}
