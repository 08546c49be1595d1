package admin_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/admin"
	"github.com/barkeep-lb/barkeep/internal/health"
	"github.com/barkeep-lb/barkeep/internal/registry"
)

// addCluster registers the MCMP balancer mycluster with node1 (domain
// dom1, load 40) and its contexts /app (ENABLED) and /shop (DISABLED) on
// virtual host 1 with the aliases localhost and example.com.
func addCluster(t *testing.T, store *registry.Store) {
	t.Helper()
	_, err := store.Update(func(d *registry.Draft) error {
		err := d.PutBalancer(&registry.Balancer{Name: "mycluster", Source: registry.SourceMCMP, LBMethod: registry.Cluster,
			StickySessionSep: '.', StickySession: []string{"JSESSIONID"}, Cluster: &registry.ClusterSettings{}})
		if err != nil {
			return err
		}
		return d.PutNode(&registry.Node{ID: 0, JVMRoute: "node1", Domain: "dom1", Balancer: "mycluster", Type: "http", Host: "127.0.0.1", Port: "9100",
			Hosts: []registry.HostAlias{{ID: 1, Vhost: 1, Alias: "localhost"}, {ID: 2, Vhost: 1, Alias: "example.com"}},
			Contexts: []*registry.Context{registry.NewContext(1, 1, "/app", registry.ContextEnabled),
				registry.NewContext(2, 1, "/shop", registry.ContextDisabled)}})
	})
	if err != nil {
		t.Fatal(err)
	}
	store.Load().Node("node1").Stats.Load.Store(40)
}

// TestAPINodes: GET /api/v1/nodes and /api/v1/nodes/{route} show a node
// with its domain, load, virtual hosts and contexts.
func TestAPINodes(t *testing.T) {
	store, srv := apiSetup(t, admin.Options{})
	addCluster(t, store)
	var all struct{ Nodes []admin.NodeView }
	if code, _ := call(t, "GET", srv.URL+"/api/v1/nodes", nil, nil, &all); code != 200 || len(all.Nodes) != 1 {
		t.Fatalf("nodes: %d %+v", code, all)
	}
	var n admin.NodeView
	if code, _ := call(t, "GET", srv.URL+"/api/v1/nodes/node1", nil, nil, &n); code != 200 {
		t.Fatalf("node1: %d", code)
	}
	if n.JVMRoute != "node1" || n.Domain != "dom1" || n.Balancer != "mycluster" || n.URL != "http://127.0.0.1:9100" || n.Load != 40 || n.Status != "OK" ||
		len(n.Vhosts) != 1 || strings.Join(n.Vhosts[0].Aliases, ",") != "localhost,example.com" || len(n.Contexts) != 2 || n.Contexts[1].State != "DISABLED" {
		t.Fatalf("node1: %+v", n)
	}
	var ctx struct{ Contexts []admin.ContextView }
	if code, _ := call(t, "GET", srv.URL+"/api/v1/contexts", nil, nil, &ctx); code != 200 || len(ctx.Contexts) != 2 || ctx.Contexts[0].Path != "/app" || ctx.Contexts[0].Node != "node1" {
		t.Fatalf("contexts: %d %+v", code, ctx)
	}
	// The node's balancer lists its contexts under it, and its member's load.
	var b admin.BalancerView
	if code, _ := call(t, "GET", srv.URL+"/api/v1/balancers/mycluster", nil, nil, &b); code != 200 || len(b.Contexts) != 2 || len(b.Members) != 1 ||
		b.Members[0].Load == nil || *b.Members[0].Load != 40 {
		t.Fatalf("mycluster: %d %+v", code, b)
	}
}

// TestAPIContextEnable: enable brings a DISABLED context back; the answer
// is the new state and the change has an audit line.
func TestAPIContextEnable(t *testing.T) {
	var buf bytes.Buffer
	store, srv := apiSetup(t, admin.Options{Audit: slog.New(slog.NewTextHandler(&buf, nil))})
	addCluster(t, store)
	var res struct{ Contexts []admin.ContextView }
	if code, _ := call(t, "POST", srv.URL+"/api/v1/nodes/node1/contexts/shop/enable", nil, nil, &res); code != 200 || len(res.Contexts) != 1 || res.Contexts[0].State != "ENABLED" {
		t.Fatalf("enable /shop: %d %+v", code, res)
	}
	if got := store.Load().Node("node1").Contexts[1].State; got != registry.ContextEnabled {
		t.Fatalf("registry: /shop %v", got)
	}
	for _, want := range []string{"who=anonymous", "client=127.0.0.1:", `action="context enable"`, "balancer=mycluster", "member=node1", `changes="context /shop state DISABLED → ENABLED"`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("audit %q lacks %s", buf.String(), want)
		}
	}
	// Enabling it again changes nothing and writes no line.
	buf.Reset()
	if code, _ := call(t, "POST", srv.URL+"/api/v1/nodes/node1/contexts/2/enable", nil, nil, &res); code != 200 || buf.Len() != 0 {
		t.Fatalf("enable again: %d, audit %q", code, buf.String())
	}
	var p admin.Problem
	if code, _ := call(t, "POST", srv.URL+"/api/v1/nodes/node9/contexts/1/enable", nil, nil, &p); code != 404 || !strings.Contains(p.Detail, "node9") {
		t.Fatalf("unknown node: %d %+v", code, p)
	}
}

// TestAPIPatchRoute: a member's route changes through PATCH; the member is
// then found by its new route, and a redirect to it may name it.
func TestAPIPatchRoute(t *testing.T) {
	store, srv := apiSetup(t, admin.Options{})
	u := srv.URL + "/api/v1/balancers/barcrawl/members/"
	var m admin.MemberView
	if code, _ := call(t, "PATCH", u+"elm", map[string]any{"route": "birch"}, nil, &m); code != 200 || m.Route != "birch" || m.Name != "http://127.0.0.1:9001" {
		t.Fatalf("route change: %d %+v", code, m)
	}
	if code, _ := call(t, "GET", u+"birch", nil, nil, &m); code != 200 || m.Name != "http://127.0.0.1:9001" {
		t.Fatalf("by the new route: %d %+v", code, m)
	}
	if code, _ := call(t, "PATCH", u+"oak", map[string]any{"redirect": "birch"}, nil, &m); code != 200 || m.Redirect != "birch" {
		t.Fatalf("redirect to the new route: %d %+v", code, m)
	}
	var p admin.Problem
	if code, _ := call(t, "PATCH", u+"ash", map[string]any{"route": "oak"}, nil, &p); code != 400 || !strings.Contains(p.Detail, "oak") {
		t.Fatalf("a route taken: %d %+v", code, p)
	}
	// A route a redirect names cannot go away under it.
	if code, _ := call(t, "PATCH", u+"birch", map[string]any{"route": "pine"}, nil, &p); code != 400 {
		t.Fatalf("renaming a redirect's target: %d %+v", code, p)
	}
	if b := store.Load().Balancer("barcrawl"); b.ByRoute("birch") == nil || b.ByRoute("oak").Redirect != "birch" {
		t.Fatalf("registry: %+v", b.Members)
	}
}

// TestAPIErrorsAreProblems: every refusal of the API, from routing,
// authentication, the request or the registry, is RFC 9457 problem JSON
// with the status repeated, its title, a detail and the path.
func TestAPIErrorsAreProblems(t *testing.T) {
	store, srv := apiSetup(t, admin.Options{Tokens: []admin.Token{
		{Name: "watcher", Secret: "r-secret", Role: admin.RoleRead},
		{Name: "ops", Secret: "o-secret", Role: admin.RoleOperator},
	}})
	addCluster(t, store)
	ops := map[string]string{"Authorization": "Bearer o-secret"}
	read := map[string]string{"Authorization": "Bearer r-secret"}
	before := store.Load().Version
	for _, tt := range []struct {
		method, path string
		body         any
		hdr          map[string]string
		status       int
	}{
		{"GET", "/api/v1/nowhere", nil, ops, 404},
		{"GET", "/api/v1/balancers/none", nil, ops, 404},
		{"GET", "/api/v1/balancers/barcrawl/members/pine", nil, ops, 404},
		{"GET", "/api/v1/nodes/node9", nil, ops, 404},
		{"POST", "/api/v1/balancers/barcrawl/members/elm/explode", nil, ops, 404},
		{"PATCH", "/api/v1/balancers/barcrawl/members/elm", map[string]any{"loadfactor": 0}, ops, 400},
		{"PATCH", "/api/v1/balancers/barcrawl/members/elm", map[string]any{"colour": "red"}, ops, 400},
		{"PATCH", "/api/v1/balancers/barcrawl", map[string]string{"lbmethod": "fastest"}, ops, 400},
		{"POST", "/api/v1/balancers/barcrawl/members", admin.MemberSpec{URL: "ftp://x:1"}, ops, 400},
		{"DELETE", "/api/v1/balancers/mycluster/members/node1", nil, ops, 409},
		{"PATCH", "/api/v1/balancers/barcrawl/members/elm", map[string]any{"loadfactor": 2}, map[string]string{"Authorization": "Bearer o-secret", "Content-Type": "text/plain"}, 415},
		{"PATCH", "/api/v1/balancers/barcrawl/members/elm", map[string]any{"loadfactor": 2}, map[string]string{"Authorization": "Bearer o-secret", "X-Barkeep-Nonce": "00"}, 403},
		{"GET", "/api/v1/explain?url=/", nil, ops, 501}, // no explain function here
		{"GET", "/api/v1/balancers", nil, nil, 401},
		{"POST", "/api/v1/balancers/barcrawl/members/elm/drain", nil, nil, 401},
		{"POST", "/api/v1/balancers/barcrawl/members/elm/drain", nil, map[string]string{"Authorization": "Bearer wrong"}, 401},
		{"POST", "/api/v1/balancers/barcrawl/members/elm/drain", nil, read, 403},
	} {
		var p admin.Problem
		code, h := call(t, tt.method, srv.URL+tt.path, tt.body, tt.hdr, &p)
		if code != tt.status || h.Get("Content-Type") != "application/problem+json" || p.Status != code || p.Type != "about:blank" ||
			p.Title != http.StatusText(code) || p.Detail == "" || p.Instance != strings.Split(tt.path, "?")[0] {
			t.Errorf("%s %s = %d %q %+v, want a %d problem", tt.method, tt.path, code, h.Get("Content-Type"), p, tt.status)
		}
	}
	if store.Load().Version != before {
		t.Fatal("a refused request changed the registry")
	}
}

// TestUnauthenticatedWritesChangeNothing: with tokens configured, changes
// without one (or with a wrong one) are refused on every write endpoint,
// the API's and the balancer-manager's, and nothing changes.
func TestUnauthenticatedWritesChangeNothing(t *testing.T) {
	store, srv := apiSetup(t, admin.Options{Tokens: []admin.Token{{Name: "ops", Secret: "o-secret", Role: admin.RoleOperator}}})
	addCluster(t, store)
	before := store.Load().Version
	for _, hdr := range []map[string]string{nil, {"Authorization": "Bearer o-secre"}, {"Authorization": "Basic " + "b3BzOndyb25n"}} {
		for _, req := range []struct{ method, path string }{
			{"POST", "/api/v1/balancers/barcrawl/members/elm/disable"},
			{"PATCH", "/api/v1/balancers/barcrawl/members/elm"},
			{"PATCH", "/api/v1/balancers/barcrawl"},
			{"POST", "/api/v1/balancers/barcrawl/members"},
			{"DELETE", "/api/v1/balancers/barcrawl/members/elm"},
			{"POST", "/api/v1/nodes/node1/contexts/1/stop"},
			{"POST", "/balancer-manager"},
		} {
			if code, _ := call(t, req.method, srv.URL+req.path, map[string]any{"loadfactor": 7, "url": "http://127.0.0.1:9009"}, hdr, nil); code != 401 {
				t.Errorf("%s %s with %v: %d, want 401", req.method, req.path, hdr, code)
			}
		}
	}
	if store.Load().Version != before {
		t.Fatal("an unauthenticated request changed the registry")
	}
}

// TestAuditOrderAndWho: balancer-manager changes (which httpd logs as
// `changes="w_status_N=1 w_lf=3"` in random order, without the client)
// and API additions and removals are logged with who, the client address
// and each setting before → after in the settings' fixed order, the same
// every time.
func TestAuditOrderAndWho(t *testing.T) {
	var lines []string
	for range 5 {
		var buf bytes.Buffer
		store, srv := apiSetup(t, admin.Options{Audit: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}}))})
		_ = store
		_, page := get(t, srv.URL+"/balancer-manager")
		nonce := regexp.MustCompile(`nonce=([0-9a-f]+)`).FindStringSubmatch(page)[1]
		code, _ := post(t, srv.URL+"/balancer-manager", url.Values{
			"b": {"barcrawl"}, "w": {"http://127.0.0.1:9001"}, "nonce": {nonce},
			"w_status_N": {"1"}, "w_lf": {"3"}, "w_rr": {"oak"}, "w_ls": {"2"}, "w_status_I": {"1"},
		})
		if code != http.StatusSeeOther {
			t.Fatalf("balancer-manager change: %d", code)
		}
		call(t, "POST", srv.URL+"/api/v1/balancers/barcrawl/members", admin.MemberSpec{URL: "http://127.0.0.1:9004", Route: "pine"}, nil, nil)
		call(t, "DELETE", srv.URL+"/api/v1/balancers/barcrawl/members/pine", nil, nil, nil)
		lines = append(lines, regexp.MustCompile(`client=127\.0\.0\.1:\d+`).ReplaceAllString(buf.String(), "client=127.0.0.1:PORT"))
	}
	got := strings.Split(strings.TrimSpace(lines[0]), "\n")
	want := []string{
		`level=INFO msg=change who=anonymous client=127.0.0.1:PORT action=balancer-manager balancer=barcrawl member=http://127.0.0.1:9001 changes="status \"\" → IN, loadfactor 1 → 3, lbset 0 → 2, redirect \"\" → oak"`,
		`level=INFO msg=change who=anonymous client=127.0.0.1:PORT action=add balancer=barcrawl member=http://127.0.0.1:9004 changes="added member: `,
		`level=INFO msg=change who=anonymous client=127.0.0.1:PORT action=remove balancer=barcrawl member=http://127.0.0.1:9004 changes="removed member"`,
	}
	if len(got) != len(want) {
		t.Fatalf("audit lines:\n%s", lines[0])
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("audit line %d:\n%s\nwant:\n%s", i, got[i], want[i])
		}
	}
	for i, l := range lines[1:] {
		if l != lines[0] {
			t.Errorf("run %d wrote other lines (order not fixed):\n%s\nfirst:\n%s", i+2, l, lines[0])
		}
	}
}

// TestStateFileIsReplacedAtomically: each change writes a new file and
// renames it over the old one: a reader holding the old file sees it
// whole, the new one parses, and no temporary file is left behind.
func TestStateFileIsReplacedAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	_, srv := apiSetup(t, admin.Options{StatePath: path})
	base := srv.URL + "/api/v1/balancers/barcrawl/members/"
	call(t, "POST", base+"elm/drain", nil, nil, nil)
	old := filepath.Join(dir, "old.json")
	if err := os.Link(path, old); err != nil {
		t.Fatal(err)
	}
	oldText, _ := os.ReadFile(old)
	call(t, "PATCH", base+"oak", map[string]any{"loadfactor": 4}, nil, nil)
	if now, _ := os.ReadFile(old); !bytes.Equal(now, oldText) {
		t.Fatalf("the old file was written in place:\n%s", now)
	}
	d, err := admin.LoadState(path)
	if err != nil || len(d.Balancers) != 1 || len(d.Balancers[0].Members) != 2 {
		t.Fatalf("new state: %v %+v", err, d)
	}
	var raw struct {
		Format int
		Saved  time.Time
	}
	b, _ := os.ReadFile(path)
	if json.Unmarshal(b, &raw) != nil || raw.Format != 1 || !raw.Saved.Equal(now) {
		t.Fatalf("state file header: %s", b)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("files left in the directory: %v, want state.json and old.json", names)
	}
}

// TestStateFileWriteFailureKeepsTheChange: when the state file cannot be
// written the change stays applied and the failure is logged.
func TestStateFileWriteFailureKeepsTheChange(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gone")
	os.Mkdir(dir, 0o700)
	var log bytes.Buffer
	store, srv := apiSetup(t, admin.Options{StatePath: filepath.Join(dir, "state.json"), Log: slog.New(slog.NewTextHandler(&log, nil))})
	os.Remove(dir)
	var m admin.MemberView
	if code, _ := call(t, "POST", srv.URL+"/api/v1/balancers/barcrawl/members/elm/drain", nil, nil, &m); code != 200 || m.Status != "N" {
		t.Fatalf("drain: %d %+v", code, m)
	}
	if store.Load().Balancer("barcrawl").ByRoute("elm").Status != registry.StatusDrain {
		t.Fatal("change not applied")
	}
	if !strings.Contains(log.String(), "not saved") || !strings.Contains(log.String(), "level=ERROR") {
		t.Fatalf("log: %q", log.String())
	}
}

// TestConsolePage: the console lists every balancer, member and MCMP
// context with status colours, sparklines, in-flight, load, time in state,
// last check and action buttons; it carries the nonce its script sends
// with changes; and it loads nothing from outside the listener.
func TestConsolePage(t *testing.T) {
	store, srv := apiSetup(t, admin.Options{})
	addCluster(t, store)
	b := store.Load().Balancer("barcrawl")
	health.Fail(b.ByRoute("oak"), now.UnixNano())
	ash := b.ByRoute("ash")
	ash.Stats.CheckedAt.Store(now.Add(-5 * time.Second).UnixNano())
	ash.Stats.Busy.Store(2)
	ash.Stats.StickyHits.Store(7)
	call(t, "POST", srv.URL+"/api/v1/balancers/barcrawl/members/elm/drain", nil, nil, nil)
	b.Stats.StickyHits.Add(12)

	res, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page := new(bytes.Buffer)
	page.ReadFrom(res.Body)
	res.Body.Close()
	html := page.String()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("console: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("no same-origin content security policy: %q", csp)
	}
	// No external assets: every src and href is a path on this listener.
	for _, m := range regexp.MustCompile(`(?i)(?:src|href)="([^"]*)"`).FindAllStringSubmatch(html, -1) {
		if !strings.HasPrefix(m[1], "/") || strings.HasPrefix(m[1], "//") {
			t.Errorf("the console loads %q", m[1])
		}
	}
	row := func(route string) string {
		return regexp.MustCompile(`(?s)<tr class="member"[^>]*data-route="` + route + `".*?</tr>`).FindString(html)
	}
	for route, want := range map[string][]string{
		"elm": {`class="st draining"`, ">Ok Drn<", `data-f="since">0s<`},
		"oak": {`class="st error"`, ">Err<"},
		"ash": {`class="st ok"`, `data-f="busy">2<`, `data-f="sticky" title="requests of sticky sessions it answered">7<`, `data-f="check">ok 5s ago<`},
	} {
		r := row(route)
		for _, w := range append(want, `data-spark="req"`, `data-spark="err"`, `data-action="drain"`, `data-action="standby"`, `data-action="enable"`, `data-action="disable"`) {
			if !strings.Contains(r, w) {
				t.Errorf("row %s lacks %s:\n%s", route, w, r)
			}
		}
	}
	if r := row("node1"); !strings.Contains(r, `data-f="load">40<`) {
		t.Errorf("node1's row without its load:\n%s", r)
	}
	cluster := regexp.MustCompile(`(?s)<section class="balancer" data-balancer="mycluster">.*?</section>`).FindString(html)
	for _, w := range []string{`data-node="node1" data-context="1"`, "/app", "localhost example.com", `class="ctx DISABLED"`, `data-ctx-action="enable"`} {
		if !strings.Contains(cluster, w) {
			t.Errorf("mycluster's section lacks %s:\n%s", w, cluster)
		}
	}
	if !strings.Contains(html, `data-b="sticky_hits">12<`) || !strings.Contains(html, "Status legend") {
		t.Error("no sticky hits or no legend")
	}
	// The page's nonce is the one its script sends: it authorises changes.
	nonce := regexp.MustCompile(`<meta name="barkeep-nonce" content="([0-9a-f]+)">`).FindStringSubmatch(html)
	if nonce == nil {
		t.Fatal("no nonce in the page")
	}
	var m admin.MemberView
	if code, _ := call(t, "POST", srv.URL+"/api/v1/balancers/barcrawl/members/ash/standby", nil, map[string]string{"X-Barkeep-Nonce": nonce[1]}, &m); code != 200 || m.Status != "H" {
		t.Fatalf("standby with the page's nonce: %d %+v", code, m)
	}
	for name, ctype := range map[string]string{"console.js": "text/javascript", "console.css": "text/css"} {
		res, err := http.Get(srv.URL + "/console/" + name)
		if err != nil {
			t.Fatal(err)
		}
		body := new(bytes.Buffer)
		body.ReadFrom(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), ctype) || body.Len() == 0 ||
			regexp.MustCompile(`https?://`).MatchString(body.String()) {
			t.Errorf("%s: %d %s, %d bytes (and no outside URL)", name, res.StatusCode, res.Header.Get("Content-Type"), body.Len())
		}
	}
	// The fragment the script fetches when members come or go.
	if code, frag := get(t, srv.URL+"/console/balancers"); code != 200 || !strings.Contains(frag, `data-balancer="barcrawl"`) || strings.Contains(frag, "<html") {
		t.Errorf("/console/balancers: %d\n%s", code, frag)
	}
}

// TestManagerPageRefreshesAndExplains: the balancer-manager page reloads
// itself every 10 seconds (not while a form is open), has a legend for its
// status words, shows byte counts in K/M, each member's time in state and
// last check, and an MCMP balancer's contexts under it.
func TestManagerPageRefreshesAndExplains(t *testing.T) {
	store, h, srv := setup(t)
	addCluster(t, store)
	_, err := store.Update(func(d *registry.Draft) error {
		return d.EditMember("barcrawl", "http://127.0.0.1:9003", func(m *registry.Member) error {
			m.StatusSince = now.Add(-200 * time.Second)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	ash := store.Load().Balancer("barcrawl").ByRoute("ash").Stats
	ash.Transferred.Store(1536)
	ash.CheckedAt.Store(now.Add(-3 * time.Second).UnixNano())
	ash.CheckFailed.Store(true)
	_, page := get(t, srv.URL+"/balancer-manager")
	for _, want := range []string{`<meta http-equiv="refresh" content="10">`, "<h3>Status legend</h3>", "<th>HcFl (C)</th><td>active health check failing</td>",
		"<th>Stby (H)</th>", "<th>Err (E)</th>", "<td>1.5K</td>", "<th>In state</th><th>Last check</th>"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	ashRow := regexp.MustCompile(`(?s)data-route="ash".*?</tr>`).FindString(page)
	if !strings.Contains(ashRow, `<td class="since">3m 20s</td><td class="check">failed 3s ago</td>`) {
		t.Errorf("ash's row without time in state and last check:\n%s", ashRow)
	}
	if oakRow := regexp.MustCompile(`(?s)data-route="oak".*?</tr>`).FindString(page); !strings.Contains(oakRow, `<td class="check">–</td>`) {
		t.Errorf("oak (no check) row:\n%s", oakRow)
	}
	cluster := page[strings.Index(page, "balancer://mycluster"):]
	if !regexp.MustCompile(`(?s)<table class="contexts" id="contexts-mycluster">.*<td>node1</td><td>/app</td><td>localhost example.com</td><td class="ENABLED">ENABLED</td>.*<td>/shop</td>.*DISABLED`).MatchString(cluster) {
		t.Errorf("mycluster's contexts not under it:\n%s", cluster)
	}
	if strings.Contains(page[:strings.Index(page, "balancer://mycluster")], `class="contexts"`) {
		t.Error("a configured balancer shows a contexts table")
	}
	if _, page := get(t, srv.URL+"/balancer-manager?b=barcrawl&nonce="+h.Nonce("barcrawl")); strings.Contains(page, `http-equiv="refresh"`) {
		t.Error("the page reloads while its edit form is open")
	}
}
