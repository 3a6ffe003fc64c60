package server

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// requireToken checks the bearer token when one is configured.
func (s *Server) requireToken(next echo.HandlerFunc) echo.HandlerFunc {
	if s.cfg.AuthToken == "" {
		return next
	}
	want := []byte(s.cfg.AuthToken)
	return func(c echo.Context) error {
		// The scheme is case-insensitive (RFC 7235); the token is compared in constant time.
		scheme, got, _ := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(strings.TrimLeft(got, " ")), want) != 1 {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="deepprobe"`)
			return echo.NewHTTPError(http.StatusUnauthorized, "missing or wrong bearer token")
		}
		return next(c)
	}
}
