package wire

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
)

// Stream sends req on a connection of its own. When the server answers with status want, it
// returns what the server writes after the header, read straight off the connection: Garden
// answers a process run with "201 Created" and a Transfer-Encoding: chunked header, then
// hijacks the connection and writes newline-delimited JSON that is not chunked, so net/http's
// body reader cannot be used. Any other answer is an ordinary response, read (bounded) and
// returned as an *Error. The connection closes when the returned reader is closed or ctx ends.
func (e *Endpoint) Stream(ctx context.Context, req Request, want int) (io.ReadCloser, error) {
	hreq, err := e.build(ctx, req)
	if err != nil {
		return nil, err
	}
	conn, err := e.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", e.api.Name, req.Route, BoundError(err))
	}
	c := &streamConn{Conn: conn}
	// ctx ends the connection: closing it ends any read or write, and by then ctx.Err() says
	// why (a connection deadline of its own could fire first and hide the reason).
	c.stop = context.AfterFunc(ctx, func() { _ = conn.Close() })
	fail := func(err error) (io.ReadCloser, error) {
		_ = c.Close()
		err = BoundError(err)
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return nil, fmt.Errorf("%s %s: %w", e.api.Name, req.Route, err)
	}
	if err := hreq.Write(conn); err != nil {
		return fail(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, hreq)
	if err != nil {
		return fail(fmt.Errorf("reading the answer: %w", err))
	}
	if resp.StatusCode != want {
		r, err := readResponse(resp)
		_ = c.Close()
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", e.api.Name, req.Route, err)
		}
		if r.OK() { // a 2xx that is not the one the API sends: it did not start what we asked
			return nil, fmt.Errorf("%s %s: answered %d, want %d: %q", e.api.Name, req.Route, r.StatusCode, want, Snippet(r.Body, 256))
		}
		return nil, e.api.DecodeError(req, r)
	}
	c.r = io.LimitReader(br, MaxBody)
	return c, nil
}

// dial opens a connection to the endpoint's host, TLS for https.
func (e *Endpoint) dial(ctx context.Context) (net.Conn, error) {
	port := e.base.Port()
	if port == "" {
		port = "80"
		if e.base.Scheme == "https" {
			port = "443"
		}
	}
	addr := net.JoinHostPort(e.base.Hostname(), port)
	if e.base.Scheme == "https" {
		d := tls.Dialer{Config: &tls.Config{ServerName: e.base.Hostname(), MinVersion: tls.VersionTLS12}}
		return d.DialContext(ctx, "tcp", addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// streamConn reads the rest of a hijacked answer and closes its connection once.
type streamConn struct {
	net.Conn
	r    io.Reader
	stop func() bool
	once sync.Once
}

func (c *streamConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *streamConn) Close() error {
	var err error
	c.once.Do(func() {
		c.stop()
		err = c.Conn.Close()
	})
	return err
}
