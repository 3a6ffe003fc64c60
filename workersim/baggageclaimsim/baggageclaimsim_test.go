package baggageclaimsim_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/workersim/baggageclaimsim"
	"github.com/deepprobe/deepprobe/workersim/faults"
)

func TestSimulator(t *testing.T) {
	state := t.TempDir()
	sim, err := baggageclaimsim.NewServer(baggageclaimsim.Config{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	c, _ := baggageclaim.NewClient(sim.URL, nil)
	ctx := context.Background()

	t.Run("disk full", func(t *testing.T) {
		if err := sim.Faults.Set(baggageclaim.RouteCreate, faults.Fault{DiskFull: true}); err != nil {
			t.Fatal(err)
		}
		defer sim.Faults.Clear()
		_, err := c.CreateVolume(ctx, baggageclaim.Request{Handle: "full", Strategy: baggageclaim.EmptyStrategy()})
		var berr *baggageclaim.Error
		if !errors.As(err, &berr) || berr.StatusCode != 500 || berr.Message != "failed to create volume" {
			t.Fatalf("err = %v", err)
		}
		if len(sim.Handles()) != 0 {
			t.Errorf("volumes left: %v", sim.Handles())
		}
	})
	t.Run("handles cannot escape the state dir", func(t *testing.T) {
		for _, h := range []string{"..", "a/../../b", `x\y`} {
			resp, err := http.Post(sim.URL+"/volumes", "application/json",
				strings.NewReader(`{"handle":"`+strings.ReplaceAll(h, `\`, `\\`)+`","strategy":{"type":"empty"}}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 500 {
				t.Errorf("handle %q: status %d", h, resp.StatusCode)
			}
		}
	})
	t.Run("destroy removes the directory", func(t *testing.T) {
		v, err := c.CreateVolume(ctx, baggageclaim.Request{Handle: "d", Strategy: baggageclaim.EmptyStrategy()})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(v.Path, "f"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := c.Destroy(ctx, "d"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(v.Path); !os.IsNotExist(err) {
			t.Errorf("volume dir still there: %v", err)
		}
	})
	t.Run("import of a missing directory fails", func(t *testing.T) {
		_, err := c.CreateVolume(ctx, baggageclaim.Request{Handle: "i", Strategy: baggageclaim.ImportStrategy(filepath.Join(state, "nope"))})
		if err == nil {
			t.Fatal("import of a missing dir succeeded")
		}
	})
}
