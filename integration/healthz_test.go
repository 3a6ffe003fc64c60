package integration

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/probes"
	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/workersim/faults"
	"github.com/deepprobe/deepprobe/workersim/gardensim"
	"github.com/google/uuid"
)

func stageLine(a answer) string {
	var parts []string
	for _, s := range a.health.Stages {
		parts = append(parts, s.Name+"="+s.Status)
	}
	return strings.Join(parts, " ")
}

// allPass is every stage of the one stage list, passed, in the order a run reports them.
func allPass() string {
	var parts []string
	for _, name := range probes.StageNames() {
		parts = append(parts, name+"=pass")
	}
	return strings.Join(parts, " ")
}

// TestHealthy runs against workersim or the real servers.
func TestHealthy(t *testing.T) {
	w := startWorker(t)
	// The result stays fresh for the calls below even when a loaded worker's workload took long.
	d := startDeepprobe(t, w, "--min-interval", "30s")
	a := d.pass(t, "/healthz")
	want := allPass()
	if a.status != http.StatusOK || a.health.Status != "pass" || stageLine(a) != want {
		t.Fatalf("got %d %s\n%s", a.status, stageLine(a), a.body)
	}
	// HEAD and /readyz give the same verdict; ?verbose is Kubernetes-style text.
	resp, err := http.Head(d.url + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD /readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	v := d.get(t, "/healthz?verbose")
	if !strings.Contains(string(v.body), "[+]container.create ok") || !strings.HasSuffix(string(v.body), "healthz check passed\n") {
		t.Errorf("verbose body:\n%s", v.body)
	}
	if l := d.get(t, "/livez"); l.status != http.StatusOK || l.health.Status != "pass" {
		t.Errorf("livez: %d %s", l.status, l.body)
	}
	w.assertNoResidue(t, d.instance)
}

func TestFailures(t *testing.T) {
	tests := []struct {
		name       string
		sim, route string
		fault      faults.Fault
		behaviour  gardensim.Behaviour
		wantStage  string
		wantError  string
		wantReason probes.Reason
		flags      []string
		// keeps: a create given up on may still complete, so its volume is kept for the
		// janitor (as is what a refused destroy leaves).
		keeps   bool
		maxTook time.Duration
	}{
		{
			name: "garden hangs on create, nothing else progresses: stalled", sim: "garden", route: garden.RouteCreate, fault: faults.Fault{Hang: true},
			flags:     []string{"--stall-timeout", "2s"},
			wantStage: probes.StageContainerCreate, wantError: "stalled: no containers created by anyone else in 2s", wantReason: probes.ReasonStalled, keeps: true,
			maxTook: 3*time.Second + 500*time.Millisecond, // the stall is seen on the next list, once a second
		},
		{
			name: "garden hangs on create past the hard limit", sim: "garden", route: garden.RouteCreate, fault: faults.Fault{Hang: true},
			flags:     []string{"--hard-timeout", "1500ms", "--cleanup-timeout", "500ms"},
			wantStage: probes.StageContainerCreate, wantError: "timed out after 1.5s (the hard limit)", wantReason: probes.ReasonTimeout, keeps: true,
			maxTook: 1500*time.Millisecond + 500*time.Millisecond,
		},
		{
			name: "baggageclaim 500 on create", sim: "baggageclaim", route: baggageclaim.RouteCreate, fault: faults.Fault{Status: 500},
			wantStage: probes.StageVolumeCreate, wantError: "baggageclaim create: 500", wantReason: probes.ReasonUpstreamError,
		},
		{
			name: "baggageclaim disk full", sim: "baggageclaim", route: baggageclaim.RouteCreate, fault: faults.Fault{DiskFull: true},
			wantStage: probes.StageVolumeCreate, wantError: "failed to create volume", wantReason: probes.ReasonUpstreamError,
		},
		{
			name: "garden disk full", sim: "garden", route: garden.RouteCreate, fault: faults.Fault{DiskFull: true},
			wantStage: probes.StageContainerCreate, wantError: "no space left on device", wantReason: probes.ReasonDiskFull,
		},
		{
			name: "garden 500 with a non-JSON body", sim: "garden", route: garden.RouteCreate,
			fault:     faults.Fault{Status: 500, Body: "Internal Server Error", ContentType: "text/plain"},
			wantStage: probes.StageContainerCreate, wantError: `unexpected body "Internal Server Error"`, wantReason: probes.ReasonUpstreamError,
		},
		{
			name: "garden resets the connection", sim: "garden", route: garden.RouteCreate, fault: faults.Fault{Reset: true},
			wantStage: probes.StageContainerCreate, wantError: "garden create", wantReason: probes.ReasonConnectionLost,
		},
		{
			name: "stream-in refused", sim: "baggageclaim", route: baggageclaim.RouteStreamIn, fault: faults.Fault{Status: 500},
			wantStage: probes.StageVolumeStreamIn, wantError: "baggageclaim stream_in: 500", wantReason: probes.ReasonUpstreamError,
		},
		{
			name: "stream-in hangs", sim: "baggageclaim", route: baggageclaim.RouteStreamIn, fault: faults.Fault{Hang: true},
			flags:     []string{"--stall-timeout", "2s"},
			wantStage: probes.StageVolumeStreamIn, wantError: "stalled: no volumes created or destroyed", wantReason: probes.ReasonStalled,
			maxTook: 3*time.Second + 500*time.Millisecond, // the stall is seen on the next list, once a second
		},
		{
			name: "process exits non-zero", behaviour: gardensim.Behaviour{Process: gardensim.ProcessExit, ExitStatus: 2},
			wantStage: probes.StageProcessRun, wantError: "exited with status 2", wantReason: probes.ReasonNonzeroExit,
		},
		{
			name: "process cannot start", behaviour: gardensim.Behaviour{Process: gardensim.ProcessExecFailed},
			wantStage: probes.StageProcessRun, wantError: "OCI runtime exec failed", wantReason: probes.ReasonExecFailed,
		},
		{
			name: "process hangs", behaviour: gardensim.Behaviour{Process: gardensim.ProcessHang},
			flags:     []string{"--stall-timeout", "2s"},
			wantStage: probes.StageProcessRun, wantError: "stalled", wantReason: probes.ReasonStalled, maxTook: 3*time.Second + 500*time.Millisecond, // the stall is seen on the next list, once a second
		},
		{
			name: "process stream cut", behaviour: gardensim.Behaviour{Process: gardensim.ProcessCut},
			wantStage: probes.StageProcessRun, wantError: "stream ended before an exit status", wantReason: probes.ReasonStreamCut,
		},
		{
			name: "redirect on container destroy", sim: "garden", route: garden.RouteDestroy, fault: faults.Fault{Status: 307, Times: 1},
			wantStage: probes.StageContainerDestroy, wantError: "307 Temporary Redirect", wantReason: probes.ReasonBadAnswer,
		},
		{
			// The first volume destroy is the copy-on-write child's.
			name: "redirect on volume destroy", sim: "baggageclaim", route: baggageclaim.RouteDestroy, fault: faults.Fault{Status: 307, Times: 1},
			wantStage: probes.StageVolumeCOWDestroy, wantError: "307 Temporary Redirect", wantReason: probes.ReasonBadAnswer,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := startWorker(t)
			w.needSim(t)
			d := startDeepprobe(t, w, append([]string{"--probe-timeout", "1s"}, tt.flags...)...)
			if tt.sim != "" {
				w.fault(t, tt.sim, tt.route, tt.fault)
			}
			w.behaviour(t, tt.behaviour)
			a := d.get(t, "/healthz")
			if a.status != http.StatusServiceUnavailable || a.health.FailedStage != tt.wantStage || !strings.Contains(a.health.Error, tt.wantError) ||
				a.health.Reason != string(tt.wantReason) {
				t.Fatalf("got %d failed_stage=%q reason=%q error=%q, want 503 %s %s containing %q\n%s",
					a.status, a.health.FailedStage, a.health.Reason, a.health.Error, tt.wantStage, tt.wantReason, tt.wantError, a.body)
			}
			w.behaviour(t, gardensim.Behaviour{})
			if tt.keeps || tt.wantStage == probes.StageContainerDestroy || tt.wantStage == probes.StageVolumeDestroy || tt.wantStage == probes.StageVolumeCOWDestroy {
				// The refused destroy left its resource (Garden's grace time or the janitor reaps
				// it in production); reap it here so that the check below sees the rest.
				cs, vs := w.ours(t, d.instance)
				for _, h := range cs {
					_ = w.g.Destroy(context.Background(), h)
				}
				for _, h := range vs {
					_ = w.b.Destroy(context.Background(), h)
				}
			}
			if tt.maxTook > 0 && a.took > tt.maxTook {
				t.Errorf("answered in %s, want within %s", a.took, tt.maxTook)
			}
			w.clearFaults(t)
			w.assertNoResidue(t, d.instance)
		})
	}
}

// TestCallerTimeout: the caller's ?timeout bounds its wait, the workload goes on and is cached.
func TestCallerTimeout(t *testing.T) {
	w := startWorker(t)
	w.needSim(t)
	d := startDeepprobe(t, w, "--probe-timeout", "3s", "--min-interval", "1m")
	w.fault(t, "garden", garden.RouteCreate, faults.Fault{Latency: faults.Duration(time.Second), Times: 1})
	a := d.get(t, "/healthz?timeout=200ms")
	if a.status != http.StatusServiceUnavailable || !strings.HasPrefix(a.health.Error, "no result yet: container.create running for") {
		t.Fatalf("got %d %s", a.status, a.body)
	}
	if a.took > time.Second {
		t.Errorf("caller waited %s with ?timeout=200ms", a.took)
	}
	if a.health.InFlight == nil || a.health.InFlight.Stage != probes.StageContainerCreate {
		t.Errorf("the timed-out answer does not name the stage in flight: %s", a.body)
	}
	// The next caller joins the same workload, which passes.
	b := d.get(t, "/healthz")
	if b.status != http.StatusOK {
		t.Fatalf("second caller: %d %s", b.status, b.body)
	}
	if n := w.calls(t, "garden")[garden.RouteCreate]; n != 1 {
		t.Errorf("%d workloads, want 1", n)
	}
	if bad := d.get(t, "/healthz?timeout=soon"); bad.status != http.StatusBadRequest || !strings.Contains(string(bad.body), `query parameter \"timeout\"`) {
		t.Errorf("bad timeout: %d %s", bad.status, bad.body)
	}
	w.assertNoResidue(t, d.instance)
}

// TestConcurrentRequestsShareOneWorkload: 200 concurrent callers, one workload.
func TestConcurrentRequestsShareOneWorkload(t *testing.T) {
	w := startWorker(t)
	d := startDeepprobe(t, w, "--min-interval", "1m")
	if w.adminURL != "" {
		// Hold the workload long enough for every caller to arrive while it runs.
		w.fault(t, "garden", garden.RouteCreate, faults.Fault{Latency: faults.Duration(300 * time.Millisecond)})
	}
	const n = 200
	var wg sync.WaitGroup
	answers := make([]answer, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := d.fetch(finished("/healthz"))
			if err != nil {
				t.Error(err)
			}
			answers[i] = a
		}()
	}
	wg.Wait()
	verdict := answers[0].health.Status + " " + answers[0].health.Reason
	for i, a := range answers {
		if a.status != http.StatusOK {
			t.Fatalf("request %d: status %d %s", i, a.status, a.body)
		}
		if v := a.health.Status + " " + a.health.Reason; v != verdict {
			t.Fatalf("request %d answered %s, request 0 %s: not one workload", i, v, verdict)
		}
	}
	// One flight: a pass (after at most one interruption, re-run at once), or, against real
	// servers beside a web node's GC, two interruptions in a row (200 warn interrupted: correct).
	passes, interrupted := 1.0, "at most 1"
	if realServers() && answers[0].health.Reason == "interrupted" {
		t.Logf("the workload was interrupted twice (a web node's GC?): %s", answers[0].body)
		passes, interrupted = 0, "2"
	} else if answers[0].health.Status != "pass" {
		t.Fatalf("answer %s", answers[0].body)
	}
	if got := d.metric(t, `deepprobe_workloads_total{result="pass"}`); got != passes {
		t.Errorf("deepprobe counted %v passed workloads, want %v", got, passes)
	}
	if got := d.metric(t, `deepprobe_workloads_total{result="interrupted"}`); (passes == 1 && got > 1) || (passes == 0 && got != 2) {
		t.Errorf("deepprobe counted %v interrupted workloads, want %s", got, interrupted)
	}
	if w.adminURL != "" {
		if got := w.calls(t, "baggageclaim")[baggageclaim.RouteCreate]; got != 2 {
			t.Errorf("simulator saw %d volume creates, want 2 (the volume and its copy-on-write child)", got)
		}
		if got := w.calls(t, "garden")[garden.RouteCreate]; got != 1 {
			t.Errorf("simulator saw %d container creates, want 1", got)
		}
	}
	w.assertNoResidue(t, d.instance)
}

// TestSIGTERMMidWorkload: SIGTERM while a workload runs; it finishes its cleanup, exit 0.
func TestSIGTERMMidWorkload(t *testing.T) {
	for _, tt := range []struct {
		name  string
		fault faults.Fault
		extra []string
	}{
		{"workload finishes", faults.Fault{Latency: faults.Duration(500 * time.Millisecond)}, nil},
		{"workload cancelled at the shutdown bound", faults.Fault{Hang: true}, []string{"--probe-timeout", "30s", "--grace-time", "1m", "--shutdown-timeout", "300ms"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := startWorker(t)
			w.needSim(t)
			d := startDeepprobe(t, w, tt.extra...)
			w.fault(t, "garden", garden.RouteCreate, tt.fault)
			answered := make(chan int, 1)
			go func() {
				resp, err := http.Get(d.url + "/healthz")
				if err != nil {
					answered <- 0
					return
				}
				resp.Body.Close()
				answered <- resp.StatusCode
			}()
			// Wait until the workload is inside container.create: its volume exists.
			deadline := time.Now().Add(5 * time.Second)
			for w.calls(t, "garden")[garden.RouteCreate] == 0 {
				if time.Now().After(deadline) {
					t.Fatal("workload never reached container.create")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if code := d.wait(t, 10*time.Second); code != 0 {
				t.Fatalf("exit code %d\n%s", code, d.Logs())
			}
			if status := <-answered; status == 0 {
				t.Errorf("the caller waiting at SIGTERM got no answer")
			}
			w.clearFaults(t)
			w.assertNoResidue(t, d.instance)
		})
	}
}

// TestBadConfigExitsBeforeListening: invalid flags exit non-zero naming the flag.
func TestBadConfigExitsBeforeListening(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--probe-timeout", "10s", "--grace-time", "5s"}, "--grace-time"},
		{[]string{"--garden-url", "localhost:7777"}, "--garden-url"},
		{[]string{"--failure-threshold", "0"}, "--failure-threshold"},
		{[]string{"--log-format", "xml"}, "--log-format"},
		{[]string{"--min-interval", "five"}, "min-interval"},
		{[]string{"--listen", "127.0.0.1:-1"}, "--listen"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, code := runCommand(t, append([]string{"serve"}, tt.args...), nil)
			if code != 1 || !strings.Contains(out, tt.want) {
				t.Fatalf("exit %d, output %q; want 1 and a message naming %s", code, out, tt.want)
			}
		})
	}
	t.Run("environment variable", func(t *testing.T) {
		out, code := runCommand(t, []string{"serve"}, []string{"DEEPPROBE_PROBE_TIMEOUT=fast"})
		if code != 1 || !strings.Contains(out, "DEEPPROBE_PROBE_TIMEOUT") {
			t.Fatalf("exit %d, output %q", code, out)
		}
	})
}

// TestHeartbeatFile: each passing workload writes the unix time; a failing one does not.
func TestHeartbeatFile(t *testing.T) {
	w := startWorker(t)
	path := filepath.Join(t.TempDir(), "heartbeat")
	d := startDeepprobe(t, w, "--heartbeat-file", path, "--min-interval", "1ns")
	before := time.Now().Unix()
	if a := d.pass(t, "/healthz"); a.status != http.StatusOK || a.health.Status != "pass" {
		t.Fatalf("%d %s", a.status, a.body)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || ts < before || ts > time.Now().Unix() {
		t.Fatalf("heartbeat %q (%v), want a unix time since %d", b, err, before)
	}
	if w.adminURL == "" {
		return
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	w.fault(t, "garden", garden.RouteCreate, faults.Fault{Status: 500, Times: 1})
	if a := d.get(t, "/healthz"); a.status != http.StatusServiceUnavailable {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a failing workload wrote the heartbeat: %v", err)
	}
}

// TestBackgroundMode: with --interval, workloads run on their own and requests read the latest
// result; when the worker breaks, requests fail without starting anything.
func TestBackgroundMode(t *testing.T) {
	w := startWorker(t)
	d := startDeepprobe(t, w, "--interval", "200ms", "--min-interval", "1h")
	series := `deepprobe_workloads_total{result="pass"}`
	waitUntil(t, within(5*time.Second), "three background workloads", func() bool { return d.metric(t, series) >= 3 })
	a := d.get(t, "/healthz")
	if a.status != http.StatusOK || !a.health.Cached {
		t.Fatalf("got %d %s", a.status, a.body)
	}
	if w.adminURL == "" {
		return
	}
	w.fault(t, "baggageclaim", baggageclaim.RouteCreate, faults.Fault{Status: 500})
	waitUntil(t, 5*time.Second, "a failed background workload", func() bool {
		return d.get(t, "/healthz").health.FailedStage == probes.StageVolumeCreate
	})
	w.clearFaults(t)
	waitUntil(t, 5*time.Second, "recovery", func() bool { return d.get(t, "/healthz").status == http.StatusOK })
	w.assertNoResidue(t, d.instance)
}

// TestLivezCountsA500AsAFailure: unlike Concourse's own check, a Garden 500 on /ping or a
// Baggageclaim 500 on the volume list makes /livez fail, naming which.
func TestLivezCountsA500AsAFailure(t *testing.T) {
	w := startWorker(t)
	w.needSim(t)
	d := startDeepprobe(t, w, "--shallow-reuse", "1ns") // every call a round of its own
	for _, tt := range []struct{ sim, route, check string }{
		{"garden", garden.RoutePing, probes.CheckGardenPing},
		{"baggageclaim", baggageclaim.RouteList, probes.CheckBaggageclaimList},
	} {
		w.fault(t, tt.sim, tt.route, faults.Fault{Status: 500, Times: 1})
		a := d.get(t, "/livez")
		if a.status != http.StatusServiceUnavailable || a.health.FailedStage != tt.check || !strings.Contains(a.health.Error, "500") {
			t.Errorf("%s 500: got %d %s", tt.sim, a.status, a.body)
		}
		if a := d.get(t, "/livez?timeout=1s"); a.status != http.StatusOK {
			t.Errorf("after the fault: %d %s", a.status, a.body)
		}
	}
	w.fault(t, "garden", garden.RoutePing, faults.Fault{Hang: true, Times: 1})
	if a := d.get(t, "/livez?timeout=300ms"); a.status != http.StatusServiceUnavailable || a.took > time.Second {
		t.Errorf("hanging ping: %d in %s %s", a.status, a.took, a.body)
	}
}

// TestSlowWorkerIsNotDead reproduces the field report at a tenth of its scale: Garden's creates
// take 250ms (2.5s), under --probe-timeout 500ms (5s); a caller asks every 600ms (6s) with
// ?timeout=200ms (2s). Every caller arrives after --min-interval, starts a workload and gives up
// before it ends: it must get the previous, fresh result, never a 503.
func TestSlowWorkerIsNotDead(t *testing.T) {
	w := startWorker(t)
	w.needSim(t)
	d := startDeepprobe(t, w, "--probe-timeout", "500ms", "--process-timeout", "400ms", "--cleanup-timeout", "200ms",
		"--min-interval", "500ms", "--grace-time", "1m")
	// The first workload passes at full speed: Kubernetes' startupProbe covers start-up.
	if a := d.get(t, "/healthz"); a.status != http.StatusOK {
		t.Fatalf("first answer %d %s", a.status, a.body)
	}
	w.fault(t, "garden", garden.RouteCreate, faults.Fault{Latency: faults.Duration(250 * time.Millisecond)})
	var fails, inFlight int
	const probes_ = 12
	for i := range probes_ {
		time.Sleep(600 * time.Millisecond) // the caller's period, not synchronisation
		a := d.get(t, "/healthz?timeout=200ms")
		if a.status != http.StatusOK {
			fails++
			t.Errorf("probe %d: %d %s", i, a.status, a.body)
		}
		if a.health.InFlight != nil {
			inFlight++
		}
		if a.took > time.Second {
			t.Errorf("probe %d answered in %s with ?timeout=200ms", i, a.took)
		}
	}
	t.Logf("%d of %d answers were 503; %d were served a fresh result while a workload ran", fails, probes_, inFlight)
	if inFlight == 0 {
		t.Error("no caller's deadline came while a workload ran: the test did not reproduce the case")
	}
	w.clearFaults(t)
}

// TestHungWorkerStillFails: a wedged runtime (creates and destroys hang, nothing progresses)
// gives 503 within every caller's deadline, naming container.create and stalled once the stall
// timeout has passed: busy-watching never hides a wedge.
func TestHungWorkerStillFails(t *testing.T) {
	w := startWorker(t)
	w.needSim(t)
	d := startDeepprobe(t, w, "--probe-timeout", "500ms", "--process-timeout", "400ms", "--cleanup-timeout", "200ms",
		"--min-interval", "500ms", "--stall-timeout", "2s", "--grace-time", "1m")
	if a := d.get(t, "/healthz"); a.status != http.StatusOK {
		t.Fatalf("before the wedge: %d %s", a.status, a.body)
	}
	w.behaviour(t, gardensim.Behaviour{Wedge: true})
	wedged := time.Now()
	var firstStalled time.Duration
	for i := 0; firstStalled == 0; i++ {
		time.Sleep(300 * time.Millisecond) // the caller's period, not synchronisation
		a := d.get(t, "/healthz?timeout=200ms")
		if a.took > time.Second {
			t.Errorf("probe %d answered in %s with ?timeout=200ms", i, a.took)
		}
		if a.status == http.StatusServiceUnavailable && a.health.FailedStage == probes.StageContainerCreate && a.health.Reason == string(probes.ReasonStalled) {
			firstStalled = time.Since(wedged)
			break
		}
		if a.status == http.StatusOK && a.health.Busy != nil {
			t.Fatalf("probe %d: a wedged worker read as busy: %s", i, a.body)
		}
		if time.Since(wedged) > 10*time.Second {
			t.Fatalf("no 503 stalled 10s after the wedge; last answer %d %s", a.status, a.body)
		}
	}
	t.Logf("first 503 stalled %s after the wedge (--stall-timeout 2s, --min-interval 500ms)", firstStalled.Round(10*time.Millisecond))
	// Bound: the next workload starts within --min-interval plus a probe period, and stalls
	// --stall-timeout after its create began.
	if bound := 2*time.Second + 500*time.Millisecond + 300*time.Millisecond + time.Second; firstStalled > bound {
		t.Errorf("first 503 stalled after %s, want within %s", firstStalled, bound)
	}
	w.behaviour(t, gardensim.Behaviour{})
	waitPass(t, d)
	// A stalled create's container may exist, so its volume was kept for the janitor; reap
	// what the wedge left here, as the janitor does in production.
	cs, vs := w.ours(t, d.instance)
	for _, h := range cs {
		_ = w.g.Destroy(context.Background(), h)
	}
	for _, h := range vs {
		_ = w.b.Destroy(context.Background(), h)
	}
	w.assertNoResidue(t, d.instance)
}

// waitPass asks for fresh workloads until one passes.
func waitPass(t *testing.T, d *deepprobe) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		a := d.get(t, "/healthz")
		if a.status == http.StatusOK && a.health.Status == "pass" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no passing workload 30s on: %d %s", a.status, a.body)
		}
		time.Sleep(200 * time.Millisecond) // past --min-interval, for a fresh workload
	}
}

// TestSaturatedWorker: a worker at its container limit is full, not broken: 200 warn with
// reason max_containers by default, 503 with --on-saturation fail.
func TestSaturatedWorker(t *testing.T) {
	for _, tt := range []struct {
		flag       string
		wantStatus int
		wantState  string
	}{{"warn", http.StatusOK, "warn"}, {"fail", http.StatusServiceUnavailable, "fail"}} {
		t.Run(tt.flag, func(t *testing.T) {
			w := startWorker(t, "--garden-max-containers", "1")
			w.needSim(t)
			// A build's container fills the worker.
			v, err := w.b.CreateVolume(context.Background(), baggageclaim.Request{Handle: "build-" + uuid.NewString(), Strategy: baggageclaim.EmptyStrategy()})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.g.Create(context.Background(), garden.Spec{Handle: v.Handle, RootFSPath: "raw://" + v.Path}); err != nil {
				t.Fatal(err)
			}
			d := startDeepprobe(t, w, "--on-saturation", tt.flag)
			a := d.get(t, "/healthz")
			if a.status != tt.wantStatus || a.health.Status != tt.wantState || a.health.Reason != string(probes.ReasonMaxContainers) ||
				a.health.FailedStage != probes.StageContainerCreate || a.health.Saturated != (tt.flag == "warn") {
				t.Fatalf("got %d %s", a.status, a.body)
			}
			if got := d.metric(t, `deepprobe_stage_failures_total{reason="max_containers",stage="container.create"}`); got != 1 {
				t.Errorf("stage failure metric %v, want 1", got)
			}
			w.assertNoResidue(t, d.instance)
		})
	}
}

// TestRuntimeProfiles runs the core scenario on every runtime profile: a healthy worker passes
// all six stages with no --rootfs-import-path, and the depth can be chosen.
func TestRuntimeProfiles(t *testing.T) {
	for _, runtime := range []string{"containerd", "guardian", "houdini"} {
		t.Run(runtime, func(t *testing.T) {
			w := startWorker(t, "--runtime", runtime)
			w.needSim(t)
			d := startDeepprobe(t, w)
			a := d.get(t, "/healthz")
			want := allPass()
			if got := stageLine(a); a.status != http.StatusOK || got != want {
				t.Fatalf("got %d %s\n%s", a.status, got, a.body)
			}
			// Without stream-in, houdini refuses the empty volume as a rootfs; the others take it.
			d2 := startDeepprobe(t, w, "--skip-stages", "volume.stream_in,process.run")
			b := d2.get(t, "/healthz")
			if wantFail := runtime == "houdini"; (b.status != http.StatusOK) != wantFail {
				t.Errorf("without stream-in: %d %s", b.status, b.body)
			}
			w.assertNoResidue(t, d.instance)
			w.assertNoResidue(t, d2.instance)
		})
	}
}

// TestReaperRace: Garden's grace-time reaper race on every workload gives no false 503.
func TestReaperRace(t *testing.T) {
	// On containerd the race is closed at its source (the grace time travels as a property at
	// create); houdini, which learns it from the PUT alone, still races.
	for _, runtime := range []string{"containerd", "houdini"} {
		t.Run(runtime, func(t *testing.T) {
			w := startWorker(t, "--garden-reaper-race-every", "1", "--runtime", runtime)
			w.needSim(t)
			d := startDeepprobe(t, w, "--min-interval", "1ns")
			n := 200
			if testing.Short() {
				n = 50
			}
			for i := range n {
				if a := d.get(t, "/healthz"); a.status != http.StatusOK {
					t.Fatalf("workload %d: %d %s", i, a.status, a.body)
				}
			}
			if got := d.metric(t, `deepprobe_workloads_total{result="pass"}`); got != float64(n) {
				t.Errorf("%v passing workloads, want %d", got, n)
			}
		})
	}
}

// TestLivezUnderACrowd: 1,000 concurrent /livez share upstream rounds: no false 503 and a
// handful of upstream calls, not one per caller.
func TestLivezUnderACrowd(t *testing.T) {
	w := startWorker(t)
	w.needSim(t)
	d := startDeepprobe(t, w)
	tr := &http.Transport{MaxIdleConnsPerHost: 1000}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := hc.Get(d.url + "/livez")
			if err != nil {
				failed.Add(1)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of 1000 /livez failed", n)
	}
	if n := w.calls(t, "garden")[garden.RoutePing]; n > 20 {
		t.Errorf("%d Garden pings for 1000 callers", n)
	}
}

// TestShutdownBoundsHalfSentRequests: a connection that sent half a request does not hold the
// process past its shutdown bound, and a second SIGTERM exits at once.
func TestShutdownBoundsHalfSentRequests(t *testing.T) {
	t.Run("half-sent request", func(t *testing.T) {
		w := startWorker(t)
		d := startDeepprobe(t, w, "--shutdown-timeout", "300ms", "--cleanup-timeout", "200ms")
		conn, err := net.Dial("tcp", strings.TrimPrefix(d.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// Headers complete, body never: the server waits for the rest until its read timeout.
		if _, err := conn.Write([]byte("GET /livez HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// The bound: --shutdown-timeout + 2 x --cleanup-timeout + 1s = 1.7s.
		if code := d.wait(t, 5*time.Second); code != 0 {
			t.Fatalf("exit code %d\n%s", code, d.Logs())
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("took %s to stop, bound 1.7s", took)
		}
	})
	t.Run("second signal", func(t *testing.T) {
		w := startWorker(t)
		w.needSim(t)
		d := startDeepprobe(t, w, "--probe-timeout", "30s", "--grace-time", "1m", "--shutdown-timeout", "30s")
		w.fault(t, "garden", garden.RouteCreate, faults.Fault{Hang: true})
		go func() {
			if resp, err := http.Get(d.url + "/healthz"); err == nil {
				resp.Body.Close()
			}
		}()
		deadline := time.Now().Add(5 * time.Second)
		for w.calls(t, "garden")[garden.RouteCreate] == 0 {
			if time.Now().After(deadline) {
				t.Fatal("workload never reached container.create")
			}
			time.Sleep(5 * time.Millisecond) // waiting on another process
		}
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		waitLog(t, d.proc, "send it again to exit at once")
		start := time.Now()
		_ = d.cmd.Process.Signal(syscall.SIGINT)
		if code := d.wait(t, 5*time.Second); code != 1 {
			t.Fatalf("exit code %d, want 1\n%s", code, d.Logs())
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("second signal took %s", took)
		}
		w.clearFaults(t)
		// Killed mid-workload: what it left carries the marker for the janitor.
		cs, vs := w.ours(t, d.instance)
		for _, h := range cs {
			_ = w.g.Destroy(context.Background(), h)
		}
		for _, h := range vs {
			_ = w.b.Destroy(context.Background(), h)
		}
	})
}

// waitLog waits until p has logged a line containing s.
func waitLog(t *testing.T, p *proc, s string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.Logs(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the logs:\n%s", s, p.Logs())
		}
		time.Sleep(5 * time.Millisecond) // polling another process's output
	}
}
