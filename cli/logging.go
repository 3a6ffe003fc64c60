package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// Log conventions, the same for every line and both formats:
//   - every duration is a number of seconds under a key ending in _s ("duration_s":0.00707,
//     "probe_timeout_s":5), whatever the code that logs it passes (see secondsAttr);
//   - with --log-format json every line deepprobe writes to stderr is one JSON object, the
//     process's own notices (a signal, a configuration error) included.

// newLogger builds the logger of --log-level and --log-format, writing to w.
func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level must be debug, info, warn or error, got %q", level)
	}
	opts := &slog.HandlerOptions{Level: l, ReplaceAttr: secondsAttr}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format must be text or json, got %q", format)
	}
}

// secondsAttr writes a time.Duration as seconds (a float) under its key with _s appended
// (once): one readable unit in both formats, where slog would write nanoseconds in JSON and
// "1.5s" in text.
func secondsAttr(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindDuration {
		return a
	}
	key := a.Key
	if !strings.HasSuffix(key, "_s") {
		key += "_s"
	}
	return slog.Float64(key, a.Value.Duration().Seconds())
}

// consoleLogger is where the process's own notices go (a signal, a configuration error), before
// or beside a subcommand's logger: JSON lines when the arguments or the environment ask for
// --log-format json, so that every line is JSON then; otherwise plain "deepprobe: ..." lines.
// It reads the format from the raw arguments, so it also serves when they do not parse.
func consoleLogger(env Env) *slog.Logger {
	if requestedLogFormat(env.Args, env.Getenv) == "json" {
		return slog.New(slog.NewJSONHandler(env.Stderr, &slog.HandlerOptions{ReplaceAttr: secondsAttr}))
	}
	return slog.New(&plainHandler{w: env.Stderr, mu: &sync.Mutex{}})
}

// requestedLogFormat finds --log-format in args (--log-format json, --log-format=json, with one
// dash or two), else DEEPPROBE_LOG_FORMAT; it returns "" when neither names one.
func requestedLogFormat(args []string, getenv func(string) string) string {
	for i, a := range args {
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "log-format" {
			continue
		}
		if hasValue {
			return value
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	if getenv != nil {
		return getenv(EnvName("log-format"))
	}
	return ""
}

// plainHandler writes each record's message alone on a line: the plain-text console.
type plainHandler struct {
	w  io.Writer
	mu *sync.Mutex
}

func (h *plainHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *plainHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, r.Message+"\n")
	return err
}

func (h *plainHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *plainHandler) WithGroup(string) slog.Handler      { return h }
