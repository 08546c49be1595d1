package proxy

import (
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/barkeep-lb/barkeep/internal/balancer"
	"github.com/barkeep-lb/barkeep/internal/health"
	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/internal/session"
)

// exchange is the state of one client request, from the edge that received
// it (fasthttp for HTTP/1.x, net/http for HTTP/2) to the access log line.
// Its steps are methods: resolve (the target), choose (sticky member or
// lbmethod), forward (attempts, failover), relay (the response). Exchanges
// are recycled, so nothing may keep one after finish.
type exchange struct {
	h *Handler

	// The client's side. req is edited in place into the member's request.
	ctx    *fasthttp.RequestCtx // HTTP/1.x edge only
	req    *fasthttp.Request
	resp   *fasthttp.Response
	conn   net.Conn // the client connection (HTTP/1.x), for body read deadlines
	remote net.Addr
	tls    bool
	proto  string // "HTTP/1.1", "HTTP/2.0", …: for the access log
	start  time.Time
	flags  hdrFlags
	path   normalPath
	host   string // lower-case host without port, for aliases
	hostB  []byte // the client's Host header, kept for retries
	query  string
	uri    []byte // the request-target as received, for the access log
	buf    []byte // scratch for built header values

	// What serves it.
	target *registry.Target
	bal    *registry.Balancer
	choice balancer.Choice
	id     string // session id
	sticky string // route in the session id
	forced bool   // only the session's member (or its redirect) may serve

	// The attempts.
	member    *registry.Member
	row       *registry.ContextRef // MCMP context row of the chosen member
	counted   *registry.Context    // context this request counts as in flight on
	busy      *registry.Member     // member whose slot this request holds
	retries   int
	triedBuf  [4]*registry.Member
	tried     []*registry.Member
	skipBuf   [maxFull + 4]*registry.Member
	hung      bool      // the current member was judged hung by this request
	attemptAt time.Time // when the current member was chosen: Stats.Latency starts here
	dry       bool      // Explain: choose without taking a slot or advancing the balancer's sequence
	// brokenAtSend: the current member (ajp) reported Load -1 when the
	// request was sent to it; see withdrawal.
	brokenAtSend bool

	// The request body.
	body     reqBody
	bodyBuf  []byte
	streamed bool // the body streams from the client: not replayable once read

	// The member's response. hdr holds its status line and headers: resp
	// itself on the HTTP/1.x edge with an HTTP/1.1 member, else mresp.
	hdr      *fasthttp.Response
	mresp    *fasthttp.Response
	mc       *memberConn
	mbody    io.Reader
	mend     error // how mbody ended once endBody let it go
	mrelease func(clean bool)
	mtimeout time.Duration
	mclean   bool // the member's body ended cleanly
	mdone    bool // the member sent its whole response
	tunnel   *tunnel
	hijacked bool // the connection became a WebSocket tunnel; it finishes x

	// The outcome, for the access log.
	status  int
	bytes   int64
	fault   Fault
	aborted bool // the response was cut short (member or client)
}

func (h *Handler) getExchange() *exchange {
	x := h.exchanges.Get().(*exchange)
	x.h = h
	x.start = h.now()
	x.tried = x.triedBuf[:0]
	if x.mresp == nil {
		x.mresp = new(fasthttp.Response)
		x.mresp.Header.SetNoDefaultContentType(true) // nothing is added to a member's response
	}
	return x
}

// putExchange clears x, keeping its buffers, and recycles it.
func (h *Handler) putExchange(x *exchange) {
	mresp, path, buf, bodyBuf, hostB, uri := x.mresp, x.path, x.buf[:0], x.bodyBuf[:0], x.hostB[:0], x.uri[:0]
	mresp.Reset()
	mresp.Header.SetNoDefaultContentType(true)
	*x = exchange{mresp: mresp, path: path, buf: buf, bodyBuf: bodyBuf, hostB: hostB, uri: uri}
	h.exchanges.Put(x)
}

// b2s returns the bytes b as a string without copying; the string is valid
// while b is (for request data: until the exchange finishes).
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// SessionPath, SessionQuery and SessionCookie let session.Find read the
// request (session.Request).
func (x *exchange) SessionPath() string  { return b2s(x.path.fwd) }
func (x *exchange) SessionQuery() string { return x.query }
func (x *exchange) SessionCookie(name string) string {
	for _, line := range x.req.Header.PeekAll(fasthttp.HeaderCookie) {
		if v := session.CookieValue(b2s(line), name); v != "" {
			return v
		}
	}
	return ""
}

// resolve matches the request against snap and prepares the choice: the
// target, its balancer and the session route. It reports false when
// nothing may serve the request (404): no match, an exclusion, or no MCMP
// context row that qualifies.
func (x *exchange) resolve(snap *registry.Snapshot) bool {
	x.target = snap.Match(b2s(x.path.match), x.host, x.h.useAlias)
	if x.target == nil || !x.target.Pass() {
		return false
	}
	if rt := x.target.Route; rt != nil {
		x.bal = rt.Balancer()
		x.id, x.sticky = session.Find(x, x.bal)
		x.choice = balancer.Choice{Balancer: x.bal}
		return true
	}
	// The balancer of the session's node when it has a row here (several
	// balancers may serve the same path), else that of the first row.
	rows := x.target.Rows
	b := rows[0].Balancer
	id, route := session.Find(x, b)
	if route != "" {
		for i := range rows {
			if m := rows[i].Member; m != nil && m.Route == route && rows[i].Balancer != b {
				b = rows[i].Balancer
				id, route = session.Find(x, b)
				break
			}
		}
	}
	x.bal, x.id, x.sticky = b, id, route
	x.choice = balancer.Choice{Balancer: b, Rows: rows, Host: x.host, UseAlias: x.h.useAlias, HasSession: id != ""}
	return x.choice.Serves()
}

// choose returns the member for the request's first attempt at now (Unix
// ns, the registry's clock), or nil when none is usable then. The session's member comes first (or its
// redirect); when it cannot serve, failover prefers its domain, and with
// nofailover (StickySessionForce) only its domain may serve, or only the
// member itself without a domain: x.forced, and the caller waits or
// answers 503. A session that fails over outside its domain loses its id
// when the balancer has StickySessionRemove (mod_cluster).
func (x *exchange) choose(now int64) *registry.Member {
	x.choice.Pick = balancer.Pick{Now: now, Tried: x.tried}
	x.choice.Domain, x.choice.DomainOnly = "", false
	var routed *registry.Member
	if x.sticky != "" {
		m, row, known := x.choice.Sticky(x.sticky)
		if known {
			routed = x.bal.ByRoute(x.sticky)
			x.choice.Domain = routed.Domain
			if x.bal.NoFailover {
				x.forced = routed.Domain == ""
				x.choice.DomainOnly = routed.Domain != ""
			}
		}
		if m != nil && x.acquire(m) {
			x.row = row
			return m
		}
		if x.forced {
			return nil
		}
	}
	m := x.selectMember()
	if m != nil && routed != nil && x.bal.StickySessionRemove && (routed.Domain == "" || m.Domain != routed.Domain) {
		x.stripSession()
	}
	return m
}

// next returns the member for another attempt after a failed one, without
// waiting: the redirect of a forced session, or another member chosen as
// for a new request. nil when there is none.
func (x *exchange) next() *registry.Member {
	x.choice.Pick = balancer.Pick{Now: x.h.now().UnixNano(), Tried: x.tried}
	if x.forced {
		if m, row, _ := x.choice.Sticky(x.sticky); m != nil && x.acquire(m) {
			x.row = row
			return m
		}
		return nil
	}
	return x.selectMember()
}

// maxFull is how many members found full (at their max) one selection
// skips before it gives up and the request waits.
const maxFull = 4

// selectMember asks the balancer for a member not yet tried and takes one
// of its slots. A member that filled up between the choice and the taking
// is skipped.
func (x *exchange) selectMember() *registry.Member {
	tried := x.choice.Tried
	defer func() { x.choice.Tried = tried }()
	for i := range maxFull {
		if x.dry {
			// The sequence number the next request would draw.
			x.choice.Seq = x.bal.Stats.Seq.Load() + uint64(i)
		} else {
			x.choice.Seq = x.bal.Stats.Seq.Add(1) - 1
		}
		x.choice.Rand = rand.Uint64()
		m, row := x.choice.Select()
		if m == nil {
			return nil
		}
		if x.acquire(m) {
			x.row = row
			return m
		}
		x.choice.Tried = append(append(x.skipBuf[:0], x.choice.Tried...), m)
	}
	return nil
}

// acquire takes a slot of m (its Busy count, bounded by its Max) for the
// request; release gives it back.
func (x *exchange) acquire(m *registry.Member) bool {
	if x.dry {
		return m.HasRoom()
	}
	if !m.Acquire() {
		return false
	}
	x.busy = m
	return true
}

// release gives back the request's member slot, wakes a request queued
// for one, and stops counting the request in flight on its context.
func (x *exchange) release() {
	if x.busy != nil {
		x.busy.Stats.Busy.Add(-1)
		x.busy = nil
		x.bal.Stats.Released()
	}
	if x.counted != nil {
		x.counted.EndRequest() // wakes a STOP-APP waiting for the context
		x.counted = nil
	}
}

// memberDone is called once the member has sent its whole response: the
// request no longer occupies the member or its context (what STOP-APP's
// Requests= counts), even while the client is still reading.
func (x *exchange) memberDone() {
	x.mdone = true
	if x.member != nil && !x.attemptAt.IsZero() {
		x.member.Stats.Latency.Observe(x.h.now().Sub(x.attemptAt))
	}
	x.release()
}

// countSticky counts a request with a session route, once its fate is
// known, as a sticky hit (m, the member that answered, is the route's
// member) or a miss (its redirect, another member, or none: m nil).
func (x *exchange) countSticky(m *registry.Member) {
	if x.sticky == "" {
		return
	}
	if m != nil && m.Route == x.sticky {
		x.bal.Stats.StickyHits.Add(1)
		m.Stats.StickyHits.Add(1)
	} else {
		x.bal.Stats.StickyMisses.Add(1)
	}
}

// wait looks for a usable member with a free slot until the balancer's
// timeout has passed (httpd's balancer timeout, mod_cluster's WaitWorker),
// then answers 503 with Retry-After.
func (x *exchange) wait() *registry.Member {
	h := x.h
	if x.bal.Timeout > 0 {
		// Wake when a member slot frees up, and every poll interval for
		// members whose retry or check period ends.
		bs := x.bal.Stats
		bs.Queued.Add(1)
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
			case <-freed:
				freed = bs.Again()
			case <-timer.C:
			}
			// Operators and nodes may have changed things meanwhile.
			if x.resolve(h.store.Load()) {
				if m := x.choose(h.now().UnixNano()); m != nil {
					return m
				}
			}
		}
	}
	x.unavailable()
	return nil
}

// unavailable answers 503 with a Retry-After of the time until the first
// member leaves error state (at least 1 s; 1 s when members are usable but
// full; 60 s when none will come back by itself).
func (x *exchange) unavailable() {
	now := x.h.now()
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
	x.bal.Stats.Unavailable.Add(1)
	x.countSticky(nil)
	x.resp.Header.Set("Retry-After", strconv.Itoa(secs))
	x.answer(fasthttp.StatusServiceUnavailable, "no usable member in balancer "+x.bal.Name)
}

// answer sends barkeep's own response: status and a one-line plain text
// body ("503 Service Unavailable: why").
func (x *exchange) answer(status int, why string) {
	x.status = status
	r := x.resp
	r.SetStatusCode(status)
	r.Header.SetContentType("text/plain; charset=utf-8")
	r.Header.Set("X-Content-Type-Options", "nosniff")
	b := r.BodyWriter()
	io.WriteString(b, strconv.Itoa(status)+" "+fasthttp.StatusMessage(status))
	if why != "" {
		io.WriteString(b, ": "+why)
	}
	io.WriteString(b, "\n")
}

// fail puts m in error state and logs the transition (once per error
// period, not per request).
func (x *exchange) fail(m *registry.Member, why string, err error) {
	now := x.h.now().UnixNano()
	wasInError := m.InError(now)
	health.Fail(m, now)
	if !wasInError && m.InError(now) {
		x.h.log.Warn("member in error state", "balancer", x.bal.Name, "member", m.Name,
			"route", m.Route, "retry", m.Retry, "reason", why, "err", err)
	}
}
