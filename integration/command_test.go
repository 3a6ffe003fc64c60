package integration

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/workersim/faults"
)

// runCommand runs the deepprobe binary to completion and returns its combined output and exit
// code.
func runCommand(t *testing.T, args []string, env []string) (string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "deepprobe"), args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("deepprobe %v did not exit\n%s", args, out.String())
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

// TestCheckCommand covers `deepprobe check`'s exit codes and output; it never exits 2.
func TestCheckCommand(t *testing.T) {
	w := startWorker(t)
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("s3cret-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDeepprobe(t, w, "--min-interval", "1ns", "--auth-token-file", token, "--auth-exempt-shallow")
	healthy := []string{"--url", d.url + "/healthz", "--auth-token-file", token}
	if realServers() { // a loaded worker's workload may outlast check's default --timeout
		healthy = append(healthy, "--timeout", realWait.String())
	}
	tests := []struct {
		name     string
		fault    bool
		args     []string
		wantCode int
		want     []string
	}{
		{"healthy", false, healthy, 0,
			[]string{"[+]volume.create ok", "[+]volume.destroy ok", "healthy (pass, deep check"}},
		{"unhealthy", true, []string{"--url", d.url + "/healthz", "--auth-token-file", token}, 1,
			[]string{"[-]container.create failed (upstream_error): garden create: 500", "unhealthy: HTTP 503: container.create failed"}},
		{"shallow", false, []string{"--url", d.url + "/livez"}, 0, []string{"[+]garden.ping ok", "shallow check"}},
		{"401 without the token", false, []string{"--url", d.url + "/healthz"}, 1,
			[]string{"unhealthy: HTTP 401: missing or wrong bearer token"}},
		{"connection refused", false, []string{"--url", "http://127.0.0.1:1/healthz", "--timeout", "2s"}, 1,
			[]string{"unhealthy: no answer from deepprobe", "connection refused"}},
		{"ping needs no token", false, []string{"--url", d.url + "/ping"}, 0, []string{"ping check passed", "decided by deepprobe"}},
		{"refused, the fallback decides", false, []string{"--url", "http://127.0.0.1:1/healthz", "--timeout", "2s", "--unreachable", "fallback", "--fallback-url", d.url + "/ping"}, 0,
			[]string{"no answer from deepprobe", "asking the fallback", "answered HTTP 200 (decided by the fallback)"}},
		{"deepprobe's 401 is its verdict, not the fallback's", false, []string{"--url", d.url + "/healthz", "--unreachable", "fallback", "--fallback-url", d.url + "/ping"}, 1,
			[]string{"unhealthy: HTTP 401", "(decided by deepprobe)"}},
		{"refused, pass", false, []string{"--url", "http://127.0.0.1:1/healthz", "--unreachable", "pass"}, 0, []string{"(decided by --unreachable pass)"}},
		{"bad --unreachable", false, []string{"--unreachable", "fallback"}, 1, []string{"--unreachable fallback needs --fallback-url"}},
		{"bad URL", false, []string{"--url", "localhost:8889/healthz"}, 1, []string{"--url must be an http(s) URL"}},
		{"bad flag", false, []string{"--nope"}, 1, []string{"unknown flag --nope"}},
		{"bad timeout", false, []string{"--timeout", "0s"}, 1, []string{"--timeout must be positive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fault {
				w.needSim(t)
				w.fault(t, "garden", garden.RouteCreate, faults.Fault{Status: 500, Times: 1})
			}
			out, code := runCommand(t, append([]string{"check"}, tt.args...), nil)
			if realServers() && tt.name == "healthy" {
				// busy or interrupted is healthy too (warn), but this case needs the pass.
				for deadline := time.Now().Add(within(0)); code == 0 && strings.Contains(out, "healthy (warn") && time.Now().Before(deadline); {
					t.Logf("a warning, correct beside a loaded worker or a web node's GC; checking again for a pass:\n%s", out)
					out, code = runCommand(t, append([]string{"check"}, tt.args...), nil)
				}
			}
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\n%s", code, tt.wantCode, out)
			}
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestInstallCommand: the binary copies itself into a directory (as an init container does),
// executable, and refuses a directory it cannot write, naming it.
func TestInstallCommand(t *testing.T) {
	dir := t.TempDir()
	out, code := runCommand(t, []string{"install", dir}, nil)
	if code != 0 || !strings.Contains(out, "installed "+filepath.Join(dir, "deepprobe")) {
		t.Fatalf("exit %d\n%s", code, out)
	}
	installed := filepath.Join(dir, "deepprobe")
	info, err := os.Stat(installed)
	if err != nil || info.Mode().Perm() != 0o755 {
		t.Fatalf("installed binary: %v %v", info, err)
	}
	if out, err := exec.Command(installed, "version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "deepprobe ") {
		t.Errorf("the installed copy does not run: %v %s", err, out)
	}
	file := filepath.Join(dir, "deepprobe") // a file, not a directory
	for _, bad := range []string{filepath.Join(dir, "missing"), file, "/proc"} {
		if out, code := runCommand(t, []string{"install", bad}, nil); code != 1 || !strings.Contains(out, bad) {
			t.Errorf("install %s: exit %d, want 1 naming it\n%s", bad, code, out)
		}
	}
}
