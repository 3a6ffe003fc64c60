package workersim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/workersim/baggageclaimsim"
	"github.com/deepprobe/deepprobe/workersim/capture"
	"github.com/deepprobe/deepprobe/workersim/gardensim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// worker is one recorded pair of servers, simulated: requests go to the simulator standing for
// the port they were recorded against.
type worker struct {
	byPort   map[string]string // recorded port -> simulator base URL
	recorded string            // the recorded state directory
	state    string            // the simulators' state directory
	// rootfsEtc makes the etc/ of every raw:// rootfs a create names, as it existed on the
	// recorded machine (houdini needs it).
	rootfsEtc bool
	// extra are more old, new pairs to replace in requests and recorded answers.
	extra []string
}

var rootfsPattern = regexp.MustCompile(`"rootfs":"raw://([^"]+)"`)

func startWorker(t *testing.T, recordedState string, ports map[string]gardensim.Config, bcPort string) *worker {
	t.Helper()
	w := &worker{byPort: map[string]string{}, recorded: recordedState, state: t.TempDir()}
	for port, cfg := range ports {
		g, err := gardensim.NewServer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(g.Close)
		w.byPort[port] = g.URL
	}
	if bcPort != "" {
		b, err := baggageclaimsim.NewServer(baggageclaimsim.Config{StateDir: w.state})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Close)
		w.byPort[bcPort] = b.URL
	}
	return w
}

func (w *worker) rewrite(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte(w.recorded), []byte(w.state))
	for i := 0; i+1 < len(w.extra); i += 2 {
		b = bytes.ReplaceAll(b, []byte(w.extra[i]), []byte(w.extra[i+1]))
	}
	return b
}

// replay sends each step to its simulator and compares status, Content-Type and body byte for
// byte; a hijacked process answer is compared line by line (process ids are random).
func (w *worker) replay(t *testing.T, steps ...string) {
	t.Helper()
	for _, step := range steps {
		x := capture.LoadTestdata(t, step)
		u, err := url.Parse("http://" + x.Request.Host)
		if err != nil {
			t.Fatal(err)
		}
		base, ok := w.byPort[u.Port()]
		if !ok {
			t.Fatalf("%s: no simulator for port %s", step, u.Port())
		}
		if m := rootfsPattern.FindSubmatch(w.rewrite(x.RequestBody)); w.rootfsEtc && m != nil {
			if err := os.MkdirAll(filepath.Join(string(m[1]), "etc"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		got := capture.Send(t, base, x, w.rewrite)
		if got.Status != x.Response.StatusCode {
			t.Errorf("%s: status %d, recorded %d (%s)", step, got.Status, x.Response.StatusCode, got.Body)
			continue
		}
		if want := x.Response.Header.Get("Content-Type"); got.ContentType != want {
			t.Errorf("%s: Content-Type %q, recorded %q", step, got.ContentType, want)
		}
		if x.Hijacked() {
			compareProcessStream(t, step, got.Body, x.ResponseBody)
			continue
		}
		if want := w.rewrite(x.ResponseBody); !bytes.Equal(got.Body, want) {
			t.Errorf("%s: body\n%s\nrecorded\n%s", step, got.Body, want)
		}
	}
}

// compareProcessStream checks that both streams are the same payloads but for the ids.
func compareProcessStream(t *testing.T, step string, got, want []byte) {
	t.Helper()
	shape := func(b []byte) []string {
		var out []string
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var p garden.ProcessPayload
			if err := json.Unmarshal([]byte(line), &p); err != nil || p.ProcessID == "" {
				return append(out, "bad line "+line)
			}
			switch {
			case p.StreamID != "":
				out = append(out, "stream")
			case p.ExitStatus != nil:
				out = append(out, "exit "+string(rune('0'+*p.ExitStatus)))
			}
		}
		return out
	}
	if g, w := strings.Join(shape(got), ","), strings.Join(shape(want), ","); g != w {
		t.Errorf("%s: process stream %s (%q), recorded %s", step, g, got, w)
	}
}

// TestContainerdCaptures replays the containerd session, in its recorded order, against the
// containerd profile. Skipped: ctrd-34 runs /false, which the simulator does not execute
// (it exits 0 for any executable file).
func TestContainerdCaptures(t *testing.T) {
	w := startWorker(t, "/opt/concourse", map[string]gardensim.Config{
		"7777": {Runtime: "containerd"},
		"7977": {Runtime: "containerd", MaxContainers: 2},
	}, "7788")
	steps := []string{
		"ctrd-01-ping", "ctrd-02-capacity", "ctrd-03-bc-create-empty", "ctrd-04-create-on-empty-volume",
		"ctrd-05-set-grace-time", "ctrd-06-properties", "ctrd-07-list-filter-underscore-key", "ctrd-08-list-filter-hyphen-key",
		"ctrd-09-list-filter-two-props", "ctrd-10-list-filter-nomatch", "ctrd-11-list-all", "ctrd-12-destroy",
		"ctrd-13-destroy-unknown", "ctrd-14-properties-unknown", "ctrd-15-set-grace-time-unknown", "ctrd-16-bc-destroy-volume",
		"ctrd-17-bc-create-empty-dup-target", "ctrd-18-create-dup-target", "ctrd-19-create-duplicate", "ctrd-20-destroy-dup-target",
		"ctrd-21-bc-destroy-volume-dup-target", "ctrd-22-bc-create-empty", "ctrd-23-bc-stream-in-raw", "ctrd-24-bc-stream-in-raw-false",
		"ctrd-25-bc-stream-in-gzip-uncompressed", "ctrd-26-bc-stream-in-no-encoding", "ctrd-27-bc-stream-in-unknown-volume",
		"ctrd-28-bc-create-empty-limit-target", "ctrd-29-bc-stream-in-limit-exceeded", "ctrd-30-bc-destroy-volume-limit-target",
		"ctrd-31-create-for-processes", "ctrd-32-run-true-user-root", "ctrd-33-run-true-no-user",
		"ctrd-35-run-missing-path", "ctrd-36-run-unknown-container", "ctrd-37-destroy", "ctrd-38-bc-destroy-volume",
		"ctrd-42-maxc-create-1", "ctrd-43-maxc-create-2", "ctrd-44-maxc-create-3-max-reached", "ctrd-45-maxc-list",
		"ctrd-46-maxc-destroy-1", "ctrd-47-maxc-destroy-2",
	}
	w.replay(t, steps...)
	// Destroying the volume removed what the stream-ins wrote.
	info, err := os.Stat(filepath.Join(w.state, "volumes/live/health-check-80c59b0f-c82a-4e76-afdf-217052957db8"))
	if err == nil {
		t.Errorf("destroyed volume still on disk: %v", info)
	}
}

// TestContainerdReaperRace replays the iteration in which Garden's grace-time reaper raced the
// DELETE (ctrd-39..41), with the simulator's race on for that PUT.
func TestContainerdReaperRace(t *testing.T) {
	g, err := gardensim.NewServer(gardensim.Config{Runtime: "containerd"})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.SetBehaviour(gardensim.Behaviour{ReaperRaceEvery: 1}); err != nil {
		t.Fatal(err)
	}
	w := &worker{byPort: map[string]string{"7777": g.URL}, recorded: "/opt/concourse", state: "/opt/concourse"}
	w.replay(t, "ctrd-39-race-create", "ctrd-40-race-set-grace-time", "ctrd-41-destroy-concurrent")
}

// TestContainerdListFiltersOR replays ctrd-48..54: containerd lists a container that matches
// any of the filter's properties.
func TestContainerdListFiltersOR(t *testing.T) {
	w := startWorker(t, "/opt/concourse/c", map[string]gardensim.Config{"7777": {Runtime: "containerd"}}, "7788")
	w.replay(t, "ctrd-48-bc-create-empty-or-target", "ctrd-49-create-or-target", "ctrd-50-list-two-props-second-wrong",
		"ctrd-51-list-two-props-first-wrong", "ctrd-52-list-two-props-both-wrong", "ctrd-53-destroy-or-target",
		"ctrd-54-bc-destroy-or-target")
}

// TestContainerdGraceTimeProperty replays ctrd-55..59: a container created with the property
// garden.grace-time is armed by it alone, and reaped with no PUT. The recorded 3 s grace time
// is replayed as 1 s (the same length of text), and the load generator's container that ctrd-58
// lists is made first.
func TestContainerdGraceTimeProperty(t *testing.T) {
	g, err := gardensim.NewServer(gardensim.Config{Runtime: "containerd"})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	state := t.TempDir()
	b, err := baggageclaimsim.NewServer(baggageclaimsim.Config{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c, _ := garden.NewClient(g.URL, &http.Client{})
	ctx := context.Background()
	if _, err := c.Create(ctx, garden.Spec{Handle: "health-check-2929e713-b576-4f94-9875-372a02af2ac9",
		Properties: map[string]string{"deepprobe.health_check": "true"}}); err != nil {
		t.Fatal(err)
	}
	w := &worker{byPort: map[string]string{"7777": g.URL, "7788": b.URL}, recorded: "/opt/concourse/c", state: state,
		extra: []string{"3000000000", "1000000000"}}
	w.replay(t, "ctrd-55-bc-create-empty-grace-prop", "ctrd-56-create-with-grace-time-property", "ctrd-57-properties-grace-time-property")
	const reaped = "health-check-0efe90bb-6f83-4403-a205-53f4b6f3903c"
	for deadline := time.Now().Add(10 * time.Second); slices.Contains(g.Handles(), reaped); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the container armed by its property alone was not reaped")
		}
	}
	w.replay(t, "ctrd-58-list-after-grace-property-expired", "ctrd-59-bc-destroy-grace-prop-volume")
}

// TestHoudiniCaptures replays the houdini exchanges: the rootfs needs etc/, stream-in gives it
// one, processes run. Skipped: houdini-08 runs /false (see TestContainerdCaptures).
func TestHoudiniCaptures(t *testing.T) {
	w := startWorker(t, "/opt/concourse/b", map[string]gardensim.Config{"7877": {Runtime: "houdini"}}, "7888")
	w.replay(t, "houdini-01-bc-create-empty", "houdini-02-create-on-empty-volume", "houdini-03-bc-stream-in-raw",
		"houdini-04-bc-stream-in-raw-false", "houdini-05-create-after-stream-in", "houdini-06-run-true-user-root",
		"houdini-07-run-true-no-user", "houdini-09-run-missing-path", "houdini-10-run-unknown-container",
		"houdini-11-destroy", "houdini-12-bc-destroy-volume")
}

// TestHoudiniSessionCaptures replays the first recorded sessions (houdini, Baggageclaim's naive
// driver, Concourse's own client), scenario by scenario, each on fresh simulators.
func TestHoudiniSessionCaptures(t *testing.T) {
	scenarios := []struct {
		name      string
		rootfsEtc bool
		steps     []string
	}{
		{"garden session", true, []string{
			"garden-01-ping", "garden-02-capacity", "garden-03-list-empty", "garden-05-create", "garden-06-create-no-rootfs",
			"garden-08-list-filtered", "garden-09-list-filter-two-props", "garden-10-list-filter-nomatch",
			"garden-10b-list-filter-repeated-key-first-true", "garden-10c-list-filter-repeated-key-first-false",
			"garden-10d-list-filter-urlencoded", "garden-12-info", "garden-13-properties",
			"garden-15-create-duplicate", "garden-16-list-after-duplicate", "garden-17-properties-after-duplicate",
			"garden-18-destroy", "garden-19-destroy-unknown", "garden-20-info-unknown", "garden-21-create-bad-json",
			"garden-22-create-unsupported-rootfs", "garden-23-unknown-route", "garden-25-set-grace-time-unknown",
			"garden-24-destroy-plain",
		}},
		{"rootfs without etc", false, []string{"garden-04-create-rootfs-without-etc", "client-08-garden-create-on-empty-volume"}},
		{"stock grace time", true, []string{"grace-01-stock-create-2s", "grace-02-stock-list-after-5s", "grace-03-stock-put-grace-time"}},
		{"client library session", true, []string{
			"client-01-garden-ping", "client-02-garden-capacity", "client-10-garden-create-on-volume",
			"client-11-garden-list-filtered", "client-12-garden-info", "client-13-garden-properties",
			"client-14-garden-create-duplicate", "client-15-garden-destroy", "client-16-garden-destroy-unknown",
			"client-17-garden-lookup-unknown",
		}},
		{"baggageclaim session", true, []string{
			"bc-01-list-empty", "bc-02-create-empty", "bc-03-create-other", "bc-04-list-filtered",
			"bc-05-list-filter-nomatch", "bc-06-list-all", "bc-07-list-filter-repeated-key", "bc-08-get",
			"bc-09-get-unknown", "bc-10-create-duplicate", "bc-11-create-no-strategy", "bc-12-create-unknown-strategy",
			"bc-13-create-bad-json", "bc-15-set-property", "bc-16-get-after-set-property", "bc-17-destroy",
			"bc-18-destroy-unknown", "combo-04-bc-create-import", "combo-01-bc-create-empty", "combo-05-garden-create-on-volume",
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			houdini := gardensim.Config{Runtime: "houdini"}
			// Concourse's own client reached Garden as host "api", with no port.
			w := startWorker(t, "/opt/concourse/state", map[string]gardensim.Config{"7777": houdini, "": houdini}, "7788")
			w.rootfsEtc = sc.rootfsEtc
			skeleton := filepath.Join(w.state, "skeleton", "etc")
			if err := os.MkdirAll(skeleton, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(skeleton, "hostname"), []byte("x\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			w.replay(t, sc.steps...)
		})
	}
}

// TestCOWCaptures replays the copy-on-write exchanges on both drivers: a child of a volume, the
// parent destroyed first (204, the child kept), the child and then the parent destroyed, and a
// child of an unknown parent (422).
func TestCOWCaptures(t *testing.T) {
	t.Run("overlay (containerd worker)", func(t *testing.T) {
		w := startWorker(t, "/opt/concourse/c", nil, "7788")
		w.replay(t, "ctrd-60-bc-create-cow-parent", "ctrd-61-bc-create-cow-child", "ctrd-62-bc-destroy-cow-parent-first",
			"ctrd-63-bc-destroy-cow-child", "ctrd-64-bc-destroy-cow-parent", "ctrd-65-bc-create-cow-unknown-parent")
	})
	t.Run("naive (houdini worker)", func(t *testing.T) {
		w := startWorker(t, "/opt/concourse/h", nil, "17788")
		w.replay(t, "houdini-13-bc-create-cow-parent", "houdini-14-bc-create-cow-child", "houdini-15-bc-destroy-cow-parent-first",
			"houdini-16-bc-destroy-cow-child", "houdini-17-bc-destroy-cow-parent")
	})
}
