package wire

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/deepprobe/deepprobe/internal/routes"
)

// TestDoEscapesOnce: handles and base paths reach the server escaped exactly once.
func TestDoEscapesOnce(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.RequestURI()
	}))
	defer srv.Close()
	route := routes.Route{Name: "get", Method: http.MethodGet, Path: "/things/:handle"}
	tests := []struct {
		base, handle string
		query        url.Values
		want         string
	}{
		{srv.URL, "plain", nil, "/things/plain"},
		{srv.URL, "a b/c%d", nil, "/things/a%20b%2Fc%25d"},
		{srv.URL + "/garden/", "h", nil, "/garden/things/h"},
		{srv.URL + "/with%20space", "h", nil, "/with%20space/things/h"},
		{srv.URL, "h", url.Values{"deepprobe.health-check": {"true"}}, "/things/h?deepprobe.health-check=true"},
	}
	for _, tt := range tests {
		e, err := NewEndpoint(tt.base, srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Do(context.Background(), route, []string{tt.handle}, tt.query, nil); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("base %q handle %q: server saw %q, want %q", tt.base, tt.handle, got, tt.want)
		}
	}
}
