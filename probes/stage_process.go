package probes

import (
	"context"

	"github.com/deepprobe/deepprobe/probes/garden"
)

// StageProcessRun is the name of the process stage.
const StageProcessRun = "process.run"

// processStage runs the streamed-in executable in the container as root (by uid, so no
// /etc/passwd is needed) and requires exit status 0. It has its own expected time
// (ProcessTimeout) inside the workload's.
func processStage(cfg WorkloadConfig) Stage {
	return Stage{
		Name:      StageProcessRun,
		Component: Garden,
		Do: func(ctx context.Context, r *RunState) error {
			return cfg.Garden.Run(ctx, r.Handle, garden.ProcessSpec{Path: ProcessPath, User: "0:0"})
		},
		Expect:   cfg.Timing.ProcessTimeout,
		Needs:    []string{StageVolumeStreamIn, StageContainerCreate},
		Optional: true,
	}
}
