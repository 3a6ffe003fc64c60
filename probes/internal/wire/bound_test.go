package wire

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"
)

func TestBound(t *testing.T) {
	long := strings.Repeat("é", 3000) // 2 bytes a rune: a cut must not split one
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", MaxText, "short"},
		{"bad \xff utf-8", MaxText, "bad ? utf-8"},
		{strings.Repeat("a", 100), 64, strings.Repeat("a", 30) + "...[cut 70 bytes]"},
	}
	for _, tt := range tests {
		if got := Bound(tt.in, tt.n); got != tt.want {
			t.Errorf("Bound(%.20q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
	for _, n := range []int{MaxName, MaxText, MaxError} {
		got := Bound(long, n)
		if len(got) > n || !utf8.ValidString(got) || !strings.Contains(got, CutMarker) {
			t.Errorf("Bound(6000 bytes, %d): %d bytes, valid %v: %q", n, len(got), utf8.ValidString(got), got[len(got)-40:])
		}
		if again := Bound(got, n); again != got {
			t.Errorf("Bound is not idempotent at %d", n)
		}
	}
}

// TestBoundError: a transport error quoting megabytes of a malformed answer is cut, and still
// matches what classifies it.
func TestBoundError(t *testing.T) {
	small := &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}
	if BoundError(small) != error(small) {
		t.Fatal("a short error must be kept as it is")
	}
	big := errors.Join(errors.New(strings.Repeat("z", 1<<20)), context.DeadlineExceeded, syscall.ECONNRESET)
	got := BoundError(big)
	if len(got.Error()) > MaxError || !strings.Contains(got.Error(), CutMarker) {
		t.Fatalf("cut error is %d bytes", len(got.Error()))
	}
	if !errors.Is(got, context.DeadlineExceeded) || !errors.Is(got, syscall.ECONNRESET) || errors.Is(got, context.Canceled) {
		t.Fatalf("the cut error lost or gained a cause: %v", got.(*cutError).causes)
	}
}
