package probes

import (
	"context"

	"github.com/deepprobe/deepprobe/probes/baggageclaim"
)

// Stage names of the copy-on-write child's life.
const (
	StageVolumeCOW        = "volume.cow"
	StageVolumeCOWDestroy = "volume.cow_destroy"
)

// COWSuffix ends the handle of the run's copy-on-write child: <handle>-cow.
const COWSuffix = "-cow"

// cowStage makes a copy-on-write child of the run's volume, the driver path every build input,
// image and cache takes in Concourse (overlay, btrfs or naive), and the one that fails when
// btrfs goes read-only or overlay runs out of room. Its path must be its own volume's directory,
// as for the parent (the client checks it). Its undo destroys it, before the parent; an unknown
// child is already gone, which passes.
func cowStage(cfg WorkloadConfig) Stage {
	var b volumeCalls = cfg.Baggageclaim // the calls of volume.create and its undo
	return Stage{
		Name:      StageVolumeCOW,
		Component: Baggageclaim,
		Makes:     "volume",
		Evidence:  EvidenceCreates,
		Do: func(ctx context.Context, r *RunState) error {
			_, err := b.CreateVolume(ctx, baggageclaim.Request{Handle: r.Handle + COWSuffix, Strategy: baggageclaim.COWStrategy(r.Handle), Properties: r.Properties})
			return err
		},
		Undo: &Stage{
			Name:      StageVolumeCOWDestroy,
			Component: Baggageclaim,
			Do: func(ctx context.Context, r *RunState) error {
				return destroyVolume(ctx, b, r.Handle+COWSuffix)
			},
		},
		Needs:    []string{StageVolumeCreate},
		Optional: true,
	}
}
