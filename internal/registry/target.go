package registry

import "strings"

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
// burst of registrations compiles once, when a request needs it. The cost
// is linear in routes plus context rows.
func (s *Snapshot) targets() targetTable {
	s.targetOnce.Do(func() {
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
		s.targetTab = tt
	})
	return s.targetTab
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
