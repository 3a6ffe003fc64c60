package gardensim

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/deepprobe/deepprobe/workersim/faults"
)

// Load is work the simulator does by itself, standing for the builds of a busy Concourse
// worker: InFlight loops, each creating a container, holding it for Hold, destroying it, and
// again, through the same create and destroy queues as every caller. Its containers have UUID
// handles and a build's properties ({"user":"root"}). The zero Load is none.
type Load struct {
	InFlight int             `json:"in_flight"`
	Hold     faults.Duration `json:"hold"`
}

// maxInFlight bounds Load.InFlight (a 250-container worker is full long before).
const maxInFlight = 10000

func (l Load) validate() error {
	switch {
	case l.InFlight < 0 || l.InFlight > maxInFlight:
		return fmt.Errorf("in_flight must be between 0 and %d, got %d", maxInFlight, l.InFlight)
	case l.Hold < 0 || time.Duration(l.Hold) > time.Hour:
		return fmt.Errorf("hold must be between 0 and 1h, got %s", time.Duration(l.Hold))
	}
	return nil
}

// Latency summarises create latencies: from the create's call to its answer, queue included.
type Latency struct {
	Median faults.Duration `json:"median"`
	P90    faults.Duration `json:"p90"`
	Max    faults.Duration `json:"max"`
}

// LoadStats is what the load has done since it was last set, and the queues now.
type LoadStats struct {
	Load
	// Creates and Destroys count the load's completed creates and destroys; Failures its
	// creates and destroys that the simulator refused (a full worker, a stuck destroy).
	Creates  int64 `json:"creates"`
	Destroys int64 `json:"destroys"`
	Failures int64 `json:"failures"`
	// CreateLatency is over the load's last 10,000 creates.
	CreateLatency Latency `json:"create_latency"`
	// CreatesInProgress and DestroysInProgress are how many creates and destroys (anyone's)
	// are in progress now: waiting for their turn, working, or held by a wedge.
	CreatesInProgress  int64 `json:"creates_in_progress"`
	DestroysInProgress int64 `json:"destroys_in_progress"`
}

// maxSamples bounds the create latencies kept.
const maxSamples = 10000

// loadRun is one Load being run.
type loadRun struct {
	load   Load
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu                          sync.Mutex
	creates, destroys, failures int64
	samples                     []time.Duration // ring of the last maxSamples create latencies
	next                        int
	handles                     map[string]bool // the load's containers, from before create to after destroy
}

// stop ends the run's loops, waits for them and removes the containers they held.
func (r *loadRun) stop(s *Server) {
	r.cancel()
	r.wg.Wait()
	for h := range r.handles {
		s.remove(h)
	}
}

func (r *loadRun) record(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.creates++
	if len(r.samples) < maxSamples {
		r.samples = append(r.samples, d)
		return
	}
	r.samples[r.next] = d
	r.next = (r.next + 1) % maxSamples
}

func (r *loadRun) count(n *int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*n++
}

func (r *loadRun) track(handle string, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if on {
		r.handles[handle] = true
	} else {
		delete(r.handles, handle)
	}
}

// SetLoad replaces the load: the loops of the earlier one stop (their containers are removed
// at once) and Load's start. Load{} stops it. Close stops it too.
func (s *Server) SetLoad(l Load) error {
	if err := l.validate(); err != nil {
		return err
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if s.ctx.Err() != nil {
		return errClosed
	}
	if s.load != nil {
		s.load.stop(s)
		s.load = nil
	}
	if l.InFlight == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(s.ctx)
	run := &loadRun{load: l, cancel: cancel, handles: map[string]bool{}}
	run.wg.Add(l.InFlight)
	for range l.InFlight {
		go func() {
			defer run.wg.Done()
			s.loadLoop(ctx, run)
		}()
	}
	s.load = run
	return nil
}

// LoadStats returns what the current load has done; all zero but the queues without one.
func (s *Server) LoadStats() LoadStats {
	var st LoadStats
	st.CreatesInProgress, st.DestroysInProgress = s.creating.Load(), s.destroying.Load()
	s.loadMu.Lock()
	run := s.load
	s.loadMu.Unlock()
	if run == nil {
		return st
	}
	run.mu.Lock()
	st.Load = run.load
	st.Creates, st.Destroys, st.Failures = run.creates, run.destroys, run.failures
	samples := slices.Clone(run.samples)
	run.mu.Unlock()
	if len(samples) > 0 {
		slices.Sort(samples)
		at := func(q float64) faults.Duration { return faults.Duration(samples[int(q*float64(len(samples)-1))]) }
		st.CreateLatency = Latency{Median: at(0.5), P90: at(0.9), Max: at(1)}
	}
	return st
}

// LoadHandle reports whether handle is one of the load's containers (being created, held or
// being destroyed), as a Concourse web node knows its builds' containers.
func (s *Server) LoadHandle(handle string) bool {
	s.loadMu.Lock()
	run := s.load
	s.loadMu.Unlock()
	if run == nil {
		return false
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	return run.handles[handle]
}

// loadBackOff is the least time a load loop waits after a refused create or destroy.
const loadBackOff = 10 * time.Millisecond

// loadLoop creates, holds and destroys containers until ctx ends.
func (s *Server) loadLoop(ctx context.Context, run *loadRun) {
	hold := time.Duration(run.load.Hold)
	for ctx.Err() == nil {
		handle := uuid.NewString()
		run.track(handle, true) // known before its create, as a web node's are
		start := time.Now()
		if _, err := s.createContainer(ctx, spec{Handle: handle, Properties: map[string]string{"user": "root"}}); err != nil {
			run.track(handle, false)
			if ctx.Err() == nil {
				run.count(&run.failures)
				sleep(ctx, max(hold, loadBackOff))
			}
			continue
		}
		run.record(time.Since(start))
		if !sleep(ctx, hold) {
			return
		}
		if err := s.destroyContainer(ctx, handle); err != nil {
			// A refused destroy leaves the container (still known) to the load's end.
			if ctx.Err() == nil {
				run.count(&run.failures)
				sleep(ctx, max(hold, loadBackOff))
			}
			continue
		}
		run.count(&run.destroys)
		run.track(handle, false)
	}
}

// remove takes a container away at once, outside any queue.
func (s *Server) remove(handle string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.containers[handle]; ok {
		if c.reaper != nil {
			c.reaper.Stop()
		}
		delete(s.containers, handle)
	}
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
