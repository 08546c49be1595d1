package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	w := &watcher{synced: synced}
	for ctx.Err() == nil {
		err := g.watch(ctx, w)
		if ctx.Err() == nil {
			// The server holding the consumer went away, or no quorum:
			// start again after the last revision applied.
			g.c.log.Debug("cluster watcher restarts", "group", g.name, "after", w.seq, "err", err)
			sleep(ctx, 100*time.Millisecond)
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

// entry is one change of a bucket key as the watcher or a Get saw it.
type entry struct {
	key   string
	value []byte
	rev   uint64 // the bucket's revision (stream sequence)
	del   bool   // a delete or purge marker
}

func entryOf(e jetstream.KeyValueEntry) entry {
	return entry{key: e.Key(), value: e.Value(), rev: e.Revision(), del: e.Operation() != jetstream.KeyValuePut}
}

// watchHeartbeat is how often the server that holds this balancer's
// watcher confirms it is alive; two missed heartbeats make the watcher
// start again where it stopped (on another server after a voter died).
const watchHeartbeat = 500 * time.Millisecond

// watcher is what a group's watch keeps across restarts.
type watcher struct {
	synced chan<- struct{} // gets a value once the initial state is applied; then nil
	seq    uint64          // stream sequence of the last entry applied; 0 before the initial state
}

// watch applies the bucket's entries to the registry, in batches, until
// ctx is done or the watch breaks (the error says why). The first watch
// reads the latest entry of every key, and w.synced gets a value once they
// are applied; later ones resume after w.seq.
//
// It reads the bucket's stream with a consumer of its own, ordered as
// JetStream's ordered consumer is (a gap in the consumer's sequence starts
// it again), rather than the KV watcher: the KV watcher's 5 s heartbeat and
// its library's reset backoff left a balancer without updates for 10 s or
// more when the voter holding its consumer was killed; this one notices
// within two heartbeats and tries again every 100 ms with short timeouts.
func (g *group) watch(ctx context.Context, w *watcher) error {
	stream := "KV_" + g.bucket
	prefix := "$KV." + g.bucket + "."
	cfg := jetstream.ConsumerConfig{
		FilterSubject: prefix + ">", AckPolicy: jetstream.AckNonePolicy, MemoryStorage: true, Replicas: 1,
		InactiveThreshold: 10 * time.Second, DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy,
	}
	if w.seq > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, w.seq+1
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	cons, err := g.c.js.CreateConsumer(cctx, stream, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		// Best effort, not waited for: otherwise it goes after
		// InactiveThreshold.
		go func() {
			dctx, cancel := context.WithTimeout(context.Background(), time.Second)
			g.c.js.DeleteConsumer(dctx, stream, cons.CachedInfo().Name) //nolint:errcheck // see above
			cancel()
		}()
	}()
	it, err := cons.Messages(jetstream.PullExpiry(4*watchHeartbeat), jetstream.PullHeartbeat(watchHeartbeat),
		jetstream.WithMessagesErrOnMissingHeartbeat(true))
	if err != nil {
		return err
	}
	defer it.Stop()
	type item struct {
		e      entry
		caught bool // no more entries pending after e
	}
	items := make(chan item, 4096)
	var readErr error
	go func() {
		defer close(items)
		var cseq uint64
		for {
			m, err := it.Next()
			if err != nil {
				readErr = err
				return
			}
			md, err := m.Metadata()
			if err != nil {
				readErr = err
				return
			}
			if md.Sequence.Consumer != cseq+1 {
				readErr = fmt.Errorf("consumer sequence %d after %d", md.Sequence.Consumer, cseq)
				return
			}
			cseq = md.Sequence.Consumer
			e := entry{key: strings.TrimPrefix(m.Subject(), prefix), value: m.Data(), rev: md.Sequence.Stream}
			if op := m.Headers().Get("KV-Operation"); op == "DEL" || op == "PURGE" {
				e.del = true
			}
			select {
			case items <- item{e, md.NumPending == 0}:
			case <-ctx.Done():
				return
			}
		}
	}()
	initial := w.synced != nil
	if initial && cons.CachedInfo().NumPending == 0 {
		// An empty bucket: nothing to wait for.
		initial = false
		g.joined(ctx, w)
	}
	var batch []entry
	for {
		var it item
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case it, ok = <-items:
		}
		if !ok {
			return readErr
		}
		batch = append(batch, it.e)
		caught := it.caught
		// Take what else is ready, so that a burst is one registry update.
		for !caught && len(batch) < 1024 && len(items) > 0 {
			if it, ok = <-items; !ok {
				break
			}
			batch = append(batch, it.e)
			caught = it.caught
		}
		if !initial || caught || len(batch) >= 1024 || !ok {
			g.apply(batch)
			w.seq = batch[len(batch)-1].rev
			batch = batch[:0]
		}
		if initial && caught {
			// The bucket's state at the start is applied.
			initial = false
			g.joined(ctx, w)
		}
		if !ok {
			return readErr
		}
	}
}

// joined runs the policy's join once the initial state is applied, and
// tells Run.
func (g *group) joined(ctx context.Context, w *watcher) {
	if w.synced == nil {
		return
	}
	g.join(ctx)
	w.synced <- struct{}{}
	w.synced = nil
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
func (g *group) apply(batch []entry) {
	if len(batch) == 0 {
		return
	}
	c := g.c
	var nodes []change
	c.mu.Lock()
	for _, e := range batch {
		key := e.key
		if e.rev <= g.revs[key] {
			continue // our own write, or seen already
		}
		g.revs[key] = e.rev
		del := e.del
		switch {
		case strings.HasPrefix(key, nodePrefix):
			route, ok := dec(strings.TrimPrefix(key, nodePrefix))
			if !ok {
				continue
			}
			var doc *nodeDoc
			if !del {
				doc = new(nodeDoc)
				if err := json.Unmarshal(e.value, doc); err != nil || doc.Route != route {
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
			if err := json.Unmarshal(e.value, doc); err != nil {
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
