package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// ErrUnavailable is wrapped by commits the cluster could not accept in
// time: no quorum of voters is reachable (a partition, a leader election)
// or Run has not joined yet.
var ErrUnavailable = errors.New("cluster: registry unavailable (no quorum reachable)")

// CommitNodes implements registry.Replicator: it writes the registrations
// of routes, as snap holds them, to the bucket of every group this
// balancer pushes to, each with compare-and-swap on the revision it last
// saw. A registration equal to the bucket's (apart from who wrote it and
// when) is not written again, so a worker that registers with every
// balancer causes one write. It waits at most the commit timeout.
func (c *Cluster) CommitNodes(ctx context.Context, snap *registry.Snapshot, routes ...string) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.CommitTimeout)
	defer cancel()
	var errs []error
	for _, route := range routes {
		errs = append(errs, c.commitNode(ctx, snap, route, c.pushGroups()))
	}
	return errors.Join(errs...)
}

func (c *Cluster) pushGroups() []*group {
	var out []*group
	for _, g := range c.groups {
		if g.policy.push() {
			out = append(out, g)
		}
	}
	return out
}

// commitNode writes route's registration to groups.
func (c *Cluster) commitNode(ctx context.Context, snap *registry.Snapshot, route string, groups []*group) error {
	mu := c.routeLock(route)
	mu.Lock()
	defer mu.Unlock()
	doc := docOf(snap, route)
	if doc == nil || len(groups) == 0 {
		return nil // forgotten here (purged): the bucket keeps its tombstone
	}
	c.mu.Lock()
	var prev *nodeDoc
	for _, g := range groups {
		if p := g.nodes[route]; p != nil && (prev == nil || p.UpdHLC > prev.UpdHLC) {
			prev = p
		}
	}
	doc.UpdHLC = c.clock.next()
	switch {
	case prev == nil || !prev.sameWorker(doc):
		doc.RegHLC, doc.Owner = doc.UpdHLC, c.opts.Node
	default:
		doc.RegHLC, doc.Owner = prev.RegHLC, prev.Owner
	}
	if doc.State == stateUp {
		doc.StateSince = c.now().UnixMilli()
		if prev != nil && prev.State == stateUp {
			doc.StateSince = prev.StateSince
		}
	}
	c.pending[route] = doc
	c.mu.Unlock()
	var errs []error
	for _, g := range groups {
		errs = append(errs, c.writeNode(ctx, g, doc))
	}
	err := errors.Join(errs...)
	if err == nil {
		c.mu.Lock()
		if c.pending[route] == doc {
			delete(c.pending, route)
		}
		c.mu.Unlock()
	}
	// On ErrStale the bucket's newer registration was applied, and it
	// dropped doc from pending if it supersedes it; otherwise doc stays
	// pending for the retry.
	return err
}

// routeLock returns the lock that orders the commits of route: one of a
// fixed set, shared by routes whose hashes collide.
func (c *Cluster) routeLock(route string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(route))
	return &c.routeLocks[h.Sum32()%uint32(len(c.routeLocks))]
}

// writeNode writes doc to g's bucket unless the bucket holds the same.
// On a revision conflict the bucket's newer document is applied here and
// the error wraps registry.ErrStale.
func (c *Cluster) writeNode(ctx context.Context, g *group, doc *nodeDoc) error {
	key := nodeKey(doc.Route)
	data, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return c.write(ctx, g, key, data, func(cur []byte) bool {
		var d nodeDoc
		return json.Unmarshal(cur, &d) == nil && d.sameContent(doc)
	}, func() {
		g.nodes[doc.Route] = doc
	})
}

// write stores data under key in g's bucket with compare-and-swap on the
// revision this balancer last saw (read first when it does not watch the
// group). same reports whether the bucket's value is already equivalent;
// stored runs under c.mu after a successful write.
func (c *Cluster) write(ctx context.Context, g *group, key string, data []byte, same func([]byte) bool, stored func()) error {
	c.mu.Lock()
	kv, rev, known := g.kv, g.revs[key], g.policy.pull() && g.synced
	c.mu.Unlock()
	if kv == nil {
		return fmt.Errorf("%w: group %s not joined yet", ErrUnavailable, g.name)
	}
	if !known {
		e, err := kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			rev = 0
		case err != nil:
			return unavailable(g, err)
		default:
			rev = e.Revision()
			if e.Operation() == jetstream.KeyValuePut && same(e.Value()) {
				return nil
			}
		}
	} else {
		c.mu.Lock()
		cur := g.current(key)
		c.mu.Unlock()
		if cur != nil && same(cur) {
			return nil
		}
		if cur == nil {
			// Deleted (or never there): Create handles a delete marker.
			rev = 0
		}
	}
	var err error
	var nrev uint64
	if rev == 0 {
		nrev, err = kv.Create(ctx, key, data)
	} else {
		nrev, err = kv.Update(ctx, key, data, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return c.refresh(ctx, g, key, same)
	}
	if err != nil {
		return unavailable(g, err)
	}
	c.mu.Lock()
	if nrev > g.revs[key] {
		g.revs[key] = nrev
		stored()
	}
	c.mu.Unlock()
	return nil
}

func unavailable(g *group, err error) error {
	return fmt.Errorf("%w: group %s: %w", ErrUnavailable, g.name, err)
}

// current returns the bucket's value of key as this balancer last saw it,
// encoded; nil if none. Called with c.mu held.
func (g *group) current(key string) []byte {
	var v any
	if route, ok := routeOfKey(key); ok {
		if d := g.nodes[route]; d != nil {
			v = d
		}
	} else if m := g.members[key]; m != nil {
		v = m
	}
	if v == nil {
		return nil
	}
	b, _ := json.Marshal(v)
	return b
}

func routeOfKey(key string) (string, bool) {
	if len(key) <= len(nodePrefix) || key[:len(nodePrefix)] != nodePrefix {
		return "", false
	}
	return dec(key[len(nodePrefix):])
}

// refreshTries and refreshPause bound how long refresh waits for a
// replica to show the write that won a compare-and-swap: about 0.5 s.
const (
	refreshTries = 10
	refreshPause = 50 * time.Millisecond
)

// refresh reads key after a lost compare-and-swap and applies the bucket's
// value here; nil if it turns out equivalent to what was to be written.
func (c *Cluster) refresh(ctx context.Context, g *group, key string, same func([]byte) bool) error {
	var e jetstream.KeyValueEntry
	for try := 0; ; try++ {
		var err error
		e, err = g.kv.Get(ctx, key)
		if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return unavailable(g, err)
		}
		if e != nil || try == refreshTries {
			break
		}
		// Reads may be served by a replica that has not yet applied the
		// write that won: ask again before calling it uncommitted.
		select {
		case <-ctx.Done():
			return unavailable(g, ctx.Err())
		case <-time.After(refreshPause):
		}
	}
	if e != nil && same(e.Value()) {
		c.mu.Lock()
		if e.Revision() > g.revs[key] {
			g.revs[key] = e.Revision()
		}
		c.mu.Unlock()
		return nil
	}
	if e == nil {
		// The compare-and-swap lost against a write the bucket has not
		// committed: a leader cut off from its quorum still counts its
		// own proposals. Not stale: unavailable until it is decided.
		return fmt.Errorf("%w: group %s: %s has a write not yet committed", ErrUnavailable, g.name, key)
	}
	g.apply([]entry{entryOf(e)})
	return fmt.Errorf("%w: %s in group %s", registry.ErrStale, key, g.name)
}

// CommitMembers implements registry.Replicator for an operator's member
// settings.
func (c *Cluster) CommitMembers(ctx context.Context, snap *registry.Snapshot, balancer string, members ...string) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.CommitTimeout)
	defer cancel()
	b := snap.Balancer(balancer)
	if b == nil {
		return nil
	}
	var errs []error
	for _, name := range members {
		m := b.Member(name)
		if m == nil {
			continue
		}
		doc := memberDocOf(balancer, m)
		doc.Owner, doc.UpdHLC = c.opts.Node, c.clock.next()
		key := memberKey(balancer, name)
		data, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		for _, g := range c.pushGroups() {
			err := c.write(ctx, g, key, data, func(cur []byte) bool {
				var d memberDoc
				return json.Unmarshal(cur, &d) == nil && d.sameContent(doc)
			}, func() { g.members[key] = doc })
			if err != nil && !errors.Is(err, registry.ErrStale) {
				c.mu.Lock()
				c.pendingM[key] = doc
				c.mu.Unlock()
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// retryPending writes again the local changes the bucket did not accept,
// unless the bucket meanwhile holds a newer registration.
func (c *Cluster) retryPending(ctx context.Context) {
	c.mu.Lock()
	nodes := make([]*nodeDoc, 0, len(c.pending))
	for _, d := range c.pending {
		nodes = append(nodes, d)
	}
	members := make(map[string]*memberDoc, len(c.pendingM))
	for k, d := range c.pendingM {
		members[k] = d
	}
	c.mu.Unlock()
	if len(nodes)+len(members) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.CommitTimeout)
	defer cancel()
	for _, doc := range nodes {
		// Under the route's lock, and only if no newer change of the
		// route was committed or tried meanwhile: an older document
		// written after a newer one would undo it.
		mu := c.routeLock(doc.Route)
		mu.Lock()
		c.mu.Lock()
		current := c.pending[doc.Route] == doc
		c.mu.Unlock()
		if !current {
			mu.Unlock()
			continue
		}
		var errs []error
		for _, g := range c.pushGroups() {
			errs = append(errs, c.writeNode(ctx, g, doc))
		}
		if err := errors.Join(errs...); err == nil {
			c.mu.Lock()
			if c.pending[doc.Route] == doc {
				delete(c.pending, doc.Route)
			}
			c.mu.Unlock()
			c.log.Info("registration committed to the cluster after a retry", "route", doc.Route)
		}
		mu.Unlock()
	}
	for key, doc := range members {
		data, _ := json.Marshal(doc)
		ok := true
		for _, g := range c.pushGroups() {
			err := c.write(ctx, g, key, data, func(cur []byte) bool {
				var d memberDoc
				return json.Unmarshal(cur, &d) == nil && d.sameContent(doc)
			}, func() { g.members[key] = doc })
			ok = ok && (err == nil || errors.Is(err, registry.ErrStale))
		}
		if ok {
			c.mu.Lock()
			if c.pendingM[key] == doc {
				delete(c.pendingM, key)
			}
			c.mu.Unlock()
		}
	}
}

// writeState changes the state of route's registration in g (expiry), by
// compare-and-swap on the revision last seen; losing the race is fine.
func (c *Cluster) writeState(ctx context.Context, g *group, prev *nodeDoc, state string, now time.Time) {
	doc := *prev
	doc.State, doc.StateSince, doc.UpdHLC = state, now.UnixMilli(), c.clock.next()
	if state == stateRemoved {
		doc.RegHLC, doc.Vhosts, doc.Contexts = doc.UpdHLC, nil, nil
	}
	if state == stateUp {
		doc.Owner = c.opts.Node
	}
	if err := c.writeNode(ctx, g, &doc); err != nil {
		if !errors.Is(err, registry.ErrStale) {
			c.log.Debug("node state not written", "route", prev.Route, "state", state, "err", err)
		}
		return
	}
	if g.policy.pull() {
		g.applyLocal([]change{{prev.Route, &doc}}, nil)
	}
	c.log.Info("node state changed in the cluster", "group", g.name, "route", prev.Route, "state", state)
}
