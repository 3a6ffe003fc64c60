package server

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// ping answers 200 {"status":"pass","check":"ping"} while the server serves and Config.Alive
// says deepprobe's background parts run, and 503 with Alive's error otherwise. It never calls
// Garden or Baggageclaim, so a kubelet probe on it restarts deepprobe when deepprobe itself is
// stuck, never because the worker is; it is open even with a token, since it tells nothing
// but that deepprobe is alive.
func (s *Server) ping(c echo.Context) error {
	type answer struct {
		Status string `json:"status"`
		Check  string `json:"check"`
		Error  string `json:"error,omitempty"`
	}
	status, a := http.StatusOK, answer{Status: "pass", Check: "ping"}
	if s.cfg.Alive != nil {
		if err := s.cfg.Alive(); err != nil {
			status, a = http.StatusServiceUnavailable, answer{Status: "fail", Check: "ping", Error: err.Error()}
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(status, a)
}
