package registry

import (
	"cmp"
	"container/heap"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// Snapshot is an immutable view of the registry. Everything reachable from
// it is read-only, except the atomics in Stats and BalancerStats.
type Snapshot struct {
	// Version increases by one with every published change.
	Version uint64

	balancers   []*Balancer // sorted by name
	byName      map[string]*Balancer
	routeList   []*Route // sorted by path
	routes      map[string]*Route
	nodes       []*Node         // by ID
	nodeByRoute index[*Node]    // by JVMRoute
	nodesAt     index[[]string] // JVMRoutes by nodeAddr
	ids         *rowIDs         // node slots, host and context rows in use
	superseded  chan struct{}

	targetOnce sync.Once
	targetTab  atomic.Pointer[targetTable] // set once by targets
	// targetBase, when set, is the previous snapshot, whose target table
	// was built, and targetTouched the nodes changed since: the table is
	// then patched rather than built again (see targets).
	targetBase    *Snapshot
	targetTouched []string
}

// Balancers returns all balancers sorted by name. Shared; do not modify.
func (s *Snapshot) Balancers() []*Balancer { return s.balancers }

// Balancer returns the balancer named name, or nil.
func (s *Snapshot) Balancer(name string) *Balancer { return s.byName[name] }

// Routes returns all routes sorted by path. Shared; do not modify.
func (s *Snapshot) Routes() []*Route { return s.routeList }

// SameBalancers reports, in O(1), that s holds exactly prev's balancers
// and members: no balancer or member was put or deleted in between (node
// context changes, for one, leave them alone). Watchers that only care
// about members, such as health checks and transport pools, can skip such
// a snapshot. A false answer does not promise a change.
func (s *Snapshot) SameBalancers(prev *Snapshot) bool {
	return prev != nil && len(s.balancers) == len(prev.balancers) &&
		(len(s.balancers) == 0 || &s.balancers[0] == &prev.balancers[0])
}

// Superseded returns a channel that is closed when a newer snapshot is
// published. Watchers wait on it, then Load the store again.
func (s *Snapshot) Superseded() <-chan struct{} { return s.superseded }

// build publishes draft d as the snapshot version. What d did not change
// is shared with the snapshot it started from; the sorted node and
// balancer lists are patched with what changed rather than sorted again.
// Balancers were derived when they were put.
func build(version uint64, d *Draft) (*Snapshot, error) {
	base := d.base
	s := &Snapshot{
		Version: version, balancers: base.balancers, byName: base.byName, routeList: base.routeList, routes: base.routes,
		nodes: base.nodes, nodeByRoute: d.nodes, nodesAt: d.nodesAt, ids: d.ids, superseded: make(chan struct{}),
	}
	if len(d.touchedNodes) > 0 {
		var drop, add []*Node
		for route := range d.touchedNodes {
			if n, ok := base.nodeByRoute.Get(route); ok {
				drop = append(drop, n)
			}
			if n, ok := d.nodes.Get(route); ok {
				add = append(add, n)
			}
		}
		s.nodes = patch(base.nodes, drop, add, func(a, b *Node) int { return cmp.Compare(a.ID, b.ID) })
	}
	if d.ownBalancers {
		var drop, add []*Balancer
		for name := range d.touchedBalancers {
			if b := base.byName[name]; b != nil {
				drop = append(drop, b)
			}
			if b := d.balancers[name]; b != nil {
				add = append(add, b)
			}
		}
		s.byName = d.balancers
		s.balancers = patch(base.balancers, drop, add, func(a, b *Balancer) int { return cmp.Compare(a.Name, b.Name) })
	}
	if d.routesSet || d.ownBalancers {
		// Routes point at balancers: resolve them again.
		if err := s.setRoutes(d.routes); err != nil {
			return nil, err
		}
	} else if len(d.touchedNodes) > 0 && base.targetTab.Load() != nil {
		// Only nodes changed (their contexts, say): the target table can be
		// patched from base's.
		s.targetBase = base
		for route := range d.touchedNodes {
			s.targetTouched = append(s.targetTouched, route)
		}
	} else if len(d.touchedNodes) == 0 {
		// Nothing the table is made of changed.
		s.targetTab.Store(base.targetTab.Load())
	}
	return s, nil
}

// setRoutes resolves routes against s's balancers and indexes them.
func (s *Snapshot) setRoutes(routes []*Route) error {
	s.routes = make(map[string]*Route, len(routes))
	s.routeList = make([]*Route, 0, len(routes))
	for _, r := range routes {
		c := *r
		c.balancer = nil
		if c.Pass {
			c.balancer = s.byName[c.BalancerName]
			if c.balancer == nil {
				return fmt.Errorf("%w: route %s names unknown balancer %q", ErrInvalid, c.Path, c.BalancerName)
			}
		}
		if _, dup := s.routes[c.Path]; dup {
			return fmt.Errorf("%w: route %s listed twice", ErrInvalid, c.Path)
		}
		s.routes[c.Path] = &c
		s.routeList = append(s.routeList, &c)
	}
	slices.SortFunc(s.routeList, func(a, b *Route) int { return cmp.Compare(a.Path, b.Path) })
	return nil
}

// tiers groups the members that may take new requests: per lbset in
// ascending order, the ordinary members and then the hot standbys. A tier
// holding every member shares the members slice (it is never modified).
func tiers(members []*Member) []Tier {
	var count [100][2]int // by lbset (0..99, checkMember) and standby
	for _, m := range members {
		if !m.Status.Has(StatusStopped) && !m.Status.Has(StatusDrain) {
			count[m.LBSet][b2i(m.Status.Has(StatusHotStandby))]++
		}
	}
	var out []Tier
	for set := range count {
		for standby, k := range count[set] {
			if k == 0 {
				continue
			}
			tm := members
			if k < len(members) {
				tm = make([]*Member, 0, k)
				for _, m := range members {
					if m.LBSet == set && !m.Status.Has(StatusStopped) && !m.Status.Has(StatusDrain) &&
						b2i(m.Status.Has(StatusHotStandby)) == standby {
						tm = append(tm, m)
					}
				}
			}
			out = append(out, Tier{Members: tm, Schedule: schedule(tm)})
		}
	}
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// maxExactWork bounds the work of building an exact smooth weighted
// schedule (cycle length × members); beyond it a heap-built schedule with
// the same shares is used.
const maxExactWork = 1 << 22

// schedule returns one cycle of the smooth weighted round-robin order over
// members: the sequence httpd's byrequests (and nginx's smooth weighted
// round robin) produces, where each member appears LoadFactor/g times.
func schedule(members []*Member) []*Member {
	g := 0
	for _, m := range members {
		g = gcd(g, m.LoadFactor)
	}
	if g == members[0].LoadFactor && g == maxLoadFactor(members) {
		// Equal loadfactors: the smooth order is the members in turn.
		return members
	}
	w := make([]int, len(members))
	total := 0
	for i, m := range members {
		w[i] = m.LoadFactor / g
		total += w[i]
	}
	if total*len(members) > maxExactWork {
		return scheduleByFinishTime(members, w, total)
	}
	cur := make([]int, len(members))
	out := make([]*Member, 0, total)
	for range total {
		best := 0
		for i := range members {
			cur[i] += w[i]
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		out = append(out, members[best])
	}
	return out
}

func maxLoadFactor(members []*Member) int {
	lf := 0
	for _, m := range members {
		lf = max(lf, m.LoadFactor)
	}
	return lf
}

// scheduleByFinishTime orders the k-th appearance of member i at virtual
// time (k+1)/w_i, ties to the lower index: the same shares as schedule in
// O(total·log n), for very large balancers.
func scheduleByFinishTime(members []*Member, w []int, total int) []*Member {
	h := &finishHeap{}
	for i := range members {
		*h = append(*h, finish{num: 1, den: w[i], i: i})
	}
	heap.Init(h)
	out := make([]*Member, 0, total)
	for range total {
		f := (*h)[0]
		out = append(out, members[f.i])
		f.num++
		(*h)[0] = f
		heap.Fix(h, 0)
	}
	return out
}

type finish struct{ num, den, i int }

type finishHeap []finish

func (h finishHeap) Len() int { return len(h) }
func (h finishHeap) Less(a, b int) bool {
	x, y := h[a].num*h[b].den, h[b].num*h[a].den
	return x < y || x == y && h[a].i < h[b].i
}
func (h finishHeap) Swap(a, b int) { h[a], h[b] = h[b], h[a] }
func (h *finishHeap) Push(x any)   { *h = append(*h, x.(finish)) }
func (h *finishHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
