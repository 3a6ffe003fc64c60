// Package runtimes is the one table of how each of Concourse's container runtimes answers the
// Garden API where they differ, from the recorded exchanges in shared/worker-api/captures
// (containerd and houdini) and from Guardian's source. The Garden simulator takes a Profile
// from it, and the README's compatibility table is generated from it (and tested against it).
// Test and demo support only: deepprobe itself never branches on a runtime.
package runtimes

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Profile is how one runtime answers.
type Profile struct {
	// Name is the runtime's name: "containerd", "guardian" or "houdini".
	Name string
	// Note says where the runtime is used.
	Note string
	// CapacityImplemented is false when GET /capacity and /containers/:h/info answer
	// 500 "not implemented".
	CapacityImplemented bool
	// RejectsHyphenFilterKey is true when a list filter whose property name holds a '-' fails
	// with 500 (containerd's label filter parser).
	RejectsHyphenFilterKey bool
	// UnknownHandleStatus, UnknownHandleType and UnknownHandleMessage are the answer to any
	// call on an unknown container handle.
	UnknownHandleStatus  int
	UnknownHandleType    string
	UnknownHandleMessage func(handle string) string
	// DuplicateMessage is the 500 message for a create with a handle in use; empty means the
	// new container replaces the old one (200).
	DuplicateMessage func(handle string) string
	// HonourSpecGraceTime is true when the create spec's grace_time arms the reaper; every
	// runtime honours PUT /containers/:h/grace_time.
	HonourSpecGraceTime bool
	// GraceTimeProperty, when set, is the property the PUT grace_time shows up as.
	GraceTimeProperty string
	// GraceTimeFromProperty is true when the reaper reads the grace time from the property
	// GraceTimeProperty alone (containerd's GraceTime()): a create whose spec carries the
	// property is armed at once, and the grace-time reaper race can only hit a container
	// created without it.
	GraceTimeFromProperty bool
	// ListFiltersOR is true when a list filter with several properties lists the containers
	// that match any of them (containerd: one containerd filter per property); otherwise a
	// container must match all of them.
	ListFiltersOR bool
	// SerialCreates is true when container creates are served one at a time, in the order they
	// arrived (containerd's create lock).
	SerialCreates bool
	// DestroysInCreateQueue is true when destroys wait in the same queue as creates. On
	// containerd, Destroy takes no lock in Concourse's backend, yet destroys were measured to
	// queue like creates, and 40 loops of create, hold 1 s, destroy gave create latencies of
	// several seconds: one queue for both reproduces that (a queue of their own would leave
	// creates nearly unqueued, the destroys being the slower).
	DestroysInCreateQueue bool
	// RequireRootFSEtc is true when a raw:// rootfs without etc/ fails the create.
	RequireRootFSEtc bool
	// MaxContainers is the default container limit (0: none); MaxContainersMessage the 500
	// message of a create beyond it.
	MaxContainers        int
	MaxContainersMessage string
	// ExecFailedMessage is the 500 message of a process whose path cannot be executed.
	ExecFailedMessage func(path string) string
	// Latency is the recorded median round trip of each Garden route (by route name) and
	// Baggageclaim route (prefixed "baggageclaim."), for a simulator at real-runtime speed.
	Latency map[string]time.Duration
}

func containerdNotFound(h string) string {
	return fmt.Sprintf("get container: container %q in namespace \"concourse\": not found", h)
}

// Profiles are the runtimes, the default (what Concourse users run) first.
var Profiles = []Profile{
	{
		Name:                   "containerd",
		Note:                   "Concourse 8 default on linux/amd64",
		RejectsHyphenFilterKey: true,
		UnknownHandleStatus:    500,
		UnknownHandleMessage:   containerdNotFound,
		DuplicateMessage: func(h string) string {
			return fmt.Sprintf("new container: container %q: already exists", h)
		},
		GraceTimeProperty:     "garden.grace-time",
		GraceTimeFromProperty: true,
		ListFiltersOR:         true,
		SerialCreates:         true,
		DestroysInCreateQueue: true,
		MaxContainers:         250,
		MaxContainersMessage:  "new container: checking container capacity: max containers reached",
		ExecFailedMessage: func(p string) string {
			return fmt.Sprintf("proc start: OCI runtime exec failed: exec failed: unable to start container process: exec: %q: stat %s: no such file or directory: unknown", p, p)
		},
		// Medians of the ctrd-* captures' round trips.
		Latency: map[string]time.Duration{
			"ping": 300 * time.Microsecond, "create": 140 * time.Millisecond, "grace_time": 1 * time.Millisecond,
			"list": 800 * time.Microsecond, "properties": 700 * time.Microsecond, "run": 70 * time.Millisecond,
			"destroy": 180 * time.Millisecond, "baggageclaim.create": 1 * time.Millisecond,
			"baggageclaim.stream_in": 3 * time.Millisecond, "baggageclaim.destroy": 2 * time.Millisecond,
			"baggageclaim.list": 500 * time.Microsecond,
		},
	},
	{
		Name:                 "guardian",
		Note:                 "Concourse 7 default; from its source, not recorded",
		CapacityImplemented:  true,
		UnknownHandleStatus:  404,
		UnknownHandleType:    "ContainerNotFoundError",
		UnknownHandleMessage: func(h string) string { return "unknown handle: " + h },
		DuplicateMessage:     func(h string) string { return fmt.Sprintf("Handle '%s' already in use", h) },
		HonourSpecGraceTime:  true,
		MaxContainers:        250,
		MaxContainersMessage: "max containers reached",
		ExecFailedMessage: func(p string) string {
			return fmt.Sprintf("runc exec: exit status 1: exec failed: exec: %q: stat %s: no such file or directory", p, p)
		},
	},
	{
		Name:                 "houdini",
		Note:                 "arm64, macOS and Windows workers; no isolation",
		CapacityImplemented:  true,
		UnknownHandleStatus:  404,
		UnknownHandleType:    "ContainerNotFoundError",
		UnknownHandleMessage: func(h string) string { return "unknown handle: " + h },
		RequireRootFSEtc:     true,
		ExecFailedMessage:    func(p string) string { return fmt.Sprintf("fork/exec %s: no such file or directory", p) },
		// Medians of the houdini captures' round trips.
		Latency: map[string]time.Duration{
			"ping": 200 * time.Microsecond, "create": 900 * time.Microsecond, "grace_time": 300 * time.Microsecond,
			"list": 300 * time.Microsecond, "properties": 300 * time.Microsecond, "run": 700 * time.Microsecond,
			"destroy": 300 * time.Microsecond, "baggageclaim.create": 800 * time.Microsecond,
			"baggageclaim.stream_in": 2 * time.Millisecond, "baggageclaim.destroy": 1700 * time.Microsecond,
			"baggageclaim.list": 400 * time.Microsecond,
		},
	},
}

// Default is the profile of what Concourse users run.
const Default = "containerd"

// Names returns the profiles' names, the default first.
func Names() []string {
	out := make([]string, len(Profiles))
	for i, p := range Profiles {
		out[i] = p.Name
	}
	return out
}

// Lookup returns the profile called name.
func Lookup(name string) (Profile, error) {
	i := slices.IndexFunc(Profiles, func(p Profile) bool { return p.Name == name })
	if i < 0 {
		return Profile{}, fmt.Errorf("unknown runtime %q (have %s)", name, strings.Join(Names(), ", "))
	}
	return Profiles[i], nil
}

// MarkdownTable renders the profiles as the README's compatibility table, row by row: what each
// call answers on each runtime. What deepprobe does about it is the last column.
func MarkdownTable() string {
	rows := []struct {
		what   string
		answer func(p Profile) string
		does   string
	}{
		{"`GET /capacity`, `/info`", func(p Profile) string {
			if p.CapacityImplemented {
				return "200"
			}
			return "500 `not implemented`"
		}, "never calls them"},
		{"list filter on a key with `-`", func(p Profile) string {
			if p.RejectsHyphenFilterKey {
				return "500 `filters: parse error`"
			}
			return "filters"
		}, "writes and filters only `deepprobe.health_check`, `deepprobe.created_at`, `deepprobe.instance`; the client refuses any other character than letters, digits, `_` and `.`"},
		{"unknown handle (destroy, properties, grace time, process run)", func(p Profile) string {
			s := fmt.Sprintf("%d", p.UnknownHandleStatus)
			if p.UnknownHandleType != "" {
				s += " `" + p.UnknownHandleType + "`"
			}
			return s + " `" + p.UnknownHandleMessage("<h>") + "`"
		}, "already gone on destroy; elsewhere `not_found`, or `interrupted` when the run's own container or volume is gone (Concourse's garbage collector)"},
		{"concurrent destroy (grace-time reaper race)", func(p Profile) string {
			return "500 `container already being destroyed`"
		}, "waits until Garden no longer has the container (the volume is its rootfs); still there when the destroy's time runs out (`--stall-timeout` without others' progress, at most `--hard-timeout`): `destroy_stuck`, and the volume is kept for the janitor"},
		{"duplicate handle", func(p Profile) string {
			if p.DuplicateMessage == nil {
				return "200, replaces the container"
			}
			return "500 `" + p.DuplicateMessage("<h>") + "`"
		}, "a fresh UUID handle every workload; never reuses one"},
		{"grace time", func(p Profile) string {
			switch {
			case p.HonourSpecGraceTime:
				return "the spec's `grace_time` arms the reaper"
			case p.GraceTimeFromProperty:
				return "spec field ignored; the reaper reads only the property `" + p.GraceTimeProperty +
					"` (nanoseconds), set at create or by the PUT (`GraceTime()`, `worker/runtime/backend.go`); created without it, a container can be reaped at once when the PUT lands between Garden's two reads"
			}
			return "spec field ignored; only the PUT arms the reaper"
		}, "sends the spec field, the property `garden.grace-time` and the PUT"},
		{"creates while others are in progress", func(p Profile) string {
			if !p.SerialCreates {
				return "no create queue recorded (the simulator overlaps creates)"
			}
			s := "one at a time, in arrival order (`createLock` in `worker/runtime/backend.go`, a FIFO semaphore in `timeout_lock.go`, on when a container limit is set, as by default); Concourse waits up to 5 min for one"
			if p.DestroysInCreateQueue {
				s += "; destroys take no lock but were measured to queue too (the simulator serves them in the same queue)"
			}
			return s + "; a list call takes no lock and answers in milliseconds while creates queue"
		}, "watches lists for others' progress while one of its stages is slow"},
		{"list filter with two properties", func(p Profile) string {
			if p.ListFiltersOR {
				return "ORed: lists what matches any (one containerd filter per property: `propertiesToFilterList`, `worker/runtime/properties.go`)"
			}
			return "ANDed: lists what matches all"
		}, "filters on one property, checks the rest client-side"},
		{"rootfs `raw://` empty volume", func(p Profile) string {
			if p.RequireRootFSEtc {
				return "500 `.../etc/resolv.conf: no such file or directory`"
			}
			return "200"
		}, "`volume.stream_in` puts `etc/` in the volume first"},
		{"container limit", func(p Profile) string {
			if p.MaxContainers == 0 {
				return "none"
			}
			return fmt.Sprintf("500 `%s` (default %d)", p.MaxContainersMessage, p.MaxContainers)
		}, "leaves `--container-reserve` (1) slots to builds: with no more free under `--max-containers` (or the limit learnt when a create met it, for 10 min), the container stages are held back, 200 `warn` `saturated`; a create that meets the limit: `max_containers`, `warn` (200) by default (`--on-saturation fail` for 503), a failure when deepprobe's own leftovers fill it"},
		{"process whose path cannot run", func(p Profile) string {
			return "500 `" + p.ExecFailedMessage("<path>") + "`"
		}, "reason `exec_failed`"},
	}
	var b strings.Builder
	b.WriteString("| call |")
	for _, p := range Profiles {
		fmt.Fprintf(&b, " %s (%s) |", p.Name, p.Note)
	}
	b.WriteString(" what deepprobe does |\n|---|")
	for range Profiles {
		b.WriteString("---|")
	}
	b.WriteString("---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s |", r.what)
		for _, p := range Profiles {
			fmt.Fprintf(&b, " %s |", r.answer(p))
		}
		fmt.Fprintf(&b, " %s |\n", r.does)
	}
	return b.String()
}
