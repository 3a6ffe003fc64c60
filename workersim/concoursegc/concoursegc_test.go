package concoursegc_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/probes/rootfs"
	"github.com/deepprobe/deepprobe/workersim/baggageclaimsim"
	"github.com/deepprobe/deepprobe/workersim/concoursegc"
	"github.com/deepprobe/deepprobe/workersim/faults"
	"github.com/deepprobe/deepprobe/workersim/gardensim"
)

type worker struct {
	g  *gardensim.Server
	b  *baggageclaimsim.Server
	gc *garden.Client
	bc *baggageclaim.Client
}

func startWorker(t *testing.T) *worker {
	t.Helper()
	g, err := gardensim.NewServer(gardensim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	b, err := baggageclaimsim.NewServer(baggageclaimsim.Config{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	hc := &http.Client{Transport: tr}
	gc, _ := garden.NewClient(g.URL, hc)
	bc, _ := baggageclaim.NewClient(b.URL, hc)
	return &worker{g: g, b: b, gc: gc, bc: bc}
}

func (w *worker) sweeper(t *testing.T, sc concoursegc.Schedule, knownContainers func(string) bool) *concoursegc.Sweeper {
	t.Helper()
	s, err := concoursegc.Start(concoursegc.Config{GardenURL: w.g.URL, BaggageclaimURL: w.b.URL, Schedule: sc, KnownContainers: knownContainers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// workload makes what a deepprobe workload has mid-run: a volume holding a rootfs with an
// executable, and a container on it.
func (w *worker) workload(t *testing.T, handle string) {
	t.Helper()
	ctx := context.Background()
	v, err := w.bc.CreateVolume(ctx, baggageclaim.Request{Handle: handle, Strategy: baggageclaim.EmptyStrategy()})
	if err != nil {
		t.Fatal(err)
	}
	tarball, err := rootfs.Tar(runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.bc.StreamIn(ctx, handle, tarball); err != nil {
		t.Fatal(err)
	}
	if _, err := w.gc.Create(ctx, garden.Spec{Handle: handle, RootFSPath: "raw://" + v.Path}); err != nil {
		t.Fatal(err)
	}
	if err := w.gc.Run(ctx, handle, garden.ProcessSpec{Path: "/" + rootfs.ExecutableName, User: "0:0"}); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSweepDestroysTheUnknown: a sweep destroys every handle the web node does not know,
// the load's containers survive, and a volume goes even from under a live container, whose
// rootfs files are then gone.
func TestSweepDestroysTheUnknown(t *testing.T) {
	w := startWorker(t)
	if err := w.g.SetLoad(gardensim.Load{InFlight: 2, Hold: faults.Duration(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the load's containers", func() bool { return w.g.LoadStats().Creates == 2 })
	w.workload(t, "health-check-a")
	w.workload(t, "health-check-b")
	// health-check-b's container is known (say, the web node caught up), its volume is not.
	s := w.sweeper(t, concoursegc.Schedule{}, func(h string) bool { return w.g.LoadHandle(h) || h == "health-check-b" })
	if err := s.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	containers := w.g.Handles()
	if len(containers) != 3 || !slices.Contains(containers, "health-check-b") || slices.Contains(containers, "health-check-a") {
		t.Errorf("containers after the sweep: %v, want the load's two and health-check-b", containers)
	}
	if vols := w.b.Handles(); len(vols) != 0 {
		t.Errorf("volumes after the sweep: %v, want none", vols)
	}
	err := w.gc.Run(context.Background(), "health-check-b", garden.ProcessSpec{Path: "/" + rootfs.ExecutableName, User: "0:0"})
	if !errors.Is(err, garden.ErrExecFailed) {
		t.Errorf("run in a container whose volume was swept: err = %v, want exec failed", err)
	}
	if st := s.Stats(); st.Sweeps != 1 || st.ContainersDestroyed != 1 || st.VolumesDestroyed != 2 || st.Errors != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestScheduledSweeps: sweeps run every Interval until the schedule is set to none.
func TestScheduledSweeps(t *testing.T) {
	w := startWorker(t)
	s := w.sweeper(t, concoursegc.Schedule{Interval: faults.Duration(5 * time.Millisecond), Delay: faults.Duration(time.Millisecond)}, nil)
	waitFor(t, "3 sweeps", func() bool { return s.Stats().Sweeps >= 3 })
	w.workload(t, "health-check-c")
	waitFor(t, "the workload swept", func() bool {
		st := s.Stats()
		return st.ContainersDestroyed == 1 && st.VolumesDestroyed == 1
	})
	if left := append(w.g.Handles(), w.b.Handles()...); len(left) != 0 {
		t.Errorf("left after the sweep: %v", left)
	}
	if err := s.SetSchedule(concoursegc.Schedule{}); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Interval != 0 || st.ContainersDestroyed != 1 || st.VolumesDestroyed != 1 {
		t.Errorf("stats %+v", st)
	}
	for _, bad := range []concoursegc.Schedule{{Interval: -1}, {Interval: 1}, {Delay: faults.Duration(time.Hour)}} {
		if err := s.SetSchedule(bad); err == nil {
			t.Errorf("schedule %+v accepted", bad)
		}
	}
	if _, err := concoursegc.Start(concoursegc.Config{GardenURL: w.g.URL, BaggageclaimURL: w.b.URL, Schedule: concoursegc.Schedule{Interval: -1}}); err == nil {
		t.Error("Start took a negative interval")
	}
}

// TestCloseEndsAStuckSweep: a sweep held by a wedged runtime ends when the sweeper closes
// (goleak checks that nothing outlives the test).
func TestCloseEndsAStuckSweep(t *testing.T) {
	w := startWorker(t)
	if _, err := w.gc.Create(context.Background(), garden.Spec{Handle: "health-check-d"}); err != nil {
		t.Fatal(err)
	}
	_ = w.g.SetBehaviour(gardensim.Behaviour{Wedge: true})
	s, err := concoursegc.Start(concoursegc.Config{GardenURL: w.g.URL, BaggageclaimURL: w.b.URL,
		Schedule: concoursegc.Schedule{Interval: faults.Duration(time.Millisecond)}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the sweep's destroy to hang", func() bool { return w.g.LoadStats().DestroysInProgress == 1 })
	s.Close()
	waitFor(t, "the destroy to give up", func() bool { return w.g.LoadStats().DestroysInProgress == 0 })
}

// TestAdmin: the schedule and counters over HTTP.
func TestAdmin(t *testing.T) {
	w := startWorker(t)
	s := w.sweeper(t, concoursegc.Schedule{}, nil)
	admin := httptest.NewServer(s.AdminHandler())
	defer admin.Close()
	for body, want := range map[string]int{
		`{"interval":"1h","delay":"5ms"}`: 204,
		`{"interval":"-1s"}`:              400,
		`{"intervall":"1s"}`:              400,
		`not json`:                        400,
	} {
		req, _ := http.NewRequest("PUT", admin.URL+"/gc", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("PUT /gc %s: %d, want %d", body, resp.StatusCode, want)
		}
	}
	if st := s.Stats(); st.Interval != faults.Duration(time.Hour) || st.Delay != faults.Duration(5*time.Millisecond) {
		t.Errorf("schedule %+v", st.Schedule)
	}
	resp, err := http.Get(admin.URL + "/gc")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /gc: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
