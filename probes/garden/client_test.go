package garden_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/deepprobe/deepprobe/internal/workertest"
	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/workersim/faults"
	"github.com/deepprobe/deepprobe/workersim/gardensim"
)

// rootfsVolume makes a volume to use as a rootfs (importing the skeleton when one is given)
// and destroys it at the end of the test.
func rootfsVolume(t *testing.T, w *workertest.Worker, b *baggageclaim.Client, handle string, props map[string]string) baggageclaim.Volume {
	t.Helper()
	strategy := baggageclaim.EmptyStrategy()
	if w.RootFSImportPath != "" {
		strategy = baggageclaim.ImportStrategy(w.RootFSImportPath)
	}
	v, err := b.CreateVolume(context.Background(), baggageclaim.Request{Handle: handle, Strategy: strategy, Properties: props})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Destroy(context.Background(), handle); err != nil && !errors.Is(err, baggageclaim.ErrNotFound) {
			t.Errorf("cleanup: %v", err)
		}
	})
	return v
}

// TestClientContract runs the whole client against the simulator, or against the real Garden
// named by DEEPPROBE_GARDEN_URL. It only counts and destroys what it created itself.
func TestClientContract(t *testing.T) {
	w := workertest.Start(t, gardensim.Config{})
	g, b := w.Clients(t)
	ctx := context.Background()
	run := uuid.NewString()
	handle := "deepprobe-test-" + run
	props := map[string]string{"deepprobe.test-run": run, "deepprobe.kind": "contract"}
	vol := rootfsVolume(t, w, b, handle, props)

	if err := g.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if _, err := g.Capacity(ctx); err != nil {
		t.Fatalf("capacity: %v", err)
	}
	got, err := g.Create(ctx, garden.Spec{Handle: handle, GraceTime: time.Minute, RootFSPath: "raw://" + vol.Path, Properties: props})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			_ = g.Destroy(context.Background(), handle)
		}
	})
	if got != handle {
		t.Fatalf("create returned %q", got)
	}
	if err := g.SetGraceTime(ctx, handle, time.Minute); err != nil {
		t.Fatalf("set grace time: %v", err)
	}
	gotProps, err := g.Properties(ctx, handle)
	if err != nil {
		t.Fatalf("properties: %v", err)
	}
	for k, v := range props {
		if gotProps[k] != v {
			t.Errorf("property %s = %q, want %q", k, gotProps[k], v)
		}
	}

	listTests := []struct {
		name   string
		filter map[string]string
		want   bool
	}{
		{"all our properties", props, true},
		{"one of them", map[string]string{"deepprobe.test-run": run}, true},
		{"a wrong value", map[string]string{"deepprobe.test-run": run, "deepprobe.kind": "other"}, false},
		{"a missing property", map[string]string{"deepprobe.test-run": run, "absent": "x"}, false},
		{"characters to escape", map[string]string{"deepprobe.test-run": run + "&x=y"}, false},
	}
	for _, tt := range listTests {
		t.Run("list/"+tt.name, func(t *testing.T) {
			handles, err := g.List(ctx, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(handles, handle) != tt.want {
				t.Errorf("list(%v) = %v, want ours listed: %v", tt.filter, handles, tt.want)
			}
		})
	}

	if err := g.Destroy(ctx, handle); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	destroyed = true
	for name, call := range map[string]func() error{
		"destroy":    func() error { return g.Destroy(ctx, handle) },
		"properties": func() error { _, err := g.Properties(ctx, handle); return err },
		"grace_time": func() error { return g.SetGraceTime(ctx, handle, time.Second) },
	} {
		if err := call(); !errors.Is(err, garden.ErrNotFound) {
			t.Errorf("%s after destroy: err = %v, want ErrNotFound", name, err)
		}
	}
}

// TestClientRefusesBadInput checks that bad arguments name the field and send nothing.
func TestClientRefusesBadInput(t *testing.T) {
	sim, err := gardensim.NewServer(gardensim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	c, err := garden.NewClient(sim.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		name, field string
		call        func() error
	}{
		{"empty handle", "handle", func() error { _, err := c.Create(ctx, garden.Spec{}); return err }},
		{"relative rootfs", "rootfs", func() error {
			_, err := c.Create(ctx, garden.Spec{Handle: "h", RootFSPath: "raw://relative/dir"})
			return err
		}},
		{"docker rootfs", "rootfs", func() error {
			_, err := c.Create(ctx, garden.Spec{Handle: "h", RootFSPath: "docker:///busybox"})
			return err
		}},
		{"negative grace time", "grace_time", func() error {
			_, err := c.Create(ctx, garden.Spec{Handle: "h", GraceTime: -time.Second})
			return err
		}},
		{"negative grace time put", "grace_time", func() error { return c.SetGraceTime(ctx, "h", -1) }},
		{"destroy empty handle", "handle", func() error { return c.Destroy(ctx, "") }},
		{"properties empty handle", "handle", func() error { _, err := c.Properties(ctx, ""); return err }},
		{"grace empty handle", "handle", func() error { return c.SetGraceTime(ctx, "", time.Second) }},
		{"list empty property name", "properties", func() error { _, err := c.List(ctx, map[string]string{"": "x"}); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, garden.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("err = %v, want ErrInvalidArgument naming %s", err, tt.field)
			}
		})
	}
	for route, n := range sim.Faults.Calls() {
		if n != 0 {
			t.Errorf("%d requests sent to %s", n, route)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:7777", "ftp://x", "http://", "http://x?y=1"} {
		if _, err := garden.NewClient(bad, nil); err == nil {
			t.Errorf("NewClient(%q) accepted", bad)
		}
	}
}

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
		for _, f := range []faults.Fault{{DiskFull: true}, {Status: 42}, {Latency: -1}, {Body: "x"}} {
			if err := sim.Faults.Set(garden.RouteCreate, f); err == nil {
				t.Errorf("fault %+v accepted", f)
			}
		}
		if err := sim.Faults.Set("nope", faults.Fault{Status: 500}); !errors.Is(err, faults.ErrUnknownRoute) {
			t.Errorf("unknown route: err = %v", err)
		}
	})
}

// TestSimulatorGraceTime checks that only PUT grace_time arms the reaper (as on houdini and
// Concourse's containerd runtime), unless the simulator is told to honour the spec.
func TestSimulatorGraceTime(t *testing.T) {
	for _, honour := range []bool{false, true} {
		t.Run(map[bool]string{false: "stock", true: "honours spec"}[honour], func(t *testing.T) {
			sim, err := gardensim.NewServer(gardensim.Config{HonourSpecGraceTime: honour})
			if err != nil {
				t.Fatal(err)
			}
			defer sim.Close()
			c, _ := garden.NewClient(sim.URL, nil)
			ctx := context.Background()
			const grace = 20 * time.Millisecond
			// specOnly is created first with the same grace time, so its countdown, if armed,
			// ends before put's.
			if _, err := c.Create(ctx, garden.Spec{Handle: "spec-only", GraceTime: grace}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Create(ctx, garden.Spec{Handle: "put", GraceTime: grace}); err != nil {
				t.Fatal(err)
			}
			if err := c.SetGraceTime(ctx, "put", grace); err != nil {
				t.Fatal(err)
			}
			waitGone(t, c, "put")
			_, err = c.Properties(ctx, "spec-only")
			if honour {
				waitGone(t, c, "spec-only")
			} else if err != nil {
				t.Fatalf("spec-only container was reaped: %v", err)
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

func TestSimulatorLimitsAndDuplicates(t *testing.T) {
	sim, err := gardensim.NewServer(gardensim.Config{MaxContainers: 1, RejectDuplicateHandles: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	c, _ := garden.NewClient(sim.URL, nil)
	ctx := context.Background()
	if _, err := c.Create(ctx, garden.Spec{Handle: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, garden.Spec{Handle: "a"}); err == nil || !strings.Contains(err.Error(), "Handle 'a' already in use") {
		t.Errorf("duplicate: err = %v", err)
	}
	if _, err := c.Create(ctx, garden.Spec{Handle: "b"}); err == nil || !strings.Contains(err.Error(), "max containers") {
		t.Errorf("over limit: err = %v", err)
	}
	capacity, err := c.Capacity(ctx)
	if err != nil || capacity.MaxContainers != 1 {
		t.Errorf("capacity = %+v, %v", capacity, err)
	}
}
