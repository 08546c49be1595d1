package registry

import (
	"cmp"
	"maps"
	"slices"
	"strings"
)

// Target is what serves the client requests under one path prefix: a
// static route (httpd's ProxyPass) or the MCMP context rows registered at
// that path (mod_proxy_cluster's contexts). Static routes and contexts are
// compiled into one table per snapshot, so the request path matches once
// and then runs the same session, selection and forwarding steps for both.
// A Target is shared by every request of its snapshot and never modified.
type Target struct {
	// Path is the client path prefix: "/" or an absolute path without a
	// trailing slash. It matches on "/" boundaries.
	Path string
	// Route is the static route of this prefix, nil for MCMP contexts. Its
	// options (Pass, TargetPath, Reverse…, PreserveHost) apply to the
	// requests it serves.
	Route *Route
	// Rows are the MCMP context rows at Path, in node order, whatever
	// their state (ENABLED, DISABLED, STOPPED): the request path decides
	// which may serve a request. nil for a static route.
	Rows []ContextRef
}

// Pass reports whether requests under the target are proxied; false for an
// exclusion (ProxyPass "!"), which is answered 404.
func (t *Target) Pass() bool { return t.Route == nil || t.Route.Pass }

// ContextRef is one MCMP context row a request may be routed to, with what
// the request path needs to use it.
type ContextRef struct {
	Balancer *Balancer
	Member   *Member
	Node     *Node
	Context  *Context
	Aliases  []string // of the context's virtual host, lower case
}

// HasAlias reports whether host is one of the ref's aliases
// (case-insensitive).
func (r *ContextRef) HasAlias(host string) bool {
	for _, a := range r.Aliases {
		if strings.EqualFold(a, host) {
			return true
		}
	}
	return false
}

// targetTable maps a path prefix to its target.
type targetTable map[string]*Target

// targets compiles the snapshot's routes and contexts on first use, so a
// burst of registrations compiles once, when a request needs it. Built
// from scratch the cost is linear in routes plus context rows; after a
// change to nodes only (ENABLE-APP and the like), the previous snapshot's
// table is copied and the changed nodes' paths recomputed instead.
func (s *Snapshot) targets() targetTable {
	if tt := s.targetTab.Load(); tt != nil {
		return *tt
	}
	s.targetOnce.Do(func() {
		var tt targetTable
		if b := s.targetBase; b != nil {
			if bt := b.targetTab.Load(); bt != nil {
				tt = s.patchTargets(*bt, b)
			}
		}
		if tt == nil {
			tt = s.buildTargets()
		}
		s.targetTab.Store(&tt)
		s.targetBase, s.targetTouched = nil, nil
	})
	return *s.targetTab.Load()
}

// buildTargets compiles the table from scratch.
func (s *Snapshot) buildTargets() targetTable {
	tt := make(targetTable, len(s.routes))
	for p, r := range s.routes {
		tt[p] = &Target{Path: p, Route: r}
	}
	for _, n := range s.nodes {
		if n.Removed {
			continue
		}
		b := s.byName[n.Balancer]
		if b == nil {
			continue
		}
		m := b.ByRoute(n.JVMRoute)
		for _, c := range n.Contexts {
			t := tt[c.Path]
			if t == nil {
				t = &Target{Path: c.Path}
				tt[c.Path] = t
			}
			if t.Route != nil {
				continue // a static route of the same path wins
			}
			t.Rows = append(t.Rows, ContextRef{Balancer: b, Member: m, Node: n, Context: c, Aliases: n.Aliases(c.Vhost)})
		}
	}
	return tt
}

// patchTargets returns base's table with the paths of the nodes in
// s.targetTouched recomputed. Balancers, members and routes are base's
// (build checked), so the other rows stay valid.
func (s *Snapshot) patchTargets(bt targetTable, base *Snapshot) targetTable {
	// The rows of base's table point at base's nodes: those of the
	// touched routes are dropped.
	stale := make(map[*Node]bool, len(s.targetTouched))
	paths := map[string]bool{}
	for _, route := range s.targetTouched {
		if n, ok := base.nodeByRoute.Get(route); ok {
			stale[n] = true
		}
		for _, snap := range [...]*Snapshot{base, s} {
			if n, ok := snap.nodeByRoute.Get(route); ok {
				for _, c := range n.Contexts {
					paths[c.Path] = true
				}
			}
		}
	}
	tt := maps.Clone(bt)
	for path := range paths {
		old := bt[path]
		if old != nil && old.Route != nil {
			continue // the static route wins; its target has no rows
		}
		var added []ContextRef
		for _, route := range s.targetTouched {
			n, ok := s.nodeByRoute.Get(route)
			if !ok || n.Removed {
				continue
			}
			b := s.byName[n.Balancer]
			if b == nil {
				continue
			}
			for _, c := range n.Contexts {
				if c.Path == path {
					added = append(added, ContextRef{Balancer: b, Member: b.ByRoute(n.JVMRoute), Node: n, Context: c, Aliases: n.Aliases(c.Vhost)})
				}
			}
		}
		// Rows are in node order (then the node's own context order): the
		// kept rows already are, the few added ones are sorted and merged
		// in. A node's rows are all kept or all added.
		slices.SortStableFunc(added, func(a, b ContextRef) int { return cmp.Compare(a.Node.ID, b.Node.ID) })
		var rows []ContextRef
		if old != nil {
			rows = make([]ContextRef, 0, len(old.Rows)+len(added))
			for _, r := range old.Rows {
				if stale[r.Node] {
					continue
				}
				for len(added) > 0 && added[0].Node.ID < r.Node.ID {
					rows = append(rows, added[0])
					added = added[1:]
				}
				rows = append(rows, r)
			}
		}
		rows = append(rows, added...)
		if len(rows) == 0 {
			delete(tt, path)
			continue
		}
		tt[path] = &Target{Path: path, Rows: rows}
	}
	return tt
}

// Match returns the target with the longest Path that is a prefix of path
// on a "/" boundary ("/bar" matches "/bar" and "/bar/x", not "/barn"), or
// nil. path must be normalised (see the proxy's normaliser) and carry no
// query or path parameters. With useAlias, MCMP targets count only when a
// row's virtual host has host (lower case, no port) as an alias
// (mod_cluster's UseAlias); a shorter prefix may then match instead. It
// does not allocate; its cost grows with the depth of path, not with the
// number of routes and contexts.
func (s *Snapshot) Match(path, host string, useAlias bool) *Target {
	tt := s.targets()
	for p := path; ; {
		if t := tt[p]; t != nil && (t.Route != nil || !useAlias || anyAlias(t.Rows, host)) {
			return t
		}
		if p == "/" || p == "" {
			return nil
		}
		i := strings.LastIndexByte(p, '/')
		if i <= 0 {
			p = "/"
		} else {
			p = p[:i]
		}
	}
}

func anyAlias(refs []ContextRef, host string) bool {
	for i := range refs {
		if refs[i].HasAlias(host) {
			return true
		}
	}
	return false
}
