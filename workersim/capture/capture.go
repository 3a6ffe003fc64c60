package capture

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Exchange is one recorded request and its response.
type Exchange struct {
	Name string
	// Request is the recorded request; RequestBody its exact body.
	Request     *http.Request
	RequestBody []byte
	// Raw is the exact bytes of the request as sent, for replaying it.
	Raw []byte
	// Response is the recorded response; ResponseBody its exact body.
	Response     *http.Response
	ResponseBody []byte
}

const (
	reqStart  = ">>>>>>>> REQUEST (bytes written by the client)\n"
	reqEnd    = "<<<<<<<< END REQUEST"
	respStart = ">>>>>>>> RESPONSE (bytes read from the server)\n"
	respEnd   = "<<<<<<<< END RESPONSE"
)

func section(b []byte, start, end string) ([]byte, error) {
	i := bytes.Index(b, []byte(start))
	if i < 0 {
		return nil, fmt.Errorf("no %q marker", start)
	}
	rest := b[i+len(start):]
	j := bytes.Index(rest, []byte(end))
	if j < 0 {
		return nil, fmt.Errorf("no %q marker", end)
	}
	return rest[:j], nil
}

// Load reads one capture file.
func Load(path string) (*Exchange, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	rawReq, err := section(b, reqStart, reqEnd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rawResp, err := section(b, respStart, respEnd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	x := &Exchange{Name: path}
	x.Request, err = http.ReadRequest(bufio.NewReader(bytes.NewReader(rawReq)))
	if err != nil {
		return nil, fmt.Errorf("%s: request: %w", path, err)
	}
	if x.RequestBody, err = io.ReadAll(x.Request.Body); err != nil {
		return nil, fmt.Errorf("%s: request body: %w", path, err)
	}
	x.Raw = rawReq[:len(rawReq)-trailing(rawReq, x.Request.ContentLength)]
	x.Response, err = http.ReadResponse(bufio.NewReader(bytes.NewReader(rawResp)), x.Request)
	if err != nil {
		return nil, fmt.Errorf("%s: response: %w", path, err)
	}
	if x.Hijacked() { // the bytes after the header, as they are: not chunked
		x.ResponseBody = rawResp[bytes.Index(rawResp, []byte("\r\n\r\n"))+4:]
		return x, nil
	}
	if x.ResponseBody, err = io.ReadAll(x.Response.Body); err != nil {
		return nil, fmt.Errorf("%s: response body: %w", path, err)
	}
	return x, nil
}

// trailing is how many bytes after the request's end the capture file added (the newline
// before the end marker when the body had none of its own).
func trailing(raw []byte, contentLength int64) int {
	head := bytes.Index(raw, []byte("\r\n\r\n"))
	if head < 0 {
		return 0
	}
	end := head + 4
	if contentLength > 0 {
		end += int(contentLength)
	}
	if end > len(raw) {
		return 0
	}
	return len(raw) - end
}

// Recorded is what a ReplayServer received.
type Recorded struct {
	Method, URI, ContentType, ContentEncoding string
	Body                                      []byte
}

// ReplayServer answers every request with x's recorded response (its status, headers but Date
// and Content-Length, and exact body) and records the last request; it closes with the test.
func ReplayServer(t testing.TB, x *Exchange) (*httptest.Server, *Recorded) {
	rec := &Recorded{}
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		rec.Method, rec.URI, rec.Body, rec.ContentType = r.Method, r.URL.RequestURI(), body, r.Header.Get("Content-Type")
		rec.ContentEncoding = r.Header.Get("Content-Encoding")
		mu.Unlock()
		for k, vs := range x.Response.Header {
			if k != "Date" && k != "Content-Length" {
				w.Header()[k] = vs
			}
		}
		w.WriteHeader(x.Response.StatusCode)
		_, _ = w.Write(x.ResponseBody)
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

// Dir is the directory of the recorded exchanges: recorded/ beside this file, a copy of
// shared/worker-api/captures (the houdini set at the top, the containerd set in containerd/).
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "recorded")
}

// Path returns the file of the recorded exchange called name ("garden-05-create",
// "ctrd-13-destroy-unknown"): containerd's and houdini's process and stream-in exchanges
// (ctrd-*, houdini-*) are in containerd/.
func Path(name string) string {
	if strings.HasPrefix(name, "ctrd-") || strings.HasPrefix(name, "houdini-") {
		return filepath.Join(Dir(), "containerd", name+".txt")
	}
	return filepath.Join(Dir(), name+".txt")
}

// LoadTestdata reads the recorded exchange called name (see Path), failing t if it cannot.
func LoadTestdata(t testing.TB, name string) *Exchange {
	t.Helper()
	x, err := Load(Path(name))
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// AssertSent fails t unless the request r received is x's recorded request: method, path with
// query, exact body, and the Content-Type of a body.
func (r *Recorded) AssertSent(t testing.TB, x *Exchange) {
	t.Helper()
	if r.Method != x.Request.Method || r.URI != x.Request.RequestURI {
		t.Errorf("sent %s %s, recorded %s %s", r.Method, r.URI, x.Request.Method, x.Request.RequestURI)
	}
	if !bytes.Equal(r.Body, x.RequestBody) && !sameJSONObject(r.Body, x.RequestBody) {
		t.Errorf("sent body\n%s\nrecorded\n%s", r.Body, x.RequestBody)
	}
	if want := x.Request.Header.Get("Content-Encoding"); r.ContentEncoding != want {
		t.Errorf("sent Content-Encoding %q, recorded %q", r.ContentEncoding, want)
	}
	if len(x.RequestBody) > 0 && r.ContentType != x.Request.Header.Get("Content-Type") {
		t.Errorf("sent Content-Type %q, recorded %q", r.ContentType, x.Request.Header.Get("Content-Type"))
	}
}

// Hijacked reports whether the recorded answer is Garden's hijacked process stream: 201 with
// a Transfer-Encoding: chunked header and newline-delimited JSON that is not chunked (its
// ResponseBody is then those bytes as they are).
func (x *Exchange) Hijacked() bool {
	return x.Response.StatusCode == http.StatusCreated && slices.Contains(x.Response.TransferEncoding, "chunked")
}

// Answer is what a server answered to a replayed request.
type Answer struct {
	Status      int
	ContentType string
	Body        []byte
}

// Send sends x's recorded request (method, path and query, Content-Type, Content-Encoding and
// body, after rewrite) to base on a connection of its own, and reads the answer; a hijacked
// answer is read raw to the end of the connection.
func Send(t testing.TB, base string, x *Exchange, rewrite func([]byte) []byte) Answer {
	t.Helper()
	body := x.RequestBody
	if rewrite != nil {
		body = rewrite(body)
	}
	req, err := http.NewRequest(x.Request.Method, base+x.Request.RequestURI, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"Content-Type", "Content-Encoding"} {
		if v := x.Request.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	conn, err := net.Dial("tcp", req.URL.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	if resp.StatusCode == http.StatusCreated && slices.Contains(resp.TransferEncoding, "chunked") {
		got, err = io.ReadAll(br)
	} else {
		got, err = io.ReadAll(resp.Body)
	}
	if err != nil {
		t.Fatal(err)
	}
	return Answer{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: got}
}

// sameJSONObject reports whether a and b are the same JSON value with the same keys in the same
// places, written in the same form but for the order of object keys (Go's encoder sorts a map's
// keys; the recorder kept the order it was given; the servers do not care).
func sameJSONObject(a, b []byte) bool {
	if len(a) != len(b) || !json.Valid(a) || !json.Valid(b) {
		return false
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}
