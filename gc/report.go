package gc

import (
	"sort"
	"strings"
	"time"
)

// Action is what a sweep did with one resource.
type Action string

// Actions.
const (
	ActionReaped    Action = "reaped"
	ActionWouldReap Action = "would-reap"
	ActionSkipped   Action = "skipped"
	ActionFailed    Action = "failed"
)

// Reasons a resource is skipped.
const (
	SkipForeignHandle = "foreign-handle" // listed by the marker filter, but not a health-check- handle
	SkipNotMarked     = "not-marked"     // its own properties lack the marker
	SkipInFlight      = "in-flight"      // a workload under way owns it
	SkipYoung         = "younger-than-orphan-age"
	SkipFirstSighting = "age-unknown" // no readable created-at in the past: waiting for a second sighting
	SkipGone          = "already-gone"
	// SkipOtherInstance is another deepprobe instance's leftover younger than
	// OtherInstanceAgeFactor x the orphan age.
	SkipOtherInstance = "other-instance"
	// SkipBeingDestroyed is a container Garden answers "already being destroyed" for: it is not
	// gone yet, so it is tried again on the next sweep.
	SkipBeingDestroyed = "being-destroyed"
	// SkipDestroyStuck is a container Garden has been "destroying" since the previous sweep at
	// least: its destroy is stuck (deepprobe_janitor_stuck_containers).
	SkipDestroyStuck = "destroy-stuck"
	// SkipContainerPresent is a volume whose container (the same handle) Garden still lists:
	// it is never destroyed under a live container, but kept for a later sweep.
	SkipContainerPresent = "container-present"
	// SkipContainersUnknown is a volume kept because Garden's list failed in this sweep, so
	// that whether its container still exists is unknown.
	SkipContainersUnknown = "containers-unknown"
)

// skipReasons lists every skip reason, for metrics that exist from start-up.
var skipReasons = []string{SkipForeignHandle, SkipNotMarked, SkipInFlight, SkipYoung, SkipFirstSighting, SkipGone,
	SkipOtherInstance, SkipBeingDestroyed, SkipDestroyStuck, SkipContainerPresent, SkipContainersUnknown}

// Kinds of resource.
const (
	KindContainer = "container"
	KindVolume    = "volume"
)

// Item is one resource a sweep looked at.
type Item struct {
	Kind   string
	Handle string
	// Instance is the resource's deepprobe.instance (shortened to at most maxInstanceLen bytes),
	// empty when it has none or it was not read.
	Instance string
	// OtherInstance reports that Instance is another deepprobe's than the janitor's own.
	OtherInstance bool
	// Age is the resource's age, from its created-at property or from its first sighting;
	// negative when unknown.
	Age    time.Duration
	Action Action
	Reason string
	Err    error
}

// skip returns it skipped for reason.
func (it Item) skip(reason string) Item {
	it.Action, it.Reason = ActionSkipped, reason
	return it
}

// leavesNothing reports whether, after this sweep, nothing of it is left (it was destroyed,
// would be in a dry run, or was gone already).
func (it Item) leavesNothing() bool {
	return it.Action == ActionReaped || it.Action == ActionWouldReap || it.Reason == SkipGone
}

// Report is what one sweep found and did.
type Report struct {
	Items []Item
	// Errors are the lists that failed; their kind was not swept.
	Errors []error
	// tally counts Items once, when the sweep ends.
	tally tally
}

// tallyKey is one cell of a tally: a kind, an action, and the reason of a skipped item.
type tallyKey struct {
	kind   string
	action Action
	reason string
}

// tally counts a sweep's items by kind, action and reason.
type tally map[tallyKey]int

func count(items []Item) tally {
	t := tally{}
	for _, it := range items {
		t[tallyKey{it.Kind, it.Action, it.Reason}]++
	}
	return t
}

// Count returns how many items of kind had action.
func (r Report) Count(kind string, action Action) int {
	n := 0
	for k, v := range r.tally {
		if k.kind == kind && k.action == action {
			n += v
		}
	}
	return n
}

// Skips returns how many items of kind were skipped for reason.
func (r Report) Skips(kind, reason string) int {
	return r.tally[tallyKey{kind, ActionSkipped, reason}]
}

// Total returns how many items of any kind had action.
func (r Report) Total(action Action) int {
	return r.Count(KindContainer, action) + r.Count(KindVolume, action)
}

// Failed reports whether a list or a reap failed.
func (r Report) Failed() bool {
	return len(r.Errors) > 0 || r.Total(ActionFailed) > 0
}

// Sorted returns the report's items ordered by kind (containers first) and handle.
func (r Report) Sorted() []Item {
	out := append([]Item(nil), r.Items...)
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].Kind != out[b].Kind {
			return out[a].Kind == KindContainer
		}
		return out[a].Handle < out[b].Handle
	})
	return out
}

// Summary is what one sweep did, in numbers, for the status page.
type Summary struct {
	At                             time.Time
	Took                           time.Duration
	Found, Reaped, Skipped, Failed int
	// Stuck is how many containers Garden has been destroying since the previous sweep at
	// least.
	Stuck int
	// Errors are the lists that failed.
	Errors []string
}

func summarize(r Report, at time.Time, took time.Duration) Summary {
	sum := Summary{At: at, Took: took, Found: len(r.Items), Reaped: r.Total(ActionReaped),
		Skipped: r.Total(ActionSkipped), Failed: r.Total(ActionFailed), Stuck: r.Skips(KindContainer, SkipDestroyStuck)}
	for _, err := range r.Errors {
		sum.Errors = append(sum.Errors, err.Error())
	}
	return sum
}

// maxInstanceLen bounds an instance name read from a server before it is kept or logged.
const maxInstanceLen = 128

// shorten bounds s, an upstream string, to max bytes of valid UTF-8.
func shorten(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "..."
}
