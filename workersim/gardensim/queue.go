package gardensim

import (
	"context"
	"slices"
	"sync"
)

// fifo is a lock that is granted in the order it was asked for, as the weighted semaphore
// behind Concourse's containerd create lock is (sync.Mutex promises no order). A waiter that
// gives up leaves the line; the holder hands the lock straight to the next waiter.
type fifo struct {
	mu      sync.Mutex
	held    bool
	waiters []chan struct{}
}

// acquire waits for the lock until ctx ends.
func (f *fifo) acquire(ctx context.Context) error {
	f.mu.Lock()
	if !f.held && len(f.waiters) == 0 {
		f.held = true
		f.mu.Unlock()
		return nil
	}
	ready := make(chan struct{})
	f.waiters = append(f.waiters, ready)
	f.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		f.mu.Lock()
		if i := slices.Index(f.waiters, ready); i >= 0 {
			f.waiters = slices.Delete(f.waiters, i, i+1)
			f.mu.Unlock()
			return ctx.Err()
		}
		f.mu.Unlock()
		// The lock was handed over as ctx ended: pass it on.
		f.release()
		return ctx.Err()
	}
}

// release hands the lock to the longest waiter, or frees it.
func (f *fifo) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.waiters) == 0 {
		f.held = false
		return
	}
	next := f.waiters[0]
	f.waiters = f.waiters[1:]
	close(next)
}

// waiting returns how many callers wait for the lock.
func (f *fifo) waiting() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}
