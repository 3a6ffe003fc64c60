// Command loadbench measures deepprobe against the simulators (or real servers named by
// DEEPPROBE_GARDEN_URL and DEEPPROBE_BAGGAGECLAIM_URL), side by side with references, and
// writes BENCHMARKS.md. It exits non-zero only when a target is missed by more than 2x.
//
//	go run ./integration/cmd/loadbench -bin bin -out BENCHMARKS.md
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/deepprobe/deepprobe/probes"
	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/probes/marker"
	"github.com/deepprobe/deepprobe/probes/rootfs"
)

func main() {
	bin := flag.String("bin", "bin", "directory holding the deepprobe and workersim binaries")
	out := flag.String("out", "BENCHMARKS.md", "report to write")
	gobench := flag.String("gobench", "", "file with `go test -bench` output to include")
	scale := flag.Float64("scale", 1, "multiply request counts (0.1 for a quick run; below 1 the worker figures 11-13 also run at 1/10 time scale)")
	only := flag.String("figures", "", "comma-separated figure numbers to take, such as 1,11-13 (default: all)")
	flag.Parse()
	b := &bench{bin: *bin, scale: *scale, only: map[string]bool{}}
	for _, f := range strings.Split(*only, ",") {
		f = strings.TrimSpace(f)
		if lo, hi, ok := strings.Cut(f, "-"); ok {
			from, err1 := strconv.Atoi(lo)
			to, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil || from > to {
				fmt.Fprintf(os.Stderr, "loadbench: -figures: %q is not a range such as 11-13\n", f)
				os.Exit(2)
			}
			for i := from; i <= to; i++ {
				b.only[strconv.Itoa(i)] = true
			}
		} else if f != "" {
			b.only[f] = true
		}
	}
	code := 0
	if err := b.run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		code = 1
	}
	if err := b.write(*out, *gobench); err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		code = 1
	}
	if b.missed {
		fmt.Fprintln(os.Stderr, "loadbench: a target was missed by more than 2x")
		code = 1
	}
	if b.failed {
		fmt.Fprintln(os.Stderr, "loadbench: a figure could not be taken (see the report)")
		code = 1
	}
	os.Exit(code)
}

type figure struct {
	name, measured, target, verdict string
}

type bench struct {
	bin                        string
	scale                      float64
	only                       map[string]bool // -figures; empty: all
	figures                    []figure
	notes                      []string
	missed                     bool
	failed                     bool
	overheads                  []profileOverhead // figure 1, by profile
	procsMu                    sync.Mutex        // the worker figures start processes side by side
	procs                      []*exec.Cmd
	gardenURL, bcURL, adminURL string
}

func (b *bench) n(v int) int {
	n := int(float64(v) * b.scale)
	if n < 1 {
		n = 1
	}
	return n
}

// inform records a figure that is reported for context and not judged.
func (b *bench) inform(name, measured string) {
	b.figures = append(b.figures, figure{name, measured, "-", "context, not judged"})
	fmt.Printf("%-40s %-60s (context)\n", name, measured)
}

// judge records a figure: ratio is measured/target for "at most" targets (lower is better).
func (b *bench) judge(name, measured, target string, ratio float64) {
	verdict := "met"
	switch {
	case ratio > 2:
		verdict, b.missed = "MISSED by more than 2x", true
	case ratio > 1:
		verdict = "missed (within 2x)"
	}
	b.figures = append(b.figures, figure{name, measured, target, verdict})
	fmt.Printf("%-40s %-60s target %-20s %s\n", name, measured, target, verdict)
}

var (
	reWorkersim = regexp.MustCompile(`workersim ready" garden=(\S+) baggageclaim=(\S+) admin=(\S+)`)
	reDeepprobe = regexp.MustCompile(`deepprobe listening" addr=(\S+)`)
)

// start runs a binary and returns the submatches of the first line matching re.
func (b *bench) start(name string, re *regexp.Regexp, args ...string) (*exec.Cmd, []string, error) {
	cmd := exec.Command(filepath.Join(b.bin, name), args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	b.procsMu.Lock()
	b.procs = append(b.procs, cmd)
	b.procsMu.Unlock()
	found := make(chan []string, 1)
	go func() {
		// Read up to the ready line, then discard: the benchmark must not pay for the logs.
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1:]
				break
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case m := <-found:
		return cmd, m, nil
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		return nil, nil, fmt.Errorf("%s did not start", name)
	}
}

func (b *bench) stop(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (b *bench) deepprobe(args ...string) (*exec.Cmd, string, error) {
	return b.deepprobeAt(b.gardenURL, b.bcURL, false, args...)
}

// deepprobeAt runs a deepprobe on the given servers. With shipped its janitor runs at its
// default interval, as it does in every recipe; otherwise it is off (the figure measures the
// workload alone).
func (b *bench) deepprobeAt(gardenURL, bcURL string, shipped bool, args ...string) (*exec.Cmd, string, error) {
	base := []string{"serve", "--listen", "127.0.0.1:0", "--garden-url", gardenURL, "--baggageclaim-url", bcURL,
		"--instance", "bench-" + uuid.NewString()[:8]}
	if !shipped {
		base = append(base, "--janitor-interval", "0")
	}
	if p := os.Getenv("DEEPPROBE_ROOTFS_IMPORT_PATH"); p != "" {
		base = append(base, "--rootfs-import-path", p)
	}
	cmd, m, err := b.start("deepprobe", reDeepprobe, append(base, args...)...)
	if err != nil {
		return nil, "", err
	}
	return cmd, "http://" + m[0], nil
}

func (b *bench) run() error {
	defer func() {
		for _, p := range b.procs {
			if p.ProcessState == nil {
				b.stop(p)
			}
		}
	}()
	if g, bc := os.Getenv("DEEPPROBE_GARDEN_URL"), os.Getenv("DEEPPROBE_BAGGAGECLAIM_URL"); g != "" && bc != "" {
		b.gardenURL, b.bcURL = g, bc
		b.notes = append(b.notes, "Run against real servers: "+g+" and "+bc+"; the figures that need the simulators' knobs "+
			"(1b, 5, 6, 11-13) are not taken, and figures 1 and 4 (each of its two loads) fit their workloads in a "+
			b.budget().String()+" budget each at the measured speed of a real workload.")
	} else {
		state, err := os.MkdirTemp("", "loadbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(state)
		_, m, err := b.start("workersim", reWorkersim, "--garden-listen", "127.0.0.1:0", "--baggageclaim-listen", "127.0.0.1:0",
			"--admin-listen", "127.0.0.1:0", "--state-dir", state)
		if err != nil {
			return err
		}
		b.gardenURL, b.bcURL, b.adminURL = m[0], m[1], m[2]
		b.notes = append(b.notes, "Simulator runtime profile: containerd (workersim's default, what Concourse users run), answering "+
			"at simulator speed (~0.2 ms a call); see the runtime table in README.md.")
		// workersim logs every request to a pipe we drain; that is part of its cost.
	}
	steps := []struct {
		name string
		run  func() error
	}{
		{"1. workload overhead", b.overhead}, {"1b. workload overhead at recorded containerd speed", b.overheadRecorded},
		{"2. served throughput", b.served}, {"3. storm", b.storm}, {"4. footprint", b.footprint},
		{"5. slow worker", b.slowWorker}, {"6. slow worker verdicts", b.slowVerdicts}, {"7. cost to the worker", b.costToWorker},
		{"8. hostile input and load", b.hostile},
		{"9. fair slots", b.fairSlots}, {"10. 4 MiB upstream messages", b.hugeMessages},
		{"11-13. busy, wedged, Concourse's garbage collector", b.workerFigures},
	}
	var took []string
	for _, step := range steps {
		if !b.wanted(strings.Split(strings.TrimSuffix(strings.SplitN(step.name, " ", 2)[0], "."), "-")...) {
			continue
		}
		// A figure that cannot be taken (a real server's answer the harness did not expect, say)
		// is reported, and the run goes on to the next.
		start := time.Now()
		if err := step.run(); err != nil {
			b.failed = true
			b.notes = append(b.notes, fmt.Sprintf("Figure %s could not be taken: %v", step.name, err))
			fmt.Fprintf(os.Stderr, "loadbench: %s: %v\n", step.name, err)
		}
		took = append(took, fmt.Sprintf("%s %.0fs", strings.SplitN(step.name, " ", 2)[0], time.Since(start).Seconds()))
	}
	b.notes = append(b.notes, "Time each figure took (seconds): "+strings.Join(took, ", ")+".")
	return nil
}

// wanted says whether any of the figures numbered is among -figures (all are when the flag is
// empty). A range such as 11-13 names its ends and what lies between.
func (b *bench) wanted(nums ...string) bool {
	if len(b.only) == 0 {
		return true
	}
	if len(nums) == 2 {
		lo, err1 := strconv.Atoi(nums[0])
		hi, err2 := strconv.Atoi(nums[1])
		if err1 == nil && err2 == nil {
			for i := lo; i <= hi; i++ {
				if b.only[strconv.Itoa(i)] {
					return true
				}
			}
			return false
		}
	}
	for _, n := range nums {
		if b.only[n] {
			return true
		}
	}
	return false
}

// notTaken records a figure that needs the simulators' knobs: against real servers it is
// reported, not taken, and that is not a failure.
func (b *bench) notTaken(name, why string) {
	b.figures = append(b.figures, figure{name, "-", "-", "not taken against real servers (" + why + ")"})
	fmt.Printf("%-40s not taken against real servers (%s)\n", name, why)
}

// budget is how long a figure that runs workloads one after another may take: such figures
// are scaled to the runtime's measured speed (a real worker's workload takes ~0.5s, the fast
// simulator's ~3ms), so that make bench finishes against a real worker.
func (b *bench) budget() time.Duration {
	return max(10*time.Second, time.Duration(float64(80*time.Second)*b.scale))
}

// fit returns how many of want units, each taking about per, fit in the budget (at least 1),
// and a note saying so when that is fewer than want.
func (b *bench) fit(want int, per time.Duration) (int, string) {
	if per <= 0 || time.Duration(want)*per <= b.budget() {
		return want, ""
	}
	n := max(1, int(b.budget()/per))
	return n, fmt.Sprintf(" (scaled from %d to the %s budget at the measured %s each)", want, b.budget(), ms(per))
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConns: 2000, MaxIdleConnsPerHost: 2000, MaxConnsPerHost: 0}}

func get(url string) (int, []byte, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

func do(method, url, body string) (int, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	i := int(float64(len(s)-1) * p)
	return s[i]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

// rawWorkload is the same sequence of calls the workload makes, sent straight through the
// wire clients with none of deepprobe's prober, server or bookkeeping. A destroy counts as
// done on the same answers as in the product (garden.ErrGone, baggageclaim.ErrGone: one
// definition), so Garden's grace-time reaper race on containerd does not abort the run.
func (b *bench) rawWorkload() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g, bc, err := b.clients()
	if err != nil {
		return err
	}
	h := marker.HandlePrefix + uuid.NewString()
	props := map[string]string{marker.MarkerProperty: marker.MarkerValue, marker.CreatedAtProperty: time.Now().UTC().Format(time.RFC3339)}
	strategy := baggageclaim.EmptyStrategy()
	if p := os.Getenv("DEEPPROBE_ROOTFS_IMPORT_PATH"); p != "" {
		strategy = baggageclaim.ImportStrategy(p)
	}
	v, err := bc.CreateVolume(ctx, baggageclaim.Request{Handle: h, Strategy: strategy, Properties: props})
	if err != nil {
		return fmt.Errorf("raw volume create: %w", err)
	}
	// On an error, what was made is destroyed before returning; on success the last two
	// calls are the workload's own destroys.
	volumeLeft, cowLeft, containerLeft := true, false, false
	defer func() {
		if containerLeft {
			_ = g.Destroy(context.WithoutCancel(ctx), h)
		}
		if cowLeft {
			_ = bc.Destroy(context.WithoutCancel(ctx), h+probes.COWSuffix)
		}
		if volumeLeft {
			_ = bc.Destroy(context.WithoutCancel(ctx), h)
		}
	}()
	if err := bc.StreamIn(ctx, h, rawTar); err != nil {
		return fmt.Errorf("raw stream-in: %w", err)
	}
	if _, err := bc.CreateVolume(ctx, baggageclaim.Request{Handle: h + probes.COWSuffix, Strategy: baggageclaim.COWStrategy(h), Properties: props}); err != nil {
		return fmt.Errorf("raw copy-on-write volume: %w", err)
	}
	cowLeft = true
	cprops := map[string]string{probes.GraceTimeProperty: strconv.FormatInt(int64(time.Minute), 10)}
	for k, v := range props {
		cprops[k] = v
	}
	if _, err := g.Create(ctx, garden.Spec{Handle: h, GraceTime: time.Minute, RootFSPath: "raw://" + v.Path, Properties: cprops}); err != nil {
		return fmt.Errorf("raw container create: %w", err)
	}
	containerLeft = true
	if err := g.SetGraceTime(ctx, h, time.Minute); err != nil {
		return fmt.Errorf("raw grace time: %w", err)
	}
	if err := g.Run(ctx, h, garden.ProcessSpec{Path: probes.ProcessPath, User: "0:0"}); err != nil {
		return fmt.Errorf("raw process run: %w", err)
	}
	containerLeft = false
	if err := g.Destroy(ctx, h); err != nil && !errors.Is(err, garden.ErrGone) {
		return fmt.Errorf("raw container destroy: %w", err)
	}
	cowLeft = false
	if err := bc.Destroy(ctx, h+probes.COWSuffix); err != nil && !errors.Is(err, baggageclaim.ErrGone) {
		return fmt.Errorf("raw copy-on-write volume destroy: %w", err)
	}
	volumeLeft = false
	if err := bc.Destroy(ctx, h); err != nil && !errors.Is(err, baggageclaim.ErrGone) {
		return fmt.Errorf("raw volume destroy: %w", err)
	}
	return nil
}

// rawTar is what the workload streams in.
var rawTar = func() []byte {
	b, err := rootfs.Tar(runtime.GOARCH)
	if err != nil {
		panic(err)
	}
	return b
}()

// clients returns wire clients on the harness's shared connection pool.
func (b *bench) clients() (*garden.Client, *baggageclaim.Client, error) {
	g, err := garden.NewClient(b.gardenURL, client)
	if err != nil {
		return nil, nil, err
	}
	bc, err := baggageclaim.NewClient(b.bcURL, client)
	return g, bc, err
}

// slowVerdicts: figure 6, the field report of a slow worker called dead. Garden's creates take
// 2.5s (under --probe-timeout 5s) and a caller asks every 6s with ?timeout=2s, as the
// Kubernetes manifest's probe would; every answer must be 200. With -scale below 1 every time
// is divided by 10 (250ms creates, every 600ms, ?timeout=200ms), which keeps the proportions.
func (b *bench) slowVerdicts() error {
	if b.adminURL == "" {
		b.notTaken("6. slow worker verdicts", "needs the simulator's fault injection")
		return nil
	}
	unit := time.Second
	if b.scale < 1 {
		unit = 100 * time.Millisecond
	}
	cmd, url, err := b.deepprobe("--probe-timeout", (5 * unit).String(), "--process-timeout", (3 * unit).String(),
		"--cleanup-timeout", (2 * unit).String(), "--min-interval", (5 * unit).String(), "--grace-time", "1m")
	if err != nil {
		return err
	}
	defer b.stop(cmd)
	if code, _, err := get(url + "/healthz"); err != nil || code != 200 {
		return fmt.Errorf("slow verdicts: first workload %d %v", code, err)
	}
	if code, err := do("PUT", b.adminURL+"/garden/faults/create", fmt.Sprintf(`{"latency":%q}`, (25*unit/10).String())); err != nil || code != 204 {
		return fmt.Errorf("setting latency: %d %v", code, err)
	}
	defer do("DELETE", b.adminURL+"/garden/faults", "")
	const n = 10
	false503 := 0
	for range n {
		time.Sleep(6 * unit)
		code, _, err := get(url + "/healthz?timeout=" + (2 * unit).String())
		if err != nil {
			return err
		}
		if code == 503 {
			false503++
		}
	}
	label := "6. slow worker verdicts (creates 2.5s, ?timeout=2s every 6s)"
	if b.scale < 1 {
		label += ", at 1/10 time scale"
	}
	ratio := 0.0
	if false503 > 0 { // the target is zero: any false 503 misses it outright
		ratio = 3
	}
	b.judge(label, fmt.Sprintf("%d false 503s out of %d", false503, n), "0 false 503s", ratio)
	return nil
}

// profileOverhead is figure 1 measured on one runtime profile.
type profileOverhead struct {
	profile      string
	raw, deep    time.Duration // medians
	ratio        float64
	n            int
	scaled       string        // says so when n was cut to the time budget
	createMedian time.Duration // container.create's median, for the cost-to-worker figure
}

// overhead: figure 1 on the servers under test (the fast simulator, or real servers).
func (b *bench) overhead() error {
	profile := "fast simulator (containerd profile, ~0.2 ms a call)"
	if b.adminURL == "" {
		profile = "real servers"
	}
	po, err := b.measureOverhead(profile, b.gardenURL, b.bcURL, b.n(2000))
	if err != nil {
		return err
	}
	// The round trip to deepprobe alone: an answer that calls nothing upstream (a 404).
	cmd, url, err := b.deepprobe()
	if err != nil {
		return err
	}
	defer b.stop(cmd)
	var hop []time.Duration
	for range b.n(2000) {
		start := time.Now()
		if _, _, err := get(url + "/no-such-path"); err != nil {
			return err
		}
		hop = append(hop, time.Since(start))
	}
	b.notes = append(b.notes, fmt.Sprintf("Figure 1 (%s): deepprobe adds %s to the median workload; the loopback round trip "+
		"from the caller to deepprobe alone (an answer that calls nothing upstream) has a median of %s on this machine. "+
		"\"Where the workload overhead goes\" below breaks the rest down; figure 1b measures the same at the speed recorded "+
		"for Concourse's containerd runtime.", profile, ms(po.deep-po.raw), ms(percentile(hop, .5))))
	b.judge("1. workload overhead (median), "+profile, fmt.Sprintf("deepprobe %s vs raw calls %s = %.2fx, n=%d%s",
		ms(po.deep), ms(po.raw), po.ratio, po.n, po.scaled), "<= 1.10x", po.ratio/1.10)
	return nil
}

// overheadRecorded: figure 1b, the same against a simulator that answers every call after the
// round trip recorded for Concourse's containerd runtime (workersim --real-latency).
func (b *bench) overheadRecorded() error {
	if b.adminURL == "" {
		b.notTaken("1b. workload overhead at recorded containerd latencies", "needs the simulator; figure 1 measures the real servers directly")
		return nil
	}
	state, err := os.MkdirTemp("", "loadbench-real-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(state)
	cmd, m, err := b.start("workersim", reWorkersim, "--garden-listen", "127.0.0.1:0", "--baggageclaim-listen", "127.0.0.1:0",
		"--admin-listen", "", "--state-dir", state, "--runtime", "containerd", "--real-latency")
	if err != nil {
		return err
	}
	defer b.stop(cmd)
	po, err := b.measureOverhead("recorded containerd latencies", m[0], m[1], b.n(200))
	if err != nil {
		return err
	}
	b.judge("1b. workload overhead (median), recorded containerd latencies", fmt.Sprintf("deepprobe %s vs raw calls %s = %.3fx, n=%d%s",
		ms(po.deep), ms(po.raw), po.ratio, po.n, po.scaled), "<= 1.10x", po.ratio/1.10)
	return nil
}

// measureOverhead interleaves n raw workloads (the same calls, straight through the clients)
// and n deep checks through a deepprobe on the given servers, and compares their medians.
func (b *bench) measureOverhead(profile, gardenURL, bcURL string, n int) (profileOverhead, error) {
	g, bc := b.gardenURL, b.bcURL
	b.gardenURL, b.bcURL = gardenURL, bcURL
	defer func() { b.gardenURL, b.bcURL = g, bc }()
	cmd, url, err := b.deepprobe("--min-interval", "1ns")
	if err != nil {
		return profileOverhead{}, err
	}
	defer b.stop(cmd)
	var raw, deep, create []time.Duration
	const probe = 3 // pairs timed before n is fitted to the budget
	scaled := ""
	began := time.Now()
	for i := 0; i < n; i++ { // interleaved, so that both see the same machine state
		if i == probe {
			n, scaled = b.fit(n, time.Since(began)/probe)
		}
		start := time.Now()
		if err := b.rawWorkload(); err != nil {
			return profileOverhead{}, err
		}
		raw = append(raw, time.Since(start))
		start = time.Now()
		code, body, err := get(url + "/healthz")
		if err != nil || code != 200 {
			return profileOverhead{}, fmt.Errorf("healthz: %d %v %s", code, err, body)
		}
		deep = append(deep, time.Since(start))
		if d, ok := stageDuration(body, "container.create"); ok {
			create = append(create, d)
		}
	}
	po := profileOverhead{profile: profile, raw: percentile(raw, .5), deep: percentile(deep, .5), n: len(deep), scaled: scaled,
		createMedian: percentile(create, .5)}
	po.ratio = float64(po.deep) / float64(po.raw)
	b.overheads = append(b.overheads, po)
	return po, nil
}

// stageDuration reads one stage's duration from a /healthz body.
func stageDuration(body []byte, stage string) (time.Duration, bool) {
	var h struct {
		Stages []struct {
			Name       string  `json:"name"`
			DurationMS float64 `json:"duration_ms"`
		} `json:"stages"`
	}
	if json.Unmarshal(body, &h) != nil {
		return 0, false
	}
	for _, s := range h.Stages {
		if s.Name == stage {
			return time.Duration(s.DurationMS * float64(time.Millisecond)), true
		}
	}
	return 0, false
}

// hostile: figure 8, the adversarial pass's three numbers: metric series before and after a
// flood of made-up HTTP methods, /livez false 503s under 3,000 concurrent callers, and
// deepprobe's RSS while 20,000 idle connections are held open (at most --max-connections of
// them are accepted; the rest wait in the kernel's queue). Loopback only, bounded counts.
func (b *bench) hostile() error {
	cmd, url, err := b.deepprobe()
	if err != nil {
		return err
	}
	defer b.stop(cmd)
	series := func() (int, error) {
		code, body, err := get(url + "/metrics")
		if err != nil || code != 200 {
			return 0, fmt.Errorf("metrics: %d %v", code, err)
		}
		n := 0
		for _, line := range strings.Split(string(body), "\n") {
			if line != "" && !strings.HasPrefix(line, "#") {
				n++
			}
		}
		return n, nil
	}
	before, err := series()
	if err != nil {
		return err
	}
	for i := range b.n(20000) {
		req, _ := http.NewRequest(fmt.Sprintf("M%d", i), url+"/healthz", nil)
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	after, err := series()
	if err != nil {
		return err
	}

	// The crowd: callers answered anything but 200 are false 503s; connections the server's
	// limiter shed (it holds a connection with no free slot for up to 2 s, then closes it: an
	// EOF or a reset, never an answer) are load shed, counted apart.
	crowd := b.n(3000)
	var false503, shed atomic.Int32
	var firstErr, firstShed atomic.Value
	var wg sync.WaitGroup
	for range crowd {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, err := get(url + "/livez")
			switch {
			case err != nil:
				shed.Add(1)
				firstShed.CompareAndSwap(nil, err.Error())
			case code != 200:
				false503.Add(1)
				firstErr.CompareAndSwap(nil, fmt.Sprintf("status %d", code))
			}
		}()
	}
	wg.Wait()
	crowdText := ""
	if e := firstErr.Load(); e != nil {
		crowdText = fmt.Sprintf(" (first: %s)", e)
	}
	if n := shed.Load(); n > 0 {
		crowdText += fmt.Sprintf("; %d connections shed by the limiter after waiting for a slot (first: %s)", n, firstShed.Load())
	}

	// The status file is opened before the connections: with 20,000 of them open the harness
	// may have no descriptor left to open it with.
	status, err := os.Open(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		return err
	}
	defer status.Close()
	idle := b.n(20000)
	host := strings.TrimPrefix(url, "http://")
	var conns []net.Conn
	dialer := net.Dialer{Timeout: 2 * time.Second}
	for range idle {
		c, err := dialer.Dial("tcp", host)
		if err != nil {
			break // the kernel's queue is full: what was opened is held
		}
		conns = append(conns, c)
	}
	time.Sleep(time.Second) // let deepprobe accept what it will
	rss, err := readRSS(status)
	if err != nil {
		return fmt.Errorf("deepprobe's RSS with %d idle connections open: %w", len(conns), err)
	}
	for _, c := range conns {
		_ = c.Close()
	}
	b.judge("8. hostile input and load", fmt.Sprintf("metric series %d before and %d after %d made-up methods; %d of %d concurrent /livez answered other than 200%s; "+
		"RSS %d KiB with %d idle connections open", before, after, b.n(20000), false503.Load(), crowd, crowdText, rss, len(conns)),
		"at most 1 new series (method=\"other\"), 0 false 503s, RSS < 64 MiB",
		max(float64(max(after-before-1, 0))*3, float64(false503.Load())*3, float64(rss)/(64*1024)))
	return nil
}

// costToWorker: figure 7. Concourse's containerd runtime serialises every container create,
// builds' included, behind one lock, so the share of that lock deepprobe holds is its create
// time over the time between two of its workloads: share = t_create / period. t_create is
// container.create's median at recorded containerd speed (figure 1b; on real servers, their
// own); the periods are the shipped caller settings, and --min-interval bounds the worst case
// (a caller asking continuously still starts at most one workload per --min-interval).
func (b *bench) costToWorker() error {
	var create time.Duration
	source := ""
	for _, po := range b.overheads {
		if po.createMedian > 0 && (po.profile == "recorded containerd latencies" || po.profile == "real servers") {
			create, source = po.createMedian, po.profile
		}
	}
	if create == 0 {
		return fmt.Errorf("no container.create time at containerd speed was measured (figure 1b or real servers)")
	}
	callers := []struct {
		name   string
		period time.Duration
	}{
		{"Kubernetes liveness (periodSeconds 15)", 15 * time.Second},
		{"docker-compose healthcheck (interval 15s)", 15 * time.Second},
		{"BOSH (background --interval 30s)", 30 * time.Second},
		{"worst case: --min-interval 5s", 5 * time.Second},
	}
	var parts []string
	worstDocumented := 0.0
	for i, c := range callers {
		share := float64(create) / float64(c.period) * 100
		parts = append(parts, fmt.Sprintf("%s %.2f%%", c.name, share))
		if i < 3 {
			worstDocumented = max(worstDocumented, share)
		}
	}
	b.judge("7. cost to the worker (share of containerd's create lock)", strings.Join(parts, "; "), "<= 1% at the documented settings", worstDocumented/1)
	b.notes = append(b.notes, fmt.Sprintf("Figure 7: share = t_create / period, with t_create = %s (container.create's median, %s). "+
		"Kubernetes' startupProbe (every 10s) only runs until the worker first passes.", ms(create), source))
	return nil
}

// load runs concurrency clients for n requests in total and returns latencies and the rate.
func load(url string, concurrency, n int) ([]time.Duration, float64, error) {
	var next atomic.Int64
	lat := make([]time.Duration, n)
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				t := time.Now()
				code, _, err := get(url)
				lat[i] = time.Since(t)
				if err == nil && code != 200 {
					err = fmt.Errorf("status %d", code)
				}
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return lat, float64(n) / time.Since(start).Seconds(), firstErr
}

// served: figure 2.
func (b *bench) served() error {
	cmd, url, err := b.deepprobe("--min-interval", "1h")
	if err != nil {
		return err
	}
	defer b.stop(cmd)
	if code, _, err := get(url + "/healthz"); err != nil || code != 200 {
		return fmt.Errorf("warm-up: %d %v", code, err)
	}
	ref := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Like Concourse's built-in check (worker/healthchecker.go): GET Baggageclaim's
		// /volumes, unfiltered, and Garden's /ping, on every request.
		c1, _, e1 := get(b.bcURL + "/volumes")
		c2, _, e2 := get(b.gardenURL + "/ping")
		if e1 != nil || e2 != nil || c1 != 200 || c2 != 200 {
			w.WriteHeader(503)
			return
		}
		_, _ = w.Write([]byte(`{"garden":{"healthy":true},"baggageclaim":{"healthy":true}}`))
	})}
	ln, err := listenLoopback()
	if err != nil {
		return err
	}
	go func() { _ = ref.Serve(ln) }()
	defer ref.Close()
	refURL := "http://" + ln.Addr().String() + "/"
	n := b.n(50000)
	measure := func(name string, judged bool) error {
		dl, drate, err := load(url+"/healthz", 64, n)
		if err != nil {
			return fmt.Errorf("cached healthz: %w", err)
		}
		rl, rrate, err := load(refURL, 64, n)
		if err != nil {
			return fmt.Errorf("reference: %w", err)
		}
		ratio := drate / rrate
		text := fmt.Sprintf("%.0f req/s (p99 %s) vs reference %.0f req/s (p99 %s) = %.1fx, n=%d",
			drate, ms(percentile(dl, .99)), rrate, ms(percentile(rl, .99)), ratio, n)
		if judged {
			b.judge(name, text, ">= 10x", 10/ratio)
		} else {
			b.inform(name, text)
		}
		return nil
	}
	if b.adminURL == "" {
		return measure("2. served requests (64 clients, cached)", true)
	}
	if err := measure("2a. served, empty simulator", false); err != nil {
		return err
	}
	// A busy worker holds hundreds of volumes (resource and task caches), all of which
	// Concourse's check lists on every request; deepprobe's cached answer does not depend on them.
	const volumes = 300
	for i := range volumes {
		h := fmt.Sprintf("bench-foreign-%d-%s", i, uuid.NewString()[:8])
		code, err := do("POST", b.bcURL+"/volumes", `{"handle":"`+h+`","strategy":{"type":"empty"},"properties":{"purpose":"bench"}}`)
		if err != nil || code != 201 {
			return fmt.Errorf("populating: %d %v", code, err)
		}
		defer do("DELETE", b.bcURL+"/volumes/"+h, "")
	}
	return measure(fmt.Sprintf("2b. served, simulator holding %d volumes", volumes), true)
}

// storm: figure 3, twice: on fresh connections (as kubelets probe) and on connections
// opened beforehand, which isolates deepprobe's coalescing from 1,000 TCP handshakes on a
// 2-core machine shared with the load generator.
func (b *bench) storm() error {
	for _, warm := range []bool{false, true} {
		if err := b.stormOnce(warm); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) stormOnce(warm bool) error {
	cmd, url, err := b.deepprobe("--min-interval", "1h")
	if err != nil {
		return err
	}
	defer b.stop(cmd)
	const n = 1000
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxIdleConns: n}}
	defer c.CloseIdleConnections()
	call := func(path string) (int, error) {
		resp, err := c.Get(url + path)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	var wg sync.WaitGroup
	if warm {
		// Open n connections with a local-only request (a 404), and keep them idle.
		for range n {
			wg.Add(1)
			go func() { defer wg.Done(); _, _ = call("/warm-up") }()
		}
		wg.Wait()
	}
	lat := make([]time.Duration, n)
	codes := make([]int, n)
	gate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			t := time.Now()
			codes[i], _ = call("/healthz")
			lat[i] = time.Since(t)
		}()
	}
	close(gate)
	wg.Wait()
	ok := 0
	for _, c := range codes {
		if c == 200 {
			ok++
		}
	}
	workloads, _ := metric(url, `deepprobe_workloads_total{result="pass"}`)
	sum, _ := metric(url, "deepprobe_workload_duration_seconds_sum")
	workloadTime := time.Duration(sum * float64(time.Second))
	p99 := percentile(lat, .99)
	text := fmt.Sprintf("%v workload(s), %d/%d answered 200, p99 %s, workload %s", workloads, ok, n, ms(p99), ms(workloadTime))
	if !warm {
		b.inform("3a. storm: 1,000 at once, new connections", text)
		return nil
	}
	b.judge("3b. storm: 1,000 at once, open connections", text, "1 workload, all answered, p99 <= workload + 50ms",
		max(workloads, float64(n-ok+1))*float64(p99)/float64(workloadTime+50*time.Millisecond))
	return nil
}

func metric(url, series string) (float64, error) {
	_, body, err := get(url + "/metrics")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	return 0, fmt.Errorf("no series %s", series)
}

func rssKiB(pid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return readRSS(f)
}

// readRSS reads VmRSS from an open /proc/<pid>/status, from its start (each read is fresh).
func readRSS(f *os.File) (int, error) {
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<20))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
		}
	}
	return 0, errors.New("no VmRSS")
}

// footprint: figure 4, one process through three states.
func (b *bench) footprint() error {
	// 1ms: the 100k concurrent requests are mostly answered from cache, and sequential
	// requests (each slower than 1ms) each run a workload.
	cmd, url, err := b.deepprobe("--min-interval", "1ms")
	if err != nil {
		return err
	}
	defer b.stop(cmd)
	snap := func() (int, float64) {
		time.Sleep(500 * time.Millisecond) // let idle connections and the GC settle
		rss, _ := rssKiB(cmd.Process.Pid)
		g, _ := metric(url, "go_goroutines")
		return rss, g
	}
	workloads := func() float64 {
		p, _ := metric(url, `deepprobe_workloads_total{result="pass"}`)
		return p
	}
	get(url + "/healthz")
	idleRSS, idleG := snap()
	// 16 callers, in rounds of 1,000 requests, up to the time budget: against a real worker
	// every caller waits for a workload in flight (~0.5s) whenever --min-interval has passed.
	wantReq, nreq, reqScaled := b.n(100000), 0, ""
	for began := time.Now(); nreq < wantReq; nreq += min(1000, wantReq-nreq) {
		if time.Since(began) > b.budget() {
			reqScaled = fmt.Sprintf(" (stopped at the %s budget; %d wanted)", b.budget(), wantReq)
			break
		}
		if _, _, err := load(url+"/healthz", 16, min(1000, wantReq-nreq)); err != nil {
			return err
		}
	}
	reqRSS, reqG := snap()
	// Sequential workloads, up to the time budget (a real worker's take ~0.5s each).
	want, scaled := float64(b.n(10000)), ""
	start, began := workloads(), time.Now()
	for workloads()-start < want {
		if time.Since(began) > b.budget() {
			scaled = fmt.Sprintf(" (stopped at the %s budget; %v wanted)", b.budget(), want)
			break
		}
		if _, _, err := load(url+"/healthz", 1, 10); err != nil {
			return err
		}
	}
	nwl := workloads() - start
	wlRSS, wlG := snap()
	growth := float64(wlRSS) / float64(reqRSS)
	b.judge("4. footprint (RSS, goroutines)", fmt.Sprintf("idle %d KiB, %v goroutines; after %d requests%s %d KiB, %v; after %v more workloads%s %d KiB, %v (growth %.2fx)",
		idleRSS, idleG, nreq, reqScaled, reqRSS, reqG, nwl, scaled, wlRSS, wlG, growth), "RSS < 30 MiB, no growth between the last two",
		max(float64(max(idleRSS, reqRSS, wlRSS))/(30*1024), growth/1.10))
	return nil
}

// slowWorker: figure 5.
func (b *bench) slowWorker() error {
	if b.adminURL == "" {
		b.notTaken("5. slow worker", "needs the simulator's fault injection")
		return nil
	}
	if code, err := do("PUT", b.adminURL+"/garden/faults/create", `{"latency":"2s"}`); err != nil || code != 204 {
		return fmt.Errorf("setting latency: %d %v", code, err)
	}
	defer do("DELETE", b.adminURL+"/garden/faults", "")
	cmd, url, err := b.deepprobe("--min-interval", "1ns", "--probe-timeout", "5s")
	if err != nil {
		return err
	}
	defer b.stop(cmd)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	maxVolumes := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				t := time.Now()
				_, _, _ = get(url + "/healthz?timeout=1s")
				mu.Lock()
				lat = append(lat, time.Since(t))
				mu.Unlock()
			}
		}()
	}
	// Sample the worker: at most one workload's health-check volumes may exist at any moment.
	for ctx.Err() == nil {
		_, body, err := get(b.bcURL + "/volumes?" + marker.MarkerProperty + "=" + marker.MarkerValue)
		if err == nil {
			// A workload's volumes are its own and its copy-on-write child (<handle>-cow).
			var vs []struct {
				Handle string `json:"handle"`
			}
			if json.Unmarshal(body, &vs) == nil {
				runs := map[string]bool{}
				for _, v := range vs {
					runs[strings.TrimSuffix(v.Handle, probes.COWSuffix)] = true
				}
				maxVolumes = max(maxVolumes, len(runs))
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	worst := percentile(lat, 1)
	b.judge("5. slow worker (2s create, ?timeout=1s)", fmt.Sprintf("%d answers, slowest %s, at most %d workload(s) at once",
		len(lat), ms(worst), maxVolumes), "every answer <= 1.1s, 1 at a time",
		max(float64(worst)/float64(1100*time.Millisecond), float64(maxVolumes)))
	return nil
}

func (b *bench) write(path, gobench string) error {
	var s strings.Builder
	host, _ := os.Hostname()
	cpu := "unknown"
	if info, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(info), "\n") {
			if rest, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
				break
			}
		}
	}
	fmt.Fprintf(&s, "# Benchmarks\n\nWritten by `make bench` (`go test -bench` on the packages, then `go run ./integration/cmd/loadbench`).\n\n")
	servers := "workersim (the simulators), runtime profile containerd unless a figure names another"
	if b.adminURL == "" {
		servers = "real servers"
	}
	fmt.Fprintf(&s, "- date: %s\n- machine: %s, %d CPUs (%s), %s/%s\n- Go: %s\n- command: `loadbench %s`\n- servers: %s: Garden %s, Baggageclaim %s\n\n",
		time.Now().UTC().Format(time.RFC3339), host, runtime.NumCPU(), cpu, runtime.GOOS, runtime.GOARCH, runtime.Version(),
		strings.Join(os.Args[1:], " "), servers, b.gardenURL, b.bcURL)
	fmt.Fprintf(&s, "## Load harness\n\nEach figure is measured side by side in the same run. A target missed by more than 2x fails `make bench`.\n\n")
	fmt.Fprintf(&s, "| figure | measured | target | verdict |\n|---|---|---|---|\n")
	for _, f := range b.figures {
		fmt.Fprintf(&s, "| %s | %s | %s | %s |\n", f.name, f.measured, f.target, f.verdict)
	}
	for _, n := range b.notes {
		fmt.Fprintf(&s, "\n%s\n", n)
	}
	if gobench != "" {
		if out, err := os.ReadFile(gobench); err == nil {
			fmt.Fprintf(&s, "\n## Go benchmarks\n\n```\n%s```\n", out)
		}
	}
	if notes, err := os.ReadFile(filepath.Join("integration", "cmd", "loadbench", "PROFILE.md")); err == nil {
		fmt.Fprintf(&s, "\n%s", notes)
	}
	return os.WriteFile(path, []byte(s.String()), 0o644)
}
