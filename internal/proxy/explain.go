package proxy

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/barkeep-lb/barkeep/internal/balancer"
	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/internal/session"
)

// Explanation says how the request path would route a request that has not
// been sent (see Handler.Explain).
type Explanation struct {
	// Request is what was explained: method, host, path and query.
	Method string `json:"method"`
	Host   string `json:"host"`
	Path   string `json:"path"`
	// Status is the answer barkeep itself would give instead of proxying
	// (404 no target, 400 bad path, 503 no member); 0 when a member would
	// get the request.
	Status int `json:"status"`
	// Target is the route or MCMP context that matched; Others the static
	// routes and contexts on the same path that did not, and why.
	Target *TargetExplanation `json:"target,omitempty"`
	Others []OtherExplanation `json:"others,omitempty"`
	// Session is the session id found and where; empty without one.
	Session *SessionExplanation `json:"session,omitempty"`
	// Balancer is the balancer the member is chosen from, with its
	// lbmethod.
	Balancer string `json:"balancer,omitempty"`
	LBMethod string `json:"lbmethod,omitempty"`
	// Candidates are the balancer's members (MCMP: the matched context's
	// rows) with their state and why each may or may not take the request.
	Candidates []Candidate `json:"candidates,omitempty"`
	// Chosen is the member the request would go to ("" for none) and
	// Decision how it was chosen: sticky, redirect, failover, lbmethod,
	// none.
	Chosen   string `json:"chosen,omitempty"`
	Decision string `json:"decision"`
	// Summary is the explanation in one sentence; Steps in several.
	Summary string   `json:"summary"`
	Steps   []string `json:"steps"`
}

// TargetExplanation is the matched target.
type TargetExplanation struct {
	Kind     string `json:"kind"` // "route" or "context"
	Path     string `json:"path"`
	Balancer string `json:"balancer,omitempty"`
	Pass     bool   `json:"pass"`
}

// OtherExplanation is a route or context that did not serve the request.
type OtherExplanation struct {
	Kind string `json:"kind"`
	Path string `json:"path"`
	Node string `json:"node,omitempty"`
	Why  string `json:"why"`
}

// SessionExplanation is the session id a request carries.
type SessionExplanation struct {
	ID    string `json:"id"`
	Route string `json:"route"`
	Where string `json:"where"`            // e.g. "cookie JSESSIONID"
	Known bool   `json:"known"`            // a member of the balancer has the route
	Node  string `json:"member,omitempty"` // that member
}

// Candidate is one member considered for the request.
type Candidate struct {
	Member     string `json:"member"`
	Route      string `json:"route"`
	Status     string `json:"status"` // flag letters in effect (D S I H N, E, C)
	LBSet      int    `json:"lbset"`
	LoadFactor int    `json:"loadfactor"`
	Busy       int64  `json:"busy"`
	Elected    uint64 `json:"elected"`
	Load       *int32 `json:"load,omitempty"`     // MCMP nodes
	LBStatus   *int64 `json:"lbstatus,omitempty"` // MCMP nodes
	Context    string `json:"context_state,omitempty"`
	Eligible   bool   `json:"eligible"`
	Reason     string `json:"reason"`
	Chosen     bool   `json:"chosen"`
}

// Explain describes how the request path would route a request for rawURL
// (absolute, "http://host/path?query", or a path) with method (default
// GET) and the Cookie header cookie, without sending it: it runs the
// exchange's own steps (path normalisation, resolve over the current
// snapshot's target table, session lookup, choose with the sticky →
// redirect → failover → lbmethod sequence) in a dry mode that takes no
// member slot and does not advance the balancer's byrequests sequence, so
// the member it names is the one the next such request gets (the random
// lbmethod aside). It returns an error only when rawURL is not a URL.
func (h *Handler) Explain(method, rawURL, cookie string) (*Explanation, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Path == "" && u.Opaque == "") || u.Opaque != "" {
		return nil, fmt.Errorf("explain: %q is not a URL or an absolute path", rawURL)
	}
	if !strings.HasPrefix(u.EscapedPath(), "/") {
		return nil, errors.New("explain: the path must start with /")
	}
	method = strings.ToUpper(strings.TrimSpace(method))
	if method == "" {
		method = fasthttp.MethodGet
	}
	var req fasthttp.Request
	var resp fasthttp.Response
	req.Header.SetMethod(method)
	req.SetRequestURI(u.RequestURI())
	host := u.Host
	if host == "" {
		host = "localhost"
	}
	req.Header.SetHost(host)
	if cookie != "" {
		req.Header.Set(fasthttp.HeaderCookie, cookie)
	}
	x := h.getExchange()
	defer h.putExchange(x)
	x.req, x.resp, x.dry = &req, &resp, true
	snap := h.store.Load()
	e := &Explanation{Method: method, Host: host, Path: u.EscapedPath()}
	if !x.route() {
		e.Status = x.status
		e.Decision = "none"
		e.Summary = fmt.Sprintf("barkeep answers %d itself: %s", x.status, strings.TrimSpace(string(resp.Body())))
		x.explainTarget(e, snap)
		e.Steps = append(e.Steps, e.Summary)
		return e, nil
	}
	x.explainTarget(e, snap)
	x.explainSession(e)
	m := x.choose(x.start.UnixNano())
	x.explainChoice(e, m)
	return e, nil
}

// explainTarget describes the matched target and the others on the path.
func (x *exchange) explainTarget(e *Explanation, snap *registry.Snapshot) {
	matched := ""
	if t := x.target; t != nil {
		matched = t.Path
		te := &TargetExplanation{Path: t.Path, Pass: t.Pass(), Kind: "context"}
		if t.Route != nil {
			te.Kind = "route"
			te.Balancer = t.Route.BalancerName
		} else if x.bal != nil {
			te.Balancer = x.bal.Name
		}
		e.Target = te
		if !t.Pass() {
			e.Steps = append(e.Steps, "route "+t.Path+" is an exclusion (ProxyPass !): not proxied")
		} else {
			e.Steps = append(e.Steps, fmt.Sprintf("%s %s matched (the longest prefix of %s)", te.Kind, t.Path, b2s(x.path.match)))
		}
	} else if len(x.path.match) > 0 {
		e.Steps = append(e.Steps, "no route or enabled context matches "+b2s(x.path.match))
	}
	path := b2s(x.path.match)
	other := func(kind, p, node string) {
		if p == matched {
			// The match itself (a route, or the context's rows) is not
			// another; a context on a matched route's path is.
			if kind == "context" && x.target != nil && x.target.Route != nil {
				e.Others = append(e.Others, OtherExplanation{kind, p, node, "same path as the match; a static route takes precedence over contexts"})
			}
			return
		}
		switch {
		case under(path, p):
			e.Others = append(e.Others, OtherExplanation{kind, p, node, "a shorter prefix: the longest match wins"})
		case strings.HasPrefix(p, path) || matched != "" && strings.HasPrefix(p, matched+"/"):
			e.Others = append(e.Others, OtherExplanation{kind, p, node, "longer, but not a prefix of the path " + path})
		}
	}
	for _, r := range snap.Routes() {
		other("route", r.Path, "")
	}
	for _, n := range snap.Nodes() {
		for _, c := range n.Contexts {
			if c.Path != matched || x.target == nil || x.target.Route != nil {
				other("context", c.Path, n.JVMRoute)
			}
		}
	}
	if x.h.useAlias {
		e.Steps = append(e.Steps, "contexts match only when the Host ("+x.host+") is one of their aliases (use_alias)")
	}
}

// under reports whether prefix matches path on a "/" boundary.
func under(path, prefix string) bool {
	if prefix == "/" {
		return true
	}
	return path == prefix || strings.HasPrefix(path, prefix) && path[len(prefix)] == '/'
}

// explainSession describes the session id the exchange found, and where.
func (x *exchange) explainSession(e *Explanation) {
	if x.id == "" {
		e.Steps = append(e.Steps, "no session id ("+strings.Join(x.bal.StickySession, ", ")+"): a new session")
		return
	}
	s := &SessionExplanation{ID: x.id, Route: x.sticky, Where: x.sessionSource()}
	if m := x.bal.ByRoute(x.sticky); m != nil {
		s.Known, s.Node = true, m.Name
	}
	e.Session = s
	switch {
	case x.sticky == "":
		e.Steps = append(e.Steps, "session id "+x.id+" ("+s.Where+") has no route")
	case !s.Known:
		e.Steps = append(e.Steps, "session route "+x.sticky+" ("+s.Where+") names no member of balancer "+x.bal.Name+": balanced as a new session")
	default:
		e.Steps = append(e.Steps, "session route "+x.sticky+" ("+s.Where+") names member "+s.Node)
	}
}

// sourceOnly shows session.Find one source of the request only, to say
// where the exchange's session id came from.
type sourceOnly struct {
	x                   *exchange
	path, query, cookie bool
}

func (s sourceOnly) SessionPath() string {
	if s.path {
		return s.x.SessionPath()
	}
	return ""
}

func (s sourceOnly) SessionQuery() string {
	if s.query {
		return s.x.SessionQuery()
	}
	return ""
}

func (s sourceOnly) SessionCookie(name string) string {
	if s.cookie {
		return s.x.SessionCookie(name)
	}
	return ""
}

func (x *exchange) sessionSource() string {
	for _, src := range []struct {
		s    sourceOnly
		what string
	}{{sourceOnly{x: x, path: true}, "path parameter"}, {sourceOnly{x: x, query: true}, "query parameter"}, {sourceOnly{x: x, cookie: true}, "cookie"}} {
		if id, _ := session.Find(src.s, x.bal); id == x.id {
			for _, n := range x.bal.StickySession {
				b := *x.bal
				b.StickySession = []string{n}
				if id, _ := session.Find(src.s, &b); id == x.id {
					return src.what + " " + n
				}
			}
			return src.what
		}
	}
	return "request"
}

// explainChoice describes the member m that choose returned (nil: none)
// and every candidate.
func (x *exchange) explainChoice(e *Explanation, m *registry.Member) {
	e.Balancer, e.LBMethod = x.bal.Name, x.bal.LBMethod.String()
	if x.choice.Rows != nil {
		e.LBMethod = "cluster (mod_proxy_cluster: lowest elected per load + lbstatus)"
	}
	var routed *registry.Member
	if x.sticky != "" {
		routed = x.bal.ByRoute(x.sticky)
	}
	switch {
	case m == nil && x.forced:
		e.Decision, e.Status = "none", fasthttp.StatusServiceUnavailable
		e.Summary = "no member: the session's member " + routed.Name + " cannot take it and nofailover keeps it there"
	case m == nil:
		e.Decision, e.Status = "none", fasthttp.StatusServiceUnavailable
		e.Summary = "no usable member in balancer " + x.bal.Name
	case routed != nil && m == routed:
		e.Decision = "sticky"
		e.Summary = "sticky: the session's member " + m.Name + " (route " + m.Route + ")"
	case routed != nil && routed.Redirect != "" && m.Route == routed.Redirect:
		e.Decision = "redirect"
		e.Summary = "redirect: member " + routed.Name + " cannot take it; its redirect route " + m.Route + " is " + m.Name
	case routed != nil:
		e.Decision = "failover"
		e.Summary = "failover: the session's member " + routed.Name + " cannot take it; " + e.LBMethod + " picked " + m.Name
		if routed.Domain != "" && m.Domain == routed.Domain {
			e.Summary += " inside domain " + routed.Domain
		}
	default:
		e.Decision = "lbmethod"
		e.Summary = e.LBMethod + " picked " + m.Name
	}
	if m == nil && x.bal.Timeout > 0 {
		e.Summary += fmt.Sprintf(" (the request waits up to %s for one, then gets 503)", x.bal.Timeout)
	} else if m == nil {
		e.Summary += " (503)"
	}
	if m != nil {
		e.Chosen = m.Name
	}
	e.Steps = append(e.Steps, e.Summary)
	if x.choice.Rows != nil {
		for i := range x.choice.Rows {
			r := &x.choice.Rows[i]
			if r.Member != nil && r.Balancer == x.bal {
				e.Candidates = append(e.Candidates, x.candidate(r.Member, r, m, routed))
			}
		}
		return
	}
	for _, c := range x.bal.Members {
		e.Candidates = append(e.Candidates, x.candidate(c, nil, m, routed))
	}
}

// candidate describes member c (with its context row for MCMP targets):
// its state and why it may or may not take the request.
func (x *exchange) candidate(c *registry.Member, row *registry.ContextRef, chosen, routed *registry.Member) Candidate {
	now := x.choice.Now
	s := c.Stats
	k := Candidate{Member: c.Name, Route: c.Route, Status: flags(c, now), LBSet: c.LBSet, LoadFactor: c.LoadFactor,
		Busy: s.Busy.Load(), Elected: s.Elected.Load(), Chosen: c == chosen}
	if row != nil {
		load, lbs := s.Load.Load(), s.LBStatus.Load()
		k.Load, k.LBStatus, k.Context = &load, &lbs, row.Context.State.String()
	}
	k.Eligible, k.Reason = x.why(c, row, chosen, routed, now)
	return k
}

func flags(m *registry.Member, now int64) string {
	f := m.Status.String()
	if m.InError(now) {
		f += "E"
	}
	if m.Stats.HCFail.Load() {
		f += "C"
	}
	return f
}

// why says whether c may take the request and why, with the checks the
// choice makes (Choice.Qualifies, balancer.Candidate, tiers, domains).
func (x *exchange) why(c *registry.Member, row *registry.ContextRef, chosen, routed *registry.Member, now int64) (bool, string) {
	pick := balancer.Pick{Now: now}
	own := routed != nil && (c == routed || routed.Redirect != "" && c.Route == routed.Redirect)
	switch {
	case row != nil && !x.choice.Qualifies(row):
		switch {
		case row.Context.State == registry.ContextStopped:
			return false, "context " + row.Context.Path + " STOPPED on this node"
		case row.Context.State == registry.ContextDisabled:
			return false, "context DISABLED: only requests with a session id"
		case x.choice.UseAlias && !row.HasAlias(x.choice.Host):
			return false, "host " + x.choice.Host + " is not an alias of this node (" + strings.Join(row.Aliases, ", ") + ")"
		}
		return false, "context row does not qualify"
	case c.Status.Has(registry.StatusStopped):
		return false, "stopped (S): no requests until enabled"
	case c.Disabled(now):
		return false, "disabled (D) until " + c.StatusSince.Add(c.Retry).UTC().Format(time.RFC3339)
	case c.InError(now):
		return false, "in error (E) until " + time.Unix(0, c.Stats.ErrorTime.Load()+int64(c.Retry)).UTC().Format(time.RFC3339)
	case c.Stats.HCFail.Load():
		return false, "health check failing (C)"
	case !c.HasRoom():
		return false, "at its max (" + strconv.FormatInt(c.Stats.Busy.Load(), 10) + " in flight)"
	case !balancer.Candidate(c, pick):
		return false, "not a candidate"
	case c.Status.Has(registry.StatusDrain):
		if own {
			return true, "draining (N): serves its own sessions only, as this one"
		}
		return false, "draining (N): no new sessions"
	case x.choice.DomainOnly && c.Domain != x.choice.Domain && !own:
		return false, "outside domain " + x.choice.Domain + " (nofailover keeps the session in its domain)"
	case x.forced && !own:
		return false, "nofailover: the session may only go to its member or its redirect"
	case row != nil && c.Stats.Load.Load() < 0:
		return own, "broken (Load -1): serves its own sessions only"
	case row != nil && c.Stats.Load.Load() == 0:
		return true, "standby (Load 0): used when no node with a load qualifies"
	case c.Status.Has(registry.StatusHotStandby):
		return true, "hot standby (H): used when no ordinary member of lbset " + strconv.Itoa(c.LBSet) + " is usable"
	case chosen != nil && c != chosen && c.LBSet > chosen.LBSet:
		return true, "lbset " + strconv.Itoa(c.LBSet) + ": used when lower lbsets have no usable member"
	case c == chosen:
		return true, "usable; chosen"
	}
	return true, "usable; not picked this time"
}
