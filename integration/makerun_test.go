package integration

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// makeRun is `make run` with the binaries in bin (not rebuilt), in a process group of its own.
type makeRun struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	line chan string // every line of its output
	done chan struct{}
}

func startMakeRun(t *testing.T, bin string) *makeRun {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	m := &makeRun{line: make(chan string, 1000), done: make(chan struct{})}
	m.cmd = exec.Command("make", "-s", "-C", "..", "-o", "build", "run", "BIN="+bin, "LISTEN=127.0.0.1:0")
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	m.cmd.Stdout, m.cmd.Stderr = pw, pw
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = m.cmd.Wait()
		_ = pw.Close()
	}()
	go func() {
		defer close(m.done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			m.mu.Lock()
			m.out.WriteString(sc.Text() + "\n")
			m.mu.Unlock()
			select {
			case m.line <- sc.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGTERM) // make, its shell, workersim, deepprobe
		select {
		case <-m.done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
			<-m.done
		}
		if t.Failed() {
			t.Logf("make run printed:\n%s", m.output())
		}
	})
	return m
}

func (m *makeRun) output() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.out.String()
}

// await returns the first submatch of each regexp, in the order their lines come.
func (m *makeRun) await(t *testing.T, res ...*regexp.Regexp) []string {
	t.Helper()
	got := make([]string, len(res))
	missing := len(res)
	deadline := time.After(30 * time.Second)
	for missing > 0 {
		select {
		case l := <-m.line:
			for i, re := range res {
				if got[i] == "" {
					if sm := re.FindStringSubmatch(l); sm != nil {
						got[i] = sm[1]
						missing--
					}
				}
			}
		case <-m.done:
			t.Fatalf("make run ended before printing %v", res)
		case <-deadline:
			t.Fatalf("make run did not print %v within 30s", res)
		}
	}
	return got
}

// TestMakeRunUsesItsOwnSimulators: with the default Garden, Baggageclaim and admin ports taken
// (here by stand-ins for a real worker's daemons), `make run` starts its simulators on free
// ports and points deepprobe at exactly those: a deep check passes and never reaches the
// stand-ins, and the fault-injection URL it prints is workersim's own.
func TestMakeRunUsesItsOwnSimulators(t *testing.T) {
	var hits atomic.Int64
	taken := 0
	for _, port := range []string{"7777", "7788", "7789"} {
		ln, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err != nil {
			continue // already taken by something else: the check below still holds
		}
		taken++
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			w.WriteHeader(http.StatusTeapot)
		}), ReadHeaderTimeout: time.Second}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
	}
	m := startMakeRun(t, binDir)
	got := m.await(t, regexp.MustCompile(`deepprobe listening" addr=(\S+)`),
		regexp.MustCompile(`fault injection: curl -X PUT (\S+)/garden/faults/create`),
		regexp.MustCompile(`simulators: Garden (\S+),`))
	addr, admin, garden := got[0], got[1], got[2]
	for _, u := range []string{admin, garden} {
		if strings.HasSuffix(u, ":7777") || strings.HasSuffix(u, ":7788") || strings.HasSuffix(u, ":7789") {
			t.Errorf("make run uses a default port: %s", u)
		}
	}
	resp, err := http.Get("http://" + addr + "/healthz?timeout=10s")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz answered %d, want 200 from the simulators", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPut, admin+"/garden/faults/create", strings.NewReader(`{"status":500}`))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the printed fault-injection URL: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("the printed fault-injection URL answered %d, want 204", resp.StatusCode)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("make run sent %d requests to the default ports (%d of them held by stand-ins for a real worker)", n, taken)
	}
}

// TestMakeRunStopsWhenTheSimulatorsDoNotStart: when workersim cannot start, `make run` exits
// non-zero with workersim's reason, and deepprobe is never started.
func TestMakeRunStopsWhenTheSimulatorsDoNotStart(t *testing.T) {
	bin := t.TempDir()
	if err := os.Symlink(filepath.Join(binDir, "deepprobe"), filepath.Join(bin, "deepprobe")); err != nil {
		t.Fatal(err)
	}
	const reason = "workersim: --garden-listen: listen tcp: no port for you"
	script := "#!/bin/sh\necho '" + reason + "' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "workersim"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	m := startMakeRun(t, bin)
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		t.Fatal("make run is still running without its simulators")
	}
	out := m.output()
	if m.cmd.ProcessState.ExitCode() == 0 || !strings.Contains(out, reason) || strings.Contains(out, "deepprobe listening") {
		t.Errorf("exit code %d; want non-zero, workersim's reason, and no deepprobe", m.cmd.ProcessState.ExitCode())
	}
}
