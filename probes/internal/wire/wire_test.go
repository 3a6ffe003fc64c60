package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/deepprobe/deepprobe/probes/routes"
)

var testAPI = API{
	Name:       "test",
	Routes:     routes.Table{{Name: "get", Method: http.MethodGet, Path: "/things/:handle"}, {Name: "delete", Method: http.MethodDelete, Path: "/things/:handle"}},
	ParseError: func([]byte) (string, string, string, bool) { return "", "", "", false },
	Match:      func(*Error, error) bool { return false },
}

// TestCallEscapesOnce: handles and base paths reach the server escaped exactly once.
func TestCallEscapesOnce(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.RequestURI()
	}))
	defer srv.Close()
	tests := []struct {
		base, handle string
		query        url.Values
		want         string
	}{
		{srv.URL, "plain", nil, "/things/plain"},
		{srv.URL, "a b/c%d", nil, "/things/a%20b%2Fc%25d"},
		{srv.URL + "/garden/", "h", nil, "/garden/things/h"},
		{srv.URL + "/with%20space", "h", nil, "/with%20space/things/h"},
		{srv.URL, "h", url.Values{"deepprobe.health_check": {"true"}}, "/things/h?deepprobe.health_check=true"},
	}
	for _, tt := range tests {
		e, err := NewEndpoint(testAPI, tt.base, srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Call(context.Background(), Request{Route: "get", Params: []string{tt.handle}, Query: tt.query}); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("base %q handle %q: server saw %q, want %q", tt.base, tt.handle, got, tt.want)
		}
	}
}

// TestRedirectsAreNeverFollowed: a 307 on a destroy would replay the DELETE somewhere else; it
// must be an error naming the status, and the target must see nothing.
func TestRedirectsAreNeverFollowed(t *testing.T) {
	var hits int
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer target.Close()
	for _, status := range []int{301, 302, 303, 307, 308} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/things/foreign", status)
		}))
		// Even a client whose own policy follows redirects.
		hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
		e, err := NewEndpoint(testAPI, srv.URL, hc)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.Call(context.Background(), Request{Route: "delete", Params: []string{"h"}})
		var werr *Error
		if !errors.As(err, &werr) || werr.StatusCode != status || !strings.Contains(err.Error(), "redirect") || !strings.Contains(err.Error(), "/things/foreign") {
			t.Errorf("%d: err = %v, want a redirect error naming the status and target", status, err)
		}
		srv.Close()
	}
	if hits != 0 {
		t.Fatalf("the redirect target got %d requests", hits)
	}
}

func TestEndpointRefusesBadBaseURLs(t *testing.T) {
	for _, bad := range []string{"", "127.0.0.1:7777", "ftp://x", "http://", "http://x?y=1", "http://user:pw@x"} {
		if _, err := NewEndpoint(testAPI, bad, nil); err == nil {
			t.Errorf("NewEndpoint(%q) accepted", bad)
		}
	}
}

// TestHugeAnswersAreBounded: a status line or a Location header of megabytes (net/http reads
// up to 10 MiB of header) never makes a large error.
func TestHugeAnswersAreBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	answers := []string{
		"HTTP/1.1 2" + strings.Repeat("0", 2<<20) + " OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 307 Temporary Redirect\r\nLocation: /" + strings.Repeat("l", 2<<20) + "\r\nContent-Length: 0\r\n\r\n",
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, a := range answers {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c) }()
			_, _ = c.Write([]byte(a))
			_ = c.Close()
		}
	}()
	e, err := NewEndpoint(testAPI, "http://"+ln.Addr().String(), &http.Client{Transport: &http.Transport{DisableKeepAlives: true}})
	if err != nil {
		t.Fatal(err)
	}
	for range answers {
		_, err := e.Call(context.Background(), Request{Route: "get", Params: []string{"h"}})
		if err == nil || len(err.Error()) > MaxError+200 {
			t.Errorf("error of %d bytes: %.200v", len(fmt.Sprint(err)), err)
		}
	}
	<-done
}
