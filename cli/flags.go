package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// EnvName is the environment variable that stands for a flag: DEEPPROBE_ and the flag's name in
// upper case with dashes as underscores (--probe-timeout: DEEPPROBE_PROBE_TIMEOUT).
func EnvName(flagName string) string {
	return "DEEPPROBE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parse parses args, then fills every flag not given on the command line from its environment
// variable. Errors name the flag or the variable and are left to the caller to print; on -h it
// writes the usage to help and returns flag.ErrHelp.
func parse(fs *flag.FlagSet, args []string, getenv func(string) string, help io.Writer) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(help)
			fs.Usage()
			return err
		}
		return flagParseError(fs, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []string
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		env := EnvName(f.Name)
		v := getenv(env)
		if v == "" {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Sprintf("invalid value %q for %s (--%s): want %s", v, env, f.Name, wantValue(f)))
		}
	})
	if len(errs) > 0 {
		sort.Strings(errs)
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// The flag package's own wording ("invalid value "5" for flag -probe-timeout: parse error"),
// which flagParseError rewrites.
var (
	reInvalidValue = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-([^:]+): `)
	reUndefined    = regexp.MustCompile(`^flag provided but not defined: -+(.+)$`)
	reNoArgument   = regexp.MustCompile(`^flag needs an argument: -+(.+)$`)
)

// flagParseError rewrites a flag.Parse error to name the flag as it is written (--probe-timeout)
// and to say what a valid value looks like.
func flagParseError(fs *flag.FlagSet, err error) error {
	msg := err.Error()
	if m := reInvalidValue.FindStringSubmatch(msg); m != nil {
		if f := fs.Lookup(m[2]); f != nil {
			return fmt.Errorf("--%s: invalid value %q: want %s", f.Name, m[1], wantValue(f))
		}
	}
	if m := reUndefined.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("unknown flag --%s (see --help)", m[1])
	}
	if m := reNoArgument.FindStringSubmatch(msg); m != nil {
		if f := fs.Lookup(m[1]); f != nil {
			return fmt.Errorf("--%s needs a value: %s", f.Name, wantValue(f))
		}
	}
	return err
}

// wantValue says what a valid value of f looks like, from its type.
func wantValue(f *flag.Flag) string {
	getter, ok := f.Value.(flag.Getter)
	if !ok {
		return "a valid value"
	}
	switch getter.Get().(type) {
	case time.Duration:
		return "a duration with its unit, such as 5s, 1500ms or 2m"
	case int, int64, uint, uint64:
		return "a whole number, such as 3"
	case bool:
		return "true or false"
	case float64:
		return "a number, such as 1.5"
	default:
		return "a string"
	}
}

// usage prints a subcommand's flags with their environment variables.
func usage(fs *flag.FlagSet, synopsis string) func() {
	return func() {
		out := fs.Output()
		fmt.Fprintf(out, "usage: %s\n\nflags (each also read from its environment variable):\n", synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" {
				def = fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(out, "  --%s  [%s]%s\n      %s\n", f.Name, EnvName(f.Name), def, f.Usage)
		})
	}
}

// maxTokenFile is the most of a token file that is read; a token is one short line.
const maxTokenFile = 4096

// minTokenLength is the shortest token accepted: anything shorter is guessable.
const minTokenLength = 16

// readToken reads a bearer token file: a regular file (not a FIFO, a device or a directory,
// which could hang start-up or never end), at most maxTokenFile bytes, whose first line,
// trimmed of spaces, is the token. A token that is too short or holds a byte-order mark or a
// control character is refused, naming why.
func readToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("--auth-token-file: %w", err)
	}
	if !info.Mode().IsRegular() {
		return "", fmt.Errorf("--auth-token-file: %s is not a regular file (%s)", path, info.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("--auth-token-file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("--auth-token-file: %w", err)
	}
	if len(b) > maxTokenFile {
		return "", fmt.Errorf("--auth-token-file: %s is larger than %d bytes: it holds no single token", path, maxTokenFile)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	tok := strings.Trim(line, " \t\r")
	switch {
	case tok == "":
		return "", fmt.Errorf("--auth-token-file: %s holds no token", path)
	case strings.HasPrefix(tok, "\uFEFF"):
		return "", fmt.Errorf("--auth-token-file: %s starts with a byte-order mark; save it without one", path)
	case !utf8.ValidString(tok):
		return "", fmt.Errorf("--auth-token-file: %s is not valid UTF-8", path)
	case strings.IndexFunc(tok, unicode.IsControl) >= 0:
		return "", fmt.Errorf("--auth-token-file: the token in %s holds a control character", path)
	case strings.ContainsAny(tok, " \t"):
		return "", fmt.Errorf("--auth-token-file: the token in %s holds a space; a bearer token cannot", path)
	case len(tok) < minTokenLength:
		return "", fmt.Errorf("--auth-token-file: the token in %s is %d characters; use at least %d", path, len(tok), minTokenLength)
	}
	return tok, nil
}
