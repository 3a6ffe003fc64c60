package routes

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Route is one call of an API: a name used in errors, metrics and fault knobs, an HTTP method,
// and a path pattern whose segments starting with ':' are parameters.
type Route struct {
	Name   string
	Method string
	Path   string
}

// BuildPath builds the request path of r, escaping each parameter as a single path segment. It
// returns an error if the number of parameters does not match the pattern or one is empty.
func (r Route) BuildPath(params ...string) (string, error) {
	segments := strings.Split(r.Path, "/")
	next := 0
	for i, s := range segments {
		if !strings.HasPrefix(s, ":") {
			continue
		}
		if next >= len(params) {
			return "", fmt.Errorf("route %s: missing parameter %s", r.Name, s[1:])
		}
		if params[next] == "" {
			return "", fmt.Errorf("route %s: parameter %s must not be empty", r.Name, s[1:])
		}
		segments[i] = url.PathEscape(params[next])
		next++
	}
	if next != len(params) {
		return "", fmt.Errorf("route %s: %d parameters given, pattern %s takes %d", r.Name, len(params), r.Path, next)
	}
	return strings.Join(segments, "/"), nil
}

// Params are the decoded path parameters of a matched request, by name.
type Params map[string]string

// match reports whether the escaped request path fits r's pattern, and its parameters.
func (r Route) match(escapedPath string) (Params, bool) {
	want := strings.Split(r.Path, "/")
	got := strings.Split(escapedPath, "/")
	if len(want) != len(got) {
		return nil, false
	}
	var params Params
	for i, w := range want {
		if strings.HasPrefix(w, ":") {
			v, err := url.PathUnescape(got[i])
			if err != nil || v == "" {
				return nil, false
			}
			if params == nil {
				params = Params{}
			}
			params[w[1:]] = v
			continue
		}
		if w != got[i] {
			return nil, false
		}
	}
	return params, true
}

// Table is the list of an API's routes.
type Table []Route

// Find returns the route called name. It panics on an unknown name: the table is fixed at
// compile time, so that is a programming error.
func (t Table) Find(name string) Route {
	for _, r := range t {
		if r.Name == name {
			return r
		}
	}
	panic("routes: no route named " + name)
}

// Names returns the route names in table order.
func (t Table) Names() []string {
	names := make([]string, len(t))
	for i, r := range t {
		names[i] = r.Name
	}
	return names
}

// HandlerFunc serves one matched route.
type HandlerFunc func(w http.ResponseWriter, r *http.Request, p Params)

// Interceptor runs before a route's handler; it returns true when it wrote the response itself
// (an injected fault), in which case the handler does not run.
type Interceptor func(route string, w http.ResponseWriter, r *http.Request) bool

// Mux dispatches requests by a Table. Unmatched paths get Go's plain-text "404 page not found",
// which is what the real servers' routers answer; a known path with another method gets 405.
type Mux struct {
	table     Table
	handlers  map[string]HandlerFunc
	intercept Interceptor
}

// NewMux returns a Mux for table; every route must have a handler in handlers.
func NewMux(table Table, handlers map[string]HandlerFunc, intercept Interceptor) *Mux {
	for _, r := range table {
		if handlers[r.Name] == nil {
			panic("routes: no handler for route " + r.Name)
		}
	}
	return &Mux{table: table, handlers: handlers, intercept: intercept}
}

// ServeHTTP implements http.Handler.
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	var allowed []string
	for _, route := range m.table {
		params, ok := route.match(path)
		if !ok {
			continue
		}
		if route.Method != r.Method {
			allowed = append(allowed, route.Method)
			continue
		}
		if m.intercept != nil && m.intercept(route.Name, w, r) {
			return
		}
		m.handlers[route.Name](w, r, params)
		return
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	http.NotFound(w, r)
}
