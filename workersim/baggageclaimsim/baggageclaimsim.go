package baggageclaimsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/probes/routes"
	"github.com/deepprobe/deepprobe/workersim/faults"
	"github.com/deepprobe/deepprobe/workersim/internal/simserver"
	"github.com/deepprobe/deepprobe/workersim/runtimes"
)

// Config configures a simulator.
type Config struct {
	// Addr is the listen address; default "127.0.0.1:0".
	Addr string
	// StateDir holds the volumes, under volumes/live/<handle>/volume. When empty the simulator
	// makes a temporary directory and removes it on Close; a given one is left in place.
	StateDir string
	// RealLatency delays every answer by the round trip recorded for Runtime's Baggageclaim
	// routes (runtimes.Profile.Latency).
	RealLatency bool
	Runtime     string
	// Logger receives a line per request; nil discards.
	Logger *slog.Logger
}

// Server is a running Baggageclaim simulator.
type Server struct {
	// URL is the base URL, http://127.0.0.1:port.
	URL string
	// Faults holds the injected faults and call counters, by route name (baggageclaim.Route*).
	Faults *faults.Injector

	liveDir   string
	removeDir string
	srv       *simserver.Server

	mu      sync.Mutex
	volumes map[string]baggageclaim.Volume
}

// Generic error messages, as the real server words them.
const (
	msgCreate  = "failed to create volume"
	msgGet     = "failed to get volume"
	msgDestroy = "failed to destroy volume"
	msgSetProp = "failed to set property on volume"
	msgStream  = "failed to stream in to volume"
)

// NewServer starts a simulator.
func NewServer(cfg Config) (*Server, error) {
	s := &Server{volumes: map[string]baggageclaim.Volume{}}
	state := cfg.StateDir
	if state == "" {
		dir, err := os.MkdirTemp("", "baggageclaimsim-")
		if err != nil {
			return nil, fmt.Errorf("baggageclaimsim: %w", err)
		}
		state, s.removeDir = dir, dir
	}
	abs, err := filepath.Abs(state)
	if err != nil {
		return nil, fmt.Errorf("baggageclaimsim: state dir: %w", err)
	}
	s.liveDir = filepath.Join(abs, "volumes", "live")
	if err := os.MkdirAll(s.liveDir, 0o755); err != nil {
		return nil, fmt.Errorf("baggageclaimsim: state dir: %w", err)
	}
	s.Faults = faults.NewInjector(baggageclaim.Routes.Names(), faults.Responses{
		Error: func(w http.ResponseWriter, status int, msg string) { writeTextError(w, status, msg) },
		// The real server's errors are generic: a full disk reads like any other failure.
		DiskFull: func(w http.ResponseWriter) { writeTextError(w, http.StatusInternalServerError, msgCreate) },
	})
	if cfg.RealLatency {
		name := cfg.Runtime
		if name == "" {
			name = runtimes.Default
		}
		profile, err := runtimes.Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("baggageclaimsim: %w", err)
		}
		latency := map[string]time.Duration{}
		for route, d := range profile.Latency {
			if r, ok := strings.CutPrefix(route, "baggageclaim."); ok {
				latency[r] = d
			}
		}
		s.Faults.SetBaseLatency(latency)
	}
	mux := routes.NewMux(baggageclaim.Routes, map[string]routes.HandlerFunc{
		baggageclaim.RouteCreate:      s.create,
		baggageclaim.RouteList:        s.list,
		baggageclaim.RouteGet:         s.get,
		baggageclaim.RouteSetProperty: s.setProperty,
		baggageclaim.RouteStreamIn:    s.streamIn,
		baggageclaim.RouteDestroy:     s.destroy,
	}, s.Faults.Intercept)
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	srv, err := simserver.Start(cfg.Addr, mux, s.Faults, logger.With("sim", "baggageclaim"))
	if err != nil {
		if s.removeDir != "" {
			_ = os.RemoveAll(s.removeDir)
		}
		return nil, fmt.Errorf("baggageclaimsim: %w", err)
	}
	s.srv, s.URL = srv, srv.URL
	return s, nil
}

// Close stops the server, waits for every request to end, and removes a temporary state dir.
func (s *Server) Close() {
	s.srv.Close()
	if s.removeDir != "" {
		_ = os.RemoveAll(s.removeDir)
	}
}

// Handles returns the handles of every volume, sorted.
func (s *Server) Handles() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.volumes))
}

// AdminHandler serves the fault knobs (see faults.Injector.AdminHandler) and GET /volumes, the
// simulator's volumes.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", s.Faults.AdminHandler())
	mux.HandleFunc("GET /volumes", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.sorted(nil))
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeTextError writes {"error":msg} without a Content-Type, so that net/http sniffs
// "text/plain; charset=utf-8", exactly as the real server's error paths do.
func writeTextError(w http.ResponseWriter, status int, msg string) {
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(baggageclaim.ErrorBody{Error: msg})
}

// validHandle refuses handles that would escape the state directory.
func validHandle(h string) bool {
	return h != "" && h != "." && h != ".." && !strings.ContainsAny(h, `/\`) && !strings.ContainsRune(h, 0)
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, _ routes.Params) {
	var req baggageclaim.Request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeTextError(w, http.StatusBadRequest, msgCreate)
		return
	}
	switch req.Strategy.Type {
	case baggageclaim.StrategyEmpty, baggageclaim.StrategyImport, baggageclaim.StrategyCOW:
	default:
		writeTextError(w, http.StatusUnprocessableEntity, msgCreate)
		return
	}
	if req.Handle == "" {
		req.Handle = uuid.NewString()
	}
	if !validHandle(req.Handle) {
		writeTextError(w, http.StatusInternalServerError, msgCreate)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, exists := s.volumes[req.Handle]; exists {
		writeTextError(w, http.StatusInternalServerError, msgCreate)
		return
	}
	if req.Strategy.Type == baggageclaim.StrategyCOW { // a child of an unknown parent: 422 (ctrd-65)
		parent, ok := s.volumes[req.Strategy.Volume]
		if !ok {
			writeTextError(w, http.StatusUnprocessableEntity, msgCreate)
			return
		}
		// The naive driver copies the parent; the child lives on when the parent is destroyed.
		req.Strategy = baggageclaim.ImportStrategy(parent.Path)
	}
	dir := filepath.Join(s.liveDir, req.Handle, "volume")
	if err := s.fill(dir, req.Strategy); err != nil {
		_ = os.RemoveAll(filepath.Dir(dir))
		writeTextError(w, http.StatusInternalServerError, msgCreate)
		return
	}
	v := baggageclaim.Volume{Handle: req.Handle, Path: dir, Properties: req.Properties}
	s.volumes[req.Handle] = v
	writeJSON(w, http.StatusCreated, v)
}

// fill makes the volume directory and, for import, copies the source tree into it.
func (s *Server) fill(dir string, strategy baggageclaim.Strategy) error {
	if strategy.Type == baggageclaim.StrategyEmpty {
		return os.MkdirAll(dir, 0o755)
	}
	src := strategy.Path
	info, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return fmt.Errorf("import path %s is not a directory", src)
	}
	return copyTree(src, dir)
}

// copyTree copies the regular files, directories and symlinks (not followed) under src to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			return copyFile(p, target, info.Mode().Perm())
		default:
			return nil
		}
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// sorted returns the volumes matching filter, by handle.
func (s *Server) sorted(filter map[string]string) []baggageclaim.Volume {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []baggageclaim.Volume{}
	for _, v := range s.volumes {
		ok := true
		for k, want := range filter {
			if got, has := v.Properties[k]; !has || got != want {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Handle < out[j].Handle })
	return out
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, _ routes.Params) {
	filter := map[string]string{}
	for k, vs := range r.URL.Query() {
		if len(vs) > 1 {
			writeJSON(w, http.StatusUnprocessableEntity, baggageclaim.ErrorBody{
				Error: fmt.Sprintf("a property may only have a single value: %s has many (%s)", k, strings.Join(vs, ", "))})
			return
		}
		filter[k] = vs[0]
	}
	writeJSON(w, http.StatusOK, s.sorted(filter))
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, p routes.Params) {
	s.mu.Lock()
	v, ok := s.volumes[p["handle"]]
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, baggageclaim.ErrorBody{Error: msgGet})
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) setProperty(w http.ResponseWriter, r *http.Request, p routes.Params) {
	var body struct {
		Value string `json:"value"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeTextError(w, http.StatusBadRequest, msgSetProp)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.volumes[p["handle"]]
	if !ok {
		writeTextError(w, http.StatusNotFound, msgSetProp)
		return
	}
	props := make(map[string]string, len(v.Properties)+1)
	for k, val := range v.Properties {
		props[k] = val
	}
	props[p["name"]] = body.Value
	v.Properties = props
	s.volumes[v.Handle] = v
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) destroy(w http.ResponseWriter, r *http.Request, p routes.Params) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.volumes[p["handle"]]
	if !ok {
		writeTextError(w, http.StatusNotFound, msgDestroy)
		return
	}
	if err := os.RemoveAll(filepath.Dir(v.Path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		writeTextError(w, http.StatusInternalServerError, msgDestroy)
		return
	}
	delete(s.volumes, v.Handle)
	w.WriteHeader(http.StatusNoContent)
}
