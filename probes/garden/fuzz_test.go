package garden

import (
	"errors"
	"testing"

	"github.com/deepprobe/deepprobe/probes/internal/wire"
)

// FuzzDecodeResponse feeds arbitrary answers to the decoders: no panic, every error says
// something, and only a 404 ContainerNotFoundError can pass for "already gone".
func FuzzDecodeResponse(f *testing.F) {
	f.Add(404, []byte(`{"Type":"ContainerNotFoundError","Message":"unknown handle: h","Handle":"h","ProcessID":"","Binary":""}`+"\n"))
	f.Add(500, []byte(`{"Type":"","Message":"invalid character 'o' in literal null (expecting 'u')","Handle":"","ProcessID":"","Binary":""}`))
	f.Add(404, []byte("404 page not found\n"))
	f.Add(200, []byte(`{"Handles":["a","b"]}`))
	f.Add(200, []byte(`{"Handle":"x"} trailing`))
	f.Add(502, []byte{0xff, 0xfe, '<', 'h'})
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			return
		}
		resp := wire.Response{StatusCode: status, Body: body}
		if !resp.OK() {
			err := decodeError(RouteDestroy, resp)
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			if errors.Is(err, ErrNotFound) && (status != 404 || err.Type != TypeContainerNotFound) {
				t.Fatalf("status %d type %q matched ErrNotFound", status, err.Type)
			}
			return
		}
		var l listResponse
		_ = decode(RouteList, body, &l)
		var c createResponse
		_ = decode(RouteCreate, body, &c)
		var p map[string]string
		_ = decode(RouteProperties, body, &p)
	})
}
