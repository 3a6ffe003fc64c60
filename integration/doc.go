// Package integration holds deepprobe's end-to-end tests: they build the real binaries, start
// them on free loopback ports and talk to them over HTTP. With DEEPPROBE_GARDEN_URL and
// DEEPPROBE_BAGGAGECLAIM_URL set they run against those real servers instead of workersim,
// skip the fault-injection cases, and count and clean up only what they created.
package integration
