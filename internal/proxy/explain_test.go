package proxy_test

import (
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/barkeep-lb/barkeep/internal/health"
	"github.com/barkeep-lb/barkeep/internal/proxy"
	"github.com/barkeep-lb/barkeep/internal/proxy/proxytest"
	"github.com/barkeep-lb/barkeep/internal/registry"
)

// TestExplainMatchesTheRequestPath: for each setup, Explain names a member
// (or none) and how it was chosen, and the same request sent right after
// goes to that member (or gets 503).
func TestExplainMatchesTheRequestPath(t *testing.T) {
	for _, tt := range []struct {
		name     string
		setup    func(elm, oak, ash *registry.Member, b *registry.Balancer) // before the fixture starts
		inError  []string                                                   // routes put in error state
		cookie   string
		decision string
		chosen   string // route; "" for none (503)
		reason   map[string]string
	}{
		{name: "new session", decision: "lbmethod", chosen: "elm"},
		{name: "sticky hit", cookie: "s1.oak", decision: "sticky", chosen: "oak"},
		{name: "unknown route", cookie: "s1.pine", decision: "lbmethod", chosen: "elm"},
		{name: "sticky miss to a member in error", inError: []string{"oak"}, cookie: "s1.oak", decision: "failover", chosen: "elm",
			reason: map[string]string{"oak": "in error (E)"}},
		{name: "sticky miss with nofailover", setup: func(_, _, _ *registry.Member, b *registry.Balancer) { b.NoFailover = true },
			inError: []string{"oak"}, cookie: "s1.oak", decision: "none",
			reason: map[string]string{"elm": "nofailover"}},
		{name: "redirect route", setup: func(_, oak, _ *registry.Member, _ *registry.Balancer) { oak.Redirect = "ash" },
			inError: []string{"oak"}, cookie: "s1.oak", decision: "redirect", chosen: "ash"},
		{name: "drain: no new sessions", setup: func(elm, _, _ *registry.Member, _ *registry.Balancer) { elm.Status = registry.StatusDrain },
			decision: "lbmethod", chosen: "oak", reason: map[string]string{"elm": "draining (N): no new sessions"}},
		{name: "drain: its own sessions", setup: func(elm, _, _ *registry.Member, _ *registry.Balancer) { elm.Status = registry.StatusDrain },
			cookie: "s1.elm", decision: "sticky", chosen: "elm", reason: map[string]string{"elm": "serves its own sessions"}},
		{name: "hot standby waits", setup: func(_, _, ash *registry.Member, _ *registry.Balancer) { ash.Status = registry.StatusHotStandby },
			inError: []string{"elm"}, decision: "lbmethod", chosen: "oak", reason: map[string]string{"ash": "hot standby (H)"}},
		{name: "hot standby takes over", setup: func(_, _, ash *registry.Member, _ *registry.Balancer) { ash.Status = registry.StatusHotStandby },
			inError: []string{"elm", "oak"}, decision: "lbmethod", chosen: "ash"},
		{name: "lbset", setup: func(elm, oak, ash *registry.Member, _ *registry.Balancer) { oak.LBSet, ash.LBSet = 1, 1 },
			inError: []string{"elm"}, decision: "lbmethod", chosen: "oak"},
		{name: "lower lbset first", setup: func(elm, oak, ash *registry.Member, _ *registry.Balancer) { elm.LBSet, oak.LBSet = 1, 1 },
			decision: "lbmethod", chosen: "ash", reason: map[string]string{"elm": "lbset 1"}},
		{name: "domain failover", setup: func(elm, oak, ash *registry.Member, _ *registry.Balancer) {
			elm.Domain, oak.Domain, ash.Domain = "b", "a", "a"
		}, inError: []string{"oak"}, cookie: "s1.oak", decision: "failover", chosen: "ash"},
		{name: "domain failover with nofailover", setup: func(elm, oak, ash *registry.Member, b *registry.Balancer) {
			elm.Domain, oak.Domain, ash.Domain = "a", "b", "b"
			b.NoFailover = true
		}, inError: []string{"oak"}, cookie: "s1.oak", decision: "failover", chosen: "ash", reason: map[string]string{"elm": "outside domain b"}},
		{name: "nobody", inError: []string{"elm", "oak", "ash"}, decision: "none"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			elm, oak, ash := member(pub(t, "elm"), "elm"), member(pub(t, "oak"), "oak"), member(pub(t, "ash"), "ash")
			b := web(elm, oak, ash)
			if tt.setup != nil {
				tt.setup(elm, oak, ash, b)
			}
			f := newFixture(t, b)
			for _, r := range tt.inError {
				health.Fail(f.member(r), f.clock.Now().UnixNano())
			}
			cookie := ""
			if tt.cookie != "" {
				cookie = "JSESSIONID=" + tt.cookie
			}
			for round := range 2 { // the second round follows the byrequests sequence on
				e, err := f.h.Explain("GET", "/bar/x", cookie)
				if err != nil {
					t.Fatal(err)
				}
				if round == 0 && e.Decision != tt.decision {
					t.Fatalf("decision %q (%s), want %q", e.Decision, e.Summary, tt.decision)
				}
				if round == 0 && tt.chosen != "" && !strings.HasSuffix(e.Chosen, f.member(tt.chosen).Name) {
					t.Fatalf("chosen %q, want %s (%s)", e.Chosen, tt.chosen, e.Summary)
				}
				for route, want := range tt.reason {
					found := false
					for _, c := range e.Candidates {
						if c.Route == route {
							found = strings.Contains(c.Reason, want)
							if !found {
								t.Errorf("candidate %s: reason %q, want %q", route, c.Reason, want)
							}
						}
					}
					if !found && round == 0 {
						t.Errorf("candidate %s missing or wrong: %+v", route, e.Candidates)
					}
				}
				code, body, _ := f.get(t, "/bar/x", tt.cookie)
				if e.Chosen == "" {
					if code != 503 || e.Status != 503 {
						t.Fatalf("explain said none (status %d); the request got %d %q", e.Status, code, body)
					}
					continue
				}
				if code != 200 || f.member(body) == nil || f.member(body).Name != e.Chosen {
					t.Fatalf("round %d: explain chose %s; the request went to %q (%d)", round, e.Chosen, body, code)
				}
			}
		})
	}
}

// TestExplainMCMPContexts: context states decide which node may serve; the
// explanation names them and its choice is the request path's.
func TestExplainMCMPContexts(t *testing.T) {
	store := registry.NewStore()
	nodes := map[string]string{}
	states := map[string]registry.ContextState{"n1": registry.ContextDisabled, "n2": registry.ContextEnabled, "n3": registry.ContextStopped}
	_, err := store.Update(func(d *registry.Draft) error {
		if err := d.PutBalancer(&registry.Balancer{Name: "mycluster", StickySession: []string{"JSESSIONID", "jsessionid"},
			StickySessionSep: '.', LBMethod: registry.Cluster, Cluster: &registry.ClusterSettings{}}); err != nil {
			return err
		}
		for i, route := range []string{"n1", "n2", "n3"} {
			srv := pub(t, route)
			host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
			nodes[route] = memberScheme + "://" + srv.Listener.Addr().String()
			n := &registry.Node{ID: i + 1, JVMRoute: route, Balancer: "mycluster", Type: memberScheme, Host: host, Port: port,
				Hosts:    []registry.HostAlias{{ID: i + 1, Vhost: 1, Alias: "localhost"}},
				Contexts: []*registry.Context{registry.NewContext(i+1, 1, "/app", states[route])}}
			if err := d.PutNode(n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"n1", "n2", "n3"} {
		store.Load().Node(r).Stats.Load.Store(50)
	}
	h := proxy.New(store, proxy.Options{Log: slog.New(slog.DiscardHandler)})
	front := proxytest.Start(t, h, edge, proxy.ServerOptions{})
	for _, tt := range []struct {
		cookie, decision, chosen string
		reasons                  map[string]string
	}{
		{"", "lbmethod", "n2", map[string]string{"n1": "DISABLED", "n3": "STOPPED"}},
		{"s1.n1", "sticky", "n1", nil},
		// n1's DISABLED context takes requests with a session id: n1 or n2.
		{"s1.n3", "failover", "", map[string]string{"n3": "STOPPED"}},
	} {
		cookie := ""
		if tt.cookie != "" {
			cookie = "JSESSIONID=" + tt.cookie
		}
		e, err := h.Explain("GET", "http://localhost/app/x", cookie)
		if err != nil {
			t.Fatal(err)
		}
		if e.Decision != tt.decision || tt.chosen != "" && e.Chosen != nodes[tt.chosen] || e.Chosen == nodes["n3"] || e.Target == nil || e.Target.Kind != "context" {
			t.Fatalf("cookie %q: %s %s (%s), want %s %s", tt.cookie, e.Decision, e.Chosen, e.Summary, tt.decision, nodes[tt.chosen])
		}
		if len(e.Candidates) != 3 {
			t.Fatalf("cookie %q: candidates %+v, want the three nodes' rows", tt.cookie, e.Candidates)
		}
		for _, c := range e.Candidates {
			if c.Load == nil || *c.Load != 50 || c.LBStatus == nil || c.Context != states[c.Route].String() {
				t.Errorf("cookie %q: candidate %s: load %v lbstatus %v context %q, want 50, a lbstatus and %s", tt.cookie, c.Route, c.Load, c.LBStatus, c.Context, states[c.Route])
			}
		}
		for route, want := range tt.reasons {
			for _, c := range e.Candidates {
				if c.Route == route && !strings.Contains(c.Reason, want) {
					t.Errorf("cookie %q: %s: %q, want %q", tt.cookie, route, c.Reason, want)
				}
			}
		}
		req := "GET /app/x HTTP/1.1\r\nHost: localhost\r\n"
		if tt.cookie != "" {
			req += "Cookie: JSESSIONID=" + tt.cookie + "\r\n"
		}
		res, body, _ := raw(t, front.Addr, req+"\r\n")
		if res.StatusCode != 200 || nodes[body] != e.Chosen {
			t.Fatalf("cookie %q: the request went to %q (%d), explain chose %s", tt.cookie, body, res.StatusCode, e.Chosen)
		}
	}
}

// TestExplainRoutes: the explanation names the route that matched and why
// the shorter and longer ones did not, an exclusion, a path nobody serves,
// and where the session id was found; each answer is the request path's.
func TestExplainRoutes(t *testing.T) {
	elm := member(pub(t, "elm"), "elm")
	f := newFixture(t, web(elm),
		&registry.Route{Path: "/", Pass: true, BalancerName: "web", TargetPath: "/"},
		&registry.Route{Path: "/bar", Pass: true, BalancerName: "web", TargetPath: "/bar"},
		&registry.Route{Path: "/bar/cellar", Pass: true, BalancerName: "web", TargetPath: "/bar/cellar"},
		&registry.Route{Path: "/bar/private", Pass: false})
	others := func(e *proxy.Explanation) map[string]string {
		out := map[string]string{}
		for _, o := range e.Others {
			out[o.Path] = o.Why
		}
		return out
	}
	e, err := f.h.Explain("GET", "/bar/stools?x=1", "JSESSIONID=s1.elm")
	if err != nil {
		t.Fatal(err)
	}
	if e.Target == nil || e.Target.Kind != "route" || e.Target.Path != "/bar" || e.Target.Balancer != "web" || !e.Target.Pass {
		t.Fatalf("target %+v", e.Target)
	}
	o := others(e)
	if !strings.Contains(o["/"], "shorter prefix") || !strings.Contains(o["/bar/cellar"], "not a prefix of the path /bar/stools") ||
		!strings.Contains(o["/bar/private"], "not a prefix") || len(o) != 3 {
		t.Errorf("others for /bar/stools: %v", o)
	}
	if e.Session == nil || e.Session.ID != "s1.elm" || e.Session.Route != "elm" || e.Session.Where != "cookie JSESSIONID" || !e.Session.Known {
		t.Errorf("session %+v", e.Session)
	}
	e, _ = f.h.Explain("GET", "/bar", "")
	if o := others(e); !strings.Contains(o["/bar/cellar"], "longer, but not a prefix of the path /bar") || !strings.Contains(o["/"], "shorter prefix") {
		t.Errorf("others for /bar: %v", o)
	}
	if e, _ = f.h.Explain("GET", "/bar/x;jsessionid=s2.elm", ""); e.Session == nil || e.Session.Where != "path parameter jsessionid" || e.Decision != "sticky" {
		t.Errorf(";jsessionid: %+v %s", e.Session, e.Decision)
	}
	e, _ = f.h.Explain("GET", "/bar/private/x", "")
	if e.Status != 404 || e.Decision != "none" || e.Target == nil || e.Target.Pass {
		t.Errorf("exclusion: status %d %s %+v", e.Status, e.Decision, e.Target)
	}
	if code, _, _ := f.get(t, "/bar/private/x", ""); code != e.Status {
		t.Errorf("exclusion: explain said %d, the request got %d", e.Status, code)
	}
	if _, err := f.h.Explain("GET", "no-slash", ""); err == nil {
		t.Error("a path without / is explained")
	}
}
