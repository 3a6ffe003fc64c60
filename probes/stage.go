package probes

import (
	"context"
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
// Adding a stage is one file that returns a Stage, plus the client call it makes.
type Stage struct {
	// Name is how the stage is reported ("volume.create").
	Name string
	// Component is the daemon it exercises; the answer's garden and baggageclaim objects are
	// summed up from it.
	Component Component
	// Do performs the stage. ctx carries the stage's deadline.
	Do func(ctx context.Context, r *Run) error
	// Budget, when not zero, bounds Do on its own, within the workload's shared deadline.
	Budget time.Duration
	// Undo, when set, is the stage that undoes Do. It runs after every forward stage, in
	// reverse order, whenever Do was attempted (a create that failed or timed out may still
	// have made its resource), under its own cleanup deadline.
	Undo *Stage
	// Needs names the stages whose work this one uses: a stage can only be skipped when every
	// stage that needs it is skipped too.
	Needs []string
	// Optional stages may be dropped by configuration (WorkloadConfig.Skip).
	Optional bool
}

// Run is what one workload's stages share.
type Run struct {
	// Handle names the volume and the container.
	Handle string
	// Properties mark what the run creates as deepprobe's.
	Properties map[string]string
	// Volume is the volume volume.create made.
	Volume baggageclaim.Volume
}
