package probes

import (
	"context"
	"errors"
	"time"

	"github.com/deepprobe/deepprobe/probes/baggageclaim"
)

// Component is the worker daemon a stage exercises.
type Component string

// Components.
const (
	Garden       Component = "garden"
	Baggageclaim Component = "baggageclaim"
)

// Stage is one step of the workload: a value, so that the workload is an ordered list of them.
// Adding a stage is one file that returns a Stage, one line in the stage list (stages), and the
// client call it makes; its reported name and place, whether it may be skipped, the timing
// defaults, the flag help, the metrics and the status page's legend all derive from the list.
type Stage struct {
	// Name is how the stage is reported ("volume.create").
	Name string
	// Component is the daemon it exercises: the answer's garden and baggageclaim objects are
	// summed up from it, and a slow stage watches that daemon's list for others' progress.
	Component Component
	// Do performs the stage. ctx carries the stage's hard deadline, and is cancelled with a
	// *StallError when the worker shows no progress while the stage is slow. A Do that
	// returns a Skipped error did not run for a reason that is not a failure.
	Do func(ctx context.Context, r *RunState) error
	// Expect, when not zero, is how long Do is expected to take on its own, within the
	// workload's shared expected time; past it the stage is slow (see Timing).
	Expect time.Duration
	// Evidence is the kind of others' work that shows the worker busy, not wedged, while the
	// stage is slow: creates for a create, destroys for a destroy (undos default to destroys),
	// either for the rest.
	Evidence Evidence
	// Undo, when set, is the stage that undoes Do. It runs after every forward stage, in
	// reverse order, whenever Do was attempted (a create that failed or timed out may still
	// have made its resource), under its own deadlines.
	Undo *Stage
	// Needs names the stages whose work this one uses: a stage can only be skipped when every
	// stage that needs it is skipped too, and it runs only when they passed.
	Needs []string
	// Optional stages may be dropped by configuration (WorkloadConfig.Skip).
	Optional bool
	// Makes names what Do creates on the worker ("volume", "container"), if anything: such a
	// stage must have an Undo.
	Makes string
	// Prepare, when set, readies the stage once, before any run and only when it is not
	// skipped (the stream-in stage builds its tarball); its error names the setting to change.
	Prepare func() error
}

// RunState is what one workload's stages share: the state of one run.
type RunState struct {
	// Handle names the volume and the container.
	Handle string
	// Properties mark what the run creates as deepprobe's.
	Properties map[string]string
	// Volume is the volume volume.create made (its Handle is empty until then).
	Volume baggageclaim.Volume
	// ContainerCreated is true once Garden answered the container's create.
	ContainerCreated bool
	// ContainerLeft is why the container may still exist after its destroy, or after a create
	// that timed out (its rootfs volume is then kept for the janitor rather than destroyed
	// under it); empty otherwise.
	ContainerLeft string

	// seen is what the run's slow stages saw of each component's list.
	seen map[Component]*seen
}

// skipError is a stage that did not run, for a reason that is not a failure.
type skipError struct{ err error }

func (e *skipError) Error() string { return e.err.Error() }
func (e *skipError) Unwrap() error { return e.err }

// Skipped returns an error that makes the stage's status skip, with err as the reason.
func Skipped(err error) error { return &skipError{err: err} }

// isSkipped reports whether err came from Skipped.
func isSkipped(err error) bool {
	var s *skipError
	return errors.As(err, &s)
}
