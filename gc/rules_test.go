package gc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/deepprobe/deepprobe/gc"
	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/probes/marker"
	"github.com/deepprobe/deepprobe/workersim/faults"
	"github.com/deepprobe/deepprobe/workersim/gardensim"
	"github.com/deepprobe/deepprobe/workersim/workertest"
)

// fakeWorker is an in-memory Garden and Baggageclaim for rules that need no wire: each
// resource is a container and a volume of the same handle and properties.
type fakeWorker struct {
	mu        sync.Mutex
	resources map[string]map[string]string
}

func (f *fakeWorker) add(handle string, props map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.resources == nil {
		f.resources = map[string]map[string]string{}
	}
	f.resources[handle] = props
}

func (f *fakeWorker) has(handle string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.resources[handle]
	return ok
}

func (f *fakeWorker) List(context.Context, map[string]string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var hs []string
	for h := range f.resources {
		hs = append(hs, h)
	}
	return hs, nil
}

func (f *fakeWorker) Properties(_ context.Context, handle string) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.resources[handle]; ok {
		return p, nil
	}
	return nil, garden.ErrNotFound
}

func (f *fakeWorker) Destroy(_ context.Context, handle string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.resources, handle)
	return nil
}

// fakeVolumes is the fake's Baggageclaim side; it holds no volumes, so that each fake resource
// is counted once.
type fakeVolumes struct{}

func (fakeVolumes) List(context.Context, map[string]string) ([]baggageclaim.Volume, error) {
	return nil, nil
}
func (fakeVolumes) Destroy(context.Context, string) error { return baggageclaim.ErrNotFound }

// syncBuffer is a bytes.Buffer safe for a logger and a test at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// lines returns the JSON log lines whose message contains msg, and empties the buffer.
func (s *syncBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if strings.Contains(fmt.Sprint(m["msg"]), msg) {
			out = append(out, m)
		}
	}
	s.buf.Reset()
	return out
}

// TestJanitorOtherInstances (issue 19 §6): another instance's leftover goes only past
// 10 x the orphan age; this instance's, and one naming no instance, by today's rule.
func TestJanitorOtherInstances(t *testing.T) {
	c := workertest.NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	at := func(age time.Duration) string { return c.Now().Add(-age).Format(time.RFC3339) }
	withInstance := func(age time.Duration, instance string) map[string]string {
		return marked(at(age), marker.InstanceProperty, instance)
	}
	orphanAge := time.Minute
	tests := []struct {
		name   string
		own    string
		props  map[string]string
		action gc.Action
		reason string
	}{
		{"own, past the orphan age", "me", withInstance(orphanAge, "me"), gc.ActionReaped, ""},
		{"own, younger", "me", withInstance(orphanAge-time.Second, "me"), gc.ActionSkipped, gc.SkipYoung},
		{"no instance counts as own", "me", marked(at(orphanAge)), gc.ActionReaped, ""},
		{"other, past the orphan age", "me", withInstance(orphanAge, "you"), gc.ActionSkipped, gc.SkipOtherInstance},
		{"other, just under 10 x", "me", withInstance(gc.OtherInstanceAgeFactor*orphanAge-time.Second, "you"), gc.ActionSkipped, gc.SkipOtherInstance},
		{"other, at 10 x", "me", withInstance(gc.OtherInstanceAgeFactor*orphanAge, "you"), gc.ActionReaped, ""},
		{"other, younger than the orphan age", "me", withInstance(time.Second, "you"), gc.ActionSkipped, gc.SkipOtherInstance},
		{"no own instance: any named one is other", "", withInstance(orphanAge, "me"), gc.ActionSkipped, gc.SkipOtherInstance},
		{"no own instance, none named: own rule", "", marked(at(orphanAge)), gc.ActionReaped, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeWorker{}
			f.add("health-check-1", tt.props)
			j := newJanitor(t, f, fakeVolumes{}, c, gc.Config{Instance: tt.own, OrphanAge: orphanAge})
			r := j.Sweep(context.Background())
			if len(r.Items) != 1 || r.Items[0].Action != tt.action || r.Items[0].Reason != tt.reason {
				t.Fatalf("items %+v, want %s %q", r.Items, tt.action, tt.reason)
			}
			if gone := !f.has("health-check-1"); gone != (tt.action == gc.ActionReaped) {
				t.Errorf("destroyed %v, action %s", gone, tt.action)
			}
		})
	}
}

// TestJanitorWarnsOfOtherInstances: each sweep warns once per other instance, naming it, for
// at most five of them; its own leftovers raise nothing.
func TestJanitorWarnsOfOtherInstances(t *testing.T) {
	c := workertest.NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	young := c.Now().Add(-time.Second).Format(time.RFC3339)
	f := &fakeWorker{}
	f.add("health-check-mine", marked(young, marker.InstanceProperty, "me"))
	var instances []string
	for i := range 7 {
		inst := fmt.Sprintf("other-%d", i)
		instances = append(instances, inst)
		for k := range 3 { // several leftovers of one instance still make one line
			f.add(fmt.Sprintf("health-check-%d-%d", i, k), marked(young, marker.InstanceProperty, inst))
		}
	}
	var logs syncBuffer
	j := newJanitor(t, f, fakeVolumes{}, c, gc.Config{Instance: "me", Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	for sweep := range 2 {
		r := j.Sweep(context.Background())
		if n := r.Skips(gc.KindContainer, gc.SkipOtherInstance); n != 21 {
			t.Fatalf("sweep %d: %d skipped as another instance's, want 21: %+v", sweep, n, r.Items)
		}
		var named []string
		more := 0.0
		for _, l := range logs.lines(t, "deepprobe instance") {
			if l["level"] != "WARN" {
				t.Errorf("sweep %d: %v", sweep, l)
			}
			if n, ok := l["instances"].(float64); ok {
				more += n
				continue
			}
			named = append(named, fmt.Sprint(l["instance"]))
			if l["count"] != float64(3) || l["own_instance"] != "me" {
				t.Errorf("sweep %d: %v", sweep, l)
			}
		}
		sort.Strings(named)
		if want := instances[:5]; strings.Join(named, ",") != strings.Join(want, ",") || more != 2 {
			t.Errorf("sweep %d: warned of %v and %v more, want each of %v once and 2 more", sweep, named, more, want)
		}
	}
}

// TestJanitorBeingDestroyed (issue 19 §4): a container Garden keeps "destroying" is not
// reaped but tried again each sweep; on consecutive sweeps it is reported stuck (a warning and
// deepprobe_janitor_stuck_containers, which exists from start-up), and its volume is kept
// rather than destroyed under it.
func TestJanitorBeingDestroyed(t *testing.T) {
	w := workertest.Start(t, gardensim.Config{})
	w.NeedSimulators(t)
	g, b := w.Clients(t)
	pop := &population{t: t, g: g, b: b}
	t.Cleanup(pop.cleanup)
	c := workertest.NewClock(time.Now())
	h := marker.HandlePrefix + "wedged"
	pop.add(h, marked(c.Now().Add(-time.Hour).Format(time.RFC3339)))

	reg := prometheus.NewPedanticRegistry()
	var logs syncBuffer
	j := newJanitor(t, g, b, c, gc.Config{Registerer: reg, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	stuckGauge := func() float64 { return series(t, reg, "deepprobe_janitor_stuck_containers") }
	if v := stuckGauge(); v != 0 {
		t.Fatalf("stuck gauge at start-up: %v", v)
	}

	beingDestroyed := faults.Fault{Status: 500, Body: `{"Type":"","Message":"container already being destroyed"}`}
	if err := w.Garden.Faults.Set(garden.RouteDestroy, beingDestroyed); err != nil {
		t.Fatal(err)
	}
	for sweep, want := range []string{gc.SkipBeingDestroyed, gc.SkipDestroyStuck, gc.SkipDestroyStuck} {
		r := j.Sweep(context.Background())
		if r.Skips(gc.KindContainer, want) != 1 || r.Total(gc.ActionReaped) != 0 || r.Skips(gc.KindVolume, gc.SkipContainerPresent) != 1 {
			t.Fatalf("sweep %d: want the container %s and its volume kept: %+v", sweep, want, r)
		}
		if cnt, vol := pop.exists(h); !cnt || !vol {
			t.Fatalf("sweep %d: container %v, volume %v: the volume must wait for its container", sweep, cnt, vol)
		}
		stuck := logs.lines(t, "destroy is stuck")
		wantStuck := map[bool]float64{false: 0, true: 1}[want == gc.SkipDestroyStuck]
		if v := stuckGauge(); v != wantStuck || len(stuck) != int(wantStuck) {
			t.Fatalf("sweep %d: stuck gauge %v, warnings %v; want %v", sweep, v, stuck, wantStuck)
		}
		if len(stuck) == 1 && !strings.Contains(fmt.Sprint(stuck[0]["first"]), h) {
			t.Errorf("the warning does not name %s: %v", h, stuck[0])
		}
	}
	if r, _ := j.LastSweep(); r.Stuck != 1 {
		t.Errorf("last sweep summary: %+v", r)
	}

	// Garden finishes: the container goes, and then its volume, in the same sweep.
	w.Garden.Faults.Clear()
	r := j.Sweep(context.Background())
	if r.Count(gc.KindContainer, gc.ActionReaped) != 1 || r.Count(gc.KindVolume, gc.ActionReaped) != 1 {
		t.Fatalf("after Garden finished: %+v", r)
	}
	if v := stuckGauge(); v != 0 {
		t.Errorf("stuck gauge after the container went: %v", v)
	}
}

// TestJanitorMetricsMatchTheReport: the counters add up what the report counts, by kind,
// action and reason.
func TestJanitorMetricsMatchTheReport(t *testing.T) {
	c := workertest.NewClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	f := &fakeWorker{}
	old, young := c.Now().Add(-time.Hour).Format(time.RFC3339), c.Now().Format(time.RFC3339)
	for i := range 3 {
		f.add(fmt.Sprintf("health-check-old-%d", i), marked(old))
	}
	f.add("health-check-young", marked(young))
	f.add("health-check-other", marked(young, marker.InstanceProperty, "you"))
	f.add("build-1", marked(old))
	f.add("health-check-unmarked", map[string]string{})
	reg := prometheus.NewPedanticRegistry()
	j := newJanitor(t, f, fakeVolumes{}, c, gc.Config{Instance: "me", Registerer: reg})
	r := j.Sweep(context.Background())
	for _, check := range []struct {
		series       string
		report, want int
	}{
		{`deepprobe_janitor_found_total{kind="container"}`, len(r.Items), 7},
		{`deepprobe_janitor_reaped_total{kind="container"}`, r.Count(gc.KindContainer, gc.ActionReaped), 3},
		{`deepprobe_janitor_skipped_total{kind="container",reason="younger-than-orphan-age"}`, r.Skips(gc.KindContainer, gc.SkipYoung), 1},
		{`deepprobe_janitor_skipped_total{kind="container",reason="other-instance"}`, r.Skips(gc.KindContainer, gc.SkipOtherInstance), 1},
		{`deepprobe_janitor_skipped_total{kind="container",reason="foreign-handle"}`, r.Skips(gc.KindContainer, gc.SkipForeignHandle), 1},
		{`deepprobe_janitor_skipped_total{kind="container",reason="not-marked"}`, r.Skips(gc.KindContainer, gc.SkipNotMarked), 1},
		{`deepprobe_janitor_sweeps_total{result="ok"}`, 1, 1},
	} {
		if got := series(t, reg, check.series); check.report != check.want || got != float64(check.want) {
			t.Errorf("%s: report %d, metric %v, want %d", check.series, check.report, got, check.want)
		}
	}
}

// series returns the value of one counter or gauge series, written as in the exposition
// format with its labels in name order.
func series(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			id := f.GetName()
			if len(labels) > 0 {
				id += "{" + strings.Join(labels, ",") + "}"
			}
			if id != name {
				continue
			}
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no series %s", name)
	return 0
}
