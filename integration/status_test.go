package integration

import (
	"context"
	"encoding/json"
	"fmt"
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

// browse loads url in headless Chromium at a phone's width, saves a screenshot and returns the
// DOM as the browser built it.
func browse(t *testing.T, browser, url, screenshot string) string {
	t.Helper()
	common := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
		"--window-size=390,1400", "--user-data-dir=" + t.TempDir()}
	run := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, browser, append(common, args...)...).Output()
		if err != nil {
			t.Fatalf("chromium %v: %v", args, err)
		}
		return string(out)
	}
	dom := run("--dump-dom", url)
	run("--screenshot="+screenshot, url)
	if info, err := os.Stat(screenshot); err != nil || info.Size() == 0 {
		t.Fatalf("no screenshot at %s: %v", screenshot, err)
	}
	t.Logf("screenshot: %s", screenshot)
	return dom
}

var (
	reVerdict     = regexp.MustCompile(`id="verdict"[^>]*>([^<]*)<`)
	reFailedStage = regexp.MustCompile(`id="failed-stage">([^<]*)<`)
	reRow         = regexp.MustCompile(`<tr class="row">`)
)

// TestStatusPageInABrowser loads the status page in a real browser, healthy and failing, and
// checks what a person would see: the verdict, the failing stage, the history rows.
func TestStatusPageInABrowser(t *testing.T) {
	browser := chromium(t)
	w := startWorker(t)
	w.needSim(t)
	d := startDeepprobe(t, w, "--min-interval", "1ns", "--history", "5")
	for range 3 {
		d.get(t, "/healthz")
	}
	shots := t.TempDir()
	dom := browse(t, browser, d.url+"/", filepath.Join(shots, "healthy.png"))
	if m := reVerdict.FindStringSubmatch(dom); m == nil || m[1] != "pass" {
		t.Errorf("healthy: verdict %v", m)
	}
	if n := len(reRow.FindAllString(dom, -1)); n != 3 {
		t.Errorf("healthy: %d history rows, want 3", n)
	}
	if !strings.Contains(dom, "<svg") || !strings.Contains(dom, "Configuration") {
		t.Error("healthy: no chart or no configuration")
	}

	w.fault(t, "garden", garden.RouteCreate, faults.Fault{Status: 500})
	for range 4 {
		d.get(t, "/healthz")
	}
	dom = browse(t, browser, d.url+"/", filepath.Join(shots, "failing.png"))
	if m := reVerdict.FindStringSubmatch(dom); m == nil || m[1] != "fail" {
		t.Errorf("failing: verdict %v", m)
	}
	if m := reFailedStage.FindStringSubmatch(dom); m == nil || m[1] != "container.create" {
		t.Errorf("failing: failed stage %v", m)
	}
	if n := len(reRow.FindAllString(dom, -1)); n != 5 {
		t.Errorf("failing: %d history rows, want the ring's 5", n)
	}
	if !strings.Contains(dom, "✗") || !strings.Contains(dom, "upstream_error") {
		t.Error("failing: no failure mark or reason")
	}
	w.clearFaults(t)

	// /history is the same ring, newest first.
	a := d.get(t, "/history")
	var entries []struct {
		Status      string `json:"status"`
		FailedStage string `json:"failed_stage"`
	}
	if err := json.Unmarshal(a.body, &entries); err != nil || len(entries) != 5 || entries[0].FailedStage != "container.create" || entries[4].Status != "pass" {
		t.Errorf("/history: %v %s", err, a.body)
	}
}
