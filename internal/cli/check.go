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

// CheckConfig is the configuration of `deepprobe check`.
type CheckConfig struct {
	URL           string
	Timeout       time.Duration
	AuthTokenFile string
}

// CheckFlags returns the flag set of `deepprobe check` bound to cfg.
func CheckFlags(cfg *CheckConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("deepprobe check", flag.ContinueOnError)
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8889/healthz", "deepprobe endpoint to ask")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "give up after this long; deepprobe is asked to answer within 90% of it")
	fs.StringVar(&cfg.AuthTokenFile, "auth-token-file", "", "send this file's bearer token")
	fs.Usage = usage(fs, "deepprobe check [flags]")
	return fs
}

// runCheck asks a running deepprobe and prints its stages. It exits 0 when healthy and 1
// otherwise, never 2 (Docker reserves it).
func runCheck(ctx context.Context, env Env, args []string) int {
	var cfg CheckConfig
	fs := CheckFlags(&cfg)
	if err := parse(fs, args, env.Getenv, env.Stdout); err != nil {
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

func check(ctx context.Context, cfg CheckConfig, out io.Writer) error {
	if cfg.Timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %s", cfg.Timeout)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url must be an http(s) URL with a host, got %q", cfg.URL)
	}
	q := u.Query()
	if !q.Has("timeout") {
		q.Set("timeout", (cfg.Timeout * 9 / 10).String())
		u.RawQuery = q.Encode()
	}
	token, err := readToken(cfg.AuthTokenFile)
	if err != nil {
		return err
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
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return fmt.Errorf("no answer from deepprobe: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("reading deepprobe's answer: %w", err)
	}
	var h server.Health
	if err := json.Unmarshal(body, &h); err != nil || h.Status == "" {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("HTTP %d: %s", resp.StatusCode, e.Error)
		}
		return fmt.Errorf("HTTP %d with an unexpected body %q", resp.StatusCode, snippet(body))
	}
	fmt.Fprint(out, h.Text(path.Base(u.Path)))
	if resp.StatusCode != http.StatusOK || h.Status == "fail" {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, h.Error)
	}
	fmt.Fprintf(out, "healthy (%s, %s check, age %.0fms)\n", h.Status, h.Check, h.AgeMS)
	return nil
}

func snippet(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}
