package proxy

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"

	"github.com/valyala/fasthttp"
)

// h2edge holds the request and response an HTTP/2 request is converted
// into, recycled with the Handler's pool.
type h2edge struct {
	req  fasthttp.Request
	resp fasthttp.Response
	buf  [32 << 10]byte
}

// ServeHTTP is the HTTP/2 edge (and serves HTTP/1.x requests that reach
// net/http, as in tests with httptest). It converts the request once into
// the form the exchange runs on, runs the same exchange as ServeFastHTTP,
// and writes the response back through w, streaming and flushing the body
// as it comes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e, _ := h.h2edges.Get().(*h2edge)
	if e == nil {
		e = new(h2edge)
	}
	defer func() {
		e.req.Reset()
		e.resp.Reset()
		h.h2edges.Put(e)
	}()
	e.resp.Header.SetNoDefaultContentType(true)
	x := h.getExchange()
	x.req, x.resp = &e.req, &e.resp
	x.remote, x.tls, x.proto = addrOf(r.RemoteAddr), r.TLS != nil, r.Proto
	x.uri = append(x.uri[:0], r.RequestURI...)
	x.flags = fillRequest(&e.req, r)
	if x.flags&hasExpect != 0 {
		// net/http answered the expectation when the body was read.
		x.flags &^= hasExpect
	}
	if !h.serve2(x) {
		// Finished: the response lives on in e.
		writeHeader(w, &e.resp, false)
		w.Write(e.resp.Body()) //nolint:errcheck // the client went away; nothing to do
		return
	}
	// Streamed from x (relay leaves the body to this edge): the exchange
	// finishes when the body is through.
	writeHeader(w, &e.resp, true)
	err := copyFlush(w, x, e.buf[:])
	for k := range e.resp.Header.Trailers() {
		for _, v := range e.resp.Header.PeekAll(string(k)) {
			w.Header().Add(http.TrailerPrefix+string(k), string(v))
		}
	}
	aborted := x.fault == FaultAbort
	x.CloseWithError(err)
	if aborted {
		// Reset the stream so the client cannot take the cut-off
		// response for complete.
		panic(http.ErrAbortHandler)
	}
}

// serve2 is serve for the HTTP/2 edge. It reports whether the response
// body streams; then the caller writes it and finishes the exchange.
func (h *Handler) serve2(x *exchange) bool {
	x.run()
	if x.mbody != nil {
		return true
	}
	h.finish(x)
	return false
}

// fillRequest converts r into req, leaving out hop-by-hop headers, and
// returns which of those were present.
func fillRequest(req *fasthttp.Request, r *http.Request) hdrFlags {
	h := &req.Header
	h.SetMethod(r.Method)
	h.SetRequestURI(r.RequestURI)
	h.SetHost(r.Host)
	var f hdrFlags
	for k, vs := range r.Header {
		switch http.CanonicalHeaderKey(k) {
		case "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Te", "Upgrade",
			"Http2-Settings", "Transfer-Encoding", "Content-Length", "Host":
			continue
		case "Expect":
			f |= hasExpect
			continue
		}
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		// Hide Close: fasthttp closes a body stream it replaces, and
		// net/http owns r.Body.
		req.SetBodyStream(struct{ io.Reader }{r.Body}, int(max(r.ContentLength, -1)))
	}
	return f
}

// writeHeader writes the exchange's response headers and status to w;
// streamed says the body comes from the exchange, not resp.
func writeHeader(w http.ResponseWriter, resp *fasthttp.Response, streamed bool) {
	wh := w.Header()
	for k, v := range resp.Header.All() {
		if hopByHop(k) || equalFold(k, "content-length") {
			continue
		}
		wh.Add(string(k), string(v))
	}
	if cl := resp.Header.ContentLength(); !streamed {
		wh.Set("Content-Length", strconv.Itoa(len(resp.Body())))
	} else if cl >= 0 {
		wh.Set("Content-Length", strconv.Itoa(cl))
	}
	w.WriteHeader(resp.StatusCode())
}

// copyFlush copies the response body to w, flushing after every read so
// streams (server-sent events, flushpackets) reach the client at once. It
// returns the write error, nil when the body ended (or the member broke
// it off: the exchange knows).
func copyFlush(w http.ResponseWriter, r io.Reader, buf []byte) error {
	rc := http.NewResponseController(w)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if ferr := rc.Flush(); ferr != nil && !errors.Is(ferr, http.ErrNotSupported) {
				return ferr
			}
		}
		if err != nil {
			return nil
		}
	}
}

// addrOf parses a RemoteAddr string into a net.Addr.
func addrOf(s string) net.Addr {
	if a, err := net.ResolveTCPAddr("tcp", s); err == nil {
		return a
	}
	return nil
}
