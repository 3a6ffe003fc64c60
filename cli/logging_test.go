package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/deepprobe/deepprobe/probes"
)

// TestFlagErrorsNameTheFlag: a bad value names the flag as it is written and what a valid
// value looks like, from the command line and from the environment alike.
func TestFlagErrorsNameTheFlag(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		env     map[string]string
		want    string
		notWant string
	}{
		{args: []string{"--probe-timeout", "5"}, want: `--probe-timeout: invalid value "5": want a duration with its unit, such as 5s`, notWant: "flag -probe-timeout"},
		{args: []string{"-probe-timeout=5"}, want: `--probe-timeout: invalid value "5": want a duration`},
		{args: []string{"--failure-threshold", "many"}, want: `--failure-threshold: invalid value "many": want a whole number, such as 3`},
		{args: []string{"--auth-exempt-shallow=maybe"}, want: `--auth-exempt-shallow: invalid value "maybe": want true or false`},
		{args: []string{"--probe-timout", "5s"}, want: "unknown flag --probe-timout"},
		{args: []string{"--probe-timeout"}, want: "--probe-timeout needs a value: a duration"},
		{env: map[string]string{"DEEPPROBE_PROBE_TIMEOUT": "5"}, want: `invalid value "5" for DEEPPROBE_PROBE_TIMEOUT (--probe-timeout): want a duration with its unit, such as 5s`},
	} {
		_, err := ParseServe(tt.args, env(tt.env))
		if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.notWant != "" && strings.Contains(err.Error(), tt.notWant)) {
			t.Errorf("%v %v: err = %v, want %q", tt.args, tt.env, err, tt.want)
		}
	}
}

// jsonLines decodes every line of out as a JSON object, failing t on any other line.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("not a JSON line: %q", line)
			continue
		}
		lines = append(lines, m)
	}
	return lines
}

// TestDurationsAreSeconds: every duration is logged as seconds under a key ending in _s, in
// both formats.
func TestDurationsAreSeconds(t *testing.T) {
	var b bytes.Buffer
	l, err := newLogger("info", "json", &b)
	if err != nil {
		t.Fatal(err)
	}
	l.Info("x", "duration", 1500*time.Millisecond, "probe_timeout_s", 5*time.Second, "count", 3)
	m := jsonLines(t, b.String())[0]
	if m["duration_s"] != 1.5 || m["probe_timeout_s"] != 5.0 || m["count"] != 3.0 || m["duration"] != nil {
		t.Errorf("json: %s", b.String())
	}
	b.Reset()
	if l, err = newLogger("info", "text", &b); err != nil {
		t.Fatal(err)
	}
	l.Info("x", "duration", 7070520*time.Nanosecond)
	if !strings.Contains(b.String(), "duration_s=0.00707052") {
		t.Errorf("text: %s", b.String())
	}
}

// TestConsoleIsJSONWithJSONLogs: the process's own notices (a configuration error, a signal) are
// JSON lines when --log-format json is asked for, however it is spelt, and plain otherwise.
func TestConsoleIsJSONWithJSONLogs(t *testing.T) {
	for _, tt := range []struct {
		args []string
		env  map[string]string
		json bool
	}{
		{[]string{"serve", "--log-format", "json", "--probe-timeout", "5"}, nil, true},
		{[]string{"serve", "--log-format=json", "--probe-timeout", "5"}, nil, true},
		{[]string{"serve", "-log-format", "json", "--probe-timeout", "5"}, nil, true},
		{[]string{"serve", "--probe-timeout", "5"}, map[string]string{"DEEPPROBE_LOG_FORMAT": "json"}, true},
		{[]string{"serve", "--probe-timeout", "5"}, nil, false},
	} {
		var out strings.Builder
		if code := Run(context.Background(), Env{Args: tt.args, Getenv: env(tt.env), Stdout: &out, Stderr: &out}); code != ExitFailure {
			t.Fatalf("%v: exit %d", tt.args, code)
		}
		if !tt.json {
			if !strings.HasPrefix(out.String(), "deepprobe: --probe-timeout: invalid value") {
				t.Errorf("%v: %q", tt.args, out.String())
			}
			continue
		}
		lines := jsonLines(t, out.String())
		if len(lines) != 1 || lines[0]["level"] != "ERROR" || !strings.Contains(lines[0]["msg"].(string), "--probe-timeout: invalid value") {
			t.Errorf("%v: %q", tt.args, out.String())
		}
	}
}

// TestRecoveryIsLogged: the end of a failing streak is logged once, at info, with how many
// workloads failed and for how long (seconds); a saturated workload inside the streak ends
// nothing.
func TestRecoveryIsLogged(t *testing.T) {
	var b bytes.Buffer
	l, _ := newLogger("info", "json", &b)
	m := &Main{logger: l}
	t0 := time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)
	failed := probes.Result{Handle: "health-check-1", Duration: time.Second, Stages: []probes.StageResult{{Name: probes.StageContainerCreate,
		Status: probes.StatusFail, Err: errors.New("garden create: 500"), Reason: probes.ReasonUpstreamError}}}
	saturated := failed
	saturated.Stages = []probes.StageResult{{Name: probes.StageContainerCreate, Status: probes.StatusFail, Err: errors.New("max containers reached"), Reason: probes.ReasonMaxContainers}}
	passed := probes.Result{Handle: "health-check-2", Duration: 20 * time.Millisecond, Stages: []probes.StageResult{{Name: probes.StageContainerCreate, Status: probes.StatusPass}}}
	for _, o := range []probes.Outcome{
		{Result: passed, Healthy: true, CompletedAt: t0},
		{Result: failed, ConsecutiveFailures: 1, FailingSince: t0.Add(10 * time.Second), CompletedAt: t0.Add(10 * time.Second)},
		{Result: saturated, ConsecutiveFailures: 1, FailingSince: t0.Add(10 * time.Second), CompletedAt: t0.Add(40 * time.Second), Healthy: true, Saturated: true},
		{Result: failed, ConsecutiveFailures: 2, FailingSince: t0.Add(10 * time.Second), CompletedAt: t0.Add(70 * time.Second)},
		{Result: passed, Healthy: true, CompletedAt: t0.Add(100 * time.Second)},
		{Result: passed, Healthy: true, CompletedAt: t0.Add(110 * time.Second)},
	} {
		m.logOutcome(o)
	}
	var recovered []map[string]any
	for _, line := range jsonLines(t, b.String()) {
		if strings.HasPrefix(line["msg"].(string), "worker recovered") {
			recovered = append(recovered, line)
		}
	}
	if len(recovered) != 1 {
		t.Fatalf("%d recovery lines, want 1:\n%s", len(recovered), b.String())
	}
	r := recovered[0]
	if r["level"] != "INFO" || r["failed_workloads"] != 2.0 || r["failing_for_s"] != 90.0 || r["failing_since"] != "2026-11-29T03:00:10Z" || r["duration_s"] != 0.02 {
		t.Errorf("recovery line: %v", r)
	}
}

// TestInfoMetrics: deepprobe_build_info and deepprobe_worker_info are single series of 1 whose
// labels say what runs where.
func TestInfoMetrics(t *testing.T) {
	defer func(v, c string) { Version, Commit = v, c }(Version, Commit)
	Version, Commit = "v1.2.3", "0123abc"
	reg := prometheus.NewRegistry()
	if err := registerInfo(reg, "worker-0"); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b := rec.Body
	for _, want := range []string{
		`deepprobe_build_info{commit="0123abc",goversion="` + runtime.Version() + `",version="v1.2.3"} 1` + "\n",
		`deepprobe_worker_info{worker="worker-0"} 1` + "\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %s in\n%s", want, b.String())
		}
	}
}

// TestBuildCommit: the linker's Commit wins; without it, the VCS stamp or "unknown".
func TestBuildCommit(t *testing.T) {
	defer func(c string) { Commit = c }(Commit)
	Commit = "feedface"
	if got := BuildCommit(); got != "feedface" {
		t.Errorf("BuildCommit() = %q", got)
	}
	Commit = ""
	if got := BuildCommit(); got == "" {
		t.Error("BuildCommit() is empty without a stamp")
	}
}

// TestWorkerName: --worker-name defaults to the host name and refuses what cannot be a label.
func TestWorkerName(t *testing.T) {
	c, err := ParseServe(nil, env(nil))
	if err != nil || c.WorkerName == "" {
		t.Fatalf("default: %q %v", c.WorkerName, err)
	}
	if c, err = ParseServe([]string{"--worker-name", "concourse-worker-3"}, env(nil)); err != nil || c.WorkerName != "concourse-worker-3" {
		t.Errorf("given: %q %v", c.WorkerName, err)
	}
	for _, bad := range []string{"a\nb", strings.Repeat("w", 300), "\xff"} {
		if _, err := ParseServe([]string{"--worker-name", bad}, env(nil)); err == nil || !strings.Contains(err.Error(), "--worker-name") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if _, err := ParseServe([]string{"--auth-exempt-status"}, env(nil)); err == nil || !strings.Contains(err.Error(), "--auth-exempt-status needs --auth-token-file") {
		t.Errorf("exempt status without a token: %v", err)
	}
}

var _ slog.Handler = (*plainHandler)(nil)
