package probes

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/probes/garden"
)

// Containers is the part of a Garden client the workload uses.
type Containers interface {
	Create(ctx context.Context, spec garden.Spec) (string, error)
	SetGraceTime(ctx context.Context, handle string, graceTime time.Duration) error
	Destroy(ctx context.Context, handle string) error
}

// Volumes is the part of a Baggageclaim client the workload uses.
type Volumes interface {
	CreateVolume(ctx context.Context, req baggageclaim.Request) (baggageclaim.Volume, error)
	Destroy(ctx context.Context, handle string) error
}

var (
	_ Containers = (*garden.Client)(nil)
	_ Volumes    = (*baggageclaim.Client)(nil)
)

// Defaults of WorkloadConfig.
const (
	DefaultTimeout        = 5 * time.Second
	DefaultCleanupTimeout = 2 * time.Second
	DefaultGraceTime      = time.Minute
)

// WorkloadConfig configures a Workload. Zero values mean the defaults.
type WorkloadConfig struct {
	// Garden and Baggageclaim are the clients of the worker's daemons; both are required.
	Garden       Containers
	Baggageclaim Volumes
	// RootFSImportPath, when set, makes the volume with the import strategy from this host
	// directory (it must hold etc/ for backends such as houdini); otherwise the volume is empty.
	RootFSImportPath string
	// Timeout bounds the two create stages together (default 5s).
	Timeout time.Duration
	// CleanupTimeout bounds each destroy stage on its own, so that cleanup still runs after a
	// create timed out or the caller went away (default 2s).
	CleanupTimeout time.Duration
	// GraceTime is the container's grace time, after which Garden reaps it even if deepprobe
	// died (default 1m). It must exceed Timeout.
	GraceTime time.Duration
	// Instance is written into the InstanceProperty of what the workload creates.
	Instance string
	// Now and NewHandle replace the clock and the handle generator in tests.
	Now       func() time.Time
	NewHandle func() string
}

// Validate reports a configuration the workload cannot run with, naming the setting.
func (c WorkloadConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Garden == nil:
		return errors.New("probes: a Garden client is required")
	case c.Baggageclaim == nil:
		return errors.New("probes: a Baggageclaim client is required")
	case c.Timeout < 0:
		return fmt.Errorf("probe timeout must be positive, got %s", c.Timeout)
	case c.CleanupTimeout < 0:
		return fmt.Errorf("cleanup timeout must be positive, got %s", c.CleanupTimeout)
	case c.GraceTime <= c.Timeout:
		return fmt.Errorf("grace time (%s) must exceed the probe timeout (%s), or Garden could reap the container mid-probe", c.GraceTime, c.Timeout)
	case c.RootFSImportPath != "" && !filepath.IsAbs(c.RootFSImportPath):
		return fmt.Errorf("rootfs import path must be absolute, got %q", c.RootFSImportPath)
	}
	return nil
}

func (c WorkloadConfig) withDefaults() WorkloadConfig {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.CleanupTimeout == 0 {
		c.CleanupTimeout = DefaultCleanupTimeout
	}
	if c.GraceTime == 0 {
		c.GraceTime = DefaultGraceTime
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.NewHandle == nil {
		c.NewHandle = func() string { return HandlePrefix + uuid.NewString() }
	}
	return c
}

// Workload is the smallest real job a worker must be able to do. Run may be called
// concurrently, though the Prober never does.
type Workload struct {
	cfg WorkloadConfig

	mu       sync.Mutex
	inFlight map[string]*progress // by handle
}

// progress is the stage a run is in and when that stage started.
type progress struct {
	stage string
	since time.Time
}

// NewWorkload returns a Workload, or an error naming what is wrong with cfg.
func NewWorkload(cfg WorkloadConfig) (*Workload, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Workload{cfg: cfg.withDefaults(), inFlight: map[string]*progress{}}, nil
}

// MaxDuration is the longest one Run can take: the create stages plus both destroys.
func (w *Workload) MaxDuration() time.Duration { return w.cfg.Timeout + 2*w.cfg.CleanupTimeout }

// InFlight reports whether handle belongs to a run that has not finished its cleanup. The
// janitor must leave such resources alone.
func (w *Workload) InFlight(handle string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.inFlight[handle]
	return ok
}

func (w *Workload) track(handle string, on bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if on {
		w.inFlight[handle] = &progress{}
	} else {
		delete(w.inFlight, handle)
	}
}

// Running reports the stage a run under way is in and how long it has been in it, for callers
// that give up before the run ends. The Prober runs one at a time; with several, it names any.
func (w *Workload) Running() (stage string, elapsed time.Duration, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.inFlight {
		if p.stage != "" {
			return p.stage, w.cfg.Now().Sub(p.since), true
		}
	}
	return "", 0, false
}

// Run creates a volume and a container on it, then destroys both. The destroys run whatever
// happened before them (a create that failed or timed out may still have made its resource),
// each with its own deadline that ctx's cancellation does not cut short.
func (w *Workload) Run(ctx context.Context) Result {
	handle := w.cfg.NewHandle()
	w.track(handle, true)
	defer w.track(handle, false)

	res := Result{Handle: handle, StartedAt: w.cfg.Now()}
	props := map[string]string{
		MarkerProperty:    MarkerValue,
		CreatedAtProperty: res.StartedAt.UTC().Format(time.RFC3339),
	}
	if w.cfg.Instance != "" {
		props[InstanceProperty] = w.cfg.Instance
	}

	createCtx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()

	var vol baggageclaim.Volume
	volErr := w.stage(&res, StageVolumeCreate, func() error {
		strategy := baggageclaim.EmptyStrategy()
		if w.cfg.RootFSImportPath != "" {
			strategy = baggageclaim.ImportStrategy(w.cfg.RootFSImportPath)
		}
		var err error
		vol, err = w.cfg.Baggageclaim.CreateVolume(createCtx, baggageclaim.Request{Handle: handle, Strategy: strategy, Properties: props})
		return explain(createCtx, w.cfg.Timeout, err)
	})

	if volErr != nil {
		skip(&res, StageContainerCreate, fmt.Errorf("%s failed", StageVolumeCreate))
		skip(&res, StageContainerDestroy, errors.New("no container was created"))
	} else {
		w.stage(&res, StageContainerCreate, func() error {
			spec := garden.Spec{Handle: handle, GraceTime: w.cfg.GraceTime, RootFSPath: "raw://" + vol.Path, Properties: props}
			if _, err := w.cfg.Garden.Create(createCtx, spec); err != nil {
				return explain(createCtx, w.cfg.Timeout, err)
			}
			// Houdini and Concourse's containerd runtime ignore the spec's grace time.
			return explain(createCtx, w.cfg.Timeout, w.cfg.Garden.SetGraceTime(createCtx, handle, w.cfg.GraceTime))
		})
		w.stage(&res, StageContainerDestroy, func() error {
			return w.destroy(ctx, handle, w.cfg.Garden.Destroy, garden.ErrNotFound)
		})
	}
	w.stage(&res, StageVolumeDestroy, func() error {
		return w.destroy(ctx, handle, w.cfg.Baggageclaim.Destroy, baggageclaim.ErrNotFound)
	})
	res.Duration = w.cfg.Now().Sub(res.StartedAt)
	return res
}

// destroy calls del with its own deadline, detached from ctx's cancellation; notFound (the
// resource is already gone, e.g. reaped by Concourse's web node) counts as done.
func (w *Workload) destroy(ctx context.Context, handle string, del func(context.Context, string) error, notFound error) error {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.CleanupTimeout)
	defer cancel()
	err := del(dctx, handle)
	if errors.Is(err, notFound) {
		return nil
	}
	return explain(dctx, w.cfg.CleanupTimeout, err)
}

// explain says plainly that a stage ran out of its time limit.
func explain(ctx context.Context, limit time.Duration, err error) error {
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("timed out after %s: %w", limit, err)
	}
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("cancelled: %w", err)
	}
	return err
}

// stage runs f as the named stage and records its outcome.
func (w *Workload) stage(res *Result, name string, f func() error) error {
	start := w.cfg.Now()
	w.mu.Lock()
	if p := w.inFlight[res.Handle]; p != nil {
		p.stage, p.since = name, start
	}
	w.mu.Unlock()
	err := f()
	s := StageResult{Name: name, Status: StatusPass, Duration: w.cfg.Now().Sub(start), Err: err}
	if err != nil {
		s.Status = StatusFail
	}
	res.Stages = append(res.Stages, s)
	return err
}

func skip(res *Result, name string, why error) {
	res.Stages = append(res.Stages, StageResult{Name: name, Status: StatusSkip, Err: why})
}
