package garden_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/internal/capture"
	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/workersim/gardensim"
)

// TestClientAgainstCaptures checks that the client sends the recorded request byte for byte
// (method, path, query, body) and decodes the recorded answer.
func TestClientAgainstCaptures(t *testing.T) {
	const h = "health-check-05d02b42-18cf-407e-b451-1b4347687779"
	tests := []struct {
		capture string
		call    func(ctx context.Context, c *garden.Client) (any, error)
		check   func(t *testing.T, got any, err error)
	}{
		{"garden-01-ping", func(ctx context.Context, c *garden.Client) (any, error) { return nil, c.Ping(ctx) }, wantNoError},
		{"garden-02-capacity", func(ctx context.Context, c *garden.Client) (any, error) { return c.Capacity(ctx) },
			func(t *testing.T, got any, err error) {
				wantNoError(t, got, err)
				if got.(garden.Capacity) != (garden.Capacity{}) {
					t.Errorf("capacity = %+v, want all zero", got)
				}
			}},
		{"garden-05-create", func(ctx context.Context, c *garden.Client) (any, error) {
			return c.Create(ctx, garden.Spec{Handle: h, GraceTime: 5 * time.Minute,
				RootFSPath: "raw:///opt/concourse/state/rootfs/hc-05d02b42-18cf-407e-b451-1b4347687779",
				Properties: map[string]string{"health-check": "true"}})
		}, func(t *testing.T, got any, err error) {
			wantNoError(t, got, err)
			if got != h {
				t.Errorf("handle = %v, want %s", got, h)
			}
		}},
		{"garden-04-create-rootfs-without-etc", func(ctx context.Context, c *garden.Client) (any, error) {
			return c.Create(ctx, garden.Spec{Handle: "health-check-0944121b-23f6-43f5-8336-be6395b37e12", GraceTime: 5 * time.Minute,
				RootFSPath: "raw:///opt/concourse/state/rootfs/noetc-0944121b-23f6-43f5-8336-be6395b37e12",
				Properties: map[string]string{"health-check": "true"}})
		}, func(t *testing.T, got any, err error) {
			var gerr *garden.Error
			if !errors.As(err, &gerr) || gerr.StatusCode != 500 || !strings.Contains(gerr.Message, "etc/resolv.conf: no such file") {
				t.Fatalf("err = %v, want a 500 *garden.Error about etc/resolv.conf", err)
			}
			if errors.Is(err, garden.ErrNotFound) {
				t.Errorf("a 500 must not match ErrNotFound")
			}
		}},
		{"garden-08-list-filtered", func(ctx context.Context, c *garden.Client) (any, error) {
			return c.List(ctx, map[string]string{"health-check": "true"})
		}, func(t *testing.T, got any, err error) {
			wantNoError(t, got, err)
			if hs := got.([]string); len(hs) != 1 || hs[0] != h {
				t.Errorf("handles = %v", hs)
			}
		}},
		{"garden-03-list-empty", func(ctx context.Context, c *garden.Client) (any, error) { return c.List(ctx, nil) },
			func(t *testing.T, got any, err error) {
				wantNoError(t, got, err)
				if hs := got.([]string); len(hs) != 0 {
					t.Errorf("handles = %v, want none", hs)
				}
			}},
		{"garden-13-properties", func(ctx context.Context, c *garden.Client) (any, error) { return c.Properties(ctx, h) },
			func(t *testing.T, got any, err error) {
				wantNoError(t, got, err)
				if p := got.(map[string]string); len(p) != 1 || p["health-check"] != "true" {
					t.Errorf("properties = %v", p)
				}
			}},
		{"grace-03-stock-put-grace-time", func(ctx context.Context, c *garden.Client) (any, error) {
			return nil, c.SetGraceTime(ctx, "health-check-3189c317-7075-4206-a8f8-71c23e4fdbb7", 2*time.Second)
		}, wantNoError},
		{"garden-18-destroy", func(ctx context.Context, c *garden.Client) (any, error) { return nil, c.Destroy(ctx, h) }, wantNoError},
		{"garden-19-destroy-unknown", func(ctx context.Context, c *garden.Client) (any, error) { return nil, c.Destroy(ctx, h) },
			func(t *testing.T, got any, err error) {
				var gerr *garden.Error
				if !errors.Is(err, garden.ErrNotFound) || !errors.As(err, &gerr) {
					t.Fatalf("err = %v, want ErrNotFound", err)
				}
				if gerr.Type != garden.TypeContainerNotFound || gerr.Handle != h || gerr.Message != "unknown handle: "+h {
					t.Errorf("decoded %+v", gerr)
				}
			}},
		// garden-21 (a body that is not JSON) cannot come from the client: TestSimulatorAgainstCaptures replays it.
		{"garden-25-set-grace-time-unknown", func(ctx context.Context, c *garden.Client) (any, error) {
			return nil, c.SetGraceTime(ctx, "no-such-container", time.Second)
		}, func(t *testing.T, got any, err error) {
			if !errors.Is(err, garden.ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.capture, func(t *testing.T) {
			x := capture.LoadTestdata(t, tt.capture)
			srv, rec := capture.ReplayServer(t, x)
			c, err := garden.NewClient(srv.URL, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			got, err := tt.call(context.Background(), c)
			tt.check(t, got, err)
			rec.AssertSent(t, x)
		})
	}
}

// TestClientDecodesAnyErrorBody covers answers that are not Garden's JSON error.
func TestClientDecodesAnyErrorBody(t *testing.T) {
	tests := []struct {
		name, capture string
		wantNotFound  bool
		wantInError   string
	}{
		{"router 404 is not a missing container", "garden-23-unknown-route", false, `404 Not Found: unexpected body "404 page not found"`},
		{"500 with type", "garden-22-create-unsupported-rootfs", false, "unsupported rootfs uri"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := capture.LoadTestdata(t, tt.capture)
			srv, _ := capture.ReplayServer(t, x)
			c, _ := garden.NewClient(srv.URL, srv.Client())
			err := c.Destroy(context.Background(), "h")
			if err == nil || errors.Is(err, garden.ErrNotFound) != tt.wantNotFound || !strings.Contains(err.Error(), tt.wantInError) {
				t.Fatalf("err = %v; want it to contain %q, ErrNotFound=%v", err, tt.wantInError, tt.wantNotFound)
			}
		})
	}
	t.Run("long non-JSON body is truncated", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(502)
			_, _ = w.Write([]byte("<html>" + strings.Repeat("x", 5000) + "</html>"))
		}))
		defer srv.Close()
		c, _ := garden.NewClient(srv.URL, srv.Client())
		err := c.Ping(context.Background())
		var gerr *garden.Error
		if !errors.As(err, &gerr) || gerr.StatusCode != 502 || len(gerr.Body) > 300 || !strings.HasPrefix(gerr.Body, "<html>") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("2xx with garbage body", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("not json"))
		}))
		defer srv.Close()
		c, _ := garden.NewClient(srv.URL, srv.Client())
		if _, err := c.List(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "garden list: undecodable answer") {
			t.Fatalf("err = %v", err)
		}
	})
}

func wantNoError(t *testing.T, _ any, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// TestSimulatorAgainstCaptures replays recorded requests, in their recorded order, against the
// simulator and compares status, Content-Type and body byte for byte.
func TestSimulatorAgainstCaptures(t *testing.T) {
	scenarios := []struct {
		name  string
		cfg   gardensim.Config
		steps []string
	}{
		{"houdini session", gardensim.Config{}, []string{
			"garden-01-ping", "garden-02-capacity", "garden-03-list-empty", "garden-05-create", "garden-06-create-no-rootfs",
			"garden-08-list-filtered", "garden-09-list-filter-two-props", "garden-10-list-filter-nomatch",
			"garden-10b-list-filter-repeated-key-first-true", "garden-10c-list-filter-repeated-key-first-false",
			"garden-10d-list-filter-urlencoded", "garden-12-info", "garden-13-properties",
			"garden-15-create-duplicate", "garden-16-list-after-duplicate", "garden-17-properties-after-duplicate",
			"garden-18-destroy", "garden-19-destroy-unknown", "garden-20-info-unknown", "garden-21-create-bad-json",
			"garden-22-create-unsupported-rootfs", "garden-23-unknown-route", "garden-25-set-grace-time-unknown",
			"garden-24-destroy-plain",
		}},
		{"rootfs without etc", gardensim.Config{RequireRootFSEtc: true}, []string{
			"garden-04-create-rootfs-without-etc", "client-08-garden-create-on-empty-volume",
		}},
		{"container on a volume", gardensim.Config{}, []string{"combo-05-garden-create-on-volume"}},
		{"stock grace time", gardensim.Config{}, []string{
			"grace-01-stock-create-2s", "grace-02-stock-list-after-5s", "grace-03-stock-put-grace-time",
		}},
		{"client library session", gardensim.Config{}, []string{
			"client-01-garden-ping", "client-02-garden-capacity", "client-10-garden-create-on-volume",
			"client-11-garden-list-filtered", "client-12-garden-info", "client-13-garden-properties",
			"client-14-garden-create-duplicate", "client-15-garden-destroy", "client-16-garden-destroy-unknown",
			"client-17-garden-lookup-unknown",
		}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			sim, err := gardensim.NewServer(sc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer sim.Close()
			for _, step := range sc.steps {
				x := capture.LoadTestdata(t, step)
				status, contentType, body := replay(t, sim.URL, x)
				if status != x.Response.StatusCode {
					t.Errorf("%s: status %d, recorded %d", step, status, x.Response.StatusCode)
				}
				if want := x.Response.Header.Get("Content-Type"); contentType != want {
					t.Errorf("%s: Content-Type %q, recorded %q", step, contentType, want)
				}
				if !bytes.Equal(body, x.ResponseBody) {
					t.Errorf("%s: body\n%s\nrecorded\n%s", step, body, x.ResponseBody)
				}
			}
		})
	}
}

// replay sends the recorded request to base and returns the answer.
func replay(t *testing.T, base string, x *capture.Exchange) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(x.Request.Method, base+x.Request.RequestURI, bytes.NewReader(x.RequestBody))
	if err != nil {
		t.Fatal(err)
	}
	if ct := x.Request.Header.Get("Content-Type"); ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}
