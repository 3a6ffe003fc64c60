package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/workersim/faults"
)

// chromium returns the headless browser's path, or skips t loudly.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	fmt.Fprintln(os.Stderr, "\n*** SKIPPING the status page browser test: no chromium installed; .ci/run installs it ***")
	t.Skip("SKIPPED LOUDLY: no chromium")
	return ""
}

// screenshotDir is where the browser test keeps its screenshots: $DEEPPROBE_SCREENSHOT_DIR when
// set (to look at them after the run), else a temporary directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("DEEPPROBE_SCREENSHOT_DIR")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browse loads url in headless Chromium, saves a screenshot at a phone's width (390 px) and one
// at a desktop's (1280 px), and returns the DOM as the browser built it.
func browse(t *testing.T, browser, url, dir, name string) string {
	t.Helper()
	common := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir()}
	run := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, browser, append(common, args...)...).Output()
		if err != nil {
			t.Fatalf("chromium %v: %v", args, err)
		}
		return string(out)
	}
	dom := run("--window-size=390,1400", "--dump-dom", url)
	for _, size := range []struct{ suffix, window string }{{"phone", "390,1600"}, {"desktop", "1280,1400"}} {
		shot := filepath.Join(dir, name+"-"+size.suffix+".png")
		run("--window-size="+size.window, "--screenshot="+shot, url)
		if info, err := os.Stat(shot); err != nil || info.Size() == 0 {
			t.Fatalf("no screenshot at %s: %v", shot, err)
		}
		t.Logf("screenshot: %s", shot)
	}
	return dom
}

var (
	reVerdict     = regexp.MustCompile(`id="verdict-word">([^<]*)<`)
	reFailedStage = regexp.MustCompile(`id="failed-stage">([^<]*)<`)
	reRow         = regexp.MustCompile(`<tr class="row [a-z]+">`)
	reFailedCell  = regexp.MustCompile(`<li class="stage fail"><span class="mk">✗</span> ([a-z._]+) `)
	reReason      = regexp.MustCompile(`id="reason">([^<]*)<`)
	reWhy         = regexp.MustCompile(`id="why">([^<]*)<`)
)

// TestStatusPageInABrowser loads the status page in a real browser, healthy, failing and busy
// (deepprobe's create waiting in a full create queue: warn, reason busy), and checks what a
// person would see: the verdict in words and marks, the failing stage, the reason, the history
// rows. The screenshots (phone and desktop width, kept in
// $DEEPPROBE_SCREENSHOT_DIR when set) show the rest: colours, the chart's axes, the reason
// column at phone width.
func TestStatusPageInABrowser(t *testing.T) {
	browser := chromium(t)
	w := startWorker(t)
	w.needSim(t)
	d := startDeepprobe(t, w, "--min-interval", "1ns", "--history", "8", "--worker-name", "worker-0")
	for range 3 {
		d.get(t, "/healthz")
	}
	shots := screenshotDir(t)
	dom := browse(t, browser, d.url+"/", shots, "healthy")
	if m := reVerdict.FindStringSubmatch(dom); m == nil || m[1] != "pass" {
		t.Errorf("healthy: verdict %v", m)
	}
	if n := len(reRow.FindAllString(dom, -1)); n != 3 {
		t.Errorf("healthy: %d history rows, want 3", n)
	}
	for _, want := range []string{"<svg", "Configuration", "deepprobe on worker-0", "completed at (UTC)", `class="verdict pass"><span class="mk">✓</span>`} {
		if !strings.Contains(dom, want) {
			t.Errorf("healthy: the page lacks %q", want)
		}
	}

	w.fault(t, "garden", garden.RouteCreate, faults.Fault{Status: 500})
	for range 4 {
		d.get(t, "/healthz")
	}
	dom = browse(t, browser, d.url+"/", shots, "failing")
	if m := reVerdict.FindStringSubmatch(dom); m == nil || m[1] != "fail" {
		t.Errorf("failing: verdict %v", m)
	}
	if m := reFailedStage.FindStringSubmatch(dom); m == nil || m[1] != "container.create" {
		t.Errorf("failing: failed stage %v", m)
	}
	if m := reFailedCell.FindStringSubmatch(dom); m == nil || m[1] != "container.create" {
		t.Errorf("failing: the stage strip does not single out the failed stage: %v", m)
	}
	if n := len(reRow.FindAllString(dom, -1)); n != 7 {
		t.Errorf("failing: %d history rows, want 7", n)
	}
	if !strings.Contains(dom, "✗") || !strings.Contains(dom, "upstream_error") || !strings.Contains(dom, `fill="url(#hatch)"`) {
		t.Error("failing: no failure mark, reason or hatched stage")
	}
	w.clearFaults(t)

	// /history is the same ring, newest first.
	a := d.get(t, "/history")
	var entries []struct {
		Status      string `json:"status"`
		FailedStage string `json:"failed_stage"`
	}
	if err := json.Unmarshal(a.body, &entries); err != nil || len(entries) != 7 || entries[0].FailedStage != "container.create" || entries[6].Status != "pass" {
		t.Errorf("/history: %v %s", err, a.body)
	}

	// Busy: builds keep Garden's create queue full (the simulator's own load: loops of create,
	// hold, destroy) and containerd's create lock serves one create at a time, so deepprobe's
	// creates wait their turn far past --probe-timeout (1s here) while others' containers come
	// and go: the verdict is warn, reason busy, on the page as on /healthz.
	b := startDeepprobe(t, w, "--probe-timeout", "1s", "--process-timeout", "500ms", "--min-interval", "1ns",
		"--history", "8", "--worker-name", "worker-0")
	// First a few workloads slowed to a second or two by a short queue: beside the millisecond
	// ones they stay readable (log scale), and slow is not a failure.
	for range 2 {
		b.get(t, "/healthz")
	}
	putAdmin(t, w, "/garden/timings", `{"create":"250ms","destroy":"50ms"}`)
	putAdmin(t, w, "/garden/load", `{"in_flight":4,"hold":"500ms"}`)
	for range 3 {
		if a := b.get(t, "/healthz?timeout=8s"); a.status != http.StatusOK {
			t.Fatalf("slow worker: %d %s", a.status, a.body)
		}
	}
	// Then a long queue: 40 builds, half a second a create, so deepprobe's create waits tens of
	// seconds while the page is looked at.
	putAdmin(t, w, "/garden/timings", `{"create":"500ms","destroy":"50ms"}`)
	putAdmin(t, w, "/garden/load", `{"in_flight":40,"hold":"1s"}`)
	t.Cleanup(func() { putAdmin(t, w, "/garden/load", `{"in_flight":0}`) })
	waitUntil(t, 20*time.Second, "the create queue to fill", func() bool {
		var load struct {
			CreatesInProgress int `json:"creates_in_progress"`
		}
		getAdmin(t, w, "/garden/load", &load)
		return load.CreatesInProgress >= 20
	})
	if a := b.get(t, "/healthz?timeout=4s"); a.status != http.StatusOK || a.health.Status != "warn" || a.health.Reason != "busy" || a.health.Busy == nil {
		t.Fatalf("busy worker: /healthz answered %d %s", a.status, a.body)
	}
	dom = browse(t, browser, b.url+"/", shots, "busy")
	if m := reVerdict.FindStringSubmatch(dom); m == nil || m[1] != "warn" {
		t.Errorf("busy: verdict %v", m)
	}
	if m := reReason.FindStringSubmatch(dom); m == nil || m[1] != "busy" {
		t.Errorf("busy: reason %v", m)
	}
	if m := reWhy.FindStringSubmatch(dom); m == nil || !strings.Contains(m[1], "busy, not broken: container.create waiting") || !strings.Contains(m[1], "containers created and") {
		t.Errorf("busy: the page does not say what the worker is busy with: %v", m)
	}
	if !strings.Contains(dom, `class="verdict warn"><span class="mk">⚠</span>`) {
		t.Error("busy: no warn mark")
	}
	if !strings.Contains(dom, ">1s</text>") {
		t.Error("busy: the log axis does not reach 1s")
	}
}

// TestStatusPageStalenessInABrowser: on request, a result older than --freshness is flagged
// with its age, since nobody has asked for a new one and the page never starts one.
func TestStatusPageStalenessInABrowser(t *testing.T) {
	browser := chromium(t)
	w := startWorker(t)
	d := startDeepprobe(t, w, "--min-interval", "100ms", "--freshness", "1s", "--worker-name", "worker-0")
	if a := d.pass(t, "/healthz"); a.status != http.StatusOK || a.health.Status != "pass" {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if a := d.get(t, "/"); strings.Contains(string(a.body), `id="stale"`) {
		t.Fatal("a fresh result is flagged as old")
	}
	waitUntil(t, 20*time.Second, "the page to flag the result as old", func() bool {
		return strings.Contains(string(d.get(t, "/").body), `id="stale"`)
	})
	dom := browse(t, browser, d.url+"/", screenshotDir(t), "stale")
	if !strings.Contains(dom, "deepprobe runs a workload only when /healthz or /readyz is asked") {
		t.Error("stale: the page does not say why the result is old")
	}
}

// getAdmin GETs a JSON document from workersim's admin endpoint into v.
func getAdmin(t *testing.T, w *worker, path string, v any) {
	t.Helper()
	resp, err := http.Get(w.adminURL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// putAdmin PUTs a JSON body to workersim's admin endpoint and wants 204.
func putAdmin(t *testing.T, w *worker, path, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, w.adminURL+path, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT %s %s: %d", path, body, resp.StatusCode)
	}
}
