package proxy

import (
	"math/rand/v2"
	"net"
	"strings"

	"github.com/barkeep-lb/barkeep/internal/balancer"
	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/internal/session"
)

// resolve matches the request against snap and prepares the selection:
// a static route and its balancer, or the MCMP context rows of the longest
// matching context with the balancer and session they use. It reports
// false when nothing may serve the request (404): no match, an exclusion,
// or no context row that qualifies.
func (h *Handler) resolve(x *exchange, snap *registry.Snapshot) bool {
	r := x.in
	host := ""
	if h.useAlias {
		host = hostname(r.Host)
	}
	x.route, x.refs = snap.Match(r.URL.Path, host, h.useAlias)
	if x.route != nil {
		if !x.route.Pass {
			return false
		}
		x.bal = x.route.Balancer()
		_, x.sticky = session.Find(r, x.bal)
		return true
	}
	if x.refs == nil {
		return false
	}
	// The balancer of the session's node when it has a row here (several
	// balancers may serve the same path), else that of the first row.
	b := x.refs[0].Balancer
	id, route := session.Find(r, b)
	if route != "" {
		for i := range x.refs {
			if m := x.refs[i].Member; m != nil && m.Route == route && x.refs[i].Balancer != b {
				b = x.refs[i].Balancer
				id, route = session.Find(r, b)
				break
			}
		}
	}
	x.bal, x.sticky = b, route
	x.cp = balancer.ClusterPick{Balancer: b, Host: host, UseAlias: h.useAlias, HasSession: id != ""}
	for i := range x.refs {
		if x.cp.Qualifies(&x.refs[i]) {
			return true
		}
	}
	return false
}

// hostname returns the lower-case host of a Host header, without port.
func hostname(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		hostport = h
	}
	return strings.ToLower(strings.Trim(hostport, "[]"))
}

// choose returns the member for the request's first attempt, or nil when
// none is usable right now. x.forced is set when only the session's member
// may serve (nofailover / StickySessionForce without a domain), so the
// caller answers 503 at once.
func (h *Handler) choose(x *exchange) *registry.Member {
	now := h.now().UnixNano()
	if x.refs != nil {
		return h.chooseCluster(x, now)
	}
	if x.sticky != "" {
		m, known := session.Resolve(x.bal, x.sticky, now, x.tried)
		// With nofailover only the session's member (or its redirect) may
		// serve, now and on retries; without a slot or usable member the
		// request waits for the balancer's timeout, then gets 503.
		x.forced = known && x.bal.NoFailover
		if m != nil && h.acquire(x, m) {
			return m
		}
		if x.forced {
			return nil
		}
	}
	return h.balance(x, now, x.tried)
}

// balance asks the lbmethod of static balancer x.bal for a member not in
// tried and takes one of its slots. A member that filled up between the
// choice and the taking is skipped.
func (h *Handler) balance(x *exchange, now int64, tried []*registry.Member) *registry.Member {
	skip := tried
	for range maxFull {
		m, err := balancer.Select(x.bal, balancer.Pick{
			Seq: x.bal.Stats.Seq.Add(1) - 1, Rand: rand.Uint64(), Now: now, Tried: skip,
		})
		if err != nil {
			return nil
		}
		if h.acquire(x, m) {
			return m
		}
		skip = x.skip(skip, m)
	}
	return nil
}

// maxFull is how many members found full (at their max) one selection
// skips before it gives up and the request waits.
const maxFull = 4

// skip returns tried plus m in x's scratch buffer (tried itself is left
// alone: it is the request's list of failed members).
func (x *exchange) skip(tried []*registry.Member, m *registry.Member) []*registry.Member {
	return append(append(x.skipBuf[:0], tried...), m)
}

// acquire takes a slot of m (its Busy count, bounded by its Max) for the
// request; release gives it back.
func (h *Handler) acquire(x *exchange, m *registry.Member) bool {
	if !m.Acquire() {
		return false
	}
	x.busy = m
	return true
}

// release gives back the request's member slot and wakes a request queued
// for one.
func (h *Handler) release(x *exchange) {
	if x.busy != nil {
		x.busy.Stats.Busy.Add(-1)
		x.busy = nil
		x.bal.Stats.Released()
	}
}

// chooseCluster is choose for MCMP context rows, as mod_proxy_cluster's
// proxy_cluster_pre_request: the session's node if it serves the context;
// otherwise, for a known route, failover inside the node's domain first
// (only there with StickySessionForce, and 503 without a domain); then the
// cluster lbmethod. A session that fails over outside its domain loses its
// id when the balancer has StickySessionRemove.
func (h *Handler) chooseCluster(x *exchange, now int64) *registry.Member {
	x.cp.Pick = balancer.Pick{Now: now, Tried: x.tried}
	x.cp.Domain, x.cp.DomainOnly = "", false
	var routed *registry.Member
	if x.sticky != "" {
		if routed = x.bal.ByRoute(x.sticky); routed != nil {
			// Failover, now or after a failed attempt, prefers the domain;
			// with StickySessionForce it stays there, and without a domain
			// there is none.
			x.cp.Domain = routed.Domain
			if x.bal.NoFailover {
				x.forced = routed.Domain == ""
				x.cp.DomainOnly = routed.Domain != ""
			}
		}
		if r := balancer.StickyRow(x.refs, &x.cp, x.sticky); r != nil && h.acquire(x, r.Member) {
			x.ctx = r.Context
			return r.Member
		}
		if x.forced {
			return nil
		}
	}
	r := h.selectCluster(x)
	if r == nil {
		return nil
	}
	if routed != nil && x.bal.StickySessionRemove && (routed.Domain == "" || r.Member.Domain != routed.Domain) {
		session.Strip(x.in, x.bal)
	}
	x.ctx = r.Context
	return r.Member
}

// next returns the member for another attempt after a failed one, without
// waiting: the redirect of a forced session, or another member by the
// balancer's method. nil when there is none.
func (h *Handler) next(x *exchange, tried []*registry.Member) *registry.Member {
	now := h.now().UnixNano()
	if x.refs != nil {
		if x.forced {
			return nil
		}
		x.cp.Pick = balancer.Pick{Now: now, Tried: tried}
		if r := h.selectCluster(x); r != nil {
			x.ctx = h.moveContext(x.ctx, r.Context)
			return r.Member
		}
		return nil
	}
	if x.forced {
		if m, _ := session.Resolve(x.bal, x.sticky, now, tried); m != nil && h.acquire(x, m) {
			return m
		}
		return nil
	}
	return h.balance(x, now, tried)
}

// selectCluster asks the cluster lbmethod for a row whose member has a
// free slot, and takes it.
func (h *Handler) selectCluster(x *exchange) *registry.ContextRef {
	saved := x.cp.Tried
	defer func() { x.cp.Tried = saved }()
	for range maxFull {
		r := balancer.SelectCluster(x.refs, &x.cp)
		if r == nil {
			return nil
		}
		if h.acquire(x, r.Member) {
			return r
		}
		x.cp.Tried = x.skip(x.cp.Tried, r.Member)
	}
	return nil
}

// setMember makes m the member of the first attempt and counts the request
// in flight on its MCMP context.
func (h *Handler) setMember(x *exchange, m *registry.Member) {
	x.member = m
	if x.ctx != nil {
		x.ctx.Requests.Add(1)
	}
}

// moveContext moves the in-flight count of a retried request from one
// context row to another.
func (h *Handler) moveContext(from, to *registry.Context) *registry.Context {
	if from != to {
		if from != nil {
			from.Requests.Add(-1)
		}
		to.Requests.Add(1)
	}
	return to
}
