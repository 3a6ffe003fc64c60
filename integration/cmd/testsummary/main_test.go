package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestSummarize reads a recorded `go test -json` stream (testdata/stream.json: a package with a
// skipped test, a skipped subtest, a passing and a failing test) and prints what plain go test
// would, then the skips with their reasons and the counts.
func TestSummarize(t *testing.T) {
	f, err := os.Open("testdata/stream.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out strings.Builder
	s := summarize(f, &out)
	want := "" +
		"    a_test.go:6: boom\n--- FAIL: TestFail (0.00s)\n" +
		"FAIL\nFAIL\tskipdemo\t0.004s\n" +
		"\nSkipped tests (2), and why:\n" +
		"  skipdemo TestSkip: a_test.go:3: SKIPPED LOUDLY: no chromium\n" +
		"  skipdemo TestSub/x: a_test.go:4: against real servers / second line\n" +
		"\ntests: 2 passed, 1 failed, 2 skipped\n"
	if got := out.String(); !strings.HasSuffix(got, want) || strings.Contains(got, "=== RUN") || strings.Contains(got, "before") {
		t.Errorf("output:\n%s\nwant it to end with:\n%s", got, want)
	}
	if s.passed != 2 || s.failed != 1 || len(s.skipped) != 2 {
		t.Errorf("summary %+v", s)
	}
}

// TestExitCode: the test command's own status wins; a passing command with a failed test
// still fails.
func TestExitCode(t *testing.T) {
	failing := exec.Command("sh", "-c", "exit 3").Run()
	for _, tt := range []struct {
		err  error
		s    summary
		want int
	}{
		{nil, summary{passed: 3}, 0},
		{nil, summary{failed: 1}, 1},
		{failing, summary{}, 3},
		{exec.ErrNotFound, summary{}, 1},
	} {
		if got := exitCode(tt.err, tt.s); got != tt.want {
			t.Errorf("exitCode(%v, %+v) = %d, want %d", tt.err, tt.s, got, tt.want)
		}
	}
}
