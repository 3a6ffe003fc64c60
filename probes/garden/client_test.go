package garden_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/probes/rootfs"
	"github.com/deepprobe/deepprobe/workersim/gardensim"
	"github.com/deepprobe/deepprobe/workersim/workertest"
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
	props := map[string]string{"deepprobe.test_run": run, "deepprobe.kind": "contract"}
	vol := rootfsVolume(t, w, b, handle, props)
	// failf reports a failure, unless against real servers the test's volume or container
	// vanished by another's hand (a Concourse web node's GC destroys every handle it does not
	// know): then what failed is no verdict on the client, and t is skipped, saying so.
	failf := func(t *testing.T, format string, args ...any) {
		t.Helper()
		if w.Garden == nil {
			_, cerr := g.Properties(context.Background(), handle)
			_, verr := b.Volume(context.Background(), handle)
			if errors.Is(cerr, garden.ErrNotFound) || errors.Is(verr, baggageclaim.ErrNotFound) {
				t.Skipf("container or volume %s vanished by another's hand (a web node's GC?), not judged: "+format, append([]any{handle}, args...)...)
			}
		}
		t.Errorf(format, args...)
	}
	fatalf := func(t *testing.T, format string, args ...any) {
		t.Helper()
		failf(t, format, args...)
		t.FailNow()
	}
	// etc/ (houdini needs it) and an executable that exits 0.
	tarball, err := rootfs.Tar(runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.StreamIn(ctx, handle, tarball); err != nil {
		fatalf(t, "stream in: %v", err)
	}

	if err := g.Ping(ctx); err != nil {
		fatalf(t, "ping: %v", err)
	}
	got, err := g.Create(ctx, garden.Spec{Handle: handle, GraceTime: time.Minute, RootFSPath: "raw://" + vol.Path, Properties: props})
	if err != nil {
		fatalf(t, "create: %v", err)
	}
	destroyed := false
	t.Cleanup(func() {
		if !destroyed {
			_ = g.Destroy(context.Background(), handle)
		}
	})
	if got != handle {
		fatalf(t, "create returned %q", got)
	}
	if err := g.SetGraceTime(ctx, handle, time.Minute); err != nil {
		fatalf(t, "set grace time: %v", err)
	}
	gotProps, err := g.Properties(ctx, handle)
	if err != nil {
		fatalf(t, "properties: %v", err)
	}
	for k, v := range props {
		if gotProps[k] != v {
			failf(t, "property %s = %q, want %q", k, gotProps[k], v)
		}
	}

	if err := g.Run(ctx, handle, garden.ProcessSpec{Path: "/" + rootfs.ExecutableName, User: "0:0"}); err != nil {
		fatalf(t, "run: %v", err)
	}
	if err := g.Run(ctx, handle, garden.ProcessSpec{Path: "/no-such-binary", User: "0:0"}); !errors.Is(err, garden.ErrExecFailed) {
		failf(t, "run of a missing path: err = %v, want ErrExecFailed", err)
	}

	listed := func(t *testing.T, filter map[string]string) bool {
		t.Helper()
		handles, err := g.List(ctx, filter)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Contains(handles, handle)
	}
	listTests := []struct {
		name   string
		filter map[string]string
		want   bool
	}{
		{"all our properties", props, true},
		{"one of them", map[string]string{"deepprobe.test_run": run}, true},
		{"no property matches", map[string]string{"deepprobe.test_run": "other", "deepprobe.kind": "other"}, false},
		// containerd's filter grammar for values is not recorded: only against the simulators.
		{"characters to escape", map[string]string{"deepprobe.test_run": run + "&x=y"}, false},
	}
	for _, tt := range listTests {
		t.Run("list/"+tt.name, func(t *testing.T) {
			if tt.name == "characters to escape" {
				w.NeedSimulators(t)
			}
			if got := listed(t, tt.filter); got != tt.want {
				failf(t, "list(%v): ours listed %v, want %v", tt.filter, got, tt.want)
			}
		})
	}
	// Several properties in one filter: Guardian and houdini list what matches all of them,
	// containerd what matches any (one containerd filter per property). Either is accepted,
	// the same way for every query, and on the simulators the profile's way.
	t.Run("list/several properties, one way", func(t *testing.T) {
		wrongValue := listed(t, map[string]string{"deepprobe.test_run": run, "deepprobe.kind": "other"})
		missing := listed(t, map[string]string{"deepprobe.test_run": run, "absent": "x"})
		if wrongValue != missing {
			failf(t, "a wrong value listed ours: %v; a missing property: %v; want the same (all must match, or any)", wrongValue, missing)
		}
		if w.Garden != nil && wrongValue != w.Garden.Profile.ListFiltersOR {
			failf(t, "the %s profile ORs filters: %v; listed ours on one match: %v", w.Garden.Profile.Name, w.Garden.Profile.ListFiltersOR, wrongValue)
		}
		t.Logf("several properties in one filter: listed on one match: %v", wrongValue)
	})

	if err := g.Destroy(ctx, handle); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	destroyed = true
	for name, call := range map[string]func() error{
		"destroy":    func() error { return g.Destroy(ctx, handle) },
		"properties": func() error { _, err := g.Properties(ctx, handle); return err },
		"grace_time": func() error { return g.SetGraceTime(ctx, handle, time.Second) },
		"run":        func() error { return g.Run(ctx, handle, garden.ProcessSpec{Path: "/x"}) },
	} {
		if err := call(); !errors.Is(err, garden.ErrNotFound) || !errors.Is(err, garden.ErrGone) {
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
		{"list property name containerd cannot filter on", "properties", func() error {
			_, err := c.List(ctx, map[string]string{"deepprobe.health-check": "true"})
			return err
		}},
		{"relative process path", "path", func() error { return c.Run(ctx, "h", garden.ProcessSpec{Path: "true"}) }},
		{"run empty handle", "handle", func() error { return c.Run(ctx, "", garden.ProcessSpec{Path: "/true"}) }},
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
