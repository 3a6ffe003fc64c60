package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/deepprobe/deepprobe/probes"
	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/probes/garden"
)

// Containers is the part of a Garden client the janitor uses.
type Containers interface {
	List(ctx context.Context, properties map[string]string) ([]string, error)
	Properties(ctx context.Context, handle string) (map[string]string, error)
	Destroy(ctx context.Context, handle string) error
}

// Volumes is the part of a Baggageclaim client the janitor uses.
type Volumes interface {
	List(ctx context.Context, properties map[string]string) ([]baggageclaim.Volume, error)
	Destroy(ctx context.Context, handle string) error
}

var (
	_ Containers = (*garden.Client)(nil)
	_ Volumes    = (*baggageclaim.Client)(nil)
)

// Defaults of Config.
const (
	DefaultInterval    = time.Minute
	DefaultConcurrency = 4
	DefaultCallTimeout = 5 * time.Second
)

// Config configures a Janitor. Zero values mean the defaults.
type Config struct {
	// Garden and Baggageclaim are required.
	Garden       Containers
	Baggageclaim Volumes
	// Interval is the time between sweeps in Run (default 1m).
	Interval time.Duration
	// OrphanAge is how old a leftover must be before it is reaped; required. deepprobe serve
	// uses grace time + probe timeout.
	OrphanAge time.Duration
	// InFlight reports handles of a workload under way, which are never reaped; nil means none.
	InFlight func(handle string) bool
	// Concurrency bounds the upstream calls of a sweep (default 4).
	Concurrency int
	// CallTimeout bounds each upstream call (default 5s).
	CallTimeout time.Duration
	// DryRun reports what would be reaped and destroys nothing.
	DryRun bool
	// Logger receives a line per sweep and per reaped, failed or suspicious resource.
	Logger *slog.Logger
	// Registerer receives the deepprobe_janitor_* metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Now replaces the clock in tests.
	Now func() time.Time
}

// Action is what a sweep did with one resource.
type Action string

// Actions.
const (
	ActionReaped    Action = "reaped"
	ActionWouldReap Action = "would-reap"
	ActionSkipped   Action = "skipped"
	ActionFailed    Action = "failed"
)

// Reasons a resource is skipped.
const (
	SkipForeignHandle = "foreign-handle" // listed by the marker filter, but not a health-check- handle
	SkipNotMarked     = "not-marked"     // its own properties lack the marker
	SkipInFlight      = "in-flight"      // a workload under way owns it
	SkipYoung         = "younger-than-orphan-age"
	SkipFirstSighting = "age-unknown" // no readable created-at in the past: waiting for a second sighting
	SkipGone          = "already-gone"
)

// Kinds of resource.
const (
	KindContainer = "container"
	KindVolume    = "volume"
)

// Item is one resource a sweep looked at.
type Item struct {
	Kind   string
	Handle string
	// Age is the resource's age, from its created-at property or from its first sighting;
	// negative when unknown.
	Age    time.Duration
	Action Action
	Reason string
	Err    error
}

// Report is what one sweep found and did.
type Report struct {
	Items []Item
	// Errors are the lists that failed; their kind was not swept.
	Errors []error
}

// Failed reports whether a list or a reap failed.
func (r Report) Failed() bool {
	if len(r.Errors) > 0 {
		return true
	}
	for _, it := range r.Items {
		if it.Action == ActionFailed {
			return true
		}
	}
	return false
}

// Count returns how many items of kind had action.
func (r Report) Count(kind string, action Action) int {
	n := 0
	for _, it := range r.Items {
		if it.Kind == kind && it.Action == action {
			n++
		}
	}
	return n
}

// Janitor sweeps health-check leftovers.
type Janitor struct {
	cfg     Config
	metrics *metrics

	mu        sync.Mutex // serialises sweeps and guards firstSeen
	firstSeen map[string]time.Time

	lastMu sync.Mutex // guards last, apart from mu so that reading it never waits for a sweep
	last   *Summary
}

// Summary is what one sweep did, in numbers, for the status page.
type Summary struct {
	At                             time.Time
	Took                           time.Duration
	Found, Reaped, Skipped, Failed int
	// Errors are the lists that failed.
	Errors []string
}

// LastSweep returns the summary of the last finished sweep.
func (j *Janitor) LastSweep() (Summary, bool) {
	j.lastMu.Lock()
	defer j.lastMu.Unlock()
	if j.last == nil {
		return Summary{}, false
	}
	return *j.last, true
}

// New returns a Janitor, or an error naming what is wrong with cfg.
func New(cfg Config) (*Janitor, error) {
	switch {
	case cfg.Garden == nil || cfg.Baggageclaim == nil:
		return nil, errors.New("gc: Garden and Baggageclaim clients are required")
	case cfg.OrphanAge <= 0:
		return nil, fmt.Errorf("gc: orphan age must be positive, got %s", cfg.OrphanAge)
	case cfg.Interval < 0 || cfg.Concurrency < 0 || cfg.CallTimeout < 0:
		return nil, errors.New("gc: interval, concurrency and call timeout must not be negative")
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.InFlight == nil {
		cfg.InFlight = func(string) bool { return false }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Janitor{cfg: cfg, metrics: m, firstSeen: map[string]time.Time{}}, nil
}

// Run sweeps at once and then every Interval until ctx ends; it returns nil then. A sweep in
// progress when ctx ends is cut short by ctx.
func (j *Janitor) Run(ctx context.Context) error {
	ticker := time.NewTicker(j.cfg.Interval)
	defer ticker.Stop()
	for {
		j.Sweep(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// resource is one listed container or volume.
type resource struct {
	handle string
	// props is nil when the list did not say (Garden); it is then fetched.
	props map[string]string
}

// kind is how one sweep function lists, inspects and destroys one kind of resource.
type kind struct {
	name     string
	list     func(ctx context.Context) ([]resource, error)
	props    func(ctx context.Context, handle string) (map[string]string, error)
	destroy  func(ctx context.Context, handle string) error
	notFound error // the answers after which there is nothing to destroy (ErrGone)
}

func (j *Janitor) kinds() []kind {
	g, b := j.cfg.Garden, j.cfg.Baggageclaim
	return []kind{
		{
			name: KindContainer,
			list: func(ctx context.Context) ([]resource, error) {
				handles, err := g.List(ctx, probes.Marker())
				rs := make([]resource, len(handles))
				for i, h := range handles {
					rs[i] = resource{handle: h}
				}
				return rs, err
			},
			props:    g.Properties,
			destroy:  g.Destroy,
			notFound: garden.ErrGone,
		},
		{
			name: KindVolume,
			list: func(ctx context.Context) ([]resource, error) {
				vs, err := b.List(ctx, probes.Marker())
				if err != nil {
					return nil, err
				}
				// Volumes have no TTL: also those an earlier deepprobe marked with the legacy
				// names (Baggageclaim filters on any name).
				legacy, err := b.List(ctx, map[string]string{probes.LegacyMarkerProperty: probes.MarkerValue})
				if len(legacy) > 0 {
					seen := make(map[string]bool, len(vs))
					for _, v := range vs {
						seen[v.Handle] = true
					}
					for _, v := range legacy {
						if !seen[v.Handle] {
							vs = append(vs, v)
						}
					}
				}
				rs := make([]resource, len(vs))
				for i, v := range vs {
					props := v.Properties
					if props == nil {
						props = map[string]string{}
					}
					rs[i] = resource{handle: v.Handle, props: props}
				}
				return rs, err
			},
			destroy:  b.Destroy,
			notFound: baggageclaim.ErrGone,
		},
	}
}

// Sweep looks at every marked resource, containers first (a container holds its volume), and
// reaps the orphans.
func (j *Janitor) Sweep(ctx context.Context) Report {
	j.mu.Lock()
	defer j.mu.Unlock()
	start := j.cfg.Now()
	var report Report
	seen := map[string]bool{}
	for _, k := range j.kinds() {
		items, err := j.sweepKind(ctx, k, seen)
		if err != nil {
			report.Errors = append(report.Errors, err)
		}
		report.Items = append(report.Items, items...)
	}
	// Forget sightings of what is gone, so the map cannot grow without bound; keep all when
	// a list failed, since its kind was not seen.
	if len(report.Errors) == 0 {
		for key := range j.firstSeen {
			if !seen[key] {
				delete(j.firstSeen, key)
			}
		}
	}
	end := j.cfg.Now()
	j.metrics.record(report, end)
	j.log(ctx, report, end.Sub(start))
	sum := Summary{At: end, Took: end.Sub(start), Found: len(report.Items)}
	for _, it := range report.Items {
		switch it.Action {
		case ActionReaped:
			sum.Reaped++
		case ActionSkipped:
			sum.Skipped++
		case ActionFailed:
			sum.Failed++
		}
	}
	for _, err := range report.Errors {
		sum.Errors = append(sum.Errors, err.Error())
	}
	j.lastMu.Lock()
	j.last = &sum
	j.lastMu.Unlock()
	return report
}

func (j *Janitor) sweepKind(ctx context.Context, k kind, seen map[string]bool) ([]Item, error) {
	lctx, cancel := context.WithTimeout(ctx, j.cfg.CallTimeout)
	rs, err := k.list(lctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("listing %ss: %w", k.name, err)
	}
	items := make([]Item, len(rs))
	sem := make(chan struct{}, j.cfg.Concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, r := range rs {
		key := k.name + "/" + r.handle
		seen[key] = true
		items[i] = Item{Kind: k.name, Handle: r.handle, Age: -1}
		if !probes.IsProbeHandle(r.handle) {
			items[i].Action, items[i].Reason = ActionSkipped, SkipForeignHandle
			continue
		}
		if j.cfg.InFlight(r.handle) {
			items[i].Action, items[i].Reason = ActionSkipped, SkipInFlight
			continue
		}
		// Take a slot before starting the work, so that a list of any length holds at most
		// Concurrency goroutines.
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			items[i].Action, items[i].Err = ActionFailed, ctx.Err()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			items[i] = j.consider(ctx, k, r, key, &mu)
		}()
	}
	wg.Wait()
	return items, nil
}

// consider decides about one health-check resource and reaps it if it is an orphan.
func (j *Janitor) consider(ctx context.Context, k kind, r resource, key string, mu *sync.Mutex) Item {
	it := Item{Kind: k.name, Handle: r.handle, Age: -1}
	props := r.props
	if props == nil {
		pctx, cancel := context.WithTimeout(ctx, j.cfg.CallTimeout)
		var err error
		props, err = k.props(pctx, r.handle)
		cancel()
		switch {
		case errors.Is(err, k.notFound):
			it.Action, it.Reason = ActionSkipped, SkipGone
			return it
		case err != nil:
			it.Action, it.Err = ActionFailed, fmt.Errorf("reading properties: %w", err)
			return it
		}
	}
	// The server filtered by the marker; check it again in case the server ignores filters.
	if !probes.Marked(props) {
		it.Action, it.Reason = ActionSkipped, SkipNotMarked
		return it
	}
	now := j.cfg.Now()
	created, err := time.Parse(time.RFC3339, probes.CreatedAt(props))
	if err == nil && !created.After(now) {
		it.Age = now.Sub(created)
	} else {
		mu.Lock()
		first, ok := j.firstSeen[key]
		if !ok {
			j.firstSeen[key] = now
			first = now
		}
		mu.Unlock()
		it.Age = now.Sub(first)
		if it.Age < j.cfg.OrphanAge {
			it.Action, it.Reason = ActionSkipped, SkipFirstSighting
			return it
		}
	}
	if it.Age < j.cfg.OrphanAge {
		it.Action, it.Reason = ActionSkipped, SkipYoung
		return it
	}
	// Checked again right before the destroy: a workload may have started since the list.
	if j.cfg.InFlight(r.handle) {
		it.Action, it.Reason = ActionSkipped, SkipInFlight
		return it
	}
	if j.cfg.DryRun {
		it.Action = ActionWouldReap
		return it
	}
	dctx, cancel := context.WithTimeout(ctx, j.cfg.CallTimeout)
	err = k.destroy(dctx, r.handle)
	cancel()
	switch {
	case err == nil:
		it.Action = ActionReaped
	case errors.Is(err, k.notFound):
		it.Action, it.Reason = ActionSkipped, SkipGone
	default:
		it.Action, it.Err = ActionFailed, err
	}
	return it
}

func (j *Janitor) log(ctx context.Context, r Report, took time.Duration) {
	counts := map[Action]int{}
	var foreign []string // marked by the filter but not ours: one line a sweep, not one each
	for _, it := range r.Items {
		counts[it.Action]++
		switch {
		case it.Action == ActionReaped || it.Action == ActionWouldReap:
			j.cfg.Logger.Info("janitor: "+string(it.Action), "kind", it.Kind, "handle", it.Handle, "age", it.Age.Round(time.Second))
		case it.Action == ActionFailed:
			j.cfg.Logger.Warn("janitor: reap failed", "kind", it.Kind, "handle", it.Handle, "error", it.Err)
		case it.Reason == SkipForeignHandle || it.Reason == SkipNotMarked:
			foreign = append(foreign, it.Kind+" "+it.Handle+" ("+it.Reason+")")
		}
	}
	if len(foreign) > 0 {
		j.cfg.Logger.Warn("janitor: the marker filter listed resources that are not health-check leftovers; left alone",
			"count", len(foreign), "first", foreign[:min(len(foreign), 5)])
	}
	for _, err := range r.Errors {
		j.cfg.Logger.Warn("janitor: sweep incomplete", "error", err)
	}
	level := slog.LevelDebug
	if counts[ActionReaped]+counts[ActionFailed] > 0 || len(r.Errors) > 0 {
		level = slog.LevelInfo
	}
	j.cfg.Logger.Log(ctx, level, "janitor: sweep done", "found", len(r.Items), "reaped", counts[ActionReaped],
		"would_reap", counts[ActionWouldReap], "skipped", counts[ActionSkipped], "failed", counts[ActionFailed], "took", took.Round(time.Millisecond))
}

// Sorted returns the report's items ordered by kind (containers first) and handle.
func (r Report) Sorted() []Item {
	out := append([]Item(nil), r.Items...)
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].Kind != out[b].Kind {
			return out[a].Kind == KindContainer
		}
		return out[a].Handle < out[b].Handle
	})
	return out
}

type metrics struct {
	found, reaped, failed *prometheus.CounterVec
	skipped               *prometheus.CounterVec
	sweeps                *prometheus.CounterVec
	lastSweep             prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		found:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "deepprobe_janitor_found_total", Help: "Marked resources the janitor listed, by kind."}, []string{"kind"}),
		reaped:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "deepprobe_janitor_reaped_total", Help: "Leftovers the janitor destroyed, by kind."}, []string{"kind"}),
		failed:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "deepprobe_janitor_failed_total", Help: "Reaps that failed, by kind."}, []string{"kind"}),
		skipped:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "deepprobe_janitor_skipped_total", Help: "Resources the janitor left alone, by kind and reason."}, []string{"kind", "reason"}),
		sweeps:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "deepprobe_janitor_sweeps_total", Help: "Sweeps, by result."}, []string{"result"}),
		lastSweep: prometheus.NewGauge(prometheus.GaugeOpts{Name: "deepprobe_janitor_last_sweep_timestamp_seconds", Help: "Unix time of the last sweep."}),
	}
	// Every series exists from start-up, so that rate() and absent() work before the first event.
	for _, kind := range []string{KindContainer, KindVolume} {
		m.found.WithLabelValues(kind)
		m.reaped.WithLabelValues(kind)
		m.failed.WithLabelValues(kind)
		for _, reason := range []string{SkipForeignHandle, SkipNotMarked, SkipInFlight, SkipYoung, SkipFirstSighting, SkipGone} {
			m.skipped.WithLabelValues(kind, reason)
		}
	}
	m.sweeps.WithLabelValues("ok")
	m.sweeps.WithLabelValues("failed")
	if reg != nil {
		for _, c := range []prometheus.Collector{m.found, m.reaped, m.failed, m.skipped, m.sweeps, m.lastSweep} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("registering janitor metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *metrics) record(r Report, now time.Time) {
	for _, it := range r.Items {
		m.found.WithLabelValues(it.Kind).Inc()
		switch it.Action {
		case ActionReaped:
			m.reaped.WithLabelValues(it.Kind).Inc()
		case ActionFailed:
			m.failed.WithLabelValues(it.Kind).Inc()
		case ActionSkipped:
			m.skipped.WithLabelValues(it.Kind, it.Reason).Inc()
		}
	}
	result := "ok"
	if r.Failed() {
		result = "failed"
	}
	m.sweeps.WithLabelValues(result).Inc()
	m.lastSweep.Set(float64(now.Unix()))
}
