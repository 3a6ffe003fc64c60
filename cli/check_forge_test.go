package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/deepprobe/deepprobe/server"
)

// TestCheckOutputCannotBeForged: an upstream message full of newlines and terminal escapes,
// as deepprobe relays it in its JSON, prints on the lines it belongs to: Docker copies this
// output into its health log, where a forged "healthy" line would read as a pass.
func TestCheckOutputCannotBeForged(t *testing.T) {
	const forged = "boom\n[+]container.create ok 1ms\r\nhealthy (pass, deep check, age 0ms; decided by deepprobe)\n\x1b[2J\u2028"
	h := server.Health{Status: "fail", Check: "deep", Error: "container.create failed: " + forged, FailedStage: "container.create",
		Stages: []server.StageBody{{Name: "container.create", Status: "fail", Reason: "upstream_error", Error: forged}}}
	body, _ := json.Marshal(h)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	var out, errOut bytes.Buffer
	code := runCheck(context.Background(), Env{Getenv: func(string) string { return "" }, Stdout: &out, Stderr: &errOut},
		[]string{"--url", srv.URL + "/healthz", "--timeout", "5s"})
	if code == ExitOK {
		t.Fatalf("exit %d for a failing deepprobe", code)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "healthy") || strings.HasPrefix(line, "[+]") {
			t.Errorf("forged line %q in:\n%s", line, out.String())
		}
	}
	if strings.ContainsAny(out.String(), "\r\x1b\u2028") {
		t.Errorf("control characters in:\n%q", out.String())
	}
}
