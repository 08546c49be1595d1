package registry

import (
	"cmp"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// ContextState is the state of an application context on a node
// (mod_cluster's ENABLED / DISABLED / STOPPED).
type ContextState uint8

const (
	// ContextEnabled: new and sticky requests.
	ContextEnabled ContextState = 1
	// ContextDisabled: only requests carrying a session id.
	ContextDisabled ContextState = 2
	// ContextStopped: no requests.
	ContextStopped ContextState = 3
)

func (s ContextState) String() string {
	switch s {
	case ContextEnabled:
		return "ENABLED"
	case ContextDisabled:
		return "DISABLED"
	case ContextStopped:
		return "STOPPED"
	}
	return "UNKNOWN"
}

// Node is a backend that registered itself over MCMP: mod_cluster's node
// row with its host (alias) and context rows. It is a member of the
// balancer named Balancer while it is not Removed. Like every published
// value it is never modified: writers copy it.
type Node struct {
	// ID is the node's slot, a small integer reused after removal.
	ID int
	// JVMRoute is the node's identity and its route in session ids.
	JVMRoute string
	// Balancer names the balancer the node belongs to.
	Balancer string
	// Domain is the node's load-balancing group (mod_cluster LBGroup);
	// sticky requests fail over inside it first.
	Domain string
	// Type is the scheme (ajp, http, https, h2c); Host and Port address it.
	Type, Host, Port string
	// Reversed is mod_cluster's reversed-connection flag (stored, shown).
	Reversed bool
	// FlushPackets is 0 off, 1 on, 2 auto; FlushWait its wait.
	FlushPackets uint8
	FlushWait    time.Duration
	// Ping bounds a probe of the node and connecting to it.
	Ping time.Duration
	// Smax is the soft maximum of idle connections; -1 for the default.
	Smax int
	// TTL is how long an idle connection to the node is kept.
	TTL time.Duration
	// Timeout bounds the wait for a response; 0 for the default.
	Timeout time.Duration
	// Hosts are the node's aliases, grouped in virtual hosts, by ID.
	Hosts []HostAlias
	// Contexts are the node's application contexts, by ID.
	Contexts []*Context
	// Removed is set by REMOVE-APP "/*" (or after failing health probes):
	// the node keeps its row, serving nothing, while the manager's removal
	// timeline runs from RemovedAt.
	Removed   bool
	RemovedAt time.Time
	// Renamed is set wait_for_remove after RemovedAt: the row is listed as
	// "REMOVED" (mod_cluster renames it) until it is purged and its slot
	// freed; its JVMRoute names no node any more.
	Renamed bool
	// Stats is shared with the node's member; never nil once published.
	Stats *Stats
}

// HostAlias is one alias of a node's virtual host (mod_cluster's host row).
type HostAlias struct {
	ID    int    // row id, unique across nodes
	Vhost int    // virtual host id within the node, from 1
	Alias string // lower case
}

// Context is one application context of a node (mod_cluster's context row).
type Context struct {
	ID    int // row id, unique across nodes
	Vhost int
	Path  string
	State ContextState
	// Requests counts requests in flight to this context on this node;
	// shared by every copy of the row. The request path adds 1 when it
	// chooses the row and calls EndRequest when the member has sent its
	// whole response.
	Requests *atomic.Int64
	idle     *idleSignal // wakes STOP-APPs waiting for Requests to reach 0; nil unless made by NewContext
}

// Clone returns a copy of n whose Hosts and Contexts may be edited; the
// Context values are shared and must be replaced, not modified.
func (n *Node) Clone() *Node {
	c := *n
	c.Hosts = slices.Clone(n.Hosts)
	c.Contexts = slices.Clone(n.Contexts)
	return &c
}

// Aliases returns the aliases of virtual host vhost.
func (n *Node) Aliases(vhost int) []string {
	var out []string
	for _, h := range n.Hosts {
		if h.Vhost == vhost {
			out = append(out, h.Alias)
		}
	}
	return out
}

// Member returns the balancer member the node is reached as: URL
// Type://Host:Port, route JVMRoute, connect timeout Ping (and for ajp the
// CPING timeout), response timeout Timeout (60 s when 0), sharing the
// node's Stats.
func (n *Node) Member() *Member {
	u := &url.URL{Scheme: strings.ToLower(n.Type), Host: net.JoinHostPort(strings.Trim(n.Host, "[]"), n.Port)}
	smax := n.Smax
	if smax < 0 {
		smax = 64
	}
	m := &Member{
		Name: u.String(), URL: u, Route: n.JVMRoute, Domain: n.Domain, LoadFactor: 1,
		Retry: 60 * time.Second, ConnectionTimeout: cmp.Or(n.Ping, 10*time.Second),
		Timeout: cmp.Or(n.Timeout, 60*time.Second), SMax: smax, TTL: n.TTL, Stats: n.Stats,
	}
	// Like mod_proxy_cluster's workers, nodes are checked every 10 s: CPING
	// for ajp, "OPTIONS *" (any answer) for the others, within ping.
	m.Check = &HealthCheck{Method: CheckOPTIONS, URI: "*", Interval: 10 * time.Second,
		Timeout: m.ConnectionTimeout, Passes: 1, Fails: 1}
	m.Check.Status.Add(100, 599)
	if u.Scheme == "ajp" {
		// mod_proxy_cluster's ping= is the CPING timeout of the worker.
		m.Ping = cmp.Or(n.Ping, 10*time.Second)
		m.FlushPackets = n.FlushPackets == 1
		m.Check.Method = CheckCPING
	}
	return m
}

// ClusterSettings is the MCMP record of a balancer created by node
// registrations, for what the generic Balancer fields do not hold.
type ClusterSettings struct {
	// ID is the balancer's row id.
	ID int
	// Sticky, Cookie and Path are mod_cluster's StickySession,
	// StickySessionCookie and StickySessionPath (kept for DUMP even when
	// sticky sessions are off).
	Sticky       bool
	Cookie, Path string
}

// Node returns the node whose JVMRoute is route, or nil.
func (s *Snapshot) Node(route string) *Node {
	n, _ := s.nodeByRoute.Get(route)
	return n
}

// Nodes returns all nodes by ID. Shared; do not modify.
func (s *Snapshot) Nodes() []*Node { return s.nodes }

// Node returns the node whose JVMRoute is route in the draft, or nil.
func (d *Draft) Node(route string) *Node {
	n, _ := d.nodes.Get(route)
	return n
}

// Nodes returns the draft's nodes by ID.
func (d *Draft) Nodes() []*Node {
	var drop, add []*Node
	for route := range d.touchedNodes {
		if n, ok := d.base.nodeByRoute.Get(route); ok {
			drop = append(drop, n)
		}
		if n, ok := d.nodes.Get(route); ok {
			add = append(add, n)
		}
	}
	return patch(d.base.nodes, drop, add, func(a, b *Node) int { return cmp.Compare(a.ID, b.ID) })
}

// NodeCount returns the number of nodes in the draft, removed ones
// included.
func (d *Draft) NodeCount() int { return d.nodes.Len() }

// NodesAt returns the nodes whose Host and Port are host and port (host
// compared without case and brackets), in no particular order.
func (d *Draft) NodesAt(host, port string) []*Node {
	routes, _ := d.nodesAt.Get(nodeAddr(host, port))
	out := make([]*Node, 0, len(routes))
	for _, r := range routes {
		out = append(out, d.Node(r))
	}
	return out
}

// nodeAddr is the key of a node's address in Snapshot.nodesAt.
func nodeAddr(host, port string) string {
	return strings.ToLower(strings.Trim(host, "[]")) + " " + port
}

// FreeNodeID returns the lowest node slot no node of the draft uses.
func (d *Draft) FreeNodeID() int { return d.ids.nodes.nextFree(0) }

// HostRows and ContextRows return how many host (alias) and context rows
// the draft's nodes hold.
func (d *Draft) HostRows() int    { return d.ids.hosts.n }
func (d *Draft) ContextRows() int { return d.ids.contexts.n }

// FreeHostID and FreeContextID return the lowest host or context row id
// from from on that no node of the draft uses. A writer adding several
// rows to one node before putting it asks again from the last id + 1.
func (d *Draft) FreeHostID(from int) int    { return d.ids.hosts.nextFree(from) }
func (d *Draft) FreeContextID(from int) int { return d.ids.contexts.nextFree(from) }

// PutNode adds n or replaces the node with the same JVMRoute, and makes the
// node's member (see Node.Member) part of its balancer, which must exist;
// a Removed node has no member. n must not be published yet. A node with
// nil Stats adopts those of the node it replaces. Its ID and its host and
// context row ids must be >= 0 and not used by another node. When the
// fields the member is made of did not change, the member stays as it is
// and so does the balancer: updating a node's contexts costs O(its rows).
func (d *Draft) PutNode(n *Node) error {
	b := d.balancers[n.Balancer]
	if b == nil {
		return fmt.Errorf("%w: %q for node %q", ErrNoBalancer, n.Balancer, n.JVMRoute)
	}
	old := d.Node(n.JVMRoute)
	if n.Stats == nil {
		if old != nil {
			n.Stats = old.Stats
		} else {
			n.Stats = new(Stats)
		}
	}
	ids := d.ownedIDs()
	if err := ids.replace(old, n); err != nil {
		return err
	}
	if err := d.putNodeMember(old, n); err != nil {
		ids.replace(n, old) //nolint:errcheck // restores what was there
		return err
	}
	d.setNode(n.JVMRoute, old, n)
	return nil
}

// putNodeMember makes n's member (none when n is nil or removed) take the
// place of old's in their balancers. On error the draft is unchanged.
func (d *Draft) putNodeMember(old, n *Node) error {
	var oldM *Member
	if old != nil && !old.Removed {
		if ob := d.balancers[old.Balancer]; ob != nil {
			oldM = ob.ByRoute(old.JVMRoute)
		}
	}
	live := n != nil && !n.Removed
	if oldM != nil && live && old.Balancer == n.Balancer && old.sameMember(n) {
		return nil // the member stays as it is
	}
	var put []*Balancer
	if oldM != nil && (!live || old.Balancer != n.Balancer) {
		nb, err := replaceMember(d.balancers[old.Balancer], oldM, nil)
		if err != nil {
			return err
		}
		put, oldM = append(put, nb), nil
	}
	if live {
		nb, err := replaceMember(d.balancers[n.Balancer], oldM, n.Member())
		if err != nil {
			return err
		}
		put = append(put, nb)
	}
	for _, nb := range put {
		d.setBalancer(nb.Name, nb)
	}
	return nil
}

// sameMember reports whether n's member (Node.Member) would be the same as
// o's: the fields it is made of are equal and the Stats shared.
func (o *Node) sameMember(n *Node) bool {
	return o.Type == n.Type && o.Host == n.Host && o.Port == n.Port && o.JVMRoute == n.JVMRoute &&
		o.Domain == n.Domain && o.Ping == n.Ping && o.Timeout == n.Timeout && o.Smax == n.Smax &&
		o.TTL == n.TTL && o.FlushPackets == n.FlushPackets && o.Stats == n.Stats
}

// DeleteNode forgets the node whose JVMRoute is route, and its member.
func (d *Draft) DeleteNode(route string) error {
	old := d.Node(route)
	if old == nil {
		return nil
	}
	if err := d.putNodeMember(old, nil); err != nil {
		return err
	}
	d.ownedIDs().replace(old, nil) //nolint:errcheck // removing cannot fail
	d.setNode(route, old, nil)
	return nil
}

// ownedIDs returns the draft's own copy of the row id sets.
func (d *Draft) ownedIDs() *rowIDs {
	if !d.ownIDs {
		d.ids, d.ownIDs = d.ids.clone(), true
	}
	return d.ids
}

// setNode records that the node at route changed from old to n (either
// may be nil) in the node and address indexes.
func (d *Draft) setNode(route string, old, n *Node) {
	if d.touchedNodes == nil {
		d.touchedNodes = map[string]bool{}
	}
	d.touchedNodes[route] = true
	if n == nil {
		d.nodes = d.nodes.Without(route)
	} else {
		d.nodes = d.nodes.With(route, n)
	}
	var oldAddr, newAddr string
	if old != nil {
		oldAddr = nodeAddr(old.Host, old.Port)
	}
	if n != nil {
		newAddr = nodeAddr(n.Host, n.Port)
	}
	if oldAddr == newAddr {
		return
	}
	if old != nil {
		routes, _ := d.nodesAt.Get(oldAddr)
		routes = slices.DeleteFunc(slices.Clone(routes), func(r string) bool { return r == route })
		if len(routes) == 0 {
			d.nodesAt = d.nodesAt.Without(oldAddr)
		} else {
			d.nodesAt = d.nodesAt.With(oldAddr, routes)
		}
	}
	if n != nil {
		routes, _ := d.nodesAt.Get(newAddr)
		d.nodesAt = d.nodesAt.With(newAddr, append(slices.Clip(routes), route))
	}
}
