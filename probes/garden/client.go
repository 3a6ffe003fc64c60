package garden

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
// "http://127.0.0.1:7777"). A nil hc means Go's default transport; deepprobe always passes its
// own. Redirects are never followed.
func NewClient(baseURL string, hc *http.Client) (*Client, error) {
	e, err := wire.NewEndpoint(api, baseURL, hc)
	if err != nil {
		return nil, err
	}
	return &Client{endpoint: e}, nil
}

// Ping checks that Garden answers GET /ping with a 2xx.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.endpoint.Call(ctx, wire.Request{Route: RoutePing})
	return err
}

// ValidPropertyName reports whether name can be written and filtered on every runtime:
// Concourse's containerd runtime turns a list filter into a containerd label filter whose parser
// rejects a name with '-' (500 "filters: parse error"), so only letters, digits, '_' and '.'.
func ValidPropertyName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		ok := r == '_' || r == '.' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return false
		}
	}
	return true
}

func validProperties(route string, props map[string]string) error {
	for k := range props {
		if !ValidPropertyName(k) {
			return invalid(route, "properties", fmt.Sprintf("name %q must hold only letters, digits, '_' and '.' (containerd cannot filter on it)", k))
		}
	}
	return nil
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
	b, err := c.endpoint.Call(ctx, wire.Request{Route: RouteCreate, JSON: spec})
	if err != nil {
		return "", err
	}
	var resp createResponse
	if err := c.endpoint.Decode(RouteCreate, b, &resp); err != nil {
		return "", err
	}
	resp.Handle = wire.BoundName(resp.Handle)
	if resp.Handle != spec.Handle {
		return resp.Handle, fmt.Errorf("garden %s: asked for handle %q, got %q", RouteCreate, spec.Handle, resp.Handle)
	}
	return resp.Handle, nil
}

// SetGraceTime sets the container's grace time with PUT /containers/:handle/grace_time. This is
// the only way to arm the reaper on houdini and Concourse's containerd runtime, which ignore the
// grace time of the create spec.
func (c *Client) SetGraceTime(ctx context.Context, handle string, graceTime time.Duration) error {
	if graceTime < 0 {
		return invalid(RouteGraceTime, "grace_time", fmt.Sprintf("must not be negative, got %s", graceTime))
	}
	_, err := c.endpoint.Call(ctx, wire.Request{Route: RouteGraceTime, Params: []string{handle}, JSON: int64(graceTime)})
	return err
}

// Properties returns a container's properties.
func (c *Client) Properties(ctx context.Context, handle string) (map[string]string, error) {
	b, err := c.endpoint.Call(ctx, wire.Request{Route: RouteProperties, Params: []string{handle}})
	if err != nil {
		return nil, err
	}
	var props map[string]string
	if err := c.endpoint.Decode(RouteProperties, b, &props); err != nil {
		return nil, err
	}
	return wire.BoundMap(props), nil
}

// List returns the handles of the containers whose properties include every given one. With
// no properties it lists every container: callers that reap must always filter.
func (c *Client) List(ctx context.Context, properties map[string]string) ([]string, error) {
	if err := validProperties(RouteList, properties); err != nil {
		return nil, err
	}
	q := url.Values{}
	for k, v := range properties {
		q.Set(k, v)
	}
	b, err := c.endpoint.Call(ctx, wire.Request{Route: RouteList, Query: q})
	if err != nil {
		return nil, err
	}
	var resp listResponse
	if err := c.endpoint.Decode(RouteList, b, &resp); err != nil {
		return nil, err
	}
	for i, h := range resp.Handles {
		resp.Handles[i] = wire.BoundName(h)
	}
	return resp.Handles, nil
}

// Destroy destroys a container. An unknown handle, or one Garden is already destroying,
// returns an error matching ErrGone.
func (c *Client) Destroy(ctx context.Context, handle string) error {
	_, err := c.endpoint.Call(ctx, wire.Request{Route: RouteDestroy, Params: []string{handle}})
	return err
}

// ErrStreamCut is a process run whose connection ended before Garden sent an exit status.
var ErrStreamCut = errors.New("garden: process stream ended before an exit status")

// ExitError is a process that ran and exited with a status other than 0.
type ExitError struct {
	ProcessID  string
	ExitStatus int
}

// Error implements error.
func (e *ExitError) Error() string {
	return fmt.Sprintf("garden %s: process %s exited with status %d", RouteRun, e.ProcessID, e.ExitStatus)
}

// Run starts spec in the container and waits for it to exit. Garden answers 201 and then
// writes newline-delimited JSON on the hijacked connection ({"process_id","stream_id"}, then
// {"process_id","exit_status"}) until it closes. Run returns nil for exit status 0, an
// *ExitError for another status, ErrStreamCut when the stream ends first, an error matching
// ErrExecFailed when the process could not start and ErrNotFound for an unknown container.
// ctx bounds the whole run, the wait for the exit included.
func (c *Client) Run(ctx context.Context, handle string, spec ProcessSpec) error {
	if !path.IsAbs(spec.Path) {
		return invalid(RouteRun, "path", fmt.Sprintf("must be absolute, got %q", spec.Path))
	}
	// As Garden's own client sends it: JSON and a trailing newline.
	var body bytes.Buffer
	if err := json.NewEncoder(&body).Encode(spec); err != nil {
		return fmt.Errorf("garden %s: encoding request: %w", RouteRun, err)
	}
	stream, err := c.endpoint.Stream(ctx, wire.Request{Route: RouteRun, Params: []string{handle},
		Body: &body, ContentType: "application/json"}, http.StatusCreated)
	if err != nil {
		return err
	}
	defer stream.Close()
	dec := json.NewDecoder(stream)
	var id string
	for {
		var p ProcessPayload
		err := dec.Decode(&p)
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return fmt.Errorf("garden %s: process %q: %w", RouteRun, id, ErrStreamCut)
		case err != nil && ctx.Err() != nil:
			return fmt.Errorf("garden %s: waiting for process %q to exit: %w", RouteRun, id, ctx.Err())
		case err != nil:
			return fmt.Errorf("garden %s: reading process %q: %w", RouteRun, id, wire.BoundError(err))
		}
		if p.ProcessID != "" {
			id = wire.BoundName(p.ProcessID)
		}
		switch {
		case p.Error != nil:
			return fmt.Errorf("garden %s: process %q: %s: %w", RouteRun, id, wire.BoundText(*p.Error), ErrExecFailed)
		case p.ExitStatus != nil && *p.ExitStatus == 0:
			return nil
		case p.ExitStatus != nil:
			return &ExitError{ProcessID: id, ExitStatus: *p.ExitStatus}
		}
	}
}
