package garden

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrNotFound matches (with errors.Is) an Error for an unknown container handle: status 404
// with Garden's ContainerNotFoundError type. A bare 404 from a router (wrong URL, another
// server) does not match, so it can never pass for "already destroyed".
var ErrNotFound = errors.New("garden: container not found")

// ErrInvalidArgument matches errors for arguments refused before any request was sent.
var ErrInvalidArgument = errors.New("invalid argument")

// Error is a non-2xx answer from Garden.
type Error struct {
	// Route is the name of the call that failed (see Routes).
	Route string
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Type and Message come from Garden's JSON error body, when it had one.
	Type    string
	Message string
	// Handle is the container handle Garden named in its error, if any.
	Handle string
	// Body is the start of a body that was not Garden's JSON error, for the operator to read.
	Body string
}

// Error implements error.
func (e *Error) Error() string {
	status := fmt.Sprintf("%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	switch {
	case e.Message != "" && e.Type != "":
		return fmt.Sprintf("garden %s: %s: %s: %s", e.Route, status, e.Type, e.Message)
	case e.Message != "":
		return fmt.Sprintf("garden %s: %s: %s", e.Route, status, e.Message)
	case e.Body != "":
		return fmt.Sprintf("garden %s: %s: unexpected body %q", e.Route, status, e.Body)
	default:
		return fmt.Sprintf("garden %s: %s with an empty body", e.Route, status)
	}
}

// Is reports whether e matches ErrNotFound.
func (e *Error) Is(target error) bool {
	return target == ErrNotFound && e.StatusCode == http.StatusNotFound && e.Type == TypeContainerNotFound
}

func invalid(route, field, reason string) error {
	return fmt.Errorf("garden %s: %s %s: %w", route, field, reason, ErrInvalidArgument)
}
