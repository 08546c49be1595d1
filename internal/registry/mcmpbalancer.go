package registry

import (
	"errors"
	"slices"
	"time"
)

// MCMPBalancer is what an MCMP CONFIG says of its node's balancer (the
// balancer row of mod_proxy_cluster's mod_manager): StickySession,
// StickySessionCookie and StickySessionPath, StickySessionRemove,
// StickySessionForce, WaitWorker and Maxattempts.
type MCMPBalancer struct {
	Name         string
	Sticky       bool
	Cookie, Path string
	Remove       bool // StickySessionRemove
	Force        bool // StickySessionForce: no failover
	WaitWorker   time.Duration
	MaxAttempts  int // negative counts as 0
}

var (
	// ErrConfiguredBalancer is returned by PutMCMPBalancer for a name the
	// configuration file already uses: MCMP nodes cannot join it.
	ErrConfiguredBalancer = errors.New("registry: balancer is configured in the file; MCMP nodes cannot join it")
	// ErrBalancerTableFull is returned by PutMCMPBalancer when a new
	// balancer would exceed its limit (mod_cluster's maxhost).
	ErrBalancerTableFull = errors.New("registry: no free MCMP balancer row")
)

// PutMCMPBalancer creates the MCMP balancer s describes or rewrites its
// record: lbmethod cluster, '.' as the session separator, the cookie
// looked at before the path parameter, failontimeout, and sticky session
// names only when s.Sticky; every setting s leaves out goes back to its
// default, as in the reference. An existing balancer keeps its members,
// counters and row id; a new one takes the lowest free row id, and when
// maxRows > 0 at most maxRows MCMP balancers exist (ErrBalancerTableFull).
// A balancer of the same name from the configuration file is refused with
// ErrConfiguredBalancer.
func (d *Draft) PutMCMPBalancer(s MCMPBalancer, maxRows int) error {
	cur := d.Balancer(s.Name)
	if cur != nil && cur.Cluster == nil {
		return ErrConfiguredBalancer
	}
	b := &Balancer{
		Name: s.Name, Source: SourceMCMP, LBMethod: Cluster,
		StickySessionSep: '.', StickyCookieFirst: true, FailOnTimeout: true,
		NoFailover: s.Force, StickySessionRemove: s.Remove, MaxAttempts: max(s.MaxAttempts, 0), Timeout: s.WaitWorker,
		Cluster: &ClusterSettings{Sticky: s.Sticky, Cookie: s.Cookie, Path: s.Path},
	}
	if s.Sticky {
		b.StickySession = []string{s.Cookie, s.Path}
	}
	if cur != nil {
		b.Members, b.Stats, b.Cluster.ID = cur.Members, cur.Stats, cur.Cluster.ID
	} else {
		var ids []int
		for _, o := range d.Balancers() {
			if o.Cluster != nil {
				ids = append(ids, o.Cluster.ID)
			}
		}
		if maxRows > 0 && len(ids) >= maxRows {
			return ErrBalancerTableFull
		}
		b.Cluster.ID = lowestFree(ids)
	}
	return d.PutBalancer(b)
}

// lowestFree returns the smallest non-negative int not in used.
func lowestFree(used []int) int {
	slices.Sort(used)
	id := 0
	for _, u := range used {
		if u == id {
			id++
		} else if u > id {
			break
		}
	}
	return id
}
