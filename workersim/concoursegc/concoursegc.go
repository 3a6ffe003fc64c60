package concoursegc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/workersim/faults"
)

// Schedule is when the sweeper sweeps. The zero Schedule never sweeps.
type Schedule struct {
	// Interval is the time between sweeps (Concourse's --sweep-interval, 30 s by default);
	// 0 stops sweeping.
	Interval faults.Duration `json:"interval"`
	// Delay is the time between a sweep's lists and its destroys.
	Delay faults.Duration `json:"delay"`
}

func (s Schedule) validate() error {
	switch {
	case s.Interval < 0 || time.Duration(s.Interval) > time.Hour:
		return fmt.Errorf("interval must be between 0 and 1h, got %s", time.Duration(s.Interval))
	case s.Interval > 0 && time.Duration(s.Interval) < time.Millisecond:
		return fmt.Errorf("interval must be 0 (off) or at least 1ms, got %s", time.Duration(s.Interval))
	case s.Delay < 0 || time.Duration(s.Delay) > time.Minute:
		return fmt.Errorf("delay must be between 0 and 1m, got %s", time.Duration(s.Delay))
	}
	return nil
}

// Config configures a Sweeper.
type Config struct {
	// GardenURL and BaggageclaimURL are the worker's two APIs.
	GardenURL, BaggageclaimURL string
	// Schedule is the first schedule; SetSchedule changes it at run time.
	Schedule Schedule
	// KnownContainers and KnownVolumes report whether the web node knows a container or
	// volume handle (a build's, for example gardensim.Server.LoadHandle for containers); nil
	// knows none. They must be safe for concurrent use.
	KnownContainers, KnownVolumes func(handle string) bool
	// Logger receives a line per sweep that destroyed something; nil discards.
	Logger *slog.Logger
}

// Stats counts what the sweeper has done since it started.
type Stats struct {
	Schedule
	// Sweeps counts the sweeps that listed both APIs.
	Sweeps int64 `json:"sweeps"`
	// ContainersDestroyed and VolumesDestroyed count the handles it destroyed (or found
	// already gone).
	ContainersDestroyed int64 `json:"containers_destroyed"`
	VolumesDestroyed    int64 `json:"volumes_destroyed"`
	// Errors counts failed lists and destroys.
	Errors int64 `json:"errors"`
}

// Sweeper is a running Concourse garbage collector.
type Sweeper struct {
	garden                        *garden.Client
	baggageclaim                  *baggageclaim.Client
	transport                     *http.Transport
	knownContainers, knownVolumes func(string) bool
	logger                        *slog.Logger
	cancel                        context.CancelFunc
	done                          chan struct{}

	mu       sync.Mutex
	schedule Schedule
	changed  chan struct{} // closed and replaced when the schedule changes
	stats    Stats
	sweepMu  sync.Mutex // one sweep at a time
}

// Start validates cfg and starts sweeping on its schedule until Close.
func Start(cfg Config) (*Sweeper, error) {
	if err := cfg.Schedule.validate(); err != nil {
		return nil, fmt.Errorf("concoursegc: %w", err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	hc := &http.Client{Transport: tr, Timeout: time.Minute}
	g, err := garden.NewClient(cfg.GardenURL, hc)
	if err != nil {
		return nil, fmt.Errorf("concoursegc: garden: %w", err)
	}
	b, err := baggageclaim.NewClient(cfg.BaggageclaimURL, hc)
	if err != nil {
		return nil, fmt.Errorf("concoursegc: baggageclaim: %w", err)
	}
	none := func(string) bool { return false }
	knownContainers, knownVolumes := cfg.KnownContainers, cfg.KnownVolumes
	if knownContainers == nil {
		knownContainers = none
	}
	if knownVolumes == nil {
		knownVolumes = none
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sweeper{garden: g, baggageclaim: b, transport: tr, knownContainers: knownContainers, knownVolumes: knownVolumes, logger: logger, cancel: cancel,
		done: make(chan struct{}), schedule: cfg.Schedule, changed: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.run(ctx)
	}()
	return s, nil
}

// Close stops sweeping, waits for a sweep in progress to end (its calls are cancelled) and
// closes the sweeper's connections.
func (s *Sweeper) Close() {
	s.cancel()
	<-s.done
	s.transport.CloseIdleConnections()
}

// SetSchedule changes the schedule; the next sweep is one new Interval from now.
func (s *Sweeper) SetSchedule(sc Schedule) error {
	if err := sc.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.schedule = sc
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

// Stats returns the counters and the schedule.
func (s *Sweeper) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Schedule = s.schedule
	return st
}

func (s *Sweeper) run(ctx context.Context) {
	for {
		s.mu.Lock()
		interval, changed := time.Duration(s.schedule.Interval), s.changed
		s.mu.Unlock()
		var tick <-chan time.Time // nil, never ready, with no interval
		t := time.NewTimer(interval)
		if interval > 0 {
			tick = t.C
		}
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-changed:
			t.Stop()
		case <-tick:
			_ = s.Sweep(ctx)
		}
	}
}

func (s *Sweeper) count(f func(*Stats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.stats)
}

// Sweep sweeps once, now: it lists every container and volume, waits the schedule's Delay,
// and destroys each listed handle that is not known, containers and volumes side by side. It
// returns the lists' and destroys' errors, joined; a handle already gone is not an error.
func (s *Sweeper) Sweep(ctx context.Context) error {
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	containers, err := s.garden.List(ctx, nil)
	if err != nil {
		s.count(func(st *Stats) { st.Errors++ })
		return fmt.Errorf("concoursegc: list containers: %w", err)
	}
	vols, err := s.baggageclaim.List(ctx, nil)
	if err != nil {
		s.count(func(st *Stats) { st.Errors++ })
		return fmt.Errorf("concoursegc: list volumes: %w", err)
	}
	s.count(func(st *Stats) { st.Sweeps++ })
	volumes := make([]string, len(vols))
	for i, v := range vols {
		volumes[i] = v.Handle
	}
	containers, volumes = unknown(containers, s.knownContainers), unknown(volumes, s.knownVolumes)
	if len(containers)+len(volumes) == 0 {
		return nil
	}
	delay := time.Duration(s.Stats().Delay)
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		errs[0] = s.destroy(ctx, containers, s.garden.Destroy, garden.ErrGone, func(st *Stats) { st.ContainersDestroyed++ })
	}()
	go func() {
		defer wg.Done()
		errs[1] = s.destroy(ctx, volumes, s.baggageclaim.Destroy, baggageclaim.ErrGone, func(st *Stats) { st.VolumesDestroyed++ })
	}()
	wg.Wait()
	s.logger.Info("swept unknown handles", "containers", len(containers), "volumes", len(volumes))
	return errors.Join(errs...)
}

// unknown returns the handles that the web node does not know.
func unknown(handles []string, known func(string) bool) []string {
	out := handles[:0:0]
	for _, h := range handles {
		if !known(h) {
			out = append(out, h)
		}
	}
	return out
}

func (s *Sweeper) destroy(ctx context.Context, handles []string, destroy func(context.Context, string) error, gone error, done func(*Stats)) error {
	var errs []error
	for _, h := range handles {
		if err := destroy(ctx, h); err != nil && !errors.Is(err, gone) {
			s.count(func(st *Stats) { st.Errors++ })
			errs = append(errs, err)
			continue
		}
		s.count(done)
	}
	return errors.Join(errs...)
}

// AdminHandler serves GET /gc (Stats) and PUT /gc (a Schedule as JSON).
func (s *Sweeper) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /gc", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("PUT /gc", func(w http.ResponseWriter, r *http.Request) {
		var sc Schedule
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		err := dec.Decode(&sc)
		if err == nil {
			err = s.SetSchedule(sc)
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "gc: " + err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
