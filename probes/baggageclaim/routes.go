package baggageclaim

import (
	"net/http"

	"github.com/deepprobe/deepprobe/probes/routes"
)

// Route names, as used in errors, simulator fault knobs and call counters.
const (
	RouteCreate      = "create"
	RouteGet         = "get"
	RouteList        = "list"
	RouteSetProperty = "set_property"
	RouteStreamIn    = "stream_in"
	RouteDestroy     = "destroy"
)

// Routes is the part of Baggageclaim's HTTP API that deepprobe uses or simulates.
var Routes = routes.Table{
	{Name: RouteCreate, Method: http.MethodPost, Path: "/volumes"},
	{Name: RouteList, Method: http.MethodGet, Path: "/volumes"},
	{Name: RouteGet, Method: http.MethodGet, Path: "/volumes/:handle"},
	{Name: RouteSetProperty, Method: http.MethodPut, Path: "/volumes/:handle/properties/:name"},
	{Name: RouteStreamIn, Method: http.MethodPut, Path: "/volumes/:handle/stream-in"},
	{Name: RouteDestroy, Method: http.MethodDelete, Path: "/volumes/:handle"},
}
