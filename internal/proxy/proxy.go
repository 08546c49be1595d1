// Package proxy is the request path. Two edges receive client requests:
// fasthttp's server for HTTP/1.x (Handler.ServeFastHTTP, behind [Server])
// and net/http for HTTP/2 (Handler.ServeHTTP), which converts a request
// once at its edge. Both then run the same exchange: normalise the path,
// match it against the snapshot's one target table (static routes and MCMP
// contexts), find the sticky member or ask the balancer for one, and
// forward the request to the member over its transport (HTTP/1.1 through
// fasthttp's connection pool, AJP13, or h2c), failing over to other
// members when that is safe.
//
// Per request it reads one registry snapshot (an atomic load) and the
// members' atomic counters; it takes no lock and writes no log line except
// the access log.
package proxy

import (
	"cmp"
	"context"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/barkeep-lb/barkeep/internal/health"
	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/mcmp"
)

// Options configures a Handler. The zero value works.
type Options struct {
	// Log receives failures worth an operator's attention (a member entering
	// error state); default: discard. Never written per request.
	Log *slog.Logger
	// AccessLog receives one line per request; nil disables it.
	AccessLog *AccessLog
	// Now returns the current time; default time.Now. Tests pass a fake
	// clock to move members through their retry periods.
	Now func() time.Time
	// WaitPoll is how often a request waiting for a usable member (the
	// balancer's timeout) looks again; default 100ms.
	WaitPoll time.Duration
	// UseAlias routes to MCMP contexts only when the request's host is an
	// alias of the context's virtual host (mod_cluster's UseAlias).
	UseAlias bool
	// Paths sets how request paths are normalised before matching
	// (merge_slashes, allow_encoded_slashes).
	Paths PathOptions
	// MaxHeaderFields is the most request header lines accepted; more get
	// 431 (httpd's LimitRequestFields). Default 100.
	MaxHeaderFields int
	// BufferBody is the largest request or response body, in bytes, held
	// in memory: request bodies up to it are read before the first attempt
	// (so a failed attempt can be sent again elsewhere), response bodies up
	// to it are read whole before they are passed on. Larger and chunked
	// bodies stream. Default 64 KiB.
	BufferBody int
	// BodyRate bounds slow request bodies; see BodyRate for the defaults.
	BodyRate BodyRate
	// HangDetect, when > 0, puts a member in error state when requests have
	// waited longer than this for its first response byte while it sent no
	// response at all in that time (a hung member: accepting connections,
	// answering nothing). Its waiting idempotent requests then go to other
	// members. Default 0: only a health check or a timeout does that.
	HangDetect time.Duration
	// HangWatch is how often members' waiting requests are checked against
	// their members' state; default 100ms.
	HangWatch time.Duration
}

// Handler proxies client requests to the members of the registry's
// balancers. It is safe for concurrent use. Run must be running for idle
// connections of removed members to be closed and for the requests of
// members that went into error state to be withdrawn.
type Handler struct {
	store      *registry.Store
	useAlias   bool
	paths      PathOptions
	maxFields  int
	bufferBody int
	bodyRate   BodyRate
	hangDetect time.Duration
	hangWatch  time.Duration
	log        *slog.Logger
	access     *AccessLog
	now        func() time.Time
	poll       time.Duration
	pool       transportPool
	exchanges  sync.Pool
	h2edges    sync.Pool
}

// New returns a Handler serving the routes of store.
func New(store *registry.Store, opts Options) *Handler {
	h := &Handler{
		store:      store,
		useAlias:   opts.UseAlias,
		paths:      opts.Paths,
		maxFields:  cmp.Or(opts.MaxHeaderFields, 100),
		bufferBody: cmp.Or(opts.BufferBody, 64<<10),
		bodyRate:   BodyRate{Timeout: cmp.Or(opts.BodyRate.Timeout, 20*time.Second), MinRate: cmp.Or(opts.BodyRate.MinRate, 500)},
		hangDetect: opts.HangDetect,
		hangWatch:  cmp.Or(opts.HangWatch, 100*time.Millisecond),
		log:        cmp.Or(opts.Log, slog.New(slog.DiscardHandler)),
		access:     opts.AccessLog,
		now:        opts.Now,
		poll:       cmp.Or(opts.WaitPoll, 100*time.Millisecond),
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.pool.buffer = h.bufferBody
	h.log = h.log.With("component", "proxy")
	h.exchanges.New = func() any { return new(exchange) }
	return h
}

// ServeFastHTTP is the HTTP/1.x edge: it serves one request received by
// fasthttp's server.
func (h *Handler) ServeFastHTTP(ctx *fasthttp.RequestCtx) {
	x := h.getExchange()
	x.ctx, x.req, x.resp, x.conn = ctx, &ctx.Request, &ctx.Response, ctx.Conn()
	x.uri = append(x.uri[:0], ctx.Request.Header.RequestURI()...)
	x.remote, x.tls = ctx.RemoteAddr(), ctx.IsTLS()
	x.proto = protoName(ctx.Request.Header.Protocol())
	flags, bad := checkHeaders(ctx.Request.Header.RawHeaders(), h.maxFields)
	x.flags = flags
	switch {
	case x.proto == "":
		bad = badRequest{fasthttp.StatusHTTPVersionNotSupported, "HTTP/1.0 and HTTP/1.1 only"}
	case x.proto == "HTTP/1.1" && len(ctx.Request.Header.Host()) == 0:
		bad = badRequest{fasthttp.StatusBadRequest, "no Host header (RFC 9112 §3.2)"}
	}
	if bad.status != 0 {
		ctx.SetConnectionClose()
		x.answer(bad.status, bad.reason)
		h.finish(x)
		return
	}
	h.serve(x)
}

// protoName returns the protocol as a constant string, so the access log
// needs no copy of the request's bytes; "" for a version barkeep does not
// speak (answered 505).
func protoName(p []byte) string {
	switch string(p) {
	case "HTTP/1.1":
		return "HTTP/1.1"
	case "HTTP/1.0":
		return "HTTP/1.0"
	}
	return ""
}

// serve runs the exchange for a request whose headers passed the edge's
// checks. Unless the response body streams (then CloseWithError finishes
// it), the exchange is finished when serve returns.
func (h *Handler) serve(x *exchange) {
	x.run()
	if x.mbody == nil && !x.hijacked {
		h.finish(x)
	}
}

// run takes the request from its route to the member's response, or to
// barkeep's own answer: route, choose (or wait for) a member, forward.
func (x *exchange) run() {
	if !x.route() {
		return
	}
	m := x.choose(x.start.UnixNano())
	if m == nil {
		if m = x.wait(); m == nil {
			return
		}
	}
	x.forward(m)
}

// route checks the request line, normalises the path and resolves the
// target; it answers the request itself and reports false when the
// request goes nowhere.
func (x *exchange) route() bool {
	h := &x.req.Header
	method := h.Method()
	if mcmp.IsMCMP(b2s(method)) {
		// MCMP belongs on the manager listener (httpd answers it on a
		// virtual host without EnableMCMPReceive the same way).
		x.answer(fasthttp.StatusNotImplemented, string(method)+" not supported for current URL.")
		return false
	}
	if string(method) == fasthttp.MethodConnect {
		x.resp.Header.Set("Allow", "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, TRACE")
		x.resp.SetConnectionClose()
		x.answer(fasthttp.StatusMethodNotAllowed, "CONNECT is not supported")
		return false
	}
	uri := x.req.URI()
	x.hostB = append(x.hostB[:0], h.Host()...)
	if x.h.useAlias {
		x.host = lowerHost(x.hostB)
	}
	raw := uri.PathOriginal()
	if len(raw) == 1 && raw[0] == '*' || len(raw) == 0 {
		// "OPTIONS *" asks about the server itself.
		x.answer(fasthttp.StatusOK, "")
		return false
	}
	if status := x.path.normalize(raw, x.h.paths); status != 0 {
		x.answer(status, "malformed or forbidden path")
		if status == fasthttp.StatusBadRequest {
			x.resp.SetConnectionClose()
		}
		return false
	}
	x.query = b2s(uri.QueryString())
	if !x.resolve(x.h.store.Load()) {
		x.answer(fasthttp.StatusNotFound, "")
		return false
	}
	return true
}

// lowerHost returns the lower-case host of a Host header, without port;
// it allocates only when the host has upper-case letters.
func lowerHost(hostport []byte) string {
	host := hostport
	if i := lastColon(host); i >= 0 {
		host = host[:i]
	}
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	for _, c := range host {
		if 'A' <= c && c <= 'Z' {
			b := make([]byte, len(host))
			for i, c := range host {
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				b[i] = c
			}
			return string(b)
		}
	}
	return b2s(host)
}

// lastColon returns the index of the port separator of host:port, or -1.
func lastColon(hostport []byte) int {
	for i := len(hostport) - 1; i >= 0; i-- {
		switch hostport[i] {
		case ':':
			return i
		case ']':
			return -1
		}
	}
	return -1
}

// finish releases the member, writes the access log line and recycles x.
func (h *Handler) finish(x *exchange) {
	x.release()
	if x.streamed {
		x.body.done = true
	}
	if h.access != nil {
		h.access.write(x)
	}
	h.putExchange(x)
}

// Run keeps the member transports in step with the registry until ctx is
// done: idle connections of members that left the registry are closed;
// with HangDetect it also watches for hung members. It returns nil.
func (h *Handler) Run(ctx context.Context) error {
	var watch <-chan time.Time // ticks only with HangDetect
	if h.hangDetect > 0 {
		tick := time.NewTicker(h.hangWatch)
		defer tick.Stop()
		watch = tick.C
	}
	snap := h.store.Load()
	h.pool.prune(snap)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-snap.Superseded():
			prev := snap
			snap = h.store.Load()
			if !snap.SameBalancers(prev) { // context changes leave members alone
				h.pool.prune(snap)
			}
		case <-watch:
			h.watch(snap)
		}
	}
}

// watch puts members that stopped answering into error state (with
// HangDetect): requests have waited longer than HangDetect for a first
// response byte and the member sent none in that time. The waiting
// requests then withdraw by themselves (see awaitResponse).
func (h *Handler) watch(snap *registry.Snapshot) {
	now := h.now().UnixNano() // member state: the registry's clock
	wall := time.Now().UnixNano()
	for _, b := range snap.Balancers() {
		for _, m := range b.Members {
			v, ok := h.pool.m.Load(m.Stats)
			if !ok {
				continue
			}
			conns := v.(*memberTransport).conns
			oldest, waiting := conns.oldestWaiting()
			if waiting == 0 {
				continue
			}
			if m.InError(now) || m.Stats.HCFail.Load() {
				continue // its waiting requests withdraw by themselves
			}
			if h.hangDetect > 0 && wall-oldest > int64(h.hangDetect) && wall-conns.lastResponse.Load() > int64(h.hangDetect) {
				wasInError := m.InError(now)
				health.Fail(m, now)
				if !wasInError && m.InError(now) {
					h.log.Warn("member in error state", "balancer", b.Name, "member", m.Name, "route", m.Route,
						"retry", m.Retry, "reason", "hung: no response byte within hang_detect", "waiting", waiting)
				}
			}
		}
	}
}

// CloseIdleConnections closes every idle member connection (at shutdown).
func (h *Handler) CloseIdleConnections() { h.pool.closeIdle() }

// localAddr is the listener address a request came in on, for AJP's
// server port when the Host header has none.
func localAddr(c net.Conn) net.Addr {
	if c == nil {
		return nil
	}
	return c.LocalAddr()
}
