package main

// Figures of the third adversarial pass (issue 21): fair connection slots under a one-address
// flood, and memory against a Garden whose every error is 4 MiB long. Each is self-contained.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// fairSlots: figure 9. One address (127.0.0.2) keeps 1,100 idle keep-alive connections and
// 1,100 slowloris ones (a header never finished) open against deepprobe, re-opening each as
// soon as deepprobe closes it, while a kubelet on another address (127.0.0.1) probes
// /healthz?timeout=2s every 500ms with its timeoutSeconds of 3 on a new connection each time.
// Every probe must be answered.
func (b *bench) fairSlots() error {
	cmd, url, err := b.deepprobe("--min-interval", "5s")
	if err != nil {
		return err
	}
	defer b.stop(cmd)
	if code, _, err := get(url + "/healthz"); err != nil || code != 200 {
		return fmt.Errorf("first workload: %d %v", code, err)
	}
	host := strings.TrimPrefix(url, "http://")
	attacker := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 2 * time.Second}
	c, err := attacker.Dial("tcp", host)
	if err != nil {
		return fmt.Errorf("this host cannot dial from 127.0.0.2: %w", err)
	}
	_ = c.Close()
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var open atomic.Int64
	// hold keeps one connection of the flood open: it sends first (a whole request, then
	// reads the answer and stays; or half a header), waits until deepprobe closes it, and
	// opens it again.
	hold := func(first string, readAnswer bool) {
		defer wg.Done()
		for ctx.Err() == nil {
			c, err := attacker.DialContext(ctx, "tcp", host)
			if err != nil {
				time.Sleep(50 * time.Millisecond) // the load generator's own pace, not a sync
				continue
			}
			stopClose := context.AfterFunc(ctx, func() { _ = c.Close() })
			open.Add(1)
			if _, err := io.WriteString(c, first); err == nil && readAnswer {
				if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
				}
			}
			_, _ = io.Copy(io.Discard, c) // until deepprobe (or the end) closes it
			open.Add(-1)
			stopClose()
			_ = c.Close()
		}
	}
	n := b.n(1100)
	for range n {
		wg.Add(2)
		go hold("GET /livez HTTP/1.1\r\nHost: x\r\n\r\n", true)
		go hold("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", false)
	}
	defer func() { stop(); wg.Wait() }()
	time.Sleep(time.Second) // let the flood reach deepprobe before the first probe
	probe := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 3 * time.Second}
	probes := b.n(40)
	failed := 0
	var slowest time.Duration
	var firstErr error
	for range probes {
		start := time.Now()
		resp, err := probe.Get(url + "/healthz?timeout=2s")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
		}
		slowest = max(slowest, time.Since(start))
		time.Sleep(500 * time.Millisecond)
	}
	held := open.Load()
	measured := fmt.Sprintf("%d of %d probes failed or timed out (slowest %s) with %d idle and %d slowloris connections "+
		"kept open from 127.0.0.2 (%d open at the end)", failed, probes, ms(slowest), n, n, held)
	if firstErr != nil {
		measured += fmt.Sprintf("; first failure: %v", firstErr)
	}
	ratio := 0.0
	if failed > 0 { // the target is zero
		ratio = 3
	}
	b.judge("9. fair slots: one address floods, another probes", measured, "0 probe timeouts", ratio)
	return nil
}

// hugeMessages: figure 10. A Garden that answers every call but /ping with 500 and a 4 MiB
// JSON Message (the largest answer deepprobe reads); 60 workloads fail on it. deepprobe's RSS
// afterwards, and the size of /history, the status page and the log, must not follow it.
func (b *bench) hugeMessages() error {
	msg := strings.Repeat("x", 4<<20-64)
	body, _ := json.Marshal(map[string]string{"Type": "", "Message": msg, "Handle": ""})
	garden := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/ping" {
			_, _ = w.Write([]byte("{}"))
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write(body)
	}), ReadHeaderTimeout: 5 * time.Second}
	ln, err := listenLoopback()
	if err != nil {
		return err
	}
	go func() { _ = garden.Serve(ln) }()
	defer garden.Close()

	args := []string{"serve", "--listen", "127.0.0.1:0", "--garden-url", "http://" + ln.Addr().String(),
		"--baggageclaim-url", b.bcURL, "--janitor-interval", "0", "--min-interval", "1ns", "--instance", "bench-huge"}
	cmd, logBytes, addr, err := b.startCounted("deepprobe", args...)
	if err != nil {
		return err
	}
	defer b.stop(cmd)
	url := "http://" + addr
	workloads := 60
	for range workloads {
		if code, _, err := get(url + "/healthz"); err != nil || code != 503 {
			return fmt.Errorf("a workload against the 4 MiB Garden answered %d %v, want 503", code, err)
		}
	}
	sizes := map[string]int{}
	for _, path := range []string{"/history", "/", "/healthz?verbose"} {
		code, body, err := get(url + path)
		if err != nil || (code != 200 && code != 503) {
			return fmt.Errorf("%s: %d %v", path, code, err)
		}
		sizes[path] = len(body)
	}
	rss, err := rssKiB(cmd.Process.Pid)
	if err != nil {
		return err
	}
	logged := logBytes.Load()
	largest := max(sizes["/history"], sizes["/"], sizes["/healthz?verbose"], int(logged))
	b.judge("10. 4 MiB upstream messages (60 failed workloads)",
		fmt.Sprintf("RSS %d KiB; /history %d bytes, / %d bytes, ?verbose %d bytes, log %d bytes", rss,
			sizes["/history"], sizes["/"], sizes["/healthz?verbose"], logged),
		"RSS < 64 MiB; /history, / and the log < 1 MiB each", max(float64(rss)/(64*1024), float64(largest)/(1<<20)))
	return nil
}

// startCounted runs a binary like start, waits for deepprobe's listening line, and counts the
// bytes it logs from then on.
func (b *bench) startCounted(name string, args ...string) (*exec.Cmd, *atomic.Int64, string, error) {
	cmd := exec.Command(filepath.Join(b.bin, name), args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, "", err
	}
	b.procsMu.Lock()
	b.procs = append(b.procs, cmd)
	b.procsMu.Unlock()
	var logged atomic.Int64
	found := make(chan string, 1)
	go func() {
		br := bufio.NewReaderSize(stderr, 64<<10)
		for {
			line, err := br.ReadString('\n')
			if m := reDeepprobe.FindStringSubmatch(line); m != nil {
				found <- m[1]
				break
			}
			if err != nil {
				return
			}
		}
		_, _ = io.Copy(counter{&logged}, br)
	}()
	select {
	case addr := <-found:
		return cmd, &logged, addr, nil
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		return nil, nil, "", fmt.Errorf("%s did not start", name)
	}
}

// counter counts the bytes written to it.
type counter struct{ n *atomic.Int64 }

func (c counter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return len(p), nil
}
