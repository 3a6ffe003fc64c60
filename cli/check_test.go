package cli

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// answering is an httptest server answering every request with status and body.
func answering(t *testing.T, status int, body string) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status == http.StatusFound {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// refusedURL returns a URL nothing listens at.
func refusedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/healthz"
}

// rawServer accepts connections and hands each to serve (which must return once the
// connection is closed); it stops, and closes what it accepted, when the test ends.
func rawServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + ln.Addr().String() + "/healthz"
}

// hanging never answers: the TCP connection is accepted and held.
func hanging(t *testing.T) string {
	return rawServer(t, func(c net.Conn) { _, _ = c.Read(make([]byte, 1)) }) // until closed
}

// notHTTP answers a request like an SSH server, then holds the connection.
func notHTTP(t *testing.T) string {
	return rawServer(t, func(c net.Conn) {
		_, _ = http.ReadRequest(bufio.NewReader(c))
		_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
		_, _ = c.Read(make([]byte, 1)) // until closed
	})
}

const (
	passBody = `{"status":"pass","check":"deep","stages":[{"name":"volume.create","status":"pass","duration_ms":1}],"age_ms":0}`
	failBody = `{"status":"fail","check":"deep","error":"container.create failed: garden create: 500","stages":[{"name":"container.create","status":"fail","reason":"upstream_error","error":"garden create: 500"}]}`
)

func runCheckArgs(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), Env{Args: append([]string{"check"}, args...), Getenv: env(nil), Stdout: &out, Stderr: &errOut})
	return out.String(), errOut.String(), code
}

// TestCheckUnreachable: what decides, by what deepprobe did and --unreachable. Any HTTP answer
// from deepprobe is its verdict; only no HTTP answer at all hands the decision over.
func TestCheckUnreachable(t *testing.T) {
	fbHealthy, fbSick := answering(t, http.StatusOK, "ok"), answering(t, http.StatusServiceUnavailable, "garden: ping failed\x1b[31m")
	fbRedirect := answering(t, http.StatusFound, "")
	dpPass, dpFail := answering(t, http.StatusOK, passBody), answering(t, http.StatusServiceUnavailable, failBody)
	dp401 := answering(t, http.StatusUnauthorized, `{"error":"missing or wrong bearer token"}`)
	dpOther := answering(t, http.StatusNotFound, "404 page not found")
	refused, hung, garbage := refusedURL(t), hanging(t), notHTTP(t)
	fallback := func(url string) []string { return []string{"--unreachable", "fallback", "--fallback-url", url} }
	tests := []struct {
		name     string
		url      string
		extra    []string
		wantCode int
		want     []string
	}{
		{"deepprobe passes", dpPass, fallback(fbSick), 0, []string{"[+]volume.create ok", "decided by deepprobe"}},
		{"deepprobe's 503 is never replaced", dpFail, fallback(fbHealthy), 1, []string{"unhealthy: HTTP 503: container.create failed", "(decided by deepprobe)"}},
		{"deepprobe's 401 is its answer", dp401, fallback(fbHealthy), 1, []string{"unhealthy: HTTP 401: missing or wrong bearer token (decided by deepprobe)"}},
		{"another HTTP server on the port is an answer", dpOther, fallback(fbHealthy), 1, []string{"HTTP 404 with an unexpected body", "(decided by deepprobe)"}},
		{"refused, default fail", refused, nil, 1, []string{"unhealthy: no answer from deepprobe", "connection refused", "(decided by --unreachable fail)"}},
		{"refused, pass", refused, []string{"--unreachable", "pass"}, 0, []string{"healthy: no answer from deepprobe", "(decided by --unreachable pass)"}},
		{"refused, fallback healthy", refused, fallback(fbHealthy), 0, []string{"asking the fallback", "healthy: the fallback " + fbHealthy + " answered HTTP 200 (decided by the fallback)"}},
		{"refused, fallback sick", refused, fallback(fbSick), 1, []string{"unhealthy: the fallback " + fbSick + ` answered HTTP 503 "garden: ping failed\x1b[31m" (decided by the fallback)`}},
		{"refused, fallback redirects", refused, fallback(fbRedirect), 1, []string{"answered HTTP 302", "(decided by the fallback)"}},
		{"refused, fallback refused too", refused, fallback(refusedURL(t)), 1, []string{"no answer from the fallback", "either", "(decided by the fallback)"}},
		{"timeout, fallback healthy", hung, append([]string{"--timeout", "300ms"}, fallback(fbHealthy)...), 0, []string{"context deadline exceeded", "(decided by the fallback)"}},
		{"timeout, fallback hangs too", hung, append([]string{"--timeout", "200ms", "--fallback-timeout", "200ms"}, fallback(hanging(t))...), 1, []string{"no answer from the fallback", "(decided by the fallback)"}},
		{"not HTTP, fallback healthy", garbage, fallback(fbHealthy), 0, []string{"malformed HTTP response", "(decided by the fallback)"}},
		{"not HTTP, default fail", garbage, nil, 1, []string{"malformed HTTP response", "(decided by --unreachable fail)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runCheckArgs(t, append([]string{"--url", tt.url, "--timeout", "5s"}, tt.extra...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.wantCode, out, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestCheckFallbackBound: a hung deepprobe and a hung fallback cost --timeout +
// --fallback-timeout, and no more.
func TestCheckFallbackBound(t *testing.T) {
	cfg, err := ParseCheck([]string{"--url", hanging(t), "--timeout", "200ms", "--unreachable", "fallback", "--fallback-url", hanging(t)}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.FallbackTimeout != 200*time.Millisecond || cfg.MaxDuration() != 400*time.Millisecond {
		t.Fatalf("fallback timeout %s, bound %s", cfg.FallbackTimeout, cfg.MaxDuration())
	}
	start := time.Now()
	if err := check(context.Background(), cfg, &bytes.Buffer{}); err == nil {
		t.Fatal("healthy with nothing answering")
	}
	if took := time.Since(start); took < cfg.MaxDuration() || took > cfg.MaxDuration()+2*time.Second {
		t.Errorf("took %s, want about %s", took, cfg.MaxDuration())
	}
}

// TestCheckFlagErrors: each bad setting is refused, naming its flag, with exit 1 (never 2).
func TestCheckFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--unreachable", "ignore"}, `--unreachable must be fail, pass or fallback, got "ignore"`},
		{[]string{"--unreachable", "fallback"}, "--unreachable fallback needs --fallback-url"},
		{[]string{"--unreachable", "fallback", "--fallback-url", "127.0.0.1:8888"}, `--fallback-url must be an http(s) URL with a host, got "127.0.0.1:8888"`},
		{[]string{"--fallback-url", "http://127.0.0.1:8888/"}, "--fallback-url only applies with --unreachable fallback (it is fail)"},
		{[]string{"--unreachable", "fallback", "--fallback-url", "http://127.0.0.1:8888/", "--fallback-timeout", "-1s"}, "--fallback-timeout must not be negative"},
		{[]string{"--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"--url", "localhost:8889/healthz"}, "--url must be an http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, errOut, code := runCheckArgs(t, tt.args...)
			if code != ExitFailure || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, errOut, tt.want)
			}
		})
	}
	var errOut bytes.Buffer
	code := Run(context.Background(), Env{Args: []string{"check"}, Getenv: env(map[string]string{"DEEPPROBE_UNREACHABLE": "maybe"}), Stdout: &bytes.Buffer{}, Stderr: &errOut})
	if code != ExitFailure || !strings.Contains(errOut.String(), "--unreachable must be") {
		t.Errorf("from the environment: exit %d, %q", code, errOut.String())
	}
}
