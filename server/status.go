package server

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/deepprobe/deepprobe/gc"
	"github.com/deepprobe/deepprobe/probes"
)

// Routes of the fleet view.
const (
	PathStatus  = "/"
	PathHistory = "/history"
)

// HistoryReader is the ring of finished workloads the status page and /history show.
type HistoryReader interface {
	Entries() []probes.Outcome
}

// JanitorReader is the janitor's last sweep.
type JanitorReader interface {
	LastSweep() (gc.Summary, bool)
}

// Setting is one line of the configuration the status page shows.
type Setting struct {
	Name, Value string
}

//go:embed status.html
var statusHTML string

var statusTemplate = template.Must(template.New("status").Parse(statusHTML))

// stageFills are the chart's stage shades: distinct greys, so the chart reads without colour.
var stageFills = []string{"#f2f2f2", "#cfcfcf", "#a8a8a8", "#808080", "#585858", "#303030"}

type statusRow struct {
	At, Status, Took, FailedStage, Reason, Error string
}

type chartSegment struct {
	X, Y, W, H float64
	Fill       string
}

type chartBar struct {
	Title        string
	Segments     []chartSegment
	Failed       bool
	MarkX, MarkY float64
}

type legendEntry struct{ Name, Fill string }

type janitorView struct {
	At, Took                       string
	Found, Reaped, Skipped, Failed int
	Errors                         []string
}

type statusChart struct {
	Width, Height int
	Max           string
	Bars          []chartBar
	Legend        []legendEntry
}

type statusPage struct {
	Instance, Status, StatusText, Why string
	FailedStage, Reason, FailingSince string
	ConsecutiveFailures               int
	LastAt, LastAge                   string
	Rows                              []statusRow
	Chart                             statusChart
	Janitor                           *janitorView
	JanitorNote                       string
	Settings                          []Setting
	Refresh                           int
}

// status serves the fleet view: the verdict and why, the last workloads as a chart and a
// table, the janitor's last sweep and the configuration. It reads what is there and never
// starts a workload.
func (s *Server) status(c echo.Context) error {
	if _, err := parseRawQuery(c.Request().URL.RawQuery, s.cfg.MaxWait); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	page := s.statusPage(time.Now())
	var b bytes.Buffer
	if err := statusTemplate.Execute(&b, page); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'")
	return c.HTMLBlob(http.StatusOK, b.Bytes())
}

func (s *Server) statusPage(now time.Time) statusPage {
	p := statusPage{Instance: s.cfg.Instance, Settings: s.cfg.Settings, Refresh: 15,
		Status: "fail", StatusText: "no result yet", Why: "No workload has finished yet."}
	var entries []probes.Outcome
	if s.cfg.History != nil {
		entries = s.cfg.History.Entries()
	}
	latest, ok := probes.Outcome{}, len(entries) > 0
	if ok {
		latest = entries[0]
	}
	if s.cfg.Latest != nil { // the verdict as /healthz reads it now: stale in background mode
		latest, ok = s.cfg.Latest()
	}
	if ok {
		h := deepHealth(latest)
		p.Status, p.StatusText = h.Status, h.Status
		p.Why = "The last workload passed every stage."
		if h.Error != "" {
			p.Why = h.Error
		}
		p.FailedStage, p.Reason, p.ConsecutiveFailures = h.FailedStage, h.Reason, h.ConsecutiveFailures
		if h.FailingSince != nil {
			p.FailingSince = h.FailingSince.Format(time.RFC3339)
		}
		p.LastAt = latest.CompletedAt.UTC().Format(time.RFC3339)
		p.LastAge = now.Sub(latest.CompletedAt).Round(time.Second).String()
	}
	for _, o := range entries {
		h := deepHealth(o)
		p.Rows = append(p.Rows, statusRow{At: o.CompletedAt.UTC().Format("2006-01-02 15:04:05"), Status: h.Status,
			Took: o.Result.Duration.Round(time.Millisecond).String(), FailedStage: h.FailedStage, Reason: h.Reason, Error: h.Error})
	}
	p.Chart = chart(entries)
	p.JanitorNote = "The janitor is off (--janitor-interval 0)."
	if s.cfg.Janitor != nil {
		p.JanitorNote = "No sweep has finished yet."
		if sum, ok := s.cfg.Janitor.LastSweep(); ok {
			p.Janitor = &janitorView{At: sum.At.UTC().Format(time.RFC3339), Took: sum.Took.Round(time.Millisecond).String(),
				Found: sum.Found, Reaped: sum.Reaped, Skipped: sum.Skipped, Failed: sum.Failed, Errors: sum.Errors}
		}
	}
	return p
}

// chart draws the workloads oldest first, one bar each, stacked by stage duration.
func chart(entries []probes.Outcome) statusChart {
	const width, height, top = 600, 160, 12
	c := statusChart{Width: width, Height: height}
	for i, name := range probes.StageNames() {
		c.Legend = append(c.Legend, legendEntry{Name: name, Fill: stageFills[i%len(stageFills)]})
	}
	var longest time.Duration
	for _, o := range entries {
		longest = max(longest, stagesTotal(o.Result))
	}
	if len(entries) == 0 || longest == 0 {
		return c
	}
	c.Max = longest.Round(time.Microsecond).String()
	slot := float64(width) / float64(len(entries))
	scale := float64(height-top) / float64(longest)
	for i := range entries {
		o := entries[len(entries)-1-i] // oldest on the left
		x := float64(i)*slot + slot*0.1
		bar := chartBar{Failed: !o.Result.Passed(), MarkX: x + slot*0.4,
			Title: fmt.Sprintf("%s: %s in %s", o.CompletedAt.UTC().Format(time.RFC3339), o.State(), o.Result.Duration.Round(time.Microsecond))}
		y := float64(height)
		for j, name := range probes.StageNames() {
			for _, s := range o.Result.Stages {
				if s.Name != name || s.Status == probes.StatusSkip {
					continue
				}
				h := float64(s.Duration) * scale
				y -= h
				bar.Segments = append(bar.Segments, chartSegment{X: x, Y: y, W: slot * 0.8, H: h, Fill: stageFills[j%len(stageFills)]})
			}
		}
		bar.MarkY = y - 2
		c.Bars = append(c.Bars, bar)
	}
	return c
}

func stagesTotal(r probes.Result) time.Duration {
	var d time.Duration
	for _, s := range r.Stages {
		d += s.Duration
	}
	return d
}

// history serves the ring of finished workloads as JSON, newest first.
func (s *Server) history(c echo.Context) error {
	if _, err := parseRawQuery(c.Request().URL.RawQuery, s.cfg.MaxWait); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	out := []Health{}
	if s.cfg.History != nil {
		for _, o := range s.cfg.History.Entries() {
			out = append(out, deepHealth(o))
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}
