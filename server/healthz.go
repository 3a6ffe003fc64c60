package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/deepprobe/deepprobe/probes"
)

// healthz serves /healthz and /readyz from the deep probe, waiting up to the caller's
// ?timeout (default Config.MaxWait).
func (s *Server) healthz(c echo.Context) error {
	q, err := parseRawQuery(c.Request().URL.RawQuery, s.cfg.MaxWait)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), q.timeout)
	defer cancel()
	start := time.Now()
	o, err := s.cfg.Deep.Check(ctx)
	var h Health
	switch {
	case err != nil: // no outcome: the caller's deadline came with none it may be given, or shutdown
		h = Health{Status: "fail", Check: "deep", Error: err.Error(), DurationMS: ms(time.Since(start)), Stages: []StageBody{}}
		h.Garden.ResponseError, h.Baggageclaim.ResponseError = h.Error, h.Error
		var te *probes.TimeoutError
		if errors.As(err, &te) {
			h.InFlight = inFlight(te.InFlight)
			if te.PastLimit {
				h.FailedStage, h.Reason = te.InFlight.Stage, string(probes.ReasonTimeout)
			}
		}
	case q.verbose || o.InFlight != nil || (s.cfg.Fleet != nil && o.Verdict() == "fail"):
		h = deepHealth(o)
	default: // the hot path: a plain answer from an outcome, encoded once (see encodeDeep)
		return s.respondJSON(c, httpStatus(o.Verdict()), s.encodeDeep(o))
	}
	s.holdFleetWide(ctx, &h)
	return s.respond(c, q, strings.TrimPrefix(c.Path(), "/"), h)
}

// livez serves /livez from the shallow check, waiting up to the caller's ?timeout (default
// Config.ShallowTimeout).
func (s *Server) livez(c echo.Context) error {
	q, err := parseRawQuery(c.Request().URL.RawQuery, s.cfg.ShallowTimeout)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), q.timeout)
	defer cancel()
	start := time.Now()
	rs := s.cfg.Shallow.Check(ctx)
	return s.respond(c, q, "livez", shallowHealth(rs, time.Since(start)))
}

// respond writes h: 200 unless it failed, JSON or ?verbose text.
func (s *Server) respond(c echo.Context, q query, name string, h Health) error {
	status := httpStatus(h.Status)
	if q.verbose {
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.String(status, h.Text(name))
	}
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return s.respondJSON(c, status, append(b, '\n'))
}

// respondJSON writes an encoded JSON body, never to be cached.
func (s *Server) respondJSON(c echo.Context, status int, body []byte) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(status, echo.MIMEApplicationJSON, body)
}

// httpStatus is the HTTP status for a health status: 503 for "fail", 200 otherwise ("warn"
// passes: the failure threshold is not reached).
func httpStatus(status string) int {
	if status == "fail" {
		return http.StatusServiceUnavailable
	}
	return http.StatusOK
}
