package gardensim_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/workersim/faults"
	"github.com/deepprobe/deepprobe/workersim/gardensim"
	"github.com/deepprobe/deepprobe/workersim/runtimes"
)

// TestSimulatorFaults checks every fault knob through the client.
func TestSimulatorFaults(t *testing.T) {
	sim, err := gardensim.NewServer(gardensim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	c, _ := garden.NewClient(sim.URL, &http.Client{})

	tests := []struct {
		name    string
		fault   faults.Fault
		timeout time.Duration
		check   func(t *testing.T, err error)
	}{
		{"status with Garden body", faults.Fault{Status: 500}, time.Second, func(t *testing.T, err error) {
			var gerr *garden.Error
			if !errors.As(err, &gerr) || gerr.StatusCode != 500 || !strings.Contains(gerr.Message, "injected fault on ping") {
				t.Fatalf("err = %v", err)
			}
		}},
		{"status with plain body", faults.Fault{Status: 503, Body: "upstream down", ContentType: "text/plain"}, time.Second, func(t *testing.T, err error) {
			var gerr *garden.Error
			if !errors.As(err, &gerr) || gerr.StatusCode != 503 || gerr.Body != "upstream down" {
				t.Fatalf("err = %v", err)
			}
		}},
		{"hang", faults.Fault{Hang: true}, 50 * time.Millisecond, func(t *testing.T, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want deadline exceeded", err)
			}
		}},
		{"latency beyond deadline", faults.Fault{Latency: faults.Duration(time.Hour)}, 50 * time.Millisecond, func(t *testing.T, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want deadline exceeded", err)
			}
		}},
		{"latency within deadline", faults.Fault{Latency: faults.Duration(time.Millisecond)}, 5 * time.Second, func(t *testing.T, err error) {
			if err != nil {
				t.Fatal(err)
			}
		}},
		{"reset", faults.Fault{Reset: true}, time.Second, func(t *testing.T, err error) {
			if err == nil || !strings.Contains(err.Error(), "garden ping") {
				t.Fatalf("err = %v, want a transport error naming the route", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := sim.Faults.Set(garden.RoutePing, tt.fault); err != nil {
				t.Fatal(err)
			}
			defer sim.Faults.Clear()
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			tt.check(t, c.Ping(ctx))
		})
	}

	t.Run("times", func(t *testing.T) {
		_ = sim.Faults.Set(garden.RoutePing, faults.Fault{Status: 500, Times: 2})
		ctx := context.Background()
		for i, wantErr := range []bool{true, true, false} {
			if err := c.Ping(ctx); (err != nil) != wantErr {
				t.Errorf("call %d: err = %v, want error %v", i, err, wantErr)
			}
		}
	})
	t.Run("refused knobs", func(t *testing.T) {
		for _, f := range []faults.Fault{{Status: 42}, {Latency: -1}, {Body: "x"}} {
			if err := sim.Faults.Set(garden.RouteCreate, f); err == nil {
				t.Errorf("fault %+v accepted", f)
			}
		}
		if err := sim.Faults.Set("nope", faults.Fault{Status: 500}); !errors.Is(err, faults.ErrUnknownRoute) {
			t.Errorf("unknown route: err = %v", err)
		}
	})
}

// TestSimulatorGraceTime checks that only PUT grace_time arms the reaper, except on Guardian,
// which honours the spec's grace time too; containerd shows the PUT as a property.
func TestSimulatorGraceTime(t *testing.T) {
	for _, p := range runtimes.Profiles {
		t.Run(p.Name, func(t *testing.T) {
			sim, err := gardensim.NewServer(gardensim.Config{Runtime: p.Name})
			if err != nil {
				t.Fatal(err)
			}
			defer sim.Close()
			c, _ := garden.NewClient(sim.URL, &http.Client{})
			ctx := context.Background()
			const grace = 20 * time.Millisecond
			// spec_only is created first with the same grace time, so its countdown, if armed,
			// ends before put's.
			if _, err := c.Create(ctx, garden.Spec{Handle: "spec_only", GraceTime: grace}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Create(ctx, garden.Spec{Handle: "put", GraceTime: grace}); err != nil {
				t.Fatal(err)
			}
			if err := c.SetGraceTime(ctx, "put", grace); err != nil {
				t.Fatal(err)
			}
			if props, _ := c.Properties(ctx, "put"); p.GraceTimeProperty != "" && props[p.GraceTimeProperty] != "20000000" {
				t.Errorf("properties %v, want %s", props, p.GraceTimeProperty)
			}
			waitGone(t, c, "put")
			_, err = c.Properties(ctx, "spec_only")
			if p.HonourSpecGraceTime {
				waitGone(t, c, "spec_only")
			} else if err != nil {
				t.Fatalf("spec_only container was reaped: %v", err)
			}
		})
	}
}

// waitGone polls until handle is no longer listed; the reaper runs on its own clock.
func waitGone(t *testing.T, c *garden.Client, handle string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		handles, err := c.List(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(handles, handle) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s was not reaped", handle)
}

func TestSimulatorProfiles(t *testing.T) {
	for _, p := range runtimes.Profiles {
		t.Run(p.Name, func(t *testing.T) {
			sim, err := gardensim.NewServer(gardensim.Config{Runtime: p.Name, MaxContainers: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer sim.Close()
			c, _ := garden.NewClient(sim.URL, &http.Client{})
			ctx := context.Background()
			if _, err := c.Create(ctx, garden.Spec{Handle: "a"}); err != nil {
				t.Fatal(err)
			}
			_, err = c.Create(ctx, garden.Spec{Handle: "a"})
			switch {
			case p.DuplicateMessage == nil && err != nil:
				t.Errorf("duplicate: err = %v, want the container replaced", err)
			case p.DuplicateMessage != nil && (err == nil || !strings.Contains(err.Error(), p.DuplicateMessage("a"))):
				t.Errorf("duplicate: err = %v", err)
			}
			if _, err := c.Create(ctx, garden.Spec{Handle: "b"}); !errors.Is(err, garden.ErrMaxContainers) {
				t.Errorf("over the limit: err = %v, want ErrMaxContainers", err)
			}
			for _, call := range []func() error{
				func() error { return c.Destroy(ctx, "nope") },
				func() error { _, err := c.Properties(ctx, "nope"); return err },
				func() error { return c.SetGraceTime(ctx, "nope", time.Second) },
				func() error { return c.Run(ctx, "nope", garden.ProcessSpec{Path: "/x"}) },
			} {
				var gerr *garden.Error
				if err := call(); !errors.Is(err, garden.ErrNotFound) || !errors.As(err, &gerr) || gerr.StatusCode != p.UnknownHandleStatus {
					t.Errorf("unknown handle: err = %v", err)
				}
			}
			_, err = c.List(ctx, map[string]string{"a_b": "x"})
			if err != nil {
				t.Errorf("list on a key with '_': %v", err)
			}
			resp, err := http.Get(sim.URL + "/containers?deepprobe.health-check=true")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if want := map[bool]int{true: 500, false: 200}[p.RejectsHyphenFilterKey]; resp.StatusCode != want {
				t.Errorf("list on a key with '-': %d, want %d", resp.StatusCode, want)
			}
			resp, err = http.Get(sim.URL + "/capacity")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if want := map[bool]int{true: 200, false: 500}[p.CapacityImplemented]; resp.StatusCode != want {
				t.Errorf("capacity: %d, want %d", resp.StatusCode, want)
			}
		})
	}
	if _, err := gardensim.NewServer(gardensim.Config{Runtime: "docker"}); err == nil {
		t.Error("an unknown runtime was accepted")
	}
}

// TestSimulatorReaperRace: with the race on, a DELETE right after the PUT answers Garden's
// concurrent-destroy error, and the container is gone a moment later.
func TestSimulatorReaperRace(t *testing.T) {
	sim, err := gardensim.NewServer(gardensim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	if err := sim.SetBehaviour(gardensim.Behaviour{ReaperRaceEvery: 2}); err != nil {
		t.Fatal(err)
	}
	c, _ := garden.NewClient(sim.URL, &http.Client{})
	ctx := context.Background()
	for i := range 4 {
		h := fmt.Sprintf("h%d", i)
		if _, err := c.Create(ctx, garden.Spec{Handle: h}); err != nil {
			t.Fatal(err)
		}
		if err := c.SetGraceTime(ctx, h, time.Minute); err != nil {
			t.Fatal(err)
		}
		err := c.Destroy(ctx, h)
		raced := i%2 == 1
		if raced != errors.Is(err, garden.ErrBeingDestroyed) || (!raced && err != nil) || (raced && !errors.Is(err, garden.ErrGone)) {
			t.Errorf("destroy %d: err = %v, raced %v", i, err, raced)
		}
		waitGone(t, c, h)
	}
}

// TestReaperRaceNeedsTheMissingProperty: on containerd the race hits only containers created
// without the grace-time property; with it, every create is armed at once and no PUT races.
func TestReaperRaceNeedsTheMissingProperty(t *testing.T) {
	sim, err := gardensim.NewServer(gardensim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	if err := sim.SetBehaviour(gardensim.Behaviour{ReaperRaceEvery: 1}); err != nil {
		t.Fatal(err)
	}
	c, _ := garden.NewClient(sim.URL, &http.Client{})
	ctx := context.Background()
	for i := range 20 {
		h := fmt.Sprintf("with%d", i)
		props := map[string]string{sim.Profile.GraceTimeProperty: "60000000000"}
		if _, err := c.Create(ctx, garden.Spec{Handle: h, GraceTime: time.Minute, Properties: props}); err != nil {
			t.Fatal(err)
		}
		if err := c.SetGraceTime(ctx, h, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := c.Destroy(ctx, h); err != nil {
			t.Fatalf("destroy of a container created with the property: %v (raced)", err)
		}
	}
	if _, err := c.Create(ctx, garden.Spec{Handle: "without", GraceTime: time.Minute}); err != nil {
		t.Fatal(err)
	}
	_ = c.SetGraceTime(ctx, "without", time.Minute)
	if err := c.Destroy(ctx, "without"); !errors.Is(err, garden.ErrBeingDestroyed) {
		t.Errorf("destroy of a container created without the property: err = %v, want the race", err)
	}
	waitGone(t, c, "without")
}

// TestListFilters: several properties in one filter are ORed where the profile says so,
// ANDed elsewhere; no filter lists everything.
func TestListFilters(t *testing.T) {
	for _, p := range runtimes.Profiles {
		t.Run(p.Name, func(t *testing.T) {
			sim, err := gardensim.NewServer(gardensim.Config{Runtime: p.Name})
			if err != nil {
				t.Fatal(err)
			}
			defer sim.Close()
			c, _ := garden.NewClient(sim.URL, &http.Client{})
			ctx := context.Background()
			if _, err := c.Create(ctx, garden.Spec{Handle: "t", Properties: map[string]string{"a.x": "1", "b.y": "2"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Create(ctx, garden.Spec{Handle: "u"}); err != nil {
				t.Fatal(err)
			}
			tests := []struct {
				filter   map[string]string
				and, or_ []string
			}{
				{nil, []string{"t", "u"}, []string{"t", "u"}},
				{map[string]string{"a.x": "1", "b.y": "2"}, []string{"t"}, []string{"t"}},
				{map[string]string{"a.x": "1", "b.y": "3"}, []string{}, []string{"t"}},
				{map[string]string{"a.x": "9", "b.y": "2"}, []string{}, []string{"t"}},
				{map[string]string{"a.x": "1", "c.z": "1"}, []string{}, []string{"t"}},
				{map[string]string{"a.x": "9", "b.y": "9"}, []string{}, []string{}},
			}
			for _, tt := range tests {
				got, err := c.List(ctx, tt.filter)
				if err != nil {
					t.Fatal(err)
				}
				want := tt.and
				if p.ListFiltersOR {
					want = tt.or_
				}
				if !slices.Equal(got, want) {
					t.Errorf("list(%v) = %v, want %v", tt.filter, got, want)
				}
			}
		})
	}
}
