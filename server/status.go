package server

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/deepprobe/deepprobe/gc"
	"github.com/deepprobe/deepprobe/probes"
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

// stageFills are the chart's stage colours (the Okabe-Ito palette, told apart with most colour
// vision deficiencies), in probes.StageNames order. They are never the only cue: the legend
// names them, every bar has a tooltip and the table says the same in words.
var stageFills = []string{"#0072b2", "#56b4e9", "#e69f00", "#cc79a7", "#f0e442", "#7f7f7f", "#009e73", "#d55e00"}

// verdictMarks are the marks that go with the verdict colours, so that no verdict is told by
// colour alone; anything else (a verdict this page does not know yet) gets "?" and its word.
var verdictMarks = map[string]string{"pass": "✓", "warn": "⚠", "fail": "✗", "skip": "–"}

func mark(status string) string {
	if m, ok := verdictMarks[status]; ok {
		return m
	}
	return "?"
}

// knownClass returns status when the page's style sheet has a class for it, else "other".
func knownClass(status string) string {
	if _, ok := verdictMarks[status]; ok {
		return status
	}
	return "other"
}

type statusRow struct {
	At, Status, Class, Mark, Took, FailedStage, Reason, Error string
}

// stageCell is one stage of the latest workload, in the strip at the top of the page.
type stageCell struct {
	Name, Status, Class, Mark, Took, Reason, Error string
}

type chartSegment struct {
	X, Y, W, H float64
	Fill       string
	Failed     bool
}

type chartBar struct {
	Title        string
	Segments     []chartSegment
	Class, Mark  string
	MarkX, MarkY float64
}

type chartTick struct {
	X, Y  float64
	Label string
}

type legendEntry struct{ Name, Fill string }

type janitorView struct {
	At, Took                       string
	Found, Reaped, Skipped, Failed int
	Errors                         []string
}

type statusChart struct {
	Width, Height     int
	Left, Right, Base float64
	TickEnd, MarkSize float64
	Bars              []chartBar
	YTicks, XTicks    []chartTick
	Legend            []legendEntry
}

type statusPage struct {
	Instance, Status, Class, Mark, StatusText, Why string
	FailedStage, Reason, FailingSince              string
	ConsecutiveFailures                            int
	LastAt, LastAge                                string
	Stale                                          bool
	StaleNote                                      string
	OnRequest                                      bool
	Stages                                         []stageCell
	Rows                                           []statusRow
	Chart                                          statusChart
	Janitor                                        *janitorView
	JanitorNote                                    string
	Settings                                       []Setting
	Refresh                                        int
}

// status serves the fleet view: the verdict and why, the latest workload's stages, the last
// workloads as a chart and a table, the janitor's last sweep and the configuration. It reads
// what is there and never starts a workload.
func (s *Server) status(c echo.Context) error {
	if err := noQuery(c); err != nil {
		return err
	}
	page := s.buildStatusPage(time.Now())
	var b bytes.Buffer
	if err := statusTemplate.Execute(&b, page); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'")
	return c.HTMLBlob(http.StatusOK, b.Bytes())
}

// buildStatusPage gathers what the status page shows at now.
func (s *Server) buildStatusPage(now time.Time) statusPage {
	p := statusPage{Instance: s.cfg.Instance, Settings: s.cfg.Settings, Refresh: 15, OnRequest: s.cfg.OnRequest,
		Status: "fail", Class: "fail", Mark: mark("fail"), StatusText: "no result yet", Why: "No workload has finished yet."}
	if s.cfg.OnRequest {
		p.Why += " deepprobe runs one only when /healthz or /readyz is asked; this page never starts one."
	}
	var entries []probes.Outcome
	if s.cfg.History != nil {
		entries = s.cfg.History.Entries()
	}
	latest, ok := s.cfg.Deep.Latest() // the verdict as /healthz reads it now: stale in background mode
	if ok {
		h := deepHealth(latest)
		p.Status, p.Class, p.Mark, p.StatusText = h.Status, knownClass(h.Status), mark(h.Status), h.Status
		p.Why = "The last workload passed every stage."
		if h.Error != "" {
			p.Why = h.Error
		}
		p.FailedStage, p.Reason, p.ConsecutiveFailures = h.FailedStage, h.Reason, h.ConsecutiveFailures
		if h.FailingSince != nil {
			p.FailingSince = h.FailingSince.Format(time.RFC3339)
		}
		age := now.Sub(latest.CompletedAt)
		p.LastAt = latest.CompletedAt.UTC().Format(time.RFC3339)
		p.LastAge = humanAge(age)
		switch {
		case latest.Stale:
			p.Stale, p.StaleNote = true, "This result is older than --max-age: /healthz fails it as stale until the background workload runs again."
		case s.cfg.StaleAfter > 0 && age > s.cfg.StaleAfter && s.cfg.OnRequest:
			p.Stale, p.StaleNote = true, fmt.Sprintf("This result is %s old: deepprobe runs a workload only when /healthz or /readyz is asked "+
				"(no --interval), and nobody has asked for %s. This page never starts one; the verdict may no longer hold.", p.LastAge, humanAge(s.cfg.StaleAfter))
		case s.cfg.StaleAfter > 0 && age > s.cfg.StaleAfter:
			p.Stale, p.StaleNote = true, fmt.Sprintf("This result is %s old, older than %s.", p.LastAge, humanAge(s.cfg.StaleAfter))
		}
		for _, st := range h.Stages {
			p.Stages = append(p.Stages, stageCell{Name: st.Name, Status: st.Status, Class: knownClass(st.Status), Mark: mark(st.Status),
				Took: roundDuration(time.Duration(st.DurationMS * float64(time.Millisecond))), Reason: st.Reason, Error: st.Error})
		}
	}
	for _, o := range entries {
		h := deepHealth(o)
		p.Rows = append(p.Rows, statusRow{At: o.CompletedAt.UTC().Format("2006-01-02 15:04:05"), Status: h.Status, Class: knownClass(h.Status),
			Mark: mark(h.Status), Took: roundDuration(o.Result.Duration), FailedStage: h.FailedStage, Reason: h.Reason, Error: h.Error})
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

// humanAge rounds an age to what a person reads: seconds under two minutes, then minutes, then
// hours.
func humanAge(d time.Duration) string {
	switch {
	case d < 2*time.Minute:
		return d.Round(time.Second).String()
	case d < 2*time.Hour:
		return d.Round(time.Minute).String()
	default:
		return d.Round(time.Hour).String()
	}
}

// roundDuration keeps three significant figures or so: 1.51s, 23ms, 810µs.
func roundDuration(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(10 * time.Microsecond).String()
	}
}

// Chart geometry, in SVG user units (the SVG scales to the page's width).
const (
	chartWidth, chartHeight = 480, 230
	chartLeft, chartRight   = 46.0, 474.0
	chartTop, chartBase     = 26.0, 196.0
)

// chart draws the workloads oldest first, one bar each. A bar's height is the workload's
// duration on a log scale (whole decades), so that a 5 s timeout does not flatten the
// millisecond workloads beside it; its segments are the stages' shares of that duration, in
// stage order from the bottom, and a failed stage is outlined in red and marked. A verdict mark
// tops each bar; the x axis labels completion times (UTC).
func chart(entries []probes.Outcome) statusChart {
	c := statusChart{Width: chartWidth, Height: chartHeight, Left: chartLeft, Right: chartRight, Base: chartBase, TickEnd: chartBase + 3}
	names := probes.StageNames()
	fill := map[string]string{}
	for i, name := range names {
		fill[name] = stageFills[i%len(stageFills)]
		c.Legend = append(c.Legend, legendEntry{Name: name, Fill: fill[name]})
	}
	var shortest, longest time.Duration
	for _, o := range entries {
		if t := stagesTotal(o.Result); t > 0 {
			longest = max(longest, t)
			if shortest == 0 || t < shortest {
				shortest = t
			}
		}
	}
	if len(entries) == 0 || longest == 0 {
		return c
	}
	// The axis spans whole decades, from below the shortest workload (so that it still has a
	// visible bar) to at least one decade above.
	lo := math.Floor(math.Log10(shortest.Seconds()))
	if math.Log10(shortest.Seconds())-lo < 0.1 {
		lo--
	}
	hi := math.Max(math.Ceil(math.Log10(longest.Seconds())), lo+1)
	plot := chartBase - chartTop
	height := func(d time.Duration) float64 {
		if d <= 0 {
			return 0
		}
		return math.Max(2, (math.Log10(d.Seconds())-lo)/(hi-lo)*plot)
	}
	for k := lo; k <= hi; k++ {
		c.YTicks = append(c.YTicks, chartTick{Y: chartBase - (k-lo)/(hi-lo)*plot, Label: decade(k)})
	}
	slot := math.Min((chartRight-chartLeft)/float64(len(entries)), 40) // a few bars stay bars, not blocks
	c.MarkSize = math.Min(10, slot*1.2)                                // marks shrink rather than overlap when the bars are many
	ticks := timeTicks(len(entries))
	for i := range entries {
		o := entries[len(entries)-1-i] // oldest on the left
		x := chartLeft + float64(i)*slot + slot*0.1
		w := slot * 0.8
		state := o.Verdict()
		bar := chartBar{Class: knownClass(state), Mark: mark(state), MarkX: x + w/2,
			Title: fmt.Sprintf("%s UTC: %s in %s", o.CompletedAt.UTC().Format("2006-01-02 15:04:05"), state, o.Result.Duration.Round(time.Microsecond))}
		total := stagesTotal(o.Result)
		barH := height(total)
		y := chartBase
		for _, s := range o.Result.Stages {
			if s.Status == probes.StatusSkip || s.Duration <= 0 || total <= 0 {
				continue
			}
			h := barH * float64(s.Duration) / float64(total)
			y -= h
			f, ok := fill[s.Name]
			if !ok {
				f = "#bbbbbb"
			}
			bar.Segments = append(bar.Segments, chartSegment{X: x, Y: y, W: w, H: h, Fill: f, Failed: s.Status == probes.StatusFail})
			if s.Status == probes.StatusFail {
				bar.Title += fmt.Sprintf("; %s failed (%s)", s.Name, s.Reason)
			}
		}
		bar.MarkY = y - 3
		c.Bars = append(c.Bars, bar)
		if ticks[i] {
			c.XTicks = append(c.XTicks, chartTick{X: x + w/2, Label: o.CompletedAt.UTC().Format("15:04:05")})
		}
	}
	return c
}

// timeTicks picks up to five of n bars, spread evenly and always the first and the last, to
// label with their completion time.
func timeTicks(n int) []bool {
	out := make([]bool, n)
	const labels = 5
	if n <= labels {
		for i := range out {
			out[i] = true
		}
		return out
	}
	for k := range labels {
		out[k*(n-1)/(labels-1)] = true
	}
	return out
}

// decade labels 10^k seconds: 100µs, 1ms, 10ms, 100ms, 1s, 10s, 100s.
func decade(k float64) string {
	return time.Duration(math.Pow(10, k) * float64(time.Second)).Round(time.Microsecond).String()
}

func stagesTotal(r probes.Result) time.Duration {
	var d time.Duration
	for _, s := range r.Stages {
		if s.Status != probes.StatusSkip {
			d += s.Duration
		}
	}
	return d
}

// history serves the ring of finished workloads as JSON, newest first.
func (s *Server) history(c echo.Context) error {
	if err := noQuery(c); err != nil {
		return err
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
