package registry

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Store holds the current Snapshot. Readers call Load and never block;
// writers call Update, which is serialised by one mutex. The zero value is
// not usable; call NewStore.
type Store struct {
	mu   sync.Mutex // serialises writers; readers never take it
	snap atomic.Pointer[Snapshot]
}

// NewStore returns a store holding an empty snapshot at version 0.
func NewStore() *Store {
	s := &Store{}
	s.snap.Store(&Snapshot{
		byName: map[string]*Balancer{}, routes: map[string]*Route{}, ids: &rowIDs{},
		superseded: make(chan struct{}),
	})
	return s
}

// Load returns the current snapshot. It never blocks and does not allocate.
func (s *Store) Load() *Snapshot { return s.snap.Load() }

// Update calls fn with a draft of the current state and publishes the
// result as a new snapshot with the next version. The change is all or
// nothing: if fn or the final consistency check fails, nothing is published
// and the current snapshot is returned with the error. fn must not call
// Update. Subscribers learn of the change through the old snapshot's
// Superseded channel.
//
// An update costs what it changes: a node put costs O(its rows) plus
// copying the snapshot's node list; a balancer whose members change costs
// O(its members). Nothing is proportional to the whole registry per
// change, so registering n nodes costs O(n) snapshot work each at worst.
func (s *Store) Update(fn func(d *Draft) error) (*Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.snap.Load()
	d := &Draft{base: cur, balancers: cur.byName, routes: cur.routeList, nodes: cur.nodeByRoute, nodesAt: cur.nodesAt, ids: cur.ids}
	if err := fn(d); err != nil {
		return cur, err
	}
	next, err := build(cur.Version+1, d)
	if err != nil {
		return cur, err
	}
	s.snap.Store(next)
	close(cur.superseded)
	return next, nil
}

// Draft is the writable view a Store.Update function edits. Values read
// from a Draft are published and must not be modified: copy, edit the copy,
// put the copy. The draft shares the current snapshot's maps and sets and
// copies each one before its first change.
type Draft struct {
	base      *Snapshot
	balancers map[string]*Balancer // base.byName until ownBalancers
	routes    []*Route
	nodes     index[*Node]    // by JVMRoute
	nodesAt   index[[]string] // JVMRoutes by nodeAddr
	ids       *rowIDs         // base.ids until the first node change

	ownBalancers     bool
	routesSet        bool
	ownIDs           bool
	touchedNodes     map[string]bool // JVMRoutes put or deleted
	touchedBalancers map[string]bool // names put or deleted
}

// Balancer returns the balancer named name in the draft, or nil.
func (d *Draft) Balancer(name string) *Balancer { return d.balancers[name] }

// Balancers returns the draft's balancers sorted by name.
func (d *Draft) Balancers() []*Balancer {
	return slices.SortedFunc(maps.Values(d.balancers), func(a, b *Balancer) int {
		return cmp.Compare(a.Name, b.Name)
	})
}

// setBalancer stores b (nil: deletes name) in the draft's own copy of the
// balancer map.
func (d *Draft) setBalancer(name string, b *Balancer) {
	if !d.ownBalancers {
		d.balancers, d.ownBalancers = maps.Clone(d.balancers), true
		d.touchedBalancers = map[string]bool{}
	}
	if b == nil {
		delete(d.balancers, name)
	} else {
		d.balancers[name] = b
	}
	d.touchedBalancers[name] = true
}

// PutBalancer adds b or replaces the balancer of the same name. b must not
// be published yet (build it new or Clone one). Members with nil Stats adopt
// the Stats of the current member with the same Name in the balancer being
// replaced, and its StatusSince when their Status is unchanged, so counters
// and error state survive a reload; members without a predecessor get fresh
// Stats. It returns an error, and changes nothing, if b breaks an invariant
// the request path relies on.
func (d *Draft) PutBalancer(b *Balancer) error {
	if err := checkBalancer(b); err != nil {
		return err
	}
	old := d.balancers[b.Name]
	if old == nil {
		old = d.base.byName[b.Name]
	}
	if b.Stats == nil {
		if old != nil {
			b.Stats = old.Stats
		} else {
			b.Stats = new(BalancerStats)
		}
	}
	for _, m := range b.Members {
		if m.Stats != nil {
			continue
		}
		var om *Member
		if old != nil {
			om = old.Member(m.Name)
		}
		if om == nil {
			m.Stats = newStats(m.StatusSince)
			continue
		}
		m.Stats = om.Stats
		if m.Status == om.Status {
			m.StatusSince = om.StatusSince
		}
	}
	if err := derive(b, d.balancers[b.Name]); err != nil {
		return err
	}
	d.setBalancer(b.Name, b)
	return nil
}

// newStats returns the Stats of a member added at since (zero: unknown),
// which starts its slow start then.
func newStats(since time.Time) *Stats {
	s := new(Stats)
	if !since.IsZero() {
		s.RecoveredAt.Store(since.UnixNano())
	}
	return s
}

// DeleteBalancer removes the balancer named name, if any.
func (d *Draft) DeleteBalancer(name string) {
	if d.balancers[name] != nil {
		d.setBalancer(name, nil)
	}
}

// Routes returns the draft's routes sorted by path.
func (d *Draft) Routes() []*Route { return slices.Clone(d.routes) }

// SetRoutes replaces all routes. Paths must be unique; every route that
// passes must name a balancer present when the update is published.
func (d *Draft) SetRoutes(routes []*Route) {
	d.routes, d.routesSet = slices.Clone(routes), true
}

// EditMember replaces the member named member of balancer bal with a copy
// edited by fn. Errors from fn, an unknown balancer or member, or a result
// that breaks an invariant leave the draft unchanged.
func (d *Draft) EditMember(bal, member string, fn func(m *Member) error) error {
	b := d.balancers[bal]
	if b == nil {
		return fmt.Errorf("%w: %q", ErrNoBalancer, bal)
	}
	i := slices.IndexFunc(b.Members, func(m *Member) bool { return m.Name == member })
	if i < 0 {
		return fmt.Errorf("%w: %q in balancer %q", ErrNoMember, member, bal)
	}
	m := *b.Members[i]
	if err := fn(&m); err != nil {
		return err
	}
	nb := b.Clone()
	nb.Members[i] = &m
	return d.PutBalancer(nb)
}

// EditBalancer replaces balancer bal with a copy edited by fn. fn must not
// modify the members themselves (replace them instead).
func (d *Draft) EditBalancer(bal string, fn func(b *Balancer) error) error {
	b := d.balancers[bal]
	if b == nil {
		return fmt.Errorf("%w: %q", ErrNoBalancer, bal)
	}
	nb := b.Clone()
	if err := fn(nb); err != nil {
		return err
	}
	return d.PutBalancer(nb)
}

var (
	// ErrNoBalancer is returned for a balancer name the registry does not hold.
	ErrNoBalancer = errors.New("registry: no such balancer")
	// ErrNoMember is returned for a member name the balancer does not hold.
	ErrNoMember = errors.New("registry: no such member")
	// ErrInvalid is wrapped by every invariant violation.
	ErrInvalid = errors.New("registry: invalid")
)

// checkBalancer enforces what the request path relies on of the balancer
// itself; derive checks its members. Configuration validation reports
// friendlier errors earlier; this is the last line for every writer.
func checkBalancer(b *Balancer) error {
	if b.Name == "" {
		return fmt.Errorf("%w: balancer without a name", ErrInvalid)
	}
	if b.StickySessionSep == 0 {
		return fmt.Errorf("%w: balancer %q: empty stickysessionsep", ErrInvalid, b.Name)
	}
	return nil
}

// checkMember enforces what the request path and the schedule builder rely
// on of one member of balancer bal.
func checkMember(bal string, m *Member) error {
	switch {
	case m == nil || m.URL == nil || m.Name == "":
		return fmt.Errorf("%w: balancer %q: member without a URL", ErrInvalid, bal)
	case m.LoadFactor < 1 || m.LoadFactor > 100:
		return fmt.Errorf("%w: member %s: loadfactor %d is outside 1..100", ErrInvalid, m.Name, m.LoadFactor)
	case m.LBSet < 0 || m.LBSet > 99:
		return fmt.Errorf("%w: member %s: lbset %d is outside 0..99", ErrInvalid, m.Name, m.LBSet)
	}
	return nil
}
