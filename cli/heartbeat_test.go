package cli

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/probes"
)

// TestHeartbeatFailuresAreCounted: deepprobe_heartbeat_write_failures_total exists at 0 from
// start-up and counts each failed write (here into a directory that does not exist), so that
// an alert can see a watchdog about to restart a healthy worker.
func TestHeartbeatFailuresAreCounted(t *testing.T) {
	hb := filepath.Join(t.TempDir(), "missing", "heartbeat")
	cfg, err := ParseServe([]string{"--listen", "127.0.0.1:0", "--heartbeat-file", hb}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.upstream.CloseIdleConnections()
	const series = "deepprobe_heartbeat_write_failures_total "
	if got := metricLine(t, m, series); got != series+"0" {
		t.Fatalf("at start-up: %q", got)
	}
	for range 2 {
		m.writeHeartbeat(probes.Outcome{Healthy: true, CompletedAt: time.Unix(1795236598, 0)})
	}
	m.writeHeartbeat(probes.Outcome{Healthy: false}) // no heartbeat is due: not a failure
	if got := metricLine(t, m, series); got != series+"2" {
		t.Fatalf("after two failed writes: %q", got)
	}
}

// metricLine returns the /metrics line that starts with prefix.
func metricLine(t *testing.T, m *Main, prefix string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.server.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}
