// Package workersim is the room of the simulators that stand in for a Concourse worker in
// tests and demos: gardensim (Garden, answering like each runtime in runtimes), baggageclaimsim
// (Baggageclaim), faults (injected failures and call counters) and cmd/workersim, which runs
// both. Nothing here is imported by the deepprobe binary. This package holds only the tests
// that replay the recorded exchanges against both simulators together.
package workersim
