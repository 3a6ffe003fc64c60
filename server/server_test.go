package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/probes"
)

type fakeDeep struct {
	outcome probes.Outcome
	err     error
	gotCtx  context.Context
	// latest, when set, is what Latest returns; else history, when set, gives Latest its
	// newest entry, as the prober's listeners would.
	latest  *probes.Outcome
	history *probes.History
}

func (f *fakeDeep) Check(ctx context.Context) (probes.Outcome, error) {
	f.gotCtx = ctx
	return f.outcome, f.err
}

func (f *fakeDeep) Latest() (probes.Outcome, bool) {
	if f.latest != nil {
		return *f.latest, true
	}
	if f.history == nil {
		return probes.Outcome{}, false
	}
	entries := f.history.Entries()
	if len(entries) == 0 {
		return probes.Outcome{}, false
	}
	return entries[0], true
}

type fakeShallow []probes.StageResult

func (f fakeShallow) Check(context.Context) []probes.StageResult { return f }

func result(failStage string) probes.Result {
	r := probes.Result{Handle: "health-check-1", Duration: 3 * time.Millisecond}
	for _, name := range []string{probes.StageVolumeCreate, probes.StageContainerCreate, probes.StageContainerDestroy, probes.StageVolumeDestroy} {
		s := probes.StageResult{Name: name, Component: probes.Baggageclaim, Status: probes.StatusPass, Duration: time.Millisecond}
		if strings.HasPrefix(name, "container.") {
			s.Component = probes.Garden
		}
		switch {
		case name == failStage:
			s.Status, s.Err, s.Reason = probes.StatusFail, errors.New("garden create: 500 Internal Server Error: boom"), probes.ReasonUpstreamError
		case failStage == probes.StageVolumeCreate && strings.HasPrefix(name, "container."):
			s.Status, s.Duration, s.Err = probes.StatusSkip, 0, errors.New("volume.create failed")
		}
		r.Stages = append(r.Stages, s)
	}
	return r
}

// saturated is a workload refused a container for the worker's container limit.
func saturated() probes.Result {
	r := result(probes.StageContainerCreate)
	r.Stages[1].Reason = probes.ReasonMaxContainers
	return r
}

// resolved fills the timeouts New requires with the probes package's defaults, unless set.
func resolved(cfg Config) Config {
	if cfg.MaxWait == 0 {
		t, err := probes.Timing{}.Resolve()
		if err != nil {
			panic(err)
		}
		cfg.MaxWait = t.MaxWait
	}
	if cfg.ShallowTimeout == 0 {
		cfg.ShallowTimeout = probes.DefaultShallowTimeout
	}
	return cfg
}

func newTestServer(t *testing.T, deep Deep, shallow Shallow, cfg Config) *httptest.Server {
	t.Helper()
	cfg.Deep, cfg.Shallow = deep, shallow
	s, err := New(resolved(cfg))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func get(t *testing.T, ts *httptest.Server, method, path string, header http.Header) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, ts.URL+path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestHealthz(t *testing.T) {
	ok := fakeShallow{{Name: probes.CheckGardenPing, Status: probes.StatusPass}, {Name: probes.CheckBaggageclaimList, Status: probes.StatusPass}}
	tests := []struct {
		name       string
		deep       *fakeDeep
		path       string
		wantStatus int
		wantBody   []string
	}{
		{"pass", &fakeDeep{outcome: probes.Outcome{Result: result(""), Healthy: true}}, "/healthz", 200,
			[]string{`"status":"pass"`, `"garden":{"healthy":true,"response_error":""}`, `"name":"volume.create","component":"baggageclaim","status":"pass","duration_ms":1`}},
		{"fail names the stage", &fakeDeep{outcome: probes.Outcome{Result: result(probes.StageContainerCreate), ConsecutiveFailures: 1}}, "/healthz", 503,
			[]string{`"status":"fail"`, `"failed_stage":"container.create"`, `"reason":"upstream_error"`, `"garden":{"healthy":false,"response_error":"container.create: garden create: 500`, `"baggageclaim":{"healthy":true`}},
		{"saturated is a warning", &fakeDeep{outcome: probes.Outcome{Result: saturated(), Healthy: true, Saturated: true}}, "/healthz", 200,
			[]string{`"status":"warn"`, `"reason":"max_containers"`, `"saturated":true`, `"error":"saturated, not broken: container.create failed`}},
		{"verbose saturated", &fakeDeep{outcome: probes.Outcome{Result: saturated(), Healthy: true, Saturated: true}}, "/healthz?verbose", 200,
			[]string{"[-]container.create failed (max_containers): ", "healthz check passed with warnings: saturated, not broken"}},
		{"failing since", &fakeDeep{outcome: probes.Outcome{Result: result(probes.StageContainerCreate), ConsecutiveFailures: 2, FailingSince: time.Date(2026, 11, 21, 5, 0, 0, 0, time.UTC)}}, "/healthz", 503,
			[]string{`"failing_since":"2026-11-21T05:00:00Z"`}},
		{"fresh result at the caller's deadline", &fakeDeep{outcome: probes.Outcome{Result: result(""), Healthy: true, Cached: true,
			InFlight: &probes.Progress{Stage: probes.StageContainerCreate, Elapsed: 2 * time.Second, Limit: 5 * time.Second}}}, "/healthz?timeout=2s", 200,
			[]string{`"status":"pass"`, `"in_flight":{"stage":"container.create","elapsed_ms":2000,"limit_ms":5000}`}},
		{"warn below the threshold", &fakeDeep{outcome: probes.Outcome{Result: result(probes.StageVolumeCreate), Healthy: true, ConsecutiveFailures: 1}}, "/readyz", 200,
			[]string{`"status":"warn"`, `"garden":{"healthy":false,"response_error":"not checked`}},
		{"stale", &fakeDeep{outcome: probes.Outcome{Result: result(""), Stale: true, Age: time.Minute}}, "/healthz", 503,
			[]string{`"status":"fail"`, `"stale":true`, `"error":"stale: the last result is older than --max-age"`, `"age_ms":60000,"cached":false}`}},
		{"caller timeout", &fakeDeep{err: probes.ErrTimeout}, "/healthz?timeout=100ms", 503,
			[]string{`"error":"timed out waiting for probe"`}},
		{"verbose pass", &fakeDeep{outcome: probes.Outcome{Result: result(""), Healthy: true}}, "/healthz?verbose", 200,
			[]string{"[+]volume.create ok 1ms\n", "healthz check passed\n"}},
		{"verbose fail", &fakeDeep{outcome: probes.Outcome{Result: result(probes.StageContainerCreate)}}, "/readyz?verbose=true", 503,
			[]string{"[-]container.create failed (upstream_error): garden create: 500", "readyz check failed\n"}},
		{"verbose timeout", &fakeDeep{err: probes.ErrTimeout}, "/healthz?verbose", 503,
			[]string{"[-]deep failed: timed out waiting for probe\n"}},
		{"no result yet names the stage in flight", &fakeDeep{err: &probes.TimeoutError{Why: "no result yet", InFlight: &probes.Progress{Stage: probes.StageContainerCreate, Elapsed: 1500 * time.Millisecond}}},
			"/healthz?timeout=1s", 503, []string{`"error":"no result yet: container.create running for 1.5s"`, `"in_flight":{"stage":"container.create","elapsed_ms":1500}`}},
		{"verbose no result yet", &fakeDeep{err: &probes.TimeoutError{Why: "no result yet", InFlight: &probes.Progress{Stage: probes.StageVolumeCreate, Elapsed: 2 * time.Second}}},
			"/healthz?verbose", 503, []string{"[~]volume.create still running after 2s", "[-]deep failed: no result yet"}},
		{"a stage past its limit is the failure", &fakeDeep{err: &probes.TimeoutError{PastLimit: true, InFlight: &probes.Progress{Stage: probes.StageContainerCreate, Elapsed: 6 * time.Second, Limit: 5 * time.Second}}},
			"/healthz?timeout=1s", 503, []string{`"failed_stage":"container.create"`, `"reason":"timeout"`, `has run past its limit of 5s`}},
		{"unknown parameter", &fakeDeep{}, "/healthz?timout=2s", 400, []string{`unknown query parameter \"timout\"`}},
		{"bad timeout", &fakeDeep{}, "/healthz?timeout=-1s", 400, []string{`query parameter \"timeout\"`}},
		{"huge timeout", &fakeDeep{}, "/healthz?timeout=1h", 400, []string{`at most 5m0s`}},
		{"repeated parameter", &fakeDeep{}, "/healthz?timeout=1s&timeout=2s", 400, []string{`given 2 times`}},
		{"bad verbose", &fakeDeep{}, "/healthz?verbose=yes", 400, []string{`query parameter \"verbose\"`}},
		{"unknown path", &fakeDeep{}, "/health", 404, []string{`no such endpoint /health`}},
		{"malformed escape", &fakeDeep{}, "/healthz?%zz", 400, []string{`malformed query string \"%zz\"`}},
		{"semicolon separator", &fakeDeep{}, "/healthz?timeout=2s;verbose", 400, []string{`malformed query string`, `semicolon`}},
		{"livez malformed", &fakeDeep{}, "/livez?timeout=%", 400, []string{`malformed query string`}},
		{"wrong method", &fakeDeep{}, "/healthz", 405, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, tt.deep, ok, Config{})
			method := http.MethodGet
			if tt.name == "wrong method" {
				method = http.MethodPost
			}
			status, _, body := get(t, ts, method, tt.path, nil)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", status, tt.wantStatus, body)
			}
			for _, w := range tt.wantBody {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
		})
	}
}

func TestHealthzBoundsTheWait(t *testing.T) {
	deep := &fakeDeep{outcome: probes.Outcome{Result: result(""), Healthy: true}}
	ts := newTestServer(t, deep, fakeShallow{}, Config{MaxWait: 7 * time.Second})
	for _, tt := range []struct {
		query string
		want  time.Duration
	}{{"", 7 * time.Second}, {"?timeout=1500ms", 1500 * time.Millisecond}, {"?timeout=2", 2 * time.Second}} {
		before := time.Now()
		get(t, ts, http.MethodGet, "/healthz"+tt.query, nil)
		deadline, ok := deep.gotCtx.Deadline()
		if !ok {
			t.Fatalf("%s: no deadline on the check", tt.query)
		}
		if got := deadline.Sub(before); got < tt.want-time.Second || got > tt.want+time.Second {
			t.Errorf("%s: deadline in %s, want about %s", tt.query, got, tt.want)
		}
	}
}

func TestLivez(t *testing.T) {
	failing := fakeShallow{
		{Name: probes.CheckGardenPing, Status: probes.StatusFail, Err: errors.New("garden ping: 500 Internal Server Error: x")},
		{Name: probes.CheckBaggageclaimList, Status: probes.StatusPass},
	}
	ts := newTestServer(t, &fakeDeep{}, failing, Config{})
	status, _, body := get(t, ts, http.MethodGet, "/livez", nil)
	var h Health
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatal(err)
	}
	if status != 503 || h.Check != "shallow" || h.FailedStage != probes.CheckGardenPing || h.Garden.Healthy || !h.Baggageclaim.Healthy {
		t.Fatalf("%d %s", status, body)
	}
}

func TestAuth(t *testing.T) {
	deep := &fakeDeep{outcome: probes.Outcome{Result: result(""), Healthy: true}}
	shallow := fakeShallow{{Name: probes.CheckGardenPing, Status: probes.StatusPass}}
	bearer := http.Header{"Authorization": {"Bearer s3cret"}}
	wrong := http.Header{"Authorization": {"Bearer nope"}}
	lower := http.Header{"Authorization": {"bearer s3cret"}}
	noScheme := http.Header{"Authorization": {"s3cret"}}
	for _, exempt := range []bool{false, true} {
		ts := newTestServer(t, deep, shallow, Config{AuthToken: "s3cret", AuthExemptShallow: exempt})
		tests := []struct {
			path   string
			header http.Header
			want   int
		}{
			{"/healthz", nil, 401}, {"/healthz", wrong, 401}, {"/healthz", bearer, 200}, {"/readyz", nil, 401},
			{"/healthz", lower, 200}, {"/healthz", noScheme, 401},
			{"/livez", nil, map[bool]int{false: 401, true: 200}[exempt]}, {"/livez", bearer, 200},
			{"/metrics", nil, map[bool]int{false: 401, true: 200}[exempt]},
		}
		for _, tt := range tests {
			status, hdr, _ := get(t, ts, http.MethodGet, tt.path, tt.header)
			if status != tt.want {
				t.Errorf("exempt=%v %s %v: status %d, want %d", exempt, tt.path, tt.header, status, tt.want)
			}
			if status == 401 && hdr.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		}
	}
}

func TestMetricsCountRequests(t *testing.T) {
	ts := newTestServer(t, &fakeDeep{outcome: probes.Outcome{Result: result(""), Healthy: true}}, fakeShallow{}, Config{})
	get(t, ts, http.MethodGet, "/healthz", nil)
	get(t, ts, http.MethodHead, "/healthz", nil)
	get(t, ts, http.MethodGet, "/nope", nil)
	_, _, body := get(t, ts, http.MethodGet, "/metrics", nil)
	for _, want := range []string{
		`deepprobe_http_requests_total{code="200",method="GET",route="/healthz"} 1`,
		`deepprobe_http_requests_total{code="200",method="HEAD",route="/healthz"} 1`,
		`deepprobe_http_requests_total{code="404",method="GET",route="other"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, seed := range []string{"", "timeout=2s", "verbose", "timeout=1.5&verbose=false", "timeout=%zz", "a=b&a=c", "timeout=1e308", "timeout=2s;verbose"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseRawQuery(raw, time.Second)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if q.timeout <= 0 || q.timeout > MaxTimeout {
			t.Fatalf("accepted %q with timeout %s", raw, q.timeout)
		}
		if _, perr := url.ParseQuery(raw); perr != nil {
			t.Fatalf("accepted the malformed %q", raw)
		}
	})
}

// TestEncodedOutcomeIsReusedOnlyForTheSameOutcome: the cached JSON prefix never leaks into the
// answer for another outcome, and the per-answer fields are always fresh.
func TestEncodedOutcomeIsReusedOnlyForTheSameOutcome(t *testing.T) {
	deep := &fakeDeep{}
	ts := newTestServer(t, deep, fakeShallow{}, Config{})
	at := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	pass := probes.Outcome{Result: result(""), Healthy: true, CompletedAt: at}
	fail := probes.Outcome{Result: result(probes.StageContainerCreate), CompletedAt: at.Add(time.Second)}
	fail.Result.Handle = "health-check-2"
	steps := []struct {
		o          probes.Outcome
		wantStatus int
	}{
		{pass, 200},
		{func() probes.Outcome { o := pass; o.Cached, o.Age = true, 1500*time.Millisecond; return o }(), 200},
		{fail, 503},
		{func() probes.Outcome { o := fail; o.Stale = true; return o }(), 503},
	}
	for i, st := range steps {
		deep.outcome = st.o
		status, _, body := get(t, ts, http.MethodGet, "/healthz", nil)
		var got Health
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("step %d: %v: %s", i, err, body)
		}
		want := deepHealth(st.o)
		wantJSON, _ := json.Marshal(want)
		gotJSON, _ := json.Marshal(got)
		if status != st.wantStatus || string(gotJSON) != string(wantJSON) {
			t.Errorf("step %d: %d\n got %s\nwant %s", i, status, gotJSON, wantJSON)
		}
	}
}

// TestMetricsLabelsAreBounded: made-up HTTP methods (even unauthenticated ones) do not each make
// a series.
func TestMetricsLabelsAreBounded(t *testing.T) {
	deep := &fakeDeep{outcome: probes.Outcome{Result: result(""), Healthy: true}}
	ts := newTestServer(t, deep, fakeShallow{}, Config{AuthToken: "s3cret-token"})
	for i := range 200 {
		req, _ := http.NewRequest(fmt.Sprintf("M%d", i), ts.URL+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	_, _, body := get(t, ts, http.MethodGet, "/metrics", http.Header{"Authorization": {"Bearer s3cret-token"}})
	series := 0
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "deepprobe_http_requests_total{") {
			series++
			if strings.Contains(line, `method="M`) {
				t.Fatalf("a made-up method became a label: %s", line)
			}
		}
	}
	// The pre-made series (route x GET x 200/503), and one "other" series for the flood.
	if want := len(knownRoutes)*2 + 1; series == 0 || series > want {
		t.Errorf("%d request series after 200 made-up methods, want at most %d", series, want)
	}
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRequestLogs: a logged request never carries its query string (which may hold a token),
// its client address comes from the socket whatever X-Forwarded-For says, and a 4xx is not
// logged at info (a flood of bad requests cannot flood the log); a 5xx is.
func TestRequestLogs(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	deep := &fakeDeep{err: errors.New("prober is shutting down")}
	ts := newTestServer(t, deep, fakeShallow{}, Config{Logger: logger})
	spoofed := http.Header{"X-Forwarded-For": {"203.0.113.9"}, "X-Real-Ip": {"203.0.113.9"}}
	// A 503 (logged at info) with a query string, which the log must not carry.
	get(t, ts, http.MethodGet, "/healthz?timeout=1234ms", spoofed)
	for range 50 {
		get(t, ts, http.MethodGet, "/nope?x=1", nil)
	}
	out := logs.String()
	if !strings.Contains(out, "path=/healthz") || strings.Contains(out, "1234ms") {
		t.Errorf("the 503 is not logged by its path alone:\n%s", out)
	}
	if strings.Contains(out, "203.0.113.9") || !strings.Contains(out, "remote=127.0.0.1") {
		t.Errorf("the client address does not come from the socket:\n%s", out)
	}
	if strings.Contains(out, "/nope") {
		t.Errorf("4xx answers were logged at info:\n%s", out)
	}
}

// TestNewNeedsResolvedTimeouts: the server owns no default of the probes' timing; a Config
// without the resolved MaxWait and ShallowTimeout is refused, naming them.
func TestNewNeedsResolvedTimeouts(t *testing.T) {
	for _, cfg := range []Config{
		{Deep: &fakeDeep{}, Shallow: fakeShallow{}, ShallowTimeout: time.Second},
		{Deep: &fakeDeep{}, Shallow: fakeShallow{}, MaxWait: time.Second},
		{Deep: &fakeDeep{}, Shallow: fakeShallow{}, MaxWait: -time.Second, ShallowTimeout: time.Second},
	} {
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "MaxWait and ShallowTimeout are required") {
			t.Errorf("New(MaxWait %s, ShallowTimeout %s): %v", cfg.MaxWait, cfg.ShallowTimeout, err)
		}
	}
	if _, err := New(resolved(Config{Deep: &fakeDeep{}, Shallow: fakeShallow{}})); err != nil {
		t.Errorf("New with resolved timeouts: %v", err)
	}
}
