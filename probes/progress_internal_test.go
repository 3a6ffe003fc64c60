package probes

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeList answers a watch's lists from a script of handle sets, the last one repeated.
type fakeList struct {
	mu    sync.Mutex
	lists [][]string
}

func (f *fakeList) list(ctx context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := f.lists[0]
	if len(f.lists) > 1 {
		f.lists = f.lists[1:]
	}
	return h, nil
}

// TestWatchCountsItsOwnKindOfWork: a create of ours counts others' creates, not their destroys;
// a destroy counts destroys.
func TestWatchCountsItsOwnKindOfWork(t *testing.T) {
	destroying := [][]string{{"a", "b", "c"}, {"a", "b"}, {"a"}, {}}
	for _, tt := range []struct {
		evidence    Evidence
		wantStalled bool
	}{{EvidenceCreates, true}, {EvidenceDestroys, false}, {EvidenceEither, false}} {
		f := &fakeList{lists: destroying}
		w := &watch{list: f.list, stall: 2 * time.Second, stalls: true, evidence: tt.evidence, seen: &seen{}, start: time.Now().Add(-3 * time.Second)}
		var stalled bool
		for range 3 {
			stalled = w.observe(context.Background())
		}
		if stalled != tt.wantStalled {
			t.Errorf("evidence %d while others only destroy: stalled %v, want %v", tt.evidence, stalled, tt.wantStalled)
		}
	}
}

// TestWatchCarriesProgressAcrossStages: a stage that follows a busy one in the same run reads
// the worker busy from its first list, with no gap, and lists no sooner than a second after
// the last list.
func TestWatchCarriesProgressAcrossStages(t *testing.T) {
	run := &seen{}
	first := &watch{list: (&fakeList{lists: [][]string{{"a"}, {"a", "b"}}}).list, stall: 10 * time.Second, seen: run, start: time.Now()}
	first.observe(context.Background())
	first.observe(context.Background())
	if b := first.snapshot(); !b.Progressing(time.Now(), first.stall) || b.Created != 1 {
		t.Fatalf("first stage: %+v", b)
	}
	second := &watch{list: (&fakeList{lists: [][]string{{"a", "b"}}}).list, stall: 10 * time.Second, seen: run, start: time.Now()}
	var published []Busy
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		second.run(ctx, time.Now(), func(b Busy) { published = append(published, b); cancel() }, func(error) {})
	}()
	<-done
	if len(published) != 1 || !published[0].Progressing(time.Now(), second.stall) || published[0].Created != 1 {
		t.Fatalf("second stage's first publish: %+v", published)
	}
	if gap := run.lastList.Sub(run.firstList); gap < WatchInterval {
		t.Errorf("the run listed twice %s apart", gap)
	}
}

// TestWatchDoesNotReadOldChangesAsProgress: a stage that lists a component long after the run's
// last list of it (minutes later, a destroy after a create) takes that list as a new baseline:
// what changed meanwhile did not happen now.
func TestWatchDoesNotReadOldChangesAsProgress(t *testing.T) {
	run := &seen{prev: map[string]bool{"a": true}, lastList: time.Now().Add(-10 * time.Minute), firstList: time.Now().Add(-10 * time.Minute)}
	w := &watch{list: (&fakeList{lists: [][]string{{"b", "c"}}}).list, stall: 30 * time.Second, stalls: true, seen: run, start: time.Now()}
	w.observe(context.Background())
	if b := w.snapshot(); b.Progressing(time.Now(), w.stall) || b.Created+b.Destroyed != 0 {
		t.Fatalf("an old list's changes read as progress: %+v", b)
	}
}
