package garden_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/workersim/capture"
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
		// garden-08 filters on "health-check", which the client refuses (containerd cannot
		// filter on a '-'); the simulators replay it.
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
	tests = append(tests, containerdClientCases()...)
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
		{"containerd's filter parse error", "ctrd-08-list-filter-hyphen-key", false, "filters: parse error"},
		{"containerd's not-found for another handle", "ctrd-36-run-unknown-container", false, `container "no-such-container" in namespace`},
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

// clientCase is one recorded exchange the client must send byte for byte and decode.
type clientCase = struct {
	capture string
	call    func(ctx context.Context, c *garden.Client) (any, error)
	check   func(t *testing.T, got any, err error)
}

// wantErr checks that a call failed matching every sentinel in is and none in isNot.
func wantErr(is []error, isNot []error, contains string) func(t *testing.T, got any, err error) {
	return func(t *testing.T, _ any, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), contains) {
			t.Fatalf("err = %v, want it to contain %q", err, contains)
		}
		for _, s := range is {
			if !errors.Is(err, s) {
				t.Errorf("err = %v, want it to match %v", err, s)
			}
		}
		for _, s := range isNot {
			if errors.Is(err, s) {
				t.Errorf("err = %v must not match %v", err, s)
			}
		}
	}
}

// containerdClientCases are the exchanges recorded on Concourse's containerd runtime, and the
// houdini process runs.
func containerdClientCases() []clientCase {
	const h = "health-check-cbe016f0-b687-43af-bd6c-5bb8f2d9e663"
	const ph = "health-check-80c59b0f-c82a-4e76-afdf-217052957db8"
	const hh = "health-check-79978d64-c80d-451d-8863-5f4f5e72c630"
	props := map[string]string{"deepprobe.health_check": "true", "deepprobe.created_at": "2026-11-21T19:38:04Z", "deepprobe.instance": "w1"}
	run := func(handle, path, user string) func(ctx context.Context, c *garden.Client) (any, error) {
		return func(ctx context.Context, c *garden.Client) (any, error) {
			return nil, c.Run(ctx, handle, garden.ProcessSpec{Path: path, User: user})
		}
	}
	destroy := func(handle string) func(ctx context.Context, c *garden.Client) (any, error) {
		return func(ctx context.Context, c *garden.Client) (any, error) { return nil, c.Destroy(ctx, handle) }
	}
	notFound := wantErr([]error{garden.ErrNotFound, garden.ErrGone}, []error{garden.ErrBeingDestroyed, garden.ErrExecFailed}, "not found")
	houdiniNotFound := wantErr([]error{garden.ErrNotFound, garden.ErrGone}, []error{garden.ErrExecFailed}, "ContainerNotFoundError")
	exitStatus := func(want int) func(t *testing.T, got any, err error) {
		return func(t *testing.T, _ any, err error) {
			var exit *garden.ExitError
			if !errors.As(err, &exit) || exit.ExitStatus != want || exit.ProcessID == "" {
				t.Fatalf("err = %v, want exit status %d", err, want)
			}
		}
	}
	return []clientCase{
		{"ctrd-01-ping", func(ctx context.Context, c *garden.Client) (any, error) { return nil, c.Ping(ctx) }, wantNoError},
		{"ctrd-04-create-on-empty-volume", func(ctx context.Context, c *garden.Client) (any, error) {
			return c.Create(ctx, garden.Spec{Handle: h, GraceTime: time.Minute,
				RootFSPath: "raw:///opt/concourse/volumes/live/" + h + "/volume", Properties: props})
		}, wantNoError},
		{"ctrd-05-set-grace-time", func(ctx context.Context, c *garden.Client) (any, error) {
			return nil, c.SetGraceTime(ctx, h, time.Minute)
		}, wantNoError},
		{"ctrd-06-properties", func(ctx context.Context, c *garden.Client) (any, error) { return c.Properties(ctx, h) },
			func(t *testing.T, got any, err error) {
				wantNoError(t, got, err)
				if p := got.(map[string]string); p["deepprobe.health_check"] != "true" || p["garden.grace-time"] != "60000000000" {
					t.Errorf("properties = %v", p)
				}
			}},
		{"ctrd-07-list-filter-underscore-key", func(ctx context.Context, c *garden.Client) (any, error) {
			return c.List(ctx, map[string]string{"deepprobe.health_check": "true"})
		}, func(t *testing.T, got any, err error) {
			wantNoError(t, got, err)
			if hs := got.([]string); len(hs) != 1 || hs[0] != h {
				t.Errorf("handles = %v", hs)
			}
		}},
		{"ctrd-12-destroy", destroy(h), wantNoError},
		{"ctrd-13-destroy-unknown", destroy(h), notFound},
		{"ctrd-14-properties-unknown", func(ctx context.Context, c *garden.Client) (any, error) { return c.Properties(ctx, h) }, notFound},
		{"ctrd-15-set-grace-time-unknown", func(ctx context.Context, c *garden.Client) (any, error) {
			return nil, c.SetGraceTime(ctx, h, time.Minute)
		}, notFound},
		{"ctrd-19-create-duplicate", func(ctx context.Context, c *garden.Client) (any, error) {
			const dh = "health-check-d46f51e3-50e5-49ca-8aaa-637145cd81de"
			return c.Create(ctx, garden.Spec{Handle: dh, GraceTime: time.Minute, RootFSPath: "raw:///opt/concourse/volumes/live/" + dh + "/volume", Properties: props})
		}, wantErr(nil, []error{garden.ErrGone, garden.ErrMaxContainers}, "already exists")},
		{"ctrd-32-run-true-user-root", run(ph, "/true", "0:0"), wantNoError},
		{"ctrd-33-run-true-no-user", run(ph, "/true", ""), wantNoError},
		{"ctrd-34-run-false", run(ph, "/false", "0:0"), exitStatus(1)},
		{"ctrd-35-run-missing-path", run(ph, "/no-such-binary", "0:0"),
			wantErr([]error{garden.ErrExecFailed}, []error{garden.ErrNotFound, garden.ErrGone}, "OCI runtime exec failed")},
		{"ctrd-36-run-unknown-container", run("no-such-container", "/true", "0:0"), notFound},
		{"ctrd-41-destroy-concurrent", destroy("health-check-085b2352-372d-4296-b0cd-81ccd7175b28"),
			wantErr([]error{garden.ErrBeingDestroyed, garden.ErrGone}, []error{garden.ErrNotFound}, "already being destroyed")},
		{"ctrd-44-maxc-create-3-max-reached", func(ctx context.Context, c *garden.Client) (any, error) {
			return c.Create(ctx, garden.Spec{Handle: "health-check-cda5087f-6a24-444d-9bf7-35efda74fcf7", GraceTime: time.Minute,
				RootFSPath: "raw:///opt/concourse/volumes/live/health-check-34466ba6-705c-4504-8755-a0062760533c/volume",
				Properties: map[string]string{"deepprobe.health_check": "true", "deepprobe.created_at": "2026-11-21T19:41:08Z", "deepprobe.instance": "w1"}})
		}, wantErr([]error{garden.ErrMaxContainers}, []error{garden.ErrGone}, "max containers reached")},
		{"houdini-06-run-true-user-root", run(hh, "/true", "0:0"), wantNoError},
		{"houdini-07-run-true-no-user", run(hh, "/true", ""), wantNoError},
		{"houdini-08-run-false", run(hh, "/false", "0:0"), exitStatus(1)},
		{"houdini-09-run-missing-path", run(hh, "/no-such-binary", "0:0"),
			wantErr([]error{garden.ErrExecFailed}, []error{garden.ErrGone}, "fork/exec")},
		{"houdini-10-run-unknown-container", run("no-such-container", "/true", "0:0"), houdiniNotFound},
	}
}
