package baggageclaim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deepprobe/deepprobe/internal/capture"
	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/workersim/baggageclaimsim"
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

// TestSimulatorAgainstCaptures replays the recorded session in order against the simulator and
// compares status, Content-Type and body byte for byte, with the state directory substituted.
func TestSimulatorAgainstCaptures(t *testing.T) {
	state := t.TempDir()
	if err := os.MkdirAll(filepath.Join(state, "skeleton", "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "skeleton", "etc", "hostname"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sim, err := baggageclaimsim.NewServer(baggageclaimsim.Config{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	steps := []string{
		"bc-01-list-empty", "bc-02-create-empty", "bc-03-create-other", "bc-04-list-filtered",
		"bc-05-list-filter-nomatch", "bc-06-list-all", "bc-07-list-filter-repeated-key", "bc-08-get",
		"bc-09-get-unknown", "bc-10-create-duplicate", "bc-11-create-no-strategy", "bc-12-create-unknown-strategy",
		"bc-13-create-bad-json", "bc-15-set-property", "bc-16-get-after-set-property", "bc-17-destroy",
		"bc-18-destroy-unknown", "combo-04-bc-create-import", "combo-01-bc-create-empty",
	}
	for _, step := range steps {
		x := capture.LoadTestdata(t, step)
		reqBody := bytes.ReplaceAll(x.RequestBody, []byte(recordedState), []byte(state))
		wantBody := bytes.ReplaceAll(x.ResponseBody, []byte(recordedState), []byte(state))
		req, _ := http.NewRequest(x.Request.Method, sim.URL+x.Request.RequestURI, bytes.NewReader(reqBody))
		if ct := x.Request.Header.Get("Content-Type"); ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != x.Response.StatusCode {
			t.Errorf("%s: status %d, recorded %d", step, resp.StatusCode, x.Response.StatusCode)
		}
		if got, want := resp.Header.Get("Content-Type"), x.Response.Header.Get("Content-Type"); got != want {
			t.Errorf("%s: Content-Type %q, recorded %q", step, got, want)
		}
		if !bytes.Equal(body, wantBody) {
			t.Errorf("%s: body\n%s\nrecorded\n%s", step, body, wantBody)
		}
	}
	// The import copied the skeleton into a real directory.
	v, err := os.ReadFile(filepath.Join(state, "volumes/live/health-check-bf43886b-e55a-45ea-af30-497e661c23db/volume/etc/hostname"))
	if err != nil || string(v) != "x\n" {
		t.Errorf("imported file: %q, %v", v, err)
	}

	t.Run("create without handle picks one", func(t *testing.T) {
		x := capture.LoadTestdata(t, "bc-14-create-no-handle")
		resp, err := http.Post(sim.URL+"/volumes", "application/json", bytes.NewReader(x.RequestBody))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got, want map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&got)
		_ = json.Unmarshal(x.ResponseBody, &want)
		if resp.StatusCode != 201 || got["properties"] != nil || len(got["handle"].(string)) != 36 {
			t.Errorf("got %d %v, recorded %v", resp.StatusCode, got, want)
		}
	})
}
