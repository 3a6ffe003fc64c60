// Command workersim runs the Garden and Baggageclaim simulators side by side, as a stand-in
// for a Concourse worker in tests and demos, with an admin endpoint for injecting faults.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/deepprobe/deepprobe/workersim/baggageclaimsim"
	"github.com/deepprobe/deepprobe/workersim/concoursegc"
	"github.com/deepprobe/deepprobe/workersim/faults"
	"github.com/deepprobe/deepprobe/workersim/gardensim"
	"github.com/deepprobe/deepprobe/workersim/runtimes"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "workersim:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("workersim", flag.ContinueOnError)
	gardenListen := fs.String("garden-listen", "127.0.0.1:7777", "Garden simulator listen address")
	bcListen := fs.String("baggageclaim-listen", "127.0.0.1:7788", "Baggageclaim simulator listen address")
	adminListen := fs.String("admin-listen", "127.0.0.1:7789", "admin (fault injection) listen address; empty disables")
	stateDir := fs.String("state-dir", "", "directory for volumes (default: a temporary directory removed on exit)")
	runtime := fs.String("runtime", runtimes.Default, "runtime to answer like: "+strings.Join(runtimes.Names(), ", "))
	maxContainers := fs.Int("garden-max-containers", 0, "fail creates beyond this many containers (0: the runtime's default; -1: no limit)")
	realLatency := fs.Bool("real-latency", false, "answer each call after the round trip recorded for the runtime")
	reaperRace := fs.Int("garden-reaper-race-every", 0, "every Nth PUT grace_time triggers Garden's grace-time reaper race (0: never)")
	createTime := fs.Duration("garden-create-time", 0, "time each container create takes in the runtime's create queue (default: the recorded time with --real-latency, else 0)")
	destroyTime := fs.Duration("garden-destroy-time", 0, "time each container destroy takes in the runtime's destroy queue (default: the recorded time with --real-latency, else 0)")
	load := fs.Int("garden-load", 0, "keep this many creates and destroys in flight from inside the simulator, as a busy worker's builds do (0: none)")
	loadHold := fs.Duration("garden-load-hold", time.Second, "how long each --garden-load container lives before its destroy")
	wedge := fs.Bool("garden-wedge", false, "start wedged: creates and destroys hang and nothing completes")
	destroyStuck := fs.Bool("garden-destroy-stuck", false, "every DELETE answers 500 \"container already being destroyed\" and the container stays")
	gcInterval := fs.Duration("gc-interval", 0, "sweep like a Concourse web node's garbage collector every this long: destroy every container and volume the load does not own (0: never)")
	gcDelay := fs.Duration("gc-delay", 5*time.Millisecond, "time between a sweep's lists and its destroys")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *maxContainers < -1 {
		return fmt.Errorf("--garden-max-containers must be -1 (no limit), 0 (the runtime's default) or a limit")
	}
	if _, err := runtimes.Lookup(*runtime); err != nil {
		return fmt.Errorf("--runtime: %w", err)
	}
	var handler slog.Handler
	switch *logFormat {
	case "text":
		handler = slog.NewTextHandler(os.Stderr, nil)
	case "json":
		handler = slog.NewJSONHandler(os.Stderr, nil)
	default:
		return fmt.Errorf("--log-format must be text or json, got %q", *logFormat)
	}
	logger := slog.New(handler)

	g, err := gardensim.NewServer(gardensim.Config{Addr: *gardenListen, Runtime: *runtime,
		MaxContainers: *maxContainers, RealLatency: *realLatency, Logger: logger})
	if err != nil {
		return fmt.Errorf("--garden-listen: %w", err)
	}
	defer g.Close()
	if err := g.SetBehaviour(gardensim.Behaviour{ReaperRaceEvery: *reaperRace, Wedge: *wedge, DestroyStuck: *destroyStuck}); err != nil {
		return fmt.Errorf("--garden-reaper-race-every: %w", err)
	}
	timings := g.Timings()
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "garden-create-time":
			timings.Create = faults.Duration(*createTime)
		case "garden-destroy-time":
			timings.Destroy = faults.Duration(*destroyTime)
		}
	})
	if err := g.SetTimings(timings); err != nil {
		return fmt.Errorf("--garden-create-time, --garden-destroy-time: %w", err)
	}
	if err := g.SetLoad(gardensim.Load{InFlight: *load, Hold: faults.Duration(*loadHold)}); err != nil {
		return fmt.Errorf("--garden-load, --garden-load-hold: %w", err)
	}
	b, err := baggageclaimsim.NewServer(baggageclaimsim.Config{Addr: *bcListen, StateDir: *stateDir, Logger: logger,
		Runtime: *runtime, RealLatency: *realLatency})
	if err != nil {
		return fmt.Errorf("--baggageclaim-listen: %w", err)
	}
	defer b.Close()

	sweeper, err := concoursegc.Start(concoursegc.Config{GardenURL: g.URL, BaggageclaimURL: b.URL, Logger: logger,
		Schedule:        concoursegc.Schedule{Interval: faults.Duration(*gcInterval), Delay: faults.Duration(*gcDelay)},
		KnownContainers: g.LoadHandle})
	if err != nil {
		return fmt.Errorf("--gc-interval, --gc-delay: %w", err)
	}
	defer sweeper.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var admin *http.Server
	var adminDone chan error // nil without an admin server: never ready in the select below
	adminURL := "none"
	if *adminListen != "" {
		adminDone = make(chan error, 1)
		ln, err := net.Listen("tcp", *adminListen)
		if err != nil {
			return fmt.Errorf("--admin-listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/garden/", http.StripPrefix("/garden", g.AdminHandler()))
		mux.Handle("/baggageclaim/", http.StripPrefix("/baggageclaim", b.AdminHandler()))
		mux.Handle("/gc", sweeper.AdminHandler())
		admin = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { adminDone <- admin.Serve(ln) }()
		adminURL = "http://" + ln.Addr().String()
	}
	// One line with every address, for people and for the tests that start workersim on :0.
	logger.Info("workersim ready", "garden", g.URL, "baggageclaim", b.URL, "admin", adminURL, "runtime", *runtime)

	select {
	case <-ctx.Done():
	case err := <-adminDone:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("admin server: %w", err)
		}
	}
	logger.Info("workersim stopping")
	if admin != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = admin.Shutdown(sctx)
	}
	return nil
}
