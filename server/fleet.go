package server

import (
	"context"
	"fmt"

	"github.com/deepprobe/deepprobe/fleet"
)

// ReasonFleetWide is the reason of a deep failure answered 200 warn because too much of the
// fleet fails at once (the fleet budget, package fleet).
const ReasonFleetWide = "fleet_wide"

// FleetBudget says whether a deep failure is fleet-wide (fleet.Budget); it must return by
// ctx's deadline.
type FleetBudget interface {
	Hold(ctx context.Context) (fleet.Hold, bool)
}

// FleetHold is the fleet's state that held a deep failure, in a response body.
type FleetHold struct {
	Failing int     `json:"failing"`
	Total   int     `json:"total"`
	Share   float64 `json:"share"`
	Budget  float64 `json:"budget"`
}

// holdFleetWide turns a deep failure into 200 warn, reason fleet_wide, when the fleet budget
// says too much of the fleet fails with it. Only the answer changes: its stages, the failed
// stage, and everything else (history, status page, metrics, logs) keep the failure.
func (s *Server) holdFleetWide(ctx context.Context, h *Health) {
	if s.cfg.Fleet == nil || h.Check != "deep" || h.Status != "fail" {
		return
	}
	hold, held := s.cfg.Fleet.Hold(ctx)
	if !held {
		return
	}
	own := h.Error
	h.Status, h.Reason = "warn", ReasonFleetWide
	h.Error = fmt.Sprintf("fleet_wide: %s; this worker's own failure: %s", hold, own)
	h.Fleet = &FleetHold{Failing: hold.Count.Failing, Total: hold.Count.Total, Share: hold.Count.Share(), Budget: hold.Budget}
}
