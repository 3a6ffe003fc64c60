package probes

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/deepprobe/deepprobe/probes/marker"
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
	// LastProgress is when a list last showed a change made by others (zero: none yet).
	LastProgress time.Time
	// Created and Destroyed count others' handles that appeared and disappeared in the last
	// Window.
	Created, Destroyed int
	Window             time.Duration
	// Lists and ListErrors count the list calls made and those that failed.
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
	Busy  Busy
	Stall time.Duration
}

// Error implements error.
func (e *StallError) Error() string {
	return fmt.Sprintf("stalled: no %s created or destroyed by anyone else in %s while %s waited %s",
		e.Busy.noun(), e.Stall, e.Busy.Stage, e.Busy.Waiting.Round(100*time.Millisecond))
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

// maxWatchEvents bounds the events a watch keeps, whatever the stall timeout.
const maxWatchEvents = 600

// watch follows one slow stage: every WatchInterval it lists the stage's component and counts
// the handles of others (anything without deepprobe's prefix) that appeared or disappeared. It
// runs on the real clock, as contexts do.
type watch struct {
	list  lister
	stall time.Duration

	mu     sync.Mutex
	busy   Busy
	start  time.Time // the stage's start
	prev   map[string]bool
	events []watchEvent
}

// snapshot returns the watch's state now.
func (w *watch) snapshot() Busy {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.busy
	now := time.Now()
	b.Waiting = now.Sub(w.start)
	b.Window = min(w.stall, now.Sub(b.WatchingSince))
	b.Created, b.Destroyed = 0, 0
	for _, e := range w.events {
		if now.Sub(e.at) <= b.Window {
			b.Created += e.created
			b.Destroyed += e.destroyed
		}
	}
	return b
}

// observe lists once and records what changed; it reports whether the stage is now stalled:
// no progress for the stall timeout since the stage began (or since the last progress), with
// at least two lists made, so that a change could have been seen.
func (w *watch) observe(ctx context.Context) bool {
	lctx, cancel := context.WithTimeout(ctx, WatchInterval)
	handles, err := w.list(lctx)
	cancel()
	now := time.Now()

	w.mu.Lock()
	defer w.mu.Unlock()
	w.busy.Lists++
	if err != nil {
		w.busy.ListErrors++
	} else {
		cur := make(map[string]bool, len(handles))
		for _, h := range handles {
			if !marker.IsProbeHandle(h) {
				cur[h] = true
			}
		}
		if w.prev != nil {
			var e watchEvent
			for h := range cur {
				if !w.prev[h] {
					e.created++
				}
			}
			for h := range w.prev {
				if !cur[h] {
					e.destroyed++
				}
			}
			if e.created+e.destroyed > 0 {
				e.at = now
				w.busy.LastProgress = now
				w.events = append(w.events, e)
			}
		}
		w.prev = cur
	}
	for len(w.events) > 0 && (len(w.events) > maxWatchEvents || now.Sub(w.events[0].at) > w.stall) {
		w.events = w.events[1:]
	}
	ref := w.start
	if !w.busy.LastProgress.IsZero() {
		ref = w.busy.LastProgress
	}
	w.busy.Stalled = w.busy.Lists >= 2 && now.Sub(ref) >= w.stall
	return w.busy.Stalled
}

// run waits until the stage's expected time, then watches until done is closed or ctx ends,
// publishing what it sees, and cancels the stage with a *StallError when the worker stalls.
func (w *watch) run(ctx context.Context, expected time.Time, done <-chan struct{}, publish func(Busy), stop context.CancelCauseFunc) {
	timer := time.NewTimer(time.Until(expected))
	defer timer.Stop()
	select {
	case <-done:
		return
	case <-ctx.Done():
		return
	case <-timer.C:
	}
	w.mu.Lock()
	w.busy.WatchingSince = time.Now()
	w.mu.Unlock()
	tick := time.NewTicker(WatchInterval)
	defer tick.Stop()
	for {
		stalled := w.observe(ctx)
		b := w.snapshot()
		publish(b)
		if stalled {
			stop(&StallError{Busy: b, Stall: w.stall})
			return
		}
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
