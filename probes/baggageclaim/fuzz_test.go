package baggageclaim

import (
	"errors"
	"testing"

	"github.com/deepprobe/deepprobe/probes/internal/wire"
)

// FuzzDecodeResponse feeds arbitrary answers to the decoders: no panic, every error says
// something, and only a 404 with Baggageclaim's error body can pass for "already gone".
func FuzzDecodeResponse(f *testing.F) {
	f.Add(404, []byte(`{"error":"failed to destroy volume"}`+"\n"))
	f.Add(422, []byte(`{"error":"a property may only have a single value: k has many (a, b)"}`))
	f.Add(404, []byte("404 page not found\n"))
	f.Add(200, []byte(`[{"handle":"h","path":"/p","properties":null,"privileged":false}]`))
	f.Add(201, []byte(`{"handle":"h","path":"/p","properties":{"a":"b"}}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			return
		}
		resp := wire.Response{StatusCode: status, Body: body}
		if !resp.OK() {
			err := api.DecodeError(wire.Request{Route: RouteDestroy, Params: []string{"h"}}, resp)
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			if errors.Is(err, ErrGone) && (status != 404 || err.Message == "") {
				t.Fatalf("status %d matched ErrGone", status)
			}
			return
		}
		var vs []Volume
		_ = wire.DecodeStrict(body, &vs)
		var v Volume
		_ = wire.DecodeStrict(body, &v)
	})
}
