package balancer

import (
	"slices"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// Choice carries the inputs of one member choice for a request: the
// balancer, and for an MCMP target the context rows the member must come
// from. One Choice serves a static route and an MCMP context alike, so the
// request path has one sticky → select → next sequence for both.
type Choice struct {
	Pick
	// Balancer is the balancer the member is chosen from.
	Balancer *registry.Balancer
	// Rows, when not nil, are the MCMP context rows of the matched target:
	// only their members may serve, chosen with mod_proxy_cluster's method
	// (lowest (Elected-OldElected)*1000/Load + LBStatus). nil means every
	// member of Balancer, chosen by its lbmethod.
	Rows []registry.ContextRef
	// Host is the request's host (lower case, no port), compared with the
	// rows' aliases when UseAlias is set (mod_cluster's UseAlias).
	Host     string
	UseAlias bool
	// HasSession lets DISABLED contexts serve (the request carries a
	// session id).
	HasSession bool
	// Domain prefers members of this load-balancing group (the session's
	// member's); with DomainOnly (nofailover / StickySessionForce) no other
	// member may serve.
	Domain     string
	DomainOnly bool
}

// Qualifies reports whether row r may serve the request: it belongs to the
// balancer, its node is a member, its context is ENABLED (or DISABLED and
// the request has a session), and with UseAlias its vhost has the host.
func (c *Choice) Qualifies(r *registry.ContextRef) bool {
	if r.Balancer != c.Balancer || r.Member == nil {
		return false
	}
	switch r.Context.State {
	case registry.ContextEnabled:
	case registry.ContextDisabled:
		if !c.HasSession {
			return false
		}
	default:
		return false
	}
	return !c.UseAlias || r.HasAlias(c.Host)
}

// Serves reports whether some row qualifies (always true without rows).
func (c *Choice) Serves() bool {
	if c.Rows == nil {
		return true
	}
	for i := range c.Rows {
		if c.Qualifies(&c.Rows[i]) {
			return true
		}
	}
	return false
}

// Sticky returns the member that should serve a request whose session
// carries route, as httpd's mod_proxy_balancer and mod_proxy_cluster's
// find_route_worker do: the member with that route if it is usable,
// untried and (for MCMP) its context row qualifies; else the member its
// Redirect names under the same conditions. row is the member's context
// row (nil without rows). known is false when route names no member of
// the balancer; the caller then balances as for a new session. A broken
// (Load -1) or standby (Load 0) node still serves its sessions. Room under
// the member's max is the caller's to take.
func (c *Choice) Sticky(route string) (m *registry.Member, row *registry.ContextRef, known bool) {
	if route == "" {
		return nil, nil, false
	}
	m = c.Balancer.ByRoute(route)
	if m == nil {
		return nil, nil, false
	}
	if row, ok := c.stickyOK(m); ok {
		return m, row, true
	}
	if m.Redirect != "" {
		if r := c.Balancer.ByRoute(m.Redirect); r != nil {
			if row, ok := c.stickyOK(r); ok {
				return r, row, true
			}
		}
	}
	return nil, nil, true
}

func (c *Choice) stickyOK(m *registry.Member) (*registry.ContextRef, bool) {
	if !m.Usable(c.Now) || slices.Contains(c.Tried, m) {
		return nil, false
	}
	if c.Rows == nil {
		return nil, true
	}
	for i := range c.Rows {
		if r := &c.Rows[i]; r.Member == m && c.Qualifies(r) {
			return r, true
		}
	}
	return nil, false
}

// Select returns the member that should take a new request (and its
// context row, nil without rows), or nil when none may: the Domain's
// members first when Domain is set (only them with DomainOnly), then any.
// It does not allocate.
func (c *Choice) Select() (*registry.Member, *registry.ContextRef) {
	if c.Domain != "" {
		p := c.Pick
		p.Domain = c.Domain
		if m, r := c.selectWith(p); m != nil || c.DomainOnly {
			return m, r
		}
	}
	return c.selectWith(c.Pick)
}

func (c *Choice) selectWith(p Pick) (*registry.Member, *registry.ContextRef) {
	if c.Rows == nil {
		m, err := Select(c.Balancer, p)
		if err != nil {
			return nil, nil
		}
		return m, nil
	}
	if r := c.bestLoaded(p); r != nil {
		return r.Member, r
	}
	// Hot standby: nodes reporting Load 0 take requests only when no
	// loaded node qualifies; Load -1 (broken) never.
	for i := range c.Rows {
		r := &c.Rows[i]
		if r.Member != nil && r.Member.Stats.Load.Load() == 0 && c.Qualifies(r) && Candidate(r.Member, p) {
			return r.Member, r
		}
	}
	return nil, nil
}

// bestLoaded is mod_proxy_cluster's internal_find_best_byrequests over
// the qualifying rows of usable, untried members with Load > 0.
func (c *Choice) bestLoaded(p Pick) *registry.ContextRef {
	var best *registry.ContextRef
	var bestScore int64
	for i := range c.Rows {
		r := &c.Rows[i]
		if !c.Qualifies(r) || !Candidate(r.Member, p) {
			continue
		}
		s := r.Member.Stats
		load := int64(s.Load.Load())
		if load <= 0 {
			continue
		}
		load = max(load*r.Member.Ramp(p.Now)/1000, 1) // slow start
		score := int64(s.Elected.Load()-s.OldElected.Load())*1000/load + s.LBStatus.Load()
		if best == nil || score < bestScore {
			best, bestScore = r, score
		}
	}
	return best
}
