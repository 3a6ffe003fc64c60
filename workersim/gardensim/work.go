package gardensim

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/deepprobe/deepprobe/workersim/faults"
)

// Timings is how long the runtime works on one container create and one destroy, once its
// turn in the queue has come (runtimes.Profile.SerialCreates, DestroysInCreateQueue). Zero by
// default; with Config.RealLatency, the recorded median (containerd: 140 ms and 180 ms).
type Timings struct {
	Create  faults.Duration `json:"create"`
	Destroy faults.Duration `json:"destroy"`
}

// maxTiming bounds Timings: Concourse gives up on a create after 5 minutes.
const maxTiming = 5 * time.Minute

func (t Timings) validate() error {
	for _, d := range []struct {
		name string
		d    faults.Duration
	}{{"create", t.Create}, {"destroy", t.Destroy}} {
		if d.d < 0 || time.Duration(d.d) > maxTiming {
			return errors.New(d.name + " must be between 0 and " + maxTiming.String())
		}
	}
	return nil
}

// SetTimings sets the time each create and destroy takes from now on.
func (s *Server) SetTimings(t Timings) error {
	if err := t.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timings = t
	return nil
}

// Timings returns the time each create and destroy takes.
func (s *Server) Timings() Timings {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.timings
}

// errClosed ends the work of a simulator that is closing.
var errClosed = errors.New("gardensim: closing")

// work does one create's or destroy's work as the runtime does: it waits for its turn in q
// (nil: no queue), takes its time, waits while the runtime is wedged, then commits while it
// still holds its turn, so that work in one queue completes in the order it arrived. It gives
// up, committing nothing, when ctx ends or the simulator closes.
func (s *Server) work(ctx context.Context, q *fifo, inProgress *atomic.Int64, took func(Timings) time.Duration, commit func()) error {
	inProgress.Add(1)
	defer inProgress.Add(-1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()
	err := s.workIn(ctx, q, took, commit)
	if err != nil && s.ctx.Err() != nil {
		return errClosed
	}
	return err
}

func (s *Server) workIn(ctx context.Context, q *fifo, took func(Timings) time.Duration, commit func()) error {
	if q != nil {
		if err := q.acquire(ctx); err != nil {
			return err
		}
		defer q.release()
	}
	if d := took(s.Timings()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	for {
		s.mu.Lock()
		wedged, changed := s.behaviour.Wedge, s.changed
		s.mu.Unlock()
		if !wedged {
			break
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	commit()
	return nil
}
