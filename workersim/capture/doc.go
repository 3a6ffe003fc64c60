// Package capture reads the recorded HTTP exchanges in recorded/ (a copy of
// shared/worker-api/captures: one request and one response per file, exact bytes between marker
// lines) for the fixture tests of the wire clients and the simulators, and replays them. Test
// support only: the product binary never imports it.
package capture
