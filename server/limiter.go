package server

import (
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// Connection limits. A health check makes one short request on one connection, so the slots
// are shared out so that no one client can take them all (see connLimiter).
const (
	// ReadHeaderTimeout closes a connection whose request header has not all come in time (a
	// slowloris); a health check sends its header in one write.
	ReadHeaderTimeout = 2 * time.Second
	// ReadTimeout bounds reading a whole request; deepprobe's requests have no body.
	ReadTimeout = 5 * time.Second
	// IdleTimeout closes a keep-alive connection idle this long: probes come every few
	// seconds at most, and a Prometheus scrape every 15s or more.
	IdleTimeout = 5 * time.Second
	// PendingTimeout is how long a connection beyond its client's share waits for a slot
	// before it is closed.
	PendingTimeout = ReadHeaderTimeout
	// MaxHeaderBytes bounds a request's header.
	MaxHeaderBytes = 8 << 10
	// DefaultMaxConnections bounds the connections served at once (Config.MaxConnections).
	DefaultMaxConnections = 1024
	// newGrace is how long a new connection may stay silent before its slot can be given to
	// another: a real client sends its request at once.
	newGrace = time.Second
)

// connLimiter is a listener that shares out max connection slots fairly:
//
//   - the last eighth (the reserve) go only to addresses that hold none, such as a kubelet
//     opening its probe's connection, so one client address (an IP) holds at most the other
//     seven eighths (its share): enough for a storm of a thousand callers on one host;
//   - when a connection finds no slot, one held idle (a keep-alive between requests, or a new
//     connection silent for newGrace, which is what a slowloris looks like until its header is
//     complete) is closed to make room: first one of the same address when it is at its share,
//     else one of the address holding the most;
//   - failing that, the connection waits un-served, in arrival order, up to PendingTimeout;
//     at most max wait, and at most a share per address (its newest: a client that keeps
//     connecting pushes out its own oldest waiting connection, never another's).
//
// Connections are accepted from the kernel without waiting, so one client's flood never
// leaves another's connection unaccepted in the kernel's queue. Accept hands out only the
// admitted connections; connState must be the http.Server's ConnState hook.
type connLimiter struct {
	ln                  net.Listener
	max, share, reserve int
	now                 func() time.Time

	ready    chan net.Conn // admitted, not yet handed to Accept; holds at most max
	done     chan struct{} // closed when the accept loop has ended
	closing  chan struct{}
	stopOnce sync.Once
	err      error // why the accept loop ended; read after done

	mu      sync.Mutex
	open    int // admitted connections not yet closed
	conns   map[*slotConn]struct{}
	byAddr  map[string]int
	pending []*pendingConn
	kick    *time.Timer // retries the waiting connections while there are any
	closed  bool
}

// slotConn is an admitted connection; it gives its slot back once, when closed or evicted.
type slotConn struct {
	net.Conn
	l       *connLimiter
	addr    string
	state   http.ConnState
	since   time.Time // when state was entered
	counted bool      // holds a slot (guarded by l.mu)
}

type pendingConn struct {
	conn  net.Conn
	addr  string
	timer *time.Timer
}

// newConnLimiter shares slots connection slots of ln and starts accepting; Close stops it. now
// is the clock (nil: time.Now).
func newConnLimiter(ln net.Listener, slots int, now func() time.Time) *connLimiter {
	if now == nil {
		now = time.Now
	}
	l := &connLimiter{
		ln: ln, max: slots, share: max(1, slots-slots/8), reserve: slots / 8, now: now,
		ready: make(chan net.Conn, slots), done: make(chan struct{}), closing: make(chan struct{}),
		conns: map[*slotConn]struct{}{}, byAddr: map[string]int{},
	}
	go l.acceptLoop()
	return l
}

// Accept returns the next admitted connection.
func (l *connLimiter) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		select { // one admitted just before the end is still served
		case c := <-l.ready:
			return c, nil
		default:
		}
		return nil, l.err
	}
}

// Addr is the listener's address.
func (l *connLimiter) Addr() net.Addr { return l.ln.Addr() }

// Close stops accepting, waits for the accept loop, and closes the connections still waiting
// for a slot (and those admitted but never handed out). Served connections are the
// http.Server's to close.
func (l *connLimiter) Close() error {
	var err error
	l.stopOnce.Do(func() {
		close(l.closing)
		err = l.ln.Close()
		<-l.done
		l.mu.Lock()
		l.closed = true
		pending := l.pending
		l.pending = nil
		if l.kick != nil {
			l.kick.Stop()
		}
		l.mu.Unlock()
		for _, p := range pending {
			p.timer.Stop()
			_ = p.conn.Close()
		}
		for {
			select {
			case c := <-l.ready:
				_ = c.Close()
			default:
				return
			}
		}
	})
	return err
}

// acceptLoop takes every connection the kernel has, backing off on temporary errors (out of
// file descriptors) as http.Server does, until the listener is closed.
func (l *connLimiter) acceptLoop() {
	defer close(l.done)
	var backoff time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(backoff):
					continue
				case <-l.closing:
				}
			}
			l.err = err
			return
		}
		backoff = 0
		l.arrive(c)
	}
}

func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

// clientAddr is the IP a connection comes from.
func clientAddr(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return c.RemoteAddr().String()
}

// arrive admits c, makes room for it, queues it, or closes it.
func (l *connLimiter) arrive(c net.Conn) {
	addr := clientAddr(c)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		_ = c.Close()
		return
	}
	var admitted []net.Conn
	var victims []*slotConn
	switch {
	case l.pendingFor(addr) == 0 && l.admissible(addr): // no jumping its own address's queue
		admitted = append(admitted, l.admitLocked(c, addr))
	case len(l.pending) < l.max:
		var dropped net.Conn
		if l.pendingFor(addr) >= l.share { // the newest of an address waits, its oldest goes
			dropped = l.dropOldestLocked(addr)
		}
		p := &pendingConn{conn: c, addr: addr}
		p.timer = time.AfterFunc(PendingTimeout, func() { l.expire(p) })
		l.pending = append(l.pending, p)
		admitted, victims = l.promoteLocked()
		if dropped != nil {
			defer dropped.Close()
		}
	default:
		l.mu.Unlock()
		_ = c.Close()
		return
	}
	l.mu.Unlock()
	l.finish(admitted, victims)
}

// admissible reports whether addr may take a free slot: below its share, and below the
// reserve unless it holds none.
func (l *connLimiter) admissible(addr string) bool {
	n := l.byAddr[addr]
	if n >= l.share || l.open >= l.max {
		return false
	}
	return l.open < l.max-l.reserve || n == 0
}

// dropOldestLocked removes addr's longest-waiting connection from the queue and returns it.
func (l *connLimiter) dropOldestLocked(addr string) net.Conn {
	for i, p := range l.pending {
		if p.addr == addr {
			p.timer.Stop()
			l.pending = append(l.pending[:i], l.pending[i+1:]...)
			return p.conn
		}
	}
	return nil
}

func (l *connLimiter) pendingFor(addr string) int {
	n := 0
	for _, p := range l.pending {
		if p.addr == addr {
			n++
		}
	}
	return n
}

// stateQueued is an admitted connection not yet handed out by Accept: never idle.
const stateQueued http.ConnState = -1

func (l *connLimiter) admitLocked(c net.Conn, addr string) *slotConn {
	sc := &slotConn{Conn: c, l: l, addr: addr, state: stateQueued, since: l.now(), counted: true}
	l.open++
	l.byAddr[addr]++
	l.conns[sc] = struct{}{}
	return sc
}

// releaseLocked gives sc's slot back, once.
func (l *connLimiter) releaseLocked(sc *slotConn) {
	if !sc.counted {
		return
	}
	sc.counted = false
	l.open--
	if l.byAddr[sc.addr]--; l.byAddr[sc.addr] <= 0 {
		delete(l.byAddr, sc.addr)
	}
	delete(l.conns, sc)
}

// promoteLocked admits waiting connections in arrival order: each takes a free slot, or the
// slot of an idle connection (evicted), or waits on.
func (l *connLimiter) promoteLocked() (admitted []net.Conn, victims []*slotConn) {
	if len(l.pending) == 0 {
		return nil, nil
	}
	now := l.now()
	kept := l.pending[:0]
	// Nothing admitted here makes a connection idle: once a search finds no victim, the same
	// search finds none for later waiting connections either.
	noOwnVictim, noVictim := map[string]bool{}, false
	for _, p := range l.pending {
		if !l.admissible(p.addr) {
			own := l.byAddr[p.addr] >= l.share
			var v *slotConn
			if own && !noOwnVictim[p.addr] || !own && !noVictim {
				v = l.victimLocked(p.addr, now)
			}
			if v == nil {
				if own {
					noOwnVictim[p.addr] = true
				} else {
					noVictim = true
				}
				kept = append(kept, p)
				continue
			}
			l.releaseLocked(v)
			victims = append(victims, v)
			if l.byAddr[p.addr] >= l.share || l.open >= l.max {
				kept = append(kept, p)
				continue
			}
		}
		p.timer.Stop()
		admitted = append(admitted, l.admitLocked(p.conn, p.addr))
	}
	clear(l.pending[len(kept):])
	l.pending = kept
	if len(kept) > 0 && l.kick == nil && !l.closed {
		// A silent new connection becomes idle by the clock alone, with no event to say so.
		l.kick = time.AfterFunc(newGrace/4, l.retry)
	}
	return admitted, victims
}

// retry promotes the waiting connections again (see promoteLocked).
func (l *connLimiter) retry() {
	l.mu.Lock()
	l.kick = nil
	if l.closed {
		l.mu.Unlock()
		return
	}
	admitted, victims := l.promoteLocked()
	l.mu.Unlock()
	l.finish(admitted, victims)
}

// victimLocked picks an idle connection whose slot addr's waiting connection may take: one of
// addr's own when addr is at its share, else one of the address holding the most; the longest
// idle first. Nil when none is idle.
func (l *connLimiter) victimLocked(addr string, now time.Time) *slotConn {
	own := l.byAddr[addr] >= l.share
	var best *slotConn
	for sc := range l.conns {
		if !sc.idle(now) || (own && sc.addr != addr) {
			continue
		}
		if best == nil || l.byAddr[sc.addr] > l.byAddr[best.addr] ||
			l.byAddr[sc.addr] == l.byAddr[best.addr] && sc.since.Before(best.since) {
			best = sc
		}
	}
	return best
}

// idle reports a connection that serves nothing now: between two requests, or new and silent
// for newGrace.
func (sc *slotConn) idle(now time.Time) bool {
	return sc.state == http.StateIdle || sc.state == http.StateNew && now.Sub(sc.since) >= newGrace
}

// finish closes the evicted connections and hands the admitted ones to Accept, outside the
// lock. It never blocks: ready has room for max, and should it be full (the server stopped
// accepting) the connection is closed, which gives its slot back.
func (l *connLimiter) finish(admitted []net.Conn, victims []*slotConn) {
	for _, v := range victims {
		_ = v.Conn.Close()
	}
	for _, c := range admitted {
		select {
		case l.ready <- c:
		default:
			_ = c.Close()
		}
	}
}

// expire closes a connection that waited PendingTimeout for a slot.
func (l *connLimiter) expire(p *pendingConn) {
	l.mu.Lock()
	for i, q := range l.pending {
		if q == p {
			l.pending = append(l.pending[:i], l.pending[i+1:]...)
			l.mu.Unlock()
			_ = p.conn.Close()
			return
		}
	}
	l.mu.Unlock()
}

// connState is the http.Server's ConnState hook: it tracks which connections are idle, gives
// a closed connection's slot back, and lets a waiting connection take a freed or idle slot.
func (l *connLimiter) connState(c net.Conn, state http.ConnState) {
	sc, ok := c.(*slotConn)
	if !ok {
		return
	}
	l.mu.Lock()
	sc.state, sc.since = state, l.now()
	switch state {
	case http.StateClosed, http.StateHijacked:
		l.releaseLocked(sc)
	case http.StateIdle:
	default:
		l.mu.Unlock()
		return
	}
	admitted, victims := l.promoteLocked()
	l.mu.Unlock()
	l.finish(admitted, victims)
}

// Close closes the connection and gives its slot back.
func (sc *slotConn) Close() error {
	err := sc.Conn.Close()
	sc.l.mu.Lock()
	sc.l.releaseLocked(sc)
	admitted, victims := sc.l.promoteLocked()
	sc.l.mu.Unlock()
	sc.l.finish(admitted, victims)
	return err
}
