// Package workersim is the room of test and demo support, standing in for a Concourse worker:
// gardensim (Garden, answering like each runtime in runtimes, with containerd's create queue, a
// load from outside, a wedge and a stuck destroy), baggageclaimsim (Baggageclaim), concoursegc
// (a web node's garbage collector), faults (injected failures and call counters), capture (the
// recorded exchanges, replayed), workertest (the real servers or fresh simulators for a test),
// and cmd/workersim, which runs them. Nothing here is imported by the deepprobe binary. This
// package holds only the tests that replay the recorded exchanges against both simulators
// together.
package workersim
