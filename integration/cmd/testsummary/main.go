// Command testsummary runs `go test -json ...`, prints what plain `go test` prints (each
// package's result, and the output of failed tests), and ends with every skipped test and why,
// then a count line. It exits with the test command's status (1 when that passed but a test is
// reported failed), so that `make test` fails exactly when the tests do.
//
//	go run ./integration/cmd/testsummary go test -race -count=1 -json ./...
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testsummary go test -json [flags] [packages]")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stderr = os.Stdin, os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(1)
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(1)
	}
	s := summarize(stdout, os.Stdout)
	err = cmd.Wait()
	os.Exit(exitCode(err, s))
}

// exitCode is the test command's status, or 1 when it exited 0 but a test or package failed.
func exitCode(waitErr error, s summary) int {
	var exit *exec.ExitError
	switch {
	case errors.As(waitErr, &exit) && exit.ExitCode() > 0:
		return exit.ExitCode()
	case waitErr != nil:
		return 1
	case s.failed > 0:
		return 1
	}
	return 0
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

type skip struct{ pkg, test, reason string }

type summary struct {
	passed, failed int
	skipped        []skip
}

// summarize reads a `go test -json` stream from r and writes to w what plain `go test` would,
// then the skipped tests with their reasons and a closing count line.
func summarize(r io.Reader, w io.Writer) summary {
	var s summary
	outputs := map[string][]string{} // a running test's output, by package and name
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			fmt.Fprintf(w, "%s\n", line) // not an event (a build error printed as text): pass it on
			continue
		}
		key := e.Package + " " + e.Test
		switch {
		case e.Action == "output" && e.Test == "":
			if e.Output != "PASS\n" { // plain go test prints a package's ok line, not its PASS
				fmt.Fprint(w, e.Output)
			}
		case e.Action == "build-output":
			fmt.Fprint(w, e.Output)
		case e.Action == "output" && !strings.HasPrefix(e.Output, "=== "): // -v's RUN, PAUSE, CONT, NAME lines
			outputs[key] = append(outputs[key], e.Output)
		case e.Action == "pass" && e.Test != "":
			s.passed++
			delete(outputs, key)
		case e.Action == "fail" && e.Test != "":
			s.failed++
			fmt.Fprint(w, strings.Join(outputs[key], ""))
			delete(outputs, key)
		case e.Action == "skip" && e.Test != "":
			s.skipped = append(s.skipped, skip{pkg: e.Package, test: e.Test, reason: skipReason(outputs[key])})
			delete(outputs, key)
		case e.Action == "fail" && e.Test == "" && s.failed == 0:
			s.failed++ // a package that failed without a failed test: a build error, a panic in TestMain
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(w, "testsummary: reading the test output:", err)
		s.failed++
	}
	sort.Slice(s.skipped, func(i, j int) bool {
		a, b := s.skipped[i], s.skipped[j]
		return a.pkg < b.pkg || (a.pkg == b.pkg && a.test < b.test)
	})
	if len(s.skipped) > 0 {
		fmt.Fprintf(w, "\nSkipped tests (%d), and why:\n", len(s.skipped))
		for _, k := range s.skipped {
			fmt.Fprintf(w, "  %s %s: %s\n", k.pkg, k.test, k.reason)
		}
	}
	fmt.Fprintf(w, "\ntests: %d passed, %d failed, %d skipped\n", s.passed, s.failed, len(s.skipped))
	return s
}

// skipReason is the last entry a skipped test logged before its "--- SKIP" line: the message
// of t.Skip, as `go test -v` prints it ("    file_test.go:12: no chromium", continued on lines
// indented by eight spaces), joined into one line.
func skipReason(lines []string) string {
	var entry []string
	for _, l := range lines {
		switch {
		case strings.HasPrefix(strings.TrimSpace(l), "--- SKIP"):
			if len(entry) == 0 {
				return "(no reason given)"
			}
			return strings.Join(entry, " / ")
		case strings.HasPrefix(l, "        "):
			entry = append(entry, strings.TrimSpace(l))
		case strings.HasPrefix(l, "    "):
			entry = []string{strings.TrimSpace(l)}
		}
	}
	if len(entry) == 0 {
		return "(no reason given)"
	}
	return strings.Join(entry, " / ")
}
