// Package capture reads the recorded HTTP exchanges in testdata/ (one request and one response
// per file, exact bytes between marker lines) for the fixture tests of the wire clients and
// simulators. Test support only.
package capture
