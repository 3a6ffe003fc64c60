package routes

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

var table = Table{
	{Name: "list", Method: http.MethodGet, Path: "/things"},
	{Name: "get", Method: http.MethodGet, Path: "/things/:handle"},
	{Name: "delete", Method: http.MethodDelete, Path: "/things/:handle"},
	{Name: "prop", Method: http.MethodPut, Path: "/things/:handle/props/:name"},
}

func TestBuildPath(t *testing.T) {
	tests := []struct {
		route   string
		params  []string
		want    string
		wantErr bool
	}{
		{"list", nil, "/things", false},
		{"get", []string{"a b/c"}, "/things/a%20b%2Fc", false},
		{"prop", []string{"h", "n"}, "/things/h/props/n", false},
		{"get", nil, "", true},
		{"get", []string{""}, "", true},
		{"list", []string{"x"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.route+"/"+tt.want, func(t *testing.T) {
			got, err := table.Find(tt.route).BuildPath(tt.params...)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("path = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMuxDispatch(t *testing.T) {
	var gotRoute string
	var gotParams Params
	handler := func(name string) HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request, p Params) {
			gotRoute, gotParams = name, p
		}
	}
	handlers := map[string]HandlerFunc{}
	for _, n := range table.Names() {
		handlers[n] = handler(n)
	}
	intercepted := ""
	mux := NewMux(table, handlers, func(route string, w http.ResponseWriter, r *http.Request) bool {
		intercepted = route
		return r.Header.Get("X-Intercept") != ""
	})

	tests := []struct {
		method, target string
		wantStatus     int
		wantRoute      string
		wantParams     Params
	}{
		{"GET", "/things", 200, "list", nil},
		{"GET", "/things/a%20b%2Fc", 200, "get", Params{"handle": "a b/c"}},
		{"DELETE", "/things/h", 200, "delete", Params{"handle": "h"}},
		{"PUT", "/things/h/props/n", 200, "prop", Params{"handle": "h", "name": "n"}},
		{"POST", "/things/h", 405, "", nil},
		{"GET", "/nope", 404, "", nil},
		{"GET", "/things/", 404, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+tt.target, func(t *testing.T) {
			gotRoute, gotParams, intercepted = "", nil, ""
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.target, nil))
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if gotRoute != tt.wantRoute || intercepted != tt.wantRoute {
				t.Errorf("route = %q (intercepted %q), want %q", gotRoute, intercepted, tt.wantRoute)
			}
			for k, v := range tt.wantParams {
				if gotParams[k] != v {
					t.Errorf("param %s = %q, want %q", k, gotParams[k], v)
				}
			}
		})
	}

	t.Run("interceptor answers", func(t *testing.T) {
		gotRoute = ""
		req := httptest.NewRequest("GET", "/things", nil)
		req.Header.Set("X-Intercept", "1")
		mux.ServeHTTP(httptest.NewRecorder(), req)
		if gotRoute != "" {
			t.Errorf("handler ran although the interceptor answered")
		}
	})
}
