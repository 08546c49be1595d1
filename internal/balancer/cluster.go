package balancer

import "github.com/barkeep-lb/barkeep/internal/registry"

// ClusterPick carries the inputs of a selection among MCMP context rows
// (mod_proxy_cluster's find_node_context_host and
// internal_find_best_byrequests).
type ClusterPick struct {
	Pick
	// Balancer restricts the rows to one balancer.
	Balancer *registry.Balancer
	// Host is the request's host (lower case, no port), compared with the
	// rows' aliases when UseAlias is set.
	Host     string
	UseAlias bool
	// HasSession lets DISABLED contexts serve (the request carries a
	// session id).
	HasSession bool
	// Domain prefers members of this load-balancing group; with
	// DomainOnly (StickySessionForce) no other member may serve.
	Domain     string
	DomainOnly bool
}

// Qualifies reports whether row r may serve the request: it belongs to the
// balancer, its node is a member, its context is ENABLED (or DISABLED and
// the request has a session), and with UseAlias its vhost has the host.
func (p *ClusterPick) Qualifies(r *registry.ContextRef) bool {
	if r.Balancer != p.Balancer || r.Member == nil {
		return false
	}
	switch r.Context.State {
	case registry.ContextEnabled:
	case registry.ContextDisabled:
		if !p.HasSession {
			return false
		}
	default:
		return false
	}
	return !p.UseAlias || r.HasAlias(p.Host)
}

// SelectCluster returns the row whose member should take a new session:
// among qualifying rows of usable, untried members with Load > 0 the one
// with the lowest (Elected-OldElected)*1000/Load + LBStatus (earliest on
// ties), trying the Domain's members first; members with Load 0 (hot
// standby) only when none qualifies, members with Load -1 never. nil when
// no row qualifies. It does not allocate.
func SelectCluster(refs []registry.ContextRef, p *ClusterPick) *registry.ContextRef {
	if p.Domain != "" {
		if r := bestLoaded(refs, p, true); r != nil || p.DomainOnly {
			return r
		}
	}
	if r := bestLoaded(refs, p, false); r != nil {
		return r
	}
	for i := range refs {
		r := &refs[i]
		if r.Member != nil && r.Member.Stats.Load.Load() == 0 && p.Qualifies(r) && Candidate(r.Member, p.Pick) {
			return r
		}
	}
	return nil
}

func bestLoaded(refs []registry.ContextRef, p *ClusterPick, inDomain bool) *registry.ContextRef {
	var best *registry.ContextRef
	var bestScore int64
	for i := range refs {
		r := &refs[i]
		if !p.Qualifies(r) || inDomain && r.Member.Domain != p.Domain {
			continue
		}
		s := r.Member.Stats
		load := int64(s.Load.Load())
		if load <= 0 || !Candidate(r.Member, p.Pick) {
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

// StickyRow returns the row of the member whose route is route if it
// qualifies and the member is usable and untried (mod_proxy_cluster's
// find_route_worker); nil otherwise. Load does not matter: a broken
// (-1) or standby (0) node still serves its sessions.
func StickyRow(refs []registry.ContextRef, p *ClusterPick, route string) *registry.ContextRef {
	for i := range refs {
		r := &refs[i]
		if r.Member != nil && r.Member.Route == route && p.Qualifies(r) && Candidate(r.Member, p.Pick) {
			return r
		}
	}
	return nil
}
