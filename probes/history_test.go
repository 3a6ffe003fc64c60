package probes_test

import (
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
