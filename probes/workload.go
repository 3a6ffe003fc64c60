package probes

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/probes/rootfs"
)

// Containers is the part of a Garden client the workload uses.
type Containers interface {
	Create(ctx context.Context, spec garden.Spec) (string, error)
	SetGraceTime(ctx context.Context, handle string, graceTime time.Duration) error
	Run(ctx context.Context, handle string, spec garden.ProcessSpec) error
	Properties(ctx context.Context, handle string) (map[string]string, error)
	Destroy(ctx context.Context, handle string) error
}

// Volumes is the part of a Baggageclaim client the workload uses.
type Volumes interface {
	CreateVolume(ctx context.Context, req baggageclaim.Request) (baggageclaim.Volume, error)
	StreamIn(ctx context.Context, handle string, tarball []byte) error
	Destroy(ctx context.Context, handle string) error
}

var (
	_ Containers = (*garden.Client)(nil)
	_ Volumes    = (*baggageclaim.Client)(nil)
)

// WorkloadConfig configures a Workload. Zero durations mean the defaults of Timing.
type WorkloadConfig struct {
	// Garden and Baggageclaim are the clients of the worker's daemons; both are required.
	Garden       Containers
	Baggageclaim Volumes
	// RootFSImportPath, when set, makes the volume with the import strategy from this host
	// directory; otherwise the volume is empty (stream-in then gives it etc/).
	RootFSImportPath string
	// Timeout bounds the forward stages together; CleanupTimeout bounds each undo stage on its
	// own, so that cleanup still runs after a timeout or a cancellation; ProcessTimeout bounds
	// process.run inside Timeout; GraceTime is the container's grace time. See Timing.
	Timeout, CleanupTimeout, ProcessTimeout, GraceTime time.Duration
	// Skip names optional stages not to run (they are reported as skipped, never as passed).
	Skip []string
	// Arch is the GOARCH of the executable that process.run runs (default: deepprobe's own,
	// which is the worker's when deepprobe runs beside it).
	Arch string
	// Instance is written into the InstanceProperty of what the workload creates.
	Instance string
	// Now and NewHandle replace the clock and the handle generator in tests.
	Now       func() time.Time
	NewHandle func() string
}

// StageNames lists the workload's stages in the order they are reported.
func StageNames() []string {
	return []string{StageVolumeCreate, StageVolumeStreamIn, StageContainerCreate, StageProcessRun, StageContainerDestroy, StageVolumeDestroy}
}

// stages returns the workload's forward stages, in order; their undos run in reverse after them.
func stages(cfg WorkloadConfig, tarball []byte) []Stage {
	return []Stage{volumeStage(cfg), streamInStage(cfg, tarball), containerStage(cfg), processStage(cfg)}
}

func (c WorkloadConfig) withDefaults() WorkloadConfig {
	t := Timing{ProbeTimeout: c.Timeout, CleanupTimeout: c.CleanupTimeout, ProcessTimeout: c.ProcessTimeout, GraceTime: c.GraceTime}.withDefaults()
	c.Timeout, c.CleanupTimeout, c.ProcessTimeout, c.GraceTime = t.ProbeTimeout, t.CleanupTimeout, t.ProcessTimeout, t.GraceTime
	if c.Arch == "" {
		c.Arch = runtime.GOARCH
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.NewHandle == nil {
		c.NewHandle = func() string { return HandlePrefix + uuid.NewString() }
	}
	return c
}

// Validate reports a setting the workload cannot run with, naming it. It does not look at the
// clients, so that a configuration can be checked before they exist.
func (c WorkloadConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.RootFSImportPath != "" && !filepath.IsAbs(c.RootFSImportPath):
		return settingErr(SettingRootFSImportPath, "must be absolute, got %q", c.RootFSImportPath)
	}
	if _, err := (Timing{ProbeTimeout: c.Timeout, CleanupTimeout: c.CleanupTimeout, ProcessTimeout: c.ProcessTimeout, GraceTime: c.GraceTime}).Resolve(); err != nil {
		return err
	}
	if err := validateSkip(stages(c, nil), c.Skip); err != nil {
		return err
	}
	if !slices.Contains(c.Skip, StageVolumeStreamIn) {
		if _, err := rootfs.Executable(c.Arch); err != nil {
			return settingErr(SettingSkipStages, "%v: skip %s and %s on this worker", err, StageVolumeStreamIn, StageProcessRun)
		}
	}
	return nil
}

// validateSkip checks that every skipped stage exists, may be skipped, and is needed by no
// stage that still runs.
func validateSkip(all []Stage, skip []string) error {
	for _, name := range skip {
		i := slices.IndexFunc(all, func(s Stage) bool { return s.Name == name })
		if i < 0 {
			var optional []string
			for _, s := range all {
				if s.Optional {
					optional = append(optional, s.Name)
				}
			}
			return settingErr(SettingSkipStages, "unknown or non-optional stage %q (may skip: %s)", name, strings.Join(optional, ", "))
		}
		if !all[i].Optional {
			return settingErr(SettingSkipStages, "stage %q cannot be skipped: every other stage needs it", name)
		}
	}
	for _, s := range all {
		if slices.Contains(skip, s.Name) {
			continue
		}
		for _, need := range s.Needs {
			if slices.Contains(skip, need) {
				return settingErr(SettingSkipStages, "skipping %s leaves %s without it: skip %s too", need, s.Name, s.Name)
			}
		}
	}
	return nil
}

// Workload is the smallest real job a worker must be able to do, as an ordered list of stages.
// Run may be called concurrently, though the Prober never does.
type Workload struct {
	cfg    WorkloadConfig
	stages []Stage

	mu       sync.Mutex
	inFlight map[string]*Progress // by handle
}

// Progress is the stage a run is in, since when, that stage's limit (its configured one) and
// the deadline it must end by (on the real clock, as contexts are).
type Progress struct {
	Stage    string
	Since    time.Time
	Limit    time.Duration
	Deadline time.Time
	Elapsed  time.Duration
}

// NewWorkload returns a Workload, or an error naming what is wrong with cfg.
func NewWorkload(cfg WorkloadConfig) (*Workload, error) {
	switch {
	case cfg.Garden == nil:
		return nil, errors.New("probes: a Garden client is required")
	case cfg.Baggageclaim == nil:
		return nil, errors.New("probes: a Baggageclaim client is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var tarball []byte
	if !slices.Contains(cfg.Skip, StageVolumeStreamIn) {
		var err error
		if tarball, err = rootfs.Tar(cfg.Arch); err != nil {
			return nil, err
		}
	}
	return &Workload{cfg: cfg, stages: stages(cfg, tarball), inFlight: map[string]*Progress{}}, nil
}

// MaxDuration is the longest one Run can take: the forward stages plus each undo.
func (w *Workload) MaxDuration() time.Duration {
	return Timing{ProbeTimeout: w.cfg.Timeout, CleanupTimeout: w.cfg.CleanupTimeout}.LongestRun()
}

// InFlight reports whether handle belongs to a run that has not finished its cleanup. The
// janitor must leave such resources alone.
func (w *Workload) InFlight(handle string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.inFlight[handle]
	return ok
}

// Running reports the stage a run under way is in, how long it has been in it and that stage's
// limit, for callers that give up before the run ends. The Prober runs one at a time; with
// several, it names any.
func (w *Workload) Running() (Progress, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.inFlight {
		if p.Stage != "" {
			out := *p
			out.Elapsed = w.cfg.Now().Sub(p.Since)
			return out, true
		}
	}
	return Progress{}, false
}

func (w *Workload) setProgress(handle, stage string, since time.Time, limit time.Duration, deadline time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p := w.inFlight[handle]; p != nil {
		p.Stage, p.Since, p.Limit, p.Deadline = stage, since, limit, deadline
	}
}

// Run runs the forward stages in order under one deadline (Timeout), stopping at the first
// failure, then the undo of every forward stage it attempted, in reverse order, each under its
// own CleanupTimeout that ctx's cancellation does not cut short.
func (w *Workload) Run(ctx context.Context) Result {
	r := &Run{Handle: w.cfg.NewHandle()}
	w.mu.Lock()
	w.inFlight[r.Handle] = &Progress{}
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.inFlight, r.Handle)
		w.mu.Unlock()
	}()

	res := Result{Handle: r.Handle, StartedAt: w.cfg.Now()}
	r.Properties = map[string]string{
		MarkerProperty:    MarkerValue,
		CreatedAtProperty: res.StartedAt.UTC().Format(time.RFC3339),
	}
	if w.cfg.Instance != "" {
		r.Properties[InstanceProperty] = w.cfg.Instance
	}

	fctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	attempted := map[string]bool{}
	var failed string
	for _, s := range w.stages {
		switch {
		case slices.Contains(w.cfg.Skip, s.Name):
			res.Stages = append(res.Stages, skipped(s, errors.New("skipped by configuration")))
		case failed != "":
			res.Stages = append(res.Stages, skipped(s, fmt.Errorf("%s failed", failed)))
		default:
			attempted[s.Name] = true
			sr := w.run(fctx, r, s, w.cfg.Timeout)
			res.Stages = append(res.Stages, sr)
			if sr.Status == StatusFail {
				failed = s.Name
			}
		}
	}
	for i := len(w.stages) - 1; i >= 0; i-- {
		s := w.stages[i]
		if s.Undo == nil {
			continue
		}
		if !attempted[s.Name] {
			res.Stages = append(res.Stages, skipped(*s.Undo, fmt.Errorf("%s did not run", s.Name)))
			continue
		}
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.CleanupTimeout)
		res.Stages = append(res.Stages, w.run(uctx, r, *s.Undo, w.cfg.CleanupTimeout))
		cancel()
	}
	res.Duration = w.cfg.Now().Sub(res.StartedAt)
	return res
}

func skipped(s Stage, why error) StageResult {
	return StageResult{Name: s.Name, Component: s.Component, Status: StatusSkip, Err: why}
}

// run runs one stage under ctx (whose deadline is limit away at most) and its own Budget.
func (w *Workload) run(ctx context.Context, r *Run, s Stage, limit time.Duration) StageResult {
	sctx, shared := ctx, limit
	if s.Budget > 0 {
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(ctx, s.Budget)
		defer cancel()
		limit = min(limit, s.Budget)
	}
	start := w.cfg.Now()
	deadline, _ := sctx.Deadline()
	w.setProgress(r.Handle, s.Name, start, limit, deadline)
	err := s.Do(sctx, r)
	sr := StageResult{Name: s.Name, Component: s.Component, Status: StatusPass, Duration: w.cfg.Now().Sub(start)}
	if err != nil {
		sr.Status, sr.Err, sr.Reason = StatusFail, explain(ctx, sctx, shared, s, err), Classify(err)
		if sctx.Err() != nil { // the limit or a shutdown, whatever error the call made of it
			sr.Reason = Classify(sctx.Err())
		}
	}
	return sr
}

// explain says plainly which time limit a stage ran out of, or that it was cancelled.
func explain(shared, own context.Context, sharedLimit time.Duration, s Stage, err error) error {
	switch {
	case errors.Is(shared.Err(), context.DeadlineExceeded):
		return fmt.Errorf("timed out after %s: %w", sharedLimit, err)
	case errors.Is(own.Err(), context.DeadlineExceeded):
		return fmt.Errorf("timed out after %s (%s's own limit): %w", s.Budget, s.Name, err)
	case errors.Is(own.Err(), context.Canceled):
		return fmt.Errorf("cancelled: %w", err)
	}
	return err
}
