// Package workertest gives tests a Garden and a Baggageclaim to talk to: the real servers named
// by DEEPPROBE_GARDEN_URL and DEEPPROBE_BAGGAGECLAIM_URL when both are set, otherwise fresh
// simulators. Tests that inject faults skip against real servers. Test support only.
package workertest
