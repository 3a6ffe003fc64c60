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

// Defaults of Timing.
const (
	DefaultTimeout        = 5 * time.Second
	DefaultCleanupTimeout = 2 * time.Second
	DefaultProcessTimeout = 3 * time.Second
	DefaultGraceTime      = time.Minute
	DefaultMinInterval    = 5 * time.Second
)

// Timing holds every time setting of the deep probe; this is the one place where their
// defaults are derived and their cross-field rules checked. Zero values mean the defaults.
type Timing struct {
	// ProbeTimeout bounds the workload's forward stages together (default 5s).
	ProbeTimeout time.Duration
	// CleanupTimeout bounds each undo stage (destroy) on its own (default 2s).
	CleanupTimeout time.Duration
	// ProcessTimeout bounds process.run inside ProbeTimeout (default 3s, at most ProbeTimeout).
	ProcessTimeout time.Duration
	// GraceTime is the container's grace time (default 1m); it must exceed ProbeTimeout, or
	// Garden could reap the container mid-workload.
	GraceTime time.Duration
	// MinInterval is how long a completed result is reused before a request may start a new
	// workload (default 5s).
	MinInterval time.Duration
	// Interval, when set, runs the workload in the background every Interval.
	Interval time.Duration
	// MaxAge (background mode only) is how old the latest result may be before it fails as
	// stale (default 3 x Interval + LongestRun).
	MaxAge time.Duration
	// Freshness is how old the latest completed result may be and still be served to a caller
	// whose deadline comes while a workload is in flight (default 3 x (MinInterval +
	// LongestRun): a few probe periods of the fastest caller).
	Freshness time.Duration
	// OrphanAge is how old a health-check leftover must be before the janitor reaps it
	// (default GraceTime + ProbeTimeout; at least LongestRun).
	OrphanAge time.Duration
	// MaxWait is how long a request without ?timeout waits (default LongestRun + 1s).
	MaxWait time.Duration
	// MaxTimeInError, when set, keeps the verdict healthy until the worker has been failing
	// for this long (besides the failure threshold).
	MaxTimeInError time.Duration
}

// LongestRun is the most one workload can take: the forward stages plus both destroys.
func (t Timing) LongestRun() time.Duration {
	t = t.withDefaults()
	return t.ProbeTimeout + 2*t.CleanupTimeout
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
	case t.GraceTime <= t.ProbeTimeout:
		return t, settingErr(SettingGraceTime, "(%s) must exceed --%s (%s), or Garden could reap the container mid-probe", t.GraceTime, SettingProbeTimeout, t.ProbeTimeout)
	case t.MaxAge > 0 && t.Interval == 0:
		return t, settingErr(SettingMaxAge, "only applies with --%s", SettingInterval)
	case t.MaxAge > 0 && t.MaxAge <= t.Interval:
		return t, settingErr(SettingMaxAge, "(%s) must exceed --%s (%s), or every result would be stale before the next", t.MaxAge, SettingInterval, t.Interval)
	case t.OrphanAge > 0 && t.OrphanAge < longest:
		return t, settingErr(SettingOrphanAge, "(%s) must be at least a whole workload (--%s + 2 x --%s = %s)", t.OrphanAge, SettingProbeTimeout, SettingCleanupTimeout, longest)
	case t.Freshness > 0 && t.Interval == 0 && t.Freshness < t.MinInterval:
		return t, settingErr(SettingFreshness, "(%s) must be at least --%s (%s)", t.Freshness, SettingMinInterval, t.MinInterval)
	}
	if t.MaxAge == 0 && t.Interval > 0 {
		t.MaxAge = 3*t.Interval + longest // three missed ticks, plus a run in progress
	}
	if t.Freshness == 0 {
		t.Freshness = 3 * (t.MinInterval + longest)
		if t.Interval > 0 {
			t.Freshness = t.MaxAge
		}
	}
	if t.OrphanAge == 0 {
		t.OrphanAge = t.GraceTime + t.ProbeTimeout
	}
	if t.MaxWait == 0 {
		t.MaxWait = longest + time.Second
	}
	return t, nil
}
