package baggageclaim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"

	"github.com/deepprobe/deepprobe/probes/internal/wire"
)

// Client calls one Baggageclaim server. It is safe for concurrent use.
type Client struct {
	endpoint *wire.Endpoint
}

// NewClient returns a Client for the Baggageclaim server at baseURL (for example
// "http://127.0.0.1:7788"). A nil hc means http.DefaultClient; deepprobe always passes its own.
func NewClient(baseURL string, hc *http.Client) (*Client, error) {
	e, err := wire.NewEndpoint(baseURL, hc)
	if err != nil {
		return nil, fmt.Errorf("baggageclaim: %w", err)
	}
	return &Client{endpoint: e}, nil
}

func (c *Client) call(ctx context.Context, route string, params []string, query url.Values, body any) ([]byte, error) {
	resp, err := c.endpoint.Do(ctx, Routes.Find(route), params, query, body)
	if errors.Is(err, wire.ErrEmptyParam) {
		return nil, invalid(route, "handle", "must not be empty")
	}
	if err != nil {
		return nil, fmt.Errorf("baggageclaim %s: %w", route, err)
	}
	if !resp.OK() {
		return nil, decodeError(route, resp)
	}
	return resp.Body, nil
}

func decodeError(route string, resp wire.Response) *Error {
	e := &Error{Route: route, StatusCode: resp.StatusCode}
	var body ErrorBody
	if err := wire.DecodeStrict(resp.Body, &body); err == nil && body.Error != "" {
		e.Message = body.Error
		return e
	}
	e.Body = wire.Snippet(resp.Body, 256)
	return e
}

func decode(route string, b []byte, v any) error {
	if err := wire.DecodeStrict(b, v); err != nil {
		return fmt.Errorf("baggageclaim %s: undecodable answer %q: %w", route, wire.Snippet(b, 256), err)
	}
	return nil
}

// ValidateRequest refuses a create that deepprobe must never send: an empty handle, an unknown
// strategy, an import without an absolute path.
func ValidateRequest(req Request) error {
	if req.Handle == "" {
		return invalid(RouteCreate, "handle", "must not be empty")
	}
	switch req.Strategy.Type {
	case StrategyEmpty:
		if req.Strategy.Path != "" {
			return invalid(RouteCreate, "strategy.path", "must be empty for the empty strategy")
		}
	case StrategyImport:
		if !filepath.IsAbs(req.Strategy.Path) {
			return invalid(RouteCreate, "strategy.path", fmt.Sprintf("must be an absolute path for the import strategy, got %q", req.Strategy.Path))
		}
	default:
		return invalid(RouteCreate, "strategy.type", fmt.Sprintf("must be %q or %q, got %q", StrategyEmpty, StrategyImport, req.Strategy.Type))
	}
	return nil
}

// CreateVolume creates a volume with the synchronous POST /volumes (about a millisecond for an
// empty volume, where the asynchronous API the upstream client uses polls for 250-750 ms).
func (c *Client) CreateVolume(ctx context.Context, req Request) (Volume, error) {
	if err := ValidateRequest(req); err != nil {
		return Volume{}, err
	}
	b, err := c.call(ctx, RouteCreate, nil, nil, req)
	if err != nil {
		return Volume{}, err
	}
	var v Volume
	if err := decode(RouteCreate, b, &v); err != nil {
		return Volume{}, err
	}
	if v.Handle != req.Handle {
		return v, fmt.Errorf("baggageclaim %s: asked for handle %q, got %q", RouteCreate, req.Handle, v.Handle)
	}
	if !filepath.IsAbs(v.Path) {
		return v, fmt.Errorf("baggageclaim %s: volume %q has no absolute path (got %q)", RouteCreate, v.Handle, v.Path)
	}
	return v, nil
}

// Volume returns one volume. An unknown handle returns an error matching ErrNotFound.
func (c *Client) Volume(ctx context.Context, handle string) (Volume, error) {
	if handle == "" {
		return Volume{}, invalid(RouteGet, "handle", "must not be empty")
	}
	b, err := c.call(ctx, RouteGet, []string{handle}, nil, nil)
	if err != nil {
		return Volume{}, err
	}
	var v Volume
	return v, decode(RouteGet, b, &v)
}

// List returns the volumes whose properties include every given one. With no properties it
// lists every volume: callers that reap must always filter.
func (c *Client) List(ctx context.Context, properties map[string]string) ([]Volume, error) {
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
	var vs []Volume
	if err := decode(RouteList, b, &vs); err != nil {
		return nil, err
	}
	return vs, nil
}

// Destroy destroys a volume. An unknown handle returns an error matching ErrNotFound.
func (c *Client) Destroy(ctx context.Context, handle string) error {
	if handle == "" {
		return invalid(RouteDestroy, "handle", "must not be empty")
	}
	_, err := c.call(ctx, RouteDestroy, []string{handle}, nil, nil)
	return err
}
