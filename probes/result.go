package probes

import (
	"errors"
	"fmt"
	"time"
)

// Status is the outcome of a stage.
type Status string

// Stage outcomes.
const (
	StatusPass Status = "pass"
	StatusFail Status = "fail"
	StatusSkip Status = "skip"
)

// StageResult is what one stage did.
type StageResult struct {
	Name      string
	Component Component
	Status    Status
	Duration  time.Duration
	// Err is why the stage failed, or for a skipped stage why it did not run.
	Err error
	// Reason classifies a failure (see Classify); empty unless Status is StatusFail.
	Reason Reason
	// HeldBack is true for a stage skipped to leave the worker's last container slots to
	// builds (see WorkloadConfig.ContainerReserve).
	HeldBack bool
}

// Result is one run of the workload.
type Result struct {
	// Handle is the handle of the volume and container of this run.
	Handle    string
	StartedAt time.Time
	Duration  time.Duration
	Stages    []StageResult
	// Interrupted says how the run's own volume or container vanished under it (Concourse's
	// garbage collector): its failure is then not the worker's. Empty otherwise.
	Interrupted string
	// HeldBack says why the container stages were held back (the worker is nearly full):
	// empty otherwise.
	HeldBack string
}

// markInterrupted gives the first failure the reason ReasonInterrupted, keeping its error.
func (r *Result) markInterrupted() {
	for i, s := range r.Stages {
		if s.Status == StatusFail {
			r.Stages[i].Reason = ReasonInterrupted
			r.Stages[i].Err = fmt.Errorf("interrupted (%s): %w", r.Interrupted, s.Err)
			return
		}
	}
}

// Passed reports whether no stage failed.
func (r Result) Passed() bool {
	_, failed := r.FirstFailure()
	return !failed
}

// FirstFailure returns the first stage that failed.
func (r Result) FirstFailure() (StageResult, bool) {
	for _, s := range r.Stages {
		if s.Status == StatusFail {
			return s, true
		}
	}
	return StageResult{}, false
}

// Saturated reports whether the worker is full, not broken: its container stages were held
// back for builds, or the first failure says the worker is at its container limit and not
// because of deepprobe's own leftovers.
func (r Result) Saturated() bool {
	if r.HeldBack != "" {
		return r.Passed() // a destroy that failed after it is a failure still
	}
	f, failed := r.FirstFailure()
	var own *OwnLeftoversError
	return failed && f.Reason == ReasonMaxContainers && !errors.As(f.Err, &own)
}

// ComponentHealth sums up the stages that exercise c: healthy only if at least one ran and
// none failed; the error is the first failure's, or why none ran.
func (r Result) ComponentHealth(c Component) (healthy bool, reason string) {
	ran := false
	for _, s := range r.Stages {
		if s.Component != c {
			continue
		}
		switch s.Status {
		case StatusFail:
			return false, s.Name + ": " + errString(s.Err)
		case StatusPass:
			ran = true
		}
	}
	if !ran {
		if f, ok := r.FirstFailure(); ok {
			return false, "not checked: " + f.Name + " failed"
		}
		return false, "not checked"
	}
	return true, ""
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
