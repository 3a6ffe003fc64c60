package probes

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/deepprobe/deepprobe/probes/baggageclaim"
	"github.com/deepprobe/deepprobe/probes/garden"
)

// Reason says in one word why a stage failed, from a small fixed set, so that an operator and
// an alert can tell a wedged runtime from a full disk. It is a metrics label.
type Reason string

// Reasons a stage fails.
const (
	// ReasonTimeout: the stage ran out of its time limit (a hung or very slow daemon).
	ReasonTimeout Reason = "timeout"
	// ReasonRefused: nothing listens at the daemon's address.
	ReasonRefused Reason = "refused"
	// ReasonConnectionLost: the connection broke before an answer (reset, closed).
	ReasonConnectionLost Reason = "connection_lost"
	// ReasonDNSError: the daemon's host name could not be resolved ("no such host"): usually
	// a misconfigured URL.
	ReasonDNSError Reason = "dns_error"
	// ReasonUpstreamError: the daemon answered with an error status.
	ReasonUpstreamError Reason = "upstream_error"
	// ReasonBadAnswer: an answer deepprobe cannot accept (a redirect, an undecodable body,
	// another handle, a volume path that cannot be a volume).
	ReasonBadAnswer Reason = "bad_answer"
	// ReasonNotFound: the resource vanished under the workload.
	ReasonNotFound Reason = "not_found"
	// ReasonMaxContainers: the worker is at its container limit: full, not broken.
	ReasonMaxContainers Reason = "max_containers"
	// ReasonDiskFull: the daemon said "no space left on device".
	ReasonDiskFull Reason = "disk_full"
	// ReasonExecFailed: the process could not be started in the container.
	ReasonExecFailed Reason = "exec_failed"
	// ReasonNonzeroExit: the process ran and exited with a status other than 0.
	ReasonNonzeroExit Reason = "nonzero_exit"
	// ReasonStreamCut: the process's stream ended before its exit status.
	ReasonStreamCut Reason = "stream_cut"
	// ReasonCancelled: deepprobe was shutting down.
	ReasonCancelled Reason = "cancelled"
	// ReasonStalled: the stage was slow and the worker showed no progress (nobody else's
	// container, or volume, was created or destroyed) for the stall timeout: a wedge.
	ReasonStalled Reason = "stalled"
	// ReasonInterrupted: the run's own volume or container vanished under it (Concourse's
	// garbage collector destroys every handle the web node does not know). Not a failure of
	// the worker: the workload is re-run once.
	ReasonInterrupted Reason = "interrupted"
	// ReasonStreamLimit: Baggageclaim refused the stream-in for exceeding its volume streaming
	// limit (403): a limit set on the worker, not a broken disk.
	ReasonStreamLimit Reason = "stream_limit"
	// ReasonDestroyStuck: Garden kept saying the container was being destroyed, and it was
	// still there when the destroy's time ran out.
	ReasonDestroyStuck Reason = "destroy_stuck"
)

// Reasons of a verdict that are not a stage's failure.
const (
	// ReasonBusy: a stage of ours is slow while the worker shows progress (others' containers
	// or volumes are created and destroyed): busy, not broken (200 warn).
	ReasonBusy Reason = "busy"
	// ReasonSaturated: the worker is full, not broken: the container stages were held back to
	// leave its last container slots to builds (200 warn).
	ReasonSaturated Reason = "saturated"
)

// Reasons lists every Reason, for metrics that must exist before the first failure.
var Reasons = []Reason{ReasonTimeout, ReasonRefused, ReasonConnectionLost, ReasonUpstreamError, ReasonBadAnswer,
	ReasonNotFound, ReasonMaxContainers, ReasonDiskFull, ReasonExecFailed, ReasonNonzeroExit, ReasonStreamCut, ReasonCancelled,
	ReasonDNSError, ReasonStalled, ReasonInterrupted, ReasonDestroyStuck, ReasonStreamLimit}

// Classify returns the Reason for a stage's error; nil has none.
func Classify(err error) Reason {
	var exit *garden.ExitError
	var opErr *net.OpError
	var dnsErr *net.DNSError
	var upstream *garden.Error // the same type as *baggageclaim.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, errDestroyStuck):
		return ReasonDestroyStuck
	case errors.Is(err, errStalled):
		return ReasonStalled
	case errors.Is(err, context.DeadlineExceeded):
		return ReasonTimeout
	case errors.Is(err, context.Canceled):
		return ReasonCancelled
	case errors.Is(err, garden.ErrMaxContainers):
		return ReasonMaxContainers
	case strings.Contains(err.Error(), "no space left on device"):
		return ReasonDiskFull
	case errors.Is(err, garden.ErrExecFailed):
		return ReasonExecFailed
	case errors.As(err, &exit):
		return ReasonNonzeroExit
	case errors.Is(err, garden.ErrStreamCut):
		return ReasonStreamCut
	case errors.Is(err, baggageclaim.ErrStreamLimit):
		return ReasonStreamLimit
	case errors.Is(err, garden.ErrNotFound) || errors.Is(err, baggageclaim.ErrNotFound):
		return ReasonNotFound
	case errors.Is(err, syscall.ECONNREFUSED):
		return ReasonRefused
	case errors.As(err, &dnsErr):
		return ReasonDNSError
	case errors.As(err, &upstream) && upstream.StatusCode >= 300 && upstream.StatusCode < 400:
		return ReasonBadAnswer
	case errors.As(err, &upstream):
		return ReasonUpstreamError
	case errors.As(err, &opErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET):
		return ReasonConnectionLost
	default:
		return ReasonBadAnswer
	}
}
