package cluster

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// Bucket keys: one document per MCMP node, and one per member an operator
// changed. KV keys allow only [-/_=.A-Za-z0-9] and '.' separates tokens,
// so names are base64url-encoded.
const (
	nodePrefix   = "node."
	memberPrefix = "member."
)

func enc(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func dec(s string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return string(b), err == nil
}

func nodeKey(route string) string { return nodePrefix + enc(route) }

func memberKey(balancer, member string) string {
	return memberPrefix + enc(balancer) + "." + enc(member)
}

// Node document states.
const (
	stateUp      = "UP"
	stateDown    = "DOWN"    // no balancer heard the node within node_timeout
	stateRemoved = "REMOVED" // soft tombstone: REMOVE-APP "/*" or expiry
)

// nodeDoc is one MCMP node's registration as the cluster holds it: the
// node row, its balancer's record, aliases by virtual host and contexts.
// Row ids are not part of it: every balancer numbers its own rows.
type nodeDoc struct {
	Route    string       `json:"route"`
	Balancer balancerDoc  `json:"balancer"`
	Domain   string       `json:"domain,omitempty"`
	Type     string       `json:"type"`
	Host     string       `json:"host"`
	Port     string       `json:"port"`
	Reversed bool         `json:"reversed,omitempty"`
	Flush    uint8        `json:"flushpackets,omitempty"`
	FlushW   Duration     `json:"flushwait,omitempty"`
	Ping     Duration     `json:"ping,omitempty"`
	Smax     int          `json:"smax"`
	TTL      Duration     `json:"ttl,omitempty"`
	Timeout  Duration     `json:"timeout,omitempty"`
	Vhosts   []vhostDoc   `json:"vhosts,omitempty"`
	Contexts []contextDoc `json:"contexts,omitempty"`
	State    string       `json:"state"`
	// StateSince is when State was entered, Unix milliseconds (wall
	// clock of the balancer that wrote it).
	StateSince int64 `json:"state_since"`

	Owner  string `json:"owner"`   // balancer that received the latest CONFIG
	RegHLC uint64 `json:"reg_hlc"` // owner's clock at that CONFIG
	UpdHLC uint64 `json:"upd_hlc"` // writer's clock at this write
}

// Duration is a time.Duration kept as nanoseconds.
type Duration = time.Duration

type balancerDoc struct {
	Name        string   `json:"name"`
	Sticky      bool     `json:"sticky,omitempty"`
	Cookie      string   `json:"cookie,omitempty"`
	Path        string   `json:"path,omitempty"`
	Remove      bool     `json:"remove,omitempty"`
	Force       bool     `json:"force,omitempty"`
	WaitWorker  Duration `json:"wait_worker,omitempty"`
	MaxAttempts int      `json:"max_attempts,omitempty"`
}

type vhostDoc struct {
	ID      int      `json:"id"`
	Aliases []string `json:"aliases"`
}

type contextDoc struct {
	Vhost int    `json:"vhost"`
	Path  string `json:"path"`
	State string `json:"state"`
}

// sameContent reports whether a and b register the same thing, apart from
// who wrote them and when.
func (a *nodeDoc) sameContent(b *nodeDoc) bool {
	x, y := *a, *b
	x.Owner, x.RegHLC, x.UpdHLC, x.StateSince = "", 0, 0, 0
	y.Owner, y.RegHLC, y.UpdHLC, y.StateSince = "", 0, 0, 0
	if x.State != y.State {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

// sameWorker reports whether b keeps the fields that identify a's worker;
// a CONFIG changing them is a new registration.
func (a *nodeDoc) sameWorker(b *nodeDoc) bool {
	return a.Balancer.Name == b.Balancer.Name && a.Type == b.Type && a.Host == b.Host && a.Port == b.Port &&
		(a.State == stateRemoved) == (b.State == stateRemoved)
}

// docOf returns the document of node route as snap holds it; nil when
// snap has no such node (or only its REMOVED row after the rename).
func docOf(snap *registry.Snapshot, route string) *nodeDoc {
	n := snap.Node(route)
	if n == nil || n.Renamed {
		return nil
	}
	d := &nodeDoc{
		Route: n.JVMRoute, Domain: n.Domain, Type: n.Type, Host: n.Host, Port: n.Port,
		Reversed: n.Reversed, Flush: n.FlushPackets, FlushW: n.FlushWait, Ping: n.Ping, Smax: n.Smax,
		TTL: n.TTL, Timeout: n.Timeout, State: stateUp,
	}
	if b := snap.Balancer(n.Balancer); b != nil {
		d.Balancer = balancerDocOf(b)
	} else {
		d.Balancer.Name = n.Balancer
	}
	if n.Removed {
		d.State = stateRemoved
		d.StateSince = n.RemovedAt.UnixMilli()
		return d
	}
	for _, h := range n.Hosts {
		i := slices.IndexFunc(d.Vhosts, func(v vhostDoc) bool { return v.ID == h.Vhost })
		if i < 0 {
			d.Vhosts = append(d.Vhosts, vhostDoc{ID: h.Vhost})
			i = len(d.Vhosts) - 1
		}
		d.Vhosts[i].Aliases = append(d.Vhosts[i].Aliases, h.Alias)
	}
	slices.SortFunc(d.Vhosts, func(a, b vhostDoc) int { return a.ID - b.ID })
	for _, c := range n.Contexts {
		d.Contexts = append(d.Contexts, contextDoc{Vhost: c.Vhost, Path: c.Path, State: c.State.String()})
	}
	slices.SortFunc(d.Contexts, func(a, b contextDoc) int {
		if a.Vhost != b.Vhost {
			return a.Vhost - b.Vhost
		}
		return strings.Compare(a.Path, b.Path)
	})
	return d
}

func balancerDocOf(b *registry.Balancer) balancerDoc {
	d := balancerDoc{Name: b.Name, Remove: b.StickySessionRemove, Force: b.NoFailover, WaitWorker: b.Timeout, MaxAttempts: b.MaxAttempts}
	if c := b.Cluster; c != nil {
		d.Sticky, d.Cookie, d.Path = c.Sticky, c.Cookie, c.Path
	}
	return d
}

func contextState(s string) registry.ContextState {
	switch s {
	case "ENABLED":
		return registry.ContextEnabled
	case "DISABLED":
		return registry.ContextDisabled
	}
	return registry.ContextStopped
}

// memberDoc is an operator's settings of one member (balancer-manager,
// REST API): they replicate like registrations.
type memberDoc struct {
	Balancer   string `json:"balancer"`
	Member     string `json:"member"`
	LoadFactor int    `json:"loadfactor"`
	LBSet      int    `json:"lbset"`
	Route      string `json:"route"`
	Redirect   string `json:"redirect"`
	Status     string `json:"status"` // flags, as registry.Status.String
	Since      int64  `json:"since"`  // StatusSince, Unix ms
	Owner      string `json:"owner"`
	UpdHLC     uint64 `json:"upd_hlc"`
}

func memberDocOf(bal string, m *registry.Member) *memberDoc {
	return &memberDoc{Balancer: bal, Member: m.Name, LoadFactor: m.LoadFactor, LBSet: m.LBSet, Route: m.Route,
		Redirect: m.Redirect, Status: m.Status.String(), Since: m.StatusSince.UnixMilli()}
}

func (a *memberDoc) sameContent(b *memberDoc) bool {
	return a.Balancer == b.Balancer && a.Member == b.Member && a.LoadFactor == b.LoadFactor && a.LBSet == b.LBSet &&
		a.Route == b.Route && a.Redirect == b.Redirect && a.Status == b.Status
}
