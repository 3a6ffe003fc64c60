package garden

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/deepprobe/deepprobe/probes/internal/wire"
)

// Client calls one Garden server. It is safe for concurrent use.
type Client struct {
	endpoint *wire.Endpoint
}

// NewClient returns a Client for the Garden server at baseURL (for example
// "http://127.0.0.1:7777"). A nil hc means http.DefaultClient; deepprobe always passes its own.
func NewClient(baseURL string, hc *http.Client) (*Client, error) {
	e, err := wire.NewEndpoint(baseURL, hc)
	if err != nil {
		return nil, fmt.Errorf("garden: %w", err)
	}
	return &Client{endpoint: e}, nil
}

// call sends one request and returns the body of a 2xx answer, or an *Error.
func (c *Client) call(ctx context.Context, route string, params []string, query url.Values, body any) ([]byte, error) {
	resp, err := c.endpoint.Do(ctx, Routes.Find(route), params, query, body)
	if errors.Is(err, wire.ErrEmptyParam) {
		return nil, invalid(route, "handle", "must not be empty")
	}
	if err != nil {
		return nil, fmt.Errorf("garden %s: %w", route, err)
	}
	if !resp.OK() {
		return nil, decodeError(route, resp)
	}
	return resp.Body, nil
}

// decodeError turns a non-2xx answer into an *Error, whatever its body.
func decodeError(route string, resp wire.Response) *Error {
	e := &Error{Route: route, StatusCode: resp.StatusCode}
	var body ErrorBody
	if err := wire.DecodeStrict(resp.Body, &body); err == nil && (body.Message != "" || body.Type != "") {
		e.Type, e.Message, e.Handle = body.Type, body.Message, body.Handle
		return e
	}
	e.Body = wire.Snippet(resp.Body, 256)
	return e
}

// decode decodes a 2xx body into v, naming the route when Garden sent something else.
func decode(route string, b []byte, v any) error {
	if err := wire.DecodeStrict(b, v); err != nil {
		return fmt.Errorf("garden %s: undecodable answer %q: %w", route, wire.Snippet(b, 256), err)
	}
	return nil
}

// Ping checks that Garden answers GET /ping with a 2xx.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.call(ctx, RoutePing, nil, nil, nil)
	return err
}

// Capacity returns Garden's capacity; zero fields mean the backend did not say.
func (c *Client) Capacity(ctx context.Context) (Capacity, error) {
	var capacity Capacity
	b, err := c.call(ctx, RouteCapacity, nil, nil, nil)
	if err != nil {
		return capacity, err
	}
	return capacity, decode(RouteCapacity, b, &capacity)
}

// ValidateSpec refuses a spec that deepprobe must never send: an empty handle, a rootfs that is
// not "raw://" followed by an absolute path, a negative grace time.
func ValidateSpec(spec Spec) error {
	if spec.Handle == "" {
		return invalid(RouteCreate, "handle", "must not be empty")
	}
	if spec.GraceTime < 0 {
		return invalid(RouteCreate, "grace_time", fmt.Sprintf("must not be negative, got %s", spec.GraceTime))
	}
	if spec.RootFSPath != "" {
		p, ok := strings.CutPrefix(spec.RootFSPath, "raw://")
		if !ok {
			return invalid(RouteCreate, "rootfs", fmt.Sprintf("must start with raw://, got %q", spec.RootFSPath))
		}
		if !path.IsAbs(p) {
			return invalid(RouteCreate, "rootfs", fmt.Sprintf("must be raw:// followed by an absolute path, got %q", spec.RootFSPath))
		}
	}
	return nil
}

// Create creates a container and returns the handle Garden reports.
func (c *Client) Create(ctx context.Context, spec Spec) (string, error) {
	if err := ValidateSpec(spec); err != nil {
		return "", err
	}
	b, err := c.call(ctx, RouteCreate, nil, nil, spec)
	if err != nil {
		return "", err
	}
	var resp createResponse
	if err := decode(RouteCreate, b, &resp); err != nil {
		return "", err
	}
	if resp.Handle != spec.Handle {
		return resp.Handle, fmt.Errorf("garden %s: asked for handle %q, got %q", RouteCreate, spec.Handle, resp.Handle)
	}
	return resp.Handle, nil
}

// SetGraceTime sets the container's grace time with PUT /containers/:handle/grace_time. This is
// the only way to arm the reaper on houdini and Concourse's containerd backend, which ignore the
// grace time of the create spec.
func (c *Client) SetGraceTime(ctx context.Context, handle string, graceTime time.Duration) error {
	if handle == "" {
		return invalid(RouteGraceTime, "handle", "must not be empty")
	}
	if graceTime < 0 {
		return invalid(RouteGraceTime, "grace_time", fmt.Sprintf("must not be negative, got %s", graceTime))
	}
	_, err := c.call(ctx, RouteGraceTime, []string{handle}, nil, int64(graceTime))
	return err
}

// Properties returns a container's properties.
func (c *Client) Properties(ctx context.Context, handle string) (map[string]string, error) {
	if handle == "" {
		return nil, invalid(RouteProperties, "handle", "must not be empty")
	}
	b, err := c.call(ctx, RouteProperties, []string{handle}, nil, nil)
	if err != nil {
		return nil, err
	}
	var props map[string]string
	return props, decode(RouteProperties, b, &props)
}

// List returns the handles of the containers whose properties include every given one. With
// no properties it lists every container: callers that reap must always filter.
func (c *Client) List(ctx context.Context, properties map[string]string) ([]string, error) {
	q := url.Values{}
	for k, v := range properties {
		if k == "" {
			return nil, invalid(RouteList, "properties", "must not have an empty name")
		}
		q.Set(k, v)
	}
	b, err := c.call(ctx, RouteList, nil, q, nil)
	if err != nil {
		return nil, err
	}
	var resp listResponse
	if err := decode(RouteList, b, &resp); err != nil {
		return nil, err
	}
	return resp.Handles, nil
}

// Destroy destroys a container. An unknown handle returns an error matching ErrNotFound.
func (c *Client) Destroy(ctx context.Context, handle string) error {
	if handle == "" {
		return invalid(RouteDestroy, "handle", "must not be empty")
	}
	_, err := c.call(ctx, RouteDestroy, []string{handle}, nil, nil)
	return err
}
