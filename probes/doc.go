// Package probes owns deepprobe's deep check: a workload of named, timed stages that creates a
// Baggageclaim volume and a Garden container on it and destroys both (Workload), the state
// machine that lets many callers share one workload and its cached result (Prober), and the
// cheap shallow check (Shallow). It calls the workers' daemons only through the garden and
// baggageclaim clients; it must not serve HTTP or reap anything it did not create in this run.
package probes
