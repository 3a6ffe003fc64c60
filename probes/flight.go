package probes

import (
	"context"
	"sync"
)

// flight is one round of work that any number of callers share, the deep workload or a
// shallow round: they wait for its value, or for their own deadline, whichever comes first.
// The Prober and Shallow keep one in flight at a time, and their own rules for reusing the
// last one.
type flight[T any] struct {
	done  chan struct{}
	value T
}

func newFlight[T any]() *flight[T] { return &flight[T]{done: make(chan struct{})} }

// land gives the round's value to every caller, waiting or to come. It is called once.
func (f *flight[T]) land(v T) {
	f.value = v
	close(f.done)
}

// wait returns the round's value, or false when ctx ends first.
func (f *flight[T]) wait(ctx context.Context) (T, bool) {
	select {
	case <-f.done:
		return f.value, true
	case <-ctx.Done():
		var zero T
		return zero, false
	}
}

// crew runs the rounds' goroutines and lets their owner wait for them, so that no round
// outlives it.
type crew struct{ wg sync.WaitGroup }

// launch runs work in its own goroutine with ctx's values but not its cancellation (a caller
// that gives up must not cut short a round others share); the returned function cancels it.
func (c *crew) launch(ctx context.Context, work func(ctx context.Context)) context.CancelFunc {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer cancel()
		work(wctx)
	}()
	return cancel
}

// wait returns once every round launched has ended.
func (c *crew) wait() { c.wg.Wait() }
