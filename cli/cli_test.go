package cli

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/deepprobe/deepprobe/workersim/baggageclaimsim"
	"github.com/deepprobe/deepprobe/workersim/gardensim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestParseServe(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, c ServeConfig)
		wantErr string
	}{
		{name: "defaults", check: func(t *testing.T, c ServeConfig) {
			if c.Listen != ":8889" || c.GardenURL != "http://127.0.0.1:7777" || c.ProbeTimeout != 5*time.Second ||
				c.OrphanAge != 10*time.Minute+6*time.Second || c.MaxWait != 12*time.Second || c.JanitorInterval != time.Minute ||
				c.HardTimeout != 5*time.Minute || c.StallTimeout != 30*time.Second || c.GraceTime != 10*time.Minute || c.ContainerReserve != 1 {
				t.Errorf("%+v", c)
			}
		}},
		{name: "environment fills what flags leave", args: []string{"--probe-timeout", "2s"},
			env: map[string]string{"DEEPPROBE_PROBE_TIMEOUT": "3s", "DEEPPROBE_MIN_INTERVAL": "7s", "DEEPPROBE_AUTH_EXEMPT_SHALLOW": "true", "DEEPPROBE_AUTH_TOKEN_FILE": "/t"},
			check: func(t *testing.T, c ServeConfig) {
				if c.ProbeTimeout != 2*time.Second || c.MinInterval != 7*time.Second || !c.AuthExemptShallow {
					t.Errorf("%+v", c)
				}
			}},
		{name: "bad env names the variable", env: map[string]string{"DEEPPROBE_FAILURE_THRESHOLD": "many"}, wantErr: "DEEPPROBE_FAILURE_THRESHOLD (--failure-threshold)"},
		{name: "grace time", args: []string{"--grace-time", "5s"}, wantErr: "--grace-time (5s) must exceed --hard-timeout (5s)"},
		{name: "an older grace time still runs, under a shorter hard timeout", args: []string{"--grace-time", "1m"}, check: func(t *testing.T, c ServeConfig) {
			if c.HardTimeout != 55*time.Second || c.OrphanAge != 116*time.Second {
				t.Errorf("hard timeout %s, orphan age %s", c.HardTimeout, c.OrphanAge)
			}
		}},
		{name: "zero means the default, as in package probes", args: []string{"--probe-timeout", "0", "--min-interval", "0s", "--shallow-timeout", "0s", "--grace-time", "0s"},
			check: func(t *testing.T, c ServeConfig) {
				if c.ProbeTimeout != 5*time.Second || c.MinInterval != 5*time.Second || c.ShallowTimeout != 2*time.Second || c.GraceTime != 10*time.Minute {
					t.Errorf("probe timeout %s, min interval %s, shallow timeout %s, grace time %s", c.ProbeTimeout, c.MinInterval, c.ShallowTimeout, c.GraceTime)
				}
			}},
		{name: "negative shallow reuse", args: []string{"--shallow-reuse", "-1s"}, wantErr: "--shallow-reuse: must not be negative"},
		{name: "hard timeout above the grace time", args: []string{"--grace-time", "1m", "--hard-timeout", "5m"}, wantErr: "--grace-time (1m0s) must exceed --hard-timeout (5m0s)"},
		{name: "hard timeout below the probe timeout", args: []string{"--hard-timeout", "1s"}, wantErr: "--hard-timeout (1s) must be at least --probe-timeout (5s)"},
		{name: "stall timeout too short to see progress", args: []string{"--stall-timeout", "1s"}, wantErr: "--stall-timeout (1s) must be at least 2s"},
		{name: "stall timeout above the hard timeout", args: []string{"--stall-timeout", "6m"}, wantErr: "--stall-timeout (6m0s) must not exceed --hard-timeout (5m0s)"},
		{name: "a hard timeout below the default stall timeout rules alone", args: []string{"--hard-timeout", "10s", "--grace-time", "1m"},
			check: func(t *testing.T, c ServeConfig) {
				if c.StallTimeout != 10*time.Second || c.HardTimeout != 10*time.Second {
					t.Errorf("stall %s, hard %s", c.StallTimeout, c.HardTimeout)
				}
			}},
		{name: "reserve takes every slot", args: []string{"--max-containers", "2", "--container-reserve", "2"}, wantErr: "--container-reserve (2) must be less than --max-containers (2)"},
		{name: "orphan age", args: []string{"--orphan-age", "6s"}, wantErr: "--orphan-age (6s) must be at least the longest workload"},
		{name: "max age without interval", args: []string{"--max-age", "1m"}, wantErr: "--max-age: only applies with --interval"},
		{name: "relative rootfs", args: []string{"--rootfs-import-path", "skel"}, wantErr: "--rootfs-import-path: must be absolute"},
		{name: "freshness and process timeout defaults", check: func(t *testing.T, c ServeConfig) {
			if c.Freshness != 48*time.Second || c.OnSaturation != "warn" {
				t.Errorf("freshness %s, on-saturation %s", c.Freshness, c.OnSaturation)
			}
		}},
		{name: "process timeout above the probe timeout", args: []string{"--process-timeout", "6s"}, wantErr: "--process-timeout (6s) must not exceed --probe-timeout (5s)"},
		{name: "freshness below the min interval", args: []string{"--freshness", "1s"}, wantErr: "--freshness (1s) must be at least --min-interval"},
		{name: "unknown stage", args: []string{"--skip-stages", "volume.fly"}, wantErr: `--skip-stages: unknown or non-optional stage "volume.fly"`},
		{name: "stage dependency", args: []string{"--skip-stages", "volume.stream_in"}, wantErr: "--skip-stages: skipping volume.stream_in leaves process.run without it"},
		{name: "bad saturation verdict", args: []string{"--on-saturation", "panic"}, wantErr: `--on-saturation must be warn or fail, got "panic"`},
		{name: "exempt without token", args: []string{"--auth-exempt-shallow"}, wantErr: "--auth-exempt-shallow needs --auth-token-file"},
		{name: "stray argument", args: []string{"now"}, wantErr: "unexpected arguments: now"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseServe(tt.args, env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestWriteHeartbeat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hb")
	now := time.Unix(1795236598, 0)
	if err := writeHeartbeat(path, now); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if got, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); got != now.Unix() {
		t.Fatalf("heartbeat %q", b)
	}
	if err := writeHeartbeat(filepath.Join(t.TempDir(), "missing", "hb"), now); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}

// TestMainServesAndStops runs the real Main on :0 against the simulators, as the binary does.
func TestMainServesAndStops(t *testing.T) {
	g, err := gardensim.NewServer(gardensim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	b, err := baggageclaimsim.NewServer(baggageclaimsim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cfg, err := ParseServe([]string{"--listen", "127.0.0.1:0", "--garden-url", g.URL, "--baggageclaim-url", b.URL}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, func(a string) { addr <- a }) }()
	url := "http://" + <-addr
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("still serving after Run returned")
	}
}

func TestRunExitCodes(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		out  string
	}{
		{nil, ExitFailure, "usage: deepprobe"},
		{[]string{"frobnicate"}, ExitFailure, `unknown subcommand "frobnicate"`},
		{[]string{"version"}, ExitOK, "deepprobe dev"},
		{[]string{"serve", "--probe-timeout", "-1s"}, ExitFailure, "--probe-timeout: must not be negative, got -1s"},
		{[]string{"janitor", "--once", "--garden-url", "nope"}, ExitFailure, "--garden-url"},
		{[]string{"check", "--url", "http://127.0.0.1:1/healthz", "--timeout", "1s"}, ExitFailure, "unhealthy: no answer"},
	} {
		var out strings.Builder
		code := Run(context.Background(), Env{Args: tt.args, Getenv: env(nil), Stdout: &out, Stderr: &out})
		if code != tt.code || !strings.Contains(out.String(), tt.out) {
			t.Errorf("%v: exit %d, output %q; want %d and %q", tt.args, code, out.String(), tt.code, tt.out)
		}
	}
}

func TestReadToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want, wantErr string
	}{
		{"good, trimmed", write("ok", "  abcdefghijklmnop1234 \r\nsecond line\n"), "abcdefghijklmnop1234", ""},
		{"a character device is not read", "/dev/zero", "", "not a regular file"},
		{"a FIFO does not hang start-up", fifo, "", "not a regular file"},
		{"a directory", dir, "", "not a regular file"},
		{"too large", write("big", strings.Repeat("a", 5000)), "", "larger than 4096 bytes"},
		{"byte-order mark", write("bom", "\uFEFFabcdefghijklmnop1234\n"), "", "byte-order mark"},
		{"control character", write("ctl", "abcdefgh\x07ijklmnop1234\n"), "", "control character"},
		{"one character", write("short", "x\n"), "", "use at least 16"},
		{"empty", write("empty", "\n\n"), "", "holds no token"},
		{"inner space", write("space", "abcdefgh ijklmnop1234\n"), "", "holds a space"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readToken(tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "--auth-token-file") {
					t.Fatalf("err = %v, want it to say %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}

// TestHeartbeatLeavesNothingBehind: a rename that fails (the path is a directory) leaves no
// temporary file, however often it is tried.
func TestHeartbeatLeavesNothingBehind(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "heartbeat")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := writeHeartbeat(target, time.Unix(1700000000, 0)); err == nil {
			t.Fatal("writing over a directory succeeded")
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("left in %s: %v", dir, names)
	}
}

func TestForceOnSecondSignal(t *testing.T) {
	signals := make(chan os.Signal, 2)
	stopped := make(chan struct{})
	exited := make(chan int, 1)
	var out strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		forceOnSecondSignal(signals, func() { close(stopped) }, consoleLogger(Env{Stderr: &out}), func(code int) { exited <- code })
	}()
	signals <- syscall.SIGTERM
	<-stopped
	select {
	case <-exited:
		t.Fatal("exited on the first signal")
	default:
	}
	signals <- syscall.SIGINT
	if code := <-exited; code != ExitFailure {
		t.Errorf("exit code %d", code)
	}
	<-done
	if !strings.Contains(out.String(), "send it again to exit at once") {
		t.Errorf("output %q", out.String())
	}
}
