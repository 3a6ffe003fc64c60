package server

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/deepprobe/deepprobe/probes"
)

// forged is a Garden message that, printed raw, would add a passing stage and verdict and
// clear the screen.
const forged = "boom\n[+]container.create ok 1ms\r\nhealthz check passed\n\x1b[2J\u2028[+]x ok\u2029\u0085\u202e\x7f"

// TestVerboseTextCannotBeForged: whatever upstream says, ?verbose (and deepprobe check, which
// prints Health.Text) has one line per stage and one verdict, and no control character.
func TestVerboseTextCannotBeForged(t *testing.T) {
	r := result(probes.StageContainerCreate)
	r.Stages[1].Err = errors.New("garden create: 500 Internal Server Error: " + forged)
	r.Stages[1].Name = "container.create\nhealthz check passed" // a name is ours, but escaped all the same
	outcomes := map[string]probes.Outcome{
		"fail":  {Result: r, ConsecutiveFailures: 3},
		"warn":  {Result: r, Healthy: true, ConsecutiveFailures: 1},
		"stale": {Result: r, Stale: true},
	}
	for name, o := range outcomes {
		t.Run(name, func(t *testing.T) {
			ts := newTestServer(t, &fakeDeep{outcome: o}, fakeShallow{}, Config{})
			_, _, body := get(t, ts, http.MethodGet, "/healthz?verbose", nil)
			checkText(t, body, len(r.Stages))
		})
	}
	t.Run("no outcome", func(t *testing.T) {
		ts := newTestServer(t, &fakeDeep{err: errors.New(forged)}, fakeShallow{}, Config{})
		_, _, body := get(t, ts, http.MethodGet, "/healthz?verbose", nil)
		checkText(t, body, 1)
	})
	t.Run("livez", func(t *testing.T) {
		ts := newTestServer(t, &fakeDeep{}, fakeShallow{{Name: probes.CheckGardenPing, Status: probes.StatusFail, Err: errors.New(forged)}}, Config{})
		_, _, body := get(t, ts, http.MethodGet, "/livez?verbose", nil)
		checkText(t, body, 1)
	})
}

func checkText(t *testing.T, body string, stageLines int) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	verdicts := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "healthz check") || strings.HasPrefix(l, "livez check") {
			verdicts++
		}
		if strings.HasPrefix(l, "[+]container.create") || strings.HasPrefix(l, "[+]x") {
			t.Errorf("forged stage line %q", l)
		}
	}
	if verdicts != 1 || len(lines) > stageLines+2 {
		t.Errorf("%d verdict lines in %d lines:\n%s", verdicts, len(lines), body)
	}
	if strings.ContainsAny(body, "\r\x1b\x7f\u2028\u2029\u0085\u202e") {
		t.Errorf("control characters in:\n%q", body)
	}
	if !strings.Contains(body, `boom\n[+]container.create ok 1ms\r\nhealthz check passed\n\x1b[2J\u2028`) {
		t.Errorf("the message is not shown escaped:\n%s", body)
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain text: a/b \\ c \"q\" é 日本": "plain text: a/b \\ c \"q\" é 日本",
		"a\nb\rc\td":                      `a\nb\rc\td`,
		"\x1b[2J\x00\x7f\u0085\u009b":     `\x1b[2J\x00\x7f\u0085\u009b`,
		"\u2028\u2029\u202e\ufeff":        `\u2028\u2029\u202e\ufeff`,
		"bad \xff":                        `bad \ufffd`,
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}
