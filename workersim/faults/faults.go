package faults

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Duration is a time.Duration that reads and writes JSON as a Go duration string ("250ms"); it
// also accepts a JSON number of nanoseconds.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration must be a string like \"250ms\" or integer nanoseconds, got %s", b)
	}
	*d = Duration(n)
	return nil
}

// Fault describes what a route does instead of, or before, its normal answer. The zero Fault
// does nothing. Latency applies first; then the first of Hang, Reset, DiskFull and Status that
// is set decides the answer.
type Fault struct {
	// Latency delays the answer; the delay ends early if the caller goes away.
	Latency Duration `json:"latency,omitempty"`
	// Hang holds the request until the caller goes away or the simulator closes.
	Hang bool `json:"hang,omitempty"`
	// Reset closes the TCP connection with a RST instead of answering.
	Reset bool `json:"reset,omitempty"`
	// DiskFull answers as the server does when its disk is full (routes that write only).
	DiskFull bool `json:"disk_full,omitempty"`
	// Status answers with this HTTP status and Body (or the API's own error body when empty).
	Status int `json:"status,omitempty"`
	// Body is written verbatim with Status.
	Body string `json:"body,omitempty"`
	// ContentType goes with Body; default application/json.
	ContentType string `json:"content_type,omitempty"`
	// Times limits the fault to the next Times calls; 0 means until cleared.
	Times int `json:"times,omitempty"`
}

// validate reports a Fault that cannot be applied.
func (f Fault) validate() error {
	switch {
	case f.Latency < 0:
		return errors.New("latency must not be negative")
	case f.Times < 0:
		return errors.New("times must not be negative")
	case f.Status != 0 && (f.Status < 100 || f.Status > 599):
		return fmt.Errorf("status %d is not an HTTP status code", f.Status)
	case f.Body != "" && f.Status == 0:
		return errors.New("body needs a status")
	}
	return nil
}

// Responses tells the Injector how the simulated API words its own errors.
type Responses struct {
	// Error writes the API's error answer for status with a message.
	Error func(w http.ResponseWriter, status int, message string)
	// DiskFull writes the API's answer to a write when the disk is full; nil means the route
	// cannot be made to fail that way.
	DiskFull func(w http.ResponseWriter)
}

// Injector holds the faults and call counts of one simulator's routes. Its methods are safe for
// concurrent use.
type Injector struct {
	routes    []string
	responses Responses
	stop      chan struct{}
	stopOnce  sync.Once

	mu     sync.Mutex
	faults map[string]Fault
	calls  map[string]int64
	base   map[string]time.Duration // latency of every call, by route (real-runtime speed)
}

// SetBaseLatency delays every call on a route by latency[route] before any fault applies, so
// that a simulator answers at the speed recorded for a real runtime. Unknown routes are ignored.
func (in *Injector) SetBaseLatency(latency map[string]time.Duration) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.base = map[string]time.Duration{}
	for r, d := range latency {
		if in.known(r) && d > 0 {
			in.base[r] = d
		}
	}
}

// NewInjector returns an Injector for the named routes.
func NewInjector(routes []string, responses Responses) *Injector {
	return &Injector{
		routes:    routes,
		responses: responses,
		stop:      make(chan struct{}),
		faults:    map[string]Fault{},
		calls:     map[string]int64{},
	}
}

// ErrUnknownRoute is returned when a fault names a route the simulator does not have.
var ErrUnknownRoute = errors.New("unknown route")

func (in *Injector) known(route string) bool {
	for _, r := range in.routes {
		if r == route {
			return true
		}
	}
	return false
}

// Set installs f on route, replacing any earlier fault there.
func (in *Injector) Set(route string, f Fault) error {
	if !in.known(route) {
		return fmt.Errorf("route %q (have %s): %w", route, strings.Join(in.routes, ", "), ErrUnknownRoute)
	}
	if err := f.validate(); err != nil {
		return fmt.Errorf("fault for route %q: %w", route, err)
	}
	if f.DiskFull && in.responses.DiskFull == nil {
		return fmt.Errorf("fault for route %q: this simulator cannot simulate a full disk", route)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.faults[route] = f
	return nil
}

// Clear removes the fault on route; with no route it removes every fault.
func (in *Injector) Clear(route ...string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(route) == 0 {
		in.faults = map[string]Fault{}
		return
	}
	for _, r := range route {
		delete(in.faults, r)
	}
}

// Faults returns the faults in force, by route.
func (in *Injector) Faults() map[string]Fault {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make(map[string]Fault, len(in.faults))
	for k, v := range in.faults {
		out[k] = v
	}
	return out
}

// Calls returns how many requests each route has received, faulted or not.
func (in *Injector) Calls() map[string]int64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make(map[string]int64, len(in.routes))
	for _, r := range in.routes {
		out[r] = in.calls[r]
	}
	return out
}

// ResetCalls sets every call count to zero.
func (in *Injector) ResetCalls() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.calls = map[string]int64{}
}

// Stop releases every request held by a Hang or Latency fault, now and later. Simulators call
// it when they close so that no handler outlives them.
func (in *Injector) Stop() {
	in.stopOnce.Do(func() { close(in.stop) })
}

// take counts a call on route and returns the fault to apply to it, consuming one of its Times.
func (in *Injector) take(route string) (Fault, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.calls[route]++
	f, ok := in.faults[route]
	if base := in.base[route]; base > 0 {
		f.Latency += Duration(base)
		ok = true
	}
	if !ok {
		return Fault{}, false
	}
	if _, injected := in.faults[route]; injected && f.Times > 0 {
		if f.Times == 1 {
			delete(in.faults, route)
		} else {
			f2 := in.faults[route]
			f2.Times--
			in.faults[route] = f2
		}
	}
	return f, true
}

// Intercept counts the call and applies route's fault, if any. It returns true when it has
// answered the request (or dropped it) and the normal handler must not run.
func (in *Injector) Intercept(route string, w http.ResponseWriter, r *http.Request) bool {
	f, ok := in.take(route)
	if !ok {
		return false
	}
	if f.Latency > 0 {
		t := time.NewTimer(time.Duration(f.Latency))
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true
		case <-in.stop:
			t.Stop()
			return true
		}
	}
	switch {
	case f.Hang:
		select {
		case <-r.Context().Done():
		case <-in.stop:
		}
		return true
	case f.Reset:
		reset(w)
		return true
	case f.DiskFull:
		in.responses.DiskFull(w)
		return true
	case f.Status != 0:
		if f.Body == "" {
			in.responses.Error(w, f.Status, fmt.Sprintf("injected fault on %s", route))
			return true
		}
		ct := f.ContentType
		if ct == "" {
			ct = "application/json"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte(f.Body))
		return true
	}
	return false
}

// reset drops the connection under w with a TCP RST.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

// AdminHandler serves the fault knobs and counters over HTTP:
//
//	GET    /faults          the faults in force, by route
//	PUT    /faults/{route}  install the Fault in the JSON body
//	DELETE /faults/{route}  remove one fault; DELETE /faults removes all
//	GET    /calls           call counts by route; DELETE /calls resets them
func (in *Injector) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, in.Faults())
	})
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, r *http.Request) {
		in.Clear()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("PUT /faults/{route}", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "fault body: " + err.Error()})
			return
		}
		if err := in.Set(r.PathValue("route"), f); err != nil {
			status := http.StatusBadRequest
			if errors.Is(err, ErrUnknownRoute) {
				status = http.StatusNotFound
			}
			writeJSON(w, status, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /faults/{route}", func(w http.ResponseWriter, r *http.Request) {
		route := r.PathValue("route")
		if !in.known(route) {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("route %q: %v", route, ErrUnknownRoute)})
			return
		}
		in.Clear(route)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /calls", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, in.Calls())
	})
	mux.HandleFunc("DELETE /calls", func(w http.ResponseWriter, r *http.Request) {
		in.ResetCalls()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /routes", func(w http.ResponseWriter, r *http.Request) {
		names := append([]string(nil), in.routes...)
		sort.Strings(names)
		writeJSON(w, http.StatusOK, names)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
