package main

// Figures of issues 18 and 19: a busy worker (figure 11), a wedged one (12) and Concourse's
// garbage collector (13), each on every runtime profile. They need the simulator's knobs (its
// load, wedge and garbage collector), so they are not taken against real servers. Each run has
// its own workersim and deepprobe, and the runs go side by side: they measure seconds of queues
// and timers, not CPU.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/deepprobe/deepprobe/probes"
)

// profiles are workersim's runtime profiles, in the README's order.
var profiles = []string{"containerd", "guardian", "houdini"}

// The Kubernetes recipe (deploy/kubernetes/worker-statefulset.yaml): the worker's liveness is
// the exec probe `deepprobe check --timeout=2s` every 15s, failureThreshold 5; the check asks
// deepprobe to answer within 90% of its --timeout (?timeout=1.8s) and gives up after 2s, when
// its fallback (the worker's own endpoint, which passes on a busy or wedged worker) decides. The
// startupProbe is the same check every 10s until the first pass. The sidecar runs with
// --probe-timeout=5s --stall-timeout=30s --hard-timeout=5m --grace-time=10m --min-interval=5s
// --max-containers=250 --container-reserve=1, every other flag at its default.
const (
	checkTimeout     = 2 * time.Second
	livenessPeriod   = 15 * time.Second
	startupPeriod    = 10 * time.Second
	failureThreshold = 5
	startupFailures  = 30
	stallTimeout     = 30 * time.Second // the recipe's --stall-timeout (serve's default)
)

// timeDiv divides the worker figures' times: 1 at full scale; 10 below it (bench-quick), where
// workersim's create and destroy times, the load's hold, deepprobe's timings and the probes'
// periods are all a tenth. deepprobe's once-a-second list while a stage is slow
// (probes.WatchInterval) is not scaled.
func (b *bench) timeDiv() time.Duration {
	if b.scale < 1 {
		return 10
	}
	return 1
}

// recipeArgs are the sidecar's flags at the figure's time scale.
func (b *bench) recipeArgs() []string {
	div := b.timeDiv()
	limits := []string{"--max-containers", "250", "--container-reserve", "1"}
	if div == 1 {
		return append([]string{"--probe-timeout", "5s", "--stall-timeout", stallTimeout.String(), "--hard-timeout", "5m",
			"--grace-time", "10m", "--min-interval", "5s"}, limits...)
	}
	d := func(x time.Duration) string { return (x / div).String() }
	return append([]string{"--probe-timeout", d(5 * time.Second), "--process-timeout", d(3 * time.Second),
		"--cleanup-timeout", d(2 * time.Second), "--stall-timeout", d(stallTimeout), "--hard-timeout", d(5 * time.Minute),
		"--grace-time", d(10 * time.Minute), "--min-interval", d(5 * time.Second)}, limits...)
}

// sim is one workersim of a figure's run.
type sim struct {
	garden, bc, admin string
}

// startSim runs a workersim with its own state directory; stop ends it.
func (b *bench) startSim(args ...string) (sim, func(), error) {
	state, err := os.MkdirTemp("", "loadbench-sim-")
	if err != nil {
		return sim{}, nil, err
	}
	base := []string{"--garden-listen", "127.0.0.1:0", "--baggageclaim-listen", "127.0.0.1:0",
		"--admin-listen", "127.0.0.1:0", "--state-dir", state}
	cmd, m, err := b.start("workersim", reWorkersim, append(base, args...)...)
	if err != nil {
		os.RemoveAll(state)
		return sim{}, nil, err
	}
	return sim{m[0], m[1], m[2]}, func() { b.stop(cmd); os.RemoveAll(state) }, nil
}

// scaleSim divides the profile's create and destroy times (the recorded ones with
// --real-latency) by the figure's time scale.
func (b *bench) scaleSim(s sim) error {
	if b.timeDiv() == 1 {
		return nil
	}
	var t struct{ Create, Destroy string }
	if err := getJSON(s.admin+"/garden/timings", &t); err != nil {
		return err
	}
	c, err1 := time.ParseDuration(t.Create)
	d, err2 := time.ParseDuration(t.Destroy)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("workersim's timings %+v", t)
	}
	body := fmt.Sprintf(`{"create":%q,"destroy":%q}`, (c / b.timeDiv()).String(), (d / b.timeDiv()).String())
	if code, err := do("PUT", s.admin+"/garden/timings", body); err != nil || code != 204 && code != 200 {
		return fmt.Errorf("setting timings: %d %v", code, err)
	}
	return nil
}

func getJSON(url string, v any) error {
	code, body, err := get(url)
	if err != nil {
		return err
	}
	if code != 200 {
		return fmt.Errorf("GET %s: %d %s", url, code, body)
	}
	return json.Unmarshal(body, v)
}

// answer is one probe's answer as the kubelet's exec check sees it.
type answer struct {
	at                          time.Duration // when it came, since the figure's origin
	code                        int           // 0: deepprobe did not answer within the check's --timeout
	status, reason, failedStage string
	inFlight                    string // the stage in flight when a 503 had no result to give
	busy                        bool
}

// failed is what the kubelet counts as a failed probe: deepprobe answered, and not 2xx. An
// unanswered check falls back to the worker's own endpoint, which passes.
func (a answer) failed() bool { return a.code != 0 && a.code/100 != 2 }

func (a answer) String() string {
	switch {
	case a.code == 0:
		return "no answer (fallback)"
	case a.status == "warn":
		return fmt.Sprintf("%d warn %s", a.code, a.reason)
	case a.code != 200 && a.reason == "" && a.inFlight != "":
		return fmt.Sprintf("%d no result to give (%s in flight)", a.code, a.inFlight)
	case a.code != 200:
		return fmt.Sprintf("%d %s %s", a.code, a.failedStage, a.reason)
	}
	return fmt.Sprintf("%d %s", a.code, a.status)
}

// probeClient gives up as the check does; every probe is a new connection, as an exec check's.
func (b *bench) probeClient() *http.Client {
	return &http.Client{Timeout: checkTimeout / b.timeDiv(), Transport: &http.Transport{DisableKeepAlives: true}}
}

// ask sends one probe the way the recipe's check does. The answer's time is when it came
// (or when the check gave up).
func (b *bench) ask(c *http.Client, url string, origin time.Time) (a answer) {
	defer func() { a.at = time.Since(origin) }()
	wait := checkTimeout / b.timeDiv() * 9 / 10
	resp, err := c.Get(url + "/healthz?timeout=" + wait.String())
	if err != nil {
		return a
	}
	defer resp.Body.Close()
	a.code = resp.StatusCode // the check goes by the status alone
	var h struct {
		Status, Reason string
		FailedStage    string          `json:"failed_stage"`
		Busy           json.RawMessage `json:"busy"`
		InFlight       struct {
			Stage string `json:"stage"`
		} `json:"in_flight"`
	}
	if json.NewDecoder(resp.Body).Decode(&h) == nil {
		a.status, a.reason, a.failedStage, a.busy, a.inFlight = h.Status, h.Reason, h.FailedStage, len(h.Busy) > 0, h.InFlight.Stage
	}
	return a
}

// startup probes as the startupProbe does, until the first pass, and returns its answers.
func (b *bench) startup(c *http.Client, url string, origin time.Time) ([]answer, error) {
	var out []answer
	tick := time.NewTicker(startupPeriod / b.timeDiv())
	defer tick.Stop()
	for range startupFailures {
		a := b.ask(c, url, origin)
		out = append(out, a)
		if a.code/100 == 2 {
			return out, nil
		}
		<-tick.C
	}
	return out, fmt.Errorf("deepprobe never passed its startup probe: %v", out)
}

// tally counts answers by what they said.
func tally(as []answer) string {
	counts := map[string]int{}
	for _, a := range as {
		counts[a.String()]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d x %s", counts[k], k)
	}
	return strings.Join(parts, ", ")
}

// busyRun is figure 11 on one profile.
type busyRun struct {
	profile          string
	startup, answers []answer
	ours             []time.Duration // container.create of each finished workload
	verdicts         map[string]int  // each finished workload's verdict and reason, from /history
	load             struct {
		Creates, Failures int64
		CreateLatency     struct{ Median, P90, Max string } `json:"create_latency"`
	}
}

// busyOn: 40 loops each create a container, hold it 1s and destroy it, through the profile's
// queues at its recorded latencies (workersim --real-latency --garden-load 40
// --garden-load-hold 1s), while deepprobe at the recipe's settings is probed as the recipe
// probes it for 2 minutes (9 liveness probes, as in the measurement of issue 18).
func (b *bench) busyOn(profile string) (busyRun, error) {
	r := busyRun{profile: profile}
	div := b.timeDiv()
	args := []string{"--runtime", profile, "--real-latency", "--garden-load", "40", "--garden-load-hold", "1s"}
	if div > 1 {
		args = args[:3] // the load starts once the times are scaled
	}
	s, stop, err := b.startSim(args...)
	if err != nil {
		return r, err
	}
	defer stop()
	if div > 1 {
		if err := b.scaleSim(s); err != nil {
			return r, err
		}
		body := fmt.Sprintf(`{"in_flight":40,"hold":%q}`, (time.Second / div).String())
		if code, err := do("PUT", s.admin+"/garden/load", body); err != nil || code/100 != 2 {
			return r, fmt.Errorf("starting the load: %d %v", code, err)
		}
	}
	cmd, url, err := b.deepprobeAt(s.garden, s.bc, true, b.recipeArgs()...)
	if err != nil {
		return r, err
	}
	defer b.stop(cmd)
	c := b.probeClient()
	origin := time.Now()
	if r.startup, err = b.startup(c, url, origin); err != nil {
		return r, err
	}
	n := 1 + int(2*time.Minute/livenessPeriod)
	tick := time.NewTicker(livenessPeriod / div)
	defer tick.Stop()
	for i := range n {
		if i > 0 {
			<-tick.C
		}
		r.answers = append(r.answers, b.ask(c, url, origin))
	}
	var hist []struct {
		Status, Reason string
		Stages         []struct {
			Name       string  `json:"name"`
			DurationMS float64 `json:"duration_ms"`
		} `json:"stages"`
	}
	if err := getJSON(url+"/history", &hist); err != nil {
		return r, err
	}
	r.verdicts = map[string]int{}
	for _, h := range hist {
		r.verdicts[strings.TrimSpace(h.Status+" "+h.Reason)]++
		for _, st := range h.Stages {
			if st.Name == probes.StageContainerCreate {
				r.ours = append(r.ours, time.Duration(st.DurationMS*float64(time.Millisecond)))
			}
		}
	}
	return r, getJSON(s.admin+"/garden/load", &r.load)
}

// wedgeRun is figure 12 on one profile and phase.
type wedgeRun struct {
	profile, phase                   string
	before, during                   []answer
	firstFail, firstStalled, restart time.Duration // since the wedge; 0: never
	firstFailed                      answer
}

// wedgeOn: deepprobe at the recipe's settings passes its startup probe and one liveness probe;
// then every create and destroy hangs (PUT /garden/behaviour {"wedge":true}), either just
// after that probe's answer (the next workload starts a whole period later: the slowest case)
// or just before the next probe (that probe's workload meets the wedge). Probes go on every
// period until the kubelet's restart decision (failureThreshold failures in a row).
func (b *bench) wedgeOn(profile string, justBefore bool) (wedgeRun, error) {
	r := wedgeRun{profile: profile, phase: "just after a probe"}
	if justBefore {
		r.phase = "just before a probe"
	}
	div := b.timeDiv()
	s, stop, err := b.startSim("--runtime", profile, "--real-latency")
	if err != nil {
		return r, err
	}
	defer stop()
	if err := b.scaleSim(s); err != nil {
		return r, err
	}
	cmd, url, err := b.deepprobeAt(s.garden, s.bc, true, b.recipeArgs()...)
	if err != nil {
		return r, err
	}
	defer b.stop(cmd)
	c := b.probeClient()
	origin := time.Now()
	if r.before, err = b.startup(c, url, origin); err != nil {
		return r, err
	}
	period := livenessPeriod / div
	tick := time.NewTicker(period)
	defer tick.Stop()
	a := b.ask(c, url, origin)
	r.before = append(r.before, a)
	if a.code != 200 {
		return r, fmt.Errorf("the liveness probe before the wedge answered %v", a)
	}
	if justBefore {
		<-tick.C // the probe right after the wedge stands for this tick's
	}
	if code, err := do("PUT", s.admin+"/garden/behaviour", `{"wedge":true}`); err != nil || code/100 != 2 {
		return r, fmt.Errorf("wedging: %d %v", code, err)
	}
	defer do("PUT", s.admin+"/garden/behaviour", `{}`)
	wedged := time.Now()
	inARow := 0
	// seen counts one answer; it says whether the kubelet has decided to restart.
	seen := func(a answer) bool {
		r.during = append(r.during, a)
		if !a.failed() {
			inARow = 0
			return false
		}
		inARow++
		since := a.at - wedged.Sub(origin)
		if r.firstFail == 0 {
			r.firstFail, r.firstFailed = since, a
		}
		if r.firstStalled == 0 && a.reason == string(probes.ReasonStalled) {
			r.firstStalled = since
		}
		if inARow == failureThreshold {
			r.restart = since
			return true
		}
		return false
	}
	if justBefore && seen(b.ask(c, url, origin)) {
		return r, nil
	}
	// Enough periods for the stall, the probe that sees it and the failure threshold.
	limit := wedged.Add(stallTimeout/div + time.Second + time.Duration(failureThreshold+3)*period)
	for time.Now().Before(limit) {
		<-tick.C
		if seen(b.ask(c, url, origin)) {
			return r, nil
		}
	}
	return r, nil
}

// gcRun is figure 13 on one profile.
type gcRun struct {
	profile     string
	answers     []answer
	took        time.Duration
	workloads   int
	interrupted float64
	gc          struct {
		Sweeps, ContainersDestroyed, VolumesDestroyed, Errors int64
	}
}

// gcOn: workersim sweeps as a Concourse web node's garbage collector does every second
// (--gc-interval 1s --gc-delay 5ms): every health-check- container and volume it lists is
// destroyed wherever the workload stands. Creates take 20ms and destroys 5ms in the runtime's
// queues (so that a workload spans some of the second); sequential callers, each answer a
// fresh workload or the latest (--min-interval 1ms, every other flag at the recipe's settings).
func (b *bench) gcOn(profile string, n int) (gcRun, error) {
	r := gcRun{profile: profile}
	s, stop, err := b.startSim("--runtime", profile, "--gc-interval", "1s", "--gc-delay", "5ms",
		"--garden-create-time", "20ms", "--garden-destroy-time", "5ms")
	if err != nil {
		return r, err
	}
	defer stop()
	cmd, url, err := b.deepprobeAt(s.garden, s.bc, true, "--probe-timeout", "5s", "--stall-timeout", stallTimeout.String(),
		"--hard-timeout", "5m", "--grace-time", "10m", "--min-interval", "1ms", "--max-containers", "250", "--container-reserve", "1")
	if err != nil {
		return r, err
	}
	defer b.stop(cmd)
	c := &http.Client{Timeout: time.Minute}
	origin := time.Now()
	// A caller may be given the result of a workload whose cleanup is still running, so
	// answers are counted until n distinct workloads (handles) have answered.
	seen := map[string]bool{}
	for len(seen) < n {
		resp, err := c.Get(url + "/healthz")
		if err != nil {
			return r, err
		}
		var h struct {
			Status, Reason, Handle string
			FailedStage            string `json:"failed_stage"`
		}
		err = json.NewDecoder(resp.Body).Decode(&h)
		seen[h.Handle] = true
		resp.Body.Close()
		if err != nil {
			return r, fmt.Errorf("healthz: %d %w", resp.StatusCode, err)
		}
		r.answers = append(r.answers, answer{at: time.Since(origin), code: resp.StatusCode, status: h.Status, reason: h.Reason, failedStage: h.FailedStage})
	}
	r.took, r.workloads = time.Since(origin), len(seen)
	r.interrupted, _ = metric(url, `deepprobe_workloads_total{result="interrupted"}`)
	var st struct {
		Sweeps              int64 `json:"sweeps"`
		ContainersDestroyed int64 `json:"containers_destroyed"`
		VolumesDestroyed    int64 `json:"volumes_destroyed"`
		Errors              int64 `json:"errors"`
	}
	if err := getJSON(s.admin+"/gc", &st); err != nil {
		return r, err
	}
	r.gc.Sweeps, r.gc.ContainersDestroyed, r.gc.VolumesDestroyed, r.gc.Errors = st.Sweeps, st.ContainersDestroyed, st.VolumesDestroyed, st.Errors
	return r, nil
}

// workerFigures takes figures 11, 12 and 13 on every profile, side by side, and judges them
// in order.
func (b *bench) workerFigures() error {
	figs := []struct {
		num, name string
	}{{"11", "11. busy worker"}, {"12", "12. wedged worker"}, {"13", "13. Concourse's garbage collector"}}
	if b.adminURL == "" {
		for _, f := range figs {
			if b.wanted(f.num) {
				b.notTaken(f.name, "needs workersim's load, wedge and garbage collector")
			}
		}
		return nil
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		errs   []error
		busy   []busyRun
		wedges []wedgeRun
		gcs    []gcRun
	)
	// run takes one run in its own goroutine; take keeps its result.
	run := func(what string, take func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := take(); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", what, err))
				mu.Unlock()
			}
		}()
	}
	if b.wanted("11") {
		busy = make([]busyRun, len(profiles))
	}
	if b.wanted("12") {
		wedges = make([]wedgeRun, 2*len(profiles))
	}
	if b.wanted("13") {
		gcs = make([]gcRun, len(profiles))
	}
	for i, p := range profiles {
		if busy != nil {
			run("busy "+p, func() (err error) { busy[i], err = b.busyOn(p); return })
		}
		if wedges != nil {
			run("wedge "+p, func() (err error) { wedges[2*i], err = b.wedgeOn(p, false); return })
			run("wedge "+p, func() (err error) { wedges[2*i+1], err = b.wedgeOn(p, true); return })
		}
		if gcs != nil {
			run("gc "+p, func() (err error) { gcs[i], err = b.gcOn(p, b.n(1000)); return })
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if busy != nil {
		b.judgeBusy(busy)
	}
	if wedges != nil {
		b.judgeWedges(wedges)
	}
	if gcs != nil {
		b.judgeGC(gcs)
	}
	return nil
}

// scaleNote says what a tenth-time run changed.
func (b *bench) scaleNote() string {
	if b.timeDiv() == 1 {
		return ""
	}
	return ", at 1/10 time scale"
}

func (b *bench) judgeBusy(runs []busyRun) {
	for _, r := range runs {
		fails := 0
		for _, a := range r.answers {
			if a.failed() {
				fails++
			}
		}
		var verdicts []string
		for v, n := range r.verdicts {
			verdicts = append(verdicts, fmt.Sprintf("%d x %s", n, v))
		}
		sort.Strings(verdicts)
		measured := fmt.Sprintf("liveness: %d answers of 503 in %d (%s); startup: %s; deepprobe's workloads: %s; "+
			"our container.create median %s, max %s; the load's creates: %d done, %d failed, latency median %s, p90 %s, max %s",
			fails, len(r.answers), tally(r.answers), tally(r.startup), strings.Join(verdicts, ", "), ms(percentile(r.ours, .5)), ms(percentile(r.ours, 1)),
			r.load.Creates, r.load.Failures, r.load.CreateLatency.Median, r.load.CreateLatency.P90, r.load.CreateLatency.Max)
		ratio := 0.0
		if fails > 0 { // the target is zero
			ratio = 3
		}
		b.judge(fmt.Sprintf("11. busy worker, %s (40 creates in flight, recorded latencies, probed as the Kubernetes recipe for 2 min%s)",
			r.profile, b.scaleNote()), measured, "0 answers of 503", ratio)
	}
	b.notes = append(b.notes, "Figure 11 (busy worker): workersim --real-latency --garden-load 40 --garden-load-hold 1s on each runtime profile "+
		"(containerd serves creates and destroys one at a time; Guardian and houdini overlap them); deepprobe at the Kubernetes "+
		"recipe's settings (--probe-timeout 5s --stall-timeout 30s --hard-timeout 5m --grace-time 10m --min-interval 5s "+
		"--max-containers 250 --container-reserve 1, the rest default) probed as the recipe's exec check asks "+
		"(GET /healthz?timeout=1.8s, 90% of check --timeout 2s, given up after 2s): the startupProbe every 10s until the "+
		"first pass, then the livenessProbe every 15s for 2 minutes. \"warn busy\" is 200: the worker is busy, not broken. "+
		"Our create latency is container.create in deepprobe's /history; the load's is workersim's GET /garden/load.")
}

func (b *bench) judgeWedges(runs []wedgeRun) {
	div := b.timeDiv()
	target := stallTimeout/div + livenessPeriod/div
	targetText := fmt.Sprintf("first 503 stalled <= %s (--stall-timeout + a period)", target)
	if div > 1 {
		target += probes.WatchInterval
		targetText = fmt.Sprintf("first 503 stalled <= %s (--stall-timeout + a period, + the unscaled 1s list interval)", target)
	}
	for _, r := range runs {
		measured := "no 503 stalled before the end of the run"
		ratio := 3.0
		if r.firstStalled > 0 {
			measured = fmt.Sprintf("first 503 stalled %.1fs after the wedge", r.firstStalled.Seconds())
			ratio = float64(r.firstStalled) / float64(target)
		}
		if r.firstFail > 0 && r.firstFail < r.firstStalled {
			measured += fmt.Sprintf(" (a 503 first at %.1fs: %s)", r.firstFail.Seconds(), r.firstFailed)
		}
		measured += fmt.Sprintf("; kubelet restart decision (%d failures in a row, every %s) ", failureThreshold, livenessPeriod/div)
		if r.restart > 0 {
			measured += fmt.Sprintf("%.1fs after the wedge", r.restart.Seconds())
		} else {
			measured += "not reached"
		}
		measured += "; answers since the wedge: " + tally(r.during)
		b.judge(fmt.Sprintf("12. wedged worker, %s, wedged %s%s", r.profile, r.phase, b.scaleNote()), measured, targetText, ratio)
	}
	b.notes = append(b.notes, "Figure 12 (wedged worker): workersim --real-latency on each runtime profile; deepprobe at the recipe's settings "+
		"passes its startup probe and one liveness probe, then PUT /garden/behaviour {\"wedge\":true} (every create and destroy hangs, "+
		"nothing progresses) either just after that probe's answer (the next workload starts a period later: the slowest case) or "+
		"just before the next probe. Probes go on every 15s as the recipe's; a check deepprobe does not answer within 2s would fall "+
		"back to the worker's own endpoint (a pass), so only deepprobe's 503s count as failures. The restart decision is the "+
		"fifth failed probe in a row (failureThreshold 5). The target (--stall-timeout + a period) holds for a workload that "+
		"meets the wedge at once; wedged just after a probe, the next workload starts a period later and its stall is "+
		"seen on a once-a-second list, which the recipe's own bound counts: 15s + 31s + 15s = 61s to the first 503, "+
		"121s to the restart.")
}

func (b *bench) judgeGC(runs []gcRun) {
	for _, r := range runs {
		fails, warns := 0, []answer{}
		for _, a := range r.answers {
			if a.failed() {
				fails++
			}
			if a.status == "warn" {
				warns = append(warns, a)
			}
		}
		warnText := "none"
		if len(warns) > 0 {
			warnText = tally(warns)
		}
		measured := fmt.Sprintf("%d answers of 503 in %d (%d workloads answered, in %.0fs); %v workloads interrupted (and re-run); "+
			"warnings: %s; the GC swept %d times, destroying %d containers and %d volumes", fails, len(r.answers), r.workloads,
			r.took.Seconds(), r.interrupted, warnText, r.gc.Sweeps, r.gc.ContainersDestroyed, r.gc.VolumesDestroyed)
		ratio := 0.0
		if fails > 0 {
			ratio = 3
		}
		b.judge(fmt.Sprintf("13. Concourse's garbage collector every 1s, %s, %d workloads", r.profile, r.workloads), measured, "0 answers of 503", ratio)
	}
	b.notes = append(b.notes, "Figure 13 (Concourse's garbage collector): workersim --gc-interval 1s --gc-delay 5ms --garden-create-time 20ms "+
		"--garden-destroy-time 5ms on each runtime profile: every second it lists everything and destroys each handle a web node "+
		"would not know, deepprobe's wherever its workload stands. Sequential GET /healthz, each a fresh workload "+
		"(--min-interval 1ms). An interrupted workload (its own volume or container destroyed under it) is re-run at once; "+
		"two in a row answer 200 warn interrupted.")
}
