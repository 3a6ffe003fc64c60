// Package fleet owns the fleet budget: before a deep failure becomes a 503, it asks Prometheus
// (the shared ledger operators already run for deepprobe's alerts) what share of the fleet
// fails its deep check, so that a failure shared by too much of the fleet (a storage backend, a
// kernel or runtime update, a misconfiguration shipped everywhere) is held as a warning instead
// of restarting every worker at once. It speaks only Prometheus' HTTP query API, with the
// standard library, one bounded query at a time, a bounded answer, no redirects followed, and
// its own timeout inside the caller's. When Prometheus cannot answer, the budget does not apply.
// It must not call Garden or Baggageclaim, nor change a worker's own verdict anywhere but in
// the answer it holds.
package fleet
