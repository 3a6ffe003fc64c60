package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadbenchCompletesAgainstARacingWorker runs the load harness in its real-server mode
// (DEEPPROBE_GARDEN_URL and DEEPPROBE_BAGGAGECLAIM_URL set) against a worker whose DELETE
// sometimes answers Garden's "container already being destroyed" (the simulator's reaper-race
// fault), at a hundredth of its counts: it must run to the end and take every figure it can.
func TestLoadbenchCompletesAgainstARacingWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the load harness")
	}
	w := startWorker(t, "--garden-reaper-race-every", "3")
	w.needSim(t)
	bench := filepath.Join(binDir, "loadbench")
	if out, err := exec.Command("go", "build", "-o", bench, "./cmd/loadbench").CombinedOutput(); err != nil {
		t.Fatalf("building loadbench: %v\n%s", err, out)
	}
	report := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	cmd := exec.Command(bench, "-bin", binDir, "-scale", "0.01", "-out", report)
	cmd.Env = append(os.Environ(), "DEEPPROBE_GARDEN_URL="+w.gardenURL, "DEEPPROBE_BAGGAGECLAIM_URL="+w.bcURL)
	out, err := cmd.CombinedOutput()
	b, rerr := os.ReadFile(report)
	if rerr != nil {
		t.Fatalf("no report: %v\n%s", rerr, out)
	}
	text := string(b)
	if strings.Contains(text, "could not be taken") || strings.Contains(string(out), "could not be taken") {
		t.Fatalf("a figure could not be taken:\n%s\n%s", out, text)
	}
	for _, want := range []string{"1. workload overhead (median), real servers", "7. cost to the worker", "Run against real servers"} {
		if !strings.Contains(text, want) {
			t.Errorf("the report lacks %q:\n%s", want, text)
		}
	}
	if n := w.calls(t, "garden")["destroy"]; n == 0 {
		t.Error("the harness destroyed no container")
	}
	if err != nil && !strings.Contains(string(out), "missed by more than 2x") {
		t.Errorf("loadbench failed: %v\n%s", err, out)
	}
}
