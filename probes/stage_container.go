package probes

import (
	"context"
	"errors"

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
				if err := g.Destroy(ctx, r.Handle); err != nil && !errors.Is(err, garden.ErrGone) {
					return err
				}
				return nil
			},
		},
		Needs:    []string{StageVolumeCreate},
		Optional: true,
	}
}
