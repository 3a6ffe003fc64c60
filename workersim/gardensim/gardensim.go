package gardensim

import (
	"encoding/json"
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
	"time"

	"github.com/deepprobe/deepprobe/internal/routes"
	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/workersim/faults"
	"github.com/deepprobe/deepprobe/workersim/internal/simserver"
)

// Config configures a simulator. The zero Config behaves like houdini, except that a rootfs
// without etc/ is accepted, as runc-based runtimes do.
type Config struct {
	// Addr is the listen address; default "127.0.0.1:0".
	Addr string
	// HonourSpecGraceTime arms the reaper from the create spec's grace_time too, as Guardian
	// does. By default only PUT grace_time arms it, as on houdini and Concourse's containerd.
	HonourSpecGraceTime bool
	// RequireRootFSEtc fails creates whose raw:// rootfs has no etc/ directory, as houdini does.
	RequireRootFSEtc bool
	// RejectDuplicateHandles answers 500 to a create with a handle in use, as Guardian does;
	// by default the new container replaces the old one, as houdini does.
	RejectDuplicateHandles bool
	// MaxContainers fails creates beyond this many containers; 0 means no limit.
	MaxContainers int
	// Logger receives a line per request and per reaped container; nil discards.
	Logger *slog.Logger
}

type container struct {
	handle     string
	properties map[string]string
	rootfs     string
	createdAt  time.Time
	graceTime  time.Duration
	reaper     *time.Timer
}

// Server is a running Garden simulator.
type Server struct {
	// URL is the base URL, http://127.0.0.1:port.
	URL string
	// Faults holds the injected faults and call counters, by route name (garden.Route*).
	Faults *faults.Injector

	cfg    Config
	logger *slog.Logger
	srv    *simserver.Server

	mu         sync.Mutex
	closed     bool
	containers map[string]*container
	nextHandle uint64
}

// NewServer starts a simulator.
func NewServer(cfg Config) (*Server, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, logger: logger, containers: map[string]*container{}, nextHandle: uint64(time.Now().UnixNano())}
	s.Faults = faults.NewInjector(garden.Routes.Names(), faults.Responses{Error: func(w http.ResponseWriter, status int, msg string) {
		writeError(w, status, garden.ErrorBody{Message: msg})
	}})
	mux := routes.NewMux(garden.Routes, map[string]routes.HandlerFunc{
		garden.RoutePing:       s.ping,
		garden.RouteCapacity:   s.capacity,
		garden.RouteCreate:     s.create,
		garden.RouteList:       s.list,
		garden.RouteInfo:       s.info,
		garden.RouteProperties: s.properties,
		garden.RouteGraceTime:  s.setGraceTime,
		garden.RouteDestroy:    s.destroy,
	}, s.Faults.Intercept)
	srv, err := simserver.Start(cfg.Addr, mux, s.Faults, logger.With("sim", "garden"))
	if err != nil {
		return nil, fmt.Errorf("gardensim: %w", err)
	}
	s.srv, s.URL = srv, srv.URL
	return s, nil
}

// Close stops the server and its reaper timers, and waits for every request to end.
func (s *Server) Close() {
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

// Handles returns the handles of every container, sorted.
func (s *Server) Handles() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.containers))
}

// AdminHandler serves the fault knobs (see faults.Injector.AdminHandler) and
// GET /containers, the simulator's containers with their properties.
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
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, body garden.ErrorBody) {
	writeJSON(w, status, body)
}

func notFound(w http.ResponseWriter, handle string) {
	writeError(w, http.StatusNotFound, garden.ErrorBody{
		Type:    garden.TypeContainerNotFound,
		Message: "unknown handle: " + handle,
		Handle:  handle,
	})
}

func (s *Server) ping(w http.ResponseWriter, r *http.Request, _ routes.Params) {
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) capacity(w http.ResponseWriter, r *http.Request, _ routes.Params) {
	writeJSON(w, http.StatusOK, garden.Capacity{MaxContainers: uint64(s.cfg.MaxContainers)})
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
		if s.cfg.RequireRootFSEtc {
			target := filepath.Join(p, "etc", "resolv.conf")
			if _, err := os.Stat(filepath.Join(p, "etc")); err != nil {
				writeError(w, http.StatusInternalServerError, garden.ErrorBody{
					Message: fmt.Sprintf("failed to create target for bind mount: open %s: no such file or directory", target)})
				return
			}
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if sp.Handle == "" {
		s.nextHandle++
		sp.Handle = fmt.Sprintf("%011s", strconv.FormatUint(s.nextHandle%(1<<55), 32))
	}
	old, exists := s.containers[sp.Handle]
	if exists && s.cfg.RejectDuplicateHandles {
		writeError(w, http.StatusInternalServerError, garden.ErrorBody{Message: fmt.Sprintf("Handle '%s' already in use", sp.Handle)})
		return
	}
	if !exists && s.cfg.MaxContainers > 0 && len(s.containers) >= s.cfg.MaxContainers {
		writeError(w, http.StatusInternalServerError, garden.ErrorBody{
			Message: fmt.Sprintf("max containers reached: %d", s.cfg.MaxContainers)})
		return
	}
	if exists && old.reaper != nil {
		old.reaper.Stop()
	}
	c := &container{handle: sp.Handle, properties: sp.Properties, rootfs: sp.RootFSPath, createdAt: time.Now()}
	s.containers[sp.Handle] = c
	if s.cfg.HonourSpecGraceTime && sp.GraceTime > 0 {
		s.armLocked(c, time.Duration(sp.GraceTime))
	}
	writeJSON(w, http.StatusOK, map[string]string{"Handle": sp.Handle})
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
	if c.reaper != nil {
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
	s.mu.Lock()
	handles := []string{}
	for h, c := range s.containers {
		if matches(c.properties, q) {
			handles = append(handles, h)
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string][]string{"Handles": handles})
}

// matches reports whether props has every queried property, using the first value of a
// repeated key as Garden does.
func matches(props map[string]string, q map[string][]string) bool {
	for k, vs := range q {
		v, ok := props[k]
		if !ok || v != vs[0] {
			return false
		}
	}
	return true
}

// lookup finds a container and restarts its countdown, or answers 404.
func (s *Server) lookup(w http.ResponseWriter, handle string) (*container, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.containers[handle]
	if !ok {
		notFound(w, handle)
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
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(emptyInfo))
}

func (s *Server) properties(w http.ResponseWriter, r *http.Request, p routes.Params) {
	c, ok := s.lookup(w, p["handle"])
	if !ok {
		return
	}
	props := c.properties
	if props == nil {
		props = map[string]string{}
	}
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
		notFound(w, p["handle"])
		return
	}
	if ns > 0 {
		s.armLocked(c, time.Duration(ns))
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) destroy(w http.ResponseWriter, r *http.Request, p routes.Params) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.containers[p["handle"]]
	if !ok {
		notFound(w, p["handle"])
		return
	}
	if c.reaper != nil {
		c.reaper.Stop()
	}
	delete(s.containers, c.handle)
	writeJSON(w, http.StatusOK, struct{}{})
}
