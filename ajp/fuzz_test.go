package ajp_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/barkeep-lb/barkeep/ajp"
)

// FuzzResponse feeds arbitrary bytes to the transport as the container's
// side of an exchange: RoundTrip and the body must end with a response or
// an error, never a panic or a hang.
func FuzzResponse(f *testing.F) {
	pkt := func(p []byte) []byte { return ajp.AppendPacket(nil, ajp.MagicFromContainer, p) }
	ok := append(pkt((&ajp.SendHeaders{Status: 200, Headers: []ajp.Header{{"Content-Length", "2"}, {"X", "y"}}}).AppendPayload(nil)),
		append(pkt(ajp.AppendBodyChunk(nil, []byte("hi"))), pkt([]byte{ajp.CodeEndResponse, 1})...)...)
	f.Add(ok)
	f.Add(append(pkt([]byte{ajp.CodeGetBodyChunk, 0x1f, 0xfa}), ok...))
	f.Add(pkt([]byte{ajp.CodeSendHeaders, 0, 200}))
	f.Add(pkt([]byte{ajp.CodeEndResponse, 0}))
	f.Add([]byte("AB\xff\xff"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, stream []byte) {
		tr := &ajp.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
			client, server := net.Pipe()
			go func() {
				defer server.Close()
				go io.Copy(io.Discard, server)
				server.Write(stream)
			}()
			return client, nil
		}}
		req, _ := http.NewRequest("POST", "ajp://container/", nil)
		res, err := tr.RoundTrip(req)
		if err != nil {
			return
		}
		if res.StatusCode < 100 || res.StatusCode > 999 {
			t.Fatalf("status %d", res.StatusCode)
		}
		io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
	})
}
