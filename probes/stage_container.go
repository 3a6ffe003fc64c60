package probes

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/probes/marker"
)

// containerCalls are the Garden calls container.create and container.destroy make: the create,
// its grace time, a list to count the worker's containers, properties to see it gone, destroy.
type containerCalls interface {
	Create(ctx context.Context, spec garden.Spec) (string, error)
	SetGraceTime(ctx context.Context, handle string, graceTime time.Duration) error
	List(ctx context.Context, properties map[string]string) ([]string, error)
	Properties(ctx context.Context, handle string) (map[string]string, error)
	Destroy(ctx context.Context, handle string) error
}

// Stage names of the container's life.
const (
	StageContainerCreate  = "container.create"
	StageContainerDestroy = "container.destroy"
)

// GraceTimeProperty is the container property that Concourse's containerd runtime reads as the
// container's grace time (nanoseconds, decimal). Sent at create, it arms Garden's reaper from
// the first instant (without it, a PUT racing the reaper's two reads can start a zero timer).
const GraceTimeProperty = "garden.grace-time"

// containerStage creates a container with the run's handle on raw://<volume path>, with its
// grace time in the spec (Guardian honours it), as the property garden.grace-time (Concourse's
// containerd runtime reads only that) and then by PUT grace_time (houdini learns it only so),
// so that Garden reaps it even if deepprobe dies. It first leaves the worker's last container
// slots to builds (see containerLimit). Its undo destroys it; Garden's not-found answers pass,
// and its concurrent-destroy answer (its reaper got there first) passes once the container is
// gone.
func containerStage(cfg WorkloadConfig, limit *containerLimit) Stage {
	var g containerCalls = cfg.Garden
	grace := cfg.Timing.GraceTime
	return Stage{
		Name:      StageContainerCreate,
		Component: Garden,
		Makes:     "container",
		Evidence:  EvidenceCreates,
		Do: func(ctx context.Context, r *RunState) error {
			if err := limit.holdBack(ctx, g, cfg.Now()); err != nil {
				return err
			}
			props := make(map[string]string, len(r.Properties)+1)
			for k, v := range r.Properties {
				props[k] = v
			}
			props[GraceTimeProperty] = strconv.FormatInt(int64(grace), 10)
			spec := garden.Spec{Handle: r.Handle, GraceTime: grace, RootFSPath: "raw://" + r.Volume.Path, Properties: props}
			if ctx.Err() != nil { // spent in the hold-back's list: the create is never sent
				return fmt.Errorf("garden create not sent: %w", context.Cause(ctx))
			}
			if _, err := g.Create(ctx, spec); err != nil {
				if errors.Is(err, garden.ErrMaxContainers) {
					return limit.learn(ctx, g, cfg.Now(), err)
				}
				if cause := context.Cause(ctx); errors.Is(cause, context.DeadlineExceeded) || errors.Is(cause, errStalled) {
					// A create given up on a slow or wedged worker is still queued there: Garden
					// may finish it after its destroy answered "unknown". (At shutdown, rather no
					// residue: the volume is destroyed, as the run's last act.)
					r.ContainerLeft = "its create was given up before Garden answered"
				}
				return err
			}
			r.ContainerCreated = true
			return g.SetGraceTime(ctx, r.Handle, grace)
		},
		Undo: &Stage{
			Name:      StageContainerDestroy,
			Component: Garden,
			Do: func(ctx context.Context, r *RunState) error {
				removed, err := destroyContainer(ctx, g, r.Handle)
				switch {
				case err != nil:
					r.ContainerLeft = err.Error()
				case removed: // whatever its create said, Garden had it and has removed it now
					r.ContainerLeft = ""
				}
				return err
			},
		},
		Needs:    []string{StageVolumeCreate},
		Optional: true,
	}
}

// errDestroyStuck is matched by the error of a destroy whose container Garden kept "being
// destroyed" past the stage's time.
var errDestroyStuck = errors.New("destroy stuck")

// destroyContainer destroys the container; removed says Garden had it and removed it now. After
// Garden's concurrent-destroy answer it waits (within ctx) until Garden has removed it, since
// the volume about to be destroyed is its rootfs: a container still there when ctx ends is a
// failure, errDestroyStuck.
func destroyContainer(ctx context.Context, g containerCalls, handle string) (removed bool, err error) {
	err = g.Destroy(ctx, handle)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, garden.ErrNotFound):
		return false, nil
	case !errors.Is(err, garden.ErrBeingDestroyed):
		return false, err
	}
	wait := 50 * time.Millisecond
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("%w: Garden still says container %s is being destroyed: %w", errDestroyStuck, handle, context.Cause(ctx))
		case <-t.C:
		}
		wait = min(2*wait, time.Second) // a struggling Garden is asked less and less often
		t.Reset(wait)
		if _, err := g.Properties(ctx, handle); errors.Is(err, garden.ErrNotFound) {
			return true, nil
		}
		// Ask again: a destroy that Garden's reaper began may have failed and left it.
		if err := g.Destroy(ctx, handle); err == nil || errors.Is(err, garden.ErrNotFound) {
			return true, nil
		}
	}
}

// containerLimit is what the workload knows of the worker's container limit: the operator's
// (--max-containers), or one learnt when a create met it. Garden's containerd runtime cannot
// be asked (/capacity is not implemented).
type containerLimit struct {
	configured, reserve int

	mu       sync.Mutex
	learnt   int
	learntAt time.Time
}

// learntLimitTTL is how long a learnt limit holds: an operator may raise the limit, and a held
// back workload never meets the limit again to learn it anew.
const learntLimitTTL = 10 * time.Minute

// known returns the limit to respect, if any.
func (l *containerLimit) known(now time.Time) int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.learnt > 0 && now.Sub(l.learntAt) < learntLimitTTL && (l.configured == 0 || l.learnt < l.configured) {
		return l.learnt
	}
	return l.configured
}

// HeldBackError is why the container stages did not run: the worker had no more free container
// slots than the reserve left to builds.
type HeldBackError struct {
	InUse, Limit, Reserve int
}

// Error implements error.
func (e *HeldBackError) Error() string {
	return fmt.Sprintf("held back to leave the last container slots to builds: %d of %d containers in use, reserve %d", e.InUse, e.Limit, e.Reserve)
}

// OwnLeftoversError is a worker at its container limit with deepprobe's own leftovers among
// its containers: full of what deepprobe failed to destroy, which is not "saturated".
type OwnLeftoversError struct {
	Leftovers, InUse int
	Err              error
}

// Error implements error.
func (e *OwnLeftoversError) Error() string {
	return fmt.Sprintf("%v (%d of the %d containers are deepprobe's own leftovers)", e.Err, e.Leftovers, e.InUse)
}

// Unwrap returns the create's error.
func (e *OwnLeftoversError) Unwrap() error { return e.Err }

// holdBack returns a Skipped *HeldBackError when the limit is known and the worker's
// containers leave no more free slots than the reserve (one list call); nil otherwise, also
// when the list fails (the create then says what is wrong).
func (l *containerLimit) holdBack(ctx context.Context, g containerCalls, now time.Time) error {
	limit := l.known(now)
	if limit == 0 {
		return nil
	}
	handles, err := g.List(ctx, nil)
	if err != nil {
		return nil
	}
	free := limit - len(handles)
	if free > l.reserve {
		return nil
	}
	if leftovers := countLeftovers(handles); free+leftovers > l.reserve {
		// Full of what deepprobe failed to destroy: not saturated, a failure.
		return &OwnLeftoversError{Leftovers: leftovers, InUse: len(handles),
			Err: fmt.Errorf("%w: %d of %d containers in use, reserve %d", garden.ErrMaxContainers, len(handles), limit, l.reserve)}
	}
	return Skipped(&HeldBackError{InUse: len(handles), Limit: limit, Reserve: l.reserve})
}

// countLeftovers counts deepprobe's own containers among handles.
func countLeftovers(handles []string) int {
	n := 0
	for _, h := range handles {
		if marker.IsProbeHandle(h) {
			n++
		}
	}
	return n
}

// learn records the limit a create just met, from the count of containers now (one list
// call), and says whether deepprobe's own leftovers take part of it.
func (l *containerLimit) learn(ctx context.Context, g containerCalls, now time.Time, createErr error) error {
	handles, err := g.List(ctx, nil)
	if err != nil || len(handles) == 0 {
		return createErr
	}
	l.mu.Lock()
	l.learnt, l.learntAt = len(handles), now
	l.mu.Unlock()
	if leftovers := countLeftovers(handles); leftovers > 0 {
		return &OwnLeftoversError{Leftovers: leftovers, InUse: len(handles), Err: createErr}
	}
	return createErr
}
