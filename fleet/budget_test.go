package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// vector is Prometheus' answer to the budget's query for a fleet of ok healthy and failing
// failing workers.
func vector(ok, failing int) string {
	var rs []string
	if ok > 0 {
		rs = append(rs, fmt.Sprintf(`{"metric":{"failing":"0"},"value":[1764384000.5,"%d"]}`, ok))
	}
	if failing > 0 {
		rs = append(rs, fmt.Sprintf(`{"metric":{"failing":"1"},"value":[1764384000.5,"%d"]}`, failing))
	}
	return `{"status":"success","data":{"resultType":"vector","result":[` + strings.Join(rs, ",") + `]}}`
}

// fakeProm is a Prometheus that answers every query with the handler's answer and records
// what it was asked.
type fakeProm struct {
	*httptest.Server
	requests atomic.Int64
	mu       sync.Mutex
	queries  []string
	paths    []string
}

func newFakeProm(t *testing.T, h http.HandlerFunc) *fakeProm {
	t.Helper()
	f := &fakeProm{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		_ = r.ParseForm()
		f.mu.Lock()
		f.queries, f.paths = append(f.queries, r.PostForm.Get("query")), append(f.paths, r.URL.Path)
		f.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func answering(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type fixture struct {
	budget *Budget
	clock  *clock
	logs   *syncBuffer
	reg    *prometheus.Registry
}

func newBudget(t *testing.T, cfg Config) fixture {
	t.Helper()
	f := fixture{clock: &clock{now: time.Unix(1764384000, 0)}, logs: &syncBuffer{}, reg: prometheus.NewRegistry()}
	cfg.Now, cfg.Registerer = f.clock.Now, f.reg
	cfg.Logger = slog.New(slog.NewTextHandler(f.logs, nil))
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.budget = b
	return f
}

func (f fixture) errors() float64 { return f.counter("deepprobe_fleet_query_errors_total") }

// counter reads a counter from the fixture's registry (-1 when it is not there).
func (f fixture) counter(name string) float64 {
	mfs, _ := f.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return -1
}

func TestHold(t *testing.T) {
	tests := []struct {
		name       string
		ok, fail   int
		budget     float64
		wantHold   bool
		wantString string
	}{
		{"above the budget", 4, 6, 0.3, true, "60% of the fleet (6 of 10 workers) fails its deep check, above the budget of 30%"},
		{"at the budget is not above it", 7, 3, 0.3, false, ""},
		{"below", 9, 1, 0.3, false, ""},
		{"no failure", 10, 0, 0.3, false, ""},
		{"a whole small fleet", 0, 2, 0.5, true, "100% of the fleet (2 of 2 workers)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prom := newFakeProm(t, answering(http.StatusOK, vector(tt.ok, tt.fail)))
			f := newBudget(t, Config{PrometheusURL: prom.URL + "/prom/", MaxUnhealthy: tt.budget})
			h, held := f.budget.Hold(context.Background())
			if held != tt.wantHold || !strings.Contains(h.String(), tt.wantString) {
				t.Errorf("held %v (%s), want %v (%q)", held, h, tt.wantHold, tt.wantString)
			}
			if h.Count != (Count{Failing: tt.fail, Total: tt.ok + tt.fail}) {
				t.Errorf("count %+v", h.Count)
			}
			if prom.queries[0] != `count_values("failing", deepprobe_deep_failing{job="deepprobe"})` || prom.paths[0] != "/prom/api/v1/query" {
				t.Errorf("asked %s %q", prom.paths[0], prom.queries[0])
			}
			if f.errors() != 0 {
				t.Errorf("%v query errors", f.errors())
			}
		})
	}
}

// TestGarbageHoldsNothing: whatever Prometheus answers that is not a usable count, the budget
// does not apply, the error is counted, and logged once per streak.
func TestGarbageHoldsNothing(t *testing.T) {
	huge := `{"status":"success","data":{"resultType":"vector","result":[]},"padding":"` + strings.Repeat("x", MaxAnswer) + `"}`
	tests := []struct {
		name string
		h    http.HandlerFunc
		want string
	}{
		{"not JSON", answering(http.StatusOK, "<html>proxy error</html>"), "not a Prometheus answer"},
		{"an error", answering(http.StatusBadRequest, `{"status":"error","errorType":"bad_data","error":"parse error at char 12"}`), `HTTP 400: "parse error at char 12"`},
		{"a 502 from a proxy", answering(http.StatusBadGateway, "Bad Gateway"), `HTTP 502: "Bad Gateway"`},
		{"status not success", answering(http.StatusOK, `{"status":"error","error":"x"}`), `status "error"`},
		{"a matrix", answering(http.StatusOK, `{"status":"success","data":{"resultType":"matrix","result":[]}}`), `result type "matrix"`},
		{"a count that is no number", answering(http.StatusOK, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"failing":"1"},"value":[1,"many"]}]}}`), `a count of "many"`},
		{"a gauge that is neither 0 nor 1", answering(http.StatusOK, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"failing":"0.5"},"value":[1,"3"]}]}}`), `the value "0.5"`},
		{"no series", answering(http.StatusOK, vector(0, 0)), `no series match deepprobe_deep_failing{job="deepprobe"}`},
		{"too large", answering(http.StatusOK, huge), "larger than"},
		{"a redirect is not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, "HTTP 302"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prom := newFakeProm(t, tt.h)
			f := newBudget(t, Config{PrometheusURL: prom.URL, MaxUnhealthy: 0.1})
			for i := 0; i < 3; i++ {
				if _, held := f.budget.Hold(context.Background()); held {
					t.Fatal("held on garbage")
				}
				f.clock.Add(DefaultCacheFor) // the next call asks again
			}
			if got := prom.requests.Load(); got != 3 {
				t.Errorf("%d requests, want 3 (one per call, none for a redirect)", got)
			}
			if f.errors() != 3 {
				t.Errorf("%v errors counted, want 3", f.errors())
			}
			logs := strings.ReplaceAll(f.logs.String(), `\"`, `"`) // slog quotes the error
			if n := strings.Count(logs, "fleet budget not applied"); n != 1 || !strings.Contains(logs, tt.want) {
				t.Errorf("logged %d times (want once per streak), lacking %q:\n%s", n, tt.want, logs)
			}
		})
	}
}

// TestStreakLogging: an error streak is logged when it starts and when Prometheus answers
// again, and a new streak is logged again.
func TestStreakLogging(t *testing.T) {
	var fail atomic.Bool
	prom := newFakeProm(t, func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			answering(http.StatusServiceUnavailable, "down")(w, r)
			return
		}
		answering(http.StatusOK, vector(1, 9))(w, r)
	})
	f := newBudget(t, Config{PrometheusURL: prom.URL, MaxUnhealthy: 0.5})
	for _, down := range []bool{true, true, false, false, true} {
		fail.Store(down)
		if _, held := f.budget.Hold(context.Background()); held == down {
			t.Errorf("Prometheus down %v: held %v", down, held)
		}
		f.clock.Add(DefaultCacheFor)
	}
	logs := f.logs.String()
	if a, b := strings.Count(logs, "fleet budget not applied"), strings.Count(logs, "fleet budget applies again"); a != 2 || b != 1 {
		t.Errorf("%d streak starts (want 2), %d ends (want 1):\n%s", a, b, logs)
	}
	if a, b := strings.Count(logs, "fleet-wide failure: deep failures are answered 200 warn"), strings.Count(logs, "fleet-wide hold ended"); a != 1 || b != 1 {
		t.Errorf("%d hold starts (want 1), %d ends (want 1):\n%s", a, b, logs)
	}
	if f.errors() != 3 {
		t.Errorf("%v errors, want 3", f.errors())
	}
}

// TestCache: one answer serves every call for CacheFor; concurrent callers share one query.
func TestCache(t *testing.T) {
	release := make(chan struct{})
	prom := newFakeProm(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		answering(http.StatusOK, vector(2, 8))(w, r)
	})
	f := newBudget(t, Config{PrometheusURL: prom.URL, MaxUnhealthy: 0.3, Timeout: time.Minute})
	var wg sync.WaitGroup
	var held atomic.Int64
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, ok := f.budget.Hold(context.Background()); ok {
				held.Add(1)
			}
		}()
	}
	close(release)
	wg.Wait()
	if prom.requests.Load() != 1 || held.Load() != 20 {
		t.Errorf("%d requests for 20 concurrent callers (want 1); %d held (want 20)", prom.requests.Load(), held.Load())
	}
	f.clock.Add(DefaultCacheFor - time.Millisecond)
	f.budget.Hold(context.Background())
	if prom.requests.Load() != 1 {
		t.Error("asked again within CacheFor")
	}
	f.clock.Add(time.Millisecond)
	f.budget.Hold(context.Background())
	if prom.requests.Load() != 2 {
		t.Error("did not ask again after CacheFor")
	}
	if got := f.counter("deepprobe_fleet_holds_total"); got != 22 {
		t.Errorf("deepprobe_fleet_holds_total %v, want 22", got)
	}
}

// TestBounded: a Prometheus that never answers costs at most the query's own timeout (an
// error, counted), and never more than the caller's deadline (not Prometheus' fault: not
// counted); a caller whose deadline has passed reads only the cache.
func TestBounded(t *testing.T) {
	var cancelled atomic.Int64
	prom := newFakeProm(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		cancelled.Add(1)
	})
	t.Run("own timeout", func(t *testing.T) {
		f := newBudget(t, Config{PrometheusURL: prom.URL, MaxUnhealthy: 0.3, Timeout: 50 * time.Millisecond})
		if _, held := f.budget.Hold(context.Background()); held {
			t.Fatal("held")
		}
		if f.errors() != 1 || !strings.Contains(f.logs.String(), "no answer within 50ms") {
			t.Errorf("%v errors; logs %s", f.errors(), f.logs.String())
		}
	})
	t.Run("the caller's deadline", func(t *testing.T) {
		f := newBudget(t, Config{PrometheusURL: prom.URL, MaxUnhealthy: 0.3, Timeout: time.Hour})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, held := f.budget.Hold(ctx); held {
			t.Fatal("held")
		}
		if ctx.Err() == nil {
			t.Error("returned before the caller's deadline with nothing to say")
		}
		if f.errors() != 0 || f.logs.String() != "" {
			t.Errorf("the caller's deadline was counted against Prometheus: %v errors, logs %s", f.errors(), f.logs.String())
		}
	})
	t.Run("deadline passed: the cache only", func(t *testing.T) {
		before := prom.requests.Load()
		f := newBudget(t, Config{PrometheusURL: prom.URL, MaxUnhealthy: 0.3})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, held := f.budget.Hold(ctx); held || prom.requests.Load() != before {
			t.Errorf("held %v, %d new requests", held, prom.requests.Load()-before)
		}
		f.budget.last = &answer{count: Count{Failing: 9, Total: 10}, at: f.clock.Now()}
		if _, held := f.budget.Hold(ctx); !held {
			t.Error("a fresh cached answer was not used")
		}
	})
	prom.Close()
	if cancelled.Load() != 2 {
		t.Errorf("%d queries cancelled, want 2", cancelled.Load())
	}
}

func TestDisabled(t *testing.T) {
	prom := newFakeProm(t, answering(http.StatusOK, vector(0, 10)))
	f := newBudget(t, Config{PrometheusURL: prom.URL})
	if f.budget.Enabled() {
		t.Fatal("enabled without a budget")
	}
	if _, held := f.budget.Hold(context.Background()); held || prom.requests.Load() != 0 {
		t.Errorf("held %v after %d requests", held, prom.requests.Load())
	}
	// Its metrics exist all the same, at 0.
	if f.counter("deepprobe_fleet_query_errors_total") != 0 || f.counter("deepprobe_fleet_holds_total") != 0 {
		t.Error("the budget's metrics do not exist at 0 with the budget off")
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		cfg     Config
		setting string
		want    string
	}{
		{Config{MaxUnhealthy: 0.3}, SettingMaxUnhealthy, "needs --fleet-prometheus-url"},
		{Config{MaxUnhealthy: 1.5, PrometheusURL: "http://p:9090"}, SettingMaxUnhealthy, "at most 100%"},
		{Config{MaxUnhealthy: 0.3, PrometheusURL: "p:9090"}, SettingPrometheusURL, "http(s) base URL"},
		{Config{MaxUnhealthy: 0.3, PrometheusURL: "http://u:secret@p:9090/?x=1"}, SettingPrometheusURL, "http://u:xxxxx@p:9090/?x=1"},
		{Config{MaxUnhealthy: 0.3, PrometheusURL: "http://p:9090", Selector: `job="deepprobe"`}, SettingSelector, "in braces"},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg)
		var se *SettingError
		if !errors.As(err, &se) || se.Setting != tt.setting || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%+v: %v, want %s: ...%s", tt.cfg, err, tt.setting, tt.want)
		}
	}
}
