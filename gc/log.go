package gc

import (
	"context"
	"log/slog"
	"sort"
	"time"
)

// maxNamed bounds the handles or instances one log line names, and the instances a sweep logs
// a line for.
const maxNamed = 5

// log writes a line per reaped or failed resource, one per kind of trouble, and the sweep's
// totals.
func (j *Janitor) log(ctx context.Context, r Report, stuck []string, took time.Duration) {
	var foreign []string       // marked by the filter but not ours: one line a sweep, not one each
	others := map[string]int{} // another instance's leftovers, by instance
	for _, it := range r.Items {
		switch {
		case it.Action == ActionReaped || it.Action == ActionWouldReap:
			j.cfg.Logger.Info("janitor: "+string(it.Action), "kind", it.Kind, "handle", it.Handle, "instance", it.Instance, "age", it.Age.Round(time.Second))
		case it.Action == ActionFailed:
			j.cfg.Logger.Warn("janitor: reap failed", "kind", it.Kind, "handle", it.Handle, "error", it.Err)
		case it.Reason == SkipForeignHandle || it.Reason == SkipNotMarked:
			foreign = append(foreign, it.Kind+" "+it.Handle+" ("+it.Reason+")")
		}
		if it.OtherInstance {
			others[it.Instance]++
		}
	}
	if len(foreign) > 0 {
		j.cfg.Logger.Warn("janitor: the marker filter listed resources that are not health-check leftovers; left alone",
			"count", len(foreign), "first", foreign[:min(len(foreign), maxNamed)])
	}
	j.logOtherInstances(others)
	if len(stuck) > 0 {
		j.cfg.Logger.Warn("janitor: Garden has been destroying these containers since the last sweep at least: their destroy is stuck",
			"count", len(stuck), "first", stuck[:min(len(stuck), maxNamed)])
	}
	for _, err := range r.Errors {
		j.cfg.Logger.Warn("janitor: sweep incomplete", "error", err)
	}
	level := slog.LevelDebug
	if r.Total(ActionReaped)+r.Total(ActionFailed) > 0 || len(r.Errors) > 0 {
		level = slog.LevelInfo
	}
	j.cfg.Logger.Log(ctx, level, "janitor: sweep done", "found", len(r.Items), "reaped", r.Total(ActionReaped),
		"would_reap", r.Total(ActionWouldReap), "skipped", r.Total(ActionSkipped), "failed", r.Total(ActionFailed),
		"took", took.Round(time.Millisecond))
}

// logOtherInstances warns once per instance (for at most maxNamed of them) that another
// deepprobe's leftovers are on this worker.
func (j *Janitor) logOtherInstances(others map[string]int) {
	names := make([]string, 0, len(others))
	for name := range others {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names[:min(len(names), maxNamed)] {
		j.cfg.Logger.Warn("janitor: leftovers of another deepprobe instance on this worker (two deepprobes on one worker is "+
			"usually a mistake, or this deepprobe ran before under another --instance): they are reaped only when much older than the orphan age",
			"instance", name, "own_instance", j.cfg.Instance, "count", others[name], "reaped_after", OtherInstanceAgeFactor*j.cfg.OrphanAge)
	}
	if len(names) > maxNamed {
		j.cfg.Logger.Warn("janitor: leftovers of more deepprobe instances on this worker", "instances", len(names)-maxNamed)
	}
}
