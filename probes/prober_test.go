package probes_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/deepprobe/deepprobe/probes"
	"github.com/deepprobe/deepprobe/workersim/workertest"
)

// fakeWorkload blocks every run until released, and counts runs and concurrency.
type fakeWorkload struct {
	started  chan struct{}
	release  chan probes.Result
	runs     atomic.Int32
	running  atomic.Int32
	maxSeen  atomic.Int32
	ctxAtEnd chan error
}

func newFakeWorkload() *fakeWorkload {
	return &fakeWorkload{started: make(chan struct{}, 100), release: make(chan probes.Result), ctxAtEnd: make(chan error, 100)}
}

func (f *fakeWorkload) Run(ctx context.Context) probes.Result {
	f.runs.Add(1)
	n := f.running.Add(1)
	defer f.running.Add(-1)
	for {
		m := f.maxSeen.Load()
		if n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	f.started <- struct{}{}
	var res probes.Result
	select {
	case res = <-f.release:
	case <-ctx.Done():
		res = failed("volume.create")
	}
	f.ctxAtEnd <- ctx.Err()
	return res
}

func passed() probes.Result {
	return probes.Result{Handle: "health-check-x", Stages: []probes.StageResult{{Name: probes.StageVolumeCreate, Status: probes.StatusPass}}}
}

func failed(stage string) probes.Result {
	return probes.Result{Handle: "health-check-x", Stages: []probes.StageResult{{Name: stage, Status: probes.StatusFail, Err: errors.New("boom")}}}
}

func newProber(t *testing.T, w *fakeWorkload, clock *workertest.Clock, cfg probes.ProberConfig) (*probes.Prober, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Run, cfg.Now, cfg.Registerer = w.Run, clock.Now, reg
	p, err := probes.NewProber(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p, reg
}

type checkResult struct {
	o   probes.Outcome
	err error
}

func checkAsync(ctx context.Context, p *probes.Prober) chan checkResult {
	ch := make(chan checkResult, 1)
	go func() {
		o, err := p.Check(ctx)
		ch <- checkResult{o, err}
	}()
	return ch
}

func TestProberCoalescesAndCaches(t *testing.T) {
	w, clock := newFakeWorkload(), workertest.NewClock(time.Unix(1000, 0))
	p, reg := newProber(t, w, clock, probes.ProberConfig{Timing: probes.Timing{MinInterval: 5 * time.Second}})
	ctx := context.Background()

	first := checkAsync(ctx, p)
	<-w.started
	// Every caller that arrives while the workload runs joins it.
	var joined []chan checkResult
	for range 50 {
		joined = append(joined, checkAsync(ctx, p))
	}
	waitFor(t, func() bool { return counterValue(t, reg, "deepprobe_coalesced_requests_total") == 50 })
	clock.Advance(time.Second)
	w.release <- passed()
	for _, ch := range append(joined, first) {
		r := <-ch
		if r.err != nil || !r.o.Healthy || r.o.Cached || r.o.Verdict() != "pass" {
			t.Fatalf("outcome %+v, %v", r.o, r.err)
		}
	}
	if n := w.runs.Load(); n != 1 {
		t.Fatalf("%d workloads, want 1", n)
	}

	// Within MinInterval the result is served from cache, with its age.
	clock.Advance(4 * time.Second)
	o, err := p.Check(ctx)
	if err != nil || !o.Cached || o.Age != 4*time.Second || w.runs.Load() != 1 {
		t.Fatalf("cached outcome %+v, %v, runs %d", o, err, w.runs.Load())
	}

	// After MinInterval a new workload starts.
	clock.Advance(time.Second)
	next := checkAsync(ctx, p)
	<-w.started
	w.release <- failed(probes.StageContainerCreate)
	r := <-next
	if r.err != nil || r.o.Healthy || r.o.Verdict() != "fail" || r.o.ConsecutiveFailures != 1 || w.runs.Load() != 2 {
		t.Fatalf("outcome %+v, %v", r.o, r.err)
	}
	if w.maxSeen.Load() != 1 {
		t.Errorf("%d workloads ran at once", w.maxSeen.Load())
	}
}

func TestProberCallerTimeoutLeavesWorkloadRunning(t *testing.T) {
	w, clock := newFakeWorkload(), workertest.NewClock(time.Unix(1000, 0))
	p, _ := newProber(t, w, clock, probes.ProberConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	ch := checkAsync(ctx, p)
	<-w.started
	cancel()
	if r := <-ch; !errors.Is(r.err, probes.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", r.err)
	}
	// The workload was not cancelled with the caller; its result is cached for the next one.
	w.release <- passed()
	if err := <-w.ctxAtEnd; err != nil {
		t.Fatalf("workload context ended with the caller: %v", err)
	}
	// The next caller joins the finishing flight or reads its result; the one after that reads
	// the cache. Neither starts a workload.
	for i := range 2 {
		o, err := p.Check(context.Background())
		if err != nil || !o.Healthy || w.runs.Load() != 1 || (i == 1 && !o.Cached) {
			t.Fatalf("check %d: outcome %+v, %v, runs %d", i, o, err, w.runs.Load())
		}
	}
}

func TestProberTimeoutNamesTheRunningStage(t *testing.T) {
	w, clock := newFakeWorkload(), workertest.NewClock(time.Unix(1000, 0))
	p, _ := newProber(t, w, clock, probes.ProberConfig{Running: func() (probes.Progress, bool) {
		return probes.Progress{Stage: probes.StageContainerCreate, Elapsed: 3 * time.Second, Limit: 5 * time.Second}, true
	}})
	ctx, cancel := context.WithCancel(context.Background())
	ch := checkAsync(ctx, p)
	<-w.started
	cancel()
	r := <-ch
	var te *probes.TimeoutError
	if !errors.Is(r.err, probes.ErrTimeout) || !errors.As(r.err, &te) || te.InFlight == nil || te.InFlight.Stage != probes.StageContainerCreate ||
		te.InFlight.Elapsed != 3*time.Second || te.PastLimit || te.Why != "no result yet" {
		t.Fatalf("err = %v", r.err)
	}
	w.release <- passed()
}

func TestProberFailureThreshold(t *testing.T) {
	w, clock := newFakeWorkload(), workertest.NewClock(time.Unix(1000, 0))
	p, _ := newProber(t, w, clock, probes.ProberConfig{FailureThreshold: 3, Timing: probes.Timing{MinInterval: time.Second}})
	steps := []struct {
		result    probes.Result
		wantState string
		wantFails int
	}{
		{failed(probes.StageVolumeCreate), "warn", 1},
		{failed(probes.StageVolumeCreate), "warn", 2},
		{failed(probes.StageVolumeCreate), "fail", 3},
		{failed(probes.StageVolumeCreate), "fail", 4},
		{passed(), "pass", 0},
		{failed(probes.StageVolumeCreate), "warn", 1},
	}
	for i, s := range steps {
		ch := checkAsync(context.Background(), p)
		<-w.started
		w.release <- s.result
		r := <-ch
		if r.err != nil || r.o.Verdict() != s.wantState || r.o.ConsecutiveFailures != s.wantFails {
			t.Fatalf("step %d: state %s fails %d (err %v), want %s %d", i, r.o.Verdict(), r.o.ConsecutiveFailures, r.err, s.wantState, s.wantFails)
		}
		clock.Advance(time.Second)
	}
}

func TestProberBackgroundModeServesLatestAndGoesStale(t *testing.T) {
	w, clock := newFakeWorkload(), workertest.NewClock(time.Unix(1000, 0))
	p, _ := newProber(t, w, clock, probes.ProberConfig{Timing: probes.Timing{Interval: 10 * time.Second, MaxAge: 30 * time.Second}})
	// No result yet: the first caller waits for the first workload.
	p.Trigger(context.Background())
	<-w.started
	ch := checkAsync(context.Background(), p)
	w.release <- passed()
	if r := <-ch; r.err != nil || !r.o.Healthy {
		t.Fatalf("first outcome %+v, %v", r.o, r.err)
	}
	// Callers never start workloads in background mode, however old the result.
	clock.Advance(20 * time.Second)
	if o, _ := p.Check(context.Background()); !o.Healthy || !o.Cached || o.Stale {
		t.Fatalf("outcome %+v", o)
	}
	clock.Advance(11 * time.Second)
	o, _ := p.Check(context.Background())
	if o.Healthy || !o.Stale || o.Verdict() != "fail" {
		t.Fatalf("stale outcome %+v", o)
	}
	if w.runs.Load() != 1 {
		t.Fatalf("%d runs, want 1", w.runs.Load())
	}
	// A tick while a workload runs does not start a second one.
	p.Trigger(context.Background())
	<-w.started
	p.Trigger(context.Background())
	w.release <- passed()
	waitFor(t, func() bool { o, _ := p.Check(context.Background()); return !o.Stale })
	if w.runs.Load() != 2 || w.maxSeen.Load() != 1 {
		t.Fatalf("runs %d, max concurrent %d", w.runs.Load(), w.maxSeen.Load())
	}
}

func TestProberShutdown(t *testing.T) {
	t.Run("waits for the workload", func(t *testing.T) {
		w, clock := newFakeWorkload(), workertest.NewClock(time.Unix(1000, 0))
		p, _ := newProber(t, w, clock, probes.ProberConfig{})
		ch := checkAsync(context.Background(), p)
		<-w.started
		done := make(chan error, 1)
		go func() { done <- p.Shutdown(context.Background()) }()
		w.release <- passed()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		<-ch
		// No new workload after shutdown; the last result is still served.
		clock.Advance(time.Hour)
		if o, err := p.Check(context.Background()); err != nil || !o.Healthy {
			t.Fatalf("after shutdown: %+v, %v", o, err)
		}
		if w.runs.Load() != 1 {
			t.Fatalf("%d runs", w.runs.Load())
		}
	})
	t.Run("cancels the workload when the bound passes", func(t *testing.T) {
		w, clock := newFakeWorkload(), workertest.NewClock(time.Unix(1000, 0))
		p, _ := newProber(t, w, clock, probes.ProberConfig{})
		ch := checkAsync(context.Background(), p)
		<-w.started
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := p.Shutdown(ctx); err == nil {
			t.Fatal("Shutdown returned nil although it cancelled the workload")
		}
		if err := <-w.ctxAtEnd; !errors.Is(err, context.Canceled) {
			t.Fatalf("workload context: %v", err)
		}
		<-ch
	})
	t.Run("no result and closed", func(t *testing.T) {
		w, clock := newFakeWorkload(), workertest.NewClock(time.Unix(1000, 0))
		p, _ := newProber(t, w, clock, probes.ProberConfig{})
		_ = p.Shutdown(context.Background())
		if _, err := p.Check(context.Background()); !errors.Is(err, probes.ErrClosed) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestProberConfigValidation(t *testing.T) {
	run := func(context.Context) probes.Result { return probes.Result{} }
	for _, cfg := range []probes.ProberConfig{
		{},
		{Run: run, Timing: probes.Timing{MinInterval: -1}},
		{Run: run, FailureThreshold: -1},
		{Run: run, Timing: probes.Timing{Interval: 10 * time.Second, MaxAge: 5 * time.Second}},
		{Run: run, Timing: probes.Timing{MaxAge: 5 * time.Second}},
		{Run: run, OnSaturation: "maybe"},
	} {
		if _, err := probes.NewProber(cfg); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
}

// counterValue reads a counter from reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// waitFor polls cond: it waits on goroutines this test does not own (callers joining the
// flight), with no way to be told; it never waits on a clock.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestProberLatest reads the latest outcome without starting a workload, stale in background
// mode past MaxAge.
func TestProberLatest(t *testing.T) {
	w, clock := newFakeWorkload(), workertest.NewClock(time.Unix(1000, 0))
	p, _ := newProber(t, w, clock, probes.ProberConfig{Timing: probes.Timing{Interval: 10 * time.Second, MaxAge: 30 * time.Second}})
	if _, ok := p.Latest(); ok {
		t.Fatal("an outcome before any workload")
	}
	p.Trigger(context.Background())
	<-w.started
	w.release <- passed()
	waitFor(t, func() bool { _, ok := p.Latest(); return ok })
	clock.Advance(31 * time.Second)
	o, _ := p.Latest()
	if !o.Stale || o.Healthy || o.Age != 31*time.Second || w.runs.Load() != 1 {
		t.Fatalf("latest %+v, runs %d", o, w.runs.Load())
	}
}

// TestProberStagePastItsDeadline: a caller whose deadline comes while the running stage is past
// its own deadline gets that stage as the failure, even with a fresh result cached.
func TestProberStagePastItsDeadline(t *testing.T) {
	w, clock := newFakeWorkload(), workertest.NewClock(time.Unix(1000, 0))
	var past atomic.Bool
	p, _ := newProber(t, w, clock, probes.ProberConfig{Running: func() (probes.Progress, bool) {
		deadline := time.Now().Add(time.Hour)
		if past.Load() {
			deadline = time.Now().Add(-time.Second)
		}
		return probes.Progress{Stage: probes.StageContainerCreate, Limit: 5 * time.Second, Deadline: deadline}, true
	}})
	first := checkAsync(context.Background(), p)
	<-w.started
	w.release <- passed()
	<-first
	clock.Advance(6 * time.Second) // past MinInterval: the next caller starts a workload
	for _, pastLimit := range []bool{false, true} {
		past.Store(pastLimit)
		ctx, cancel := context.WithCancel(context.Background())
		ch := checkAsync(ctx, p)
		if !pastLimit {
			<-w.started
		}
		cancel()
		r := <-ch
		var te *probes.TimeoutError
		switch {
		case !pastLimit && (r.err != nil || r.o.InFlight == nil || !r.o.Healthy):
			t.Fatalf("within the deadline: want the fresh result with in_flight, got %+v, %v", r.o, r.err)
		case pastLimit && (!errors.As(r.err, &te) || !te.PastLimit || te.InFlight.Stage != probes.StageContainerCreate):
			t.Fatalf("past the deadline: err = %v", r.err)
		}
	}
	w.release <- passed()
}
