package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/barkeep-lb/barkeep/internal/health"
	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/internal/session"
)

// forward sends the request to m and, when that fails before any response
// byte and another attempt is safe, to further members, up to the
// balancer's maxattempts; then relays the response or answers the error.
func (x *exchange) forward(m *registry.Member) {
	x.prepare()
	for {
		x.member = m
		x.attemptAt = x.h.now()
		x.aim(m)
		m.Stats.Elected.Add(1)
		if x.row != nil {
			x.counted = x.row.Context
			x.counted.Requests.Add(1)
		}
		err := x.h.pool.get(m).rt.roundTrip(x)
		if !x.streamed {
			if n := len(x.req.Body()); n > 0 {
				m.Stats.Transferred.Add(uint64(n))
			}
		}
		if err == nil {
			x.countSticky(m)
			x.fault = FaultNone
			status := x.hdr.StatusCode()
			m.Stats.Responses.Add(status)
			if x.bal.FailOnStatus.Has(status) {
				m.Stats.ErrorsByClass.Add(registry.ErrorStatus)
				x.fail(m, "failonstatus", fmt.Errorf("status %d", status))
			} else {
				health.Succeed(m, x.start.UnixNano()) // ends a retry period that was over when the request came
			}
			x.relay()
			return
		}
		x.release()
		if x.hdr == x.resp {
			x.resetResponse() // a failed attempt may have left a header there
		}
		fault, status := Classify(err)
		x.fault = fault
		x.judge(m, fault, err)
		next := x.retryMember(fault)
		if next == nil {
			x.countSticky(nil)
			if fault != FaultClient || status != StatusClientClosedRequest {
				x.answer(status, "")
			} else {
				x.status = status
			}
			if fault == FaultClient {
				x.resp.SetConnectionClose()
			}
			return
		}
		x.tried = append(x.tried, m)
		x.retries++
		x.bal.Stats.Failovers.Add(1)
		m = next
	}
}

// judge counts a failed attempt against m and decides whether m goes into
// error state: connection failures and resets do; a timeout does when the
// balancer has failontimeout, or when other requests wait on m too and it
// has sent no response on any connection for half its timeout (a hung
// member, not a slow request). Once m is in error state, its other
// waiting requests withdraw within awaitTick and go elsewhere.
func (x *exchange) judge(m *registry.Member, fault Fault, err error) {
	if errors.Is(err, errMemberMax) {
		return // busy, not broken: the request may go elsewhere
	}
	if errors.Is(err, errMemberHung) {
		// Withdrawn while waiting (for the first response byte, or for an
		// ajp member's CPONG): whatever made barkeep withdraw it already
		// put the member out, and a node at Load -1 keeps its sessions, so
		// this never puts the member in error state.
		m.Stats.ErrorsByClass.Add(registry.ErrorTimeout)
		health.Count(m)
		return
	}
	if c, ok := fault.errorClass(); ok {
		m.Stats.ErrorsByClass.Add(c) // every fault but the client's adds to Errors below
	}
	switch fault {
	case FaultClient:
		return
	case FaultTimeout:
		// Hung rather than slow: other requests wait on it too, and it
		// has sent no response for at least half the timeout.
		conns := x.h.pool.get(m).conns
		_, others := conns.oldestWaiting()
		silentSince := time.Now().Add(-m.Timeout / 2).UnixNano()
		x.hung = m.InError(x.h.now().UnixNano()) || others > 0 && conns.lastResponse.Load() < silentSince
		if !x.bal.FailOnTimeout && !x.hung {
			health.Count(m)
			return
		}
	}
	if !fault.MarksError() {
		health.Count(m)
		return
	}
	x.fail(m, fault.String(), err)
}

// retryMember returns the member for the next attempt after a fault, or nil
// when the request must not or cannot be retried: no attempts left, a
// fault after which resending is unsafe, or no other usable member.
func (x *exchange) retryMember(fault Fault) *registry.Member {
	if x.retries >= x.bal.EffectiveMaxAttempts() {
		return nil
	}
	switch fault {
	case FaultConnect:
		// Nothing was sent: safe for any method, unless the client's
		// body was read.
		if x.streamed && x.body.n > 0 {
			return nil
		}
	case FaultReset, FaultHung, FaultTimeout:
		// The request went out: resend only what is idempotent and whose
		// body (if any) is still at hand. A timeout is retried only when
		// the member was judged hung.
		if fault == FaultTimeout && !x.hung {
			return nil
		}
		if x.streamed || !idempotent(x.req.Header.Method()) {
			return nil
		}
	default:
		return nil
	}
	return x.next()
}

// prepare edits the client's request into the member's, once for all
// attempts: the normalised path, hop-by-hop headers removed, the
// X-Forwarded-* headers, and the body made replayable when it is small.
func (x *exchange) prepare() {
	req := x.req
	h := &req.Header
	x.flags.removeHopByHop(h)
	h.ResetConnectionClose()
	if x.flags&upgradeWebSocket != 0 && x.ctx != nil {
		h.Set(fasthttp.HeaderConnection, "Upgrade")
		h.Set(fasthttp.HeaderUpgrade, "websocket")
	}
	if !h.IsHTTP11() {
		h.SetProtocol("HTTP/1.1")
	}
	uri := req.URI()
	uri.DisablePathNormalizing = true
	if path := x.memberPath(); !bytes.Equal(path, uri.PathOriginal()) {
		uri.SetPathBytes(path)
	}
	if x.query != b2s(uri.QueryString()) {
		uri.SetQueryString(x.query)
	}
	req.UseHostHeader = true

	// X-Forwarded-For appends the client's address, as httpd does; Host and
	// Proto describe this hop.
	x.buf = x.buf[:0]
	if prior := h.Peek("X-Forwarded-For"); len(prior) > 0 {
		x.buf = append(append(x.buf, prior...), ", "...)
	}
	x.buf = appendIP(x.buf, x.remote)
	// Canonical names and values that need no cleaning (an address, the
	// Host header fasthttp validated): SetCanonical skips both steps.
	h.SetCanonical(headerXFF, x.buf)
	h.SetCanonical(headerXFH, x.hostB)
	if x.tls {
		h.SetCanonical(headerXFP, protoHTTPS)
	} else {
		h.SetCanonical(headerXFP, protoHTTP)
	}
	x.prepareBody()
}

var (
	headerXFF, headerXFH, headerXFP = []byte("X-Forwarded-For"), []byte("X-Forwarded-Host"), []byte("X-Forwarded-Proto")
	protoHTTP, protoHTTPS           = []byte("http"), []byte("https")
)

// memberPath returns the normalised path as the member gets it: under the
// route's target_path (httpd's ProxyPass /m balancer://b/internal/public),
// with the path parameters of the route's last segment kept. The path is
// normalised, so nothing can climb out of target_path.
func (x *exchange) memberPath() []byte {
	fwd := x.path.fwd
	rt := x.target.Route
	if rt == nil || rt.TargetPath == rt.Path {
		return fwd
	}
	// fwd[:pos] holds the route's segments (they may carry path
	// parameters), fwd[pos:] the rest, empty or starting with '/'.
	pos := 0
	if rt.Path != "/" {
		for n := strings.Count(rt.Path, "/"); n > 0; n-- {
			j := bytes.IndexByte(fwd[pos+1:], '/')
			if j < 0 {
				pos = len(fwd)
				break
			}
			pos += 1 + j
		}
	}
	var params []byte
	if pos > 0 {
		last := fwd[bytes.LastIndexByte(fwd[:pos], '/')+1 : pos]
		if i := bytes.IndexByte(last, ';'); i >= 0 {
			params = last[i:]
		}
	}
	out := x.buf[:0]
	if rt.TargetPath != "/" {
		out = append(out, rt.TargetPath...)
	}
	out = append(out, params...)
	out = append(out, fwd[pos:]...)
	if len(out) == 0 || out[0] != '/' {
		out = append(out[:0], append([]byte{'/'}, out...)...)
	}
	x.buf = out
	return out
}

// prepareBody makes a body of known length up to Options.BufferBody
// replayable (it is read before the first attempt, and a failed attempt
// may be sent again), and wraps a larger or chunked one so its reading is
// counted and bounded by the minimum rate.
func (x *exchange) prepareBody() {
	req := x.req
	if !req.IsBodyStream() {
		return
	}
	stream := req.BodyStream()
	cl := req.Header.ContentLength()
	if cl == 0 || cl == -2 {
		return
	}
	if cl > 0 && cl <= x.h.bufferBody {
		x.bodyBuf = append(x.bodyBuf[:0], make([]byte, cl)...)[:cl]
		if _, err := io.ReadFull(stream, x.bodyBuf); err == nil {
			req.SetBodyRaw(x.bodyBuf)
			return
		}
		// Fall through: the stream reports the failure to the transport.
	}
	x.streamed = true
	x.body.init(x, stream)
	req.SetBodyStream(&x.body, cl)
}

// aim points the member's request at m: its Host header (the member's
// host:port unless the route preserves the client's, or m is an ajp member,
// which carries the client's host itself, as mod_proxy_ajp does).
func (x *exchange) aim(m *registry.Member) {
	x.mc, x.mbody, x.mrelease, x.mclean, x.hung, x.tunnel = nil, nil, nil, false, false, nil
	if (x.target.Route != nil && x.target.Route.PreserveHost) || m.URL.Scheme == "ajp" {
		x.req.Header.SetHostBytes(x.hostB)
	} else {
		x.req.Header.SetHost(m.URL.Host)
	}
}

// stripSession removes the session id from the member's request
// (StickySessionRemove).
func (x *exchange) stripSession() {
	names := x.bal.StickySession
	x.path.fwd = append(x.path.fwd[:0], session.StripPath(string(x.path.fwd), names)...)
	x.query = session.StripQuery(x.query, names)
	lines := x.req.Header.PeekAll(fasthttp.HeaderCookie)
	kept := make([]string, 0, len(lines))
	for _, l := range lines {
		if v := session.StripCookies(string(l), names); v != "" {
			kept = append(kept, v)
		}
	}
	x.req.Header.Del(fasthttp.HeaderCookie)
	for _, v := range kept {
		x.req.Header.Add(fasthttp.HeaderCookie, v)
	}
}

// relay turns the member's response into the client's: status line and
// headers without hop-by-hop ones, ProxyPassReverse applied, and the body,
// either at hand or streamed through x (see Read).
func (x *exchange) relay() {
	mr, r := x.hdr, x.resp
	x.status = mr.StatusCode()
	if x.tunnel != nil {
		x.switchProtocols()
		return
	}
	if mr == r {
		// The header was read into the client's response: only take out
		// what concerns the member's connection.
		removeResponseHopByHop(&r.Header)
	} else {
		r.SetStatusCode(x.status)
		r.Header.SetStatusMessage(mr.Header.StatusMessage())
		copyResponseHeaders(&r.Header, &mr.Header)
	}
	if rt := x.target.Route; rt != nil {
		x.reverse(rt)
	}
	switch {
	case x.mbody != nil:
		cl := mr.Header.ContentLength()
		if cl < 0 || x.member.FlushPackets {
			if x.proto == "HTTP/1.0" && x.ctx != nil {
				x.closeDelimited()
				return
			}
			cl = -1 // chunked: each piece is passed on as it comes
		}
		if x.ctx == nil {
			// The HTTP/2 edge streams from x itself.
			r.Header.SetContentLength(cl)
			return
		}
		r.SetBodyStream(x, cl)
		r.ImmediateHeaderFlush = true // the client sees the headers while the body comes
	case mr.SkipBody || noBody(x.status):
		r.SkipBody = true
		if cl := mr.Header.ContentLength(); cl >= 0 && mr != r {
			r.Header.SetContentLength(cl)
		}
	default:
		body := mr.Body()
		x.bytes = int64(len(body))
		x.member.Stats.Read.Add(uint64(len(body)))
		if mr != r {
			r.SetBody(body)
		}
	}
}

// resetResponse clears the client's response of what a failed attempt
// read into it, keeping the edge's settings.
func (x *exchange) resetResponse() {
	x.resp.Reset()
	x.resp.Header.SetNoDefaultContentType(true)
}

// removeResponseHopByHop takes the hop-by-hop headers out of a member's
// response read into the client's (see copyResponseHeaders for the list);
// the member's Connection: close concerns its connection only.
func removeResponseHopByHop(h *fasthttp.ResponseHeader) {
	if conn := h.PeekCanonical(canonConnection); len(conn) > 0 {
		for len(conn) > 0 {
			var tok []byte
			if i := bytes.IndexByte(conn, ','); i >= 0 {
				tok, conn = bytes.TrimSpace(conn[:i]), conn[i+1:]
			} else {
				tok, conn = bytes.TrimSpace(conn), nil
			}
			if len(tok) > 0 && !equalFold(tok, "close") && !equalFold(tok, "keep-alive") {
				h.DelBytes(tok)
			}
		}
		h.Del(fasthttp.HeaderConnection)
	}
	h.ResetConnectionClose()
	for _, name := range responseHopHeaders {
		if len(h.PeekCanonical(name)) > 0 {
			h.DelBytes(name)
		}
	}
}

// Canonical header names, looked up without normalising them again.
var (
	canonConnection    = []byte(fasthttp.HeaderConnection)
	responseHopHeaders = [...][]byte{[]byte("Keep-Alive"), []byte("Proxy-Connection"), []byte("Upgrade")}
)

// closeDelimited sends a streamed body of unknown length to an HTTP/1.0
// client, which knows no chunked coding: the body ends when the
// connection closes (RFC 9112 §6.3). fasthttp cannot write that, so the
// connection is taken over. The exchange finishes when the body is through.
func (x *exchange) closeDelimited() {
	r := x.resp
	r.Header.Del(fasthttp.HeaderTransferEncoding)
	r.Header.SetContentLength(-2) // no Content-Length, no Transfer-Encoding; Connection: close
	x.hijacked = true
	x.ctx.HijackSetNoResponse(true)
	x.ctx.Hijack(func(c net.Conn) {
		bw := bufio.NewWriter(c)
		_, err := bw.Write(r.Header.Header())
		if err == nil {
			err = copyFlushTo(bw, x)
		}
		if err == nil {
			err = bw.Flush()
		}
		x.CloseWithError(err)
	})
}

// copyFlushTo copies r to bw, flushing after every read.
func copyFlushTo(bw *bufio.Writer, r io.Reader) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := bw.Write(buf[:n]); werr != nil {
				return werr
			}
			if werr := bw.Flush(); werr != nil {
				return werr
			}
		}
		if err != nil {
			return nil // the exchange saw how the body ended
		}
	}
}

// copyTrailers passes the member's trailers on to the client once its
// chunked body has ended (fasthttp writes them after the last chunk).
func (x *exchange) copyTrailers() {
	mh := &x.mresp.Header
	for k := range mh.Trailers() {
		for _, v := range mh.PeekAll(string(k)) {
			x.resp.Header.AddBytesKV(k, v)
		}
	}
}

// copyResponseHeaders copies the member's response headers to the
// client's, leaving out the hop-by-hop ones (RFC 9110 §7.6.1: Connection
// and the headers it names, Keep-Alive, Proxy-Connection, Transfer-Encoding,
// Upgrade) and Content-Length, which the body sets. Nothing is added: no
// Content-Type, no Server; the member's Date is kept.
func copyResponseHeaders(dst, src *fasthttp.ResponseHeader) {
	conn := src.Peek(fasthttp.HeaderConnection)
	for k, v := range src.All() {
		if hopByHop(k) || equalFold(k, "content-length") || (len(conn) > 0 && hasToken(conn, k)) {
			continue
		}
		dst.AddBytesKV(k, v)
	}
}

// hopByHop reports the headers that concern one connection only.
func hopByHop(k []byte) bool {
	switch len(k) {
	case 7:
		return equalFold(k, "upgrade")
	case 10:
		return equalFold(k, "connection") || equalFold(k, "keep-alive")
	case 16:
		return equalFold(k, "proxy-connection")
	case 17:
		return equalFold(k, "transfer-encoding")
	}
	return false
}

// hasToken reports whether the comma-separated list holds tok
// (case-insensitive).
func hasToken(list, tok []byte) bool {
	for len(list) > 0 {
		var item []byte
		if i := bytes.IndexByte(list, ','); i >= 0 {
			item, list = list[:i], list[i+1:]
		} else {
			item, list = list, nil
		}
		if bytes.EqualFold(bytes.TrimSpace(item), tok) {
			return true
		}
	}
	return false
}

// appendIP appends the IP of a client address without allocating.
func appendIP(b []byte, a net.Addr) []byte {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort().Addr().Unmap().AppendTo(b)
	}
	return append(b, remoteIP(a)...)
}

// remoteIP returns the IP of a client address.
func remoteIP(a net.Addr) string {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.String()
	case nil:
		return ""
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// errBodyDone is returned by the request body after the exchange ended.
var errBodyDone = errors.New("proxy: request body read after the exchange ended")
