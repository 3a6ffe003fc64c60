package baggageclaim

import (
	"errors"
	"net/http"

	"github.com/deepprobe/deepprobe/probes/internal/wire"
)

// Error is a non-2xx answer from Baggageclaim (or a redirect, which is never followed).
type Error = wire.Error

// ErrInvalidArgument matches errors for arguments refused before any request was sent.
var ErrInvalidArgument = wire.ErrInvalidArgument

// ErrNotFound matches (with errors.Is) an Error for an unknown volume: status 404 with
// Baggageclaim's {"error":...} body, whatever the Content-Type (the server sends text/plain on
// some routes). A router's bare "404 page not found" does not match.
var ErrNotFound = errors.New("baggageclaim: volume not found")

// ErrGone matches every answer after which a destroy has nothing left to do: ErrNotFound.
var ErrGone = wire.ErrGone

// ErrStreamLimit is a stream-in refused for exceeding the volume streaming limit (403).
var ErrStreamLimit = errors.New("baggageclaim: volume streaming limit exceeded")

var api = wire.API{
	Name:   "baggageclaim",
	Routes: Routes,
	ParseError: func(b []byte) (typ, message, handle string, ok bool) {
		var body ErrorBody
		if err := wire.DecodeStrict(b, &body); err != nil || body.Error == "" {
			return "", "", "", false
		}
		return "", body.Error, "", true
	},
	Match: func(e *Error, target error) bool {
		switch target {
		case ErrNotFound, ErrGone:
			return e.StatusCode == http.StatusNotFound && e.Message != ""
		case ErrStreamLimit:
			return e.StatusCode == http.StatusForbidden && e.Route == RouteStreamIn
		}
		return false
	},
}

func invalid(route, field, reason string) error { return wire.Invalid(api.Name, route, field, reason) }
