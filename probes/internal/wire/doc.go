// Package wire sends one JSON request and reads the whole answer, bounded, for the Garden and
// Baggageclaim clients. It knows nothing of either API's error format.
package wire
