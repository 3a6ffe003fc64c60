package probes

import (
	"context"
	"errors"
	"fmt"

	"github.com/deepprobe/deepprobe/probes/baggageclaim"
)

// volumeCalls are the Baggageclaim calls volume.create and volume.destroy make.
type volumeCalls interface {
	CreateVolume(ctx context.Context, req baggageclaim.Request) (baggageclaim.Volume, error)
	Destroy(ctx context.Context, handle string) error
}

// Stage names of the volume's life.
const (
	StageVolumeCreate  = "volume.create"
	StageVolumeDestroy = "volume.destroy"
)

// volumeStage creates the run's volume: empty, or imported from cfg.RootFSImportPath. Its undo
// destroys it; an unknown volume is already gone, which passes. When the container on it may
// still exist (its destroy failed), the volume is kept for the janitor rather than destroyed
// under a live container.
func volumeStage(cfg WorkloadConfig) Stage {
	var b volumeCalls = cfg.Baggageclaim
	return Stage{
		Name:      StageVolumeCreate,
		Component: Baggageclaim,
		Makes:     "volume",
		Evidence:  EvidenceCreates,
		Do: func(ctx context.Context, r *RunState) error {
			strategy := baggageclaim.EmptyStrategy()
			if cfg.RootFSImportPath != "" {
				strategy = baggageclaim.ImportStrategy(cfg.RootFSImportPath)
			}
			var err error
			r.Volume, err = b.CreateVolume(ctx, baggageclaim.Request{Handle: r.Handle, Strategy: strategy, Properties: r.Properties})
			return err
		},
		Undo: &Stage{
			Name:      StageVolumeDestroy,
			Component: Baggageclaim,
			Do: func(ctx context.Context, r *RunState) error {
				if r.ContainerLeft != "" {
					return Skipped(fmt.Errorf("kept: the container on it may still exist (%s); the janitor reaps both", r.ContainerLeft))
				}
				return destroyVolume(ctx, b, r.Handle)
			},
		},
	}
}

// destroyVolume destroys a volume; an unknown one is already gone, which passes.
func destroyVolume(ctx context.Context, b volumeCalls, handle string) error {
	if err := b.Destroy(ctx, handle); err != nil && !errors.Is(err, baggageclaim.ErrGone) {
		return err
	}
	return nil
}
