package mcmpserver_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/barkeep-lb/barkeep/internal/mcmpserver"
	"github.com/barkeep-lb/barkeep/internal/proxy"
	"github.com/barkeep-lb/barkeep/internal/proxy/proxytest"
)

func TestUseAlias(t *testing.T) {
	c := newCluster(t)
	shop, blog := startNode(t, "shop"), startNode(t, "blog")
	for _, n := range []*node{shop, blog} {
		h, p := n.hostPort()
		c.ok(t, "CONFIG", "/", "JVMRoute="+n.route+"&Host="+h+"&Port="+p+"&StickySessionForce=No&Type=http")
		c.ok(t, "ENABLE-APP", "/", "JVMRoute="+n.route+"&Alias="+n.route+".example.com&Context=%2F")
		c.ok(t, "STATUS", "/", "JVMRoute="+n.route+"&Load=50")
	}
	front := proxytest.Start(t, proxy.New(c.store, proxy.Options{UseAlias: true}), proxytest.HTTP1, proxy.ServerOptions{})
	get := func(host string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, front.URL+"/index", nil)
		req.Host = host
		res, err := front.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		return res.StatusCode, readAll(res)
	}
	for range 10 {
		if status, body := get("Shop.Example.com:8080"); status != 200 || servedBy(body) != "shop" {
			t.Fatalf("Host shop.example.com: %d %q", status, body)
		}
		if status, body := get("blog.example.com"); status != 200 || servedBy(body) != "blog" {
			t.Fatalf("Host blog.example.com: %d %q", status, body)
		}
	}
	if status, _ := get("other.example.com"); status != 404 {
		t.Errorf("a host that is no alias: %d, want 404", status)
	}
	// Without use_alias the aliases do not matter.
	seen := map[string]bool{}
	for range 10 {
		_, body := c.get(t, "/index", "")
		seen[servedBy(body)] = true
	}
	if !seen["shop"] || !seen["blog"] {
		t.Errorf("use_alias off: %v, want both nodes", seen)
	}
}

// TestLongestContextWins: a node with a longer context takes its
// requests alone, even sticky ones for a node that has only the shorter
// one (StickySessionForce then answers 503).
func TestLongestContextWins(t *testing.T) {
	c := newCluster(t)
	n1, n2 := startNode(t, "node1"), startNode(t, "node2")
	c.register(t, n1, "", 50, "/app")
	c.register(t, n2, "", 50, "/app", "/app/admin")
	for range 10 {
		if _, body := c.get(t, "/app/admin/users", ""); servedBy(body) != "node2" {
			t.Fatalf("/app/admin/users went to %q, want node2 (longest context)", body)
		}
	}
	if status, body := c.get(t, "/app/administrator", "S1.node1"); status != 200 || servedBy(body) != "node1" {
		t.Errorf("/app/administrator is under /app, not /app/admin: %d %q", status, body)
	}
	c.ok(t, "CONFIG", "/", nodeConfig(n1, "")) // StickySessionForce back on
	if status, _ := c.get(t, "/app/admin/users", "S1.node1"); status != 503 {
		t.Errorf("forced session of a node without the longest context: %d, want 503", status)
	}
}

type failingBody struct{}

func (failingBody) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestBodyReadFailure(t *testing.T) {
	srv := mcmpserver.New(registryStore(), mcmpserver.Options{Probe: alwaysUp})
	req := httptest.NewRequest("CONFIG", "/", nil)
	req.Body = struct {
		failingBody
		closer
	}{}
	req.RemoteAddr = "127.0.0.1:1"
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != 500 || rec.Header().Get("Type") != "SYNTAX" || rec.Header().Get("Mess") != "SYNTAX: CONFIG can't read POST data" {
		t.Errorf("unreadable body: %d %q %q", rec.Code, rec.Header().Get("Type"), rec.Header().Get("Mess"))
	}
}

type closer struct{}

func (closer) Close() error { return nil }

func TestPageUnknownCommand(t *testing.T) {
	c := newCluster(t)
	res, err := http.Get(c.mgr.URL + "/mod_cluster_manager?nonce=" + c.srv.Nonce() + "&Cmd=REBOOT")
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(res)
	res.Body.Close()
	if !strings.Contains(page, "Command failed: SYNTAX: Command is not supported") {
		t.Error("unknown page command not refused with the reference's message")
	}
}
