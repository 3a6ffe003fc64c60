package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/workersim/faults"
)

// prometheusServer is a real Prometheus (Debian's package) scraping the test's deepprobes.
type prometheusServer struct {
	cmd  *exec.Cmd
	url  string
	dir  string
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
}

func (p *prometheusServer) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.Write(b)
}

// startPrometheus runs Prometheus on a free loopback port, scraping every second, under job
// "deepprobe", the targets written later with setTargets; it waits until Prometheus is ready.
// The port is found by trying: one another process took between our probe and Prometheus'
// bind makes Prometheus exit, and the next port is tried.
func startPrometheus(t *testing.T) *prometheusServer {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		fmt.Fprintln(os.Stderr, "\n*** SKIPPING the fleet budget against a real Prometheus: prometheus is not installed (Debian package prometheus); .ci/run installs it ***")
		t.Skip("SKIPPED LOUDLY: no prometheus binary")
	}
	dir := t.TempDir()
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: deepprobe
    file_sd_configs:
      - files: [%q]
        refresh_interval: 1s
`, filepath.Join(dir, "targets.json"))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; ; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		p := &prometheusServer{url: "http://" + addr, dir: dir, done: make(chan struct{})}
		p.cmd = exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
			"--web.listen-address="+addr, "--log.level=warn")
		p.cmd.Stdout, p.cmd.Stderr = p, p
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = p.cmd.Wait(); close(p.done) }()
		t.Cleanup(func() {
			p.stop(t)
			if t.Failed() {
				t.Logf("prometheus logs:\n%s", p.Logs())
			}
		})
		exited := false
		poll(t, 30*time.Second, "Prometheus ready", func() (bool, string) {
			select {
			case <-p.done:
				exited = true
				return true, ""
			default:
			}
			resp, err := http.Get(p.url + "/-/ready")
			if err != nil {
				return false, err.Error()
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, resp.Status
		})
		if !exited {
			return p
		}
		if attempt == 3 || !strings.Contains(p.Logs(), "address already in use") {
			t.Fatalf("prometheus exited:\n%s", p.Logs())
		}
	}
}

// Logs returns what Prometheus wrote so far.
func (p *prometheusServer) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// setTargets gives Prometheus the addresses (host:port) to scrape, atomically.
func (p *prometheusServer) setTargets(t *testing.T, targets []string) {
	t.Helper()
	b, _ := json.Marshal([]map[string][]string{{"targets": targets}})
	tmp := filepath.Join(p.dir, ".targets.json")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(p.dir, "targets.json")); err != nil {
		t.Fatal(err)
	}
}

// stop stops Prometheus (SIGTERM) and waits for it to exit.
func (p *prometheusServer) stop(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// scalar runs an instant query whose answer is one number (NaN when it has no result).
func (p *prometheusServer) scalar(t *testing.T, query string) (float64, error) {
	t.Helper()
	resp, err := http.Get(p.url + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var a struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || len(a.Data.Result) != 1 {
		return 0, fmt.Errorf("%s: %d results (%v)", query, len(a.Data.Result), err)
	}
	var v float64
	_, err = fmt.Sscan(fmt.Sprint(a.Data.Result[0].Value[1]), &v)
	return v, err
}

// poll calls cond until it holds, or fails t after timeout with cond's last word.
func poll(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s (last: %s)", what, timeout, last)
		}
		time.Sleep(100 * time.Millisecond) // polling other processes
	}
}

// TestFleetBudgetWithPrometheus runs five deepprobes, each on its own simulated worker, scraped
// by a real Prometheus, with a fleet budget of 30%: one failing worker of five (20%) answers
// 503; three of five (60%) answer 200 warn fleet_wide, their failure still in their stages,
// metrics, history and logs; with Prometheus stopped they answer 503 again, and the query
// errors are counted and logged once.
func TestFleetBudgetWithPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus and ten processes")
	}
	const n = 5
	var workers []*worker
	var dps []*deepprobe
	var targets []string
	// Prometheus first, so that each deepprobe starts knowing its address; the targets follow.
	if realServers() {
		t.Skip("injects faults: skipped against real servers")
	}
	prom := startPrometheus(t)
	for i := 0; i < n; i++ {
		w := startWorker(t)
		w.needSim(t)
		d := startDeepprobe(t, w, "--interval", "500ms", "--fleet-prometheus-url", prom.url, "--fleet-max-unhealthy", "30%")
		workers, dps = append(workers, w), append(dps, d)
		targets = append(targets, strings.TrimPrefix(d.url, "http://"))
	}
	breakWorker := func(i int) { workers[i].fault(t, "garden", garden.RouteCreate, faults.Fault{Status: 500}) }
	breakWorker(0)

	prom.setTargets(t, targets)
	share := func(want float64) {
		t.Helper()
		poll(t, 30*time.Second, fmt.Sprintf("Prometheus sees %.0f%% of %d failing", want*100, n), func() (bool, string) {
			total, err := prom.scalar(t, `count(deepprobe_deep_failing{job="deepprobe"})`)
			if err != nil {
				return false, err.Error()
			}
			failing, err := prom.scalar(t, `sum(deepprobe_deep_failing{job="deepprobe"})`)
			if err != nil {
				return false, err.Error()
			}
			return total == n && failing/total == want, fmt.Sprintf("%v of %v", failing, total)
		})
	}

	t.Run("below the budget: 503", func(t *testing.T) {
		share(0.2)
		a := dps[0].get(t, "/healthz")
		if a.status != http.StatusServiceUnavailable || a.health.Reason != "upstream_error" {
			t.Fatalf("%d %s", a.status, a.body)
		}
		if e := dps[0].metric(t, "deepprobe_fleet_query_errors_total"); e != 0 {
			t.Errorf("%v query errors: the 503 must come from the budget, not from an unreachable Prometheus", e)
		}
		if a := dps[1].get(t, "/healthz"); a.status != http.StatusOK || a.health.Status != "pass" {
			t.Errorf("a healthy worker: %d %s", a.status, a.body)
		}
	})

	t.Run("above the budget: 200 warn fleet_wide", func(t *testing.T) {
		breakWorker(1)
		breakWorker(2)
		share(0.6)
		for i := 0; i < 3; i++ {
			var a answer
			poll(t, 15*time.Second, fmt.Sprintf("deepprobe %d holds", i), func() (bool, string) {
				a = dps[i].get(t, "/healthz")
				return a.status == http.StatusOK, string(a.body)
			})
			for _, want := range []string{`"status":"warn"`, `"reason":"fleet_wide"`, "60% of the fleet (3 of 5 workers)", "above the budget of 30%",
				`"fleet":{"failing":3,"total":5,"share":0.6,"budget":0.3}`, `"failed_stage":"container.create"`} {
				if !strings.Contains(string(a.body), want) {
					t.Errorf("deepprobe %d: body lacks %q:\n%s", i, want, a.body)
				}
			}
			failed := false
			for _, s := range a.health.Stages {
				failed = failed || (s.Name == "container.create" && s.Status == "fail")
			}
			if !failed {
				t.Errorf("deepprobe %d: the stages lost the failure: %s", i, a.body)
			}
			// The failure stays visible everywhere but in the answer.
			if dps[i].metric(t, "deepprobe_deep_failing") != 1 || dps[i].metric(t, "deepprobe_healthy") != 0 || dps[i].metric(t, "deepprobe_fleet_holds_total") < 1 {
				t.Errorf("deepprobe %d: metrics deep_failing %v, healthy %v, holds %v", i, dps[i].metric(t, "deepprobe_deep_failing"),
					dps[i].metric(t, "deepprobe_healthy"), dps[i].metric(t, "deepprobe_fleet_holds_total"))
			}
			if h := dps[i].get(t, "/history"); !strings.Contains(string(h.body), `"status":"fail"`) || strings.Contains(string(h.body), "fleet_wide") {
				t.Errorf("deepprobe %d: /history must keep the failure: %.300s", i, h.body)
			}
			if s := dps[i].get(t, "/"); !strings.Contains(string(s.body), "container.create") {
				t.Errorf("deepprobe %d: the status page lost the failing stage", i)
			}
			if logs := dps[i].Logs(); !strings.Contains(logs, `msg="workload failed"`) || !strings.Contains(logs, "fleet-wide failure") {
				t.Errorf("deepprobe %d: logs lack the failure or the hold:\n%s", i, logs)
			}
		}
		if a := dps[3].get(t, "/healthz"); a.status != http.StatusOK || a.health.Status != "pass" {
			t.Errorf("a healthy worker: %d %s", a.status, a.body)
		}
	})

	t.Run("Prometheus stopped: 503 again", func(t *testing.T) {
		prom.stop(t)
		poll(t, 20*time.Second, "deepprobe 0 answers 503 again", func() (bool, string) {
			a := dps[0].get(t, "/healthz")
			return a.status == http.StatusServiceUnavailable && a.health.Reason == "upstream_error", string(a.body)
		})
		// A second failed query (after the cache) is counted, not logged again.
		poll(t, 20*time.Second, "two failed queries counted", func() (bool, string) {
			dps[0].get(t, "/healthz")
			e := dps[0].metric(t, "deepprobe_fleet_query_errors_total")
			return e >= 2, fmt.Sprint(e)
		})
		if n := strings.Count(dps[0].Logs(), "fleet budget not applied"); n != 1 {
			t.Errorf("logged %d times, want once per streak:\n%s", n, dps[0].Logs())
		}
		if a := dps[0].get(t, "/healthz"); a.status != http.StatusServiceUnavailable {
			t.Errorf("%d %s", a.status, a.body)
		}
	})
}
