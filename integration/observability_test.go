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
	"testing"
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
