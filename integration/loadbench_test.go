package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildLoadbench builds the load harness next to the other binaries.
func buildLoadbench(t *testing.T) string {
	t.Helper()
	bench := filepath.Join(binDir, "loadbench")
	if out, err := exec.Command("go", "build", "-o", bench, "./cmd/loadbench").CombinedOutput(); err != nil {
		t.Fatalf("building loadbench: %v\n%s", err, out)
	}
	return bench
}

// runLoadbench runs the harness with env added to the test's own and returns its report.
func runLoadbench(t *testing.T, env []string, args ...string) (report, out string, err error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	cmd := exec.Command(buildLoadbench(t), append([]string{"-bin", binDir, "-out", path}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	b, err := cmd.CombinedOutput()
	r, rerr := os.ReadFile(path)
	if rerr != nil {
		t.Fatalf("no report: %v\n%s", rerr, b)
	}
	if strings.Contains(string(r), "could not be taken") || strings.Contains(string(b), "could not be taken") {
		t.Fatalf("a figure could not be taken:\n%s\n%s", b, r)
	}
	return string(r), string(b), err
}

// TestLoadbenchCompletesAgainstARacingWorker runs the load harness in its real-server mode
// (DEEPPROBE_GARDEN_URL and DEEPPROBE_BAGGAGECLAIM_URL set) against a worker whose DELETE
// sometimes answers Garden's "container already being destroyed" (the simulator's reaper-race
// fault), at a hundredth of its counts: it must run to the end, take every figure it can, and
// report the figures that need the simulators' knobs as not taken.
func TestLoadbenchCompletesAgainstARacingWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the load harness")
	}
	w := startWorker(t, "--garden-reaper-race-every", "3")
	w.needSim(t)
	text, out, err := runLoadbench(t, []string{"DEEPPROBE_GARDEN_URL=" + w.gardenURL, "DEEPPROBE_BAGGAGECLAIM_URL=" + w.bcURL}, "-scale", "0.01")
	for _, want := range []string{"1. workload overhead (median), real servers", "7. cost to the worker", "Run against real servers",
		"| 11. busy worker | - | - | not taken against real servers", "| 12. wedged worker | - | - | not taken against real servers",
		"| 13. Concourse's garbage collector | - | - | not taken against real servers", "| 5. slow worker | - | - | not taken"} {
		if !strings.Contains(text, want) {
			t.Errorf("the report lacks %q:\n%s", want, text)
		}
	}
	if n := w.calls(t, "garden")["destroy"]; n == 0 {
		t.Error("the harness destroyed no container")
	}
	if err != nil && !strings.Contains(out, "missed by more than 2x") {
		t.Errorf("loadbench failed: %v\n%s", err, out)
	}
}

// TestLoadbenchWorkerFigures takes figures 11-13 (busy, wedged, Concourse's garbage collector)
// on the simulators at a tenth of their times and a hundredth of their counts: every profile
// gets its rows, the wedge is seen as 503 stalled and the kubelet's restart decision is
// reached. Verdicts are not asserted here (the machine may be loaded); make bench judges them.
func TestLoadbenchWorkerFigures(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the load harness")
	}
	if realServers() {
		t.Skip("figures 11-13 need the simulators' load, wedge and garbage collector")
	}
	text, out, err := runLoadbench(t, nil, "-scale", "0.01", "-figures", "11-13")
	for _, p := range []string{"containerd", "guardian", "houdini"} {
		for _, want := range []string{"11. busy worker, " + p, "12. wedged worker, " + p + ", wedged just after a probe",
			"12. wedged worker, " + p + ", wedged just before a probe", "13. Concourse's garbage collector every 1s, " + p + ", 10 workloads"} {
			if !strings.Contains(text, want) {
				t.Errorf("the report lacks %q:\n%s", want, text)
			}
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "| 12. ") && (!strings.Contains(line, "first 503 stalled") || strings.Contains(line, "not reached")) {
			t.Errorf("the wedge was not seen as 503 stalled up to the restart decision: %s", line)
		}
	}
	if err != nil && !strings.Contains(out, "missed by more than 2x") {
		t.Errorf("loadbench failed: %v\n%s", err, out)
	}
}
