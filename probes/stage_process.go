package probes

import (
	"context"

	"github.com/deepprobe/deepprobe/probes/garden"
)

// processCalls is the Garden call process.run makes.
type processCalls interface {
	Run(ctx context.Context, handle string, spec garden.ProcessSpec) error
}

// StageProcessRun is the name of the process stage.
const StageProcessRun = "process.run"

// processStage runs the streamed-in executable in the container as root (by uid, so no
// /etc/passwd is needed) and requires exit status 0. It has its own expected time
// (ProcessTimeout) inside the workload's.
func processStage(cfg WorkloadConfig) Stage {
	var g processCalls = cfg.Garden
	return Stage{
		Name:      StageProcessRun,
		Component: Garden,
		Do: func(ctx context.Context, r *RunState) error {
			return g.Run(ctx, r.Handle, garden.ProcessSpec{Path: ProcessPath, User: "0:0"})
		},
		Expect:   cfg.Timing.ProcessTimeout,
		Needs:    []string{StageVolumeStreamIn, StageContainerCreate},
		Optional: true,
	}
}
