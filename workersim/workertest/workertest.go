package workertest

import (
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/workersim/baggageclaimsim"
	"github.com/deepprobe/deepprobe/workersim/gardensim"
)

// Environment variables naming real servers and a skeleton rootfs.
const (
	EnvGardenURL        = "DEEPPROBE_GARDEN_URL"
	EnvBaggageclaimURL  = "DEEPPROBE_BAGGAGECLAIM_URL"
	EnvRootFSImportPath = "DEEPPROBE_ROOTFS_IMPORT_PATH"
)

// Worker is the pair of servers a test uses.
type Worker struct {
	GardenURL       string
	BaggageclaimURL string
	// RootFSImportPath is a host directory holding etc/ to import as a rootfs volume; empty
	// means use empty volumes.
	RootFSImportPath string
	// Garden and Baggageclaim are the simulators, nil against real servers.
	Garden       *gardensim.Server
	Baggageclaim *baggageclaimsim.Server
}

// Real reports whether the tests run against real servers.
func Real() bool {
	return os.Getenv(EnvGardenURL) != "" && os.Getenv(EnvBaggageclaimURL) != ""
}

// Start returns the worker for t: the real servers, or simulators closed at the end of t.
func Start(t testing.TB, cfg gardensim.Config) *Worker {
	t.Helper()
	if Real() {
		return &Worker{
			GardenURL:        os.Getenv(EnvGardenURL),
			BaggageclaimURL:  os.Getenv(EnvBaggageclaimURL),
			RootFSImportPath: os.Getenv(EnvRootFSImportPath),
		}
	}
	g, err := gardensim.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	b, err := baggageclaimsim.NewServer(baggageclaimsim.Config{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return &Worker{GardenURL: g.URL, BaggageclaimURL: b.URL, Garden: g, Baggageclaim: b,
		RootFSImportPath: os.Getenv(EnvRootFSImportPath)}
}

// NeedSimulators skips t against real servers: it injects faults or reads simulator state.
func (w *Worker) NeedSimulators(t testing.TB) {
	t.Helper()
	if w.Garden == nil {
		t.Skip("needs the simulators (fault injection or simulator state); skipped against real servers")
	}
}

// HTTPClient returns a client with its own connection pool, closed at the end of t, so that no
// keep-alive connection to a real server outlives the test (goleak would see its goroutines).
func HTTPClient(t testing.TB) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// Clients returns a Garden and a Baggageclaim client for w, sharing one connection pool that
// closes at the end of t.
func (w *Worker) Clients(t testing.TB) (*garden.Client, *baggageclaim.Client) {
	t.Helper()
	hc := HTTPClient(t)
	g, err := garden.NewClient(w.GardenURL, hc)
	if err != nil {
		t.Fatal(err)
	}
	b, err := baggageclaim.NewClient(w.BaggageclaimURL, hc)
	if err != nil {
		t.Fatal(err)
	}
	return g, b
}

// Clock is a clock for tests that moves only when told. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock showing now.
func NewClock(now time.Time) *Clock { return &Clock{now: now} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
