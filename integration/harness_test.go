package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/probes/marker"
	"github.com/deepprobe/deepprobe/server"
	"github.com/deepprobe/deepprobe/workersim/faults"
	"github.com/deepprobe/deepprobe/workersim/gardensim"
)

// binDir holds the binaries built once by TestMain.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "deepprobe-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	cmd := exec.Command("go", "build", "-o", dir+"/", "../cmd/deepprobe", "../cmd/workersim")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building binaries:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a started binary whose stderr is kept.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
	err  error
}

// start runs a built binary and waits for a log line matching ready; it returns the first
// submatch of each regexp in ready's capture groups.
func start(t *testing.T, name string, ready *regexp.Regexp, args ...string) (*proc, []string) {
	t.Helper()
	p := &proc{cmd: exec.Command(filepath.Join(binDir, name), args...), done: make(chan struct{})}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			if m := ready.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1:]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s logs:\n%s", name, p.Logs())
		}
	})
	select {
	case m := <-found:
		return p, m
	case <-p.done:
		t.Fatalf("%s exited before it was ready: %v\n%s", name, p.err, p.Logs())
	case <-time.After(20 * time.Second):
		t.Fatalf("%s not ready after 20s\n%s", name, p.Logs())
	}
	return nil, nil
}

// Logs returns what the process wrote to stderr so far.
func (p *proc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("process did not exit within %s", timeout)
	}
	return p.cmd.ProcessState.ExitCode()
}

// worker is the Garden and Baggageclaim under test: workersim, or real servers.
type worker struct {
	gardenURL, bcURL, adminURL string
	rootfs                     string
	g                          *garden.Client
	b                          *baggageclaim.Client
}

func realServers() bool {
	return os.Getenv("DEEPPROBE_GARDEN_URL") != "" && os.Getenv("DEEPPROBE_BAGGAGECLAIM_URL") != ""
}

var readyWorkersim = regexp.MustCompile(`workersim ready" garden=(\S+) baggageclaim=(\S+) admin=(\S+)`)

// startWorker starts workersim on free ports, or returns the real servers.
func startWorker(t *testing.T, extra ...string) *worker {
	t.Helper()
	w := &worker{rootfs: os.Getenv("DEEPPROBE_ROOTFS_IMPORT_PATH")}
	if realServers() {
		w.gardenURL, w.bcURL = os.Getenv("DEEPPROBE_GARDEN_URL"), os.Getenv("DEEPPROBE_BAGGAGECLAIM_URL")
	} else {
		args := append([]string{"--garden-listen", "127.0.0.1:0", "--baggageclaim-listen", "127.0.0.1:0",
			"--admin-listen", "127.0.0.1:0", "--state-dir", t.TempDir()}, extra...)
		_, urls := start(t, "workersim", readyWorkersim, args...)
		w.gardenURL, w.bcURL, w.adminURL = urls[0], urls[1], urls[2]
	}
	var err error
	hc := &http.Client{Timeout: 10 * time.Second}
	if w.g, err = garden.NewClient(w.gardenURL, hc); err != nil {
		t.Fatal(err)
	}
	if w.b, err = baggageclaim.NewClient(w.bcURL, hc); err != nil {
		t.Fatal(err)
	}
	return w
}

// realWait bounds a wait for a finished workload against real servers. A loaded worker queues
// our creates and destroys behind its builds' (5-11 s each), so one workload may take minutes:
// a test that needs the finished result asks ?timeout= this long, deepprobe's largest. Against
// the simulators every workload ends well within the default --max-wait and tests keep their
// own short bounds.
const realWait = server.MaxTimeout

// within returns sim against the simulators, and against real servers a bound long enough for
// a few workloads on a loaded worker (re-runs after a web node's GC interrupted them included).
func within(sim time.Duration) time.Duration {
	if realServers() {
		return 2 * realWait
	}
	return sim
}

// finished returns path asking deepprobe to wait for the finished result against real servers
// (?timeout=realWait, unless path sets its own); against the simulators path is unchanged.
func finished(path string) string {
	if !realServers() || strings.Contains(path, "timeout=") {
		return path
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return path + sep + "timeout=" + realWait.String()
}

// notAVerdict reports whether a is an answer real servers may give through no fault of the
// worker or of deepprobe: 200 warn busy (a loaded worker's queue outlasted the wait) or 200 warn
// interrupted (a web node's GC destroyed the run's volume or container twice in a row).
func notAVerdict(a answer) bool {
	return a.status == http.StatusOK && a.health.Status == "warn" &&
		(a.health.Reason == "busy" || a.health.Reason == "interrupted")
}

// pass asks d for path (a deep check) and returns its finished answer. Against real servers a
// busy or interrupted answer is correct but not the pass the test needs: it asks again (once
// --min-interval lets a new workload start) until another answer comes, within(0). Against the
// simulators it asks once: there, every answer is judged.
func (d *deepprobe) pass(t *testing.T, path string) answer {
	t.Helper()
	a := d.get(t, finished(path))
	if !realServers() {
		return a
	}
	deadline := time.Now().Add(within(0))
	for notAVerdict(a) && time.Now().Before(deadline) {
		t.Logf("%s: 200 warn %s, correct beside a loaded worker or a web node's GC; asking again for a pass", path, a.health.Reason)
		time.Sleep(time.Second) // polling another process until --min-interval lets a workload start
		a = d.get(t, finished(path))
	}
	return a
}

// needSim skips t against real servers.
func (w *worker) needSim(t *testing.T) {
	t.Helper()
	if w.adminURL == "" {
		t.Skip("injects faults or reads simulator counters: skipped against real servers")
	}
}

// fault installs a fault on a simulator route through workersim's admin endpoint.
func (w *worker) fault(t *testing.T, sim, route string, f faults.Fault) {
	t.Helper()
	body, _ := json.Marshal(f)
	req, _ := http.NewRequest(http.MethodPut, w.adminURL+"/"+sim+"/faults/"+route, bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("setting fault %s/%s: status %d", sim, route, resp.StatusCode)
	}
}

// behaviour sets the Garden simulator's behaviour (gardensim.Behaviour) through the admin endpoint.
func (w *worker) behaviour(t *testing.T, b gardensim.Behaviour) {
	t.Helper()
	body, _ := json.Marshal(b)
	req, _ := http.NewRequest(http.MethodPut, w.adminURL+"/garden/behaviour", bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("setting behaviour %+v: status %d", b, resp.StatusCode)
	}
}

// clearFaults removes every fault from both simulators.
func (w *worker) clearFaults(t *testing.T) {
	t.Helper()
	for _, sim := range []string{"garden", "baggageclaim"} {
		req, _ := http.NewRequest(http.MethodDelete, w.adminURL+"/"+sim+"/faults", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
}

// calls returns a simulator's call counts by route.
func (w *worker) calls(t *testing.T, sim string) map[string]int64 {
	t.Helper()
	resp, err := http.Get(w.adminURL + "/" + sim + "/calls")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]int64
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// ours lists the health-check containers and volumes of one deepprobe instance. It filters on
// the instance alone (containerd ORs a filter's properties) and never asks for a container's
// properties, which would restart its grace-time countdown.
func (w *worker) ours(t *testing.T, instance string) (containers, volumes []string) {
	t.Helper()
	ctx := context.Background()
	filter := map[string]string{marker.InstanceProperty: instance}
	cs, err := w.g.List(ctx, filter)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range cs {
		if marker.IsProbeHandle(h) {
			containers = append(containers, h)
		}
	}
	vs, err := w.b.List(ctx, filter)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if marker.IsProbeHandle(v.Handle) && marker.Marked(v.Properties) {
			volumes = append(volumes, v.Handle)
		}
	}
	return containers, volumes
}

// assertNoResidue fails t if the instance left a container or a volume.
func (w *worker) assertNoResidue(t *testing.T, instance string) {
	t.Helper()
	cs, vs := w.ours(t, instance)
	if len(cs)+len(vs) > 0 {
		t.Errorf("left behind: containers %v, volumes %v", cs, vs)
	}
}

// deepprobe is a running deepprobe serve.
type deepprobe struct {
	*proc
	url      string
	instance string
}

var readyDeepprobe = regexp.MustCompile(`deepprobe listening" addr=(\S+)`)

// startDeepprobe runs deepprobe serve against w with a unique instance name; extra flags
// follow the defaults and override them.
func startDeepprobe(t *testing.T, w *worker, extra ...string) *deepprobe {
	t.Helper()
	instance := "it-" + uuid.NewString()[:8]
	args := []string{"serve", "--listen", "127.0.0.1:0", "--garden-url", w.gardenURL, "--baggageclaim-url", w.bcURL,
		"--instance", instance, "--janitor-interval", "0", "--log-level", "debug"}
	if w.rootfs != "" {
		args = append(args, "--rootfs-import-path", w.rootfs)
	}
	p, m := start(t, "deepprobe", readyDeepprobe, append(args, extra...)...)
	return &deepprobe{proc: p, url: "http://" + m[0], instance: instance}
}

type answer struct {
	status int
	body   []byte
	took   time.Duration
	health struct {
		Status      string `json:"status"`
		Error       string `json:"error"`
		FailedStage string `json:"failed_stage"`
		Reason      string `json:"reason"`
		Saturated   bool   `json:"saturated"`
		Cached      bool   `json:"cached"`
		InFlight    *struct {
			Stage string `json:"stage"`
		} `json:"in_flight"`
		Busy *struct {
			Stage     string `json:"stage"`
			Created   int    `json:"created_by_others"`
			Destroyed int    `json:"destroyed_by_others"`
		} `json:"busy"`
		Interruptions int `json:"interruptions"`
		Stages        []struct {
			Name, Status, Error string
		} `json:"stages"`
	}
}

// get requests path from d and decodes a health body when there is one.
func (d *deepprobe) get(t *testing.T, path string) answer {
	t.Helper()
	a, err := d.fetch(path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// fetch is get for a goroutine other than the test's: it returns the error.
func (d *deepprobe) fetch(path string) (answer, error) {
	start := time.Now()
	resp, err := http.Get(d.url + path)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, took: time.Since(start)}
	a.body, _ = io.ReadAll(resp.Body)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(a.body, &a.health)
	}
	return a, nil
}

// metric returns the value of a metric line (name with labels, exactly as exposed), or 0.
func (d *deepprobe) metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get(d.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return 0
}
