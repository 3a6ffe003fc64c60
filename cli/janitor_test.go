package cli

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/probes/marker"
	"github.com/deepprobe/deepprobe/workersim/baggageclaimsim"
	"github.com/deepprobe/deepprobe/workersim/gardensim"
	"github.com/deepprobe/deepprobe/workersim/workertest"
)

// lockedBuffer is a strings.Builder that a command and a test may use at once; wrote
// receives a value after writes.
type lockedBuffer struct {
	mu    sync.Mutex
	b     strings.Builder
	wrote chan struct{}
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case l.wrote <- struct{}{}:
	default: // one pending signal says "look again"
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// janitorWorker starts simulators (never real servers: the command reaps) and returns the
// flags that point `deepprobe janitor` at them, and a Baggageclaim client.
func janitorWorker(t *testing.T) ([]string, *baggageclaim.Client) {
	t.Helper()
	g, err := gardensim.NewServer(gardensim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	b, err := baggageclaimsim.NewServer(baggageclaimsim.Config{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	bc, err := baggageclaim.NewClient(b.URL, workertest.HTTPClient(t))
	if err != nil {
		t.Fatal(err)
	}
	return []string{"--garden-url", g.URL, "--baggageclaim-url", b.URL,
		"--probe-timeout", "1s", "--cleanup-timeout", "300ms", "--grace-time", "2s", "--orphan-age", "3s"}, bc
}

// TestJanitorCommandPrintsEachSweep (issue 22): without --once the command sweeps until it is
// stopped and prints each sweep as it ends.
func TestJanitorCommandPrintsEachSweep(t *testing.T) {
	flags, _ := janitorWorker(t)
	out := lockedBuffer{wrote: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, Env{Args: append([]string{"janitor", "--janitor-interval", "10ms"}, flags...),
			Getenv: env(nil), Stdout: &out, Stderr: io.Discard})
	}()
	timeout := time.After(10 * time.Second)
	for strings.Count(out.String(), " found, ") < 2 {
		select {
		case <-out.wrote:
		case <-timeout:
			cancel()
			<-done
			t.Fatalf("no two sweeps printed in 10s: %q", out.String())
		}
	}
	cancel()
	if code := <-done; code != ExitOK {
		t.Errorf("exit %d", code)
	}
	if !strings.Contains(out.String(), "0 found, 0 reaped, 0 would be reaped, 0 skipped, 0 failed") {
		t.Errorf("output %q", out.String())
	}
}

// TestJanitorCommandInstance (issue 19 §6): the command reaps another instance's leftover
// only past 10 x --orphan-age; --instance (default the host name) says which are its own.
func TestJanitorCommandInstance(t *testing.T) {
	flags, bc := janitorWorker(t)
	ctx := context.Background()
	h := marker.HandlePrefix + "other"
	props := map[string]string{marker.MarkerProperty: marker.MarkerValue, marker.InstanceProperty: "other-host",
		marker.CreatedAtProperty: time.Now().Add(-10 * time.Second).UTC().Format(time.RFC3339)}
	if _, err := bc.CreateVolume(ctx, baggageclaim.Request{Handle: h, Strategy: baggageclaim.EmptyStrategy(), Properties: props}); err != nil {
		t.Fatal(err)
	}
	janitor := func(extra ...string) string {
		t.Helper()
		var out strings.Builder
		code := Run(ctx, Env{Args: append(append([]string{"janitor", "--once"}, flags...), extra...), Getenv: env(nil), Stdout: &out, Stderr: io.Discard})
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, out.String())
		}
		return out.String()
	}
	// Older than --orphan-age (3s), younger than 10 x: another instance's, kept.
	if out := janitor(); !strings.Contains(out, "other-host") || !strings.Contains(out, "other-instance") {
		t.Errorf("the host's janitor did not keep another instance's young leftover:\n%s", out)
	}
	if _, err := bc.Volume(ctx, h); err != nil {
		t.Fatalf("another instance's leftover is gone: %v", err)
	}
	// The same instance's janitor reaps it by the orphan age.
	if out := janitor("--instance", "other-host"); !strings.Contains(out, "reaped") {
		t.Errorf("its own instance's janitor did not reap it:\n%s", out)
	}
	if _, err := bc.Volume(ctx, h); !errors.Is(err, baggageclaim.ErrNotFound) {
		t.Errorf("the leftover is still there: %v", err)
	}
}

// TestPrintReportQuotesUpstreamText: a handle from a server cannot break the table.
func TestPrintReportQuotesUpstreamText(t *testing.T) {
	for in, want := range map[string]string{
		"health-check-1":          "health-check-1",
		"garden destroy: 500 x y": "garden destroy: 500 x y",
		"a\tb":                    `"a\tb"`,
		"a\nKIND\tforged":         `"a\nKIND\tforged"`,
		"\x1b[31mred":             `"\x1b[31mred"`,
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %s, want %s", in, got, want)
		}
	}
}
