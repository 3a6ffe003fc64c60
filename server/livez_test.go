package server

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/probes"
	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/probes/garden"
)

// TestLivezFailureHasAReason (issue 19, "Also"): /livez's failing answer names a top-level
// reason, as the README promises, from the deep check's bounded set, for each way Garden can
// fail the real shallow check.
func TestLivezFailureHasAReason(t *testing.T) {
	bc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("[]"))
	}))
	t.Cleanup(bc.Close)
	refused := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr
	}
	serve := func(h http.HandlerFunc) func() string {
		return func() string {
			s := httptest.NewServer(h)
			t.Cleanup(s.Close)
			return s.URL
		}
	}
	for _, tt := range []struct {
		name   string
		garden func() string
		query  string
		want   probes.Reason
	}{
		{"nothing listens", refused, "", probes.ReasonRefused},
		{"an error status", serve(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, `{"Type":"","Message":"boom"}`, http.StatusInternalServerError)
		}), "", probes.ReasonUpstreamError},
		{"the connection drops", serve(func(w http.ResponseWriter, _ *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		}), "", probes.ReasonConnectionLost},
		{"no answer in time", serve(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }),
			"?timeout=100ms", probes.ReasonTimeout},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hc := &http.Client{Transport: &http.Transport{}}
			t.Cleanup(hc.CloseIdleConnections)
			g, err := garden.NewClient(tt.garden(), hc)
			if err != nil {
				t.Fatal(err)
			}
			b, err := baggageclaim.NewClient(bc.URL, hc)
			if err != nil {
				t.Fatal(err)
			}
			shallow, err := probes.NewShallow(probes.ShallowConfig{Garden: g, Baggageclaim: b, Timeout: 500 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(shallow.Wait)
			ts := newTestServer(t, &fakeDeep{}, shallow, Config{})
			status, _, body := get(t, ts, http.MethodGet, "/livez"+tt.query, nil)
			var h Health
			if err := json.Unmarshal([]byte(body), &h); err != nil {
				t.Fatal(err)
			}
			if status != http.StatusServiceUnavailable || h.FailedStage != probes.CheckGardenPing || h.Reason != string(tt.want) {
				t.Errorf("%d, failed_stage %q, reason %q; want 503 %s %s: %s", status, h.FailedStage, h.Reason, probes.CheckGardenPing, tt.want, body)
			}
		})
	}
}

// TestLivezReasonWithoutAStageReason: a failed check that carries no reason of its own still
// gets one from the same classification.
func TestLivezReasonWithoutAStageReason(t *testing.T) {
	failing := fakeShallow{
		{Name: probes.CheckGardenPing, Status: probes.StatusPass},
		{Name: probes.CheckBaggageclaimList, Status: probes.StatusFail, Err: errors.New("unreadable answer")},
	}
	h := shallowHealth(failing, 0)
	if h.Status != "fail" || h.FailedStage != probes.CheckBaggageclaimList || h.Reason != string(probes.ReasonBadAnswer) {
		t.Errorf("%+v", h)
	}
}
