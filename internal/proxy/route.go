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
		if m != nil || known && x.bal.NoFailover {
			x.forced = known && x.bal.NoFailover
			return m
		}
	}
	return h.balance(x.bal, now, x.tried)
}

// balance asks the lbmethod of static balancer b for a member not in tried.
func (h *Handler) balance(b *registry.Balancer, now int64, tried []*registry.Member) *registry.Member {
	m, err := balancer.Select(b, balancer.Pick{
		Seq: b.Stats.Seq.Add(1) - 1, Rand: rand.Uint64(), Now: now, Tried: tried,
	})
	if err != nil {
		return nil
	}
	return m
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
		if r := balancer.StickyRow(x.refs, &x.cp, x.sticky); r != nil {
			x.ctx = r.Context
			return r.Member
		}
		if x.forced {
			return nil
		}
	}
	r := balancer.SelectCluster(x.refs, &x.cp)
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
		if r := balancer.SelectCluster(x.refs, &x.cp); r != nil {
			x.ctx = h.moveContext(x.ctx, r.Context)
			return r.Member
		}
		return nil
	}
	if x.forced {
		m, _ := session.Resolve(x.bal, x.sticky, now, tried)
		return m
	}
	return h.balance(x.bal, now, tried)
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
