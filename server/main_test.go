package server

import (
	"testing"

	"go.uber.org/goleak"
)

// No goroutine of the server (its connection limiter's accept loop and timers included)
// outlives a test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
