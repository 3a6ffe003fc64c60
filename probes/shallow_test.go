package probes_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/probes"
	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/workersim/faults"
	"github.com/deepprobe/deepprobe/workersim/gardensim"
	"github.com/deepprobe/deepprobe/workersim/workertest"
)

// TestShallowSharesOneRound: 500 concurrent callers cause one upstream round, and its results
// answer callers for Reuse after it.
func TestShallowSharesOneRound(t *testing.T) {
	w := workertest.Start(t, gardensim.Config{})
	w.NeedSimulators(t)
	g, b := w.Clients(t)
	clock := workertest.NewClock(time.Unix(1000, 0))
	s, err := probes.NewShallow(probes.ShallowConfig{Garden: g, Baggageclaim: b, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	// Hold the first round long enough for every caller to join it.
	_ = w.Garden.Faults.Set(garden.RoutePing, faults.Fault{Latency: faults.Duration(100 * time.Millisecond), Times: 1})
	var wg sync.WaitGroup
	for range 500 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, r := range s.Check(context.Background()) {
				if r.Status != probes.StatusPass {
					t.Errorf("%s: %v", r.Name, r.Err)
				}
			}
		}()
	}
	wg.Wait()
	s.Check(context.Background())
	if n := w.Garden.Faults.Calls()[garden.RoutePing]; n > 2 {
		t.Errorf("%d pings for 501 callers, want the round shared", n)
	}
	before := w.Garden.Faults.Calls()[garden.RoutePing]
	clock.Advance(probes.DefaultShallowReuse)
	s.Check(context.Background())
	if n := w.Garden.Faults.Calls()[garden.RoutePing]; n != before+1 {
		t.Errorf("after Reuse: %d pings, want %d", n, before+1)
	}
}

// TestShallowCallerDeadline: a caller whose deadline comes first gets failures saying so.
func TestShallowCallerDeadline(t *testing.T) {
	w := workertest.Start(t, gardensim.Config{})
	w.NeedSimulators(t)
	g, b := w.Clients(t)
	s, _ := probes.NewShallow(probes.ShallowConfig{Garden: g, Baggageclaim: b, Timeout: 300 * time.Millisecond})
	_ = w.Garden.Faults.Set(garden.RoutePing, faults.Fault{Hang: true})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	rs := s.Check(ctx)
	if rs[0].Status != probes.StatusFail || rs[0].Reason != probes.ReasonTimeout {
		t.Fatalf("%+v", rs)
	}
	// The round ends by its own timeout; a later caller gets its result.
	rs = s.Check(context.Background())
	if rs[0].Status != probes.StatusFail || rs[0].Reason != probes.ReasonTimeout || rs[1].Status != probes.StatusPass {
		t.Fatalf("%+v", rs)
	}
}
