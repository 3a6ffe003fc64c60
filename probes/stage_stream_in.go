package probes

import (
	"context"

	"github.com/deepprobe/deepprobe/probes/rootfs"
)

// streamInCalls is the Baggageclaim call volume.stream_in makes.
type streamInCalls interface {
	StreamIn(ctx context.Context, handle string, tarball []byte) error
}

// StageVolumeStreamIn is the name of the stream-in stage.
const StageVolumeStreamIn = "volume.stream_in"

// streamInStage writes real bytes on the worker's disk: a tiny tar with etc/ and an executable
// that exits 0 (see package rootfs), for cfg.Arch (default: deepprobe's own, the worker's),
// extracted into the volume. It also makes the empty volume a valid rootfs on houdini, which
// needs etc/. It prepares the tarball once.
func streamInStage(cfg WorkloadConfig) Stage {
	var b streamInCalls = cfg.Baggageclaim
	var tarball []byte
	return Stage{
		Name:      StageVolumeStreamIn,
		Component: Baggageclaim,
		Do: func(ctx context.Context, r *RunState) error {
			return b.StreamIn(ctx, r.Handle, tarball)
		},
		Prepare: func() error {
			var err error
			if tarball, err = rootfs.Tar(cfg.Arch); err != nil {
				return settingErr(SettingSkipStages, "%v: skip %s and %s on this worker", err, StageVolumeStreamIn, StageProcessRun)
			}
			return nil
		},
		Needs:    []string{StageVolumeCreate},
		Optional: true,
	}
}

// ProcessPath is where the streamed-in executable is inside the container.
const ProcessPath = "/" + rootfs.ExecutableName
