package server

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// TestPing: /ping answers from Alive alone, never asks the deep or shallow check, and is open
// without the token the other endpoints want.
func TestPing(t *testing.T) {
	var aliveErr error
	deep := &fakeDeep{err: errors.New("the deep check must not be called")}
	ts := newTestServer(t, deep, fakeShallow{}, Config{AuthToken: "s3cret-token-0123456789", Alive: func() error { return aliveErr }})

	code, h, body := get(t, ts, http.MethodGet, PathPing, nil)
	if code != http.StatusOK || !strings.Contains(body, `"status":"pass"`) || !strings.Contains(body, `"check":"ping"`) {
		t.Errorf("alive: %d %s", code, body)
	}
	if h.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", h.Get("Cache-Control"))
	}
	if code, _, _ := get(t, ts, http.MethodHead, PathPing, nil); code != http.StatusOK {
		t.Errorf("HEAD: %d", code)
	}
	aliveErr = errors.New("the prober's loop is not running")
	code, _, body = get(t, ts, http.MethodGet, PathPing, nil)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"error":"the prober's loop is not running"`) {
		t.Errorf("not alive: %d %s", code, body)
	}
	if deep.gotCtx != nil {
		t.Error("/ping called the deep check")
	}
	if code, _, _ := get(t, ts, http.MethodGet, PathHealthz, nil); code != http.StatusUnauthorized {
		t.Errorf("/healthz without the token: %d, want 401 (the token is on)", code)
	}
}

// TestPingWithoutAlive: with no Alive, /ping is 200 while the server serves.
func TestPingWithoutAlive(t *testing.T) {
	ts := newTestServer(t, &fakeDeep{}, fakeShallow{}, Config{})
	if code, _, body := get(t, ts, http.MethodGet, PathPing, nil); code != http.StatusOK {
		t.Errorf("%d %s", code, body)
	}
}
