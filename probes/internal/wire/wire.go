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
	"unicode/utf8"

	"github.com/deepprobe/deepprobe/internal/routes"
)

// MaxBody is the most of an answer's body that is read; a longer body is an error.
const MaxBody = 4 << 20

// Response is a read answer.
type Response struct {
	StatusCode  int
	ContentType string
	Body        []byte
}

// OK reports a 2xx status.
func (r Response) OK() bool { return r.StatusCode >= 200 && r.StatusCode < 300 }

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
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("invalid URL %q: must not have a query or fragment", base)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// Endpoint is one server: its base URL and the HTTP client to reach it.
type Endpoint struct {
	base *url.URL
	http *http.Client
}

// NewEndpoint checks baseURL (see parseBase); a nil hc means http.DefaultClient.
func NewEndpoint(baseURL string, hc *http.Client) (*Endpoint, error) {
	u, err := parseBase(baseURL)
	if err != nil {
		return nil, err
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Endpoint{base: u, http: hc}, nil
}

// ErrEmptyParam is returned by Do when a path parameter (a handle) is empty.
var ErrEmptyParam = errors.New("empty path parameter")

// Do sends the request of route with its path parameters, query and JSON body, and reads the
// answer, whatever its status.
func (e *Endpoint) Do(ctx context.Context, r routes.Route, params []string, query url.Values, body any) (Response, error) {
	p, err := r.BuildPath(params...)
	if err != nil {
		return Response{}, fmt.Errorf("%w: %v", ErrEmptyParam, err)
	}
	return call(ctx, e.http, e.base, r.Method, p, query, body)
}

// call sends method to base+path (with query, if any) and reads the answer. body, when not
// nil, is marshalled as JSON without a trailing newline, as Go clients send it.
func call(ctx context.Context, hc *http.Client, base *url.URL, method, path string, query url.Values, body any) (Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return Response{}, fmt.Errorf("encoding request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	// path is already escaped (routes.BuildPath): it is the RawPath, and Path its unescaped form,
	// so that a handle with a space or a slash reaches the server escaped exactly once.
	u := *base
	u.RawPath = base.EscapedPath() + path
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return Response{}, fmt.Errorf("request path %q: %w", u.RawPath, err)
	}
	u.Path = p
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return Response{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return Response{}, fmt.Errorf("reading %d answer: %w", resp.StatusCode, err)
	}
	if len(b) > MaxBody {
		return Response{}, fmt.Errorf("%d answer body is larger than %d bytes", resp.StatusCode, MaxBody)
	}
	return Response{StatusCode: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: b}, nil
}

// Snippet returns the start of b as printable text, at most n bytes, marking a cut with "...".
func Snippet(b []byte, n int) string {
	s := strings.TrimSpace(string(b))
	if len(s) <= n {
		return strings.ToValidUTF8(s, "?")
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.ToValidUTF8(s[:cut], "?") + "..."
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
