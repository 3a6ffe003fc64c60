package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/probes"
)

// TestStatusPage renders the page from a history and a janitor summary: what a person reads.
func TestStatusPage(t *testing.T) {
	h := probes.NewHistory(3)
	for range 2 {
		h.Observe(probes.Outcome{Result: result(""), Healthy: true, CompletedAt: time.Unix(1000, 0)})
	}
	h.Observe(probes.Outcome{Result: result(probes.StageContainerCreate), ConsecutiveFailures: 1, CompletedAt: time.Unix(1100, 0),
		FailingSince: time.Unix(1100, 0)})
	ts := newTestServer(t, &fakeDeep{history: h}, fakeShallow{}, Config{History: h, Instance: "worker-7",
		Settings: []Setting{{Name: "Garden", Value: "http://127.0.0.1:7777"}}})
	status, hdr, body := get(t, ts, http.MethodGet, "/", nil)
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("%d %s", status, hdr.Get("Content-Type"))
	}
	for _, want := range []string{
		// the verdict in colour (its class), a mark and a word
		`id="verdict" class="verdict fail"><span class="mk">✗</span> <span id="verdict-word">fail</span>`,
		`id="failed-stage">container.create<`, `id="reason">upstream_error<`,
		// the failing stage stands out in the strip of the last workload's stages
		`<li class="stage fail"><span class="mk">✗</span> container.create <span>fail</span> <small>upstream_error</small></li>`,
		`<li class="stage pass"><span class="mk">✓</span> volume.create <span>pass</span>`,
		// the chart: a log axis in decades, a time axis, a hatched failed stage
		`>1ms</text>`, `>completed at (UTC), oldest left</text>`, `>00:18:20</text>`, `fill="url(#hatch)"`,
		"worker-7", "http://127.0.0.1:7777", "The janitor is off", "<svg",
		// rows carry their verdict as a class, a mark and a word
		`<tr class="row fail"><td data-label="When (UTC)">1970-01-01 00:18:20</td><td data-label="Verdict"><span class="mk">✗</span> fail</td>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if n := strings.Count(body, `<tr class="row `); n != 3 {
		t.Errorf("%d history rows, want 3", n)
	}
	if strings.Contains(body, "<script") {
		t.Error("the page loads scripts")
	}
	_, _, hist := get(t, ts, http.MethodGet, "/history", nil)
	var entries []Health
	if err := json.Unmarshal([]byte(hist), &entries); err != nil || len(entries) != 3 || entries[0].FailedStage != probes.StageContainerCreate {
		t.Errorf("/history: %v %s", err, hist)
	}
}

// TestStatusPageShowsAnyReasonEscaped: a reason the page has never heard of (busy,
// interrupted, or anything a later version adds) is shown as it is, escaped, like the error.
func TestStatusPageShowsAnyReasonEscaped(t *testing.T) {
	for _, reason := range []string{"busy", "interrupted", `<b onmouseover="x">odd</b>`} {
		t.Run(reason, func(t *testing.T) {
			r := result(probes.StageContainerCreate)
			r.Stages[1].Reason = probes.Reason(reason)
			r.Stages[1].Err = errors.New(`garden create: <script>alert(1)</script>`)
			h := probes.NewHistory(2)
			h.Observe(probes.Outcome{Result: r, Healthy: true, ConsecutiveFailures: 1, CompletedAt: time.Unix(1000, 0)})
			ts := newTestServer(t, &fakeDeep{history: h}, fakeShallow{}, Config{History: h, Instance: `w<1>`})
			_, _, body := get(t, ts, http.MethodGet, "/", nil)
			escaped := strings.NewReplacer("<", "&lt;", ">", "&gt;", `"`, "&#34;").Replace(reason)
			for _, want := range []string{`id="reason">` + escaped + `<`, `class="verdict warn"><span class="mk">⚠</span>`,
				"&lt;script&gt;alert(1)&lt;/script&gt;", "deepprobe on w&lt;1&gt;"} {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			if strings.Contains(body, "<script>") || strings.Contains(body, "<b onmouseover") {
				t.Error("upstream text reached the page unescaped")
			}
		})
	}
}

// TestStatusPageStaleness: in on-request mode, a result older than StaleAfter is flagged with
// its age and why nobody refreshed it; a young one is not.
func TestStatusPageStaleness(t *testing.T) {
	for _, tt := range []struct {
		name      string
		age       time.Duration
		onRequest bool
		want      string
	}{
		{"old, on request", 10 * time.Minute, true, "This result is 10m0s old: deepprobe runs a workload only when /healthz or /readyz is asked"},
		{"old, background", 10 * time.Minute, false, "This result is 10m0s old, older than 42s."},
		{"young", 5 * time.Second, true, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := probes.NewHistory(2)
			h.Observe(probes.Outcome{Result: result(""), Healthy: true, CompletedAt: time.Now().Add(-tt.age)})
			ts := newTestServer(t, &fakeDeep{history: h}, fakeShallow{}, Config{History: h, OnRequest: tt.onRequest, StaleAfter: 42 * time.Second})
			_, _, body := get(t, ts, http.MethodGet, "/", nil)
			switch {
			case tt.want == "" && strings.Contains(body, `id="stale"`):
				t.Error("a young result is flagged as old")
			case tt.want != "" && !strings.Contains(body, tt.want):
				t.Errorf("page lacks %q", tt.want)
			}
		})
	}
}

// TestStatusPageVerdictIsDeepLatest: the page's verdict is the deep probe's Latest, as
// /healthz reads it now (stale in background mode), not merely the newest history entry.
func TestStatusPageVerdictIsDeepLatest(t *testing.T) {
	h := probes.NewHistory(2)
	passed := probes.Outcome{Result: result(""), Healthy: true, CompletedAt: time.Unix(1000, 0)}
	h.Observe(passed)
	stale := passed
	stale.Healthy, stale.Stale = false, true
	ts := newTestServer(t, &fakeDeep{latest: &stale, history: h}, fakeShallow{}, Config{History: h})
	_, _, body := get(t, ts, http.MethodGet, "/", nil)
	for _, want := range []string{`id="verdict" class="verdict fail"`, "older than --max-age"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if n := strings.Count(body, `<tr class="row pass"`); n != 1 {
		t.Errorf("%d passing history rows, want 1 (the history itself is unchanged)", n)
	}
}

var reRectHeight = regexp.MustCompile(`<rect x="[0-9.]+" y="[0-9.]+" width="[0-9.]+" height="([0-9.]+)"`)

// TestChartKeepsFastAndSlowReadable: next to a 5 s timeout, a 5 ms workload keeps a bar more
// more than a tenth as high (a linear scale would give it a thousandth).
func TestChartKeepsFastAndSlowReadable(t *testing.T) {
	h := probes.NewHistory(2)
	fast, slow := result(""), result("")
	for i := range slow.Stages {
		fast.Stages[i].Duration = 5 * time.Millisecond / 4
		slow.Stages[i].Duration = 5 * time.Second / 4
	}
	h.Observe(probes.Outcome{Result: slow, Healthy: true, CompletedAt: time.Unix(1000, 0)})
	h.Observe(probes.Outcome{Result: fast, Healthy: true, CompletedAt: time.Unix(1010, 0)})
	ts := newTestServer(t, &fakeDeep{history: h}, fakeShallow{}, Config{History: h})
	_, _, body := get(t, ts, http.MethodGet, "/", nil)
	var heights []float64
	for _, bar := range strings.Split(body, "<g ")[1:] {
		var total float64
		for _, m := range reRectHeight.FindAllStringSubmatch(bar, -1) {
			v, _ := strconv.ParseFloat(m[1], 64)
			total += v
		}
		heights = append(heights, total)
	}
	if len(heights) != 2 {
		t.Fatalf("%d bars, want 2", len(heights))
	}
	if slowH, fastH := heights[0], heights[1]; fastH < slowH/10 || fastH >= slowH {
		t.Errorf("bar heights: 5s %.1f, 5ms %.1f", slowH, fastH)
	}
	for _, label := range []string{">1ms<", ">10ms<", ">100ms<", ">1s<", ">10s<"} {
		if !strings.Contains(body, label) {
			t.Errorf("log axis lacks %s", label)
		}
	}
}

// TestReadOnlyPages: / and /history take no query parameter (?verbose is refused, not ignored),
// and answer HEAD, as /metrics does.
func TestReadOnlyPages(t *testing.T) {
	ts := newTestServer(t, &fakeDeep{}, fakeShallow{}, Config{History: probes.NewHistory(1)})
	for _, path := range []string{"/?verbose", "/history?verbose", "/history?timeout=2s", "/?x=1"} {
		status, _, body := get(t, ts, http.MethodGet, path, nil)
		if status != http.StatusBadRequest || !strings.Contains(body, "takes no query parameters") {
			t.Errorf("GET %s: %d %s", path, status, body)
		}
	}
	for _, path := range []string{"/", "/history", "/metrics"} {
		status, _, body := get(t, ts, http.MethodHead, path, nil)
		if status != http.StatusOK || body != "" {
			t.Errorf("HEAD %s: %d %q", path, status, body)
		}
	}
}

// TestAuthExemptStatus: with a token, AuthExemptStatus opens the read-only pages and nothing
// else.
func TestAuthExemptStatus(t *testing.T) {
	shallow := fakeShallow{{Name: probes.CheckGardenPing, Status: probes.StatusPass}}
	deep := &fakeDeep{outcome: probes.Outcome{Result: result(""), Healthy: true}}
	for _, exempt := range []bool{false, true} {
		ts := newTestServer(t, deep, shallow, Config{AuthToken: "0123456789abcdef", AuthExemptStatus: exempt, History: probes.NewHistory(1)})
		for path, open := range map[string]bool{"/": exempt, "/history": exempt, "/healthz": false, "/readyz": false, "/livez": false, "/metrics": false} {
			status, _, _ := get(t, ts, http.MethodGet, path, nil)
			if want := map[bool]int{true: 200, false: 401}[open]; status != want {
				t.Errorf("exempt=%v %s without a token: %d, want %d", exempt, path, status, want)
			}
		}
	}
}
