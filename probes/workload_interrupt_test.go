package probes_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/probes"
	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/probes/marker"
	"github.com/deepprobe/deepprobe/workersim/faults"
	"github.com/deepprobe/deepprobe/workersim/gardensim"
	"github.com/deepprobe/deepprobe/workersim/workertest"
)

// whenRunning calls f once the workload reports stage, from another goroutine, and returns a
// channel closed when f has returned.
func whenRunning(t *testing.T, wl *probes.Workload, stage string, f func(handle string)) chan struct{} {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if p, ok := wl.Running(); ok && p.Stage == stage {
				f(p.Partial.Handle)
				return
			}
			time.Sleep(time.Millisecond) // the run is inside an HTTP call on another goroutine
		}
	}()
	return done
}

// TestWorkloadInterrupted: a volume or container destroyed under the workload by someone else
// (Concourse's garbage collector) makes an interrupted result, whatever error the stage saw.
func TestWorkloadInterrupted(t *testing.T) {
	tests := []struct {
		name      string
		slow      func(w *workertest.Worker) error
		stage     string
		destroy   func(g *garden.Client, b *baggageclaim.Client, handle string) error
		wantStage string
		wantWhy   string
	}{
		{
			name: "volume destroyed during stream-in",
			slow: func(w *workertest.Worker) error {
				return w.Baggageclaim.Faults.Set(baggageclaim.RouteStreamIn, faults.Fault{Latency: faults.Duration(300 * time.Millisecond)})
			},
			stage: probes.StageVolumeStreamIn,
			destroy: func(_ *garden.Client, b *baggageclaim.Client, h string) error {
				return b.Destroy(context.Background(), h)
			},
			wantStage: probes.StageVolumeStreamIn, wantWhy: "volume",
		},
		{
			name: "container destroyed before its process runs",
			slow: func(w *workertest.Worker) error {
				return w.Garden.Faults.Set(garden.RouteRun, faults.Fault{Latency: faults.Duration(300 * time.Millisecond)})
			},
			stage: probes.StageProcessRun,
			destroy: func(g *garden.Client, _ *baggageclaim.Client, h string) error {
				return g.Destroy(context.Background(), h)
			},
			wantStage: probes.StageProcessRun, wantWhy: "container",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := workertest.Start(t, gardensim.Config{})
			w.NeedSimulators(t)
			if err := tt.slow(w); err != nil {
				t.Fatal(err)
			}
			wl, g, b := newWorkload(t, w, probes.WorkloadConfig{})
			var destroyErr error
			done := whenRunning(t, wl, tt.stage, func(h string) { destroyErr = tt.destroy(g, b, h) })
			res := wl.Run(context.Background())
			<-done
			if destroyErr != nil {
				t.Fatal(destroyErr)
			}
			f, failed := res.FirstFailure()
			if !failed || f.Name != tt.wantStage || f.Reason != probes.ReasonInterrupted || !strings.Contains(res.Interrupted, tt.wantWhy) {
				t.Fatalf("result %+v (interrupted %q)", res.Stages, res.Interrupted)
			}
			assertNoResidue(t, g, b, res.Handle)
		})
	}
}

// TestWorkloadRealFailureIsNotInterrupted: a failure with both resources in place is a failure.
func TestWorkloadRealFailureIsNotInterrupted(t *testing.T) {
	w := workertest.Start(t, gardensim.Config{})
	w.NeedSimulators(t)
	if err := w.Garden.SetBehaviour(gardensim.Behaviour{Process: gardensim.ProcessExecFailed}); err != nil {
		t.Fatal(err)
	}
	wl, _, _ := newWorkload(t, w, probes.WorkloadConfig{})
	res := wl.Run(context.Background())
	if f, _ := res.FirstFailure(); f.Reason != probes.ReasonExecFailed || res.Interrupted != "" {
		t.Fatalf("result %+v, interrupted %q", res.Stages, res.Interrupted)
	}
}

// TestWorkloadDestroyStuck: a container Garden keeps "being destroyed" is a failure,
// destroy_stuck, and its rootfs volume is kept rather than destroyed under it.
func TestWorkloadDestroyStuck(t *testing.T) {
	w := workertest.Start(t, gardensim.Config{})
	w.NeedSimulators(t)
	stuck := faults.Fault{Status: 500, Body: `{"Type":"","Message":"container already being destroyed","Handle":"","ProcessID":"","Binary":""}`}
	if err := w.Garden.Faults.Set(garden.RouteDestroy, stuck); err != nil {
		t.Fatal(err)
	}
	wl, _, _ := newWorkload(t, w, probes.WorkloadConfig{Timing: probes.Timing{CleanupTimeout: 100 * time.Millisecond, StallTimeout: 2 * time.Second}})
	res := wl.Run(context.Background())
	want := "volume.create=pass volume.stream_in=pass volume.cow=pass container.create=pass process.run=pass container.destroy=fail volume.cow_destroy=pass volume.destroy=skip"
	if got := stageStatuses(res); got != want {
		t.Fatalf("stages %s, want %s (%+v)", got, want, res.Stages)
	}
	if f, _ := res.FirstFailure(); f.Reason != probes.ReasonDestroyStuck || !strings.Contains(f.Err.Error(), "still says container") {
		t.Fatalf("failure %+v", f)
	}
	if hs := w.Baggageclaim.Handles(); len(hs) != 1 || hs[0] != res.Handle {
		t.Fatalf("volumes %v: want the run's kept", hs)
	}
}

// TestWorkloadLeavesTheLastSlotsToBuilds: with the worker's limit known and no more free slots
// than the reserve, the container stages are held back (saturated, not failed); a limit met
// by a create is learnt, and the next workload holds back.
func TestWorkloadLeavesTheLastSlotsToBuilds(t *testing.T) {
	w := workertest.Start(t, gardensim.Config{MaxContainers: 2})
	w.NeedSimulators(t)
	g, b := w.Clients(t)
	v, err := b.CreateVolume(context.Background(), baggageclaim.Request{Handle: "build-vol", Strategy: baggageclaim.EmptyStrategy()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Create(context.Background(), garden.Spec{Handle: "build-1", RootFSPath: "raw://" + v.Path}); err != nil {
		t.Fatal(err)
	}
	heldBack := "volume.create=pass volume.stream_in=pass volume.cow=pass container.create=skip process.run=skip container.destroy=skip volume.cow_destroy=pass volume.destroy=pass"

	t.Run("configured limit", func(t *testing.T) {
		wl, _, _ := newWorkload(t, w, probes.WorkloadConfig{MaxContainers: 2})
		res := wl.Run(context.Background())
		if got := stageStatuses(res); got != heldBack || !res.Saturated() || !res.Passed() || !strings.Contains(res.HeldBack, "1 of 2 containers in use, reserve 1") {
			t.Fatalf("stages %s, held back %q", got, res.HeldBack)
		}
		if n := w.Garden.Faults.Calls()[garden.RouteCreate]; n != 1 { // the build's only
			t.Fatalf("%d creates", n)
		}
	})
	t.Run("configured limit, the free slots taken by deepprobe's own leftovers", func(t *testing.T) {
		if _, err := g.Create(context.Background(), garden.Spec{Handle: marker.HandlePrefix + "leaked", RootFSPath: "raw://" + v.Path}); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = g.Destroy(context.Background(), marker.HandlePrefix+"leaked") }()
		wl, _, _ := newWorkload(t, w, probes.WorkloadConfig{MaxContainers: 3})
		res := wl.Run(context.Background())
		var own *probes.OwnLeftoversError
		if f, _ := res.FirstFailure(); f.Name != probes.StageContainerCreate || f.Reason != probes.ReasonMaxContainers || res.Saturated() || !errors.As(f.Err, &own) {
			t.Fatalf("result %+v", res.Stages)
		}
	})
	t.Run("learnt limit", func(t *testing.T) {
		if _, err := g.Create(context.Background(), garden.Spec{Handle: "build-2", RootFSPath: "raw://" + v.Path}); err != nil {
			t.Fatal(err)
		}
		wl, _, _ := newWorkload(t, w, probes.WorkloadConfig{})
		res := wl.Run(context.Background())
		if f, _ := res.FirstFailure(); f.Reason != probes.ReasonMaxContainers || !res.Saturated() {
			t.Fatalf("first workload: %+v", res.Stages)
		}
		if err := g.Destroy(context.Background(), "build-2"); err != nil {
			t.Fatal(err)
		}
		res = wl.Run(context.Background())
		if got := stageStatuses(res); got != heldBack {
			t.Fatalf("second workload: stages %s", got)
		}
	})
	t.Run("full of deepprobe's own leftovers is not saturated", func(t *testing.T) {
		if _, err := g.Create(context.Background(), garden.Spec{Handle: marker.HandlePrefix + "leftover", RootFSPath: "raw://" + v.Path}); err != nil {
			t.Fatal(err)
		}
		wl, _, _ := newWorkload(t, w, probes.WorkloadConfig{})
		res := wl.Run(context.Background())
		var own *probes.OwnLeftoversError
		if f, _ := res.FirstFailure(); f.Reason != probes.ReasonMaxContainers || res.Saturated() || !errors.As(f.Err, &own) {
			t.Fatalf("result %+v", res.Stages)
		}
	})
}

// TestWorkloadStallIsNotAnInterruption: a wedge beside a garbage collector (which destroys the
// run's volume while its create hangs) is still a stall: a vanishing never hides a wedge.
func TestWorkloadStallIsNotAnInterruption(t *testing.T) {
	w := workertest.Start(t, gardensim.Config{})
	w.NeedSimulators(t)
	if err := w.Garden.Faults.Set(garden.RouteCreate, faults.Fault{Hang: true}); err != nil {
		t.Fatal(err)
	}
	wl, _, b := newWorkload(t, w, probes.WorkloadConfig{Timing: probes.Timing{ProbeTimeout: 100 * time.Millisecond, StallTimeout: 2 * time.Second}})
	var destroyErr error
	done := whenRunning(t, wl, probes.StageContainerCreate, func(h string) { destroyErr = b.Destroy(context.Background(), h) })
	res := wl.Run(context.Background())
	<-done
	if destroyErr != nil {
		t.Fatal(destroyErr)
	}
	if f, _ := res.FirstFailure(); f.Reason != probes.ReasonStalled || res.Interrupted != "" {
		t.Fatalf("failure %+v, interrupted %q", f, res.Interrupted)
	}
}

// TestWorkloadShutdownCutsASlowUndo: a shutdown during a destroy that waits on a worker gives
// that destroy its cleanup timeout and no more, whatever the stall and hard limits.
func TestWorkloadShutdownCutsASlowUndo(t *testing.T) {
	w := workertest.Start(t, gardensim.Config{})
	w.NeedSimulators(t)
	if err := w.Garden.Faults.Set(garden.RouteDestroy, faults.Fault{Hang: true}); err != nil {
		t.Fatal(err)
	}
	const cleanup = 200 * time.Millisecond
	wl, _, _ := newWorkload(t, w, probes.WorkloadConfig{Timing: probes.Timing{CleanupTimeout: cleanup, StallTimeout: 10 * time.Second}})
	ctx, cancel := context.WithCancel(context.Background())
	var cancelled time.Time
	done := whenRunning(t, wl, probes.StageContainerDestroy, func(string) {
		time.Sleep(300 * time.Millisecond) // past the destroy's expected time: it is watching
		cancelled = time.Now()
		cancel()
	})
	res := wl.Run(ctx)
	<-done
	if took := time.Since(cancelled); took > 2*cleanup+time.Second {
		t.Errorf("the run ended %s after the shutdown, want within its cleanup timeouts", took)
	}
	var destroy probes.StageResult
	for _, s := range res.Stages {
		if s.Name == probes.StageContainerDestroy {
			destroy = s
		}
	}
	if destroy.Status != probes.StatusFail || destroy.Reason != probes.ReasonCancelled {
		t.Fatalf("container.destroy %+v", destroy)
	}
}

// TestWorkloadCreateNeverSentKeepsNothing: when the hold-back's list of Garden's containers
// uses the stage's time up, the create is never sent, so nothing can appear later: the volume
// is destroyed, not kept.
func TestWorkloadCreateNeverSentKeepsNothing(t *testing.T) {
	w := workertest.Start(t, gardensim.Config{})
	w.NeedSimulators(t)
	if err := w.Garden.Faults.Set(garden.RouteList, faults.Fault{Hang: true}); err != nil {
		t.Fatal(err)
	}
	wl, g, b := newWorkload(t, w, probes.WorkloadConfig{MaxContainers: 10,
		Timing: probes.Timing{ProbeTimeout: 100 * time.Millisecond, CleanupTimeout: 100 * time.Millisecond, StallTimeout: 2 * time.Second}})
	res := wl.Run(context.Background())
	want := "volume.create=pass volume.stream_in=pass volume.cow=pass container.create=fail process.run=skip container.destroy=pass volume.cow_destroy=pass volume.destroy=pass"
	if got := stageStatuses(res); got != want {
		t.Fatalf("stages %s, want %s (%+v)", got, want, res.Stages)
	}
	if n := w.Garden.Faults.Calls()[garden.RouteCreate]; n != 0 {
		t.Errorf("%d creates sent", n)
	}
	w.Garden.Faults.Clear()
	assertNoResidue(t, g, b, res.Handle)
}
