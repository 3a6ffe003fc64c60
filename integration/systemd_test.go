package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/internal/cli"
)

const systemdDir = "../deploy/systemd"

// TestSystemdUnits verifies the units with systemd-analyze (pointed at the binary built for the
// tests), and checks their command lines with deepprobe's own parsers and its stop bound.
func TestSystemdUnits(t *testing.T) {
	units := []string{"deepprobe.service", "deepprobe-check.service", "deepprobe-check.timer"}
	dir := t.TempDir()
	for _, u := range units {
		b, err := os.ReadFile(filepath.Join(systemdDir, u))
		if err != nil {
			t.Fatal(err)
		}
		b = []byte(strings.ReplaceAll(string(b), "/usr/local/bin/deepprobe", filepath.Join(binDir, "deepprobe")))
		if err := os.WriteFile(filepath.Join(dir, u), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("command lines", func(t *testing.T) {
		serve := execStart(t, "deepprobe.service")
		cfg, err := cli.ParseServe(serve[2:], func(string) string { return "" })
		if err != nil || serve[1] != "serve" {
			t.Fatalf("ExecStart %v: %v", serve, err)
		}
		stop := unitDuration(t, "deepprobe.service", "TimeoutStopSec")
		if bound := cfg.ShutdownTimeout + 2*cfg.CleanupTimeout + time.Second; stop <= bound {
			t.Errorf("TimeoutStopSec %s must exceed deepprobe's stop bound %s", stop, bound)
		}
		check := execStart(t, "deepprobe-check.service")
		if check[1] != "check" || checkTimeout(t, check[2:])*9/10 <= cfg.ProbeTimeout {
			t.Errorf("check ExecStart %v must wait longer than --probe-timeout %s", check, cfg.ProbeTimeout)
		}
		period := unitDuration(t, "deepprobe-check.timer", "OnUnitActiveSec")
		if period < cfg.MinInterval || period+checkTimeout(t, check[2:]) > cfg.Freshness {
			t.Errorf("timer period %s: want at least --min-interval %s and, with the check's wait, within --freshness %s", period, cfg.MinInterval, cfg.Freshness)
		}
	})
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("\n*** SKIPPING systemd-analyze verify: systemd-analyze is not installed ***")
		return
	}
	args := append([]string{"verify", "--man=no"}, units...)
	cmd := exec.Command(analyze, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// unitLine returns the value of key in a unit file of deploy/systemd.
func unitLine(t *testing.T, unit, key string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(systemdDir, unit))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return v
		}
	}
	t.Fatalf("%s has no %s", unit, key)
	return ""
}

func execStart(t *testing.T, unit string) []string {
	return strings.Fields(unitLine(t, unit, "ExecStart"))
}

func unitDuration(t *testing.T, unit, key string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(unitLine(t, unit, key))
	if err != nil {
		t.Fatalf("%s %s: %v", unit, key, err)
	}
	return d
}
