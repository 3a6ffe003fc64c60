package integration

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/cli"
	"github.com/deepprobe/deepprobe/probes"
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
		if bound := cfg.ShutdownTimeout + (probes.Timing{CleanupTimeout: cfg.CleanupTimeout}).CancelledRun() + time.Second; stop <= bound {
			t.Errorf("TimeoutStopSec %s must exceed deepprobe's stop bound %s", stop, bound)
		}
		check := execStart(t, "deepprobe-check.service")
		ccfg, err := cli.ParseCheck(check[2:], func(string) string { return "" })
		if err != nil || check[1] != "check" {
			t.Fatalf("check ExecStart %v: %v", check, err)
		}
		if ccfg.Wait() <= cfg.ProbeTimeout {
			t.Errorf("check ExecStart %v must wait longer than --probe-timeout %s", check, cfg.ProbeTimeout)
		}
		if u, _ := url.Parse(ccfg.URL); u.Port() != strconv.Itoa(int(listenPort(t, cfg.Listen))) {
			t.Errorf("check --url %s is not deepprobe's --listen %s", ccfg.URL, cfg.Listen)
		}
		if start := unitDuration(t, "deepprobe-check.service", "TimeoutStartSec"); start <= ccfg.MaxDuration() {
			t.Errorf("TimeoutStartSec %s must exceed the check's longest run %s: systemd would kill it before its verdict", start, ccfg.MaxDuration())
		}
		period := unitDuration(t, "deepprobe-check.timer", "OnUnitActiveSec")
		checkPeriod(t, cfg, period, ccfg.Wait())
		// OnFailure= on the check unit acts on the first failed check.
		checkVerdicts(t, cfg, caller{period: period, wait: ccfg.Wait(), failures: 1})
	})
	t.Run("guard", func(t *testing.T) {
		// deepprobe's absence must not fail the check unit, whose OnFailure= restarts the worker.
		check := execStart(t, "deepprobe-check.service")
		ccfg, _ := cli.ParseCheck(check[2:], func(string) string { return "" })
		if u, _ := url.Parse(ccfg.FallbackURL); ccfg.Unreachable != cli.UnreachableFallback || u.Port() != "8888" {
			t.Errorf("check --unreachable %s --fallback-url %q: want fallback to the worker's own health endpoint (:8888)", ccfg.Unreachable, ccfg.FallbackURL)
		}
		for _, key := range []string{"Requires", "BindsTo", "Requisite", "PartOf"} {
			if v, ok := unitValue(t, "deepprobe-check.service", key); ok && strings.Contains(v, "deepprobe.service") {
				t.Errorf("%s=%s: a deepprobe that fails to start would fail the check unit, and OnFailure= would restart the worker", key, v)
			}
		}
	})
	t.Run("systemd-analyze verify", func(t *testing.T) { // a subtest, so that make test's summary lists its skip
		analyze, err := exec.LookPath("systemd-analyze")
		if err != nil {
			t.Skip("SKIPPED LOUDLY: systemd-analyze is not installed (Debian package systemd)")
		}
		args := append([]string{"verify", "--man=no"}, units...)
		cmd := exec.Command(analyze, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	})
}

// unitLine returns the value of key in a unit file of deploy/systemd.
func unitLine(t *testing.T, unit, key string) string {
	t.Helper()
	v, ok := unitValue(t, unit, key)
	if !ok {
		t.Fatalf("%s has no %s", unit, key)
	}
	return v
}

// unitValue returns the value of key in a unit file of deploy/systemd, if it is set.
func unitValue(t *testing.T, unit, key string) (string, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(systemdDir, unit))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return v, true
		}
	}
	return "", false
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
