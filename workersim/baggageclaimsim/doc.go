// Package baggageclaimsim provides a Baggageclaim API simulator for tests and demos, shaped
// like httptest.Server. It answers like the recorded server (naive driver): 201 on create, 204
// on destroy, the generic {"error":...} bodies with their unreliable Content-Types, property
// filters that refuse a repeated key. Every volume is a real directory under a state directory
// the simulator owns; the import strategy copies a host directory, and stream-in extracts a
// raw or gzip tar into it, bounded by ?limit= as the real server is. Faults can be injected per
// route, including a full disk on create.
package baggageclaimsim
