package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/valyala/fasthttp"
)

// h1Transport speaks HTTP/1.1 to an http:// or https:// member with
// fasthttp's request writer and response parser over barkeep's own
// connection pool (connPool, which takes no lock): it writes the request
// and reads the response headers itself so that it can follow each
// connection (hung members, stale keep-alive connections) and decide per
// response whether the body is read whole or streamed.
type h1Transport struct {
	pool    *connPool
	timeout time.Duration // bounds each write and each wait for response bytes
	reuse   bool          // keep connections alive between requests
	buffer  int           // bodies of known length up to this are read whole
}

func newH1Transport(s transportSettings, conns *connSet, buffer int) *h1Transport {
	return &h1Transport{pool: newConnPool(s, conns), timeout: s.timeout,
		reuse: !s.disableReuse, buffer: buffer}
}

func (t *h1Transport) closeIdle() { t.pool.closeIdle() }

// maxStale bounds how many closed keep-alive connections one request
// skips before it dials a new one.
const maxStale = 4

// errInterim is returned for a member that sent too many 1xx responses.
var errInterim = errors.New("proxy: too many interim (1xx) responses from the member")

func (t *h1Transport) roundTrip(x *exchange) error {
	// On the HTTP/1.x edge the member's response header is read straight
	// into the client's response (as fasthttp's own proxying does), with
	// a body small enough to be read whole; a streamed body is read
	// through x.mresp, so the exchange can pass it on (see Read).
	req, resp := x.req, x.mresp
	if x.ctx != nil {
		resp = x.resp
	}
	x.hdr = resp
	if !t.reuse {
		req.SetConnectionClose()
	}
	now := time.Now().UnixNano() // connection times are wall clock
	mc, err := t.pool.get()
	// A pooled connection the member closed while it was idle is dropped
	// before anything is sent on it (httpd checks the same before reuse).
	for i := 0; err == nil && i < maxStale && mc.stale(now); i++ {
		mc.Close()
		mc, err = t.pool.get()
	}
	if err != nil {
		return err
	}
	mc.begin(now)
	x.mc = mc
	// A request that fits in the socket's send buffer cannot block on a
	// member that stopped reading; only bigger ones need a deadline.
	if t.timeout > 0 && (req.IsBodyStream() || len(req.Body()) > 4<<10) {
		mc.SetWriteDeadline(time.Now().Add(t.timeout))
		mc.writeDeadline = true
	} else if mc.writeDeadline {
		mc.SetWriteDeadline(time.Time{})
		mc.writeDeadline = false
	}
	br, bw := mc.buffers()
	err = req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		mc.Close()
		return err
	}
	err = x.awaitResponse(mc, br, now, t.timeout)
	first := time.Now() // the first response byte
	if err == nil {
		if t.timeout > 0 {
			mc.SetReadDeadline(first.Add(t.timeout))
		}
		err = readHeader(resp, br)
	}
	if err != nil {
		mc.Close()
		return err
	}
	mc.responding()
	mc.set.lastResponse.Store(first.UnixNano())
	if resp.StatusCode() == fasthttp.StatusSwitchingProtocols {
		if x.flags&upgradeWebSocket == 0 || x.ctx == nil {
			mc.Close()
			return errUnasked101
		}
		// The timeout bounded the wait for the 101, not the tunnel's life.
		mc.SetDeadline(time.Time{})
		mc.detach()
		x.tunnel = &tunnel{conn: mc, br: br, release: func() { mc.Close() }}
		return nil
	}
	if req.Header.IsHead() {
		resp.SkipBody = true
	}
	closeConn := req.ConnectionClose() || resp.ConnectionClose()
	cl := resp.Header.ContentLength()
	switch {
	case resp.SkipBody || noBody(resp.StatusCode()) || cl == 0:
		// Nothing to read.
	case cl > 0 && cl <= t.buffer:
		if err := resp.ReadBody(br, t.buffer); err != nil {
			mc.Close()
			return &bodyError{err}
		}
	default:
		body := x.mresp
		if body != resp {
			body.Header.SetContentLength(cl) // what the stream reads by
		}
		body.StreamBody = true
		body.ReadBody(br, 0) //nolint:errcheck // with StreamBody it only sets up the stream
		x.streamFrom(body.BodyStream(), mc, t.timeout, func(clean bool) {
			body.CloseBodyStream() //nolint:errcheck
			if clean && !closeConn {
				t.putBack(mc, time.Now().UnixNano())
			} else {
				mc.Close()
			}
		})
		return nil
	}
	if closeConn {
		mc.Close()
	} else {
		t.putBack(mc, first.UnixNano())
	}
	x.memberDone()
	return nil
}

// putBack gives mc back to the pool once its response ended at now (Unix
// ns), or closes it when the member sent more than that response (a body
// on a HEAD answer, bytes beyond its Content-Length): what is left in its
// read buffer would be taken for the next request's response.
func (t *h1Transport) putBack(mc *memberConn, now int64) {
	if mc.br != nil && mc.br.Buffered() > 0 {
		mc.Close()
		return
	}
	mc.done(now)
	t.pool.put(mc)
}

// awaitTick is how often a request waiting for its first response byte
// looks whether it should stop waiting.
const awaitTick = 100 * time.Millisecond

// awaitResponse waits for the first byte of the member's response on br,
// up to timeout after sent (0: no limit). Every awaitTick it looks up:
// when the member has gone into error state, failed its health check or
// reported Load -1 over MCMP since the request was sent (its agent found
// the backend broken), the request is withdrawn (errMemberHung) so it can go elsewhere; when the
// client has closed its connection (checked after a second), it is
// withdrawn as well (errClientGone). The request's own goroutine does
// this, so no other goroutine touches its connection.
func (x *exchange) awaitResponse(conn net.Conn, br *bufio.Reader, sent int64, timeout time.Duration) error {
	var end time.Time
	if timeout > 0 {
		end = time.Unix(0, sent).Add(timeout)
	}
	wake := time.Unix(0, sent).Add(awaitTick)
	// A node already reporting Load -1 still serves its sessions (sticky
	// requests go there on purpose): only a report that comes while the
	// request waits withdraws it.
	brokenAtSend := x.member.Stats.Load.Load() == -1
	for {
		if !end.IsZero() && end.Before(wake) {
			wake = end
		}
		conn.SetReadDeadline(wake)
		_, err := br.Peek(1)
		if err == nil {
			return nil
		}
		if !os.IsTimeout(err) {
			return err
		}
		now := time.Now()
		if !end.IsZero() && !now.Before(end) {
			return err // the member's timeout
		}
		if err := x.withdrawal(now, sent, brokenAtSend); err != nil {
			return err
		}
		wake = now.Add(awaitTick)
	}
}

// readHeader reads the response headers, skipping interim (1xx) responses
// other than 101, as fasthttp's Response.ReadLimitBody does.
func readHeader(resp *fasthttp.Response, br *bufio.Reader) error {
	if err := resp.Header.Read(br); err != nil {
		return err
	}
	for n := 0; ; n++ {
		if s := resp.StatusCode(); s < 100 || s > 199 || s == fasthttp.StatusSwitchingProtocols {
			return nil
		}
		if n >= 10 {
			return errInterim
		}
		if err := resp.Header.Read(br); err != nil {
			return err
		}
	}
}

// noBody reports the statuses whose responses have no body.
func noBody(status int) bool {
	return status < 200 || status == fasthttp.StatusNoContent || status == fasthttp.StatusNotModified
}

// bodyError wraps a failure while reading a member's response body that
// was read whole: the member aborted its response after the headers.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return fmt.Sprintf("read member response body: %v", e.err) }
func (e *bodyError) Unwrap() error { return e.err }
