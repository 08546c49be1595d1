package admin_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/admin"
	"github.com/barkeep-lb/barkeep/internal/registry"
)

// call sends method to u with a JSON body (nil: none, but still typed as
// JSON) and the given headers, and decodes the answer into out.
func call(t *testing.T, method, u string, body any, hdr map[string]string, out any) (int, http.Header) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(t.Context(), method, u, r)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %q is not JSON: %v", method, u, res.StatusCode, b, err)
		}
	}
	return res.StatusCode, res.Header
}

// apiSetup starts an admin handler with opts (Now and Baseline filled in)
// over the three-member barcrawl balancer.
func apiSetup(t *testing.T, opts admin.Options) (*registry.Store, *httptest.Server) {
	t.Helper()
	store, _, _ := setup(t)
	base := store.Load().Balancers()
	opts.Now = func() time.Time { return now }
	if opts.Baseline == nil {
		opts.Baseline = func() []*registry.Balancer { return base }
	}
	srv := httptest.NewServer(admin.New(store, opts))
	t.Cleanup(srv.Close)
	return store, srv
}

func TestAPIMemberActions(t *testing.T) {
	store, srv := apiSetup(t, admin.Options{})
	base := srv.URL + "/api/v1/balancers/barcrawl/members/"
	for _, tt := range []struct {
		action, status, state string
	}{
		{"drain", "N", "draining"},
		{"disable", "DN", "disabled"},
		{"enable", "", "ok"},
		{"standby", "H", "standby"},
		{"stop", "SH", "stopped"},
		{"enable", "", "ok"},
	} {
		var m admin.MemberView
		if code, _ := call(t, "POST", base+"elm/"+tt.action, nil, nil, &m); code != 200 {
			t.Fatalf("%s: status %d", tt.action, code)
		}
		if m.Status != tt.status || m.State != tt.state || m.Route != "elm" {
			t.Fatalf("after %s: status %q state %q, want %q %q", tt.action, m.Status, m.State, tt.status, tt.state)
		}
		if got := store.Load().Balancer("barcrawl").ByRoute("elm").Status.String(); got != tt.status {
			t.Fatalf("after %s: registry status %q, want %q", tt.action, got, tt.status)
		}
	}
	// A member named by its URL, escaped into one path segment.
	var m admin.MemberView
	if code, _ := call(t, "POST", base+url.PathEscape("http://127.0.0.1:9002")+"/drain", nil, nil, &m); code != 200 || m.Route != "oak" || m.Status != "N" {
		t.Fatalf("drain by URL: %d %+v", code, m)
	}
	var p admin.Problem
	if code, h := call(t, "POST", base+"elm/explode", nil, nil, &p); code != 404 || p.Status != 404 || !strings.Contains(h.Get("Content-Type"), "problem+json") {
		t.Fatalf("unknown action: %d %+v", code, p)
	}
	if code, _ := call(t, "POST", base+"pine/drain", nil, nil, &p); code != 404 || !strings.Contains(p.Detail, "pine") {
		t.Fatalf("unknown member: %d %+v", code, p)
	}
	if code, _ := call(t, "POST", srv.URL+"/api/v1/balancers/none/members/elm/drain", nil, nil, &p); code != 404 || !strings.Contains(p.Detail, "none") {
		t.Fatalf("unknown balancer: %d %+v", code, p)
	}
}

func TestAPIPatchMember(t *testing.T) {
	store, srv := apiSetup(t, admin.Options{})
	u := srv.URL + "/api/v1/balancers/barcrawl/members/elm"
	var m admin.MemberView
	if code, _ := call(t, "PATCH", u, map[string]any{"loadfactor": 3, "lbset": 1, "redirect": "oak", "status": "I"}, nil, &m); code != 200 {
		t.Fatalf("patch: %d", code)
	}
	if m.LoadFactor != 3 || m.LBSet != 1 || m.Redirect != "oak" || m.Status != "I" {
		t.Fatalf("patched member %+v", m)
	}
	for _, bad := range []map[string]any{
		{"loadfactor": 0}, {"loadfactor": 101}, {"redirect": "nobody"}, {"route": "a b"}, {"status": "E"}, {"colour": "red"},
	} {
		var p admin.Problem
		if code, _ := call(t, "PATCH", u, bad, nil, &p); code != 400 || p.Status != 400 || p.Detail == "" || p.Title != "Bad Request" {
			t.Errorf("PATCH %v: %d %+v, want a 400 problem", bad, code, p)
		}
	}
	if e := store.Load().Balancer("barcrawl").ByRoute("elm"); e.LoadFactor != 3 || e.Redirect != "oak" {
		t.Fatalf("a refused patch changed the member: %+v", e)
	}
	// A form post (what another site's page can send) is refused.
	var p admin.Problem
	if code, _ := call(t, "PATCH", u, map[string]any{"loadfactor": 5}, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, &p); code != 415 {
		t.Fatalf("form-encoded change: %d, want 415", code)
	}
	// A wrong console nonce is refused; none is fine (API clients).
	if code, _ := call(t, "PATCH", u, map[string]any{"loadfactor": 5}, map[string]string{"X-Barkeep-Nonce": "00"}, &p); code != 403 {
		t.Fatalf("wrong nonce: %d, want 403", code)
	}
}

func TestAPIAddAndRemoveMember(t *testing.T) {
	store, srv := apiSetup(t, admin.Options{})
	u := srv.URL + "/api/v1/balancers/barcrawl/members"
	var m admin.MemberView
	if code, _ := call(t, "POST", u, admin.MemberSpec{URL: "http://127.0.0.1:9004/", Route: "pine", LoadFactor: 2}, nil, &m); code != 201 {
		t.Fatalf("add: %d", code)
	}
	if m.Name != "http://127.0.0.1:9004" || m.Route != "pine" || m.LoadFactor != 2 || m.TimeoutSeconds != 60 {
		t.Fatalf("added %+v", m)
	}
	if store.Load().Balancer("barcrawl").ByRoute("pine") == nil {
		t.Fatal("pine not in the registry")
	}
	var p admin.Problem
	for _, bad := range []admin.MemberSpec{{URL: "http://127.0.0.1:9004"}, {URL: "ftp://x:1"}, {URL: "http://127.0.0.1:9005", Route: "elm"}, {}} {
		if code, _ := call(t, "POST", u, bad, nil, &p); code != 400 && code != 409 {
			t.Errorf("add %+v: %d %+v, want 400 or 409", bad, code, p)
		}
	}
	var b admin.BalancerView
	if code, _ := call(t, "DELETE", u+"/pine", nil, nil, &b); code != 200 || len(b.Members) != 3 {
		t.Fatalf("remove: %d, %d members", code, len(b.Members))
	}
	var list struct{ Members []admin.MemberView }
	if code, _ := call(t, "GET", u, nil, nil, &list); code != 200 || len(list.Members) != 3 {
		t.Fatalf("list: %d %d", code, len(list.Members))
	}
	if code, _ := call(t, "GET", u+"/oak", nil, nil, &m); code != 200 || m.Route != "oak" || m.Balancer != "barcrawl" {
		t.Fatalf("get oak: %d %+v", code, m)
	}
}

func TestAPIPatchBalancer(t *testing.T) {
	store, srv := apiSetup(t, admin.Options{})
	var b admin.BalancerView
	if code, _ := call(t, "PATCH", srv.URL+"/api/v1/balancers/barcrawl", map[string]string{"lbmethod": "bybusyness", "timeout": "5s", "nofailover": "1"}, nil, &b); code != 200 {
		t.Fatalf("patch: %d", code)
	}
	if b.LBMethod != "bybusyness" || b.TimeoutSeconds != 5 || !b.NoFailover {
		t.Fatalf("patched %+v", b)
	}
	var p admin.Problem
	if code, _ := call(t, "PATCH", srv.URL+"/api/v1/balancers/barcrawl", map[string]string{"lbmethod": "fastest"}, nil, &p); code != 400 {
		t.Fatalf("bad lbmethod: %d", code)
	}
	if store.Load().Balancer("barcrawl").LBMethod != registry.ByBusyness {
		t.Fatal("refused patch changed the balancer")
	}
}

func TestAPIReadEndpoints(t *testing.T) {
	_, srv := apiSetup(t, admin.Options{})
	var all struct{ Members []admin.MemberView }
	if code, _ := call(t, "GET", srv.URL+"/api/v1/members", nil, nil, &all); code != 200 || len(all.Members) != 3 {
		t.Fatalf("members: %d %d", code, len(all.Members))
	}
	var ctx struct{ Contexts []admin.ContextView }
	if code, _ := call(t, "GET", srv.URL+"/api/v1/contexts", nil, nil, &ctx); code != 200 || ctx.Contexts == nil {
		t.Fatalf("contexts: %d %+v", code, ctx)
	}
	var p admin.Problem
	if code, _ := call(t, "GET", srv.URL+"/api/v1/nodes/nobody", nil, nil, &p); code != 404 || p.Status != 404 {
		t.Fatalf("unknown node: %d %+v", code, p)
	}
	if code, _ := call(t, "GET", srv.URL+"/api/v1/nowhere", nil, nil, &p); code != 404 || p.Status != 404 {
		t.Fatalf("unknown endpoint: %d %+v", code, p)
	}
	if code, _ := call(t, "GET", srv.URL+"/api/v1/explain?url=/bar/", nil, nil, &p); code != 501 {
		t.Fatalf("explain without a function: %d", code)
	}
}

func TestAPITokens(t *testing.T) {
	store, srv := apiSetup(t, admin.Options{Tokens: []admin.Token{
		{Name: "watcher", Secret: "r-secret", Role: admin.RoleRead},
		{Name: "ops", Secret: "o-secret", Role: admin.RoleOperator},
	}})
	drain := srv.URL + "/api/v1/balancers/barcrawl/members/elm/drain"
	var p admin.Problem
	for _, path := range []string{"/api/v1/balancers", "/metrics", "/", "/balancer-manager"} {
		if code, h := call(t, "GET", srv.URL+path, nil, nil, nil); code != 401 || !strings.Contains(h.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("GET %s without a token: %d, want 401 with WWW-Authenticate", path, code)
		}
	}
	if code, _ := call(t, "GET", srv.URL+"/healthz", nil, nil, nil); code != 200 {
		t.Errorf("/healthz needs no token: %d", code)
	}
	if code, _ := call(t, "POST", drain, nil, map[string]string{"Authorization": "Bearer wrong"}, &p); code != 401 || p.Status != 401 {
		t.Fatalf("wrong token: %d %+v", code, p)
	}
	read := map[string]string{"Authorization": "Bearer r-secret"}
	if code, _ := call(t, "GET", srv.URL+"/api/v1/balancers", nil, read, nil); code != 200 {
		t.Fatalf("read token reading: %d", code)
	}
	for _, req := range []struct{ method, path string }{
		{"POST", "/api/v1/balancers/barcrawl/members/elm/drain"},
		{"PATCH", "/api/v1/balancers/barcrawl/members/elm"},
		{"PATCH", "/api/v1/balancers/barcrawl"},
		{"POST", "/api/v1/balancers/barcrawl/members"},
		{"DELETE", "/api/v1/balancers/barcrawl/members/elm"},
		{"POST", "/api/v1/nodes/x/contexts/1/stop"},
		{"POST", "/balancer-manager"},
	} {
		if code, _ := call(t, req.method, srv.URL+req.path, map[string]any{}, read, &p); code != 403 || !strings.Contains(p.Detail, "operator") {
			t.Errorf("read token %s %s: %d %+v, want 403", req.method, req.path, code, p)
		}
	}
	if store.Load().Balancer("barcrawl").ByRoute("elm").Status != 0 {
		t.Fatal("a refused request changed elm")
	}
	var m admin.MemberView
	if code, _ := call(t, "POST", drain, nil, map[string]string{"Authorization": "Bearer o-secret"}, &m); code != 200 || m.Status != "N" {
		t.Fatalf("operator token: %d %+v", code, m)
	}
	// Browsers send the token as a Basic password.
	req, _ := http.NewRequest("GET", srv.URL+"/", nil)
	req.SetBasicAuth("anyone", "r-secret")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("Basic with a token: %d", res.StatusCode)
	}
}

// TestAuditLine: one line per change with who, the client address, the
// action and each setting before → after in a fixed order.
func TestAuditLine(t *testing.T) {
	var buf bytes.Buffer
	_, srv := apiSetup(t, admin.Options{
		Audit:  slog.New(slog.NewTextHandler(&buf, nil)),
		Tokens: []admin.Token{{Name: "ops", Secret: "s", Role: admin.RoleOperator}},
	})
	hdr := map[string]string{"Authorization": "Bearer s"}
	call(t, "PATCH", srv.URL+"/api/v1/balancers/barcrawl/members/elm", map[string]any{"status": "N", "loadfactor": 3}, hdr, nil)
	line := buf.String()
	for _, want := range []string{`who=token:ops`, `client=127.0.0.1:`, `action=patch`, `balancer=barcrawl`, `member=http://127.0.0.1:9001`,
		`changes="status \"\" → N, loadfactor 1 → 3"`} {
		if !strings.Contains(line, want) {
			t.Errorf("audit line %q lacks %s", line, want)
		}
	}
	if n := strings.Count(line, "\n"); n != 1 {
		t.Errorf("%d audit lines, want 1: %q", n, line)
	}
}

func TestStateFileKeepsChangesAndDiff(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	store, srv := apiSetup(t, admin.Options{StatePath: path})
	base := srv.URL + "/api/v1/balancers/barcrawl/members"
	call(t, "POST", base+"/elm/drain", nil, nil, nil)
	call(t, "PATCH", base+"/oak", map[string]any{"loadfactor": 4}, nil, nil)
	call(t, "POST", base, admin.MemberSpec{URL: "http://127.0.0.1:9004", Route: "pine"}, nil, nil)
	call(t, "DELETE", base+"/ash", nil, nil, nil)
	var d admin.Diff
	if code, _ := call(t, "GET", srv.URL+"/api/v1/diff", nil, nil, &d); code != 200 {
		t.Fatalf("diff: %d", code)
	}
	if len(d.Balancers) != 1 || len(d.Balancers[0].Members) != 4 {
		t.Fatalf("diff %+v, want 4 member differences in barcrawl", d)
	}
	saved, err := admin.LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(saved.Balancers) != 1 || len(saved.Balancers[0].Members) != 4 {
		t.Fatalf("state file holds %+v", saved)
	}

	// A restart: a fresh registry from the same configuration, then the
	// state file applied.
	fresh, _, _ := setup(t)
	_, err = fresh.Update(func(dr *registry.Draft) error {
		if skipped := admin.ApplyDiff(dr, saved, now, nil); len(skipped) > 0 {
			t.Errorf("skipped: %v", skipped)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b := fresh.Load().Balancer("barcrawl")
	if b.ByRoute("elm").Status != registry.StatusDrain || b.ByRoute("oak").LoadFactor != 4 || b.ByRoute("pine") == nil || b.ByRoute("ash") != nil {
		t.Fatalf("after restart: elm %v oak lf %d pine %v ash %v", b.ByRoute("elm").Status, b.ByRoute("oak").LoadFactor, b.ByRoute("pine"), b.ByRoute("ash"))
	}
	_ = store

	// A configuration without ash's balancer member list: changes that no
	// longer apply are skipped and said.
	_, err = fresh.Update(func(dr *registry.Draft) error {
		skipped := admin.ApplyDiff(dr, admin.Diff{Balancers: []admin.BalancerDiff{{Name: "gone"}, {Name: "barcrawl", Members: []admin.MemberDiff{{Name: "http://127.0.0.1:9999", Changes: []admin.Change{{Field: "loadfactor", After: "2"}}}}}}}, now, nil)
		if len(skipped) != 2 {
			t.Errorf("skipped %v, want 2", skipped)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLoadStateRefusesGarbage(t *testing.T) {
	dir := t.TempDir()
	if d, err := admin.LoadState(filepath.Join(dir, "missing.json")); err != nil || !d.Empty() {
		t.Fatalf("missing file: %v %+v", err, d)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{not json"), 0o600)
	if _, err := admin.LoadState(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("garbage: %v", err)
	}
	os.WriteFile(bad, []byte(`{"format": 7}`), 0o600)
	if _, err := admin.LoadState(bad); err == nil || !strings.Contains(err.Error(), "format 7") {
		t.Fatalf("format 7: %v", err)
	}
}

func TestAPIContextActions(t *testing.T) {
	store, srv := apiSetup(t, admin.Options{})
	_, err := store.Update(func(d *registry.Draft) error {
		err := d.PutBalancer(&registry.Balancer{Name: "mycluster", Source: registry.SourceMCMP, LBMethod: registry.Cluster,
			StickySessionSep: '.', StickySession: []string{"JSESSIONID"}, Cluster: &registry.ClusterSettings{}})
		if err != nil {
			return err
		}
		return d.PutNode(&registry.Node{ID: 0, JVMRoute: "node1", Balancer: "mycluster", Type: "http", Host: "127.0.0.1", Port: "9100",
			Hosts:    []registry.HostAlias{{ID: 1, Vhost: 1, Alias: "localhost"}},
			Contexts: []*registry.Context{registry.NewContext(1, 1, "/app", registry.ContextEnabled)}})
	})
	if err != nil {
		t.Fatal(err)
	}
	var res struct{ Contexts []admin.ContextView }
	if code, _ := call(t, "POST", srv.URL+"/api/v1/nodes/node1/contexts/1/disable", nil, nil, &res); code != 200 || len(res.Contexts) != 1 || res.Contexts[0].State != "DISABLED" {
		t.Fatalf("disable: %d %+v", code, res)
	}
	if code, _ := call(t, "POST", srv.URL+"/api/v1/nodes/node1/contexts/app/stop", nil, nil, &res); code != 200 || res.Contexts[0].State != "STOPPED" {
		t.Fatalf("stop by path: %d %+v", code, res)
	}
	if got := store.Load().Node("node1").Contexts[0].State; got != registry.ContextStopped {
		t.Fatalf("registry context state %v", got)
	}
	var b admin.BalancerView
	if code, _ := call(t, "GET", srv.URL+"/api/v1/balancers/mycluster", nil, nil, &b); code != 200 || len(b.Contexts) != 1 || b.Contexts[0].Node != "node1" || b.Members[0].Load == nil {
		t.Fatalf("MCMP balancer shows its contexts and load: %d %+v", code, b)
	}
	var p admin.Problem
	if code, _ := call(t, "POST", srv.URL+"/api/v1/nodes/node1/contexts/9/enable", nil, nil, &p); code != 404 {
		t.Fatalf("unknown context: %d %+v", code, p)
	}
	if code, _ := call(t, "POST", srv.URL+"/api/v1/nodes/node1/contexts/1/pause", nil, nil, &p); code != 404 {
		t.Fatalf("unknown action: %d", code)
	}
	// MCMP balancers' members come with their nodes: no add or remove.
	if code, _ := call(t, "DELETE", srv.URL+"/api/v1/balancers/mycluster/members/node1", nil, nil, &p); code != 409 {
		t.Fatalf("remove a node's member: %d %+v", code, p)
	}
}

func TestAPIExplain(t *testing.T) {
	var got admin.ExplainQuery
	_, srv := apiSetup(t, admin.Options{Explain: func(q admin.ExplainQuery) (any, error) {
		got = q
		if q.URL == "bad" {
			return nil, io.ErrUnexpectedEOF
		}
		return map[string]string{"decision": "sticky"}, nil
	}})
	var res map[string]string
	if code, _ := call(t, "GET", srv.URL+"/api/v1/explain?url=/bar/&cookie=JSESSIONID%3Da.elm&method=post", nil, nil, &res); code != 200 || res["decision"] != "sticky" {
		t.Fatalf("explain: %d %v", code, res)
	}
	if got.URL != "/bar/" || got.Cookie != "JSESSIONID=a.elm" || got.Method != "post" {
		t.Fatalf("query passed on: %+v", got)
	}
	var p admin.Problem
	if code, _ := call(t, "GET", srv.URL+"/api/v1/explain", nil, nil, &p); code != 400 || !strings.Contains(p.Detail, "url=") {
		t.Fatalf("no url: %d %+v", code, p)
	}
	if code, _ := call(t, "GET", srv.URL+"/api/v1/explain?url=bad", nil, nil, &p); code != 400 {
		t.Fatalf("refused: %d %+v", code, p)
	}
}
