// Package baggageclaim is a small wire-compatible client for the calls deepprobe makes to a
// Baggageclaim server (Concourse's volume daemon): create (synchronous), get, list and destroy.
// Its routes live in routes.go and are shared with the simulator in baggageclaimsim. It speaks
// HTTP only; it must not decide what is healthy or what to reap.
package baggageclaim
