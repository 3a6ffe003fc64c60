package probes_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/deepprobe/deepprobe/probes"
	"github.com/deepprobe/deepprobe/probes/garden"
)

// TestDNSFailureHasItsOwnReason: a host name that does not resolve (".invalid" never does,
// RFC 6761) is dns_error, not connection_lost: usually a misconfigured URL.
func TestDNSFailureHasItsOwnReason(t *testing.T) {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c, err := garden.NewClient("http://deepprobe-no-such-host.invalid:7777", &http.Client{Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Ping(context.Background())
	if got := probes.Classify(err); got != probes.ReasonDNSError {
		t.Fatalf("Classify(%v) = %q, want %q", err, got, probes.ReasonDNSError)
	}
	if !slices.Contains(probes.Reasons, probes.ReasonDNSError) {
		t.Fatal("dns_error is not in Reasons: its metric series would not exist from start-up")
	}
}
