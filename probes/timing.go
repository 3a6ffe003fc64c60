package probes

import (
	"fmt"
	"strings"
	"time"
)

// Settings, named as deepprobe serve's flags so that the CLI can point at the one to change.
const (
	SettingProbeTimeout     = "probe-timeout"
	SettingCleanupTimeout   = "cleanup-timeout"
	SettingProcessTimeout   = "process-timeout"
	SettingGraceTime        = "grace-time"
	SettingMinInterval      = "min-interval"
	SettingInterval         = "interval"
	SettingMaxAge           = "max-age"
	SettingFreshness        = "freshness"
	SettingOrphanAge        = "orphan-age"
	SettingMaxWait          = "max-wait"
	SettingFailureThreshold = "failure-threshold"
	SettingMaxTimeInError   = "max-time-in-error"
	SettingSkipStages       = "skip-stages"
	SettingRootFSImportPath = "rootfs-import-path"
	SettingOnSaturation     = "on-saturation"
	SettingStallTimeout     = "stall-timeout"
	SettingHardTimeout      = "hard-timeout"
	SettingMaxContainers    = "max-containers"
	SettingContainerReserve = "container-reserve"
)

// SettingError is a configuration value deepprobe cannot run with.
type SettingError struct {
	// Setting is the name of the setting (one of the Setting* constants).
	Setting string
	Err     error
}

// Error implements error.
func (e *SettingError) Error() string { return e.Named(e.Setting) }

// Named says the error with the setting called name (a flag, "--grace-time", say).
func (e *SettingError) Named(name string) string {
	msg := e.Err.Error()
	if strings.HasPrefix(msg, "(") { // "--grace-time (5s) must exceed ..."
		return name + " " + msg
	}
	return name + ": " + msg
}

// Unwrap returns the cause.
func (e *SettingError) Unwrap() error { return e.Err }

func settingErr(setting, format string, args ...any) error {
	return &SettingError{Setting: setting, Err: fmt.Errorf(format, args...)}
}

// Defaults of Timing, and why.
const (
	// DefaultTimeout is how long the forward stages are expected to take together. An idle
	// containerd worker creates a container in ~0.2 s (p99 0.5 s); past this, a stage is slow,
	// and deepprobe starts watching the worker for progress instead of failing it.
	DefaultTimeout = 5 * time.Second
	// DefaultCleanupTimeout is how long each destroy is expected to take (containerd destroys
	// ~0.2 s idle, up to 9 s behind 80 others); past it, the same watching starts.
	DefaultCleanupTimeout = 2 * time.Second
	// DefaultProcessTimeout is how long process.run is expected to take (~70 ms on containerd).
	DefaultProcessTimeout = 3 * time.Second
	// DefaultStallTimeout is how long a slow stage may see no progress at all on the worker
	// (no container, or volume, created or destroyed by anyone else) before it is a failure,
	// "stalled". A busy containerd worker completes a create every fraction of a second (40
	// in flight: ~8 a second, none slower than 12 s); a wedged one completes none.
	DefaultStallTimeout = 30 * time.Second
	// DefaultHardTimeout is the most any stage of deepprobe's may wait, progress or not:
	// Concourse's own tolerance (--containerd-request-timeout, 5 minutes). A create slower than
	// that fails Concourse's builds too.
	DefaultHardTimeout = 5 * time.Minute
	// DefaultGraceTime outlives the longest the forward stages may take (DefaultHardTimeout),
	// so that Garden never reaps the container under a slow workload.
	DefaultGraceTime   = 10 * time.Minute
	DefaultMinInterval = 5 * time.Second
	// WatchInterval is how often a slow stage lists the worker's containers or volumes: at
	// most one list call a second, and only while a stage of ours is past its expected time.
	WatchInterval = time.Second
)

// Timing holds every time setting of the deep probe; this is the one place where their
// defaults are derived and their cross-field rules checked. Zero values mean the defaults.
type Timing struct {
	// ProbeTimeout is how long the forward stages are expected to take together (default 5s).
	// Past it, the stage under way is slow: it keeps waiting while the worker shows progress,
	// and fails as stalled (StallTimeout) or timed out (HardTimeout).
	ProbeTimeout time.Duration
	// CleanupTimeout is how long each undo stage (destroy) is expected to take (default 2s);
	// past it, the same rules apply. At shutdown it is the undo's hard limit.
	CleanupTimeout time.Duration
	// ProcessTimeout is how long process.run is expected to take, inside ProbeTimeout
	// (default 3s, at most ProbeTimeout).
	ProcessTimeout time.Duration
	// StallTimeout is how long a slow stage may see no progress on the worker before it fails
	// as stalled (default 30s, or HardTimeout when that is shorter; at most HardTimeout, which
	// then comes first).
	StallTimeout time.Duration
	// HardTimeout bounds the forward stages together, and each undo stage, whatever progress
	// the worker shows (default 5m, or less than GraceTime - ProbeTimeout when that is less).
	HardTimeout time.Duration
	// GraceTime is the container's grace time (default 10m); it must exceed HardTimeout, or
	// Garden could reap the container under a slow workload.
	GraceTime time.Duration
	// MinInterval is how long a completed result is reused before a request may start a new
	// workload (default 5s).
	MinInterval time.Duration
	// Interval, when set, runs the workload in the background every Interval.
	Interval time.Duration
	// MaxAge (background mode only) is how old the latest result may be before it fails as
	// stale (default 3 x Interval + ExpectedRun); a busy workload in flight is read instead.
	MaxAge time.Duration
	// Freshness is how old the latest completed result may be and still be served to a caller
	// whose deadline comes while a workload is in flight (default 3 x (MinInterval +
	// ExpectedRun): a few probe periods of the fastest caller).
	Freshness time.Duration
	// OrphanAge is how old a health-check leftover must be before the janitor reaps it
	// (default the larger of GraceTime + ProbeTimeout and LongestRun; at least LongestRun).
	OrphanAge time.Duration
	// MaxWait is how long a request without ?timeout waits (default ExpectedRun + 1s).
	MaxWait time.Duration
	// MaxTimeInError, when set, keeps the verdict healthy until the worker has been failing
	// for this long (besides the failure threshold).
	MaxTimeInError time.Duration
}

// ExpectedRun is how long one workload is expected to take on a worker that is not busy: the
// forward stages plus every undo stage (one per stage that makes something) at their expected
// times.
func (t Timing) ExpectedRun() time.Duration {
	t = t.withDefaults()
	return t.ProbeTimeout + time.Duration(undoCount())*t.CleanupTimeout
}

// CancelledRun is the most a workload takes to end once cancelled (at shutdown): each undo
// within its CleanupTimeout.
func (t Timing) CancelledRun() time.Duration {
	t = t.withDefaults()
	return time.Duration(undoCount()) * t.CleanupTimeout
}

// LongestRun is the most one workload can take, however busy the worker: the forward stages,
// then the undos, each group at HardTimeout, and each undo still tried for CleanupTimeout once
// the undos' HardTimeout is spent.
func (t Timing) LongestRun() time.Duration {
	t = t.withDefaults()
	return 2*t.HardTimeout + time.Duration(undoCount())*t.CleanupTimeout
}

// withDefaults fills the defaults that depend on nothing but Timing itself.
func (t Timing) withDefaults() Timing {
	if t.ProbeTimeout == 0 {
		t.ProbeTimeout = DefaultTimeout
	}
	if t.CleanupTimeout == 0 {
		t.CleanupTimeout = DefaultCleanupTimeout
	}
	if t.ProcessTimeout == 0 {
		t.ProcessTimeout = min(DefaultProcessTimeout, t.ProbeTimeout)
	}
	if t.GraceTime == 0 {
		t.GraceTime = DefaultGraceTime
	}
	if t.HardTimeout == 0 {
		// Under the grace time, so that a grace time set for an older deepprobe (1m) still
		// runs: the container must outlive the forward stages.
		t.HardTimeout = max(min(DefaultHardTimeout, t.GraceTime-t.ProbeTimeout), t.ProbeTimeout)
	}
	if t.StallTimeout == 0 {
		// Equal to the hard timeout when that is shorter: the hard limit comes first.
		t.StallTimeout = min(DefaultStallTimeout, t.HardTimeout)
	}
	if t.MinInterval == 0 {
		t.MinInterval = DefaultMinInterval
	}
	return t
}

// Resolve fills every default and checks every rule, naming the setting at fault.
func (t Timing) Resolve() (Timing, error) {
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{SettingProbeTimeout, t.ProbeTimeout}, {SettingCleanupTimeout, t.CleanupTimeout}, {SettingProcessTimeout, t.ProcessTimeout},
		{SettingGraceTime, t.GraceTime}, {SettingMinInterval, t.MinInterval}, {SettingInterval, t.Interval},
		{SettingMaxAge, t.MaxAge}, {SettingFreshness, t.Freshness}, {SettingOrphanAge, t.OrphanAge},
		{SettingMaxWait, t.MaxWait}, {SettingMaxTimeInError, t.MaxTimeInError},
		{SettingStallTimeout, t.StallTimeout}, {SettingHardTimeout, t.HardTimeout},
	} {
		if f.d < 0 {
			return t, settingErr(f.name, "must not be negative, got %s", f.d)
		}
	}
	t = t.withDefaults()
	longest := t.LongestRun()
	switch {
	case t.ProcessTimeout > t.ProbeTimeout:
		return t, settingErr(SettingProcessTimeout, "(%s) must not exceed --%s (%s), which bounds every forward stage", t.ProcessTimeout, SettingProbeTimeout, t.ProbeTimeout)
	case t.HardTimeout < t.ProbeTimeout || t.HardTimeout < t.CleanupTimeout:
		return t, settingErr(SettingHardTimeout, "(%s) must be at least --%s (%s) and --%s (%s): it is the limit past the expected times", t.HardTimeout, SettingProbeTimeout, t.ProbeTimeout, SettingCleanupTimeout, t.CleanupTimeout)
	case t.StallTimeout > t.HardTimeout:
		return t, settingErr(SettingStallTimeout, "(%s) must not exceed --%s (%s), or a wedge would never be told from a slow worker", t.StallTimeout, SettingHardTimeout, t.HardTimeout)
	case t.StallTimeout < 2*WatchInterval && t.StallTimeout < t.HardTimeout:
		return t, settingErr(SettingStallTimeout, "(%s) must be at least %s: progress is looked for once a second", t.StallTimeout, 2*WatchInterval)
	case t.GraceTime <= t.HardTimeout:
		return t, settingErr(SettingGraceTime, "(%s) must exceed --%s (%s), or Garden could reap the container under a slow workload", t.GraceTime, SettingHardTimeout, t.HardTimeout)
	case t.MaxAge > 0 && t.Interval == 0:
		return t, settingErr(SettingMaxAge, "only applies with --%s", SettingInterval)
	case t.MaxAge > 0 && t.MaxAge <= t.Interval:
		return t, settingErr(SettingMaxAge, "(%s) must exceed --%s (%s), or every result would be stale before the next", t.MaxAge, SettingInterval, t.Interval)
	case t.OrphanAge > 0 && t.OrphanAge < longest:
		return t, settingErr(SettingOrphanAge, "(%s) must be at least the longest workload (2 x --%s + a --%s per destroy = %s)", t.OrphanAge, SettingHardTimeout, SettingCleanupTimeout, longest)
	case t.Freshness > 0 && t.Interval == 0 && t.Freshness < t.MinInterval:
		return t, settingErr(SettingFreshness, "(%s) must be at least --%s (%s)", t.Freshness, SettingMinInterval, t.MinInterval)
	}
	expected := t.ExpectedRun()
	if t.MaxAge == 0 && t.Interval > 0 {
		t.MaxAge = 3*t.Interval + expected // three missed ticks, plus a run in progress
	}
	if t.Freshness == 0 {
		t.Freshness = 3 * (t.MinInterval + expected)
		if t.Interval > 0 {
			t.Freshness = t.MaxAge
		}
	}
	if t.OrphanAge == 0 {
		t.OrphanAge = max(t.GraceTime+t.ProbeTimeout, longest)
	}
	if t.MaxWait == 0 {
		t.MaxWait = expected + time.Second
	}
	return t, nil
}
