// Package proxy is the request path: an http.Handler that matches the
// request to a route, finds its sticky member or asks the balancer for one,
// and forwards it with httputil.ReverseProxy, failing over to other members
// when that is safe.
//
// Per request it reads one registry snapshot (an atomic load) and the
// members' atomic counters; it takes no lock and writes no log line except
// the access log.
package proxy

import (
	"cmp"
	"context"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync"
	"time"

	"github.com/barkeep-lb/barkeep/internal/balancer"
	"github.com/barkeep-lb/barkeep/internal/registry"
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
	// Transport, when set, carries every request instead of the
	// per-member transports (benchmarks and embedding). It sees requests
	// already aimed at the chosen member.
	Transport http.RoundTripper
}

// Handler proxies client requests to the members of the registry's
// balancers. It is safe for concurrent use. Run must be running for idle
// connections of removed members to be closed.
type Handler struct {
	store     *registry.Store
	useAlias  bool
	transport http.RoundTripper // replaces the pool when set
	log       *slog.Logger
	access    *AccessLog
	now       func() time.Time
	poll      time.Duration
	rp        *httputil.ReverseProxy
	pool      transportPool
	exchanges sync.Pool
}

// New returns a Handler serving the routes of store.
func New(store *registry.Store, opts Options) *Handler {
	h := &Handler{
		store:     store,
		useAlias:  opts.UseAlias,
		transport: opts.Transport,
		log:       cmp.Or(opts.Log, slog.New(slog.DiscardHandler)),
		access:    opts.AccessLog,
		now:       opts.Now,
		poll:      cmp.Or(opts.WaitPoll, 100*time.Millisecond),
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.log = h.log.With("component", "proxy")
	h.rp = &httputil.ReverseProxy{
		Rewrite:        h.rewrite,
		Transport:      attempts{h},
		BufferPool:     new(bufferPool),
		ModifyResponse: h.modifyResponse,
		ErrorHandler:   h.errorHandler,
		ErrorLog:       log.New(io.Discard, "", 0),
	}
	h.exchanges.New = func() any { return new(exchange) }
	return h
}

type exchangeKey struct{}

// exchange is the state of one client request. It lives from ServeHTTP to
// the access log line and is recycled afterwards, so nothing may keep it.
type exchange struct {
	h        *Handler
	in       *http.Request
	w        recorder
	start    time.Time
	route    *registry.Route       // static route, or nil for MCMP contexts
	refs     []registry.ContextRef // MCMP context rows of the longest match
	cp       balancer.ClusterPick  // selection inputs among refs
	bal      *registry.Balancer
	sticky   string            // route found in the session id
	forced   bool              // sticky with nofailover: no other member may serve
	member   *registry.Member  // member of the current attempt
	ctx      *registry.Context // MCMP context of the current attempt, counted in flight
	busy     *registry.Member  // member whose Busy this request holds
	retries  int               // attempts after the first
	triedBuf [4]*registry.Member
	tried    []*registry.Member
	skipBuf  [maxFull + 4]*registry.Member // tried plus members found full
	body     *countingBody                 // client request body, nil when empty
	resp     countingResponse
	fault    Fault
}

func (h *Handler) getExchange(w http.ResponseWriter, r *http.Request) *exchange {
	x := h.exchanges.Get().(*exchange)
	*x = exchange{h: h, in: r, start: h.now()}
	x.w.ResponseWriter = w
	x.tried = x.triedBuf[:0]
	return x
}

func (h *Handler) putExchange(x *exchange) {
	*x = exchange{}
	h.exchanges.Put(x)
}

// ServeHTTP proxies r to a member of the balancer of the matching route or
// MCMP context.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := h.getExchange(w, r)
	defer h.finish(x)

	if !h.resolve(x, h.store.Load()) {
		http.Error(&x.w, "404 page not found", http.StatusNotFound)
		return
	}
	m := h.choose(x)
	if m == nil {
		if m = h.wait(x); m == nil {
			return
		}
	}
	h.setMember(x, m)
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		// Allocated, not part of the recycled exchange: the transport may
		// still read the body after the handler returns.
		x.body = &countingBody{rc: r.Body}
		r.Body = x.body
	}
	h.rp.ServeHTTP(&x.w, r.WithContext(context.WithValue(r.Context(), exchangeKey{}, x)))
}

// wait looks for a usable member with a free slot until the balancer's
// timeout has passed (httpd's balancer timeout, mod_cluster's WaitWorker),
// then answers 503 with Retry-After.
func (h *Handler) wait(x *exchange) *registry.Member {
	if x.bal.Timeout > 0 {
		// Wake when a member slot frees up, and every poll interval for
		// members whose retry or check period ends.
		bs := x.bal.Stats
		freed := bs.Wait()
		defer bs.Done()
		deadline := x.start.Add(x.bal.Timeout)
		timer := time.NewTimer(0)
		defer timer.Stop()
		for {
			left := deadline.Sub(h.now())
			if left <= 0 {
				break
			}
			timer.Reset(min(left, h.poll))
			select {
			case <-x.in.Context().Done():
				x.fault = FaultClient
				x.w.status = StatusClientClosedRequest
				return nil
			case <-freed:
				freed = bs.Again()
			case <-timer.C:
			}
			// Operators and nodes may have changed things meanwhile.
			if h.resolve(x, h.store.Load()) {
				if m := h.choose(x); m != nil {
					return m
				}
			}
		}
	}
	h.unavailable(x)
	return nil
}

// unavailable answers 503 with a Retry-After of the time until the first
// member leaves error state (at least 1 s; 1 s when members are usable but
// full; 60 s when none will come back by itself).
func (h *Handler) unavailable(x *exchange) {
	now := h.now()
	next := time.Duration(0)
	for _, m := range x.bal.Members {
		if m.Usable(now.UnixNano()) {
			next = time.Nanosecond // at its max: a slot frees up soon
			break
		}
		if at, ok := m.RetryAt(now.UnixNano()); ok {
			if d := at.Sub(now); next == 0 || d < next {
				next = d
			}
		}
	}
	secs := 60
	if next > 0 {
		secs = max(1, int((next+time.Second-1)/time.Second))
	}
	x.w.Header().Set("Retry-After", strconv.Itoa(secs))
	http.Error(&x.w, "503 no usable member in balancer "+x.bal.Name, http.StatusServiceUnavailable)
}

// finish releases the member, writes the access log line and recycles x.
// It runs even when the response copy aborts the handler.
func (h *Handler) finish(x *exchange) {
	h.release(x)
	if x.ctx != nil {
		x.ctx.Requests.Add(-1)
	}
	if x.body != nil {
		x.body.done.Store(true)
	}
	if h.access != nil {
		h.access.write(x)
	}
	h.putExchange(x)
}

// errorHandler answers a failed exchange: 502, 504, or nothing for a client
// that went away (logged as 499).
func (h *Handler) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	x := r.Context().Value(exchangeKey{}).(*exchange)
	fault, status := Classify(r.Context(), err)
	if x.fault == FaultNone {
		x.fault = fault
	}
	if fault == FaultClient && status == StatusClientClosedRequest {
		x.w.status = status
		return
	}
	http.Error(w, strconv.Itoa(status)+" "+http.StatusText(status), status)
}

// bufferPool recycles the 32 KiB buffers ReverseProxy copies bodies with.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if buf, ok := b.p.Get().(*[32 << 10]byte); ok {
		return buf[:]
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) >= 32<<10 {
		b.p.Put((*[32 << 10]byte)(buf[:32<<10]))
	}
}
