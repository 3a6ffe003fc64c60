package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/deepprobe/deepprobe/cli"
	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/server"
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
	// Every alert names the worker as an operator knows it (--worker-name), not the scrape
	// address.
	var file ruleFile
	if err := yaml.UnmarshalStrict(rules, &file); err != nil {
		t.Fatalf("strict decoding of the rules: %v", err)
	}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			if r.Labels["scope"] == "fleet" { // about the whole fleet (a share of it), not one worker
				if !strings.Contains(r.Expr, "by (job)") || strings.Contains(r.Annotations["summary"], "$labels.worker") {
					t.Errorf("fleet alert %s must aggregate by job and name no worker", r.Alert)
				}
				continue
			}
			if !strings.Contains(r.Expr, "group_left (worker)") || !strings.Contains(r.Expr, "deepprobe_worker_info") {
				t.Errorf("alert %s does not join deepprobe_worker_info for the worker label", r.Alert)
			}
			if !strings.Contains(r.Annotations["summary"], "$labels.worker") {
				t.Errorf("alert %s's summary does not name the worker: %q", r.Alert, r.Annotations["summary"])
			}
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
			Title       string `json:"title"`
			FieldConfig struct {
				Defaults struct {
					Unit string `json:"unit"`
				} `json:"defaults"`
			} `json:"fieldConfig"`
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
			// Workers are chosen and named by --worker-name, joined from deepprobe_worker_info.
			if !strings.Contains(target.Expr, `group_left (worker) deepprobe_worker_info{worker=~"$worker"}`) {
				t.Errorf("panel %q: query %q does not select workers by deepprobe_worker_info{worker}", p.Title, target.Expr)
			}
			// Grafana's date units read milliseconds; deepprobe's timestamps are seconds.
			if strings.HasPrefix(p.FieldConfig.Defaults.Unit, "dateTime") && !strings.Contains(target.Expr, "* 1000") {
				t.Errorf("panel %q shows seconds with the date unit %s, which reads milliseconds", p.Title, p.FieldConfig.Defaults.Unit)
			}
			// Grafana's variables, as Grafana substitutes them.
			e := strings.NewReplacer("$__rate_interval", "5m", "$worker", ".*").Replace(target.Expr)
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
		"-X github.com/deepprobe/deepprobe/cli.Version=${VERSION}", "-X github.com/deepprobe/deepprobe/cli.Commit=${COMMIT}"} {
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

// ruleFile is a Prometheus rules file, and a PrometheusRule's spec.
type ruleFile struct {
	Groups []struct {
		Name     string `json:"name"`
		Interval string `json:"interval,omitempty"`
		Rules    []struct {
			Alert       string            `json:"alert,omitempty"`
			Record      string            `json:"record,omitempty"`
			Expr        string            `json:"expr"`
			For         string            `json:"for,omitempty"`
			Labels      map[string]string `json:"labels,omitempty"`
			Annotations map[string]string `json:"annotations,omitempty"`
		} `json:"rules"`
	} `json:"groups"`
}

// The Prometheus Operator's objects (monitoring.coreos.com/v1), as far as deepprobe writes them;
// strict decoding into these catches a misspelt field, which the operator would drop silently.
type (
	prometheusRule struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        metav1.ObjectMeta `json:"metadata"`
		Spec            ruleFile          `json:"spec"`
	}
	podMonitor struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        metav1.ObjectMeta `json:"metadata"`
		Spec            struct {
			JobLabel            string               `json:"jobLabel,omitempty"`
			Selector            metav1.LabelSelector `json:"selector"`
			NamespaceSelector   *struct{}            `json:"namespaceSelector,omitempty"`
			PodMetricsEndpoints []struct {
				Port          string `json:"port"`
				Path          string `json:"path"`
				Interval      string `json:"interval,omitempty"`
				ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
				Relabelings   []struct {
					SourceLabels []string `json:"sourceLabels,omitempty"`
					TargetLabel  string   `json:"targetLabel,omitempty"`
					Regex        string   `json:"regex,omitempty"`
					Replacement  string   `json:"replacement,omitempty"`
					Action       string   `json:"action,omitempty"`
				} `json:"relabelings,omitempty"`
			} `json:"podMetricsEndpoints"`
		} `json:"spec"`
	}
)

const kubePrometheus = "../deploy/kube-prometheus"

// TestKubePrometheus: the PrometheusRule is the tested rules file, generated and current; the
// PodMonitor scrapes the sidecar's /metrics (open, on the port the sidecar declares) of the
// StatefulSet's pods, under the job the rules watch; both decode strictly.
func TestKubePrometheus(t *testing.T) {
	gen := exec.Command("go", "run", "./cmd/promrule")
	rulesFile, err := os.Open("../deploy/prometheus/deepprobe-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	defer rulesFile.Close()
	gen.Stdin = rulesFile
	generated, err := gen.Output()
	if err != nil {
		t.Fatalf("promrule: %v", err)
	}
	shipped, err := os.ReadFile(filepath.Join(kubePrometheus, "deepprobe-prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if string(generated) != string(shipped) {
		t.Errorf("deploy/kube-prometheus/deepprobe-prometheusrule.yaml is not what the rules file generates: run make kube-prometheus")
	}
	var pr prometheusRule
	if err := yaml.UnmarshalStrict(shipped, &pr); err != nil {
		t.Fatalf("PrometheusRule: strict decoding: %v", err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" || pr.Metadata.Name == "" {
		t.Errorf("PrometheusRule: %s %s %q", pr.APIVersion, pr.Kind, pr.Metadata.Name)
	}
	if pr.Metadata.Labels["prometheus"] != "k8s" || pr.Metadata.Labels["role"] != "alert-rules" {
		t.Errorf("PrometheusRule labels %v: kube-prometheus selects prometheus=k8s, role=alert-rules", pr.Metadata.Labels)
	}
	b, _ := os.ReadFile("../deploy/prometheus/deepprobe-rules.yml")
	var tested ruleFile
	if err := yaml.UnmarshalStrict(b, &tested); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pr.Spec, tested) {
		t.Errorf("the PrometheusRule's groups differ from the tested rules file")
	}

	b, err = os.ReadFile(filepath.Join(kubePrometheus, "deepprobe-podmonitor.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pm podMonitor
	if err := yaml.UnmarshalStrict(b, &pm); err != nil {
		t.Fatalf("PodMonitor: strict decoding: %v", err)
	}
	if pm.APIVersion != "monitoring.coreos.com/v1" || pm.Kind != "PodMonitor" || len(pm.Spec.PodMetricsEndpoints) != 1 {
		t.Fatalf("PodMonitor: %s %s with %d endpoints", pm.APIVersion, pm.Kind, len(pm.Spec.PodMetricsEndpoints))
	}
	var sts appsv1.StatefulSet
	b, _ = os.ReadFile("../deploy/kubernetes/worker-statefulset.yaml")
	if err := yaml.UnmarshalStrict(b, &sts); err != nil {
		t.Fatal(err)
	}
	selector, err := metav1.LabelSelectorAsSelector(&pm.Spec.Selector)
	if err != nil || !selector.Matches(labels.Set(sts.Spec.Template.Labels)) {
		t.Errorf("PodMonitor selector %v does not select the worker pods %v (%v)", pm.Spec.Selector, sts.Spec.Template.Labels, err)
	}
	ep := pm.Spec.PodMetricsEndpoints[0]
	if ep.Path != server.PathMetrics {
		t.Errorf("PodMonitor path %q", ep.Path)
	}
	var sidecar *corev1.Container
	for i, c := range sts.Spec.Template.Spec.Containers {
		if c.Name == "deepprobe" {
			sidecar = &sts.Spec.Template.Spec.Containers[i]
		}
	}
	if sidecar == nil {
		t.Fatal("no deepprobe container in the StatefulSet")
	}
	cfg, err := cli.ParseServe(sidecar.Args[1:], func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	port := -1
	for _, p := range sidecar.Ports {
		if p.Name == ep.Port {
			port = int(p.ContainerPort)
		}
	}
	if port != int(listenPort(t, cfg.Listen)) {
		t.Errorf("PodMonitor port %q is %d in the sidecar, which listens on %s", ep.Port, port, cfg.Listen)
	}
	if cfg.AuthTokenFile != "" && !cfg.AuthExemptShallow {
		t.Error("the sidecar wants a token on /metrics, which the PodMonitor does not send")
	}
	job := ""
	for _, r := range ep.Relabelings {
		if r.TargetLabel == "job" && (r.Action == "" || r.Action == "replace") {
			job = r.Replacement
		}
	}
	if want := `up{job="` + job + `"}`; job == "" || !strings.Contains(string(shipped), want) {
		t.Errorf("the PodMonitor's job %q is not the one the rules watch (%s)", job, want)
	}
}

// TestRulesForAnotherJob: the documented way to name another scrape job generates rules that
// watch it and pass promtool's checks.
func TestRulesForAnotherJob(t *testing.T) {
	tool := promtool(t)
	bin := t.TempDir()
	out, err := exec.Command("make", "-C", "..", "prometheus-rules", "BIN="+bin, "PROMETHEUS_JOB=monitoring/deepprobe").CombinedOutput()
	if err != nil {
		t.Fatalf("make prometheus-rules: %v\n%s", err, out)
	}
	rules, _ := os.ReadFile(filepath.Join(bin, "deepprobe-rules.yml"))
	if !strings.Contains(string(rules), `up{job="monitoring/deepprobe"}`) || strings.Contains(string(rules), `job="deepprobe"`) {
		t.Errorf("the rules do not watch job monitoring/deepprobe:\n%s", rules)
	}
	if out, err := exec.Command(tool, "check", "rules", filepath.Join(bin, "deepprobe-rules.yml")).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
	var pr prometheusRule
	b, _ := os.ReadFile(filepath.Join(bin, "deepprobe-prometheusrule.yaml"))
	if err := yaml.UnmarshalStrict(b, &pr); err != nil || pr.Kind != "PrometheusRule" {
		t.Errorf("PrometheusRule: %v %q", err, pr.Kind)
	}
}

// TestWorkerNameInEveryDeployment: the manifests give --worker-name the pod's name (downward
// API), BOSH the instance's name.
func TestWorkerNameInEveryDeployment(t *testing.T) {
	for name, pod := range map[string]corev1.PodSpec{"manifest": manifestPod(t), "helm values": helmPod(t)} {
		for _, c := range pod.Containers {
			if c.Name != "deepprobe" {
				continue
			}
			if !slices.Contains(c.Args, "--worker-name=$(POD_NAME)") {
				t.Errorf("%s: the sidecar's args lack --worker-name=$(POD_NAME): %v", name, c.Args)
			}
			found := false
			for _, e := range c.Env {
				found = found || (e.Name == "POD_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name")
			}
			if !found {
				t.Errorf("%s: the sidecar has no POD_NAME from the downward API's metadata.name", name)
			}
		}
	}
	t.Run("BOSH", func(t *testing.T) {
		for _, tt := range []struct {
			overrides map[string]any
			want      string
		}{
			{nil, "--worker-name=worker/6a1b2c3d-0000-4000-8000-000000000001"},
			{map[string]any{"deepprobe.worker_name": "ci-worker-7"}, "--worker-name=ci-worker-7"},
		} {
			if got := renderBOSH(t, "bpm.yml.erb", tt.overrides); !strings.Contains(got, "- "+tt.want+"\n") {
				t.Errorf("BOSH %v: the args lack %s:\n%s", tt.overrides, tt.want, got)
			}
		}
	})
}

// TestWarnWorkersKeepTheFailingAlertSilent: the series the failing alert reads
// (deepprobe_healthy, and deepprobe_deep_failing for the fleet) stay healthy for a worker that
// is only busy or whose workloads Concourse's garbage collector interrupts, as the rules test's
// silent case assumes: both answer 200 warn and count in their own series.
func TestWarnWorkersKeepTheFailingAlertSilent(t *testing.T) {
	t.Run("busy", func(t *testing.T) {
		w := startWorker(t, "--garden-create-time", "100ms", "--garden-destroy-time", "20ms",
			"--garden-load", "40", "--garden-load-hold", "200ms")
		w.needSim(t)
		d := startDeepprobe(t, w, "--probe-timeout", "1s", "--process-timeout", "500ms", "--cleanup-timeout", "1s", "--min-interval", "1ms")
		if a := d.get(t, "/healthz?timeout=10s"); a.status != http.StatusOK { // a first result
			t.Fatalf("first answer %d %s", a.status, a.body)
		}
		busy := 0
		for range 30 {
			a := d.get(t, "/healthz?timeout=1500ms")
			if a.status != http.StatusOK {
				t.Fatalf("busy worker: %d %s", a.status, a.body)
			}
			if a.health.Reason == "busy" {
				busy++
				if d.metric(t, "deepprobe_healthy") != 1 || d.metric(t, "deepprobe_deep_failing") != 0 {
					t.Fatalf("a busy answer, but deepprobe_healthy %v, deepprobe_deep_failing %v", d.metric(t, "deepprobe_healthy"), d.metric(t, "deepprobe_deep_failing"))
				}
			}
			if busy >= 3 {
				break
			}
		}
		if busy == 0 || d.metric(t, `deepprobe_deadline_answers_total{answer="busy"}`) < float64(busy) {
			t.Fatalf("%d busy answers, %v counted: the test did not reproduce a busy worker", busy, d.metric(t, `deepprobe_deadline_answers_total{answer="busy"}`))
		}
	})
	t.Run("interrupted", func(t *testing.T) {
		w := startWorker(t, "--gc-interval", "40ms", "--gc-delay", "5ms", "--garden-create-time", "20ms", "--garden-destroy-time", "5ms")
		w.needSim(t)
		d := startDeepprobe(t, w, "--min-interval", "1ms")
		// How often a sweep lands mid-workload depends on the machine's load: ask until two
		// workloads were interrupted, within a bound.
		for i := 0; d.metric(t, `deepprobe_workloads_total{result="interrupted"}`) < 2; i++ {
			if i == 1500 {
				t.Fatal("1,500 workloads beside a garbage collector sweeping every 40ms, fewer than 2 interrupted")
			}
			if a := d.get(t, "/healthz"); a.status != http.StatusOK {
				t.Fatalf("workload %d: %d %s", i, a.status, a.body)
			}
			if d.metric(t, "deepprobe_healthy") != 1 || d.metric(t, "deepprobe_deep_failing") != 0 {
				t.Fatalf("deepprobe_healthy %v, deepprobe_deep_failing %v beside the garbage collector", d.metric(t, "deepprobe_healthy"), d.metric(t, "deepprobe_deep_failing"))
			}
		}
		if got := d.metric(t, `deepprobe_workloads_total{result="fail"}`); got != 0 {
			t.Errorf("%v failed workloads", got)
		}
	})
}
