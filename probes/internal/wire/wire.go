package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/deepprobe/deepprobe/probes/routes"
)

// MaxBody is the most of an answer's body that is read; a longer body is an error.
const MaxBody = 4 << 20

// ErrInvalidArgument matches errors for arguments refused before any request was sent.
var ErrInvalidArgument = errors.New("invalid argument")

// ErrGone matches an answer that says the resource is not there (any more), or is being
// removed by the server itself: on a destroy, the work is done. Each API says which answers
// those are (API.Match); a router's bare 404 never is.
var ErrGone = errors.New("already gone")

// API is what differs between Garden and Baggageclaim on the wire.
type API struct {
	// Name prefixes every error ("garden", "baggageclaim").
	Name string
	// Routes are the API's routes, by name.
	Routes routes.Table
	// ParseError reads the API's JSON error body; ok is false when b is not one.
	ParseError func(b []byte) (typ, message, handle string, ok bool)
	// Match tells whether an error answer matches a sentinel (ErrGone, or one of the API's own).
	Match func(e *Error, target error) bool
}

// Response is a read answer.
type Response struct {
	StatusCode  int
	ContentType string
	Location    string
	Body        []byte
}

// OK reports a 2xx status.
func (r Response) OK() bool { return r.StatusCode >= 200 && r.StatusCode < 300 }

// Error is a non-2xx answer from a server, whatever its body.
type Error struct {
	// API and Route name the call ("garden", "destroy").
	API, Route string
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Type (Garden only), Message and Handle come from the API's JSON error body, when it had
	// one, bounded (MaxName, MaxText, MaxName) with a marker where they were cut.
	Type, Message, Handle string
	// Requested is the handle the request was about, if any.
	Requested string
	// Body is the start of a body that was not the API's JSON error (or was longer than
	// MaxErrorBody), for the operator to read.
	Body string
	// Location is where a redirect pointed; redirects are never followed.
	Location string

	match func(e *Error, target error) bool
}

// Error implements error.
func (e *Error) Error() string {
	status := fmt.Sprintf("%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	prefix := e.API + " " + e.Route + ": " + status
	switch {
	case e.StatusCode >= 300 && e.StatusCode < 400:
		return fmt.Sprintf("%s: redirect to %q refused (a worker's daemons never redirect)", prefix, e.Location)
	case e.Message != "" && e.Type != "":
		return fmt.Sprintf("%s: %s: %s", prefix, e.Type, e.Message)
	case e.Message != "":
		return fmt.Sprintf("%s: %s", prefix, e.Message)
	case e.Body != "":
		return fmt.Sprintf("%s: unexpected body %q", prefix, e.Body)
	default:
		return prefix + " with an empty body"
	}
}

// Is matches the API's sentinels (see API.Match).
func (e *Error) Is(target error) bool { return e.match != nil && e.match(e, target) }

// Invalid is the error for an argument refused before anything was sent.
func Invalid(api, route, field, reason string) error {
	return fmt.Errorf("%s %s: %s %s: %w", api, route, field, reason, ErrInvalidArgument)
}

// parseBase checks that base is an absolute http(s) URL with a host and no query, and returns
// it without a trailing slash.
func parseBase(base string) (*url.URL, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("invalid URL %q: %w", base, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("invalid URL %q: scheme must be http or https", base)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("invalid URL %q: no host", base)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("invalid URL %q: must not have a query, fragment or user", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// Endpoint is one server of an API: its base URL and the HTTP client to reach it.
type Endpoint struct {
	api  API
	base *url.URL
	http *http.Client
}

// NewEndpoint checks baseURL (see parseBase); a nil hc means a client on Go's default
// transport. The client is copied so that redirects are never followed: a 3xx is an error.
func NewEndpoint(api API, baseURL string, hc *http.Client) (*Endpoint, error) {
	u, err := parseBase(baseURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", api.Name, err)
	}
	c := http.Client{}
	if hc != nil {
		c = *hc
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Endpoint{api: api, base: u, http: &c}, nil
}

// Request is one call: a route with its path parameters and query, and at most one body.
type Request struct {
	Route  string
	Params []string
	Query  url.Values
	// JSON, when not nil, is marshalled as the body (Content-Type application/json).
	JSON any
	// Body, when not nil, is sent as it is, with ContentEncoding and ContentType if set.
	Body            io.Reader
	ContentEncoding string
	ContentType     string
}

// handle is the first path parameter, which is always a handle in these APIs.
func (r Request) handle() string {
	if len(r.Params) > 0 {
		return r.Params[0]
	}
	return ""
}

// Call sends req and returns the body of a 2xx answer; any other answer is an *Error.
func (e *Endpoint) Call(ctx context.Context, req Request) ([]byte, error) {
	hreq, err := e.build(ctx, req)
	if err != nil {
		return nil, err
	}
	resp, err := e.http.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", e.api.Name, req.Route, BoundError(err))
	}
	defer resp.Body.Close()
	r, err := readResponse(resp)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", e.api.Name, req.Route, err)
	}
	if !r.OK() {
		return nil, e.api.DecodeError(req, r)
	}
	return r.Body, nil
}

// Decode decodes a 2xx body into v, naming the call when the server sent something else.
func (e *Endpoint) Decode(route string, b []byte, v any) error {
	if err := DecodeStrict(b, v); err != nil {
		return fmt.Errorf("%s %s: undecodable answer %q: %w", e.api.Name, route, Snippet(b, 256), err)
	}
	return nil
}

// build makes the HTTP request of req, escaping each path parameter exactly once.
func (e *Endpoint) build(ctx context.Context, req Request) (*http.Request, error) {
	r := e.api.Routes.Find(req.Route)
	for _, p := range req.Params {
		if p == "" {
			return nil, Invalid(e.api.Name, req.Route, "handle", "must not be empty")
		}
	}
	p, err := r.BuildPath(req.Params...)
	if err != nil {
		return nil, Invalid(e.api.Name, req.Route, "path", err.Error())
	}
	body := req.Body
	if req.JSON != nil {
		b, err := json.Marshal(req.JSON)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encoding request: %w", e.api.Name, req.Route, err)
		}
		body = bytes.NewReader(b)
	}
	// p is already escaped (routes.BuildPath): it is the RawPath, and Path its unescaped form.
	u := *e.base
	u.RawPath = e.base.EscapedPath() + p
	if u.Path, err = url.PathUnescape(u.RawPath); err != nil {
		return nil, fmt.Errorf("%s %s: request path %q: %w", e.api.Name, req.Route, u.RawPath, err)
	}
	u.RawQuery = req.Query.Encode()
	hreq, err := http.NewRequestWithContext(ctx, r.Method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", e.api.Name, req.Route, err)
	}
	switch {
	case req.JSON != nil:
		hreq.Header.Set("Content-Type", "application/json")
	case req.ContentType != "":
		hreq.Header.Set("Content-Type", req.ContentType)
	}
	if req.ContentEncoding != "" {
		hreq.Header.Set("Content-Encoding", req.ContentEncoding)
	}
	return hreq, nil
}

// MaxErrorBody is the most of an error answer's body that is read. Real error bodies are a
// JSON object of well under a kilobyte; one longer than this is kept only as a cut snippet
// (its JSON is not decoded), so that a hostile or broken daemon's error costs deepprobe no more
// than this much memory, whatever it sends.
const MaxErrorBody = 256 << 10

// readResponse reads an answer: a 2xx body bounded by MaxBody (longer is an error), any other
// status's body cut at MaxErrorBody.
func readResponse(resp *http.Response) (Response, error) {
	limit := int64(MaxBody)
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	if !ok {
		limit = MaxErrorBody
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return Response{}, fmt.Errorf("reading %d answer: %w", resp.StatusCode, err)
	}
	if ok && len(b) > MaxBody {
		return Response{}, fmt.Errorf("%d answer body is larger than %d bytes", resp.StatusCode, MaxBody)
	}
	return Response{StatusCode: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"),
		Location: resp.Header.Get("Location"), Body: b}, nil
}

// DecodeError turns a non-2xx answer to req into an *Error, whatever its body. Every string
// taken from the answer is bounded (Bound), so that the error's size never follows upstream's;
// a body cut by readResponse is not the API's JSON error, only a snippet.
func (a API) DecodeError(req Request, r Response) *Error {
	err := &Error{API: a.Name, Route: req.Route, StatusCode: r.StatusCode, Requested: req.handle(),
		Location: BoundText(r.Location), match: a.Match}
	if len(r.Body) <= MaxErrorBody {
		if typ, msg, handle, ok := a.ParseError(r.Body); ok {
			err.Type, err.Message, err.Handle = BoundName(typ), BoundText(msg), BoundName(handle)
			return err
		}
	}
	err.Body = Snippet(r.Body, 256)
	return err
}

// Snippet returns the start of b as printable text, at most n bytes (n is at least 64), with a
// cut marker (see Bound) when it was longer.
func Snippet(b []byte, n int) string {
	return Bound(strings.TrimSpace(string(b)), n)
}

// DecodeStrict decodes a whole JSON body into v; trailing data other than white space is an
// error. Unknown fields are allowed: servers add fields over time.
func DecodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("unexpected data after the JSON value")
	}
	return nil
}
