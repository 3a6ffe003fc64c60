package garden_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/deepprobe/deepprobe/probes/garden"
)

// huge is as long as an answer may be: every string a hostile or broken Garden sends is that
// long, and none of it may be kept whole.
var huge = strings.Repeat("x", 4<<20-200)

// maxErrText bounds an error's text here: two bounded strings and the call's own words.
const maxErrText = 4 << 10

// hostile answers every call with status and body.
func hostile(t *testing.T, status int, body any) *garden.Client {
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
	c, err := garden.NewClient(srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wantBounded fails unless err's text and every string of its *garden.Error are bounded and
// say that they were cut.
func wantBounded(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	if n := len(err.Error()); n > maxErrText || !strings.Contains(err.Error(), "...[cut ") {
		t.Fatalf("error text is %d bytes (want at most %d, with a cut marker): %.200s", n, maxErrText, err.Error())
	}
	var gerr *garden.Error
	if errors.As(err, &gerr) {
		if n := len(gerr.Type) + len(gerr.Message) + len(gerr.Handle) + len(gerr.Body) + len(gerr.Location); n > maxErrText {
			t.Fatalf("the error keeps %d bytes of the answer", n)
		}
	}
}

// TestUpstreamStringsAreBounded: Garden's Message, Type and Handle, a create answer naming
// another handle, listed handles and properties are each cut where they are decoded.
func TestUpstreamStringsAreBounded(t *testing.T) {
	ctx := context.Background()
	t.Run("500 message", func(t *testing.T) {
		c := hostile(t, 500, garden.ErrorBody{Message: huge})
		_, err := c.Create(ctx, garden.Spec{Handle: "h"})
		wantBounded(t, err)
	})
	t.Run("500 message within the error body limit", func(t *testing.T) {
		c := hostile(t, 500, garden.ErrorBody{Message: huge[:200<<10]})
		_, err := c.Create(ctx, garden.Spec{Handle: "h"})
		wantBounded(t, err)
		var gerr *garden.Error
		if !errors.As(err, &gerr) || len(gerr.Message) > 1024 || !strings.HasSuffix(gerr.Message, "bytes]") {
			t.Fatalf("the message is not decoded and cut: %.200v", err)
		}
	})
	t.Run("404 type and handle", func(t *testing.T) {
		c := hostile(t, 404, garden.ErrorBody{Type: huge[:100<<10], Message: "m", Handle: huge[:100<<10]})
		wantBounded(t, c.Destroy(ctx, "h"))
	})
	t.Run("another handle", func(t *testing.T) {
		c := hostile(t, 200, map[string]string{"Handle": huge})
		got, err := c.Create(ctx, garden.Spec{Handle: "h"})
		wantBounded(t, err)
		if len(got) > 256 {
			t.Fatalf("returned handle is %d bytes", len(got))
		}
	})
	t.Run("list", func(t *testing.T) {
		c := hostile(t, 200, map[string][]string{"Handles": {huge[:1<<20], "ok"}})
		hs, err := c.List(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(hs) != 2 || len(hs[0]) > 256 || !strings.Contains(hs[0], "...[cut ") || hs[1] != "ok" {
			t.Fatalf("handles: %d, first %d bytes, second %q", len(hs), len(hs[0]), hs[len(hs)-1])
		}
	})
	t.Run("properties", func(t *testing.T) {
		c := hostile(t, 200, map[string]string{huge[:1<<20]: "v", "k": huge[:1<<20]})
		props, err := c.Properties(ctx, "h")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for k, v := range props {
			n += len(k) + len(v)
		}
		if len(props) != 2 || n > 2048 || !strings.Contains(props["k"], "...[cut ") {
			t.Fatalf("%d properties keep %d bytes", len(props), n)
		}
	})
}

// TestProcessErrorIsBounded: a process's error and id on the hijacked stream are cut too.
func TestProcessErrorIsBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprint(buf, "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
		_ = json.NewEncoder(buf).Encode(garden.ProcessPayload{ProcessID: huge[:1<<20]})
		msg := huge[:2<<20]
		_ = json.NewEncoder(buf).Encode(garden.ProcessPayload{Error: &msg})
		_ = buf.Flush()
	}))
	defer srv.Close()
	c, err := garden.NewClient(srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	err = c.Run(context.Background(), "h", garden.ProcessSpec{Path: "/true"})
	if !errors.Is(err, garden.ErrExecFailed) {
		t.Fatalf("err = %.300v, want ErrExecFailed", err)
	}
	wantBounded(t, err)
}
