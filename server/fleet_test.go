package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/fleet"
	"github.com/deepprobe/deepprobe/probes"
)

// fakeFleet holds (or not) and records whether it was asked, and with what deadline.
type fakeFleet struct {
	hold     bool
	asked    int
	deadline time.Duration
}

func (f *fakeFleet) Hold(ctx context.Context) (fleet.Hold, bool) {
	f.asked++
	if d, ok := ctx.Deadline(); ok {
		f.deadline = time.Until(d)
	}
	return fleet.Hold{Count: fleet.Count{Failing: 6, Total: 10}, Budget: 0.3}, f.hold
}

// TestFleetHold: a deep failure is asked about, and answered 200 warn fleet_wide when held,
// with the worker's own failure still in the stages, the failed stage and the error; a pass
// or a warning is never asked about; the budget gets the caller's deadline.
func TestFleetHold(t *testing.T) {
	failing := probes.Outcome{Result: result(probes.StageContainerCreate), ConsecutiveFailures: 3}
	tests := []struct {
		name       string
		deep       *fakeDeep
		hold       bool
		path       string
		wantStatus int
		wantAsked  int
		want       []string
	}{
		{"held", &fakeDeep{outcome: failing}, true, "/healthz?timeout=2s", 200, 1, []string{
			`"status":"warn"`, `"reason":"fleet_wide"`, `"failed_stage":"container.create"`,
			`"error":"fleet_wide: 60% of the fleet (6 of 10 workers) fails its deep check, above the budget of 30%: not restarting this worker for a fleet-wide failure; this worker's own failure: container.create failed: garden create: 500`,
			`"fleet":{"failing":6,"total":10,"share":0.6,"budget":0.3}`,
			`"name":"container.create","component":"garden","status":"fail"`, `"reason":"upstream_error"`}},
		{"held, verbose", &fakeDeep{outcome: failing}, true, "/readyz?verbose", 200, 1, []string{
			"[-]container.create failed (upstream_error): garden create: 500", "readyz check passed with warnings: fleet_wide: 60% of the fleet"}},
		{"not held", &fakeDeep{outcome: failing}, false, "/healthz", 503, 1, []string{`"status":"fail"`, `"reason":"upstream_error"`}},
		{"no outcome at the deadline is held too", &fakeDeep{err: probes.ErrTimeout}, true, "/healthz?timeout=100ms", 200, 1, []string{
			`"status":"warn"`, `"reason":"fleet_wide"`, `this worker's own failure: timed out waiting for probe`}},
		{"a pass is not asked about", &fakeDeep{outcome: probes.Outcome{Result: result(""), Healthy: true}}, true, "/healthz", 200, 0, []string{`"status":"pass"`}},
		{"a warning is not asked about", &fakeDeep{outcome: probes.Outcome{Result: result(probes.StageVolumeCreate), Healthy: true}}, true, "/healthz", 200, 0, []string{`"status":"warn"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeFleet{hold: tt.hold}
			ts := newTestServer(t, tt.deep, fakeShallow{}, Config{Fleet: f})
			status, _, body := get(t, ts, http.MethodGet, tt.path, nil)
			if status != tt.wantStatus || f.asked != tt.wantAsked {
				t.Fatalf("status %d (want %d), asked %d times (want %d): %s", status, tt.wantStatus, f.asked, tt.wantAsked, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
			if tt.path == "/healthz?timeout=2s" && (f.deadline <= 0 || f.deadline > 2*time.Second) {
				t.Errorf("the budget was asked with %s left, want the caller's 2s at most", f.deadline)
			}
		})
	}
}
