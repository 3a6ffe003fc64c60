package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"time"

	"github.com/deepprobe/deepprobe/server"
)

// What `deepprobe check` does when deepprobe itself cannot be reached (--unreachable).
const (
	// UnreachableFail: the worker is unhealthy (exit 1), the behaviour before the flag existed.
	UnreachableFail = "fail"
	// UnreachablePass: the worker is healthy (exit 0): deepprobe's absence is no verdict.
	UnreachablePass = "pass"
	// UnreachableFallback: the fallback URL's status decides (2xx is healthy).
	UnreachableFallback = "fallback"
)

// CheckConfig is the configuration of `deepprobe check`.
type CheckConfig struct {
	URL           string
	Timeout       time.Duration
	AuthTokenFile string
	// Unreachable is UnreachableFail, UnreachablePass or UnreachableFallback.
	Unreachable string
	// FallbackURL is asked, with UnreachableFallback, when deepprobe cannot be reached.
	FallbackURL string
	// FallbackTimeout bounds the fallback's answer (0: Timeout).
	FallbackTimeout time.Duration
}

// CheckFlags returns the flag set of `deepprobe check` bound to cfg.
func CheckFlags(cfg *CheckConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("deepprobe check", flag.ContinueOnError)
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8889/healthz", "deepprobe endpoint to ask")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "give up on deepprobe after this long; deepprobe is asked to answer within 90% of it")
	fs.StringVar(&cfg.AuthTokenFile, "auth-token-file", "", "send this file's bearer token")
	fs.StringVar(&cfg.Unreachable, "unreachable", UnreachableFail, "when deepprobe cannot be reached (refused, timeout, not HTTP): fail, pass, or fallback (--fallback-url decides)")
	fs.StringVar(&cfg.FallbackURL, "fallback-url", "", "with --unreachable fallback: the URL whose status decides when deepprobe cannot be reached (2xx: healthy), such as the worker's own http://127.0.0.1:8888/")
	fs.DurationVar(&cfg.FallbackTimeout, "fallback-timeout", 0, "give up on the fallback after this long (default --timeout); check takes at most --timeout + --fallback-timeout")
	fs.Usage = usage(fs, "deepprobe check [flags]")
	return fs
}

// ParseCheck parses the arguments and environment of `deepprobe check` and validates them,
// filling the defaults that depend on other flags.
func ParseCheck(args []string, getenv func(string) string) (CheckConfig, error) {
	return parseCheck(args, getenv, io.Discard)
}

func parseCheck(args []string, getenv func(string) string, help io.Writer) (CheckConfig, error) {
	var cfg CheckConfig
	if err := parse(CheckFlags(&cfg), args, getenv, help); err != nil {
		return cfg, err
	}
	return cfg, cfg.validate()
}

// MaxDuration is the longest `deepprobe check` can take: deepprobe's wait, then the
// fallback's when deepprobe cannot be reached.
func (c CheckConfig) MaxDuration() time.Duration {
	if c.Unreachable != UnreachableFallback {
		return c.Timeout
	}
	return c.Timeout + c.FallbackTimeout
}

// Wait is how long deepprobe is asked to answer within (?timeout=): the URL's own ?timeout,
// else 90% of --timeout, so that deepprobe's answer arrives before the check gives up.
func (c CheckConfig) Wait() time.Duration {
	if u, err := url.Parse(c.URL); err == nil && u.Query().Has("timeout") {
		if d, err := time.ParseDuration(u.Query().Get("timeout")); err == nil {
			return d
		}
	}
	return c.Timeout * 9 / 10
}

func (c *CheckConfig) validate() error {
	if c.Timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %s", c.Timeout)
	}
	if err := httpURL(c.URL); err != nil {
		return fmt.Errorf("--url %w", err)
	}
	switch c.Unreachable {
	case UnreachableFail, UnreachablePass:
		if c.FallbackURL != "" {
			return fmt.Errorf("--fallback-url only applies with --unreachable %s (it is %s)", UnreachableFallback, c.Unreachable)
		}
	case UnreachableFallback:
		if c.FallbackURL == "" {
			return fmt.Errorf("--unreachable %s needs --fallback-url", UnreachableFallback)
		}
		if err := httpURL(c.FallbackURL); err != nil {
			return fmt.Errorf("--fallback-url %w", err)
		}
	default:
		return fmt.Errorf("--unreachable must be %s, %s or %s, got %q", UnreachableFail, UnreachablePass, UnreachableFallback, c.Unreachable)
	}
	switch {
	case c.FallbackTimeout < 0:
		return fmt.Errorf("--fallback-timeout must not be negative, got %s", c.FallbackTimeout)
	case c.FallbackTimeout == 0:
		c.FallbackTimeout = c.Timeout
	}
	return nil
}

// httpURL refuses anything but an absolute http(s) URL with a host.
func httpURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("must be an http(s) URL with a host, got %q", raw)
	}
	return nil
}

// runCheck asks a running deepprobe and prints its stages, and which path decided. It exits 0
// when healthy and 1 otherwise, never 2 (Docker reserves it).
func runCheck(ctx context.Context, env Env, args []string) int {
	cfg, err := parseCheck(args, env.Getenv, env.Stdout)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		fmt.Fprintln(env.Stderr, "deepprobe check:", err)
		return ExitFailure
	}
	if err := check(ctx, cfg, env.Stdout); err != nil {
		fmt.Fprintln(env.Stdout, "unhealthy:", err)
		return ExitFailure
	}
	return ExitOK
}

// unreachableError is deepprobe not answering over HTTP at all: refused, timed out, or
// something that is not an HTTP answer.
type unreachableError struct{ err error }

func (e *unreachableError) Error() string { return "no answer from deepprobe: " + e.err.Error() }
func (e *unreachableError) Unwrap() error { return e.err }

// check decides: deepprobe's answer when there is one (any HTTP answer, a 503 or a 401
// included, is its verdict), and otherwise what --unreachable says.
func check(ctx context.Context, cfg CheckConfig, out io.Writer) error {
	token, err := readToken(cfg.AuthTokenFile)
	if err != nil {
		return err
	}
	err = askDeepprobe(ctx, cfg, token, out)
	var ue *unreachableError
	if !errors.As(err, &ue) || ctx.Err() != nil { // an answer, or the check itself was stopped
		if err != nil {
			return fmt.Errorf("%w (decided by deepprobe)", err)
		}
		return nil
	}
	switch cfg.Unreachable {
	case UnreachablePass:
		fmt.Fprintf(out, "healthy: %v (decided by --unreachable %s)\n", ue, UnreachablePass)
		return nil
	case UnreachableFallback:
		fmt.Fprintf(out, "%v; asking the fallback %s\n", ue, cfg.FallbackURL)
		return askFallback(ctx, cfg, out)
	default:
		return fmt.Errorf("%w (decided by --unreachable %s)", ue, UnreachableFail)
	}
}

// askDeepprobe asks deepprobe and prints its stages; it returns nil when deepprobe says the
// worker is healthy, an *unreachableError when deepprobe gave no HTTP answer, and deepprobe's
// verdict otherwise.
func askDeepprobe(ctx context.Context, cfg CheckConfig, token string, out io.Writer) error {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return err // validated already
	}
	q := u.Query()
	if !q.Has("timeout") {
		q.Set("timeout", cfg.Wait().String())
		u.RawQuery = q.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return &unreachableError{err: err}
	}
	defer resp.Body.Close()
	// From here on deepprobe has answered over HTTP: whatever it said is its verdict.
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("HTTP %d, then reading deepprobe's answer: %w", resp.StatusCode, err)
	}
	var h server.Health
	if err := json.Unmarshal(body, &h); err != nil || h.Status == "" {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("HTTP %d: %s", resp.StatusCode, server.Escape(snippet([]byte(e.Error))))
		}
		return fmt.Errorf("HTTP %d with an unexpected body %q", resp.StatusCode, snippet(body))
	}
	fmt.Fprint(out, h.Text(path.Base(u.Path)))
	if resp.StatusCode != http.StatusOK || h.Status == "fail" {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, server.Escape(h.Error)) // upstream words: one line
	}
	fmt.Fprintf(out, "healthy (%s, %s check, age %.0fms; decided by deepprobe)\n", server.Escape(h.Status), server.Escape(h.Check), h.AgeMS)
	return nil
}

// askFallback asks the fallback URL, without following redirects: 2xx is healthy, anything
// else (no answer included) is not.
func askFallback(ctx context.Context, cfg CheckConfig, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.FallbackTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.FallbackURL, nil)
	if err != nil {
		return err
	}
	client := &http.Client{
		Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("no answer from the fallback %s either: %w (decided by the fallback)", cfg.FallbackURL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the fallback %s answered HTTP %d %q (decided by the fallback)", cfg.FallbackURL, resp.StatusCode, snippet(body))
	}
	fmt.Fprintf(out, "healthy: the fallback %s answered HTTP %d (decided by the fallback)\n", cfg.FallbackURL, resp.StatusCode)
	return nil
}

func snippet(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}
