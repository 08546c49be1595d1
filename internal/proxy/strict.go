package proxy

import (
	"bytes"
	"net/http"

	"github.com/valyala/fasthttp"
)

// Request framing that fasthttp's parser already refuses, with the
// connection closed (RFC 9112; httpd and HAProxy do the same): a malformed
// request line, a duplicate or malformed Content-Length ("+5", "0x5", "-1",
// "5, 6"), two Transfer-Encoding headers or one other than chunked or
// identity, bad header names or values, malformed chunk sizes. What it
// accepts but a strict edge must not is checked here, on the header block
// as it was received, before anything is forwarded.

// badRequest is a refusal found by checkHeaders: the status and the reason
// for the access log and the error page.
type badRequest struct {
	status int
	reason string
}

// hdrFlags records which hop-by-hop request headers are present, so only
// those are looked up and removed.
type hdrFlags uint16

const (
	hasConnection hdrFlags = 1 << iota
	hasKeepAlive
	hasProxyConnection
	hasProxyAuthorization
	hasTE
	hasUpgrade
	hasHTTP2Settings
	hasExpect
	upgradeWebSocket // Upgrade: websocket with Connection: upgrade
	hasConnUpgrade   // Connection names upgrade
)

// requestHopHeaders maps flags to the request headers removed before
// forwarding (RFC 9110 §7.6.1, plus HTTP2-Settings, which belongs to an
// h2c upgrade barkeep never forwards, and Expect, which barkeep answered).
var requestHopHeaders = [...]struct {
	flag hdrFlags
	name string
}{
	{hasKeepAlive, "Keep-Alive"}, {hasProxyConnection, "Proxy-Connection"},
	{hasProxyAuthorization, "Proxy-Authorization"}, {hasTE, "Te"}, {hasUpgrade, "Upgrade"},
	{hasHTTP2Settings, "Http2-Settings"}, {hasExpect, "Expect"},
}

// removeHopByHop removes the hop-by-hop headers f says are present, and
// those named in Connection. A WebSocket upgrade keeps its Upgrade and
// Connection headers (the upgrade path sets them itself).
func (f hdrFlags) removeHopByHop(h *fasthttp.RequestHeader) {
	if f&hasConnection != 0 {
		conn := h.Peek(fasthttp.HeaderConnection)
		for len(conn) > 0 {
			var tok []byte
			if i := bytes.IndexByte(conn, ','); i >= 0 {
				tok, conn = bytes.TrimSpace(conn[:i]), conn[i+1:]
			} else {
				tok, conn = bytes.TrimSpace(conn), nil
			}
			if len(tok) > 0 && !equalFold(tok, "close") && !equalFold(tok, "keep-alive") && !equalFold(tok, "upgrade") {
				h.DelBytes(tok)
			}
		}
		h.Del(fasthttp.HeaderConnection)
	}
	for _, hh := range requestHopHeaders {
		if f&hh.flag != 0 {
			h.Del(hh.name)
		}
	}
}

// checkHeaders checks the raw header block of a request (as received,
// without the request line), returns which hop-by-hop headers it holds,
// and a refusal, or the zero value when the block is acceptable:
//
//   - a line ending in a bare LF, or a folded line (obs-fold) → 400;
//   - both Content-Length and Transfer-Encoding → 400 (a smuggling
//     attempt: RFC 9112 §6.3 lets a server reject it, and a proxy must not
//     forward it);
//   - Transfer-Encoding other than chunked → 501;
//   - more than maxFields header lines (httpd's LimitRequestFields) → 431.
//
// Every refusal closes the client connection. It does not allocate.
func checkHeaders(raw []byte, maxFields int) (hdrFlags, badRequest) {
	fields := 0
	var cl, te bool
	var f hdrFlags
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		if i < 0 {
			return f, badRequest{}
		}
		line := raw[:i]
		raw = raw[i+1:]
		if len(line) == 0 || line[len(line)-1] != '\r' {
			return f, badRequest{http.StatusBadRequest, "bare LF in the request headers"}
		}
		line = line[:len(line)-1]
		if len(line) == 0 {
			break // the blank line ending the block
		}
		if line[0] == ' ' || line[0] == '\t' {
			return f, badRequest{http.StatusBadRequest, "folded header line (obs-fold)"}
		}
		if fields++; maxFields > 0 && fields > maxFields {
			return f, badRequest{http.StatusRequestHeaderFieldsTooLarge, "too many request header fields"}
		}
		// Only names starting with these letters matter here; most lines
		// (Host, Accept…, User-Agent, Cookie aside) are passed over
		// without looking for their colon.
		switch line[0] | 0x20 {
		case 'c', 't', 'k', 'p', 'u', 'h', 'e':
		default:
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue // fasthttp refused it already
		}
		name, value := line[:colon], line[colon+1:]
		switch len(name) {
		case 2:
			if equalFold(name, "te") {
				f |= hasTE
			}
		case 6:
			if equalFold(name, "expect") {
				f |= hasExpect
			}
		case 7:
			if equalFold(name, "upgrade") {
				f |= hasUpgrade
				if hasToken(value, []byte("websocket")) {
					f |= upgradeWebSocket
				}
			}
		case 10:
			switch {
			case equalFold(name, "connection"):
				f |= hasConnection
				if hasToken(value, []byte("upgrade")) {
					f |= hasConnUpgrade
				}
			case equalFold(name, "keep-alive"):
				f |= hasKeepAlive
			}
		case 14:
			switch {
			case equalFold(name, "content-length"):
				cl = true
			case equalFold(name, "http2-settings"):
				f |= hasHTTP2Settings
			}
		case 16:
			if equalFold(name, "proxy-connection") {
				f |= hasProxyConnection
			}
		case 17:
			if equalFold(name, "transfer-encoding") {
				te = true
				if !equalFold(trimOWS(value), "chunked") {
					return f, badRequest{http.StatusNotImplemented, "transfer coding other than chunked"}
				}
			}
		case 19:
			if equalFold(name, "proxy-authorization") {
				f |= hasProxyAuthorization
			}
		}
	}
	if cl && te {
		return f, badRequest{http.StatusBadRequest, "both Content-Length and Transfer-Encoding"}
	}
	if f&hasConnUpgrade == 0 {
		f &^= upgradeWebSocket
	}
	return f, badRequest{}
}

// equalFold reports whether b equals the lower-case ASCII s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if b[i]|0x20 != s[i] && b[i] != s[i] {
			return false
		}
	}
	return true
}

func trimOWS(b []byte) []byte {
	return bytes.Trim(b, " \t")
}
