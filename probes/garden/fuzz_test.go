package garden

import (
	"errors"
	"strings"
	"testing"

	"github.com/deepprobe/deepprobe/probes/internal/wire"
)

// FuzzDecodeResponse feeds arbitrary answers to the decoders: no panic, every error says
// something, and only Garden's not-found answers (404 ContainerNotFoundError, containerd's 500 naming the handle asked about) and its concurrent-destroy answer can pass for "already gone".
func FuzzDecodeResponse(f *testing.F) {
	f.Add(404, []byte(`{"Type":"ContainerNotFoundError","Message":"unknown handle: h","Handle":"h","ProcessID":"","Binary":""}`+"\n"))
	f.Add(500, []byte(`{"Type":"","Message":"invalid character 'o' in literal null (expecting 'u')","Handle":"","ProcessID":"","Binary":""}`))
	f.Add(404, []byte("404 page not found\n"))
	f.Add(200, []byte(`{"Handles":["a","b"]}`))
	f.Add(200, []byte(`{"Handle":"x"} trailing`))
	f.Add(502, []byte{0xff, 0xfe, '<', 'h'})
	f.Add(500, []byte(`{"Type":"","Message":"get container: container \"h\" in namespace \"concourse\": not found","Handle":"","ProcessID":"","Binary":""}`))
	f.Add(500, []byte(`{"Type":"","Message":"get container: container \"other\" in namespace \"concourse\": not found","Handle":"","ProcessID":"","Binary":""}`))
	f.Add(500, []byte(`{"Type":"","Message":"container already being destroyed","Handle":"","ProcessID":"","Binary":""}`))
	f.Add(307, []byte(""))
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
			gone := (status == 404 && err.Type == TypeContainerNotFound) ||
				(status == 500 && err.Type == "" && (err.Message == msgBeingDestroyed || strings.Contains(err.Message, `container "h" in namespace`)))
			if errors.Is(err, ErrGone) && !gone {
				t.Fatalf("status %d type %q message %q matched ErrGone", status, err.Type, err.Message)
			}
			return
		}
		var l listResponse
		_ = wire.DecodeStrict(body, &l)
		var c createResponse
		_ = wire.DecodeStrict(body, &c)
		var p map[string]string
		_ = wire.DecodeStrict(body, &p)
	})
}
