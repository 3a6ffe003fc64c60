// Package faults injects failures into the API simulators, route by route: added latency, a
// hang until the caller gives up, a fixed status and body, a connection reset, a full disk. It
// also counts calls per route. It serves test and demo servers only; deepprobe itself never
// imports it.
package faults
