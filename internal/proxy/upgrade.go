package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"

	"github.com/valyala/fasthttp"
)

// errUnasked101 is a member's 101 Switching Protocols to a request that
// asked for no WebSocket upgrade: the connection is not handed over.
var errUnasked101 = errors.New("proxy: member switched protocols unasked")

// tunnel is a member connection that switched to the WebSocket protocol.
type tunnel struct {
	conn    net.Conn
	br      *bufio.Reader // may hold bytes the member sent after its 101
	release func()
}

// switchProtocols relays a member's 101 to a client that asked for a
// WebSocket upgrade, then joins the two connections until either side
// closes. The exchange finishes when the tunnel does.
func (x *exchange) switchProtocols() {
	r := x.resp
	if x.hdr != r {
		r.SetStatusCode(fasthttp.StatusSwitchingProtocols)
		copyResponseHeaders(&r.Header, &x.hdr.Header)
	} else {
		removeResponseHopByHop(&r.Header)
	}
	r.Header.Set(fasthttp.HeaderConnection, "Upgrade")
	r.Header.Set(fasthttp.HeaderUpgrade, "websocket")
	t := x.tunnel
	x.hijacked = true
	x.memberDone()
	x.ctx.Hijack(func(client net.Conn) {
		defer x.h.finish(x)
		defer t.release()
		var wg sync.WaitGroup
		wg.Go(func() {
			io.Copy(t.conn, client) //nolint:errcheck // either side closing ends the tunnel
			closeWrite(t.conn)
		})
		n, _ := io.Copy(client, t.br)
		x.bytes += n
		closeWrite(client)
		wg.Wait()
	})
}

// closeWrite half-closes c when it can, so the other side sees the end of
// the stream; otherwise it closes c.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite() //nolint:errcheck
		return
	}
	c.Close()
}
