package gardensim_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/workersim/faults"
	"github.com/deepprobe/deepprobe/workersim/gardensim"
	"github.com/deepprobe/deepprobe/workersim/runtimes"
)

func start(t *testing.T, cfg gardensim.Config) (*gardensim.Server, *garden.Client) {
	t.Helper()
	sim, err := gardensim.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	c, err := garden.NewClient(sim.URL, &http.Client{})
	if err != nil {
		t.Fatal(err)
	}
	return sim, c
}

// waitFor polls until cond holds; what says what was awaited.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func list(t *testing.T, c *garden.Client) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	h, err := c.List(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestCreateQueue: on a profile that serialises creates (and destroys), n creates (destroys)
// sent at once take n create (destroy) times for the last; elsewhere they overlap.
func TestCreateQueue(t *testing.T) {
	const n, each = 6, 40 * time.Millisecond
	for _, p := range runtimes.Profiles {
		t.Run(p.Name, func(t *testing.T) {
			sim, c := start(t, gardensim.Config{Runtime: p.Name})
			if err := sim.SetTimings(gardensim.Timings{Create: faults.Duration(each)}); err != nil {
				t.Fatal(err)
			}
			// atOnce makes n calls at once and returns the longest.
			atOnce := func(call func(i int) error) time.Duration {
				var wg sync.WaitGroup
				took := make([]time.Duration, n)
				errs := make([]error, n)
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						start := time.Now()
						errs[i] = call(i)
						took[i] = time.Since(start)
					}()
				}
				wg.Wait()
				if err := errors.Join(errs...); err != nil {
					t.Fatal(err)
				}
				return slices.Max(took)
			}
			check := func(what string, serial bool, longest time.Duration) {
				if serial && longest < n*each {
					t.Errorf("the last of %d serialised %s took %s, want at least %s", n, what, longest, n*each)
				}
				if !serial && longest >= n*each {
					t.Errorf("%d overlapping %s: the last took %s, want under %s", n, what, longest, n*each)
				}
			}
			check("creates", p.SerialCreates, atOnce(func(i int) error {
				_, err := c.Create(context.Background(), garden.Spec{Handle: fmt.Sprintf("c%d", i)})
				return err
			}))
			if err := sim.SetTimings(gardensim.Timings{Destroy: faults.Duration(each)}); err != nil {
				t.Fatal(err)
			}
			check("destroys", p.DestroysInCreateQueue, atOnce(func(i int) error {
				return c.Destroy(context.Background(), fmt.Sprintf("c%d", i))
			}))
		})
	}
}

// TestWedge: creates and destroys hold until the wedge is cleared, and one whose caller went
// away does nothing; list, properties and ping answer meanwhile; a second DELETE of a
// container being destroyed answers Garden's concurrent-destroy error.
func TestWedge(t *testing.T) {
	sim, c := start(t, gardensim.Config{})
	ctx := context.Background()
	if _, err := c.Create(ctx, garden.Spec{Handle: "before"}); err != nil {
		t.Fatal(err)
	}
	if err := sim.SetBehaviour(gardensim.Behaviour{Wedge: true}); err != nil {
		t.Fatal(err)
	}
	results := make(chan string, 3)
	run := func(ctx context.Context, name string, call func(context.Context) error) {
		go func() { results <- fmt.Sprintf("%s: %v", name, call(ctx)) }()
	}
	create := func(h string) func(context.Context) error {
		return func(ctx context.Context) error { _, err := c.Create(ctx, garden.Spec{Handle: h}); return err }
	}
	run(ctx, "w1", create("w1"))
	waitFor(t, "w1 in progress", func() bool { return sim.LoadStats().CreatesInProgress == 1 })
	gaveUp, giveUp := context.WithCancel(ctx)
	run(gaveUp, "w2", create("w2"))
	run(ctx, "destroy before", func(ctx context.Context) error { return c.Destroy(ctx, "before") })
	waitFor(t, "w2 and the destroy in progress", func() bool {
		st := sim.LoadStats()
		return st.CreatesInProgress == 2 && st.DestroysInProgress == 1
	})

	quick, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := c.Ping(quick); err != nil {
		t.Errorf("ping while wedged: %v", err)
	}
	if props, err := c.Properties(quick, "before"); err != nil || props == nil {
		t.Errorf("properties while wedged: %v, %v", props, err)
	}
	if got := list(t, c); !slices.Equal(got, []string{"before"}) {
		t.Errorf("listed while wedged: %v, want only the container from before", got)
	}
	if err := c.Destroy(quick, "before"); !errors.Is(err, garden.ErrBeingDestroyed) {
		t.Errorf("second destroy: err = %v, want being destroyed", err)
	}

	giveUp()
	if got := <-results; !strings.HasPrefix(got, "w2: ") || !strings.Contains(got, "context canceled") {
		t.Errorf("first to end: %q, want w2 cancelled", got)
	}
	waitFor(t, "w2 to leave the queue", func() bool { return sim.LoadStats().CreatesInProgress == 1 })
	if err := sim.SetBehaviour(gardensim.Behaviour{}); err != nil {
		t.Fatal(err)
	}
	got := []string{<-results, <-results}
	slices.Sort(got)
	if want := []string{"destroy before: <nil>", "w1: <nil>"}; !slices.Equal(got, want) {
		t.Errorf("after the wedge: %q, want %q", got, want)
	}
	if got := list(t, c); !slices.Equal(got, []string{"w1"}) {
		t.Errorf("listed after the wedge: %v, want [w1] (w2's caller went away)", got)
	}
}

var uuidHandle = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// TestLoad: the load keeps its creates in flight through the create queue (so each waits for
// the others'), with build-like containers, and leaves nothing behind when stopped.
func TestLoad(t *testing.T) {
	const inFlight, each = 8, 10 * time.Millisecond
	sim, c := start(t, gardensim.Config{})
	if err := sim.SetTimings(gardensim.Timings{Create: faults.Duration(each)}); err != nil {
		t.Fatal(err)
	}
	if err := sim.SetLoad(gardensim.Load{InFlight: inFlight}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "40 creates and destroys", func() bool {
		st := sim.LoadStats()
		return st.Creates >= 40 && st.Destroys >= 40
	})
	st := sim.LoadStats()
	// With no hold and instant destroys, every loop is nearly always in the create queue.
	if min := inFlight / 2 * each; time.Duration(st.CreateLatency.Median) < min || st.CreateLatency.Max < st.CreateLatency.P90 || st.CreateLatency.P90 < st.CreateLatency.Median {
		t.Errorf("create latency %+v, want a median of at least %s, ordered", st.CreateLatency, min)
	}
	if st.InFlight != inFlight || st.Failures != 0 {
		t.Errorf("stats %+v", st)
	}

	if err := sim.SetLoad(gardensim.Load{InFlight: 2, Hold: faults.Duration(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "2 held containers", func() bool { return sim.LoadStats().Creates == 2 })
	handles := list(t, c)
	if len(handles) != 2 {
		t.Fatalf("listed %v, want the load's 2", handles)
	}
	for _, h := range handles {
		props, err := c.Properties(context.Background(), h)
		if !uuidHandle.MatchString(h) || !sim.LoadHandle(h) || err != nil || !maps.Equal(props, map[string]string{"user": "root"}) {
			t.Errorf("load container %s: properties %v, %v; known %v", h, props, err, sim.LoadHandle(h))
		}
	}
	if sim.LoadHandle("health-check-x") {
		t.Error("a handle not the load's is known")
	}
	if err := sim.SetLoad(gardensim.Load{}); err != nil {
		t.Fatal(err)
	}
	if got := list(t, c); len(got) != 0 {
		t.Errorf("left behind by the load: %v", got)
	}
	if st := sim.LoadStats(); st != (gardensim.LoadStats{}) {
		t.Errorf("stats with no load: %+v", st)
	}
	for _, bad := range []gardensim.Load{{InFlight: -1}, {InFlight: 1, Hold: -1}, {InFlight: 1 << 20}} {
		if err := sim.SetLoad(bad); err == nil {
			t.Errorf("load %+v accepted", bad)
		}
	}
}

// TestCloseStopsAWedgedLoad: Close ends the load's loops even while they are held (goleak
// checks that nothing outlives the test).
func TestCloseStopsAWedgedLoad(t *testing.T) {
	sim, err := gardensim.NewServer(gardensim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	_ = sim.SetBehaviour(gardensim.Behaviour{Wedge: true})
	if err := sim.SetLoad(gardensim.Load{InFlight: 5, Hold: faults.Duration(time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the load to be held", func() bool { return sim.LoadStats().CreatesInProgress == 5 })
	if st := sim.LoadStats(); st.Creates != 0 {
		t.Errorf("%d creates completed while wedged", st.Creates)
	}
	sim.Close()
	if err := sim.SetLoad(gardensim.Load{InFlight: 1}); err == nil {
		t.Error("a closed simulator took a load")
	}
}

// TestAdminKnobs: the load, timings and behaviour over the admin endpoint.
func TestAdminKnobs(t *testing.T) {
	sim, _ := start(t, gardensim.Config{})
	admin := httptest.NewServer(sim.AdminHandler())
	defer admin.Close()
	do := func(method, path, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, admin.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tests := []struct {
		method, path, body string
		want               int
	}{
		{"PUT", "/timings", `{"create":"20ms","destroy":"5ms"}`, 204},
		{"PUT", "/timings", `{"create":"-1s"}`, 400},
		{"PUT", "/timings", `{"create":"1h"}`, 400},
		{"PUT", "/timings", `{"craete":"1s"}`, 400},
		{"PUT", "/load", `{"in_flight":3,"hold":"1h"}`, 204},
		{"PUT", "/load", `{"in_flight":-1}`, 400},
		{"PUT", "/load", `{"inflight":3}`, 400},
		{"PUT", "/behaviour", `{"wedge":true,"destroy_stuck":true}`, 204},
		{"PUT", "/behaviour", `{"wedged":true}`, 400},
	}
	for _, tt := range tests {
		if got := do(tt.method, tt.path, tt.body); got != tt.want {
			t.Errorf("%s %s %s: %d, want %d", tt.method, tt.path, tt.body, got, tt.want)
		}
	}
	if got := sim.Timings(); got != (gardensim.Timings{Create: faults.Duration(20 * time.Millisecond), Destroy: faults.Duration(5 * time.Millisecond)}) {
		t.Errorf("timings %+v", got)
	}
	if got := sim.Behaviour(); !got.Wedge || !got.DestroyStuck {
		t.Errorf("behaviour %+v", got)
	}
	waitFor(t, "the load's 3 creates in progress", func() bool { return sim.LoadStats().CreatesInProgress == 3 })
	resp, err := http.Get(admin.URL + "/load")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st["in_flight"] != 3.0 || st["hold"] != "1h0m0s" || st["creates_in_progress"] != 3.0 || st["creates"] != 0.0 {
		t.Errorf("GET /load = %v", st)
	}
}

// TestDestroyStuck: every DELETE answers Garden's concurrent-destroy error and the container
// stays, until the behaviour is cleared.
func TestDestroyStuck(t *testing.T) {
	sim, c := start(t, gardensim.Config{})
	ctx := context.Background()
	if _, err := c.Create(ctx, garden.Spec{Handle: "a"}); err != nil {
		t.Fatal(err)
	}
	_ = sim.SetBehaviour(gardensim.Behaviour{DestroyStuck: true})
	for range 3 {
		if err := c.Destroy(ctx, "a"); !errors.Is(err, garden.ErrBeingDestroyed) {
			t.Fatalf("destroy: err = %v, want being destroyed", err)
		}
	}
	if got := list(t, c); !slices.Equal(got, []string{"a"}) {
		t.Errorf("listed %v, want the stuck container", got)
	}
	if err := c.Destroy(ctx, "nope"); !errors.Is(err, garden.ErrNotFound) {
		t.Errorf("destroy of an unknown handle: err = %v, want not found", err)
	}
	_ = sim.SetBehaviour(gardensim.Behaviour{})
	if err := c.Destroy(ctx, "a"); err != nil {
		t.Fatal(err)
	}
}
