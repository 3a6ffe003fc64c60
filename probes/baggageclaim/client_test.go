package baggageclaim_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/workersim/baggageclaimsim"
	"github.com/deepprobe/deepprobe/workersim/gardensim"
	"github.com/deepprobe/deepprobe/workersim/workertest"
)

// TestClientContract runs the client against the simulator, or the real Baggageclaim named by
// DEEPPROBE_BAGGAGECLAIM_URL. It only counts and destroys what it created.
func TestClientContract(t *testing.T) {
	w := workertest.Start(t, gardensim.Config{})
	c, err := baggageclaim.NewClient(w.BaggageclaimURL, workertest.HTTPClient(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run := uuid.NewString()
	props := map[string]string{"deepprobe.test-run": run}
	handles := []string{"deepprobe-test-" + run + "-a", "deepprobe-test-" + run + "-b"}
	for i, h := range handles {
		p := map[string]string{"deepprobe.test-run": run, "deepprobe.n": string(rune('a' + i))}
		v, err := c.CreateVolume(ctx, baggageclaim.Request{Handle: h, Strategy: baggageclaim.EmptyStrategy(), Properties: p})
		if err != nil {
			t.Fatalf("create %s: %v", h, err)
		}
		t.Cleanup(func() { _ = c.Destroy(context.Background(), h) })
		if v.Handle != h || !filepath.IsAbs(v.Path) || v.Properties["deepprobe.test-run"] != run {
			t.Errorf("created %+v", v)
		}
	}
	if _, err := c.CreateVolume(ctx, baggageclaim.Request{Handle: handles[0], Strategy: baggageclaim.EmptyStrategy()}); err == nil {
		t.Errorf("duplicate create succeeded")
	}
	got, err := c.Volume(ctx, handles[0])
	if err != nil || got.Handle != handles[0] {
		t.Fatalf("get: %+v, %v", got, err)
	}
	for _, tt := range []struct {
		filter map[string]string
		want   int
	}{
		{props, 2},
		{map[string]string{"deepprobe.test-run": run, "deepprobe.n": "b"}, 1},
		{map[string]string{"deepprobe.test-run": run, "deepprobe.n": "c"}, 0},
	} {
		vs, err := c.List(ctx, tt.filter)
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != tt.want {
			t.Errorf("list(%v) = %d volumes, want %d", tt.filter, len(vs), tt.want)
		}
	}
	for _, h := range handles {
		if err := c.Destroy(ctx, h); err != nil {
			t.Fatalf("destroy %s: %v", h, err)
		}
		if err := c.Destroy(ctx, h); !errors.Is(err, baggageclaim.ErrNotFound) {
			t.Errorf("second destroy of %s: err = %v, want ErrNotFound", h, err)
		}
		if _, err := c.Volume(ctx, h); !errors.Is(err, baggageclaim.ErrNotFound) {
			t.Errorf("get after destroy of %s: err = %v, want ErrNotFound", h, err)
		}
	}

	if w.RootFSImportPath != "" {
		h := "deepprobe-test-" + run + "-import"
		v, err := c.CreateVolume(ctx, baggageclaim.Request{Handle: h, Strategy: baggageclaim.ImportStrategy(w.RootFSImportPath)})
		if err != nil {
			t.Fatalf("import: %v", err)
		}
		if err := c.Destroy(ctx, v.Handle); err != nil {
			t.Fatal(err)
		}
	}
}

func TestClientRefusesBadInput(t *testing.T) {
	sim, err := baggageclaimsim.NewServer(baggageclaimsim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	c, _ := baggageclaim.NewClient(sim.URL, nil)
	ctx := context.Background()
	tests := []struct {
		name, field string
		call        func() error
	}{
		{"empty handle", "handle", func() error {
			_, err := c.CreateVolume(ctx, baggageclaim.Request{Strategy: baggageclaim.EmptyStrategy()})
			return err
		}},
		{"no strategy", "strategy.type", func() error { _, err := c.CreateVolume(ctx, baggageclaim.Request{Handle: "h"}); return err }},
		{"relative import", "strategy.path", func() error {
			_, err := c.CreateVolume(ctx, baggageclaim.Request{Handle: "h", Strategy: baggageclaim.ImportStrategy("rel")})
			return err
		}},
		{"get empty", "handle", func() error { _, err := c.Volume(ctx, ""); return err }},
		{"destroy empty", "handle", func() error { return c.Destroy(ctx, "") }},
		{"list empty name", "properties", func() error { _, err := c.List(ctx, map[string]string{"": "v"}); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, baggageclaim.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("err = %v, want ErrInvalidArgument naming %s", err, tt.field)
			}
		})
	}
	for route, n := range sim.Faults.Calls() {
		if n != 0 {
			t.Errorf("%d requests sent to %s", n, route)
		}
	}
}
