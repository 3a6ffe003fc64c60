package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/probes/marker"
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

// OtherInstanceAgeFactor is how many orphan ages another deepprobe instance's leftover must be
// old before this janitor reaps it: far beyond any workload of that instance, whose own orphan
// age may be longer than this one's. Its own leftovers need one orphan age.
const OtherInstanceAgeFactor = 10

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
	// Instance is this deepprobe's deepprobe.instance. A leftover marked with another instance
	// is reaped only past OtherInstanceAgeFactor x OrphanAge, and each sweep that sees one logs a
	// warning naming that instance; a leftover with no instance (an older deepprobe's) counts
	// as this instance's. Empty: every leftover that names an instance is another's.
	Instance string
	// InFlight reports handles of a workload under way, which are never reaped; nil means none.
	InFlight func(handle string) bool
	// Concurrency bounds the upstream calls of a sweep (default 4).
	Concurrency int
	// CallTimeout bounds each upstream call (default 5s).
	CallTimeout time.Duration
	// DryRun reports what would be reaped and destroys nothing.
	DryRun bool
	// OnSweep, when set, receives each sweep's report as the sweep ends, on the sweeping
	// goroutine.
	OnSweep func(Report)
	// Logger receives a line per sweep and per reaped, failed or suspicious resource.
	Logger *slog.Logger
	// Registerer receives the deepprobe_janitor_* metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Now replaces the clock in tests.
	Now func() time.Time
}

// Janitor sweeps health-check leftovers.
type Janitor struct {
	cfg     Config
	metrics *metrics

	mu         sync.Mutex      // serialises sweeps and guards destroying
	destroying map[string]bool // containers Garden answered "being destroyed" for in the last sweep that listed them

	seenMu    sync.Mutex // guards firstSeen for the goroutines of a sweep
	firstSeen map[string]time.Time

	lastMu sync.Mutex // guards last, apart from mu so that reading it never waits for a sweep
	last   *Summary
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
	case cfg.OrphanAge > math.MaxInt64/OtherInstanceAgeFactor:
		return nil, fmt.Errorf("gc: orphan age %s is too long: %d times it must fit in a time.Duration", cfg.OrphanAge, OtherInstanceAgeFactor)
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
	name    string
	list    func(ctx context.Context) ([]resource, error)
	props   func(ctx context.Context, handle string) (map[string]string, error)
	destroy func(ctx context.Context, handle string) error
	// gone matches the answers after which there is nothing left to destroy.
	gone error
	// busy, when not nil, matches the answer "the server is destroying it already": not gone
	// yet, so it is tried again on the next sweep.
	busy error
}

// kinds returns how to sweep containers and volumes.
func (j *Janitor) kinds() (containers, volumes kind) {
	g, b := j.cfg.Garden, j.cfg.Baggageclaim
	return kind{
			name: KindContainer,
			list: func(ctx context.Context) ([]resource, error) {
				handles, err := g.List(ctx, marker.Filter())
				rs := make([]resource, len(handles))
				for i, h := range handles {
					rs[i] = resource{handle: h}
				}
				return rs, err
			},
			props:   g.Properties,
			destroy: g.Destroy,
			gone:    garden.ErrNotFound,
			busy:    garden.ErrBeingDestroyed,
		},
		kind{
			name: KindVolume,
			list: func(ctx context.Context) ([]resource, error) {
				vs, err := b.List(ctx, marker.Filter())
				if err != nil {
					return nil, err
				}
				// Volumes have no TTL: also those an earlier deepprobe marked with the legacy
				// names (Baggageclaim filters on any name).
				legacy, err := b.List(ctx, map[string]string{marker.LegacyMarkerProperty: marker.MarkerValue})
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
			destroy: b.Destroy,
			gone:    baggageclaim.ErrGone,
		}
}

// Sweep looks at every marked resource, containers first (a container holds its volume), and
// reaps the orphans.
func (j *Janitor) Sweep(ctx context.Context) Report {
	j.mu.Lock()
	defer j.mu.Unlock()
	start := j.cfg.Now()
	containers, volumes := j.kinds()
	seen := map[string]bool{}
	var report Report

	items, err := j.sweepKind(ctx, containers, seen, nil)
	stuck := j.trackDestroying(items, err)
	report.add(items, err)
	items, err = j.sweepKind(ctx, volumes, seen, holdVolumes(report.Items, err))
	report.add(items, err)
	report.tally = count(report.Items)

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
	j.log(ctx, report, stuck, end.Sub(start))
	sum := summarize(report, end, end.Sub(start))
	j.lastMu.Lock()
	j.last = &sum
	j.lastMu.Unlock()
	if j.cfg.OnSweep != nil {
		j.cfg.OnSweep(report)
	}
	return report
}

// add appends one kind's items, or the error of its list.
func (r *Report) add(items []Item, err error) {
	if err != nil {
		r.Errors = append(r.Errors, err)
	}
	r.Items = append(r.Items, items...)
}

// trackDestroying remembers which containers Garden answered "being destroyed" for, marks those
// it also did on the previous sweep as stuck, and returns their handles. A failed list leaves
// the record as it was: its containers were not seen.
func (j *Janitor) trackDestroying(items []Item, listErr error) (stuck []string) {
	if listErr != nil {
		return nil
	}
	destroying := map[string]bool{}
	for i, it := range items {
		if it.Reason != SkipBeingDestroyed {
			continue
		}
		destroying[it.Handle] = true
		if j.destroying[it.Handle] {
			items[i].Reason = SkipDestroyStuck
			stuck = append(stuck, it.Handle)
		}
	}
	j.destroying = destroying
	j.metrics.stuck.Set(float64(len(stuck)))
	sort.Strings(stuck)
	return stuck
}

// holdVolumes returns why a volume must not be destroyed in this sweep, or "": a volume is the
// rootfs of the container of the same handle, so it waits while Garden still lists that
// container (or could not list containers at all).
func holdVolumes(containers []Item, listErr error) func(handle string) string {
	if listErr != nil {
		return func(string) string { return SkipContainersUnknown }
	}
	present := map[string]bool{}
	for _, it := range containers {
		if !it.leavesNothing() {
			present[it.Handle] = true
		}
	}
	return func(handle string) string {
		if present[handle] {
			return SkipContainerPresent
		}
		return ""
	}
}

// sweepKind lists one kind and considers each resource, at most Concurrency at once. hold, when
// not nil, names a reason to keep a resource that would otherwise be destroyed.
func (j *Janitor) sweepKind(ctx context.Context, k kind, seen map[string]bool, hold func(string) string) ([]Item, error) {
	lctx, cancel := context.WithTimeout(ctx, j.cfg.CallTimeout)
	rs, err := k.list(lctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("listing %ss: %w", k.name, err)
	}
	items := make([]Item, len(rs))
	sem := make(chan struct{}, j.cfg.Concurrency)
	var wg sync.WaitGroup
	for i, r := range rs {
		seen[k.name+"/"+r.handle] = true
		items[i] = Item{Kind: k.name, Handle: r.handle, Age: -1}
		if !marker.IsProbeHandle(r.handle) {
			items[i] = items[i].skip(SkipForeignHandle)
			continue
		}
		if j.cfg.InFlight(r.handle) {
			items[i] = items[i].skip(SkipInFlight)
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
			items[i] = j.consider(ctx, k, r, hold)
		}()
	}
	wg.Wait()
	return items, nil
}

// consider decides about one health-check resource and reaps it if it is an orphan.
func (j *Janitor) consider(ctx context.Context, k kind, r resource, hold func(string) string) Item {
	it := Item{Kind: k.name, Handle: r.handle, Age: -1}
	props, err := j.properties(ctx, k, r)
	if err != nil {
		return k.settle(it, fmt.Errorf("reading properties: %w", err))
	}
	// The server filtered by the marker; check it again in case the server ignores filters.
	if !marker.Marked(props) {
		return it.skip(SkipNotMarked)
	}
	instance := props[marker.InstanceProperty]
	it.Instance, it.OtherInstance = shorten(instance, maxInstanceLen), j.otherInstance(instance)
	minAge, young := j.cfg.OrphanAge, SkipYoung
	if it.OtherInstance {
		minAge, young = OtherInstanceAgeFactor*j.cfg.OrphanAge, SkipOtherInstance
	}
	var known bool
	it.Age, known = j.age(k.name+"/"+r.handle, props)
	switch {
	case it.Age < minAge && !known:
		return it.skip(SkipFirstSighting)
	case it.Age < minAge:
		return it.skip(young)
	case j.cfg.InFlight(r.handle): // again right before the destroy: a workload may have started since the list
		return it.skip(SkipInFlight)
	case hold != nil && hold(r.handle) != "":
		return it.skip(hold(r.handle))
	case j.cfg.DryRun:
		it.Action = ActionWouldReap
		return it
	}
	dctx, cancel := context.WithTimeout(ctx, j.cfg.CallTimeout)
	defer cancel()
	return k.settle(it, k.destroy(dctx, r.handle))
}

// properties returns the resource's properties, from its list entry or else from the server.
func (j *Janitor) properties(ctx context.Context, k kind, r resource) (map[string]string, error) {
	if r.props != nil {
		return r.props, nil
	}
	ctx, cancel := context.WithTimeout(ctx, j.cfg.CallTimeout)
	defer cancel()
	return k.props(ctx, r.handle)
}

// settle records the answer of a call about it: nil means reaped.
func (k kind) settle(it Item, err error) Item {
	switch {
	case err == nil:
		it.Action = ActionReaped
		return it
	case errors.Is(err, k.gone):
		return it.skip(SkipGone)
	case k.busy != nil && errors.Is(err, k.busy):
		return it.skip(SkipBeingDestroyed)
	}
	it.Action, it.Err = ActionFailed, err
	return it
}

// otherInstance reports whether a leftover's instance is another deepprobe's. One without an
// instance (an older deepprobe's) counts as this one's.
func (j *Janitor) otherInstance(instance string) bool {
	return instance != "" && instance != j.cfg.Instance
}

// age returns a resource's age by its created-at property, or, when that is missing, unreadable
// or in the future, by its first sighting (known is then false).
func (j *Janitor) age(key string, props map[string]string) (age time.Duration, known bool) {
	now := j.cfg.Now()
	if created, err := time.Parse(time.RFC3339, marker.CreatedAt(props)); err == nil && !created.After(now) {
		return now.Sub(created), true
	}
	j.seenMu.Lock()
	defer j.seenMu.Unlock()
	first, ok := j.firstSeen[key]
	if !ok {
		j.firstSeen[key] = now
		first = now
	}
	return now.Sub(first), false
}
