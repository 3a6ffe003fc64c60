package baggageclaim

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"strings"

	"github.com/deepprobe/deepprobe/probes/internal/wire"
)

// Client calls one Baggageclaim server. It is safe for concurrent use.
type Client struct {
	endpoint *wire.Endpoint
}

// NewClient returns a Client for the Baggageclaim server at baseURL (for example
// "http://127.0.0.1:7788"). A nil hc means Go's default transport; deepprobe always passes its
// own. Redirects are never followed.
func NewClient(baseURL string, hc *http.Client) (*Client, error) {
	e, err := wire.NewEndpoint(api, baseURL, hc)
	if err != nil {
		return nil, err
	}
	return &Client{endpoint: e}, nil
}

// ValidateRequest refuses a create that deepprobe must never send: an empty handle, an unknown
// strategy, an import without an absolute path.
func ValidateRequest(req Request) error {
	if req.Handle == "" {
		return invalid(RouteCreate, "handle", "must not be empty")
	}
	switch st := req.Strategy; {
	case st.Type == StrategyEmpty && (st.Path != "" || st.Volume != ""):
		return invalid(RouteCreate, "strategy", "must have no path and no volume for the empty strategy")
	case st.Type == StrategyImport && (!filepath.IsAbs(st.Path) || st.Volume != ""):
		return invalid(RouteCreate, "strategy.path", fmt.Sprintf("must be an absolute path (and no volume) for the import strategy, got %q", st.Path))
	case st.Type == StrategyCOW && (st.Volume == "" || st.Path != ""):
		return invalid(RouteCreate, "strategy.volume", "must name the parent volume (and no path) for the cow strategy")
	case st.Type != StrategyEmpty && st.Type != StrategyImport && st.Type != StrategyCOW:
		return invalid(RouteCreate, "strategy.type", fmt.Sprintf("must be %q, %q or %q, got %q", StrategyEmpty, StrategyImport, StrategyCOW, st.Type))
	}
	return nil
}

// ValidateVolumePath refuses a volume path that cannot be the directory of the volume called
// handle, and so must never become a container's rootfs. Baggageclaim keeps every volume at
// <volumes dir>/live/<handle>/volume (see the captures), so the path must be absolute and clean,
// end in /live/<handle>/volume, and hold no control character: "/etc", another volume's path,
// or a path with a newline are refused. The error names the path, quoted.
func ValidateVolumePath(p, handle string) error {
	suffix := "/live/" + handle + "/volume"
	switch {
	case !path.IsAbs(p):
		return fmt.Errorf("volume path %q is not absolute", p)
	case strings.IndexFunc(p, isControl) >= 0:
		return fmt.Errorf("volume path %q holds a control character", p)
	case path.Clean(p) != p:
		return fmt.Errorf("volume path %q is not clean (\"..\", \".\" or \"//\" in it)", p)
	case handle == "" || strings.Contains(handle, "/") || !strings.HasSuffix(p, suffix) || len(p) == len(suffix):
		return fmt.Errorf("volume path %q is not the volume's own directory (want .../live/%s/volume)", p, handle)
	}
	return nil
}

// isControl reports a C0 or C1 control character, DEL, or a Unicode line or paragraph separator.
func isControl(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r < 0xa0) || r == '\u2028' || r == '\u2029'
}

// CreateVolume creates a volume with the synchronous POST /volumes (about a millisecond for an
// empty volume, where the asynchronous API the upstream client uses polls for 250-750 ms). A
// volume whose path cannot be this volume's directory (ValidateVolumePath) is an error, with the
// volume. Every string of the answer is bounded (wire.Bound).
func (c *Client) CreateVolume(ctx context.Context, req Request) (Volume, error) {
	if err := ValidateRequest(req); err != nil {
		return Volume{}, err
	}
	b, err := c.endpoint.Call(ctx, wire.Request{Route: RouteCreate, JSON: req})
	if err != nil {
		return Volume{}, err
	}
	var v Volume
	if err := c.endpoint.Decode(RouteCreate, b, &v); err != nil {
		return Volume{}, err
	}
	v = v.bounded()
	if v.Handle != req.Handle {
		return v, fmt.Errorf("baggageclaim %s: asked for handle %q, got %q", RouteCreate, req.Handle, v.Handle)
	}
	if err := ValidateVolumePath(v.Path, v.Handle); err != nil {
		return v, fmt.Errorf("baggageclaim %s: volume %q: %w", RouteCreate, v.Handle, err)
	}
	return v, nil
}

// Volume returns one volume. An unknown handle returns an error matching ErrNotFound.
func (c *Client) Volume(ctx context.Context, handle string) (Volume, error) {
	b, err := c.endpoint.Call(ctx, wire.Request{Route: RouteGet, Params: []string{handle}})
	if err != nil {
		return Volume{}, err
	}
	var v Volume
	if err := c.endpoint.Decode(RouteGet, b, &v); err != nil {
		return Volume{}, err
	}
	return v.bounded(), nil
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
	b, err := c.endpoint.Call(ctx, wire.Request{Route: RouteList, Query: q})
	if err != nil {
		return nil, err
	}
	var vs []Volume
	if err := c.endpoint.Decode(RouteList, b, &vs); err != nil {
		return nil, err
	}
	for i := range vs {
		vs[i] = vs[i].bounded()
	}
	return vs, nil
}

// StreamIn extracts the uncompressed tar archive tarball into the volume's directory
// (PUT /volumes/:handle/stream-in?path=. with Content-Encoding: raw; 204 on success).
func (c *Client) StreamIn(ctx context.Context, handle string, tarball []byte) error {
	_, err := c.endpoint.Call(ctx, wire.Request{Route: RouteStreamIn, Params: []string{handle},
		Query: url.Values{"path": {"."}}, Body: bytes.NewReader(tarball), ContentEncoding: EncodingRaw})
	return err
}

// Destroy destroys a volume. An unknown handle returns an error matching ErrNotFound.
func (c *Client) Destroy(ctx context.Context, handle string) error {
	_, err := c.endpoint.Call(ctx, wire.Request{Route: RouteDestroy, Params: []string{handle}})
	return err
}
