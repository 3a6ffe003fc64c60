package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/probes"
)

// listening starts a Server on 127.0.0.1:0 and stops it at the end of the test.
func listening(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	return listeningWithClock(t, cfg, nil)
}

// listeningWithClock is listening with the connection limiter's clock.
func listeningWithClock(t *testing.T, cfg Config, clock func() time.Time) (*Server, string) {
	t.Helper()
	if cfg.Deep == nil {
		cfg.Deep = &fakeDeep{outcome: probes.Outcome{Result: result(""), Healthy: true}}
	}
	cfg.Shallow = fakeShallow{}
	s, err := New(resolved(cfg))
	if err != nil {
		t.Fatal(err)
	}
	s.clock = clock
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, s.Addr().String()
}

// dialerFrom dials from the loopback address ip (127.0.0.2: another client on this host).
func dialerFrom(t *testing.T, ip string) *net.Dialer {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 2 * time.Second}
	probe, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("this host cannot use %s as a client address: %v", ip, err)
	}
	_ = probe.Close()
	return d
}

// clientFrom is an HTTP client whose connections come from ip and stay open between requests.
func clientFrom(t *testing.T, ip string, timeout time.Duration) *http.Client {
	t.Helper()
	tr := &http.Transport{DialContext: dialerFrom(t, ip).DialContext, MaxIdleConnsPerHost: 1000}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: timeout}
}

func getOK(hc *http.Client, url string) error {
	resp, err := hc.Get(url)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body) // read to the end: the connection stays open
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// held returns the slots addr holds.
func held(s *Server, addr string) int {
	l := s.ln.(*connLimiter)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byAddr[addr]
}

// TestOneAddressCannotTakeEverySlot is the adversarial figure scaled down: one address holds
// idle keep-alive connections and slowloris ones (a header never finished), more than every
// slot; probes from another address are still answered at once, and the flooding address
// never holds more than its share.
func TestOneAddressCannotTakeEverySlot(t *testing.T) {
	s, addr := listening(t, Config{MaxConnections: 16})
	url := "http://" + addr
	attacker := clientFrom(t, "127.0.0.2", 300*time.Millisecond)
	var wg sync.WaitGroup
	for range 30 { // idle keep-alive connections: one request each, then held open
		wg.Add(1)
		go func() { defer wg.Done(); _ = getOK(attacker, url+"/livez") }()
	}
	wg.Wait()
	d := dialerFrom(t, "127.0.0.2")
	for range 30 { // slowloris: a header that never ends
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	// The legitimate caller: a kubelet's probe, its own connection each time. Every flooding
	// connection lives longer than this wait (idle 5s, header 2s) if it holds a slot.
	probe := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	for i := range 5 {
		if err := getOK(probe, url+"/healthz?timeout=2s"); err != nil {
			t.Fatalf("probe %d: %v", i, err)
		}
	}
	if n := held(s, "127.0.0.2"); n > 14 {
		t.Fatalf("the flooding address holds %d slots, more than its share of 14 (16 less the reserve)", n)
	}
}

// TestIdleConnectionsMakeRoom: a client holding every slot with idle keep-alives still gets a
// new connection served: an idle one is closed for it.
func TestIdleConnectionsMakeRoom(t *testing.T) {
	s, addr := listening(t, Config{MaxConnections: 4}) // no reserve below 8: a share of 4
	for range 4 {                                      // a client each: four connections, left open and idle
		if err := getOK(clientFrom(t, "127.0.0.1", 5*time.Second), "http://"+addr+"/livez"); err != nil {
			t.Fatal(err)
		}
	}
	if n := held(s, "127.0.0.1"); n != 4 {
		t.Fatalf("%d idle connections hold slots, want 4", n)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("a new connection beside idle ones was not served: %v", err)
	}
	resp.Body.Close()
	if n := held(s, "127.0.0.1"); n > 4 {
		t.Fatalf("the address holds %d slots, more than every slot", n)
	}
}

// TestSilentConnectionsGiveWay: connections that never send a request give their slots to a
// client that does, from the same address, without waiting for their header timeout. The
// limiter's clock runs ahead, so that the silent ones are past newGrace as soon as they are
// accepted.
func TestSilentConnectionsGiveWay(t *testing.T) {
	var ahead atomic.Bool
	clock := func() time.Time {
		if ahead.Load() {
			return time.Now().Add(10 * newGrace)
		}
		return time.Now()
	}
	_, addr := listeningWithClock(t, Config{MaxConnections: 4}, clock)
	for range 4 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	ahead.Store(true)
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: ReadHeaderTimeout * 3 / 4}
	if err := getOK(hc, "http://"+addr+"/livez"); err != nil {
		t.Fatalf("not served beside silent connections: %v", err)
	}
}

// blockingDeep holds every deep check until release is closed.
type blockingDeep struct {
	started chan struct{}
	release chan struct{}
}

func (b *blockingDeep) Check(ctx context.Context) (probes.Outcome, error) {
	b.started <- struct{}{}
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return probes.Outcome{Result: result(""), Healthy: true}, nil
}

func (b *blockingDeep) Latest() (probes.Outcome, bool) { return probes.Outcome{}, false }

// TestConnectionBound: never more than MaxConnections are served at once, whatever the
// addresses; a connection beyond waits, and is served when a slot frees.
func TestConnectionBound(t *testing.T) {
	deep := &blockingDeep{started: make(chan struct{}, 8), release: make(chan struct{})}
	_, addr := listening(t, Config{MaxConnections: 4, Deep: deep})
	url := "http://" + addr + "/healthz?timeout=10s"
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(deep.release)
	for _, ip := range []string{"127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"} {
		hc := clientFrom(t, ip, 10*time.Second)
		wg.Add(1)
		go func() { defer wg.Done(); _ = getOK(hc, url) }()
	}
	for range 4 {
		<-deep.started
	}
	late := clientFrom(t, "127.0.0.4", 300*time.Millisecond)
	if err := getOK(late, "http://"+addr+"/livez"); err == nil {
		t.Fatal("a fifth connection was served while four requests held every slot")
	}
	deep.release <- struct{}{} // one of the four ends
	late.Timeout = 5 * time.Second
	if err := getOK(late, "http://"+addr+"/livez"); err != nil {
		t.Fatalf("after a slot was freed: %v", err)
	}
}
