// Package registry is barkeep's domain model and the single source of truth
// the request path reads: balancers, their members, and the routes that map
// client paths to balancers.
//
// Every writer (the configuration loader, the balancer-manager, later MCMP
// and peer balancers) changes the registry through [Store.Update], which
// publishes a new immutable [Snapshot]. The request path only calls
// [Store.Load] and reads that snapshot, so it takes no lock. Counters that
// change on every request (elected, busy, bytes, error state) live in the
// per-member [Stats], which every copy of a member shares: they survive
// snapshots and configuration reloads without a rebuild.
package registry

import (
	"net/url"
	"slices"
	"time"
)

// Balancer is a named group of members (httpd's balancer://name). A
// *Balancer published in a Snapshot is never modified; writers copy it with
// Clone, edit the copy and put it back with [Draft.PutBalancer].
type Balancer struct {
	// Name identifies the balancer: letters, digits, '.', '_' and '-'.
	Name string
	// Source is the writer that owns the balancer.
	Source Source
	// LBMethod chooses members for requests without a usable sticky route.
	LBMethod LBMethod
	// StickySession holds the names looked up as cookie and as path or
	// query parameter (";jsessionid=", "?jsessionid="); empty disables
	// sticky sessions. httpd's stickysession=JSESSIONID|jsessionid.
	StickySession []string
	// StickySessionSep is the byte after which the route starts in a session
	// id; default '.'.
	StickySessionSep byte
	// StickyCookieFirst looks for the session id in cookies before the URL
	// (mod_cluster); httpd's balancer looks in the URL first.
	StickyCookieFirst bool
	// NoFailover makes a sticky request whose member (and its redirect) is
	// unusable fail with 503 instead of going to another member
	// (httpd nofailover, mod_cluster StickySessionForce). With a domain,
	// failover stays inside it.
	NoFailover bool
	// StickySessionRemove strips the session id from a request that fails
	// over to a member outside its route's domain (mod_cluster).
	StickySessionRemove bool
	// MaxAttempts is how many further members are tried after a failure;
	// -1 means one less than the number of members (httpd's default).
	MaxAttempts int
	// Timeout is how long a request waits for a usable member (or a free
	// slot under members' Max) before 503; 0 means no wait.
	Timeout time.Duration
	// FailOnStatus lists response statuses that put the member in error
	// (httpd failonstatus); the response still goes to the client.
	FailOnStatus StatusSet
	// FailOnTimeout puts a member that answers nothing within its timeout
	// in error state (httpd failontimeout).
	FailOnTimeout bool
	// Members in configuration order (MCMP balancers: registration order).
	Members []*Member
	// Cluster holds the MCMP record of a balancer created by node
	// registrations; nil for configured balancers.
	Cluster *ClusterSettings
	// Stats is shared by every copy of this balancer; never nil once
	// published.
	Stats *BalancerStats

	// Derived when the balancer is put into a Draft (see derive).
	derived  bool
	byRoute  index[*Member] // members with a route
	byName   index[*Member]
	hostRefs index[int] // members per URL host
	hosts    []string
	tiers    []Tier
}

// Clone returns a shallow copy of b whose Members slice may be edited
// without touching b. Member values are shared and must be replaced, not
// modified.
func (b *Balancer) Clone() *Balancer {
	c := *b
	c.Members = slices.Clone(b.Members)
	c.StickySession = slices.Clone(b.StickySession)
	if b.Cluster != nil {
		cs := *b.Cluster
		c.Cluster = &cs
	}
	c.derived, c.byRoute, c.byName, c.hostRefs, c.hosts, c.tiers = false, index[*Member]{}, index[*Member]{}, index[int]{}, nil, nil
	return &c
}

// Member returns the member whose Name is name, or nil. It does not
// allocate.
func (b *Balancer) Member(name string) *Member {
	if b.derived {
		m, _ := b.byName.Get(name)
		return m
	}
	for _, m := range b.Members {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// ByRoute returns the member whose Route is route, or nil. It does not
// allocate. On a balancer not yet published (in a Draft) it scans.
func (b *Balancer) ByRoute(route string) *Member {
	if !b.derived {
		for _, m := range b.Members {
			if m.Route == route && route != "" {
				return m
			}
		}
		return nil
	}
	m, _ := b.byRoute.Get(route)
	return m
}

// Tiers returns the members that may take new requests, grouped in the
// order they are considered: for each lbset in ascending order, first the
// ordinary members, then the hot standbys. Stopped and draining members are
// in no tier. The result is shared and must not be modified.
func (b *Balancer) Tiers() []Tier { return b.tiers }

// MemberHosts returns the distinct "host:port" of the members, used to
// recognise member URLs in response headers. Shared; do not modify.
func (b *Balancer) MemberHosts() []string { return b.hosts }

// EffectiveMaxAttempts resolves MaxAttempts = -1 to len(Members)-1.
func (b *Balancer) EffectiveMaxAttempts() int {
	if b.MaxAttempts >= 0 {
		return b.MaxAttempts
	}
	return max(len(b.Members)-1, 0)
}

// Tier is a group of members that are considered together, with their
// byrequests schedule.
type Tier struct {
	// Members of the tier, in configuration order.
	Members []*Member
	// Schedule is the smooth weighted round-robin order of one cycle: member
	// i appears LoadFactor_i/g times, where g is the gcd of the tier's
	// loadfactors. It is the exact sequence httpd's byrequests produces
	// while every member is usable. It may share Members' backing array
	// (equal loadfactors); both are read-only.
	Schedule []*Member
}

// Member is one backend of a balancer (httpd's BalancerMember). A *Member
// published in a Snapshot is never modified; to change it, copy the value,
// edit the copy and put a balancer holding the copy. Hot state lives in
// Stats, which the copy shares.
type Member struct {
	// Name is the canonical member URL, "scheme://host:port"; unique in its
	// balancer and the identity that keeps Stats across reloads.
	Name string
	// URL is Name parsed. Scheme is http, https, h2c or ajp; Path is empty.
	URL *url.URL
	// Route is the member's identity in session ids (Tomcat's jvmRoute).
	Route string
	// Redirect is the route that takes this member's sticky requests while
	// it is unusable; empty for none.
	Redirect string
	// Domain is the member's load-balancing group: members that share
	// session replication, where failover goes first. Empty for none.
	Domain string
	// LoadFactor is the member's static share of traffic, 1..100.
	LoadFactor int
	// LBSet is the member's priority set; lower sets are used first
	// (httpd lbset, 0..99).
	LBSet int
	// Status holds the operator flags (D S I H N).
	Status Status
	// StatusSince is when Status last changed; a disabled member is tried
	// again once Retry has passed since then.
	StatusSince time.Time
	// Retry is how long the member stays in error (or disabled) before it
	// is tried again.
	Retry time.Duration
	// ConnectionTimeout bounds connecting to the member.
	ConnectionTimeout time.Duration
	// Timeout bounds the wait for the first response byte after the
	// request was sent.
	Timeout time.Duration
	// SMax is how many idle keep-alive connections to the member are kept.
	SMax int
	// TTL is how long an idle connection to the member is kept.
	TTL time.Duration
	// DisableReuse closes the connection after every request.
	DisableReuse bool
	// Secret is sent to ajp members as the AJP secret attribute.
	Secret string
	// Ping > 0 checks an ajp member with CPING before every request: no
	// CPONG within Ping puts it in error and the request goes elsewhere.
	Ping time.Duration
	// FlushPackets sends every chunk of an ajp member's response to the
	// client at once.
	FlushPackets bool
	// Check is the member's active health check; nil for none.
	Check *HealthCheck
	// SlowStart is how long a member that comes back (or is new) takes to
	// reach its full share; 0 for at once.
	SlowStart time.Duration
	// Max is how many requests the member takes at once; 0 for no limit.
	// When every usable member is at its limit a request waits up to the
	// balancer's Timeout.
	Max int
	// Stats is shared by every copy of this member; never nil once
	// published.
	Stats *Stats
}

// Route maps a client path prefix to a balancer (httpd's ProxyPass and the
// ProxyPassReverse family).
type Route struct {
	// Path is the client path prefix, matched on "/" boundaries; the
	// longest matching Path wins. No trailing slash except for "/".
	Path string
	// Pass is false for an exclusion (ProxyPass "!"): matching requests are
	// not proxied.
	Pass bool
	// BalancerName names the balancer that serves the route.
	BalancerName string
	// TargetPath is the member-side path that Path maps to; equal to Path
	// when requests are forwarded unchanged.
	TargetPath string
	// Reverse rewrites Location, Content-Location and URI response headers
	// that point at a member to the client-visible URL (ProxyPassReverse).
	Reverse bool
	// ReverseCookiePath replaces the TargetPath prefix of Set-Cookie paths
	// (ProxyPassReverseCookiePath); empty for no rewriting.
	ReverseCookiePath string
	// ReverseCookieDomain replaces a Set-Cookie domain naming a member host
	// (ProxyPassReverseCookieDomain); empty for no rewriting.
	ReverseCookieDomain string
	// PreserveHost sends the client's Host header to the member
	// (ProxyPreserveHost); otherwise the member's host:port is sent.
	PreserveHost bool

	balancer *Balancer // resolved when the snapshot is built
}

// Balancer returns the balancer serving the route, or nil for an exclusion
// or a route naming no balancer.
func (r *Route) Balancer() *Balancer { return r.balancer }
