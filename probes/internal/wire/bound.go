package wire

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"
)

// Bounds of the strings kept from an answer. An upstream daemon's answer may be up to MaxBody
// long, and a string taken from it is copied into errors, every answer, the history and log
// lines: each is cut once, where it is decoded, so that deepprobe's memory and output never
// follow the size of what upstream says.
const (
	// MaxText bounds a message, an error, a path or a property value (Garden's Message,
	// Baggageclaim's error, a process's error, a volume path). Real ones are under 600 bytes.
	MaxText = 1024
	// MaxName bounds a handle, a process id or an error type. Real ones are under 100 bytes.
	MaxName = 256
)

// CutMarker ends a string that was cut, before the count of bytes dropped.
const CutMarker = "...[cut "

// Bound returns s cut to at most n bytes (n is at least 64), the end of which is a marker
// saying how much was dropped: "...[cut 4194000 bytes]". The cut falls on a rune boundary and
// invalid UTF-8 becomes '?'. A string of n bytes or fewer is returned whole, so bounding twice
// changes nothing.
func Bound(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	n = max(n, 64)
	if len(s) <= n {
		return s
	}
	cut := n - markerRoom
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + CutMarker + strconv.Itoa(len(s)-cut) + " bytes]"
}

// markerRoom is the most a cut marker takes: CutMarker, 19 digits and " bytes]".
const markerRoom = len(CutMarker) + 19 + len(" bytes]")

// BoundText is Bound(s, MaxText).
func BoundText(s string) string { return Bound(s, MaxText) }

// BoundName is Bound(s, MaxName).
func BoundName(s string) string { return Bound(s, MaxName) }

// BoundMap returns a copy of m (a property map) with every key and value bounded; nil stays nil.
func BoundMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[BoundName(k)] = BoundText(v)
	}
	return out
}

// MaxError bounds the text of an error from the transport (a malformed status line or header
// is quoted whole by net/http, up to its 10 MiB header limit).
const MaxError = 2 * MaxText

// BoundError returns err when its text is at most MaxError bytes. Otherwise it returns an error
// whose text is cut and which holds nothing else of err but what classifies a failure: the
// context's errors, a refused or reset connection, an early EOF.
func BoundError(err error) error {
	if err == nil {
		return nil
	}
	text := err.Error()
	if len(text) <= MaxError {
		return err
	}
	c := &cutError{text: Bound(text, MaxError)}
	for _, target := range keptCauses {
		if errors.Is(err, target) {
			c.causes = append(c.causes, target)
		}
	}
	return c
}

// keptCauses are the sentinels a cut error still matches (see BoundError).
var keptCauses = []error{context.Canceled, context.DeadlineExceeded, syscall.ECONNREFUSED, syscall.ECONNRESET,
	io.EOF, io.ErrUnexpectedEOF}

// cutError is an error whose text was cut; it matches the causes kept from the original.
type cutError struct {
	text   string
	causes []error
}

func (e *cutError) Error() string   { return e.text }
func (e *cutError) Unwrap() []error { return e.causes }
