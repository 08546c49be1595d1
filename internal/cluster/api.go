package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// Status is what `barkeep ctl cluster` shows: this balancer, the other
// balancers it hears, and per group the bucket's leader and replicas.
type Status struct {
	Cluster   string        `json:"cluster"`
	Node      string        `json:"node"`
	Voter     bool          `json:"voter"`
	Ready     bool          `json:"ready"`
	RouteAddr string        `json:"route_addr,omitempty"`
	URL       string        `json:"url,omitempty"`
	Balancers []PeerStatus  `json:"balancers"`
	Groups    []GroupStatus `json:"groups"`
	// Pending counts local changes the cluster has not accepted yet.
	Pending int `json:"pending"`
}

// PeerStatus is one balancer of the cluster.
type PeerStatus struct {
	Node  string `json:"node"`
	Voter bool   `json:"voter"`
	Self  bool   `json:"self,omitempty"`
	// LastSeenMs is how long ago its last heartbeat arrived, milliseconds.
	LastSeenMs int64    `json:"last_seen_ms"`
	Groups     []string `json:"groups,omitempty"`
}

// GroupStatus is one cluster group as this balancer sees it.
type GroupStatus struct {
	Name   string `json:"name"`
	Policy string `json:"policy"`
	Bucket string `json:"bucket"`
	Synced bool   `json:"synced"`
	// Registrations and Members count the bucket's documents seen here.
	Registrations int    `json:"registrations"`
	Members       int    `json:"members"`
	Leader        string `json:"leader,omitempty"`
	// Replicas are the voters holding the bucket, with how many
	// operations each is behind the leader.
	Replicas []ReplicaStatus `json:"replicas,omitempty"`
	Error    string          `json:"error,omitempty"`
}

// ReplicaStatus is one voter's copy of a group's bucket.
type ReplicaStatus struct {
	Node    string `json:"node"`
	Current bool   `json:"current"`
	Offline bool   `json:"offline,omitempty"`
	Lag     uint64 `json:"lag"`
	// ActiveMs is how long ago the leader last heard from it, ms.
	ActiveMs int64 `json:"active_ms"`
}

// Status returns the cluster's state as this balancer sees it, asking the
// bucket leaders within ctx.
func (c *Cluster) Status(ctx context.Context) Status {
	now := c.now()
	st := Status{Cluster: c.opts.Name, Node: c.opts.Node, Voter: c.opts.Voter && c.opts.URL == "", URL: c.opts.URL}
	select {
	case <-c.ready:
		st.Ready = true
	default:
	}
	c.mu.Lock()
	st.RouteAddr = c.routeAdr
	st.Pending = len(c.pending) + len(c.pendingM)
	st.Balancers = append(st.Balancers, PeerStatus{Node: c.opts.Node, Voter: st.Voter, Self: true})
	for name, p := range c.peers {
		st.Balancers = append(st.Balancers, PeerStatus{Node: name, Voter: p.voter, LastSeenMs: now.Sub(p.seen).Milliseconds(),
			Groups: slices.Clone(p.groups)})
	}
	type groupRef struct {
		g   *group
		gst GroupStatus
	}
	var refs []groupRef
	for _, g := range c.groups {
		refs = append(refs, groupRef{g, GroupStatus{Name: g.name, Policy: g.policy.String(), Bucket: g.bucket,
			Synced: g.synced, Registrations: len(g.nodes), Members: len(g.members)}})
	}
	js := c.js
	c.mu.Unlock()
	slices.SortFunc(st.Balancers, func(a, b PeerStatus) int { return strings.Compare(a.Node, b.Node) })
	for _, r := range refs {
		gst := r.gst
		if js != nil && r.g.policy != PolicyDisabled {
			ictx, cancel := context.WithTimeout(ctx, time.Second)
			s, err := js.Stream(ictx, "KV_"+r.g.bucket)
			if err == nil {
				info, ierr := s.Info(ictx)
				err = ierr
				if ierr == nil && info.Cluster != nil {
					gst.Leader = info.Cluster.Leader
					gst.Replicas = append(gst.Replicas, ReplicaStatus{Node: info.Cluster.Leader, Current: true})
					for _, p := range info.Cluster.Replicas {
						gst.Replicas = append(gst.Replicas, ReplicaStatus{Node: p.Name, Current: p.Current, Offline: p.Offline,
							Lag: p.Lag, ActiveMs: p.Active.Milliseconds()})
					}
				}
			}
			cancel()
			if err != nil {
				gst.Error = err.Error()
			}
		}
		st.Groups = append(st.Groups, gst)
	}
	return st
}

// Location is one row of `barkeep ctl http-list` (Cellar's
// cluster:http-list): a context under an alias, and a node serving it.
type Location struct {
	Alias    string `json:"alias"`
	Context  string `json:"context"`
	Route    string `json:"route"`
	Balancer string `json:"balancer"`
	// Location is the member URL requests go to.
	Location string `json:"location"`
	// State is ENABLED, DISABLED or STOPPED.
	State string `json:"state"`
	// Groups are the cluster groups whose registry holds the node; empty
	// for a node registered only with this balancer.
	Groups []string `json:"groups,omitempty"`
}

// HTTPList returns, from this balancer's registry, every alias and
// context with the nodes serving it, sorted by alias, context and route;
// with group set, only nodes the group's registry holds.
func (c *Cluster) HTTPList(group string) []Location {
	groupsOf := map[string][]string{}
	c.mu.Lock()
	for _, g := range c.groups {
		for route := range g.nodes {
			groupsOf[route] = append(groupsOf[route], g.name)
		}
	}
	c.mu.Unlock()
	return httpList(c.store.Load(), groupsOf, group)
}

func httpList(snap *registry.Snapshot, groupsOf map[string][]string, group string) []Location {
	var out []Location
	for _, n := range snap.Nodes() {
		if n.Removed {
			continue
		}
		gs := groupsOf[n.JVMRoute]
		if group != "" && !slices.Contains(gs, group) {
			continue
		}
		slices.Sort(gs)
		loc := n.Member().Name
		for _, ctx := range n.Contexts {
			for _, a := range n.Aliases(ctx.Vhost) {
				out = append(out, Location{Alias: a, Context: ctx.Path, Route: n.JVMRoute, Balancer: n.Balancer,
					Location: loc, State: ctx.State.String(), Groups: gs})
			}
		}
	}
	slices.SortFunc(out, func(a, b Location) int {
		return cmp.Or(strings.Compare(a.Alias, b.Alias), strings.Compare(a.Context, b.Context), strings.Compare(a.Route, b.Route))
	})
	return out
}

// StatusHandler serves GET /api/v1/cluster: Status as JSON.
func (c *Cluster) StatusHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, c.Status(r.Context()))
	})
}

// HTTPListHandler serves GET /api/v1/http-list[?group=NAME]: the
// locations as JSON, {"group": "...", "locations": [...]}. c may be nil
// (a balancer alone): then store's registry is listed.
func HTTPListHandler(c *Cluster, store *registry.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		group := r.URL.Query().Get("group")
		var locs []Location
		if c != nil {
			locs = c.HTTPList(group)
		} else {
			locs = httpList(store.Load(), nil, group)
		}
		if locs == nil {
			locs = []Location{}
		}
		writeJSON(w, map[string]any{"group": group, "locations": locs})
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v) //nolint:errcheck // the client went away
}
