package gardensim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/probes/routes"
	"github.com/deepprobe/deepprobe/workersim/faults"
	"github.com/deepprobe/deepprobe/workersim/internal/simserver"
	"github.com/deepprobe/deepprobe/workersim/runtimes"
)

// Config configures a simulator.
type Config struct {
	// Addr is the listen address; default "127.0.0.1:0".
	Addr string
	// Runtime is the profile to answer like (runtimes.Lookup); default containerd, what
	// Concourse users run.
	Runtime string
	// MaxContainers overrides the profile's container limit; negative means no limit.
	MaxContainers int
	// RealLatency delays every answer by the round trip recorded for the profile's route;
	// creates and destroys take the recorded time in their queue (see Timings).
	RealLatency bool
	// Logger receives a line per request and per reaped container; nil discards.
	Logger *slog.Logger
}

// Process behaviours (Behaviour.Process).
const (
	ProcessOK         = ""            // exit 0 when the path exists and is executable
	ProcessHang       = "hang"        // 201, the first payload, then nothing until the caller goes away
	ProcessExit       = "exit"        // exit with Behaviour.ExitStatus
	ProcessExecFailed = "exec_failed" // 500, the runtime's exec-failure message
	ProcessCut        = "cut"         // 201, the first payload, then close without an exit status
)

// Behaviour is what the simulator does beyond its profile; it is set with SetBehaviour or over
// the admin endpoint (PUT /behaviour).
type Behaviour struct {
	// ReaperRaceEvery makes every Nth PUT grace_time arm the reaper with no countdown, as
	// Garden's grace-time reaper race does on containerd: the container is destroyed a few
	// milliseconds later, and a DELETE meanwhile answers 500 "container already being
	// destroyed". As on containerd, a container whose create carried the grace-time property
	// (runtimes.Profile.GraceTimeFromProperty) cannot race, and its PUTs are not counted.
	// 0 disables it.
	ReaperRaceEvery int `json:"reaper_race_every,omitempty"`
	// Process is how process runs end (Process* constants); ExitStatus goes with ProcessExit.
	Process    string `json:"process,omitempty"`
	ExitStatus int    `json:"exit_status,omitempty"`
	// Wedge makes the runtime stop completing work: every create and destroy (the load's
	// too) blocks, holding its queue, until Wedge is cleared or its caller goes away (then
	// nothing was created or destroyed). Ping, list, properties and grace time still answer
	// at once, as they do on a wedged containerd.
	Wedge bool `json:"wedge,omitempty"`
	// DestroyStuck makes every DELETE answer 500 "container already being destroyed" at once,
	// forever; the container stays listed.
	DestroyStuck bool `json:"destroy_stuck,omitempty"`
}

func (b Behaviour) validate() error {
	switch b.Process {
	case ProcessOK, ProcessHang, ProcessExit, ProcessExecFailed, ProcessCut:
	default:
		return fmt.Errorf("process must be one of \"\", hang, exit, exec_failed, cut; got %q", b.Process)
	}
	if b.ReaperRaceEvery < 0 {
		return errors.New("reaper_race_every must not be negative")
	}
	return nil
}

// raceReapDelay is how long after the racing PUT the container is gone. Garden takes 3-5 ms;
// the simulator takes longer so that a DELETE sent right after the PUT reliably sees the
// concurrent-destroy answer, even on a loaded machine.
const raceReapDelay = 100 * time.Millisecond

type container struct {
	handle     string
	properties map[string]string
	rootfs     string
	graceTime  time.Duration
	reaper     *time.Timer
	destroying bool // the reaper is removing it
	// graceAtCreate is true when the create armed the reaper from the grace-time property,
	// which closes the reaper race.
	graceAtCreate bool
	// destroyQueued is true while a DELETE waits for its turn or works: a second DELETE
	// meanwhile answers "already being destroyed", as Garden's server does.
	destroyQueued bool
}

// Server is a running Garden simulator.
type Server struct {
	// URL is the base URL, http://127.0.0.1:port.
	URL string
	// Faults holds the injected faults and call counters, by route name (garden.Route*).
	Faults *faults.Injector
	// Profile is the runtime the simulator answers like.
	Profile runtimes.Profile

	maxContainers int
	logger        *slog.Logger
	srv           *simserver.Server
	// ctx ends when the simulator closes; every wait in a handler or in the load ends with it.
	ctx    context.Context
	cancel context.CancelFunc
	stop   <-chan struct{}
	// createQ and destroyQ serialise creates and destroys on profiles that do (nil otherwise);
	// they may be one queue.
	createQ, destroyQ *fifo
	// creating and destroying count the creates and destroys in progress: waiting for their
	// turn, working, or held by a wedge.
	creating, destroying atomic.Int64

	mu         sync.Mutex
	closed     bool
	behaviour  Behaviour
	changed    chan struct{} // closed and replaced whenever the behaviour changes
	timings    Timings
	graceCalls int
	containers map[string]*container
	nextHandle uint64
	nextStream int

	loadMu sync.Mutex
	load   *loadRun
}

// NewServer starts a simulator.
func NewServer(cfg Config) (*Server, error) {
	name := cfg.Runtime
	if name == "" {
		name = runtimes.Default
	}
	profile, err := runtimes.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("gardensim: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{Profile: profile, logger: logger, containers: map[string]*container{}, changed: make(chan struct{}),
		maxContainers: profile.MaxContainers, nextHandle: uint64(time.Now().UnixNano()), nextStream: 1}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.stop = s.ctx.Done()
	if profile.SerialCreates {
		s.createQ = &fifo{}
	}
	if profile.DestroysInCreateQueue {
		s.destroyQ = s.createQ
	}
	switch {
	case cfg.MaxContainers < 0:
		s.maxContainers = 0
	case cfg.MaxContainers > 0:
		s.maxContainers = cfg.MaxContainers
	}
	s.Faults = faults.NewInjector(garden.Routes.Names(), faults.Responses{
		Error: func(w http.ResponseWriter, status int, msg string) {
			writeError(w, status, garden.ErrorBody{Message: msg})
		},
		DiskFull: func(w http.ResponseWriter) {
			writeError(w, http.StatusInternalServerError, garden.ErrorBody{Message: "new container: write /var/lib/concourse: no space left on device"})
		},
	})
	if cfg.RealLatency {
		// Creates and destroys spend their recorded time in their queue, not before it.
		base := maps.Clone(profile.Latency)
		s.timings = Timings{Create: faults.Duration(base[garden.RouteCreate]), Destroy: faults.Duration(base[garden.RouteDestroy])}
		delete(base, garden.RouteCreate)
		delete(base, garden.RouteDestroy)
		s.Faults.SetBaseLatency(base)
	}
	mux := routes.NewMux(garden.Routes, map[string]routes.HandlerFunc{
		garden.RoutePing:       s.ping,
		garden.RouteCapacity:   s.capacity,
		garden.RouteCreate:     s.create,
		garden.RouteList:       s.list,
		garden.RouteInfo:       s.info,
		garden.RouteProperties: s.properties,
		garden.RouteGraceTime:  s.setGraceTime,
		garden.RouteRun:        s.run,
		garden.RouteDestroy:    s.destroy,
	}, s.Faults.Intercept)
	srv, err := simserver.Start(cfg.Addr, mux, s.Faults, logger.With("sim", "garden", "runtime", profile.Name))
	if err != nil {
		return nil, fmt.Errorf("gardensim: %w", err)
	}
	s.srv, s.URL = srv, srv.URL
	return s, nil
}

// Close stops the server, its load and its reaper timers, and waits for every request to end.
func (s *Server) Close() {
	s.cancel()
	s.loadMu.Lock()
	run := s.load
	s.load = nil
	s.loadMu.Unlock()
	if run != nil {
		run.stop(s)
	}
	s.mu.Lock()
	s.closed = true
	for _, c := range s.containers {
		if c.reaper != nil {
			c.reaper.Stop()
		}
	}
	s.mu.Unlock()
	s.srv.Close()
}

// SetBehaviour replaces the simulator's behaviour; creates and destroys held by a Wedge
// resume at once when it is cleared.
func (s *Server) SetBehaviour(b Behaviour) error {
	if err := b.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.behaviour = b
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

// Behaviour returns the simulator's behaviour.
func (s *Server) Behaviour() Behaviour {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.behaviour
}

// Handles returns the handles of every container, sorted.
func (s *Server) Handles() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.containers))
}

// AdminHandler serves the fault knobs (see faults.Injector.AdminHandler), GET /containers
// (the simulator's containers with their properties) and PUT /behaviour (a Behaviour).
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", s.Faults.AdminHandler())
	mux.HandleFunc("GET /containers", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		out := map[string]map[string]string{}
		for h, c := range s.containers {
			out[h] = c.properties
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /behaviour", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Behaviour())
	})
	mux.HandleFunc("PUT /behaviour", func(w http.ResponseWriter, r *http.Request) {
		var b Behaviour
		putJSON(w, r, "behaviour", &b, func() error { return s.SetBehaviour(b) })
	})
	mux.HandleFunc("GET /timings", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Timings())
	})
	mux.HandleFunc("PUT /timings", func(w http.ResponseWriter, r *http.Request) {
		var t Timings
		putJSON(w, r, "timings", &t, func() error { return s.SetTimings(t) })
	})
	mux.HandleFunc("GET /load", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.LoadStats())
	})
	mux.HandleFunc("PUT /load", func(w http.ResponseWriter, r *http.Request) {
		var l Load
		putJSON(w, r, "load", &l, func() error { return s.SetLoad(l) })
	})
	return mux
}

// putJSON decodes the admin request's body into v (unknown fields refused), applies it and
// answers 204, or 400 with an error naming what.
func putJSON(w http.ResponseWriter, r *http.Request, what string, v any, apply func() error) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		err = apply()
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": what + ": " + err.Error()})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, body garden.ErrorBody) {
	writeJSON(w, status, body)
}

// unknown answers a call on an unknown handle as the profile's runtime does.
func (s *Server) unknown(w http.ResponseWriter, handle string) {
	writeWorkError(w, s.unknownError(handle))
}

// unknownError is the profile's answer to a call on an unknown handle.
func (s *Server) unknownError(handle string) *apiError {
	body := garden.ErrorBody{Type: s.Profile.UnknownHandleType, Message: s.Profile.UnknownHandleMessage(handle)}
	if s.Profile.UnknownHandleType != "" {
		body.Handle = handle
	}
	return &apiError{s.Profile.UnknownHandleStatus, body}
}

// apiError is an answer of the simulated Garden server other than success.
type apiError struct {
	status int
	body   garden.ErrorBody
}

func (e *apiError) Error() string { return fmt.Sprintf("garden %d: %s", e.status, e.body.Message) }

// writeWorkError answers with err: the API's own error, or 500 when the caller went away or
// the simulator is closing (nobody reads that answer).
func writeWorkError(w http.ResponseWriter, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeError(w, ae.status, ae.body)
		return
	}
	writeError(w, http.StatusInternalServerError, garden.ErrorBody{Message: err.Error()})
}

func (s *Server) notImplemented(w http.ResponseWriter) bool {
	if s.Profile.CapacityImplemented {
		return false
	}
	writeError(w, http.StatusInternalServerError, garden.ErrorBody{Message: "not implemented"})
	return true
}

func (s *Server) ping(w http.ResponseWriter, r *http.Request, _ routes.Params) {
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) capacity(w http.ResponseWriter, r *http.Request, _ routes.Params) {
	if s.notImplemented(w) {
		return
	}
	out := map[string]uint64{}
	if s.maxContainers > 0 {
		out["max_containers"] = uint64(s.maxContainers)
	}
	writeJSON(w, http.StatusOK, out)
}

// spec is the create body as the server reads it: grace_time in nanoseconds.
type spec struct {
	Handle     string            `json:"handle"`
	GraceTime  int64             `json:"grace_time"`
	RootFSPath string            `json:"rootfs"`
	Properties map[string]string `json:"properties"`
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, _ routes.Params) {
	var sp spec
	if err := json.NewDecoder(r.Body).Decode(&sp); err != nil {
		writeError(w, http.StatusInternalServerError, garden.ErrorBody{Message: err.Error()})
		return
	}
	if sp.RootFSPath != "" {
		p, ok := strings.CutPrefix(sp.RootFSPath, "raw://")
		if !ok {
			writeError(w, http.StatusInternalServerError, garden.ErrorBody{Message: "unsupported rootfs uri (must be raw://): " + sp.RootFSPath})
			return
		}
		if s.Profile.RequireRootFSEtc {
			target := filepath.Join(p, "etc", "resolv.conf")
			if _, err := os.Stat(filepath.Join(p, "etc")); err != nil {
				writeError(w, http.StatusInternalServerError, garden.ErrorBody{
					Message: fmt.Sprintf("failed to create target for bind mount: open %s: no such file or directory", target)})
				return
			}
		}
	}

	handle, err := s.createContainer(r.Context(), sp)
	if err != nil {
		writeWorkError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"Handle": handle})
}

// createContainer creates the container that sp describes, in the create queue.
func (s *Server) createContainer(ctx context.Context, sp spec) (string, error) {
	var handle string
	var failed error
	err := s.work(ctx, s.createQ, &s.creating, func(t Timings) time.Duration { return time.Duration(t.Create) }, func() {
		handle, failed = s.addContainer(sp)
	})
	if err != nil {
		return "", err
	}
	return handle, failed
}

// addContainer is the create's work once its turn has come.
func (s *Server) addContainer(sp spec) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sp.Handle == "" {
		s.nextHandle++
		sp.Handle = fmt.Sprintf("%011s", strconv.FormatUint(s.nextHandle%(1<<55), 32))
	}
	old, exists := s.containers[sp.Handle]
	if exists && s.Profile.DuplicateMessage != nil {
		return "", &apiError{http.StatusInternalServerError, garden.ErrorBody{Message: s.Profile.DuplicateMessage(sp.Handle)}}
	}
	if !exists && s.maxContainers > 0 && len(s.containers) >= s.maxContainers {
		msg := s.Profile.MaxContainersMessage
		if msg == "" { // a limit set on a runtime that has none of its own
			msg = "max containers reached"
		}
		return "", &apiError{http.StatusInternalServerError, garden.ErrorBody{Message: msg}}
	}
	if exists && old.reaper != nil {
		old.reaper.Stop()
	}
	props := maps.Clone(sp.Properties)
	if props == nil {
		props = map[string]string{}
	}
	c := &container{handle: sp.Handle, properties: props, rootfs: sp.RootFSPath}
	s.containers[sp.Handle] = c
	if s.Profile.HonourSpecGraceTime && sp.GraceTime > 0 {
		s.armLocked(c, time.Duration(sp.GraceTime))
	}
	if s.Profile.GraceTimeFromProperty {
		if ns, err := strconv.ParseInt(props[s.Profile.GraceTimeProperty], 10, 64); err == nil && ns > 0 {
			c.graceAtCreate = true
			s.armLocked(c, time.Duration(ns))
		}
	}
	return sp.Handle, nil
}

// armLocked (re)starts c's reaper with graceTime; s.mu must be held.
func (s *Server) armLocked(c *container, graceTime time.Duration) {
	c.graceTime = graceTime
	if c.reaper != nil {
		c.reaper.Stop()
	}
	c.reaper = time.AfterFunc(graceTime, func() { s.reap(c) })
}

// touchLocked restarts c's countdown, as any per-container call does on the real server.
func (s *Server) touchLocked(c *container) {
	if c.reaper != nil && !c.destroying {
		c.reaper.Reset(c.graceTime)
	}
}

func (s *Server) reap(c *container) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.containers[c.handle] != c {
		return
	}
	delete(s.containers, c.handle)
	s.logger.Info("reaping", "sim", "garden", "handle", c.handle, "grace-time", c.graceTime.String())
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, _ routes.Params) {
	q := r.URL.Query()
	if s.Profile.RejectsHyphenFilterKey {
		for _, k := range slices.Sorted(maps.Keys(q)) {
			if before, after, ok := strings.Cut(k, "-"); ok {
				writeError(w, http.StatusInternalServerError, garden.ErrorBody{Message: fmt.Sprintf(
					"list containers: filters: parse error: [labels.%s >|-|< %s.0==%s]: expected an operator (\"==\"|\"!=\"|\"~=\"): invalid argument: invalid argument",
					before, after, q.Get(k))})
				return
			}
		}
	}
	s.mu.Lock()
	handles := []string{}
	for h, c := range s.containers {
		if matches(c.properties, q, s.Profile.ListFiltersOR) {
			handles = append(handles, h)
		}
	}
	s.mu.Unlock()
	slices.Sort(handles) // the real server's order is random; sorted is one of its orders
	writeJSON(w, http.StatusOK, map[string][]string{"Handles": handles})
}

// matches reports whether props has every queried property (or, with or, any of them), using
// the first value of a repeated key as Garden does. No filter matches every container.
func matches(props map[string]string, q map[string][]string, or bool) bool {
	if len(q) == 0 {
		return true
	}
	for k, vs := range q {
		v, ok := props[k]
		hit := ok && v == vs[0]
		if hit && or {
			return true
		}
		if !hit && !or {
			return false
		}
	}
	return !or
}

// lookup finds a container and restarts its countdown, or answers as for an unknown handle.
func (s *Server) lookup(w http.ResponseWriter, handle string) (*container, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.containers[handle]
	if !ok {
		s.unknown(w, handle)
		return nil, false
	}
	s.touchLocked(c)
	return c, true
}

// emptyInfo is houdini's ContainerInfo, all empty.
const emptyInfo = `{"State":"","Events":null,"HostIP":"","ContainerIP":"","ContainerIPv6":"","ExternalIP":"","ContainerPath":"","ProcessIDs":null,"Properties":null,"MappedPorts":null}` + "\n"

func (s *Server) info(w http.ResponseWriter, r *http.Request, p routes.Params) {
	if _, ok := s.lookup(w, p["handle"]); !ok {
		return
	}
	if s.notImplemented(w) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(emptyInfo))
}

func (s *Server) properties(w http.ResponseWriter, r *http.Request, p routes.Params) {
	c, ok := s.lookup(w, p["handle"])
	if !ok {
		return
	}
	s.mu.Lock()
	props := maps.Clone(c.properties)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, props)
}

func (s *Server) setGraceTime(w http.ResponseWriter, r *http.Request, p routes.Params) {
	var ns int64
	if err := json.NewDecoder(r.Body).Decode(&ns); err != nil {
		writeError(w, http.StatusInternalServerError, garden.ErrorBody{Message: err.Error()})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.containers[p["handle"]]
	if !ok {
		s.unknown(w, p["handle"])
		return
	}
	if s.Profile.GraceTimeProperty != "" {
		c.properties[s.Profile.GraceTimeProperty] = strconv.FormatInt(ns, 10)
	}
	// Garden's server reads the backend's grace time twice as it starts tracking a container;
	// on containerd both reads agree when the property was there from the create.
	canRace := !(s.Profile.GraceTimeFromProperty && c.graceAtCreate)
	if canRace {
		s.graceCalls++
	}
	if n := s.behaviour.ReaperRaceEvery; canRace && n > 0 && s.graceCalls%n == 0 {
		// The reaper was armed with no countdown: it is destroying the container now.
		c.destroying = true
		if c.reaper != nil {
			c.reaper.Stop()
		}
		c.reaper = time.AfterFunc(raceReapDelay, func() { s.reap(c) })
	} else if ns > 0 {
		s.armLocked(c, time.Duration(ns))
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) destroy(w http.ResponseWriter, r *http.Request, p routes.Params) {
	if err := s.destroyContainer(r.Context(), p["handle"]); err != nil {
		writeWorkError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// beingDestroyed is Garden's answer to a DELETE while the container is being destroyed.
var beingDestroyed = &apiError{http.StatusInternalServerError, garden.ErrorBody{Message: "container already being destroyed"}}

// destroyContainer destroys the container, in the destroy queue.
func (s *Server) destroyContainer(ctx context.Context, handle string) error {
	s.mu.Lock()
	c, ok := s.containers[handle]
	switch {
	case !ok:
		s.mu.Unlock()
		return s.unknownError(handle)
	case c.destroying || c.destroyQueued || s.behaviour.DestroyStuck:
		s.mu.Unlock()
		return beingDestroyed
	}
	c.destroyQueued = true
	s.mu.Unlock()
	err := s.work(ctx, s.destroyQ, &s.destroying, func(t Timings) time.Duration { return time.Duration(t.Destroy) }, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.containers[handle] == c {
			if c.reaper != nil {
				c.reaper.Stop()
			}
			delete(s.containers, handle)
		}
	})
	if err != nil {
		s.mu.Lock()
		c.destroyQueued = false
		s.mu.Unlock()
	}
	return err
}

// processSpec is the process-run body as the server reads it.
type processSpec struct {
	Path string `json:"path"`
	User string `json:"user"`
}

// run starts a "process": it checks that the path is an executable file in the container's
// rootfs (it runs nothing), then answers as Garden does: 201 Created with a
// Transfer-Encoding: chunked header, and on the hijacked connection newline-delimited JSON
// payloads that are not chunked, then it closes the connection.
func (s *Server) run(w http.ResponseWriter, r *http.Request, p routes.Params) {
	var ps processSpec
	if err := json.NewDecoder(r.Body).Decode(&ps); err != nil {
		writeError(w, http.StatusInternalServerError, garden.ErrorBody{Message: err.Error()})
		return
	}
	c, ok := s.lookup(w, p["handle"])
	if !ok {
		return
	}
	s.mu.Lock()
	b := s.behaviour
	stream := s.nextStream
	s.nextStream++
	s.mu.Unlock()
	if b.Process == ProcessExecFailed || !executable(c.rootfs, ps.Path) {
		writeError(w, http.StatusInternalServerError, garden.ErrorBody{Message: s.Profile.ExecFailedMessage(ps.Path)})
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		writeError(w, http.StatusInternalServerError, garden.ErrorBody{Message: "cannot hijack the connection"})
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	id := uuid.NewString()
	fmt.Fprintf(buf, "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nDate: %s\r\nTransfer-Encoding: chunked\r\n\r\n",
		time.Now().UTC().Format(http.TimeFormat))
	fmt.Fprintf(buf, "{\"process_id\":%q,\"stream_id\":\"%d\"}\n", id, stream)
	_ = buf.Flush()
	switch b.Process {
	case ProcessHang:
		// Hold the connection until the caller goes away or the simulator closes.
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = conn.Read(make([]byte, 1))
		}()
		select {
		case <-done:
		case <-s.stop:
		}
		return
	case ProcessCut:
		return
	}
	status := 0
	if b.Process == ProcessExit {
		status = b.ExitStatus
	}
	fmt.Fprintf(buf, "{\"process_id\":%q,\"exit_status\":%d}\n", id, status)
	_ = buf.Flush()
}

// executable reports whether path is an executable regular file inside the raw:// rootfs.
func executable(rootfs, path string) bool {
	dir, ok := strings.CutPrefix(rootfs, "raw://")
	if !ok || !filepath.IsAbs(path) || strings.Contains(path, "..") {
		return false
	}
	info, err := os.Stat(filepath.Join(dir, path))
	return err == nil && info.Mode().IsRegular() && info.Mode().Perm()&0o111 != 0
}
