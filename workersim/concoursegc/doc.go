// Package concoursegc reproduces what a Concourse web node's garbage collection does to a
// worker it manages, for tests and the load harness: every Interval it lists every Garden
// container and every Baggageclaim volume (the worker's container and volume sweepers), waits
// Delay (the round trip through the web node, which marks every handle it does not know as
// destroying), then destroys each listed handle that is not Known, containers and volumes side
// by side as the two sweepers do. deepprobe's health-check resources are unknown to a web node,
// so a sweep that lands during a workload destroys them under it: the volume even while its
// container lives, as on a real worker. It talks to the simulators, or any Garden and
// Baggageclaim, over HTTP only; it is never imported by deepprobe itself.
package concoursegc
