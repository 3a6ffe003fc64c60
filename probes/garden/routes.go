package garden

import (
	"net/http"

	"github.com/deepprobe/deepprobe/probes/routes"
)

// Route names, as used in errors, simulator fault knobs and call counters.
const (
	RoutePing       = "ping"
	RouteCapacity   = "capacity"
	RouteCreate     = "create"
	RouteList       = "list"
	RouteInfo       = "info"
	RouteProperties = "properties"
	RouteGraceTime  = "grace_time"
	RouteRun        = "run"
	RouteDestroy    = "destroy"
)

// Routes is the part of Garden's HTTP API that deepprobe uses or simulates. The client never
// calls capacity or info (Concourse's containerd runtime answers both 500 "not implemented");
// the simulators answer them as each runtime does.
var Routes = routes.Table{
	{Name: RoutePing, Method: http.MethodGet, Path: "/ping"},
	{Name: RouteCapacity, Method: http.MethodGet, Path: "/capacity"},
	{Name: RouteCreate, Method: http.MethodPost, Path: "/containers"},
	{Name: RouteList, Method: http.MethodGet, Path: "/containers"},
	{Name: RouteInfo, Method: http.MethodGet, Path: "/containers/:handle/info"},
	{Name: RouteProperties, Method: http.MethodGet, Path: "/containers/:handle/properties"},
	{Name: RouteGraceTime, Method: http.MethodPut, Path: "/containers/:handle/grace_time"},
	{Name: RouteRun, Method: http.MethodPost, Path: "/containers/:handle/processes"},
	{Name: RouteDestroy, Method: http.MethodDelete, Path: "/containers/:handle"},
}
