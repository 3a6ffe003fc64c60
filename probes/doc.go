// Package probes owns deepprobe's deep check and the verdicts read from it.
//
//   - The workload (workload.go) is one list of named, timed stages (stages, in workload.go),
//     each a value in its own file (stage_volume.go, stage_stream_in.go, stage_cow.go,
//     stage_container.go, stage_process.go; Stage in stage.go: name, component, action, undo,
//     expected time, what it makes, what it needs, its preparation). It creates a Baggageclaim
//     volume, streams a tiny rootfs into it, makes a copy-on-write child of it, creates a Garden
//     container on it, runs a process there, and destroys all of it. Everything else about the
//     stages derives from that list: their reported names and order, which are optional, the
//     timing defaults, the flag help, the metrics' series and the status page's legend.
//   - A stage past its expected time watches the worker for others' progress (progress.go):
//     busy while the worker creates and destroys for others, stalled when it does nothing, timed
//     out at the hard limit. A run whose own volume or container vanished was interrupted.
//   - The Prober (prober.go) lets many callers share one workload (flight.go, shared with the
//     Shallow check) and its cached result, and reads verdicts that hold under load: a caller's
//     deadline is never a verdict; busy, interrupted and saturated are warnings.
//   - Timing (timing.go) owns every time setting, its default and its rules; Reason (reason.go)
//     the fixed set of reasons; Metrics and History are listeners on finished workloads; Shallow
//     (shallow.go) is the cheap check.
//
// It calls the workers' daemons only through the garden and baggageclaim clients; the marker
// identity of what it creates lives in the leaf package marker. It must not serve HTTP, branch
// on a runtime, or reap anything it did not create in this run.
package probes
