package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/workersim/faults"
)

var reSeriesName = regexp.MustCompile(`\bdeepprobe_[a-z_]+[a-z]\b`)

// exportedAtStartup returns the metric family names a deepprobe (janitor on) serves right after
// it starts, before any workload or sweep.
func exportedAtStartup(t *testing.T) map[string]bool {
	t.Helper()
	w := startWorker(t)
	d := startDeepprobe(t, w, "--janitor-interval", "1h")
	resp, err := http.Get(d.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	names := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		names[name] = true
		for _, suffix := range []string{"_bucket", "_sum", "_count"} { // a histogram's family
			if base, ok := strings.CutSuffix(name, suffix); ok {
				names[base] = true
			}
		}
	}
	return names
}

// TestEveryDocumentedSeriesExistsAtStartup: /metrics right after start-up lists every series
// the README documents, so absent() and rate() alerts work from the first scrape.
func TestEveryDocumentedSeriesExistsAtStartup(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	section = section[strings.Index(section, "## Metrics"):]
	section = section[:strings.Index(section[3:], "\n## ")+3]
	documented := reSeriesName.FindAllString(section, -1)
	if len(documented) < 15 {
		t.Fatalf("found only %d series in the README's Metrics section", len(documented))
	}
	exported := exportedAtStartup(t)
	for _, name := range documented {
		if name == "deepprobe_janitor_" || strings.HasSuffix(name, "_") {
			continue
		}
		if !exported[name] {
			t.Errorf("%s is documented but not exported at start-up", name)
		}
	}
	for _, name := range []string{"deepprobe_janitor_found_total", "deepprobe_janitor_sweeps_total", "deepprobe_stage_failures_total"} {
		if !exported[name] {
			t.Errorf("%s is not exported at start-up", name)
		}
	}
}

func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		fmt.Fprintln(os.Stderr, "\n*** SKIPPING promtool checks: promtool is not installed (Debian package prometheus); .ci/run installs it ***")
		t.Skip("SKIPPED LOUDLY: no promtool")
	}
	return p
}

// TestPrometheusRules runs the rules' unit tests (a firing and a silent case per alert) and
// checks that they name only series deepprobe exports.
func TestPrometheusRules(t *testing.T) {
	tool := promtool(t)
	dir := "../deploy/prometheus"
	for _, args := range [][]string{{"check", "rules", "deepprobe-rules.yml"}, {"test", "rules", "deepprobe-rules.test.yml"}} {
		cmd := exec.Command(tool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool %v: %v\n%s", args, err, out)
		}
	}
	rules, _ := os.ReadFile(filepath.Join(dir, "deepprobe-rules.yml"))
	tests, _ := os.ReadFile(filepath.Join(dir, "deepprobe-rules.test.yml"))
	alerts := regexp.MustCompile(`(?m)^\s+- alert: (\S+)`).FindAllStringSubmatch(string(rules), -1)
	for _, a := range alerts {
		if n := strings.Count(string(tests), "alertname: "+a[1]+"\n"); n < 2 {
			t.Errorf("alert %s has %d test cases, want a firing and a silent one", a[1], n)
		}
	}
	checkSeriesExported(t, "deepprobe-rules.yml", string(rules))
}

// TestGrafanaDashboard parses every query of the dashboard as PromQL (through promtool, as
// recording rules) and checks that it names only series deepprobe exports.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("../deploy/grafana/deepprobe-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	var exprs []string
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for j, target := range p.Targets {
			// Grafana's variables, as Grafana substitutes them.
			e := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*").Replace(target.Expr)
			exprs = append(exprs, e)
			b, _ := json.Marshal(e)
			fmt.Fprintf(&rules, "      - record: dashboard:panel%d:query%d\n        expr: %s\n", i, j, b)
		}
	}
	for _, want := range []string{"deepprobe_healthy", "deepprobe_workload_stage_duration_seconds_bucket", "deepprobe_stage_failures_total", "deepprobe_janitor_reaped_total"} {
		if !slices.ContainsFunc(exprs, func(e string) bool { return strings.Contains(e, want) }) {
			t.Errorf("no panel shows %s", want)
		}
	}
	tool := promtool(t)
	file := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Fatalf("a dashboard query is not valid PromQL: %v\n%s", err, out)
	}
	checkSeriesExported(t, "the dashboard", strings.Join(exprs, "\n"))
}

// checkSeriesExported fails t for every deepprobe series in text that deepprobe does not export.
func checkSeriesExported(t *testing.T, where, text string) {
	t.Helper()
	exported := exportedAtStartup(t)
	for _, name := range reSeriesName.FindAllString(text, -1) {
		if !exported[name] {
			t.Errorf("%s uses %s, which deepprobe does not export", where, name)
		}
	}
}

// TestBuildsAreStamped: `make build` stamps the binaries with the version and commit (the
// linker sets cli.Version and cli.Commit), and the Docker build takes both as build arguments.
func TestBuildsAreStamped(t *testing.T) {
	for _, tool := range []string{"make", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Fprintf(os.Stderr, "\n*** SKIPPING the build stamping test: no %s ***\n", tool)
			t.Skipf("SKIPPED LOUDLY: no %s", tool)
		}
	}
	commit, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	bin := t.TempDir()
	if out, err := exec.Command("make", "-C", "..", "build", "BIN="+bin, "VERSION=v9.9.9-test").CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	out, err := exec.Command(filepath.Join(bin, "deepprobe"), "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := "deepprobe v9.9.9-test (commit " + strings.TrimSpace(string(commit)) + ", "
	if !strings.HasPrefix(string(out), want) {
		t.Errorf("deepprobe version: %q, want it to start with %q", out, want)
	}

	dockerfile, _ := os.ReadFile("../Dockerfile")
	build := string(dockerfile)[strings.Index(string(dockerfile), "AS build"):]
	for _, want := range []string{"ARG VERSION=", "ARG COMMIT=",
		"-X github.com/deepprobe/deepprobe/internal/cli.Version=${VERSION}", "-X github.com/deepprobe/deepprobe/internal/cli.Commit=${COMMIT}"} {
		if !strings.Contains(build, want) {
			t.Errorf("the Dockerfile's build stage lacks %q", want)
		}
	}
	makefile, _ := os.ReadFile("../Makefile")
	if !strings.Contains(string(makefile), "docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT)") {
		t.Error("make image does not pass the version and commit to docker build")
	}
}

var readyJSON = regexp.MustCompile(`"msg":"deepprobe listening","addr":"([^"]+)"`)

// TestJSONLogs: with --log-format json every line deepprobe writes is a JSON object, the signal
// notice included; durations are seconds under keys ending in _s; the start-up line carries
// the version; the end of a failing streak is logged with how long it lasted.
func TestJSONLogs(t *testing.T) {
	w := startWorker(t)
	w.needSim(t)
	p, m := start(t, "deepprobe", readyJSON, "serve", "--listen", "127.0.0.1:0", "--garden-url", w.gardenURL, "--baggageclaim-url", w.bcURL,
		"--janitor-interval", "1h", "--min-interval", "1ns", "--log-format", "json", "--log-level", "debug", "--worker-name", "worker-json")
	d := &deepprobe{proc: p, url: "http://" + m[0]}
	d.get(t, "/healthz")
	w.fault(t, "garden", garden.RouteCreate, faults.Fault{Status: 500})
	d.get(t, "/healthz")
	d.get(t, "/healthz")
	w.clearFaults(t)
	if a := d.get(t, "/healthz"); a.status != http.StatusOK {
		t.Fatalf("after the fault: %d %s", a.status, a.body)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(p.Logs()), "\n") {
		var l map[string]any
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Errorf("not a JSON line: %q", line)
			continue
		}
		lines = append(lines, l)
		msg, _ := l["msg"].(string)
		for k, v := range l {
			if _, isNumber := v.(float64); isNumber && (k == "duration" || strings.HasSuffix(k, "_timeout") || strings.HasSuffix(k, "interval")) {
				t.Errorf("%q: %s is a number without the _s unit", msg, k)
			}
		}
	}
	find := func(prefix string) map[string]any {
		for _, l := range lines {
			if msg, _ := l["msg"].(string); strings.HasPrefix(msg, prefix) {
				return l
			}
		}
		t.Errorf("no log line starting %q in\n%s", prefix, p.Logs())
		return map[string]any{}
	}
	if l := find("deepprobe listening"); l["version"] != "dev" || l["commit"] == "" || l["worker"] != "worker-json" || l["probe_timeout_s"] != 5.0 {
		t.Errorf("start-up line: %v", l)
	}
	if l := find("workload failed"); l["reason"] != "upstream_error" {
		t.Errorf("failure line: %v", l)
	} else if _, ok := l["duration_s"].(float64); !ok {
		t.Errorf("failure line without duration_s: %v", l)
	}
	if l := find("worker recovered"); l["failed_workloads"] != 2.0 {
		t.Errorf("recovery line: %v", l)
	} else if s, ok := l["failing_for_s"].(float64); !ok || s <= 0 || s > 60 {
		t.Errorf("recovery line: failing_for_s %v", l["failing_for_s"])
	}
	find("deepprobe: terminated")
}
