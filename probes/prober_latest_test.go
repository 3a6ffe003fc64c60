package probes_test

import (
	"context"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/probes"
	"github.com/deepprobe/deepprobe/workersim/workertest"
)

// TestProberLatestReadsBusy: the status page reads Latest, which never starts a workload nor
// counts an answer. While the workload in flight is busy, Latest says so as /healthz does
// (healthy, warn, reason busy, the earlier result's time kept); a stalled or failed workload in
// flight, or a failure for another reason than time, is not read as busy.
func TestProberLatestReadsBusy(t *testing.T) {
	w, clock := newFakeWorkload(), workertest.NewClock(time.Unix(1000, 0))
	var prog progressVar
	p, reg := newProber(t, w, clock, probes.ProberConfig{Running: prog.running, Timing: probes.Timing{StallTimeout: 10 * time.Second}})
	first := checkAsync(context.Background(), p)
	<-w.started
	w.release <- passed()
	<-first
	finished := clock.Now()
	clock.Advance(6 * time.Second)

	busy := &probes.Busy{Stage: probes.StageContainerCreate, Component: probes.Garden, Waiting: 9200 * time.Millisecond,
		LastProgress: time.Now(), Created: 14, Destroyed: 12, Window: 10 * time.Second}
	prog.p.Store(&probes.Progress{Stage: probes.StageContainerCreate, Busy: busy, Deadline: time.Now().Add(time.Hour)})
	o, ok := p.Latest()
	if reason, _ := o.Why(); !ok || !o.Healthy || o.Verdict() != "warn" || reason != probes.ReasonBusy || o.InFlight == nil || !o.CompletedAt.Equal(finished) {
		t.Fatalf("busy in flight: %+v", o)
	}
	if v := labelledCounter(t, reg, "deepprobe_deadline_answers_total", "answer", "busy"); v != 0 {
		t.Errorf("reading Latest counted %v busy answers", v)
	}
	if w.runs.Load() != 1 {
		t.Errorf("Latest started a workload: %d runs", w.runs.Load())
	}

	// No progress within the stall timeout, or past the hard limit: the latest result, as is.
	old := *busy
	old.LastProgress = time.Now().Add(-11 * time.Second)
	for name, pr := range map[string]probes.Progress{
		"no progress":    {Stage: probes.StageContainerCreate, Busy: &old, Deadline: time.Now().Add(time.Hour)},
		"past its limit": {Stage: probes.StageContainerCreate, Busy: busy, Deadline: time.Now().Add(-time.Second)},
	} {
		prog.p.Store(&pr)
		if o, _ := p.Latest(); o.Busy != nil || o.Verdict() != "pass" {
			t.Errorf("%s: %+v", name, o)
		}
	}

	// A failure for another reason than time stands, busy or not.
	prog.p.Store(nil)
	next := checkAsync(context.Background(), p)
	<-w.started
	w.release <- failed(probes.StageProcessRun)
	<-next
	prog.p.Store(&probes.Progress{Stage: probes.StageContainerCreate, Busy: busy, Deadline: time.Now().Add(time.Hour)})
	if o, _ := p.Latest(); o.Healthy || o.Verdict() != "fail" || o.Busy == nil {
		t.Fatalf("busy after a real failure: %+v", o)
	}
	prog.p.Store(nil)
}
