package probes_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/probes"
)

func TestHistoryIsABoundedRingNewestFirst(t *testing.T) {
	h := probes.NewHistory(3)
	if got := h.Entries(); len(got) != 0 {
		t.Fatalf("empty history has %d entries", len(got))
	}
	for i := range 5 {
		h.Observe(probes.Outcome{CompletedAt: time.Unix(int64(i), 0)})
		got := h.Entries()
		if want := min(i+1, 3); len(got) != want {
			t.Fatalf("after %d: %d entries, want %d", i+1, len(got), want)
		}
		for j, o := range got {
			if o.CompletedAt.Unix() != int64(i-j) {
				t.Fatalf("after %d: entry %d is %d, want newest first", i+1, j, o.CompletedAt.Unix())
			}
		}
	}
}

// TestHistoryEntryIsBounded: an entry keeps at most MaxEntryError bytes of each stage's error,
// whatever upstream said, and the outcome other listeners see is left as it was.
func TestHistoryEntryIsBounded(t *testing.T) {
	big := errors.New(strings.Repeat("m", 4<<20))
	o := probes.Outcome{Result: probes.Result{Stages: []probes.StageResult{
		{Name: probes.StageVolumeCreate, Status: probes.StatusPass},
		{Name: probes.StageContainerCreate, Status: probes.StatusFail, Err: big, Reason: probes.ReasonUpstreamError},
	}}}
	h := probes.NewHistory(2)
	h.Observe(o)
	got := h.Entries()[0].Result.Stages
	if got[0].Err != nil || got[1].Reason != probes.ReasonUpstreamError {
		t.Fatalf("entry changed more than the error: %+v", got)
	}
	if n := len(got[1].Err.Error()); n > probes.MaxEntryError || !strings.Contains(got[1].Err.Error(), "[cut ") {
		t.Fatalf("entry keeps %d bytes of the error", n)
	}
	if o.Result.Stages[1].Err != big {
		t.Fatal("Observe changed the caller's outcome")
	}
}
