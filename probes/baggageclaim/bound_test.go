package baggageclaim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/deepprobe/deepprobe/probes"
	"github.com/deepprobe/deepprobe/probes/baggageclaim"
)

// answering returns a client of a server answering every call with status and body.
func answering(t *testing.T, status int, body any) *baggageclaim.Client {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	c, err := baggageclaim.NewClient(srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestUpstreamStringsAreBounded: Baggageclaim's error, and a create answer naming another
// handle or a huge path, are cut where they are decoded.
func TestUpstreamStringsAreBounded(t *testing.T) {
	huge := strings.Repeat("y", 4<<20-200)
	const h = "health-check-1"
	for name, tt := range map[string]struct {
		status int
		body   any
	}{
		"500 error":      {500, baggageclaim.ErrorBody{Error: huge}},
		"another handle": {201, baggageclaim.Volume{Handle: huge, Path: "/v/live/" + h + "/volume"}},
		"huge path":      {201, baggageclaim.Volume{Handle: h, Path: "/v/live/" + h + "/volume/" + huge}},
	} {
		t.Run(name, func(t *testing.T) {
			c := answering(t, tt.status, tt.body)
			v, err := c.CreateVolume(context.Background(), baggageclaim.Request{Handle: h, Strategy: baggageclaim.EmptyStrategy()})
			if err == nil || len(err.Error()) > 4<<10 || !strings.Contains(err.Error(), "...[cut ") {
				t.Fatalf("error of %d bytes, want a bounded one with a cut marker: %.300v", len(err.Error()), err)
			}
			if n := len(v.Handle) + len(v.Path); n > 2048 {
				t.Fatalf("the volume keeps %d bytes", n)
			}
		})
	}
	t.Run("list", func(t *testing.T) {
		c := answering(t, 200, []baggageclaim.Volume{{Handle: huge[:1<<20], Path: huge[:1<<20], Properties: map[string]string{"k": huge[:1<<20]}}})
		vs, err := c.List(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != 1 || len(vs[0].Handle)+len(vs[0].Path)+len(vs[0].Properties["k"]) > 4096 {
			t.Fatalf("listed volume keeps too much")
		}
	})
}

// TestOnlyAVolumePathIsARootfs: the create answer's path must be the requested volume's own
// directory, .../live/<handle>/volume, with no control character; anything else fails the
// create as a bad answer naming the path, escaped.
func TestOnlyAVolumePathIsARootfs(t *testing.T) {
	const h = "health-check-955f712b-24a1-4a7a-a6fa-4aa5000ee959"
	for _, p := range []string{
		"/etc",
		"/opt/concourse/volumes/live/health-check-other/volume", // another build's volume
		"/opt/concourse/volumes/live/" + h + "/volume\n[+]container.create ok 1ms\nhealthz check passed\n",
		"/opt/concourse/volumes/live/" + h + "/volume/etc",
		"/opt/concourse/volumes/live/" + h + "-cow/volume",
		"/opt/concourse/volumes/live/x" + h + "/volume",
		"/opt/\x1b[2J/live/" + h + "/volume",
		"/opt/\u2028/live/" + h + "/volume",
		"/opt/concourse/volumes/live/../live/" + h + "/volume",
		"/opt//live/" + h + "/volume",
		"/live/" + h + "/volume/",
		"/live/" + h + "/volume", // no volumes directory
		"live/" + h + "/volume",
		"/live/" + h + "/volume\x00",
	} {
		t.Run(p, func(t *testing.T) {
			c := answering(t, 201, baggageclaim.Volume{Handle: h, Path: p})
			_, err := c.CreateVolume(context.Background(), baggageclaim.Request{Handle: h, Strategy: baggageclaim.EmptyStrategy()})
			if err == nil {
				t.Fatalf("path %q accepted", p)
			}
			if r := probes.Classify(err); r != probes.ReasonBadAnswer {
				t.Errorf("reason %q, want %q", r, probes.ReasonBadAnswer)
			}
			if quoted, _ := json.Marshal(p); !strings.Contains(err.Error(), strings.Trim(string(quoted), `"`)) && !strings.Contains(err.Error(), "volume path \"") {
				t.Errorf("err = %v, want it to name the path", err)
			}
			if strings.ContainsAny(err.Error(), "\n\r\x1b\x00\u2028") {
				t.Errorf("err = %q holds a control character", err)
			}
		})
	}
	for _, p := range []string{"/opt/concourse/volumes/live/" + h + "/volume", "/opt/concourse/h/volumes/live/" + h + "/volume"} {
		c := answering(t, 201, baggageclaim.Volume{Handle: h, Path: p})
		if _, err := c.CreateVolume(context.Background(), baggageclaim.Request{Handle: h, Strategy: baggageclaim.EmptyStrategy()}); err != nil {
			t.Errorf("path %q refused: %v", p, err)
		}
	}
}
