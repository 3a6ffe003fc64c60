package probes

import (
	"context"
	"errors"
	"time"

	"github.com/deepprobe/deepprobe/probes/garden"
)

// Stage names of the container's life.
const (
	StageContainerCreate  = "container.create"
	StageContainerDestroy = "container.destroy"
)

// containerStage creates a container with the run's handle on raw://<volume path>, with a
// grace time in the spec (Guardian honours it) and then armed with PUT grace_time (Concourse's
// containerd runtime and houdini only learn it so), so that Garden reaps it even if deepprobe
// dies. Its undo destroys it; Garden's not-found answers and its concurrent-destroy answer
// (its reaper got there first) mean already gone, which passes.
func containerStage(cfg WorkloadConfig) Stage {
	g := cfg.Garden
	return Stage{
		Name:      StageContainerCreate,
		Component: Garden,
		Do: func(ctx context.Context, r *Run) error {
			spec := garden.Spec{Handle: r.Handle, GraceTime: cfg.GraceTime, RootFSPath: "raw://" + r.Volume.Path, Properties: r.Properties}
			if _, err := g.Create(ctx, spec); err != nil {
				return err
			}
			return g.SetGraceTime(ctx, r.Handle, cfg.GraceTime)
		},
		Undo: &Stage{
			Name:      StageContainerDestroy,
			Component: Garden,
			Do: func(ctx context.Context, r *Run) error {
				err := g.Destroy(ctx, r.Handle)
				if errors.Is(err, garden.ErrBeingDestroyed) {
					// Garden's own reaper is removing it: wait for that (within this stage's
					// deadline), since the volume about to be destroyed is its rootfs.
					waitGone(ctx, g, r.Handle)
					return nil
				}
				if err != nil && !errors.Is(err, garden.ErrGone) {
					return err
				}
				return nil
			},
		},
		Needs:    []string{StageVolumeCreate},
		Optional: true,
	}
}

// waitGone polls the container until Garden says it is not found, or ctx ends.
func waitGone(ctx context.Context, g Containers, handle string) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := g.Properties(ctx, handle); errors.Is(err, garden.ErrNotFound) || ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
