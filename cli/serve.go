package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/deepprobe/deepprobe/gc"
	"github.com/deepprobe/deepprobe/probes"
	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/probes/garden"
	"github.com/deepprobe/deepprobe/server"
)

// UpstreamConfig is what every subcommand that talks to the worker needs.
type UpstreamConfig struct {
	GardenURL       string
	BaggageclaimURL string
	ProbeTimeout    time.Duration
	CleanupTimeout  time.Duration
	GraceTime       time.Duration
	HardTimeout     time.Duration
	OrphanAge       time.Duration
	LogLevel        string
	LogFormat       string
}

func (u *UpstreamConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&u.GardenURL, "garden-url", "http://127.0.0.1:7777", "Garden server URL")
	fs.StringVar(&u.BaggageclaimURL, "baggageclaim-url", "http://127.0.0.1:7788", "Baggageclaim server URL")
	fs.DurationVar(&u.ProbeTimeout, "probe-timeout", probes.DefaultTimeout, "how long the workload's forward stages are expected to take; past it a stage watches the worker for progress")
	fs.DurationVar(&u.CleanupTimeout, "cleanup-timeout", probes.DefaultCleanupTimeout, "how long each destroy stage is expected to take; past it, the same watching (its limit at shutdown)")
	fs.DurationVar(&u.HardTimeout, "hard-timeout", 0, "the most the forward stages together, and each destroy, may take whatever progress the worker shows (default 5m, Concourse's own tolerance, kept under --grace-time)")
	fs.DurationVar(&u.GraceTime, "grace-time", probes.DefaultGraceTime, "container grace time after which Garden reaps it; must exceed --hard-timeout")
	fs.DurationVar(&u.OrphanAge, "orphan-age", 0, "age after which the janitor reaps a health-check leftover (default the larger of --grace-time + --probe-timeout and the longest workload: 2 x --hard-timeout + a --cleanup-timeout per destroy)")
	fs.StringVar(&u.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&u.LogFormat, "log-format", "text", "log format: text or json")
}

// validate resolves the timing flags with package probes, which owns their rules: 0 means the
// default, a negative value is refused naming the flag.
func (u *UpstreamConfig) validate() error {
	t, err := probes.Timing{ProbeTimeout: u.ProbeTimeout, CleanupTimeout: u.CleanupTimeout, HardTimeout: u.HardTimeout, GraceTime: u.GraceTime, OrphanAge: u.OrphanAge}.Resolve()
	if err != nil {
		return flagError(err)
	}
	u.ProbeTimeout, u.CleanupTimeout, u.GraceTime, u.OrphanAge, u.HardTimeout = t.ProbeTimeout, t.CleanupTimeout, t.GraceTime, t.OrphanAge, t.HardTimeout
	return nil
}

// flagError names the flag of a setting the probes package refused.
func flagError(err error) error {
	var se *probes.SettingError
	if errors.As(err, &se) {
		return errors.New(se.Named("--" + se.Setting))
	}
	return err
}

// logger builds the logger the flags ask for (see logging.go for the conventions).
func (u *UpstreamConfig) logger(w io.Writer) (*slog.Logger, error) {
	return newLogger(u.LogLevel, u.LogFormat, w)
}

// clients builds the two wire clients on one connection pool, naming the flag of a bad URL.
// The caller closes the pool's idle connections when it is done with the clients.
func (u *UpstreamConfig) clients() (*garden.Client, *baggageclaim.Client, *http.Transport, error) {
	tr := &http.Transport{
		Proxy:               nil, // Garden and Baggageclaim are local: never via HTTP_PROXY
		MaxIdleConnsPerHost: 4,
		// Callers share upstream rounds, so a handful of connections is plenty; a cap keeps a
		// flood of callers from opening thousands against the worker's daemons.
		MaxConnsPerHost: 16,
		IdleConnTimeout: 90 * time.Second,
	}
	hc := &http.Client{Transport: tr}
	g, err := garden.NewClient(u.GardenURL, hc)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--garden-url: %w", err)
	}
	b, err := baggageclaim.NewClient(u.BaggageclaimURL, hc)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--baggageclaim-url: %w", err)
	}
	return g, b, tr, nil
}

// ServeConfig is the configuration of `deepprobe serve`.
type ServeConfig struct {
	UpstreamConfig
	FleetConfig
	Listen            string
	RootFSImportPath  string
	MinInterval       time.Duration
	Interval          time.Duration
	MaxAge            time.Duration
	Freshness         time.Duration
	ProcessTimeout    time.Duration
	StallTimeout      time.Duration
	MaxContainers     int
	ContainerReserve  int
	FailureThreshold  int
	MaxTimeInError    time.Duration
	OnSaturation      string
	SkipStages        string
	MaxWait           time.Duration
	ShallowTimeout    time.Duration
	ShallowReuse      time.Duration
	Instance          string
	WorkerName        string
	JanitorInterval   time.Duration
	HeartbeatFile     string
	AuthTokenFile     string
	AuthExemptShallow bool
	AuthExemptStatus  bool
	ShutdownTimeout   time.Duration
	MaxConnections    int
	History           int
}

// ServeFlags returns the flag set of `deepprobe serve` bound to cfg; it is exported so that
// deployment files can be checked against the real parser.
func ServeFlags(cfg *ServeConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("deepprobe serve", flag.ContinueOnError)
	cfg.register(fs)
	cfg.registerFleet(fs)
	fs.StringVar(&cfg.Listen, "listen", ":8889", "HTTP listen address")
	fs.StringVar(&cfg.RootFSImportPath, "rootfs-import-path", "", "host directory (with etc/) to import as the container rootfs; default an empty volume")
	fs.DurationVar(&cfg.MinInterval, "min-interval", probes.DefaultMinInterval, "how long a result is reused before a new workload may start")
	fs.DurationVar(&cfg.Interval, "interval", 0, "run the workload in the background every interval (0: only on request)")
	fs.DurationVar(&cfg.MaxAge, "max-age", 0, "background mode: a result older than this fails as stale (default 3 x --interval + a workload)")
	fs.DurationVar(&cfg.Freshness, "freshness", 0, "a caller whose deadline comes while a workload runs gets the latest result if it is younger than this (default 3 x (--min-interval + a workload); background mode: --max-age)")
	fs.DurationVar(&cfg.ProcessTimeout, "process-timeout", 0, "deadline of process.run, within --probe-timeout (default 3s, or --probe-timeout when shorter)")
	fs.DurationVar(&cfg.StallTimeout, "stall-timeout", 0, "a slow stage fails as stalled when the worker shows no progress of its kind (nobody else's container or volume created, for a create; destroyed, for a destroy) for this long (default 30s, or --hard-timeout when shorter; at most --hard-timeout, and equal to it leaves the hard limit alone)")
	fs.IntVar(&cfg.MaxContainers, "max-containers", 0, "the worker's container limit (Concourse's --containerd-max-containers), when known (0: learnt when a create meets it)")
	fs.IntVar(&cfg.ContainerReserve, "container-reserve", probes.DefaultContainerReserve, "container slots left to builds: with no more free, the workload holds its container stages back (200 warn, saturated)")
	fs.IntVar(&cfg.FailureThreshold, "failure-threshold", probes.DefaultFailureThreshold, "consecutive failed workloads before reporting unhealthy")
	fs.DurationVar(&cfg.MaxTimeInError, "max-time-in-error", 0, "also require the worker to have been failing this long before reporting unhealthy (0: off)")
	fs.StringVar(&cfg.OnSaturation, "on-saturation", string(probes.SaturationWarn), "verdict of a worker at its container limit: warn (200) or fail (503)")
	fs.StringVar(&cfg.SkipStages, "skip-stages", "", "comma-separated optional stages not to run: "+strings.Join(probes.OptionalStages(), ", "))
	fs.DurationVar(&cfg.MaxWait, "max-wait", 0, "how long a request without ?timeout waits (default: a whole workload + 1s)")
	fs.DurationVar(&cfg.ShallowTimeout, "shallow-timeout", probes.DefaultShallowTimeout, "deadline of /livez without ?timeout")
	fs.DurationVar(&cfg.ShallowReuse, "shallow-reuse", probes.DefaultShallowReuse, "how long one /livez round's results answer later callers")
	fs.StringVar(&cfg.Instance, "instance", "", "value of the deepprobe.instance property (default: the host name)")
	fs.StringVar(&cfg.WorkerName, "worker-name", "", "the worker's name on the status page and in deepprobe_worker_info{worker} (default: the host name)")
	fs.DurationVar(&cfg.JanitorInterval, "janitor-interval", time.Minute, "how often the janitor sweeps leftovers (0 disables it)")
	fs.StringVar(&cfg.HeartbeatFile, "heartbeat-file", "", "write the unix time to this file after each workload whose verdict is healthy (pass or warn)")
	fs.StringVar(&cfg.AuthTokenFile, "auth-token-file", "", "require this file's bearer token on /healthz and /readyz (and /livez, /metrics)")
	fs.BoolVar(&cfg.AuthExemptShallow, "auth-exempt-shallow", false, "with --auth-token-file: leave /livez and /metrics open")
	fs.BoolVar(&cfg.AuthExemptStatus, "auth-exempt-status", false, "with --auth-token-file: leave the read-only status page (/) and /history open, for a browser behind a port-forward")
	fs.IntVar(&cfg.History, "history", probes.DefaultHistory, "finished workloads the status page (/) and /history keep")
	fs.IntVar(&cfg.MaxConnections, "max-connections", server.DefaultMaxConnections, "connections served at once, shared out fairly: the last eighth kept for client addresses holding none")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "on SIGTERM, how long to wait for the workload in flight before cancelling it")
	fs.Usage = usage(fs, "deepprobe serve [flags]")
	return fs
}

// ParseServe parses the arguments and environment of `deepprobe serve` and validates them.
func ParseServe(args []string, getenv func(string) string) (ServeConfig, error) {
	return parseServe(args, getenv, io.Discard)
}

// parseServe is ParseServe writing the usage to help on -h.
func parseServe(args []string, getenv func(string) string, help io.Writer) (ServeConfig, error) {
	var cfg ServeConfig
	fs := ServeFlags(&cfg)
	if err := parse(fs, args, getenv, help); err != nil {
		return cfg, err
	}
	return cfg, cfg.validate()
}

func (c *ServeConfig) validate() error {
	if err := c.UpstreamConfig.validate(); err != nil {
		return err
	}
	switch {
	case c.Listen == "":
		return errors.New("--listen must not be empty")
	case c.FailureThreshold < 1:
		return fmt.Errorf("--failure-threshold must be at least 1, got %d", c.FailureThreshold)
	case c.JanitorInterval < 0:
		return fmt.Errorf("--janitor-interval must not be negative, got %s", c.JanitorInterval)
	case c.History < 1 || c.History > 10000:
		return fmt.Errorf("--history must be from 1 to 10000, got %d", c.History)
	case c.MaxConnections < 1:
		return fmt.Errorf("--max-connections must be at least 1, got %d", c.MaxConnections)
	case c.ShutdownTimeout <= 0:
		return fmt.Errorf("--shutdown-timeout must be positive, got %s", c.ShutdownTimeout)
	case c.AuthExemptShallow && c.AuthTokenFile == "":
		return errors.New("--auth-exempt-shallow needs --auth-token-file")
	case c.AuthExemptStatus && c.AuthTokenFile == "":
		return errors.New("--auth-exempt-status needs --auth-token-file")
	}
	if err := c.validateFleet(); err != nil {
		return err
	}
	if err := probes.Saturation(c.OnSaturation).Validate(); err != nil {
		return fmt.Errorf("--on-saturation %w", err)
	}
	t, err := c.timing().Resolve()
	if err != nil {
		return flagError(err)
	}
	c.MaxWait, c.MaxAge, c.Freshness, c.OrphanAge, c.ProcessTimeout = t.MaxWait, t.MaxAge, t.Freshness, t.OrphanAge, t.ProcessTimeout
	c.StallTimeout, c.HardTimeout, c.MinInterval = t.StallTimeout, t.HardTimeout, t.MinInterval
	shallow, err := (probes.ShallowConfig{Timeout: c.ShallowTimeout, Reuse: c.ShallowReuse}).Resolve()
	if err != nil {
		return flagError(err)
	}
	c.ShallowTimeout, c.ShallowReuse = shallow.Timeout, shallow.Reuse
	if c.ContainerReserve < 0 {
		return fmt.Errorf("--container-reserve must not be negative, got %d", c.ContainerReserve)
	}
	if err := c.workloadConfig(nil, nil).Validate(); err != nil { // settings only: no clients yet
		return flagError(err)
	}
	if c.Instance == "" {
		c.Instance, _ = os.Hostname()
	}
	if c.WorkerName == "" {
		c.WorkerName, _ = os.Hostname()
	}
	if err := validWorkerName(c.WorkerName); err != nil {
		return err
	}
	return nil
}

// settings are the configuration the status page shows.
func (c *ServeConfig) settings() []server.Setting {
	skip := c.SkipStages
	if skip == "" {
		skip = "none"
	}
	interval := "on request"
	if c.Interval > 0 {
		interval = c.Interval.String()
	}
	return []server.Setting{
		{Name: "Garden", Value: c.GardenURL}, {Name: "Baggageclaim", Value: c.BaggageclaimURL},
		{Name: "Probe timeout", Value: c.ProbeTimeout.String()}, {Name: "Process timeout", Value: c.ProcessTimeout.String()},
		{Name: "Cleanup timeout", Value: c.CleanupTimeout.String()}, {Name: "Stall timeout", Value: c.StallTimeout.String()},
		{Name: "Hard timeout", Value: c.HardTimeout.String()}, {Name: "Grace time", Value: c.GraceTime.String()},
		{Name: "Max containers", Value: maxContainers(c.MaxContainers)}, {Name: "Container reserve", Value: strconv.Itoa(c.ContainerReserve)},
		{Name: "Interval", Value: interval}, {Name: "Min interval", Value: c.MinInterval.String()},
		{Name: "Freshness", Value: c.Freshness.String()}, {Name: "Failure threshold", Value: strconv.Itoa(c.FailureThreshold)},
		{Name: "Max time in error", Value: c.MaxTimeInError.String()}, {Name: "On saturation", Value: c.OnSaturation},
		{Name: "Skipped stages", Value: skip}, {Name: "Janitor interval", Value: c.JanitorInterval.String()},
		{Name: "Orphan age", Value: c.OrphanAge.String()}, {Name: "Fleet budget", Value: c.FleetConfig.setting()}, {Name: "Version", Value: Version + " (commit " + BuildCommit() + ")"},
	}
}

// maxContainers says the container limit for the status page.
func maxContainers(n int) string {
	if n == 0 {
		return "learnt when met"
	}
	return strconv.Itoa(n)
}

// timing maps the flags to the probe's timing, whose rules live in package probes.
func (c *ServeConfig) timing() probes.Timing {
	return probes.Timing{
		ProbeTimeout: c.ProbeTimeout, CleanupTimeout: c.CleanupTimeout, ProcessTimeout: c.ProcessTimeout, GraceTime: c.GraceTime,
		StallTimeout: c.StallTimeout, HardTimeout: c.HardTimeout,
		MinInterval: c.MinInterval, Interval: c.Interval, MaxAge: c.MaxAge, Freshness: c.Freshness, OrphanAge: c.OrphanAge,
		MaxWait: c.MaxWait, MaxTimeInError: c.MaxTimeInError,
	}
}

// reserve maps --container-reserve to the workload's (where 0 means the default).
func (c *ServeConfig) reserve() int {
	if c.ContainerReserve == 0 {
		return -1 // none
	}
	return c.ContainerReserve
}

// skipStages splits --skip-stages.
func (c *ServeConfig) skipStages() []string {
	var out []string
	for _, s := range strings.Split(c.SkipStages, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// workloadConfig maps the flags to the workload's configuration.
func (c *ServeConfig) workloadConfig(g probes.Containers, b probes.Volumes) probes.WorkloadConfig {
	return probes.WorkloadConfig{
		Garden: g, Baggageclaim: b, RootFSImportPath: c.RootFSImportPath, Skip: c.skipStages(),
		Timing: c.timing(), Instance: c.Instance, MaxContainers: c.MaxContainers, ContainerReserve: c.reserve(),
	}
}

// Main is a running `deepprobe serve`: built by NewMain, run by Run.
type Main struct {
	cfg      ServeConfig
	logger   *slog.Logger
	workload *probes.Workload
	prober   *probes.Prober
	server   *server.Server
	shallow  *probes.Shallow
	janitor  *gc.Janitor
	upstream *http.Transport // the clients' connection pool, closed when Run returns
	// heartbeatFailures counts failed heartbeat writes (a full disk, no inodes), from start-up.
	heartbeatFailures prometheus.Counter
	// proberLoop is true while the prober's Run goroutine runs (see alive, for /ping).
	proberLoop atomic.Bool
	streak     failingStreak // logOutcome's memory of the failing streak, to log its end
}

// NewMain builds everything `deepprobe serve` runs; nothing listens or runs yet.
func NewMain(cfg ServeConfig, logger *slog.Logger) (*Main, error) {
	g, b, tr, err := cfg.clients()
	if err != nil {
		return nil, err
	}
	token, err := readToken(cfg.AuthTokenFile)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := registerInfo(reg, cfg.WorkerName); err != nil {
		return nil, err
	}

	m := &Main{cfg: cfg, logger: logger, upstream: tr, heartbeatFailures: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "deepprobe_heartbeat_write_failures_total", Help: "Failed writes of the --heartbeat-file (a full disk, no inodes, a read-only file system).",
	})}
	reg.MustRegister(m.heartbeatFailures)
	m.workload, err = probes.NewWorkload(cfg.workloadConfig(g, b))
	if err != nil {
		return nil, flagError(err)
	}
	history := probes.NewHistory(cfg.History)
	metrics, err := probes.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	deepFailing, err := probes.NewDeepFailing(reg)
	if err != nil {
		return nil, err
	}
	budget, err := cfg.budget(logger, reg)
	if err != nil {
		return nil, err
	}
	var fleetBudget server.FleetBudget // stays a nil interface when the budget is off
	if budget.Enabled() {
		fleetBudget = budget
	}
	m.prober, err = probes.NewProber(probes.ProberConfig{
		Run: m.workload.Run, Running: m.workload.Running, Timing: cfg.timing(), FailureThreshold: cfg.FailureThreshold,
		OnSaturation: probes.Saturation(cfg.OnSaturation), Registerer: reg,
		Listeners: []func(probes.Outcome){metrics.Observe, deepFailing, history.Observe, m.logOutcome, m.writeHeartbeat},
	})
	if err != nil {
		return nil, flagError(err)
	}
	shallow, err := probes.NewShallow(probes.ShallowConfig{Garden: g, Baggageclaim: b, Timeout: cfg.ShallowTimeout, Reuse: cfg.ShallowReuse})
	if err != nil {
		return nil, flagError(err)
	}
	var janitor server.JanitorReader // stays a nil interface when the janitor is off
	if cfg.JanitorInterval > 0 {
		m.janitor, err = gc.New(gc.Config{
			Garden: g, Baggageclaim: b, Interval: cfg.JanitorInterval, OrphanAge: cfg.OrphanAge, Instance: cfg.Instance,
			InFlight: m.workload.InFlight, Logger: logger, Registerer: reg,
		})
		if err != nil {
			return nil, err
		}
		janitor = m.janitor
	}
	m.shallow = shallow
	m.server, err = server.New(server.Config{
		Deep: m.prober, Shallow: shallow, Registry: reg, Logger: logger,
		// Resolved values: MaxWait by probes.Timing (in validate), the shallow timeout the check's own.
		MaxWait: cfg.MaxWait, ShallowTimeout: cfg.ShallowTimeout,
		AuthToken: token, AuthExemptShallow: cfg.AuthExemptShallow, AuthExemptStatus: cfg.AuthExemptStatus, MaxConnections: cfg.MaxConnections,
		Instance: cfg.WorkerName, OnRequest: cfg.Interval == 0, StaleAfter: cfg.staleAfter(), History: history, Janitor: janitor, Settings: cfg.settings(),
		Alive: m.alive, Fleet: fleetBudget,
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// logOutcome logs a finished workload: a failure at warn, the end of a failing streak (the
// worker recovered) at info with how long it lasted, a pass at debug.
func (m *Main) logOutcome(o probes.Outcome) {
	res := o.Result
	ended, failures, since := m.streak.observe(o)
	if f, failed := res.FirstFailure(); failed {
		m.logger.Warn("workload failed", "handle", res.Handle, "stage", f.Name, "reason", f.Reason, "error", f.Err,
			"duration", res.Duration, "verdict", o.Verdict(), "consecutive_failures", o.ConsecutiveFailures)
		return
	}
	if ended {
		m.logger.Info("worker recovered: a workload passed after a failing streak", "handle", res.Handle,
			"failed_workloads", failures, "failing_since", since.UTC(), "failing_for", o.CompletedAt.Sub(since), "duration", res.Duration)
		return
	}
	m.logger.Debug("workload passed", "handle", res.Handle, "duration", res.Duration)
}

// failingStreak remembers the prober's failing streak between outcomes.
type failingStreak struct {
	mu       sync.Mutex
	failures int
	since    time.Time
}

// observe records o and reports whether it ended a streak, with that streak's failures and
// start. The streak is the prober's (Outcome.ConsecutiveFailures and FailingSince), so what
// counts as failing or as ending it (a saturated worker neither starts nor ends one) is decided
// there, once.
func (s *failingStreak) observe(o probes.Outcome) (ended bool, failures int, since time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	failures, since = s.failures, s.since
	s.failures, s.since = o.ConsecutiveFailures, o.FailingSince
	return failures > 0 && o.ConsecutiveFailures == 0, failures, since
}

// writeHeartbeat writes the heartbeat file after every workload whose verdict is healthy (pass,
// or warn: below the thresholds, or only full), when one is configured: a watchdog that finds
// it stale knows a restart is wanted.
func (m *Main) writeHeartbeat(o probes.Outcome) {
	if m.cfg.HeartbeatFile == "" || !o.Healthy {
		return
	}
	if err := writeHeartbeat(m.cfg.HeartbeatFile, o.CompletedAt); err != nil {
		m.heartbeatFailures.Inc()
		m.logger.Error("writing heartbeat file", "path", m.cfg.HeartbeatFile, "error", err)
	}
}

// writeHeartbeat replaces path with the unix time, atomically.
func writeHeartbeat(path string, now time.Time) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".heartbeat-*")
	if err != nil {
		return err
	}
	_, werr := tmp.WriteString(strconv.FormatInt(now.Unix(), 10) + "\n")
	cerr := tmp.Close()
	if werr != nil || cerr != nil {
		_ = os.Remove(tmp.Name())
		return errors.Join(werr, cerr)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name()) // leave nothing behind (the path may be a directory)
		return err
	}
	return nil
}

// Addr returns the address the server listens on, once Run has bound it.
func (m *Main) Addr() string { return m.server.Addr().String() }

// Run listens (returning a bind error at once), serves, and runs the background prober and the
// janitor until ctx ends; then it stops accepting requests, lets the workload in flight finish
// its cleanup (bounded by --shutdown-timeout), and returns. ready, if not nil, is called once
// the server listens.
func (m *Main) Run(ctx context.Context, ready func(addr string)) error {
	if err := m.listen(ready); err != nil {
		return err
	}
	defer m.upstream.CloseIdleConnections()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	background, serveErr := m.runBackground(runCtx, stop)
	<-runCtx.Done()
	m.stopGracefully(context.WithoutCancel(ctx))
	background.Wait()
	m.shallow.Wait() // a /livez round started just before the server stopped ends within its timeout
	select {
	case err := <-serveErr:
		return err
	default:
	}
	m.logger.Info("deepprobe stopped")
	return nil
}

// listen binds the server (a bind error is returned, not logged) and says so.
func (m *Main) listen(ready func(addr string)) error {
	if err := m.server.Listen(m.cfg.Listen); err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	m.logger.Info("deepprobe listening", "addr", m.server.Addr().String(), "version", Version, "commit", BuildCommit(),
		"worker", m.cfg.WorkerName, "garden", m.cfg.GardenURL,
		"baggageclaim", m.cfg.BaggageclaimURL, "probe_timeout", m.cfg.ProbeTimeout, "min_interval", m.cfg.MinInterval,
		"interval", m.cfg.Interval, "janitor_interval", m.cfg.JanitorInterval)
	if m.janitor == nil {
		m.logger.Warn("janitor disabled (--janitor-interval 0): leftovers of a crash, or of a create that completes " +
			"on the server after its timeout, stay until `deepprobe janitor --once`; Baggageclaim volumes have no TTL")
	}
	if ready != nil {
		ready(m.server.Addr().String())
	}
	return nil
}

// runBackground serves, and runs the background prober and the janitor until ctx ends; a
// serving error stops everything (stop) and is sent on the returned channel.
func (m *Main) runBackground(ctx context.Context, stop context.CancelFunc) (*sync.WaitGroup, <-chan error) {
	var wg sync.WaitGroup
	serveErr := make(chan error, 1)
	m.proberLoop.Store(true)
	wg.Go(func() {
		if err := m.server.Serve(); err != nil {
			serveErr <- fmt.Errorf("serving: %w", err)
			stop()
		}
	})
	wg.Go(func() {
		defer m.proberLoop.Store(false)
		_ = m.prober.Run(ctx)
	})
	if m.janitor != nil {
		wg.Go(func() { _ = m.janitor.Run(ctx) })
	}
	return &wg, serveErr
}

// stopGracefully stops accepting requests and lets the workload in flight finish its cleanup
// (bounded by --shutdown-timeout, after which it is cancelled and its destroys still run, each
// within --cleanup-timeout); requests still waiting get its result as it lands.
func (m *Main) stopGracefully(ctx context.Context) {
	m.logger.Info("deepprobe stopping: no new requests; waiting for the workload in flight", "bound", m.cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(ctx, m.cfg.ShutdownTimeout)
	defer cancel()
	var prober sync.WaitGroup
	prober.Go(func() {
		if err := m.prober.Shutdown(shutdownCtx); err != nil {
			m.logger.Warn("workload cancelled at shutdown", "error", err)
		}
	})
	serverCtx, cancelServer := context.WithTimeout(ctx, m.cfg.ShutdownTimeout+m.prober.Timing().CancelledRun()+time.Second)
	defer cancelServer()
	if err := m.server.Shutdown(serverCtx); err != nil {
		// A half-sent request or a slow reader: closed at the bound, which is not a failure.
		m.logger.Warn("connections still open at the shutdown bound were closed", "error", err)
	}
	prober.Wait()
}
