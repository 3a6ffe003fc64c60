package garden

import (
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/deepprobe/deepprobe/probes/internal/wire"
)

// Error is a non-2xx answer from Garden (or a redirect, which is never followed).
type Error = wire.Error

// ErrInvalidArgument matches errors for arguments refused before any request was sent.
var ErrInvalidArgument = wire.ErrInvalidArgument

// ErrGone matches every answer after which a destroy has nothing left to do: ErrNotFound and
// ErrBeingDestroyed. Nothing else does: a router's bare 404, an HTML page or any other 500
// stays a failure.
var ErrGone = wire.ErrGone

// Sentinels matched (with errors.Is) by an *Error.
var (
	// ErrNotFound is an unknown container handle, as each runtime words it: 404 with Garden's
	// ContainerNotFoundError type (Guardian, houdini), or, on Concourse's containerd runtime,
	// a 500 whose message says that container (the one asked about) was not found in its
	// namespace.
	ErrNotFound = errors.New("garden: container not found")
	// ErrBeingDestroyed is Garden's concurrent-destroy answer (500 "container already being
	// destroyed"): Garden itself is removing the container, for example its grace-time reaper.
	ErrBeingDestroyed = errors.New("garden: container already being destroyed")
	// ErrMaxContainers is a create refused because the worker is at its container limit
	// (500 "... max containers reached"): the worker is full, not broken.
	ErrMaxContainers = errors.New("garden: max containers reached")
	// ErrExecFailed is a process that could not be started (a 5xx answer to a process run
	// other than ErrNotFound: "proc start: OCI runtime exec failed ...", "fork/exec ...").
	ErrExecFailed = errors.New("garden: process could not be started")
)

// TypeContainerNotFound is the ErrorBody.Type of an unknown handle on Guardian and houdini.
const TypeContainerNotFound = "ContainerNotFoundError"

// containerdNotFound is how Concourse's containerd runtime says a handle is unknown:
// `get container: container "<handle>" in namespace "<namespace>": not found`.
var containerdNotFound = regexp.MustCompile(`container "([^"]+)" in namespace "[^"]*": not found$`)

// Messages of Garden's 500 answers that mean something particular.
const (
	msgBeingDestroyed = "container already being destroyed"
	msgMaxContainers  = "max containers reached"
)

var api = wire.API{
	Name:   "garden",
	Routes: Routes,
	ParseError: func(b []byte) (typ, message, handle string, ok bool) {
		var body ErrorBody
		if err := wire.DecodeStrict(b, &body); err != nil || (body.Message == "" && body.Type == "") {
			return "", "", "", false
		}
		return body.Type, body.Message, body.Handle, true
	},
	Match: match,
}

func match(e *Error, target error) bool {
	switch target {
	case ErrGone:
		return notFound(e) || beingDestroyed(e)
	case ErrNotFound:
		return notFound(e)
	case ErrBeingDestroyed:
		return beingDestroyed(e)
	case ErrMaxContainers:
		return e.StatusCode == http.StatusInternalServerError && strings.HasSuffix(e.Message, msgMaxContainers)
	case ErrExecFailed:
		return e.Route == RouteRun && e.StatusCode >= 500 && e.Message != "" && !notFound(e)
	}
	return false
}

func notFound(e *Error) bool {
	if e.StatusCode == http.StatusNotFound {
		return e.Type == TypeContainerNotFound
	}
	if e.StatusCode != http.StatusInternalServerError || e.Type != "" {
		return false
	}
	m := containerdNotFound.FindStringSubmatch(e.Message)
	return m != nil && e.Requested != "" && m[1] == e.Requested
}

// beingDestroyed is Garden's own concurrent-destroy answer: a 500 with no error type (a typed
// 500 carrying the same text is some other error, and stays a failure).
func beingDestroyed(e *Error) bool {
	return e.StatusCode == http.StatusInternalServerError && e.Type == "" && e.Message == msgBeingDestroyed
}

func invalid(route, field, reason string) error { return wire.Invalid(api.Name, route, field, reason) }
