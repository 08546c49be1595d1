package cluster

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// Soft state travels on core NATS subjects, never through the bucket:
//
//	bk.<cluster>.<group>.load.<balancer>  every second: the balancer's heartbeat and the
//	                                      loads of the nodes it heard a STATUS from
//	bk.<cluster>.<group>.inflight         request: requests in flight to a node's contexts
const (
	subjLoad     = "load."
	subjInFlight = "inflight"
	tickEvery    = time.Second
)

// loadBatch is one balancer's heartbeat with the loads it heard.
type loadBatch struct {
	Node  string           `json:"node"`
	Voter bool             `json:"voter"`
	Loads map[string]int32 `json:"loads,omitempty"` // by route
}

type inFlightAsk struct {
	From     string   `json:"from"`
	Route    string   `json:"route"`
	Aliases  []string `json:"aliases,omitempty"`
	Contexts []string `json:"contexts,omitempty"`
}

type inFlightAnswer struct {
	Node     string `json:"node"`
	Requests int64  `json:"requests"`
}

// subscribe listens to the other balancers' heartbeats (groups this one
// pulls from) and answers their in-flight questions (every group).
func (c *Cluster) subscribe(ctx context.Context) error {
	for _, g := range c.groups {
		if g.policy == PolicyDisabled {
			continue
		}
		if g.policy.pull() {
			if _, err := c.nc.Subscribe(g.prefix+subjLoad+"*", func(m *nats.Msg) { c.onLoad(g, m) }); err != nil {
				return err
			}
		}
		if _, err := c.nc.Subscribe(g.prefix+subjInFlight, c.onInFlight); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) onLoad(g *group, m *nats.Msg) {
	var b loadBatch
	if json.Unmarshal(m.Data, &b) != nil || b.Node == c.opts.Node {
		return
	}
	now := c.now()
	snap := c.store.Load()
	c.mu.Lock()
	p := c.peers[b.Node]
	p.seen, p.voter = now, b.Voter
	if !slices.Contains(p.groups, g.name) {
		p.groups = append(p.groups, g.name)
	}
	c.peers[b.Node] = p
	for route, load := range b.Loads {
		h := c.heard[route]
		h.remote = now
		// Our own STATUS from the node is fresher evidence of its load.
		if now.Sub(h.local) > 3*tickEvery {
			h.load = load
			if n := snap.Node(route); n != nil && !n.Removed {
				n.Stats.Load.Store(load)
			}
		}
		c.heard[route] = h
	}
	c.mu.Unlock()
}

// Heard implements registry.Replicator.
func (c *Cluster) Heard(route string, load int32) {
	c.mu.Lock()
	h := c.heard[route]
	h.local, h.load = c.now(), load
	c.heard[route] = h
	c.mu.Unlock()
}

func (c *Cluster) onInFlight(m *nats.Msg) {
	var a inFlightAsk
	if json.Unmarshal(m.Data, &a) != nil || a.From == c.opts.Node || m.Reply == "" {
		return
	}
	n := c.store.Load().Node(a.Route)
	var sum int64
	if n != nil && !n.Removed {
		sum = inFlightOf(n, a.Aliases, a.Contexts)
	}
	data, _ := json.Marshal(inFlightAnswer{Node: c.opts.Node, Requests: sum})
	m.Respond(data) //nolint:errcheck // the asker copes with a missing answer
}

// inFlightOf sums the requests in flight to n's contexts paths under the
// virtual hosts of aliases (all contexts when both are empty).
func inFlightOf(n *registry.Node, aliases, paths []string) int64 {
	vhosts := map[int]bool{}
	for _, h := range n.Hosts {
		if slices.Contains(aliases, h.Alias) {
			vhosts[h.Vhost] = true
		}
	}
	var sum int64
	for _, ctx := range n.Contexts {
		if len(aliases)+len(paths) == 0 || vhosts[ctx.Vhost] && slices.Contains(paths, ctx.Path) {
			sum += ctx.Requests.Load()
		}
	}
	return sum
}

// InFlight implements registry.Replicator: it asks every other balancer
// of this balancer's groups and sums the answers that arrive before ctx
// is done (at most 500ms), one per balancer.
func (c *Cluster) InFlight(ctx context.Context, route string, aliases, paths []string) int64 {
	c.mu.Lock()
	nc := c.nc
	live := 0
	for _, p := range c.peers {
		if c.now().Sub(p.seen) < 3*tickEvery {
			live++
		}
	}
	c.mu.Unlock()
	if nc == nil || live == 0 {
		return 0
	}
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	inbox := nc.NewRespInbox()
	ch := make(chan *nats.Msg, 16)
	sub, err := nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return 0
	}
	defer sub.Unsubscribe() //nolint:errcheck // on the way out
	data, _ := json.Marshal(inFlightAsk{From: c.opts.Node, Route: route, Aliases: aliases, Contexts: paths})
	for _, g := range c.groups {
		if g.policy != PolicyDisabled {
			nc.PublishRequest(g.prefix+subjInFlight, inbox, data) //nolint:errcheck // answers count, not sends
		}
	}
	answered := map[string]int64{}
	for len(answered) < live {
		select {
		case <-ctx.Done():
			return sumValues(answered)
		case m := <-ch:
			var a inFlightAnswer
			if json.Unmarshal(m.Data, &a) == nil {
				answered[a.Node] = a.Requests
			}
		}
	}
	return sumValues(answered)
}

func sumValues(m map[string]int64) int64 {
	var s int64
	for _, v := range m {
		s += v
	}
	return s
}

// tick does the cluster's periodic work until ctx is done: every second
// the heartbeat with the heard loads, retries of uncommitted changes and
// the expiry of nodes nobody hears.
func (c *Cluster) tick(ctx context.Context) {
	t := time.NewTicker(tickEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.heartbeat()
		c.retryPending(ctx)
		c.expire(ctx)
	}
}

// heartbeat publishes this balancer's heartbeat with the loads of the
// nodes it heard within the node timeout, on every group it pushes to.
func (c *Cluster) heartbeat() {
	now := c.now()
	b := loadBatch{Node: c.opts.Node, Voter: c.opts.Voter && c.opts.URL == "", Loads: map[string]int32{}}
	c.mu.Lock()
	for route, h := range c.heard {
		if now.Sub(h.local) < c.opts.NodeTimeout {
			b.Loads[route] = h.load
		}
	}
	for name, p := range c.peers {
		if now.Sub(p.seen) > 10*time.Minute {
			delete(c.peers, name)
		}
	}
	c.mu.Unlock()
	data, _ := json.Marshal(b)
	for _, g := range c.pushGroups() {
		c.nc.Publish(g.prefix+subjLoad+token(c.opts.Node), data) //nolint:errcheck // next second again
	}
}

// expire moves registrations along: UP nodes no balancer heard within the
// node timeout go DOWN, DOWN nodes heard again go UP, DOWN nodes go
// REMOVED after wait_for_remove, and REMOVED records are deleted after the
// tombstone period (their delete markers purged). Any balancer that both
// pulls and pushes a group does it; compare-and-swap settles races.
func (c *Cluster) expire(ctx context.Context) {
	now := c.now()
	type step struct {
		g     *group
		doc   *nodeDoc
		state string
		del   bool
		rev   uint64
	}
	var steps []step
	c.mu.Lock()
	for _, g := range c.groups {
		if !g.policy.pull() || !g.policy.push() || !g.synced {
			continue
		}
		for route, doc := range g.nodes {
			h := c.heard[route]
			last := latest(h.local, h.remote, c.started, time.UnixMilli(doc.StateSince))
			since := now.Sub(time.UnixMilli(doc.StateSince))
			switch {
			case doc.State == stateUp && now.Sub(last) > c.opts.NodeTimeout:
				steps = append(steps, step{g: g, doc: doc, state: stateDown})
			case doc.State == stateDown && now.Sub(h.local) < c.opts.NodeTimeout && h.local.After(time.UnixMilli(doc.StateSince)):
				steps = append(steps, step{g: g, doc: doc, state: stateUp})
			case doc.State == stateDown && since > c.opts.WaitForRemove:
				steps = append(steps, step{g: g, doc: doc, state: stateRemoved})
			case doc.State == stateRemoved && since > c.opts.Tombstone:
				steps = append(steps, step{g: g, doc: doc, del: true, rev: g.revs[nodeKey(route)]})
			}
		}
	}
	c.mu.Unlock()
	if len(steps) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.CommitTimeout)
	defer cancel()
	for _, s := range steps {
		if s.del {
			if err := s.g.kv.Delete(ctx, nodeKey(s.doc.Route), jetstream.LastRevision(s.rev)); err == nil {
				c.log.Info("removed node's record deleted from the cluster", "group", s.g.name, "route", s.doc.Route)
				s.g.kv.PurgeDeletes(ctx, jetstream.DeleteMarkersOlderThan(30*time.Minute)) //nolint:errcheck // next time
			}
			continue
		}
		c.writeState(ctx, s.g, s.doc, s.state, now)
	}
}

func latest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if t.After(out) {
			out = t
		}
	}
	return out
}
