package baggageclaim

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrNotFound matches (with errors.Is) an Error for an unknown volume: status 404 with
// Baggageclaim's {"error":...} body, whatever the Content-Type (the server sends text/plain on
// some routes). A router's bare "404 page not found" does not match.
var ErrNotFound = errors.New("baggageclaim: volume not found")

// ErrInvalidArgument matches errors for arguments refused before any request was sent.
var ErrInvalidArgument = errors.New("invalid argument")

// Error is a non-2xx answer from Baggageclaim.
type Error struct {
	// Route is the name of the call that failed (see Routes).
	Route string
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Message is the "error" field of Baggageclaim's JSON error body, when it had one.
	Message string
	// Body is the start of a body that was not Baggageclaim's JSON error.
	Body string
}

// Error implements error.
func (e *Error) Error() string {
	status := fmt.Sprintf("%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	switch {
	case e.Message != "":
		return fmt.Sprintf("baggageclaim %s: %s: %s", e.Route, status, e.Message)
	case e.Body != "":
		return fmt.Sprintf("baggageclaim %s: %s: unexpected body %q", e.Route, status, e.Body)
	default:
		return fmt.Sprintf("baggageclaim %s: %s with an empty body", e.Route, status)
	}
}

// Is reports whether e matches ErrNotFound.
func (e *Error) Is(target error) bool {
	return target == ErrNotFound && e.StatusCode == http.StatusNotFound && e.Message != ""
}

func invalid(route, field, reason string) error {
	return fmt.Errorf("baggageclaim %s: %s %s: %w", route, field, reason, ErrInvalidArgument)
}
