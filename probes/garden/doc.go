// Package garden is a small wire-compatible client for the few calls deepprobe makes to a
// Garden server (Concourse's container daemon): ping, capacity, create, set grace time,
// properties, list and destroy. Its routes live in routes.go and are shared with the simulator
// in gardensim. It speaks HTTP only; it must not decide what is healthy or what to reap.
package garden
