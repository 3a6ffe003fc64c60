package server

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/deepprobe/deepprobe/probes"
)

// StageBody is one stage (or shallow check) as a response body shows it (probes.StageResult).
type StageBody struct {
	Name       string  `json:"name"`
	Component  string  `json:"component,omitempty"`
	Status     string  `json:"status"`
	DurationMS float64 `json:"duration_ms"`
	Error      string  `json:"error,omitempty"`
	// Reason classifies a failure (probes.Reasons).
	Reason string `json:"reason,omitempty"`
}

// ComponentHealth is Concourse's own health-check shape for Garden or Baggageclaim, in a
// response body.
type ComponentHealth struct {
	Healthy       bool   `json:"healthy"`
	ResponseError string `json:"response_error"`
}

// Health is the JSON body of /healthz, /readyz and /livez.
type Health struct {
	// Status is "pass", "warn" (a failure below the failure threshold) or "fail".
	Status string `json:"status"`
	// Check is "deep" or "shallow".
	Check string `json:"check"`
	// Error says why the status is not "pass": the failing stage and its error, a timeout,
	// staleness.
	Error       string `json:"error,omitempty"`
	FailedStage string `json:"failed_stage,omitempty"`
	// Reason is the failed stage's reason (probes.Reasons).
	Reason string `json:"reason,omitempty"`
	// Saturated is true when the worker is at (or so near that the container stages were held
	// back) its container limit: full, not broken.
	Saturated bool `json:"saturated,omitempty"`
	// Busy is set when a stage of the workload in flight is slow while the worker shows
	// progress: busy, not broken.
	Busy *Busy `json:"busy,omitempty"`
	// Interruptions counts workloads in a row whose own volume or container vanished under
	// them (Concourse's garbage collector).
	Interruptions int `json:"interruptions,omitempty"`
	// FailingSince is when the current failing streak began.
	FailingSince        *time.Time      `json:"failing_since,omitempty"`
	CheckedAt           *time.Time      `json:"checked_at,omitempty"`
	DurationMS          float64         `json:"duration_ms"`
	Stale               bool            `json:"stale,omitempty"`
	ConsecutiveFailures int             `json:"consecutive_failures"`
	Handle              string          `json:"handle,omitempty"`
	Stages              []StageBody     `json:"stages"`
	Garden              ComponentHealth `json:"garden"`
	Baggageclaim        ComponentHealth `json:"baggageclaim"`
	// InFlight is the stage the workload was in when this caller's wait ran out (the answer is
	// then the latest fresh result, or a failure when there is none).
	InFlight *InFlight `json:"in_flight,omitempty"`
	// Fleet is set when this failure is answered 200 warn (reason fleet_wide) because the
	// fleet's failing share is above its budget.
	Fleet *FleetHold `json:"fleet,omitempty"`
	// AgeMS and Cached change with every answer from the same outcome; they come last so
	// that the rest can be encoded once per outcome (see Server.encodeDeep).
	AgeMS  float64 `json:"age_ms"`
	Cached bool    `json:"cached"`
}

// Busy is what a slow stage of the workload in flight saw of the worker.
type Busy struct {
	Stage     string  `json:"stage"`
	WaitingMS float64 `json:"waiting_ms"`
	// Created and Destroyed count others' containers (or volumes) that appeared and
	// disappeared in the last WindowMS.
	Created   int     `json:"created_by_others"`
	Destroyed int     `json:"destroyed_by_others"`
	Of        string  `json:"of"`
	WindowMS  float64 `json:"window_ms"`
	// LastProgressAgoMS is how long ago a list last showed progress.
	LastProgressAgoMS float64 `json:"last_progress_ago_ms"`
}

func busyBody(b *probes.Busy) *Busy {
	if b == nil {
		return nil
	}
	of := "containers"
	if b.Component == probes.Baggageclaim {
		of = "volumes"
	}
	return &Busy{Stage: b.Stage, WaitingMS: ms(b.Waiting), Created: b.Created, Destroyed: b.Destroyed, Of: of,
		WindowMS: ms(b.Window), LastProgressAgoMS: ms(time.Since(b.LastProgress))}
}

// InFlight names the stage of a workload still running.
type InFlight struct {
	Stage     string  `json:"stage"`
	ElapsedMS float64 `json:"elapsed_ms"`
	LimitMS   float64 `json:"limit_ms,omitempty"`
}

func inFlight(p *probes.Progress) *InFlight {
	if p == nil {
		return nil
	}
	return &InFlight{Stage: p.Stage, ElapsedMS: ms(p.Elapsed), LimitMS: ms(p.Limit)}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func stageBodies(rs []probes.StageResult) []StageBody {
	out := make([]StageBody, len(rs))
	for i, s := range rs {
		out[i] = StageBody{Name: s.Name, Component: string(s.Component), Status: string(s.Status), DurationMS: ms(s.Duration), Reason: string(s.Reason)}
		if s.Err != nil {
			out[i].Error = s.Err.Error()
		}
	}
	return out
}

// deepHealth describes an outcome of the deep probe.
func deepHealth(o probes.Outcome) Health {
	r := o.Result
	h := Health{
		Status:              o.Verdict(),
		Check:               "deep",
		DurationMS:          ms(r.Duration),
		AgeMS:               ms(o.Age),
		Cached:              o.Cached,
		Stale:               o.Stale,
		ConsecutiveFailures: o.ConsecutiveFailures,
		Saturated:           o.Saturated,
		Handle:              r.Handle,
		Stages:              stageBodies(r.Stages),
		InFlight:            inFlight(o.InFlight),
		Busy:                busyBody(o.Busy),
		Interruptions:       o.Interruptions,
	}
	if !o.CompletedAt.IsZero() { // zero when read from the workload in flight
		checked := o.CompletedAt.UTC()
		h.CheckedAt = &checked
	}
	if !o.FailingSince.IsZero() {
		since := o.FailingSince.UTC()
		h.FailingSince = &since
	}
	h.Garden.Healthy, h.Garden.ResponseError = r.ComponentHealth(probes.Garden)
	h.Baggageclaim.Healthy, h.Baggageclaim.ResponseError = r.ComponentHealth(probes.Baggageclaim)
	if f, failed := r.FirstFailure(); failed {
		h.FailedStage = f.Name
	}
	reason, why := o.Why()
	h.Reason, h.Error = string(reason), why
	if o.Stale {
		h.Error = "stale: the last result is older than --max-age"
		if h.FailedStage == "" {
			h.Garden = ComponentHealth{ResponseError: h.Error}
			h.Baggageclaim = ComponentHealth{ResponseError: h.Error}
		}
	}
	return h
}

// shallowHealth describes the shallow check.
func shallowHealth(rs []probes.StageResult, took time.Duration) Health {
	h := Health{Status: "pass", Check: "shallow", DurationMS: ms(took), Stages: stageBodies(rs)}
	for _, s := range rs {
		c := ComponentHealth{Healthy: s.Status == probes.StatusPass}
		if s.Err != nil {
			c.ResponseError = s.Err.Error()
			if h.Status == "pass" {
				h.Status, h.FailedStage, h.Error = "fail", s.Name, fmt.Sprintf("%s failed: %v", s.Name, s.Err)
				h.Reason = string(s.Reason)
				if h.Reason == "" { // the same bounded set as the deep check's, whoever ran the check
					h.Reason = string(probes.Classify(s.Err))
				}
			}
		}
		switch s.Name {
		case probes.CheckGardenPing:
			h.Garden = c
		case probes.CheckBaggageclaimList:
			h.Baggageclaim = c
		}
	}
	return h
}

// Text renders h as Kubernetes' ?verbose text: a line per stage, then the verdict of the check
// called name ("healthz"). deepprobe check prints the same. Every string in it is escaped
// (Escape), so that a message from upstream cannot forge a line or drive a terminal.
func (h Health) Text(name string) string {
	var b strings.Builder
	name = Escape(name)
	for _, s := range h.Stages {
		switch s.Status {
		case string(probes.StatusPass):
			fmt.Fprintf(&b, "[+]%s ok %s\n", Escape(s.Name), fmtMS(s.DurationMS))
		case string(probes.StatusSkip):
			fmt.Fprintf(&b, "[ ]%s skipped: %s\n", Escape(s.Name), Escape(s.Error))
		default:
			fmt.Fprintf(&b, "[-]%s failed (%s): %s\n", Escape(s.Name), Escape(s.Reason), Escape(s.Error))
		}
	}
	if h.Stale {
		fmt.Fprintf(&b, "[-]freshness failed: %s\n", Escape(h.Error))
	}
	switch {
	case h.Busy != nil:
		fmt.Fprintf(&b, "[~]%s waiting %s: busy, %d %s created and %d destroyed by others in the last %s\n", Escape(h.Busy.Stage),
			fmtMS(h.Busy.WaitingMS), h.Busy.Created, h.Busy.Of, h.Busy.Destroyed, fmtMS(h.Busy.WindowMS))
	case h.InFlight != nil:
		fmt.Fprintf(&b, "[~]%s still running after %s (a newer workload)\n", Escape(h.InFlight.Stage), fmtMS(h.InFlight.ElapsedMS))
	}
	if len(h.Stages) == 0 && h.Error != "" {
		fmt.Fprintf(&b, "[-]%s failed: %s\n", Escape(h.Check), Escape(h.Error))
	}
	switch {
	case h.Status == "pass":
		fmt.Fprintf(&b, "%s check passed\n", name)
	case h.Status == "warn" && (h.Saturated || h.Busy != nil || h.Interruptions > 0):
		fmt.Fprintf(&b, "%s check passed with warnings: %s\n", name, Escape(h.Error))
	case h.Status == "warn":
		fmt.Fprintf(&b, "%s check passed with warnings: %s (%d consecutive failures)\n", name, Escape(h.Error), h.ConsecutiveFailures)
	default:
		fmt.Fprintf(&b, "%s check failed\n", name)
	}
	return b.String()
}

// Escape returns s with every rune that is not printable written as a Go escape: newlines,
// carriage returns, tabs, ESC and the other C0 and C1 controls, DEL, Unicode line and paragraph
// separators, bidirectional overrides and other format characters ("\n", "\x1b", "\u2028").
// Invalid UTF-8 becomes "\ufffd". Printable text, a backslash included, is left as it is, so
// that an ordinary message reads the same; only what could forge a line or drive a terminal
// changes. Every text rendering of upstream words goes through it.
func Escape(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r != utf8.RuneError && unicode.IsPrint(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRuneToASCII(r) // '\n', '\x1b', '\u2028'
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

func fmtMS(v float64) string {
	return (time.Duration(v * float64(time.Millisecond))).Round(10 * time.Microsecond).String()
}
