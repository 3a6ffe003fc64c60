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
	"github.com/deepprobe/deepprobe/probes/marker"
)

// Containers is the part of a Garden client the workload uses: what its stages declare they
// call (containerCalls, processCalls), and the list a slow Garden stage watches.
type Containers interface {
	Create(ctx context.Context, spec garden.Spec) (string, error)
	SetGraceTime(ctx context.Context, handle string, graceTime time.Duration) error
	Run(ctx context.Context, handle string, spec garden.ProcessSpec) error
	Properties(ctx context.Context, handle string) (map[string]string, error)
	List(ctx context.Context, properties map[string]string) ([]string, error)
	Destroy(ctx context.Context, handle string) error
}

// Volumes is the part of a Baggageclaim client the workload uses: what its stages declare they
// call (volumeCalls, streamInCalls), the list a slow Baggageclaim stage watches, and the look
// that tells an interrupted run.
type Volumes interface {
	CreateVolume(ctx context.Context, req baggageclaim.Request) (baggageclaim.Volume, error)
	StreamIn(ctx context.Context, handle string, tarball []byte) error
	Volume(ctx context.Context, handle string) (baggageclaim.Volume, error)
	List(ctx context.Context, properties map[string]string) ([]baggageclaim.Volume, error)
	Destroy(ctx context.Context, handle string) error
}

var (
	_ Containers = (*garden.Client)(nil)
	_ Volumes    = (*baggageclaim.Client)(nil)
)

// DefaultContainerReserve is the default of WorkloadConfig.ContainerReserve: the container
// slots deepprobe leaves to builds.
const DefaultContainerReserve = 1

// WorkloadConfig configures a Workload.
type WorkloadConfig struct {
	// Garden and Baggageclaim are the clients of the worker's daemons; both are required.
	Garden       Containers
	Baggageclaim Volumes
	// RootFSImportPath, when set, makes the volume with the import strategy from this host
	// directory; otherwise the volume is empty (stream-in then gives it etc/).
	RootFSImportPath string
	// Timing holds the expected times, the stall and hard limits and the grace time; it is
	// resolved (defaults filled, rules checked) by NewWorkload.
	Timing Timing
	// Skip names optional stages not to run (they are reported as skipped, never as passed).
	Skip []string
	// MaxContainers is the worker's container limit, when the operator knows it (0: unknown;
	// the workload then learns it when a create meets it).
	MaxContainers int
	// ContainerReserve is how many free container slots the workload leaves to builds: with
	// fewer free than this plus its own, it holds its container stages back (0: the default,
	// 1; negative: none).
	ContainerReserve int
	// Arch is the GOARCH of the executable that process.run runs (default: deepprobe's own,
	// which is the worker's when deepprobe runs beside it).
	Arch string
	// Instance is written into the marker.InstanceProperty of what the workload creates.
	Instance string
	// Now and NewHandle replace the clock and the handle generator in tests.
	Now       func() time.Time
	NewHandle func() string
}

// stages is the one list of the workload's stages, in the order they run; the undo of each
// runs after them all, in reverse order. Everything else about the stages derives from it:
// their reported names and order (StageNames), which may be skipped (OptionalStages), the
// timing defaults (Timing.ExpectedRun counts the undos), the flag help, the metrics' series and
// the status page's legend. limit may be nil when no run is made.
func stages(cfg WorkloadConfig, limit *containerLimit) []Stage {
	return []Stage{
		volumeStage(cfg),
		streamInStage(cfg),
		cowStage(cfg),
		containerStage(cfg, limit),
		processStage(cfg),
	}
}

// Stages returns the workload's stages with a default configuration, for what derives from the
// list: names, components, undos, dependencies.
func Stages() []Stage { return stages(WorkloadConfig{}, nil) }

// StageNames lists every stage in the order a run reports them: the forward stages, then the
// undos in reverse order.
func StageNames() []string {
	all := Stages()
	names := make([]string, 0, 2*len(all))
	for _, s := range all {
		names = append(names, s.Name)
	}
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Undo != nil {
			names = append(names, all[i].Undo.Name)
		}
	}
	return names
}

// OptionalStages lists the stages that configuration may skip, in order.
func OptionalStages() []string {
	var names []string
	for _, s := range Stages() {
		if s.Optional {
			names = append(names, s.Name)
		}
	}
	return names
}

// undoCount is how many undo stages a run has: each has its own expected time.
func undoCount() int {
	n := 0
	for _, s := range Stages() {
		if s.Undo != nil {
			n++
		}
	}
	return n
}

func (c WorkloadConfig) withDefaults() (WorkloadConfig, error) {
	t, err := c.Timing.Resolve()
	if err != nil {
		return c, err
	}
	c.Timing = t
	if c.ContainerReserve == 0 {
		c.ContainerReserve = DefaultContainerReserve
	}
	c.ContainerReserve = max(c.ContainerReserve, 0)
	if c.Arch == "" {
		c.Arch = runtime.GOARCH
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.NewHandle == nil {
		c.NewHandle = func() string { return marker.HandlePrefix + uuid.NewString() }
	}
	return c, nil
}

// Validate reports a setting the workload cannot run with, naming it. It does not look at the
// clients, so that a configuration can be checked before they exist.
func (c WorkloadConfig) Validate() error {
	c, err := c.withDefaults()
	switch {
	case err != nil:
		return err
	case c.RootFSImportPath != "" && !filepath.IsAbs(c.RootFSImportPath):
		return settingErr(SettingRootFSImportPath, "must be absolute, got %q", c.RootFSImportPath)
	case c.MaxContainers < 0:
		return settingErr(SettingMaxContainers, "must not be negative, got %d", c.MaxContainers)
	case c.MaxContainers > 0 && c.ContainerReserve >= c.MaxContainers:
		return settingErr(SettingContainerReserve, "(%d) must be less than --%s (%d), or no workload could ever create its container", c.ContainerReserve, SettingMaxContainers, c.MaxContainers)
	}
	all := stages(c, nil)
	if err := validateSkip(all, c.Skip); err != nil {
		return err
	}
	return prepare(all, c.Skip)
}

// prepare readies every stage that is not skipped.
func prepare(all []Stage, skip []string) error {
	for _, s := range all {
		if s.Prepare != nil && !slices.Contains(skip, s.Name) {
			if err := s.Prepare(); err != nil {
				return err
			}
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
	cfg     WorkloadConfig
	stages  []Stage
	listers map[Component]lister

	mu       sync.Mutex
	inFlight map[string]*Progress // by handle
}

// Progress is the stage a run is in, since when, how long it was expected to take, the hard
// deadline it must end by (on the real clock, as contexts are), what it has seen of the worker
// since it became slow, and the run's first failure so far.
type Progress struct {
	Stage    string
	Since    time.Time
	Elapsed  time.Duration
	Expected time.Duration
	// Limit is the stage's hard limit, and Deadline when it ends.
	Limit    time.Duration
	Deadline time.Time
	// Busy is what the latest slow stage of the run saw of the worker's progress (nil until a
	// stage was slow): this one's, or an earlier one's (then Ended).
	Busy *Busy
	// Failed is the run's first failed forward stage, when one has failed: the run is only
	// cleaning up.
	Failed *StageResult
	// Partial is what the run has done so far, for a verdict read before it ends.
	Partial Result
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
	cfg, _ = cfg.withDefaults()
	limit := &containerLimit{configured: cfg.MaxContainers, reserve: cfg.ContainerReserve}
	w := &Workload{cfg: cfg, stages: stages(cfg, limit), inFlight: map[string]*Progress{}}
	if err := prepare(w.stages, cfg.Skip); err != nil {
		return nil, err
	}
	w.listers = map[Component]lister{
		Garden: func(ctx context.Context) ([]string, error) { return cfg.Garden.List(ctx, nil) },
		Baggageclaim: func(ctx context.Context) ([]string, error) {
			vs, err := cfg.Baggageclaim.List(ctx, nil)
			hs := make([]string, len(vs))
			for i, v := range vs {
				hs[i] = v.Handle
			}
			return hs, err
		},
	}
	return w, nil
}

// Timing returns the resolved timing the workload runs with.
func (w *Workload) Timing() Timing { return w.cfg.Timing }

// InFlight reports whether handle belongs to a run that has not finished its cleanup: the run's
// own handle, or one derived from it (<handle>-cow). The janitor must leave such resources alone.
func (w *Workload) InFlight(handle string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for h := range w.inFlight {
		if handle == h || strings.HasPrefix(handle, h+"-") {
			return true
		}
	}
	return false
}

// Running reports the stage a run under way is in, how long it has been in it, its limits and
// what it has seen, for callers that give up before the run ends. The Prober runs one at a
// time; with several, it names any.
func (w *Workload) Running() (Progress, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.inFlight {
		if p.Stage != "" {
			out := *p
			out.Elapsed = w.cfg.Now().Sub(p.Since)
			out.Partial.Stages = slices.Clone(p.Partial.Stages)
			return out, true
		}
	}
	return Progress{}, false
}

// update changes the progress of the run with handle under the lock.
func (w *Workload) update(handle string, f func(p *Progress)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p := w.inFlight[handle]; p != nil {
		f(p)
	}
}

// limits are one stage's expected end and hard deadline (limit after the start it counts from).
type limits struct {
	expected, hard time.Time
	limit          time.Duration
	// watch is false when the stage must not wait past its expected time (cleanup at
	// shutdown): then expected is its hard deadline too.
	watch bool
}

// Run runs the forward stages in order, stopping at the first failure, then the undo of every
// forward stage it attempted, in reverse order. The forward stages are expected to end within
// ProbeTimeout and must within HardTimeout; each undo is expected within CleanupTimeout, and the
// undos must end within HardTimeout (each still gets its CleanupTimeout when an earlier one
// spent that), which ctx's cancellation cuts to CleanupTimeout each. A slow stage keeps
// waiting while the worker shows progress, and fails as stalled when it shows none. A failure
// caused by the run's own volume or container vanishing (Concourse's garbage collector) marks
// the result Interrupted.
func (w *Workload) Run(ctx context.Context) Result {
	r := &RunState{Handle: w.cfg.NewHandle()}
	w.mu.Lock()
	w.inFlight[r.Handle] = &Progress{Partial: Result{Handle: r.Handle}}
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.inFlight, r.Handle)
		w.mu.Unlock()
	}()

	t := w.cfg.Timing
	res := Result{Handle: r.Handle, StartedAt: w.cfg.Now()}
	r.Properties = map[string]string{
		marker.MarkerProperty:    marker.MarkerValue,
		marker.CreatedAtProperty: res.StartedAt.UTC().Format(time.RFC3339),
	}
	if w.cfg.Instance != "" {
		r.Properties[marker.InstanceProperty] = w.cfg.Instance
	}
	record := func(sr StageResult) {
		res.Stages = append(res.Stages, sr)
		w.update(r.Handle, func(p *Progress) { p.Partial.Stages = append(p.Partial.Stages, sr) })
	}

	start := time.Now() // contexts and the watch run on the real clock
	fctx, cancel := context.WithDeadline(ctx, start.Add(t.HardTimeout))
	defer cancel()
	status := map[string]Status{}
	for _, s := range w.stages {
		var sr StageResult
		switch {
		case slices.Contains(w.cfg.Skip, s.Name):
			sr = skipped(s, errors.New("skipped by configuration"))
		case failedName(res) != "":
			sr = skipped(s, fmt.Errorf("%s failed", failedName(res)))
		case unmet(s, status) != "":
			sr = skipped(s, fmt.Errorf("%s did not run", unmet(s, status)))
		default:
			expected := start.Add(t.ProbeTimeout)
			if own := time.Now().Add(s.Expect); s.Expect > 0 && own.Before(expected) {
				expected = own
			}
			sr = w.run(fctx, r, s, limits{expected: expected, hard: start.Add(t.HardTimeout), limit: t.HardTimeout, watch: true})
		}
		status[s.Name] = sr.Status
		if sr.Status == StatusSkip && sr.HeldBack {
			res.HeldBack = sr.Err.Error()
		}
		record(sr)
	}
	if f, failed := res.FirstFailure(); failed {
		// Published only now, so that a caller never reads an interruption as a failure; a
		// shutdown's cancellation is no verdict at all.
		if vanishable(f.Reason) {
			res.Interrupted = w.interrupted(ctx, r, f.Name)
		}
		switch {
		case res.Interrupted != "":
			res.markInterrupted()
		case f.Reason != ReasonCancelled:
			w.update(r.Handle, func(p *Progress) { p.Failed = &f })
		}
	}
	undoHard := time.Now().Add(t.HardTimeout) // the undos share one hard limit, as the forward stages do
	for i := len(w.stages) - 1; i >= 0; i-- {
		s := w.stages[i]
		if s.Undo == nil {
			continue
		}
		if st := status[s.Name]; st == "" || st == StatusSkip {
			record(skipped(*s.Undo, fmt.Errorf("%s did not run", s.Name)))
			continue
		}
		undo := *s.Undo
		if undo.Evidence == EvidenceEither {
			undo.Evidence = EvidenceDestroys // an undo destroys: others' destroys show the worker busy
		}
		// Each undo is tried for at least its expected time, even once an earlier one has
		// spent the shared limit: what is not destroyed is left behind.
		expected := time.Now().Add(t.CleanupTimeout)
		lim := limits{expected: expected, hard: undoHard, limit: t.HardTimeout, watch: true}
		switch {
		case ctx.Err() != nil: // shutting down: cut after the cleanup timeout (cutAtShutdown), a cancellation
			lim = limits{expected: expected, hard: expected.Add(t.CleanupTimeout), limit: 2 * t.CleanupTimeout}
		case !undoHard.After(expected): // the shared limit is spent: no waiting past the expected time
			lim = limits{expected: expected, hard: expected, limit: t.CleanupTimeout}
		}
		uctx, release := cutAtShutdown(ctx, t.CleanupTimeout)
		record(w.run(uctx, r, undo, lim))
		release()
	}
	res.Duration = w.cfg.Now().Sub(res.StartedAt)
	return res
}

// failedName is the name of res's first failed stage, or "".
func failedName(res Result) string {
	f, _ := res.FirstFailure()
	return f.Name
}

// vanishable reports whether a stage's failure for reason could come from its own volume or
// container vanishing under it, so that the run is worth checking for an interruption. A stall
// or a time limit is the worker's own: a garbage collector destroying the run's resources while
// it waits must not hide a wedge.
func vanishable(reason Reason) bool {
	switch reason {
	case ReasonNotFound, ReasonExecFailed, ReasonUpstreamError, ReasonBadAnswer, ReasonStreamCut, ReasonConnectionLost, ReasonNonzeroExit:
		return true
	}
	return false
}

// errShutdown is the cause of an undo cut short at shutdown.
var errShutdown = fmt.Errorf("deepprobe is shutting down: %w", context.Canceled)

// cutAtShutdown returns a context for an undo that ctx's cancellation does not end at once (the
// destroy must still run), but ends grace after it, so that a shutdown waits at most grace for
// each undo; release it once the undo has returned.
func cutAtShutdown(ctx context.Context, grace time.Duration) (context.Context, func()) {
	uctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			cancel(errShutdown)
		}
	})
	return uctx, func() {
		close(done)
		wg.Wait()
		cancel(nil)
	}
}

// unmet returns a stage s needs that did not pass, if any.
func unmet(s Stage, status map[string]Status) string {
	for _, need := range s.Needs {
		if st, ran := status[need]; ran && st != StatusPass {
			return need
		}
	}
	return ""
}

func skipped(s Stage, why error) StageResult {
	return StageResult{Name: s.Name, Component: s.Component, Status: StatusSkip, Err: why}
}

// run runs one stage until lim.hard. Past lim.expected it watches the worker's list for the
// stage's component; when no progress of the stage's kind shows for the stall timeout, it stops
// the stage.
func (w *Workload) run(ctx context.Context, r *RunState, s Stage, lim limits) StageResult {
	hctx, cancelHard := context.WithDeadline(ctx, lim.hard)
	defer cancelHard()
	sctx, stop := context.WithCancelCause(hctx)
	defer stop(nil)

	start := w.cfg.Now()
	realStart := time.Now()
	w.update(r.Handle, func(p *Progress) {
		p.Stage, p.Since, p.Expected, p.Limit, p.Deadline = s.Name, start, lim.expected.Sub(realStart), lim.hard.Sub(realStart), lim.hard
		if p.Busy != nil { // what an earlier stage saw still says how busy the worker is
			b := *p.Busy
			b.Ended = true
			p.Busy = &b
		}
	})
	var wg sync.WaitGroup
	wctx, stopWatch := context.WithCancel(sctx)
	if lim.watch && lim.hard.After(lim.expected) {
		if r.seen == nil {
			r.seen = map[Component]*seen{}
		}
		if r.seen[s.Component] == nil {
			r.seen[s.Component] = &seen{}
		}
		wt := &watch{list: w.listers[s.Component], stall: w.cfg.Timing.StallTimeout, evidence: s.Evidence,
			stalls: w.cfg.Timing.StallTimeout < w.cfg.Timing.HardTimeout,
			seen:   r.seen[s.Component], start: realStart, busy: Busy{Stage: s.Name, Component: s.Component}}
		publish := func(b Busy) { w.update(r.Handle, func(p *Progress) { p.Busy = &b }) }
		wg.Go(func() { wt.run(wctx, lim.expected, publish, stop) })
	}
	err := s.Do(sctx, r)
	took := w.cfg.Now().Sub(start)
	stopWatch() // a list in flight ends at once
	wg.Wait()

	sr := StageResult{Name: s.Name, Component: s.Component, Status: StatusPass, Duration: took}
	switch {
	case err == nil:
	case isSkipped(err):
		sr.Status, sr.Err = StatusSkip, err
		var hb *HeldBackError
		sr.HeldBack = errors.As(err, &hb)
	default:
		sr.Status, sr.Err, sr.Reason = StatusFail, explain(sctx, lim, err), Classify(err)
		if cause := context.Cause(sctx); sctx.Err() != nil && sr.Reason != ReasonDestroyStuck {
			sr.Reason = Classify(cause) // the limit, a stall or a shutdown, whatever the call made of it
		}
	}
	return sr
}

// explain says plainly which limit a stage ran out of, or that it was cancelled.
func explain(sctx context.Context, lim limits, err error) error {
	cause := context.Cause(sctx)
	var stall *StallError
	switch {
	case sctx.Err() == nil:
		return err
	case errors.As(cause, &stall):
		if errors.Is(err, errDestroyStuck) || strings.Contains(err.Error(), stall.Error()) {
			return err // it says the stall itself
		}
		return fmt.Errorf("%v: %w", stall, err)
	case errors.Is(cause, context.DeadlineExceeded):
		return fmt.Errorf("timed out after %s (the hard limit): %w", lim.limit, err)
	case errors.Is(cause, context.Canceled):
		return fmt.Errorf("cancelled: %w", err)
	}
	return err
}

// interruptCheckDelay is how long the workload waits before it looks a second time whether its
// volume or container vanished: a garbage collector's destroys land within about 0.1 s of its
// list, sometimes just after the failure they caused.
const interruptCheckDelay = 250 * time.Millisecond

// interrupted reports why the run's failure at stage failed was caused by its own volume or
// container vanishing without its destroy (Concourse's garbage collector destroys every handle
// the web node does not know), or "" when they are both still there or that cannot be told.
func (w *Workload) interrupted(ctx context.Context, r *RunState, failed string) string {
	if r.Volume.Handle == "" || ctx.Err() != nil {
		return ""
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.Timing.CleanupTimeout)
	defer cancel()
	for attempt := 0; attempt < 2; attempt++ {
		if attempt > 0 {
			select {
			case <-cctx.Done():
				return ""
			case <-time.After(interruptCheckDelay):
			}
		}
		if _, err := w.cfg.Baggageclaim.Volume(cctx, r.Handle); errors.Is(err, baggageclaim.ErrNotFound) {
			return fmt.Sprintf("volume %s vanished during %s, without deepprobe's destroy", r.Handle, failed)
		}
		if r.ContainerCreated {
			_, err := w.cfg.Garden.Properties(cctx, r.Handle)
			switch {
			case errors.Is(err, garden.ErrNotFound):
				return fmt.Sprintf("container %s vanished during %s, without deepprobe's destroy", r.Handle, failed)
			case errors.Is(err, garden.ErrBeingDestroyed):
				return fmt.Sprintf("container %s was being destroyed during %s, not by deepprobe", r.Handle, failed)
			}
		}
	}
	return ""
}
