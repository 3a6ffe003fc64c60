package probes

import (
	"errors"
	"sync"

	"github.com/deepprobe/deepprobe/probes/internal/wire"
)

// DefaultHistory is the default length of a History.
const DefaultHistory = 60

// History keeps the last finished workloads' outcomes in a bounded ring; subscribe its Observe
// to a Prober (ProberConfig.Listeners). It is safe for concurrent use.
type History struct {
	mu   sync.Mutex
	ring []Outcome
	next int
	full bool
}

// NewHistory returns a History of n outcomes (DefaultHistory when n is 0 or less).
func NewHistory(n int) *History {
	if n <= 0 {
		n = DefaultHistory
	}
	return &History{ring: make([]Outcome, n)}
}

// MaxEntryError bounds the text of each error a history entry keeps, so that an entry's size,
// and that of /history and the status page, never follows what upstream said.
const MaxEntryError = 2 << 10

// Observe records a finished workload, forgetting the oldest when the ring is full. The entry
// keeps each stage error's text only, cut to MaxEntryError.
func (h *History) Observe(o Outcome) {
	o = boundedEntry(o)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ring[h.next] = o
	h.next = (h.next + 1) % len(h.ring)
	if h.next == 0 {
		h.full = true
	}
}

// Entries returns the recorded outcomes, newest first.
func (h *History) Entries() []Outcome {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.next
	if h.full {
		n = len(h.ring)
	}
	out := make([]Outcome, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, h.ring[(h.next-i+len(h.ring))%len(h.ring)])
	}
	return out
}

// boundedEntry returns o with its stages copied and each error replaced by its bounded text:
// the entry holds no error chain that could keep an upstream answer alive.
func boundedEntry(o Outcome) Outcome {
	stages := make([]StageResult, len(o.Result.Stages))
	for i, s := range o.Result.Stages {
		if s.Err != nil {
			s.Err = errors.New(wire.Bound(s.Err.Error(), MaxEntryError))
		}
		stages[i] = s
	}
	o.Result.Stages = stages
	return o
}
