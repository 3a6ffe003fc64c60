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

// progressVar is what a fake workload in flight reports.
type progressVar struct {
	p atomic.Pointer[probes.Progress]
}

func (v *progressVar) running() (probes.Progress, bool) {
	p := v.p.Load()
	if p == nil {
		return probes.Progress{}, false
	}
	return *p, true
}

// deadlineCheck is a check whose caller gives up as soon as the workload has started.
func deadlineCheck(t *testing.T, p *probes.Prober, w *fakeWorkload, started bool) checkResult {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := checkAsync(ctx, p)
	if !started {
		<-w.started
	}
	cancel()
	return <-ch
}

// TestProberBusyIsNotBroken: a caller whose deadline comes while a slow stage waits on a worker
// that shows progress gets 200 warn busy, even with no result yet; without progress it gets
// what it would get without the watch; a known failure for another reason than time stands.
func TestProberBusyIsNotBroken(t *testing.T) {
	w, clock := newFakeWorkload(), workertest.NewClock(time.Unix(1000, 0))
	var prog progressVar
	p, reg := newProber(t, w, clock, probes.ProberConfig{Running: prog.running, Timing: probes.Timing{StallTimeout: 10 * time.Second}})
	busy := &probes.Busy{Stage: probes.StageContainerCreate, Component: probes.Garden, Waiting: 9200 * time.Millisecond,
		LastProgress: time.Now(), Created: 14, Destroyed: 12, Window: 10 * time.Second}
	prog.p.Store(&probes.Progress{Stage: probes.StageContainerCreate, Busy: busy, Deadline: time.Now().Add(time.Hour)})

	// No result yet, the first workload slow but the worker busy: 200 warn busy.
	r := deadlineCheck(t, p, w, false)
	if r.err != nil || !r.o.Healthy || r.o.Verdict() != "warn" || r.o.Busy == nil {
		t.Fatalf("busy worker, no result yet: %+v, %v", r.o, r.err)
	}
	if reason, why := r.o.Why(); reason != probes.ReasonBusy || why != "busy, not broken: container.create waiting 9.2s; 14 containers created and 12 destroyed by others in the last 10s" {
		t.Fatalf("why %q %q", reason, why)
	}
	if v := labelledCounter(t, reg, "deepprobe_deadline_answers_total", "answer", "busy"); v != 1 {
		t.Errorf("busy answers counted %v", v)
	}

	// Progress older than the stall timeout is not busy: no result yet is a 503 as before.
	old := *busy
	old.LastProgress = time.Now().Add(-11 * time.Second)
	prog.p.Store(&probes.Progress{Stage: probes.StageContainerCreate, Busy: &old, Deadline: time.Now().Add(time.Hour)})
	if r := deadlineCheck(t, p, w, true); !errors.Is(r.err, probes.ErrTimeout) {
		t.Fatalf("no progress for the stall timeout: %+v, %v", r.o, r.err)
	}

	// A latest failure for another reason than time stands, busy or not.
	prog.p.Store(nil)
	w.release <- failed(probes.StageProcessRun) // the first workload ends: exec failed
	waitFor(t, func() bool { _, ok := p.Latest(); return ok })
	clock.Advance(6 * time.Second)
	prog.p.Store(&probes.Progress{Stage: probes.StageContainerCreate, Busy: busy, Deadline: time.Now().Add(time.Hour)})
	if r := deadlineCheck(t, p, w, false); r.err != nil || r.o.Healthy || r.o.Busy == nil {
		t.Fatalf("busy after a real failure: %+v, %v", r.o, r.err)
	}
	prog.p.Store(nil)
	w.release <- passed()
}

// TestProberFailureInFlight: once the workload in flight has failed a stage, a caller whose
// deadline comes during its cleanup gets that failure, not the older passing result.
func TestProberFailureInFlight(t *testing.T) {
	w, clock := newFakeWorkload(), workertest.NewClock(time.Unix(1000, 0))
	var prog progressVar
	p, _ := newProber(t, w, clock, probes.ProberConfig{Running: prog.running})
	first := checkAsync(context.Background(), p)
	<-w.started
	w.release <- passed()
	<-first
	clock.Advance(6 * time.Second)

	stalled := failed(probes.StageContainerCreate)
	stalled.Stages[0].Reason = probes.ReasonStalled
	f := stalled.Stages[0]
	prog.p.Store(&probes.Progress{Stage: probes.StageContainerDestroy, Failed: &f, Partial: stalled, Deadline: time.Now().Add(time.Hour)})
	r := deadlineCheck(t, p, w, false)
	if r.err != nil || r.o.Healthy || r.o.Verdict() != "fail" || r.o.ConsecutiveFailures != 1 || r.o.InFlight == nil {
		t.Fatalf("failure in flight: %+v, %v", r.o, r.err)
	}
	// It was not committed: the workload's own end decides the streak.
	prog.p.Store(nil)
	w.release <- passed()
	waitFor(t, func() bool { o, _ := p.Latest(); return o.Result.Passed() && o.CompletedAt.Equal(clock.Now()) })
	if o, _ := p.Latest(); o.ConsecutiveFailures != 0 {
		t.Fatalf("streak %d after a pass", o.ConsecutiveFailures)
	}
}

func interrupted() probes.Result {
	r := failed(probes.StageProcessRun)
	r.Interrupted = "volume health-check-x vanished during process.run, without deepprobe's destroy"
	r.Stages[0].Reason = probes.ReasonInterrupted
	return r
}

// TestProberInterruptedRunsAgain: an interrupted workload is re-run at once within the same
// flight; a second interruption in a row is a warning, never a failure; the listeners see
// both.
func TestProberInterruptedRunsAgain(t *testing.T) {
	w, clock := newFakeWorkload(), workertest.NewClock(time.Unix(1000, 0))
	var seen []probes.Outcome
	p, _ := newProber(t, w, clock, probes.ProberConfig{Listeners: []func(probes.Outcome){func(o probes.Outcome) { seen = append(seen, o) }}})

	// Interrupted, then passed: the caller gets the pass.
	ch := checkAsync(context.Background(), p)
	<-w.started
	w.release <- interrupted()
	<-w.started
	w.release <- passed()
	if r := <-ch; r.err != nil || r.o.Verdict() != "pass" || w.runs.Load() != 2 {
		t.Fatalf("after a re-run that passed: %+v, %v, runs %d", r.o, r.err, w.runs.Load())
	}
	if len(seen) != 2 || seen[0].Interruptions != 1 || seen[0].Result.Interrupted == "" || seen[1].Interruptions != 0 {
		t.Fatalf("listeners saw %+v", seen)
	}

	// Interrupted twice: 200 warn interrupted, and the streak does not grow.
	clock.Advance(6 * time.Second)
	ch = checkAsync(context.Background(), p)
	<-w.started
	w.release <- interrupted()
	<-w.started
	w.release <- interrupted()
	r := <-ch
	if r.err != nil || !r.o.Healthy || r.o.Verdict() != "warn" || r.o.Interruptions != 2 || r.o.ConsecutiveFailures != 0 || w.runs.Load() != 4 {
		t.Fatalf("interrupted twice: %+v, %v, runs %d", r.o, r.err, w.runs.Load())
	}
	if reason, _ := r.o.Why(); reason != probes.ReasonInterrupted {
		t.Fatalf("reason %q", reason)
	}

	// A third in a row is not re-run again (only the first of a streak is).
	clock.Advance(6 * time.Second)
	ch = checkAsync(context.Background(), p)
	<-w.started
	w.release <- interrupted()
	if r := <-ch; r.o.Interruptions != 3 || !r.o.Healthy || w.runs.Load() != 5 {
		t.Fatalf("third interruption: %+v, runs %d", r.o, w.runs.Load())
	}
}

// labelledCounter returns the counter name{label="value"}.
func labelledCounter(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no series %s{%s=%q}", name, label, value)
	return 0
}

// TestProberHeldBackAndCancelledNeitherEndNorGrowAStreak: a workload whose container stages
// were held back did not exercise Garden, and one cut by a shutdown says nothing of the worker:
// neither ends a failing streak, nor grows it.
func TestProberHeldBackAndCancelledNeitherEndNorGrowAStreak(t *testing.T) {
	w, clock := newFakeWorkload(), workertest.NewClock(time.Unix(1000, 0))
	p, _ := newProber(t, w, clock, probes.ProberConfig{FailureThreshold: 3, Timing: probes.Timing{MinInterval: time.Second}})
	heldBack := passed()
	heldBack.HeldBack = "held back to leave the last container slots to builds: 249 of 250 containers in use, reserve 1"
	cancelled := failed(probes.StageContainerCreate)
	cancelled.Stages[0].Reason = probes.ReasonCancelled
	for i, s := range []struct {
		result    probes.Result
		wantFails int
		wantState string
	}{
		{failed(probes.StageProcessRun), 1, "warn"},
		{heldBack, 1, "warn"},
		{cancelled, 1, "warn"},
		{failed(probes.StageProcessRun), 2, "warn"},
		{failed(probes.StageProcessRun), 3, "fail"},
	} {
		ch := checkAsync(context.Background(), p)
		<-w.started
		w.release <- s.result
		r := <-ch
		if r.err != nil || r.o.ConsecutiveFailures != s.wantFails || r.o.Verdict() != s.wantState {
			t.Fatalf("step %d: %d failures, %s (%v); want %d, %s", i, r.o.ConsecutiveFailures, r.o.Verdict(), r.err, s.wantFails, s.wantState)
		}
		clock.Advance(time.Second)
	}
}

// TestProberHeldBackFailsWithOnSaturationFail: with --on-saturation fail, container stages held
// back for builds are a failure like a full worker's, never a pass.
func TestProberHeldBackFailsWithOnSaturationFail(t *testing.T) {
	w, clock := newFakeWorkload(), workertest.NewClock(time.Unix(1000, 0))
	p, _ := newProber(t, w, clock, probes.ProberConfig{OnSaturation: probes.SaturationFail})
	heldBack := passed()
	heldBack.HeldBack = "held back to leave the last container slots to builds: 249 of 250 containers in use, reserve 1"
	ch := checkAsync(context.Background(), p)
	<-w.started
	w.release <- heldBack
	if r := <-ch; r.err != nil || r.o.Healthy || r.o.Verdict() != "fail" || r.o.ConsecutiveFailures != 1 {
		t.Fatalf("held back under --on-saturation fail: %+v, %v", r.o, r.err)
	}
}
