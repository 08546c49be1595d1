package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// group is one cluster group: its bucket and what this balancer knows of
// it. Its maps are guarded by the cluster's mu.
type group struct {
	c      *Cluster
	name   string
	policy Policy
	bucket string
	prefix string // subject prefix, "bk.<cluster>.<group>."

	kv      jetstream.KeyValue    // nil until opened
	revs    map[string]uint64     // by key: the latest revision seen
	nodes   map[string]*nodeDoc   // by route: the bucket's registrations
	members map[string]*memberDoc // by key: the bucket's member settings
	synced  bool
}

func newGroup(c *Cluster, g Group) *group {
	return &group{
		c: c, name: g.Name, policy: g.Policy,
		bucket: "bk_" + token(c.opts.Name) + "_" + token(g.Name),
		prefix: "bk." + token(c.opts.Name) + "." + token(g.Name) + ".",
		revs:   map[string]uint64{}, nodes: map[string]*nodeDoc{}, members: map[string]*memberDoc{},
	}
}

// run opens the bucket (retrying until the voters have a quorum), does the
// policy's join and then applies the bucket's changes until ctx is done.
// synced gets one value once the join is done.
func (g *group) run(ctx context.Context, synced chan<- struct{}) {
	if g.policy == PolicyDisabled {
		synced <- struct{}{}
		return
	}
	kv := g.open(ctx)
	if kv == nil {
		return
	}
	g.c.mu.Lock()
	g.kv = kv
	g.c.mu.Unlock()
	if g.policy == PolicyNode || g.policy == PolicyNodeOnly {
		g.pushAll(ctx, false)
	}
	if !g.policy.pull() {
		g.c.mu.Lock()
		g.synced = true
		g.c.mu.Unlock()
		synced <- struct{}{}
		return
	}
	for ctx.Err() == nil {
		g.watch(ctx, synced)
		synced = nil // once
		if ctx.Err() == nil {
			g.c.log.Warn("cluster watcher stopped; restarting", "group", g.name)
			sleep(ctx, time.Second)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// open returns the group's bucket, creating it if needed; nil if ctx ends
// first.
func (g *group) open(ctx context.Context) jetstream.KeyValue {
	storage := jetstream.MemoryStorage
	if g.c.opts.DataDir != "" || g.c.opts.URL != "" {
		storage = jetstream.FileStorage
	}
	cfg := jetstream.KeyValueConfig{Bucket: g.bucket, History: 1, Replicas: g.c.opts.Replicas, Storage: storage,
		Description: "barkeep registrations of cluster group " + g.name}
	for warned := false; ; {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		kv, err := g.c.js.KeyValue(actx, g.bucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			kv, err = g.c.js.CreateKeyValue(actx, cfg)
		}
		cancel()
		if err == nil {
			return kv
		}
		if ctx.Err() != nil {
			return nil
		}
		if !warned {
			g.c.log.Info("waiting for the cluster's registry", "group", g.name, "bucket", g.bucket, "err", err)
			warned = true
		}
		sleep(ctx, 250*time.Millisecond)
	}
}

// watch applies the bucket's entries to the registry, in batches, until
// the watcher ends. synced, if not nil, gets a value after the initial
// entries are applied.
func (g *group) watch(ctx context.Context, synced chan<- struct{}) {
	w, err := g.kv.WatchAll(ctx)
	if err != nil {
		return
	}
	defer w.Stop() //nolint:errcheck // nothing to do about it
	var batch []jetstream.KeyValueEntry
	initial := true
	for {
		var e jetstream.KeyValueEntry
		ok := true
		select {
		case <-ctx.Done():
			return
		case e, ok = <-w.Updates():
		}
		marker := ok && e == nil
		if e != nil {
			batch = append(batch, e)
		}
		// Take what else is ready, so that a burst is one registry update.
		for ok && !marker && len(batch) < 1024 && len(w.Updates()) > 0 {
			e, ok = <-w.Updates()
			if e == nil {
				marker = ok
			} else {
				batch = append(batch, e)
			}
		}
		if !initial || marker || len(batch) >= 1024 || !ok {
			g.apply(batch)
			batch = batch[:0]
		}
		if initial && marker {
			// The bucket's state at the start is applied.
			initial = false
			g.join(ctx)
			if synced != nil {
				synced <- struct{}{}
				synced = nil
			}
		}
		if !ok {
			return
		}
	}
}

// join is the policy's step after the initial pull: cluster pushes the
// registrations only this balancer has, node has pushed everything before.
func (g *group) join(ctx context.Context) {
	g.c.mu.Lock()
	g.synced = true
	g.c.mu.Unlock()
	if g.policy == PolicyCluster {
		g.pushAll(ctx, true)
	}
}

// pushAll commits this balancer's registrations to the group: all of them,
// or with onlyNew those the bucket does not hold.
func (g *group) pushAll(ctx context.Context, onlyNew bool) {
	snap := g.c.store.Load()
	for _, n := range snap.Nodes() {
		if n.Renamed {
			continue
		}
		g.c.mu.Lock()
		_, known := g.nodes[n.JVMRoute]
		g.c.mu.Unlock()
		if onlyNew && known {
			continue
		}
		if err := g.c.commitNode(ctx, snap, n.JVMRoute, []*group{g}); err != nil && ctx.Err() == nil {
			g.c.log.Warn("push registration to the cluster", "group", g.name, "route", n.JVMRoute, "err", err)
		}
	}
}

// apply makes the registry hold the bucket's entries, in one update.
func (g *group) apply(batch []jetstream.KeyValueEntry) {
	if len(batch) == 0 {
		return
	}
	c := g.c
	var nodes []change
	c.mu.Lock()
	for _, e := range batch {
		key := e.Key()
		if e.Revision() <= g.revs[key] {
			continue // our own write, or seen already
		}
		g.revs[key] = e.Revision()
		del := e.Operation() != jetstream.KeyValuePut
		switch {
		case strings.HasPrefix(key, nodePrefix):
			route, ok := dec(strings.TrimPrefix(key, nodePrefix))
			if !ok {
				continue
			}
			var doc *nodeDoc
			if !del {
				doc = new(nodeDoc)
				if err := json.Unmarshal(e.Value(), doc); err != nil || doc.Route != route {
					c.log.Warn("unreadable registration in the cluster's bucket; ignored", "group", g.name, "key", key, "err", err)
					continue
				}
				c.clock.observe(doc.UpdHLC)
				g.nodes[route] = doc
			} else {
				delete(g.nodes, route)
			}
			if p := c.pending[route]; p != nil {
				if doc != nil && doc.RegHLC < p.RegHLC {
					continue // ours is newer: the retry will write it
				}
				delete(c.pending, route) // superseded by the bucket
			}
			nodes = append(nodes, change{route, doc})
		case strings.HasPrefix(key, memberPrefix):
			if del {
				delete(g.members, key)
				continue
			}
			doc := new(memberDoc)
			if err := json.Unmarshal(e.Value(), doc); err != nil {
				continue
			}
			c.clock.observe(doc.UpdHLC)
			g.members[key] = doc
			delete(c.pendingM, key)
		}
	}
	members := make([]*memberDoc, 0, len(g.members))
	for _, m := range g.members {
		members = append(members, m)
	}
	c.mu.Unlock()
	g.applyLocal(nodes, members)
}

// change is a registration to apply: doc nil means deleted.
type change struct {
	route string
	doc   *nodeDoc
}

// applyLocal applies registrations and member settings to the registry in
// one update.
func (g *group) applyLocal(nodes []change, members []*memberDoc) {
	c := g.c
	now := c.now()
	purge := 2*c.opts.WaitForRemove + 10*time.Second
	_, err := c.store.Update(func(d *registry.Draft) error {
		for _, ch := range nodes {
			if err := applyNode(d, ch.route, ch.doc, now, purge); err != nil {
				c.log.Warn("registration from the cluster not applied", "group", g.name, "route", ch.route, "err", err)
			}
		}
		for _, m := range members {
			if _, err := applyMember(d, m); err != nil {
				c.log.Warn("member settings from the cluster not applied", "group", g.name,
					"balancer", m.Balancer, "member", m.Member, "err", err)
			}
		}
		return nil
	})
	if err != nil {
		c.log.Error("apply the cluster's registrations", "group", g.name, "err", err)
		return
	}
	snap := c.store.Load()
	for _, ch := range nodes {
		if ch.doc != nil && ch.doc.State == stateDown {
			if n := snap.Node(ch.route); n != nil {
				n.Stats.Load.Store(-1)
			}
		}
	}
}
