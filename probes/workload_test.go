package probes_test

import (
	"context"
	"slices"
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

func newWorkload(t *testing.T, w *workertest.Worker, cfg probes.WorkloadConfig) (*probes.Workload, *garden.Client, *baggageclaim.Client) {
	return newWorkloadCfg(t, w, cfg)
}

func newWorkloadB(b *testing.B, w *workertest.Worker) (*probes.Workload, *garden.Client, *baggageclaim.Client) {
	return newWorkloadCfg(b, w, probes.WorkloadConfig{})
}

func newWorkloadCfg(t testing.TB, w *workertest.Worker, cfg probes.WorkloadConfig) (*probes.Workload, *garden.Client, *baggageclaim.Client) {
	t.Helper()
	g, b := w.Clients(t)
	cfg.Garden, cfg.Baggageclaim = g, b
	if cfg.RootFSImportPath == "" {
		cfg.RootFSImportPath = w.RootFSImportPath
	}
	wl, err := probes.NewWorkload(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return wl, g, b
}

// assertNoResidue checks that the run's own handle is on neither server.
func assertNoResidue(t *testing.T, g *garden.Client, b *baggageclaim.Client, handle string) {
	t.Helper()
	ctx := context.Background()
	handles, err := g.List(ctx, marker.Filter())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range handles {
		if h == handle {
			t.Errorf("container %s left behind", handle)
		}
	}
	if _, err := b.Volume(ctx, handle); err == nil {
		t.Errorf("volume %s left behind", handle)
	}
}

func stageStatuses(r probes.Result) string {
	var parts []string
	for _, s := range r.Stages {
		parts = append(parts, s.Name+"="+string(s.Status))
	}
	return strings.Join(parts, " ")
}

// TestWorkloadPasses runs against the simulators or the real servers.
func TestWorkloadPasses(t *testing.T) {
	w := workertest.Start(t, gardensim.Config{})
	wl, g, b := newWorkload(t, w, probes.WorkloadConfig{Instance: "test"})
	res := wl.Run(context.Background())
	// Beside a web node's garbage collector, a real worker may destroy the run's own volume or
	// container under it: interrupted, not a failure of the workload. Run again, a few times.
	for i := 0; workertest.Real() && res.Interrupted != "" && i < 5; i++ {
		t.Logf("run %d interrupted (%s), not the workload's failure; running again", i+1, res.Interrupted)
		res = wl.Run(context.Background())
	}
	want := "volume.create=pass volume.stream_in=pass volume.cow=pass container.create=pass process.run=pass container.destroy=pass volume.cow_destroy=pass volume.destroy=pass"
	if got := stageStatuses(res); got != want {
		t.Fatalf("stages %s, want %s (%+v)", got, want, res.Stages)
	}
	if !res.Passed() || !marker.IsProbeHandle(res.Handle) {
		t.Errorf("result %+v", res)
	}
	assertNoResidue(t, g, b, res.Handle)
	if wl.InFlight(res.Handle) {
		t.Errorf("handle still tracked as in flight")
	}
}

// TestWorkloadMarksAndArmsGraceTime inspects what the simulator received.
func TestWorkloadMarksAndArmsGraceTime(t *testing.T) {
	w := workertest.Start(t, gardensim.Config{})
	w.NeedSimulators(t)
	// Keep the container: make its destroy fail once.
	_ = w.Garden.Faults.Set(garden.RouteDestroy, faults.Fault{Status: 500, Times: 1})
	now := time.Date(2026, 11, 21, 5, 0, 0, 0, time.UTC)
	wl, g, _ := newWorkload(t, w, probes.WorkloadConfig{Instance: "worker-1", Now: func() time.Time { return now }})
	res := wl.Run(context.Background())
	if f, ok := res.FirstFailure(); !ok || f.Name != probes.StageContainerDestroy {
		t.Fatalf("want container.destroy to fail, got %s", stageStatuses(res))
	}
	props, err := g.Properties(context.Background(), res.Handle)
	if err != nil {
		t.Fatal(err)
	}
	// The grace time also travels as containerd's property, in nanoseconds, from the create on.
	want := map[string]string{marker.MarkerProperty: "true", marker.CreatedAtProperty: "2026-11-21T05:00:00Z", marker.InstanceProperty: "worker-1",
		probes.GraceTimeProperty: "600000000000"}
	for k, v := range want {
		if props[k] != v {
			t.Errorf("property %s = %q, want %q", k, props[k], v)
		}
	}
	if n := w.Garden.Faults.Calls()[garden.RouteGraceTime]; n != 1 {
		t.Errorf("PUT grace_time called %d times, want 1", n)
	}
	_ = g.Destroy(context.Background(), res.Handle)
}

func TestWorkloadFailures(t *testing.T) {
	tests := []struct {
		name       string
		garden     map[string]faults.Fault
		bc         map[string]faults.Fault
		behaviour  gardensim.Behaviour
		sim        gardensim.Config
		cfg        probes.WorkloadConfig
		want       string
		wantFailed string
		wantErr    string
		wantReason probes.Reason
		// leavesContainer: the fault hides a container from the workload (a fake 404, a
		// destroy that hangs); Garden's grace time or the janitor reaps it.
		leavesContainer bool
		// keepsVolume: the container's destroy failed, so its rootfs volume is kept for the
		// janitor rather than destroyed under it.
		keepsVolume bool
	}{
		{
			name:       "baggageclaim 500 on create",
			bc:         map[string]faults.Fault{baggageclaim.RouteCreate: {Status: 500}},
			want:       "volume.create=fail volume.stream_in=skip volume.cow=skip container.create=skip process.run=skip container.destroy=skip volume.cow_destroy=skip volume.destroy=pass",
			wantFailed: probes.StageVolumeCreate, wantErr: "baggageclaim create: 500", wantReason: probes.ReasonUpstreamError,
		},
		{
			name:       "disk full",
			bc:         map[string]faults.Fault{baggageclaim.RouteCreate: {DiskFull: true}},
			want:       "volume.create=fail volume.stream_in=skip volume.cow=skip container.create=skip process.run=skip container.destroy=skip volume.cow_destroy=skip volume.destroy=pass",
			wantFailed: probes.StageVolumeCreate, wantErr: "failed to create volume", wantReason: probes.ReasonUpstreamError,
		},
		{
			name:       "garden hangs on create past the hard limit",
			garden:     map[string]faults.Fault{garden.RouteCreate: {Hang: true}},
			cfg:        probes.WorkloadConfig{Timing: probes.Timing{ProbeTimeout: 100 * time.Millisecond, ProcessTimeout: 50 * time.Millisecond, CleanupTimeout: 100 * time.Millisecond, HardTimeout: 200 * time.Millisecond}},
			want:       "volume.create=pass volume.stream_in=pass volume.cow=pass container.create=fail process.run=skip container.destroy=pass volume.cow_destroy=pass volume.destroy=skip",
			wantFailed: probes.StageContainerCreate, wantErr: "timed out after 200ms (the hard limit)", wantReason: probes.ReasonTimeout,
			keepsVolume: true, // Garden may still finish a create given up on
		},
		{
			name:       "garden hangs on create and nothing else progresses: stalled",
			garden:     map[string]faults.Fault{garden.RouteCreate: {Hang: true}},
			cfg:        probes.WorkloadConfig{Timing: probes.Timing{ProbeTimeout: 100 * time.Millisecond, CleanupTimeout: 100 * time.Millisecond, StallTimeout: 2 * time.Second}},
			want:       "volume.create=pass volume.stream_in=pass volume.cow=pass container.create=fail process.run=skip container.destroy=pass volume.cow_destroy=pass volume.destroy=skip",
			wantFailed: probes.StageContainerCreate, wantErr: "stalled: no containers created by anyone else in 2s", wantReason: probes.ReasonStalled,
			keepsVolume: true,
		},
		{
			name:       "garden 500 with a non-JSON body",
			garden:     map[string]faults.Fault{garden.RouteCreate: {Status: 500, Body: "<h1>oops</h1>", ContentType: "text/html"}},
			want:       "volume.create=pass volume.stream_in=pass volume.cow=pass container.create=fail process.run=skip container.destroy=pass volume.cow_destroy=pass volume.destroy=pass",
			wantFailed: probes.StageContainerCreate, wantErr: "<h1>oops</h1>", wantReason: probes.ReasonUpstreamError,
		},
		{
			name:       "grace time refused",
			garden:     map[string]faults.Fault{garden.RouteGraceTime: {Status: 500}},
			want:       "volume.create=pass volume.stream_in=pass volume.cow=pass container.create=fail process.run=skip container.destroy=pass volume.cow_destroy=pass volume.destroy=pass",
			wantFailed: probes.StageContainerCreate, wantErr: "garden grace_time", wantReason: probes.ReasonUpstreamError,
		},
		{
			name:       "connection reset on volume destroy",
			bc:         map[string]faults.Fault{baggageclaim.RouteDestroy: {Reset: true, Times: 1}},
			want:       "volume.create=pass volume.stream_in=pass volume.cow=pass container.create=pass process.run=pass container.destroy=pass volume.cow_destroy=fail volume.destroy=pass",
			wantFailed: probes.StageVolumeCOWDestroy, wantErr: "baggageclaim destroy", wantReason: probes.ReasonConnectionLost,
		},
		{
			name:            "already gone on destroy is success",
			garden:          map[string]faults.Fault{garden.RouteDestroy: {Status: 404, Body: `{"Type":"ContainerNotFoundError","Message":"unknown handle: x","Handle":"x","ProcessID":"","Binary":""}`}},
			want:            "volume.create=pass volume.stream_in=pass volume.cow=pass container.create=pass process.run=pass container.destroy=pass volume.cow_destroy=pass volume.destroy=pass",
			leavesContainer: true,
		},
		{
			name:       "router 404 on destroy is a failure",
			garden:     map[string]faults.Fault{garden.RouteDestroy: {Status: 404, Body: "404 page not found", ContentType: "text/plain", Times: 1}},
			want:       "volume.create=pass volume.stream_in=pass volume.cow=pass container.create=pass process.run=pass container.destroy=fail volume.cow_destroy=pass volume.destroy=skip",
			wantFailed: probes.StageContainerDestroy, wantErr: "404 page not found", wantReason: probes.ReasonUpstreamError,
		},
		{
			name:       "cleanup runs when garden hangs on destroy too, and keeps the volume under the container",
			garden:     map[string]faults.Fault{garden.RouteCreate: {Hang: true}, garden.RouteDestroy: {Hang: true}},
			cfg:        probes.WorkloadConfig{Timing: probes.Timing{ProbeTimeout: 50 * time.Millisecond, ProcessTimeout: 50 * time.Millisecond, CleanupTimeout: 50 * time.Millisecond, HardTimeout: 100 * time.Millisecond}},
			want:       "volume.create=pass volume.stream_in=pass volume.cow=pass container.create=fail process.run=skip container.destroy=fail volume.cow_destroy=pass volume.destroy=skip",
			wantFailed: probes.StageContainerCreate, wantErr: "timed out", wantReason: probes.ReasonTimeout,
			keepsVolume: true,
		},
		{
			name:            "containerd's not-found on destroy is already gone",
			garden:          map[string]faults.Fault{garden.RouteDestroy: {Status: 500, Body: `{"Type":"","Message":"get container: container \"HANDLE\" in namespace \"concourse\": not found","Handle":"","ProcessID":"","Binary":""}`}},
			want:            "volume.create=pass volume.stream_in=pass volume.cow=pass container.create=pass process.run=pass container.destroy=pass volume.cow_destroy=pass volume.destroy=pass",
			leavesContainer: true,
		},
		{
			name:       "another container's not-found is a failure",
			garden:     map[string]faults.Fault{garden.RouteDestroy: {Status: 500, Times: 1, Body: `{"Type":"","Message":"get container: container \"health-check-other\" in namespace \"concourse\": not found","Handle":"","ProcessID":"","Binary":""}`}},
			want:       "volume.create=pass volume.stream_in=pass volume.cow=pass container.create=pass process.run=pass container.destroy=fail volume.cow_destroy=pass volume.destroy=skip",
			wantFailed: probes.StageContainerDestroy, wantErr: "health-check-other", wantReason: probes.ReasonUpstreamError,
		},
		{
			name:      "grace-time reaper race: being destroyed is already gone",
			behaviour: gardensim.Behaviour{ReaperRaceEvery: 1},
			want:      "volume.create=pass volume.stream_in=pass volume.cow=pass container.create=pass process.run=pass container.destroy=pass volume.cow_destroy=pass volume.destroy=pass",
		},
		{
			name:       "redirect on destroy is a failure and is not followed",
			garden:     map[string]faults.Fault{garden.RouteDestroy: {Status: 307, Body: "", Times: 1}},
			want:       "volume.create=pass volume.stream_in=pass volume.cow=pass container.create=pass process.run=pass container.destroy=fail volume.cow_destroy=pass volume.destroy=skip",
			wantFailed: probes.StageContainerDestroy, wantErr: "307 Temporary Redirect", wantReason: probes.ReasonBadAnswer,
		},
		{
			name:       "stream-in refused",
			bc:         map[string]faults.Fault{baggageclaim.RouteStreamIn: {Status: 500}},
			want:       "volume.create=pass volume.stream_in=fail volume.cow=skip container.create=skip process.run=skip container.destroy=skip volume.cow_destroy=skip volume.destroy=pass",
			wantFailed: probes.StageVolumeStreamIn, wantErr: "baggageclaim stream_in: 500", wantReason: probes.ReasonUpstreamError,
		},
		{
			name:       "stream-in over the volume streaming limit",
			bc:         map[string]faults.Fault{baggageclaim.RouteStreamIn: {Status: 403, Body: `{"error":"exceeded volume streaming limit of 1048B"}`, ContentType: "text/plain"}},
			want:       "volume.create=pass volume.stream_in=fail volume.cow=skip container.create=skip process.run=skip container.destroy=skip volume.cow_destroy=skip volume.destroy=pass",
			wantFailed: probes.StageVolumeStreamIn, wantErr: "exceeded volume streaming limit", wantReason: probes.ReasonStreamLimit,
		},
		{
			name:       "stream-in hangs",
			bc:         map[string]faults.Fault{baggageclaim.RouteStreamIn: {Hang: true}},
			cfg:        probes.WorkloadConfig{Timing: probes.Timing{ProbeTimeout: 100 * time.Millisecond, ProcessTimeout: 50 * time.Millisecond, CleanupTimeout: 100 * time.Millisecond, HardTimeout: 200 * time.Millisecond}},
			want:       "volume.create=pass volume.stream_in=fail volume.cow=skip container.create=skip process.run=skip container.destroy=skip volume.cow_destroy=skip volume.destroy=pass",
			wantFailed: probes.StageVolumeStreamIn, wantErr: "timed out after 200ms", wantReason: probes.ReasonTimeout,
		},
		{
			name:       "process exits non-zero",
			behaviour:  gardensim.Behaviour{Process: gardensim.ProcessExit, ExitStatus: 3},
			want:       "volume.create=pass volume.stream_in=pass volume.cow=pass container.create=pass process.run=fail container.destroy=pass volume.cow_destroy=pass volume.destroy=pass",
			wantFailed: probes.StageProcessRun, wantErr: "exited with status 3", wantReason: probes.ReasonNonzeroExit,
		},
		{
			name:       "process cannot start",
			behaviour:  gardensim.Behaviour{Process: gardensim.ProcessExecFailed},
			want:       "volume.create=pass volume.stream_in=pass volume.cow=pass container.create=pass process.run=fail container.destroy=pass volume.cow_destroy=pass volume.destroy=pass",
			wantFailed: probes.StageProcessRun, wantErr: "OCI runtime exec failed", wantReason: probes.ReasonExecFailed,
		},
		{
			name:       "process hangs on an idle worker: stalled",
			behaviour:  gardensim.Behaviour{Process: gardensim.ProcessHang},
			cfg:        probes.WorkloadConfig{Timing: probes.Timing{ProcessTimeout: 100 * time.Millisecond, StallTimeout: 2 * time.Second}},
			want:       "volume.create=pass volume.stream_in=pass volume.cow=pass container.create=pass process.run=fail container.destroy=pass volume.cow_destroy=pass volume.destroy=pass",
			wantFailed: probes.StageProcessRun, wantErr: "stalled: no containers created or destroyed by anyone else in 2s while process.run waited", wantReason: probes.ReasonStalled,
		},
		{
			name:       "process stream cut",
			behaviour:  gardensim.Behaviour{Process: gardensim.ProcessCut},
			want:       "volume.create=pass volume.stream_in=pass volume.cow=pass container.create=pass process.run=fail container.destroy=pass volume.cow_destroy=pass volume.destroy=pass",
			wantFailed: probes.StageProcessRun, wantErr: "stream ended before an exit status", wantReason: probes.ReasonStreamCut,
		},
		{
			name:       "process run refused with a 404 router page",
			garden:     map[string]faults.Fault{garden.RouteRun: {Status: 404, Body: "404 page not found", ContentType: "text/plain"}},
			want:       "volume.create=pass volume.stream_in=pass volume.cow=pass container.create=pass process.run=fail container.destroy=pass volume.cow_destroy=pass volume.destroy=pass",
			wantFailed: probes.StageProcessRun, wantErr: "404 page not found", wantReason: probes.ReasonUpstreamError,
		},
		{
			name:       "worker at its container limit",
			sim:        gardensim.Config{MaxContainers: 1},
			garden:     map[string]faults.Fault{},
			want:       "volume.create=pass volume.stream_in=pass volume.cow=pass container.create=fail process.run=skip container.destroy=pass volume.cow_destroy=pass volume.destroy=pass",
			wantFailed: probes.StageContainerCreate, wantErr: "max containers reached", wantReason: probes.ReasonMaxContainers,
		},
		{
			name: "skipped stages are reported skipped",
			cfg:  probes.WorkloadConfig{Skip: []string{probes.StageVolumeStreamIn, probes.StageProcessRun}},
			want: "volume.create=pass volume.stream_in=skip volume.cow=pass container.create=pass process.run=skip container.destroy=pass volume.cow_destroy=pass volume.destroy=pass",
		},
		{
			name: "volume only",
			cfg:  probes.WorkloadConfig{Skip: []string{probes.StageContainerCreate, probes.StageProcessRun}},
			want: "volume.create=pass volume.stream_in=pass volume.cow=pass container.create=skip process.run=skip container.destroy=skip volume.cow_destroy=pass volume.destroy=pass",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := workertest.Start(t, tt.sim)
			w.NeedSimulators(t)
			if err := w.Garden.SetBehaviour(tt.behaviour); err != nil {
				t.Fatal(err)
			}
			if tt.sim.MaxContainers > 0 { // fill the worker with a build's container
				g, b := w.Clients(t)
				v, err := b.CreateVolume(context.Background(), baggageclaim.Request{Handle: "build-vol", Strategy: baggageclaim.EmptyStrategy()})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := g.Create(context.Background(), garden.Spec{Handle: "build", RootFSPath: "raw://" + v.Path}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = b.Destroy(context.Background(), "build-vol") })
			}
			for route, f := range tt.garden {
				if strings.Contains(f.Body, "HANDLE") {
					continue // set below, once the handle is known
				}
				if err := w.Garden.Faults.Set(route, f); err != nil {
					t.Fatal(err)
				}
			}
			for route, f := range tt.bc {
				if err := w.Baggageclaim.Faults.Set(route, f); err != nil {
					t.Fatal(err)
				}
			}
			const handle = "health-check-0b8f5a4e-4bde-4d3b-9d6e-1d5bd1a0c0de"
			tt.cfg.NewHandle = func() string { return handle }
			for route, f := range tt.garden {
				if strings.Contains(f.Body, "HANDLE") {
					f.Body = strings.ReplaceAll(f.Body, "HANDLE", handle)
					if err := w.Garden.Faults.Set(route, f); err != nil {
						t.Fatal(err)
					}
				}
			}
			wl, _, _ := newWorkload(t, w, tt.cfg)
			res := wl.Run(context.Background())
			if got := stageStatuses(res); got != tt.want {
				t.Fatalf("stages %s\nwant   %s\n%+v", got, tt.want, res.Stages)
			}
			f, failed := res.FirstFailure()
			if failed != (tt.wantFailed != "") || f.Name != tt.wantFailed {
				t.Fatalf("first failure %q, want %q", f.Name, tt.wantFailed)
			}
			if failed && !strings.Contains(f.Err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", f.Err, tt.wantErr)
			}
			if f.Reason != tt.wantReason {
				t.Errorf("reason %q, want %q (%v)", f.Reason, tt.wantReason, f.Err)
			}
			// Whatever failed, nothing is left but what a failed (or faked) destroy kept.
			wantContainers, wantVolumes := 0, 0
			switch {
			case tt.wantFailed == probes.StageVolumeDestroy, tt.wantFailed == probes.StageVolumeCOWDestroy, tt.keepsVolume:
				wantVolumes = 1
			case tt.wantFailed == probes.StageContainerDestroy: // and its rootfs volume, kept under it
				wantContainers, wantVolumes = 1, 1
			case tt.leavesContainer:
				wantContainers = 1
			}
			ours := func(hs []string) []string {
				return slices.DeleteFunc(hs, func(h string) bool { return !marker.IsProbeHandle(h) })
			}
			if tt.behaviour.ReaperRaceEvery > 0 { // Garden's reaper removes it a few ms later
				waitFor(t, func() bool { return len(ours(w.Garden.Handles())) == 0 })
			}
			if got := ours(w.Garden.Handles()); len(got) != wantContainers {
				t.Errorf("containers left: %v, want %d", got, wantContainers)
			}
			if got := ours(w.Baggageclaim.Handles()); len(got) != wantVolumes {
				t.Errorf("volumes left: %v, want %d", got, wantVolumes)
			}
		})
	}
}

// TestWorkloadRunningNamesTheStage: while Garden hangs, the run reports container.create.
func TestWorkloadRunningNamesTheStage(t *testing.T) {
	w := workertest.Start(t, gardensim.Config{})
	w.NeedSimulators(t)
	_ = w.Garden.Faults.Set(garden.RouteCreate, faults.Fault{Hang: true})
	wl, _, _ := newWorkload(t, w, probes.WorkloadConfig{Timing: probes.Timing{ProbeTimeout: time.Second, CleanupTimeout: time.Second, HardTimeout: 2 * time.Second}})
	if _, ok := wl.Running(); ok {
		t.Fatal("a stage is running before any run")
	}
	done := make(chan probes.Result, 1)
	go func() { done <- wl.Run(context.Background()) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, ok := wl.Running()
		stage := p.Stage
		if ok && stage == probes.StageContainerCreate {
			if p.Expected <= 900*time.Millisecond || p.Expected > time.Second {
				t.Errorf("expected %s, want what is left of the probe timeout", p.Expected)
			}
			if p.Limit <= 1900*time.Millisecond || p.Limit > 2*time.Second {
				t.Errorf("limit %s, want what is left of the hard timeout", p.Limit)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Running never reported %s (last %q)", probes.StageContainerCreate, stage)
		}
		time.Sleep(time.Millisecond) // the run is on another goroutine, inside an HTTP call
	}
	res := <-done
	if f, _ := res.FirstFailure(); !strings.Contains(f.Err.Error(), "timed out after 2s (the hard limit)") {
		t.Errorf("error %q does not say the limit", f.Err)
	}
	if _, ok := wl.Running(); ok {
		t.Error("a stage is still reported after the run")
	}
}

func TestWorkloadConfigValidation(t *testing.T) {
	g, _ := garden.NewClient("http://127.0.0.1:1", nil)
	b, _ := baggageclaim.NewClient("http://127.0.0.1:1", nil)
	tests := []struct {
		name string
		cfg  probes.WorkloadConfig
		want string
	}{
		{"no garden", probes.WorkloadConfig{Baggageclaim: b}, "Garden client"},
		{"grace below timeout", probes.WorkloadConfig{Garden: g, Baggageclaim: b, Timing: probes.Timing{GraceTime: time.Second, ProbeTimeout: 2 * time.Second}}, "grace-time"},
		{"relative import", probes.WorkloadConfig{Garden: g, Baggageclaim: b, RootFSImportPath: "skel"}, "rootfs-import-path"},
		{"negative timeout", probes.WorkloadConfig{Garden: g, Baggageclaim: b, Timing: probes.Timing{ProbeTimeout: -1}}, "probe-timeout"},
		{"process timeout above the probe timeout", probes.WorkloadConfig{Garden: g, Baggageclaim: b, Timing: probes.Timing{ProcessTimeout: 6 * time.Second}}, "process-timeout"},
		{"unknown stage", probes.WorkloadConfig{Garden: g, Baggageclaim: b, Skip: []string{"volume.fly"}}, "unknown or non-optional stage"},
		{"volume.create is not optional", probes.WorkloadConfig{Garden: g, Baggageclaim: b, Skip: []string{probes.StageVolumeCreate}}, "cannot be skipped"},
		{"process.run needs stream-in", probes.WorkloadConfig{Garden: g, Baggageclaim: b, Skip: []string{probes.StageVolumeStreamIn}}, "skip process.run too"},
		{"process.run needs a container", probes.WorkloadConfig{Garden: g, Baggageclaim: b, Skip: []string{probes.StageContainerCreate}}, "skip process.run too"},
		{"no executable for the architecture", probes.WorkloadConfig{Garden: g, Baggageclaim: b, Arch: "riscv64"}, "skip volume.stream_in and process.run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := probes.NewWorkload(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
