package faults_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/deepprobe/deepprobe/workersim/faults"
)

func TestAdminHandler(t *testing.T) {
	in := faults.NewInjector([]string{"create", "destroy"}, faults.Responses{
		Error: func(w http.ResponseWriter, status int, msg string) { w.WriteHeader(status) },
	})
	admin := httptest.NewServer(in.AdminHandler())
	defer admin.Close()

	do := func(method, path, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, admin.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	tests := []struct {
		method, path, body string
		want               int
	}{
		{"PUT", "/faults/create", `{"latency":"250ms","status":503}`, 204},
		{"PUT", "/faults/destroy", `{"latency":1000}`, 204},
		{"PUT", "/faults/nope", `{"hang":true}`, 404},
		{"PUT", "/faults/create", `{"latency":"soon"}`, 400},
		{"PUT", "/faults/create", `{"hnag":true}`, 400},
		{"PUT", "/faults/create", `{"disk_full":true}`, 400},
		{"DELETE", "/faults/nope", "", 404},
	}
	for _, tt := range tests {
		if got := do(tt.method, tt.path, tt.body).StatusCode; got != tt.want {
			t.Errorf("%s %s %s: status %d, want %d", tt.method, tt.path, tt.body, got, tt.want)
		}
	}
	var got map[string]faults.Fault
	if err := json.NewDecoder(do("GET", "/faults", "").Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got["create"].Latency != faults.Duration(250*time.Millisecond) || got["create"].Status != 503 || got["destroy"].Latency != 1000 {
		t.Errorf("faults = %+v", got)
	}

	// A request through the injector is counted and faulted.
	rec := httptest.NewRecorder()
	in.Clear("create")
	_ = in.Set("create", faults.Fault{Status: 500, Body: "boom", ContentType: "text/plain"})
	if !in.Intercept("create", rec, httptest.NewRequest("POST", "/", nil)) || rec.Code != 500 || rec.Body.String() != "boom" {
		t.Errorf("intercept: %d %q", rec.Code, rec.Body.String())
	}
	var calls map[string]int64
	_ = json.NewDecoder(do("GET", "/calls", "").Body).Decode(&calls)
	if calls["create"] != 1 || calls["destroy"] != 0 {
		t.Errorf("calls = %v", calls)
	}
	do("DELETE", "/calls", "")
	do("DELETE", "/faults", "")
	if len(in.Faults()) != 0 || in.Calls()["create"] != 0 {
		t.Errorf("not cleared: %v %v", in.Faults(), in.Calls())
	}
}
