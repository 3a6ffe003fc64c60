package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// MaxAnswer bounds the body of Prometheus' answer that is read; the query's answer is two
// series at most.
const MaxAnswer = 64 << 10

// Metric is the gauge the budget counts: 1 on a worker whose own deep verdict fails.
const Metric = "deepprobe_deep_failing"

// Count is what Prometheus said of the fleet: how many workers report the gauge, and how many
// of them fail.
type Count struct {
	Failing, Total int
}

// Share is Failing / Total.
func (c Count) Share() float64 {
	if c.Total == 0 {
		return 0
	}
	return float64(c.Failing) / float64(c.Total)
}

// query is the one PromQL query the budget sends: the fleet's gauges counted by value, so
// that one answer of at most two series gives both the failing count and the total.
func query(selector string) string {
	return `count_values("failing", ` + Metric + selector + `)`
}

// ask sends the query to Prometheus' instant-query API and decodes its answer, refusing
// anything but a bounded, well-formed vector of counts of 0 and 1.
func ask(ctx context.Context, client *http.Client, endpoint, selector string) (Count, error) {
	form := url.Values{"query": {query(selector)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return Count{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return Count{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer+1))
	if err != nil {
		return Count{}, fmt.Errorf("reading the answer: %w", err)
	}
	if len(body) > MaxAnswer {
		return Count{}, fmt.Errorf("the answer is larger than %d bytes", MaxAnswer)
	}
	var a struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  []any             `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	jerr := json.Unmarshal(body, &a)
	switch {
	case resp.StatusCode != http.StatusOK && jerr == nil && a.Error != "":
		return Count{}, fmt.Errorf("HTTP %d: %q", resp.StatusCode, clip(a.Error))
	case resp.StatusCode != http.StatusOK:
		return Count{}, fmt.Errorf("HTTP %d: %q", resp.StatusCode, clip(string(body)))
	case jerr != nil:
		return Count{}, fmt.Errorf("not a Prometheus answer: %w (%q)", jerr, clip(string(body)))
	case a.Status != "success":
		return Count{}, fmt.Errorf("status %q: %q", clip(a.Status), clip(a.Error))
	case a.Data.ResultType != "vector":
		return Count{}, fmt.Errorf("result type %q, want vector", clip(a.Data.ResultType))
	}
	var c Count
	for _, r := range a.Data.Result {
		if len(r.Value) != 2 {
			return Count{}, errors.New("a sample without [time, value]")
		}
		s, _ := r.Value[1].(string)
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return Count{}, fmt.Errorf("a count of %q", clip(s))
		}
		switch r.Metric["failing"] {
		case "1":
			c.Failing += n
		case "0":
		default:
			return Count{}, fmt.Errorf("%s has the value %q, want 0 or 1", Metric, clip(r.Metric["failing"]))
		}
		c.Total += n
	}
	if c.Total == 0 {
		return Count{}, fmt.Errorf("no series match %s%s: does Prometheus scrape the fleet's deepprobes with these labels?", Metric, selector)
	}
	return c, nil
}

// clip bounds a string from Prometheus before it goes into an error.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
