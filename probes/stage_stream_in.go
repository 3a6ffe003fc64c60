package probes

import (
	"context"

	"github.com/deepprobe/deepprobe/probes/rootfs"
)

// StageVolumeStreamIn is the name of the stream-in stage.
const StageVolumeStreamIn = "volume.stream_in"

// streamInStage writes real bytes on the worker's disk: a tiny tar with etc/ and an executable
// that exits 0 (see package rootfs), extracted into the volume. It also makes the empty volume
// a valid rootfs on houdini, which needs etc/.
func streamInStage(cfg WorkloadConfig, tarball []byte) Stage {
	return Stage{
		Name:      StageVolumeStreamIn,
		Component: Baggageclaim,
		Do: func(ctx context.Context, r *RunState) error {
			return cfg.Baggageclaim.StreamIn(ctx, r.Handle, tarball)
		},
		Needs:    []string{StageVolumeCreate},
		Optional: true,
	}
}

// ProcessPath is where the streamed-in executable is inside the container.
const ProcessPath = "/" + rootfs.ExecutableName
