package server

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/deepprobe/deepprobe/probes"
)

// BenchmarkHealthzCached measures the hot path: a /healthz answered from a cached outcome.
func BenchmarkHealthzCached(b *testing.B) {
	s, err := New(resolved(Config{Deep: &fakeDeep{outcome: probes.Outcome{Result: result(""), Healthy: true, Cached: true}}, Shallow: fakeShallow{}}))
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	req := httptest.NewRequest(http.MethodGet, "/healthz?timeout=2s", nil)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
