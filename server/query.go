package server

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// MaxTimeout is the largest ?timeout a caller may ask for.
const MaxTimeout = 5 * time.Minute

// query holds the validated query parameters of /healthz, /readyz and /livez.
type query struct {
	timeout time.Duration
	verbose bool
}

// parseRawQuery parses and validates the raw query string: a malformed one (`?%zz`,
// `?timeout=2s;verbose`) is an error naming the problem, never silently dropped with the
// caller's timeout in it.
func parseRawQuery(raw string, defaultTimeout time.Duration) (query, error) {
	values, err := url.ParseQuery(raw)
	if err != nil {
		return query{}, fmt.Errorf("malformed query string %q: %w", raw, err)
	}
	return parseQuery(values, defaultTimeout)
}

// parseQuery validates the query string; unknown parameters are errors, so that a typo
// (?timout=2s) is not silently ignored.
func parseQuery(values url.Values, defaultTimeout time.Duration) (query, error) {
	q := query{timeout: defaultTimeout}
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		vs := values[k]
		if len(vs) > 1 {
			return q, fmt.Errorf("query parameter %q given %d times", k, len(vs))
		}
		v := vs[0]
		switch k {
		case "timeout":
			d, err := parseTimeout(v)
			if err != nil {
				return q, fmt.Errorf("query parameter \"timeout\": %w", err)
			}
			q.timeout = d
		case "verbose":
			switch strings.ToLower(v) {
			case "", "1", "true":
				q.verbose = true
			case "0", "false":
			default:
				return q, fmt.Errorf("query parameter \"verbose\": want no value, true or false, got %q", v)
			}
		default:
			return q, fmt.Errorf("unknown query parameter %q (known: timeout, verbose)", k)
		}
	}
	return q, nil
}

// parseTimeout reads a Go duration ("2s", "1500ms") or a number of seconds ("2", "1.5").
func parseTimeout(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		f, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil {
			return 0, fmt.Errorf("want a duration such as 2s or 1500ms, got %q", v)
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d <= 0 || d > MaxTimeout {
		return 0, fmt.Errorf("must be above 0 and at most %s, got %q", MaxTimeout, v)
	}
	return d, nil
}

// noQuery refuses any query parameter on the read-only pages, which take none (?verbose and
// ?timeout mean nothing there, and are not silently ignored).
func noQuery(c echo.Context) error {
	raw := c.Request().URL.RawQuery
	if raw == "" {
		return nil
	}
	values, err := url.ParseQuery(raw)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("malformed query string %q: %v", raw, err))
	}
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, strconv.Quote(k))
	}
	sort.Strings(names)
	return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("%s takes no query parameters, got %s (?verbose and ?timeout are for /healthz, /readyz and /livez)",
		c.Request().URL.Path, strings.Join(names, ", ")))
}
