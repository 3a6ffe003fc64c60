package probes

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/deepprobe/deepprobe/probes/marker"
)

// Evidence is the kind of others' work that counts as progress for a slow stage: the same kind
// of work as the stage's own, as a list shows it.
type Evidence int

// Kinds of evidence.
const (
	// EvidenceEither: handles appearing or disappearing (the runtime does anything at all).
	EvidenceEither Evidence = iota
	// EvidenceCreates: handles appearing, creates completing (for a create of ours).
	EvidenceCreates
	// EvidenceDestroys: handles disappearing, destroys completing (for a destroy of ours).
	EvidenceDestroys
)

// Busy is what a slow stage of ours saw of the worker while it waited: whether the runtime is
// still doing the same kind of work for others (handles of containers, or volumes, appearing
// and disappearing in its list). It is how deepprobe tells a busy worker from a wedged one.
type Busy struct {
	// Stage is the stage that waits; Component the daemon whose list is watched.
	Stage     string
	Component Component
	// Waiting is how long the stage has waited; WatchingSince when the watching began (the
	// stage's expected time).
	Waiting       time.Duration
	WatchingSince time.Time
	// LastProgress is when a list last showed a change made by others of the kind the stage
	// counts (zero: none yet), this stage's or an earlier one's of the same run.
	LastProgress time.Time
	// Created and Destroyed count others' handles that appeared and disappeared in the last
	// Window.
	Created, Destroyed int
	Window             time.Duration
	// Lists and ListErrors count the list calls this stage made and those that failed.
	Lists, ListErrors int
	// Stalled is true once no progress was seen for the stall timeout.
	Stalled bool
	// Ended is true when the stage has ended and the run has moved on.
	Ended bool
}

// Progressing reports whether the worker showed progress within the last stall timeout.
func (b Busy) Progressing(now time.Time, stall time.Duration) bool {
	return !b.Stalled && !b.LastProgress.IsZero() && now.Sub(b.LastProgress) < stall
}

// noun is what the watched list holds.
func (b Busy) noun() string {
	if b.Component == Baggageclaim {
		return "volumes"
	}
	return "containers"
}

// String says it for a person: "container.create waiting 9.2s; 14 containers created and 12
// destroyed by others in the last 10s".
func (b Busy) String() string {
	waiting := "waiting"
	if b.Ended {
		waiting = "waited"
	}
	s := fmt.Sprintf("%s %s %s; %d %s created and %d destroyed by others in the last %s",
		b.Stage, waiting, b.Waiting.Round(100*time.Millisecond), b.Created, b.noun(), b.Destroyed, b.Window.Round(time.Second))
	if b.ListErrors > 0 {
		s += fmt.Sprintf(" (%d of %d list calls failed)", b.ListErrors, b.Lists)
	}
	return s
}

// StallError is why a stage was stopped: the worker showed no progress for the stall timeout
// while the stage waited.
type StallError struct {
	Busy     Busy
	Stall    time.Duration
	Evidence Evidence
}

// Error implements error.
func (e *StallError) Error() string {
	done := "created or destroyed"
	switch e.Evidence {
	case EvidenceCreates:
		done = "created"
	case EvidenceDestroys:
		done = "destroyed"
	}
	s := fmt.Sprintf("stalled: no %s %s by anyone else in %s while %s waited %s",
		e.Busy.noun(), done, e.Stall, e.Busy.Stage, e.Busy.Waiting.Round(100*time.Millisecond))
	if e.Busy.ListErrors > 0 {
		s += fmt.Sprintf(" (%d of %d list calls failed)", e.Busy.ListErrors, e.Busy.Lists)
	}
	return s
}

// errStalled is matched by a *StallError.
var errStalled = errors.New("stalled")

// Is makes errors.Is(err, errStalled) hold.
func (e *StallError) Is(target error) bool { return target == errStalled }

// lister lists the handles of one kind on the worker, everyone's.
type lister func(ctx context.Context) ([]string, error)

// watchEvent is one list's change from the one before.
type watchEvent struct {
	at                 time.Time
	created, destroyed int
}

// maxWatchEvents bounds the events a run keeps of one list, whatever the stall timeout.
const maxWatchEvents = 600

// seen is what a run has seen of one component's list, kept across its stages, so that a stage
// that follows a busy one reads the same evidence at once and lists no more than once a second.
type seen struct {
	prev          map[string]bool // others' handles at the last list; nil before one
	firstList     time.Time
	lastList      time.Time
	lastCreated   time.Time // when a list last showed others' handles appearing
	lastDestroyed time.Time // and disappearing
	events        []watchEvent
}

// lastProgress is when the kind of work ev counts was last seen.
func (s *seen) lastProgress(ev Evidence) time.Time {
	switch ev {
	case EvidenceCreates:
		return s.lastCreated
	case EvidenceDestroys:
		return s.lastDestroyed
	}
	if s.lastCreated.After(s.lastDestroyed) {
		return s.lastCreated
	}
	return s.lastDestroyed
}

// record compares handles (everyone's) with the last list and keeps what changed; a list that
// is not fresh (too long after the last one: an earlier stage's, minutes ago) is only a new
// baseline, since what changed meanwhile did not happen now.
func (s *seen) record(handles []string, now time.Time, stall time.Duration, fresh bool) {
	cur := make(map[string]bool, len(handles))
	for _, h := range handles {
		if !marker.IsProbeHandle(h) { // deepprobe's own, a janitor's reaping included, prove nothing
			cur[h] = true
		}
	}
	if s.prev != nil && fresh {
		e := watchEvent{at: now}
		for h := range cur {
			if !s.prev[h] {
				e.created++
			}
		}
		for h := range s.prev {
			if !cur[h] {
				e.destroyed++
			}
		}
		if e.created > 0 {
			s.lastCreated = now
		}
		if e.destroyed > 0 {
			s.lastDestroyed = now
		}
		if e.created+e.destroyed > 0 {
			s.events = append(s.events, e)
		}
	}
	s.prev = cur
	for len(s.events) > 0 && (len(s.events) > maxWatchEvents || now.Sub(s.events[0].at) > stall) {
		s.events = s.events[1:]
	}
}

// watch follows one slow stage: at most once a second it lists the stage's component and counts
// the handles of others (anything without deepprobe's prefix) that appeared or disappeared. It
// runs on the real clock, as contexts do.
type watch struct {
	list     lister
	stall    time.Duration
	evidence Evidence
	// stalls is false when the stall timeout is the hard timeout: the hard limit rules alone.
	stalls bool

	mu    sync.Mutex
	seen  *seen // the run's, for this component
	busy  Busy
	start time.Time // the stage's start
}

// listTimeout bounds one list call: long enough for a worker with thousands of volumes, short
// enough that a stall is still seen in time.
func (w *watch) listTimeout() time.Duration {
	return min(max(w.stall/4, WatchInterval), 5*time.Second)
}

// snapshot returns the watch's state now.
func (w *watch) snapshot() Busy {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.busy
	now := time.Now()
	b.Waiting = now.Sub(w.start)
	b.LastProgress = w.seen.lastProgress(w.evidence)
	b.Window = min(w.stall, now.Sub(w.seen.firstList))
	b.Created, b.Destroyed = 0, 0
	for _, e := range w.seen.events {
		if now.Sub(e.at) <= b.Window {
			b.Created += e.created
			b.Destroyed += e.destroyed
		}
	}
	return b
}

// observe lists once and records what changed; it reports whether the stage is now stalled: no
// progress of its kind for the stall timeout since the stage began or the last progress,
// whichever is later, with at least two lists made, so that a change could have been seen.
func (w *watch) observe(ctx context.Context) bool {
	w.mu.Lock()
	fresh := time.Since(w.seen.lastList) <= WatchInterval+w.listTimeout()
	w.mu.Unlock()
	lctx, cancel := context.WithTimeout(ctx, w.listTimeout())
	handles, err := w.list(lctx)
	cancel()
	now := time.Now()

	w.mu.Lock()
	defer w.mu.Unlock()
	w.busy.Lists++
	if w.seen.firstList.IsZero() {
		w.seen.firstList = now
	}
	w.seen.lastList = now
	if err != nil {
		w.busy.ListErrors++
	} else {
		w.seen.record(handles, now, w.stall, fresh)
	}
	ref := w.start
	if last := w.seen.lastProgress(w.evidence); last.After(ref) {
		ref = last
	}
	w.busy.Stalled = w.stalls && w.busy.Lists >= 2 && now.Sub(ref) >= w.stall
	return w.busy.Stalled
}

// run waits until the stage's expected time, then watches until ctx ends (the stage has
// returned, or ended), publishing what it sees, and cancels the stage with a *StallError when
// the worker stalls. It lists no sooner than WatchInterval after the run's last list of this
// component.
func (w *watch) run(ctx context.Context, expected time.Time, publish func(Busy), stop context.CancelCauseFunc) {
	timer := time.NewTimer(time.Until(expected))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return
	case <-timer.C:
	}
	w.mu.Lock()
	w.busy.WatchingSince = time.Now()
	w.mu.Unlock()
	for {
		w.mu.Lock()
		next := w.seen.lastList.Add(WatchInterval)
		w.mu.Unlock()
		if wait := time.Until(next); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		stalled := w.observe(ctx)
		if ctx.Err() != nil {
			return
		}
		b := w.snapshot()
		if b.Lists >= 2 || b.Progressing(time.Now(), w.stall) || stalled {
			publish(b) // not before: a first list cannot show progress, and would hide an earlier stage's
		}
		if stalled {
			stop(&StallError{Busy: b, Stall: w.stall, Evidence: w.evidence})
			return
		}
	}
}
