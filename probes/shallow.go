package probes

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/probes/marker"
)

// Pinger is the part of a Garden client the shallow check uses.
type Pinger interface {
	Ping(ctx context.Context) error
}

// VolumeLister is the part of a Baggageclaim client the shallow check uses.
type VolumeLister interface {
	List(ctx context.Context, properties map[string]string) ([]baggageclaim.Volume, error)
}

var (
	_ Pinger       = (*garden.Client)(nil)
	_ VolumeLister = (*baggageclaim.Client)(nil)
)

// Shallow check names.
const (
	CheckGardenPing       = "garden.ping"
	CheckBaggageclaimList = "baggageclaim.list"
)

// Defaults of ShallowConfig.
const (
	DefaultShallowTimeout = 2 * time.Second
	DefaultShallowReuse   = time.Second
)

// Settings of ShallowConfig, named as deepprobe serve's flags (see SettingError).
const (
	SettingShallowTimeout = "shallow-timeout"
	SettingShallowReuse   = "shallow-reuse"
)

// ShallowConfig configures a Shallow check. Zero values mean the defaults.
type ShallowConfig struct {
	// Garden and Baggageclaim are required.
	Garden       Pinger
	Baggageclaim VolumeLister
	// Timeout bounds one upstream round (default 2s).
	Timeout time.Duration
	// Reuse is how long a round's results answer later callers (default 1s).
	Reuse time.Duration
	// Now replaces the clock in tests.
	Now func() time.Time
}

// Shallow is the cheap check: Garden's /ping and a filtered Baggageclaim volume list, run
// concurrently, each judged by its status code (a 500 is a failure, unlike Concourse's own
// check). It creates nothing. Like the deep probe, any number of callers share one upstream
// round: they join the round in flight, and its results answer callers for Reuse after it.
type Shallow struct {
	cfg  ShallowConfig
	crew crew // the round in flight

	mu       sync.Mutex
	inflight *flight[[]StageResult]
	last     []StageResult // the latest round's results, ended at lastAt
	lastAt   time.Time
}

// Resolve fills the defaults of Timeout and Reuse (0 means the default) and refuses negative
// ones, naming the setting.
func (c ShallowConfig) Resolve() (ShallowConfig, error) {
	switch {
	case c.Timeout < 0:
		return c, settingErr(SettingShallowTimeout, "must not be negative, got %s", c.Timeout)
	case c.Reuse < 0:
		return c, settingErr(SettingShallowReuse, "must not be negative, got %s", c.Reuse)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultShallowTimeout
	}
	if c.Reuse == 0 {
		c.Reuse = DefaultShallowReuse
	}
	return c, nil
}

// NewShallow returns a Shallow check.
func NewShallow(cfg ShallowConfig) (*Shallow, error) {
	if cfg.Garden == nil || cfg.Baggageclaim == nil {
		return nil, errors.New("probes: the shallow check needs a Garden and a Baggageclaim client")
	}
	cfg, err := cfg.Resolve()
	if err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Shallow{cfg: cfg}, nil
}

// Check returns the results of the current round, Garden first, starting one unless a recent
// one can answer. When ctx ends first, both checks fail as timed out; the round goes on for
// the callers that wait.
func (s *Shallow) Check(ctx context.Context) []StageResult {
	s.mu.Lock()
	if s.last != nil && s.cfg.Now().Sub(s.lastAt) < s.cfg.Reuse {
		defer s.mu.Unlock()
		return s.last
	}
	f := s.inflight
	if f == nil {
		f = newFlight[[]StageResult]()
		s.inflight = f
		s.crew.launch(ctx, func(ctx context.Context) { s.round(ctx, f) })
	}
	s.mu.Unlock()
	if results, ok := f.wait(ctx); ok {
		return results
	}
	err := ctx.Err()
	return []StageResult{
		{Name: CheckGardenPing, Component: Garden, Status: StatusFail, Err: err, Reason: Classify(err)},
		{Name: CheckBaggageclaimList, Component: Baggageclaim, Status: StatusFail, Err: err, Reason: Classify(err)},
	}
}

// Wait returns once no round is in flight; a round ends within Timeout. The owner calls it
// when it stops, so that no round outlives it.
func (s *Shallow) Wait() { s.crew.wait() }

// round runs both calls under Timeout. It ends within Timeout: nothing outlives it.
func (s *Shallow) round(ctx context.Context, f *flight[[]StageResult]) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	out := make([]StageResult, 2)
	var wg sync.WaitGroup
	run := func(i int, name string, c Component, f func() error) {
		defer wg.Done()
		start := time.Now()
		err := f()
		out[i] = StageResult{Name: name, Component: c, Status: StatusPass, Duration: time.Since(start), Err: err}
		if err != nil {
			out[i].Status, out[i].Reason = StatusFail, Classify(err)
		}
	}
	wg.Add(2)
	go run(0, CheckGardenPing, Garden, func() error { return s.cfg.Garden.Ping(ctx) })
	go run(1, CheckBaggageclaimList, Baggageclaim, func() error {
		_, err := s.cfg.Baggageclaim.List(ctx, marker.Filter())
		return err
	})
	wg.Wait()
	s.mu.Lock()
	s.inflight, s.last, s.lastAt = nil, out, s.cfg.Now()
	s.mu.Unlock()
	f.land(out)
}
