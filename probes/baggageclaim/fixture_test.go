package baggageclaim_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/workersim/capture"
)

// recordedState is the servers' state directory in the captures.
const recordedState = "/opt/concourse/state"

func TestClientAgainstCaptures(t *testing.T) {
	const h = "health-check-19123e21-7bf0-4528-966c-c5e8b6ff0675"
	wantVolume := baggageclaim.Volume{Handle: h, Path: recordedState + "/volumes/live/" + h + "/volume",
		Properties: map[string]string{"health-check": "true"}}
	tests := []struct {
		capture string
		call    func(ctx context.Context, c *baggageclaim.Client) (any, error)
		check   func(t *testing.T, got any, err error)
	}{
		{"bc-02-create-empty", func(ctx context.Context, c *baggageclaim.Client) (any, error) {
			return c.CreateVolume(ctx, baggageclaim.Request{Handle: h, Strategy: baggageclaim.EmptyStrategy(),
				Properties: map[string]string{"health-check": "true"}})
		}, wantVolumeResult(wantVolume)},
		{"combo-04-bc-create-import", func(ctx context.Context, c *baggageclaim.Client) (any, error) {
			return c.CreateVolume(ctx, baggageclaim.Request{Handle: "health-check-bf43886b-e55a-45ea-af30-497e661c23db",
				Strategy:   baggageclaim.ImportStrategy(recordedState + "/skeleton"),
				Properties: map[string]string{"health-check": "true"}})
		}, wantNoError},
		{"bc-08-get", func(ctx context.Context, c *baggageclaim.Client) (any, error) { return c.Volume(ctx, h) },
			wantVolumeResult(wantVolume)},
		{"bc-09-get-unknown", func(ctx context.Context, c *baggageclaim.Client) (any, error) { return c.Volume(ctx, "no-such-volume") },
			wantNotFound},
		{"bc-04-list-filtered", func(ctx context.Context, c *baggageclaim.Client) (any, error) {
			return c.List(ctx, map[string]string{"health-check": "true"})
		}, func(t *testing.T, got any, err error) {
			wantNoError(t, got, err)
			if vs := got.([]baggageclaim.Volume); len(vs) != 1 || vs[0].Handle != h {
				t.Errorf("volumes = %+v", vs)
			}
		}},
		{"bc-01-list-empty", func(ctx context.Context, c *baggageclaim.Client) (any, error) { return c.List(ctx, nil) },
			func(t *testing.T, got any, err error) {
				wantNoError(t, got, err)
				if vs := got.([]baggageclaim.Volume); len(vs) != 0 {
					t.Errorf("volumes = %+v", vs)
				}
			}},
		{"bc-10-create-duplicate", func(ctx context.Context, c *baggageclaim.Client) (any, error) {
			return c.CreateVolume(ctx, baggageclaim.Request{Handle: h, Strategy: baggageclaim.EmptyStrategy(),
				Properties: map[string]string{"health-check": "true"}})
		}, func(t *testing.T, got any, err error) {
			var berr *baggageclaim.Error
			if !errors.As(err, &berr) || berr.StatusCode != 500 || berr.Message != "failed to create volume" || errors.Is(err, baggageclaim.ErrNotFound) {
				t.Fatalf("err = %v", err)
			}
		}},
		{"bc-17-destroy", func(ctx context.Context, c *baggageclaim.Client) (any, error) { return nil, c.Destroy(ctx, h) }, wantNoError},
		{"bc-18-destroy-unknown", func(ctx context.Context, c *baggageclaim.Client) (any, error) { return nil, c.Destroy(ctx, h) }, wantNotFound},
		// bc-07 (a repeated filter key) cannot come from the client: TestSimulatorAgainstCaptures replays it.
		// What Concourse's own client sent, for the calls deepprobe shares with it.
		{"client-04-bc-list-volumes-filtered", func(ctx context.Context, c *baggageclaim.Client) (any, error) {
			return c.List(ctx, map[string]string{"health-check": "true"})
		}, func(t *testing.T, got any, err error) {
			wantNoError(t, got, err)
			if vs := got.([]baggageclaim.Volume); len(vs) != 1 || vs[0].Handle != "health-check-d46fa9e5-d605-42ec-ac53-37afacde87ce" {
				t.Errorf("volumes = %+v", vs)
			}
		}},
		{"client-05-bc-lookup-volume", func(ctx context.Context, c *baggageclaim.Client) (any, error) {
			return c.Volume(ctx, "health-check-d46fa9e5-d605-42ec-ac53-37afacde87ce")
		}, wantNoError},
		{"client-06-bc-lookup-volume-unknown", func(ctx context.Context, c *baggageclaim.Client) (any, error) {
			return c.Volume(ctx, "no-such-volume")
		}, wantNotFound},
		{"client-18-bc-destroy-volume", func(ctx context.Context, c *baggageclaim.Client) (any, error) {
			return nil, c.Destroy(ctx, "health-check-5f731df9-74e9-4f32-894c-6c2f78edb393")
		}, wantNoError},
		{"client-19-bc-destroy-volume-unknown", func(ctx context.Context, c *baggageclaim.Client) (any, error) {
			return nil, c.Destroy(ctx, "health-check-5f731df9-74e9-4f32-894c-6c2f78edb393")
		}, wantNotFound},
		// Concourse's containerd worker (overlay driver) and houdini's (naive driver).
		{"ctrd-03-bc-create-empty", func(ctx context.Context, c *baggageclaim.Client) (any, error) {
			return c.CreateVolume(ctx, baggageclaim.Request{Handle: ctrdH, Strategy: baggageclaim.EmptyStrategy(), Properties: ctrdProps})
		}, wantVolumeResult(baggageclaim.Volume{Handle: ctrdH, Path: "/opt/concourse/volumes/live/" + ctrdH + "/volume", Properties: ctrdProps})},
		{"ctrd-16-bc-destroy-volume", func(ctx context.Context, c *baggageclaim.Client) (any, error) { return nil, c.Destroy(ctx, ctrdH) }, wantNoError},
		{"ctrd-23-bc-stream-in-raw", streamIn("health-check-80c59b0f-c82a-4e76-afdf-217052957db8", "ctrd-23-bc-stream-in-raw"), wantNoError},
		{"ctrd-27-bc-stream-in-unknown-volume", streamIn("no-such-volume", "ctrd-27-bc-stream-in-unknown-volume"), wantNotFound},
		// A copy-on-write child, what Concourse gives every build input (ctrd-61, overlay), and
		// one of a parent that does not exist (ctrd-65: 422).
		{"ctrd-61-bc-create-cow-child", func(ctx context.Context, c *baggageclaim.Client) (any, error) {
			return c.CreateVolume(ctx, baggageclaim.Request{Handle: cowParent + "-cow", Strategy: baggageclaim.COWStrategy(cowParent),
				Properties: map[string]string{"deepprobe.health_check": "true"}})
		}, wantVolumeResult(baggageclaim.Volume{Handle: cowParent + "-cow", Path: "/opt/concourse/c/volumes/live/" + cowParent + "-cow/volume",
			Properties: map[string]string{"deepprobe.health_check": "true"}})},
		{"ctrd-65-bc-create-cow-unknown-parent", func(ctx context.Context, c *baggageclaim.Client) (any, error) {
			return c.CreateVolume(ctx, baggageclaim.Request{Handle: cowParent + "-orphan",
				Strategy: baggageclaim.COWStrategy("no-such-9e2dc894-e912-420e-8bbd-d92e5b79b49b")})
		}, func(t *testing.T, got any, err error) {
			var berr *baggageclaim.Error
			if !errors.As(err, &berr) || berr.StatusCode != 422 || errors.Is(err, baggageclaim.ErrNotFound) {
				t.Fatalf("err = %v", err)
			}
		}},
		{"houdini-03-bc-stream-in-raw", streamIn("health-check-79978d64-c80d-451d-8863-5f4f5e72c630", "houdini-03-bc-stream-in-raw"), wantNoError},
	}
	for _, tt := range tests {
		t.Run(tt.capture, func(t *testing.T) {
			x := capture.LoadTestdata(t, tt.capture)
			srv, rec := capture.ReplayServer(t, x)
			c, err := baggageclaim.NewClient(srv.URL, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			got, err := tt.call(context.Background(), c)
			tt.check(t, got, err)
			rec.AssertSent(t, x)
		})
	}
}

const cowParent = "health-check-9e2dc894-e912-420e-8bbd-d92e5b79b49b"

const ctrdH = "health-check-cbe016f0-b687-43af-bd6c-5bb8f2d9e663"

var ctrdProps = map[string]string{"deepprobe.health_check": "true", "deepprobe.created_at": "2026-11-21T19:38:04Z", "deepprobe.instance": "w1"}

// streamIn streams the tar recorded in capture name into handle.
func streamIn(handle, name string) func(ctx context.Context, c *baggageclaim.Client) (any, error) {
	return func(ctx context.Context, c *baggageclaim.Client) (any, error) {
		x, err := capture.Load(capture.Path(name))
		if err != nil {
			return nil, err
		}
		return nil, c.StreamIn(ctx, handle, x.RequestBody)
	}
}

// TestClientStreamLimit: a stream-in over the volume's ?limit= is ErrStreamLimit, not "gone".
func TestClientStreamLimit(t *testing.T) {
	x := capture.LoadTestdata(t, "ctrd-29-bc-stream-in-limit-exceeded")
	srv, _ := capture.ReplayServer(t, x)
	c, _ := baggageclaim.NewClient(srv.URL, srv.Client())
	err := c.StreamIn(context.Background(), "h", x.RequestBody)
	if !errors.Is(err, baggageclaim.ErrStreamLimit) || errors.Is(err, baggageclaim.ErrGone) || !strings.Contains(err.Error(), "exceeded volume streaming limit of 1048B") {
		t.Fatalf("err = %v", err)
	}
}

// TestClientRefusesVolumePaths: a volume whose path cannot be a volume fails its create,
// naming the path.
func TestClientRefusesVolumePaths(t *testing.T) {
	for _, p := range []string{"/", "relative/dir", "/opt/../etc", "/a/b/..", "", "//"} {
		t.Run(p, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(201)
				_ = json.NewEncoder(w).Encode(baggageclaim.Volume{Handle: "h", Path: p})
			}))
			defer srv.Close()
			c, _ := baggageclaim.NewClient(srv.URL, srv.Client())
			_, err := c.CreateVolume(context.Background(), baggageclaim.Request{Handle: "h", Strategy: baggageclaim.EmptyStrategy()})
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", p)) {
				t.Fatalf("err = %v, want it to name %q", err, p)
			}
		})
	}
}

func wantVolumeResult(want baggageclaim.Volume) func(t *testing.T, got any, err error) {
	return func(t *testing.T, got any, err error) {
		t.Helper()
		wantNoError(t, got, err)
		v := got.(baggageclaim.Volume)
		if v.Handle != want.Handle || v.Path != want.Path || len(v.Properties) != len(want.Properties) {
			t.Errorf("volume = %+v, want %+v", v, want)
		}
	}
}

func wantNoError(t *testing.T, _ any, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func wantNotFound(t *testing.T, _ any, err error) {
	t.Helper()
	if !errors.Is(err, baggageclaim.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

func TestClientRouter404IsNotNotFound(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	c, _ := baggageclaim.NewClient(srv.URL, nil)
	err := c.Destroy(context.Background(), "h")
	if err == nil || errors.Is(err, baggageclaim.ErrNotFound) || !strings.Contains(err.Error(), "404 page not found") {
		t.Fatalf("err = %v; a router 404 must be an error that is not ErrNotFound", err)
	}
}
