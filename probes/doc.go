// Package probes owns deepprobe's deep check: a workload of named, timed stages, each a value
// (Stage: name, component, action, undo, budget), that creates a Baggageclaim volume, streams a
// tiny rootfs into it, creates a Garden container on it, runs a process there, and destroys
// both (Workload); the state machine that lets many callers share one workload and its cached
// result, and reads verdicts that hold under load (Prober); the timing rules (Timing); failure
// reasons (Reason); the listeners results flow out to (Metrics, History); and the cheap shallow
// check (Shallow). It calls the workers' daemons only through the garden and baggageclaim
// clients; it must not serve HTTP, branch on a runtime, or reap anything it did not create in
// this run.
package probes
