package gardensim

import (
	"context"
	"runtime"
	"testing"
)

// TestFIFOOrder: the lock is granted in the order it was asked for, and a waiter that gives up
// leaves the line without taking a turn.
func TestFIFOOrder(t *testing.T) {
	var f fifo
	if err := f.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	const n = 5
	granted := make(chan int, n)
	done := make(chan struct{})
	quitter, quit := context.WithCancel(context.Background())
	for i := range n {
		ctx := context.Background()
		if i == 2 {
			ctx = quitter
		}
		go func() {
			if f.acquire(ctx) != nil {
				done <- struct{}{}
				return
			}
			granted <- i
			f.release()
		}()
		for f.waiting() != i+1 { // line up one at a time, so the order is known
			runtime.Gosched()
		}
	}
	quit()
	<-done
	f.release()
	for _, want := range []int{0, 1, 3, 4} {
		if got := <-granted; got != want {
			t.Fatalf("granted %d, want %d", got, want)
		}
	}
	if err := f.acquire(context.Background()); err != nil || f.waiting() != 0 {
		t.Fatalf("the lock was not free at the end: %v, %d waiting", err, f.waiting())
	}
}
