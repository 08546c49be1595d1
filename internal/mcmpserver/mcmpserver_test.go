package mcmpserver_test

import (
	"flag"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/barkeep-lb/barkeep/internal/mcmpserver"
	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/mcmp"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestScriptedJavaWorker sends what the Java worker sends at startup
// (MCMP.md §4.4, §9) and checks that the contexts are routed.
func TestScriptedJavaWorker(t *testing.T) {
	c := newCluster(t)
	n1, n2 := startNode(t, "node1"), startNode(t, "node2")

	if info := c.send(t, "INFO", "/", ""); info.status != 200 || info.body != "" || info.contentTyp != "text/plain" {
		t.Fatalf("INFO before any node: %+v", info)
	}
	h, p := n1.hostPort()
	if body := c.ok(t, "CONFIG", "/", "JVMRoute=node1&Host="+h+"&Port="+p+"&StickySessionForce=No&Type=http"); body != "" {
		t.Errorf("CONFIG answer body %q, want empty", body)
	}
	got := c.ok(t, "ENABLE-APP", "/", "JVMRoute=node1&Alias=default-host%2Clocalhost&Context=%2Fmyapp")
	if want := "Type=ENABLE-APP-RSP\nJvmRoute=node1\nAlias=default-host Contexts=/myapp\n\nAlias=localhost Contexts=/myapp\n\n"; got != want {
		t.Errorf("ENABLE-APP answer %q, want %q", got, want)
	}
	// A deployed but not started context is registered with STOP-APP.
	c.ok(t, "STOP-APP", "/", "JVMRoute=node1&Alias=default-host%2Clocalhost&Context=%2Fundeployed")
	status := c.ok(t, "STATUS", "/", "JVMRoute=node1&Load=87")
	if want := "Type=STATUS-RSP&JVMRoute=node1&State=OK&id=" + strconv.FormatInt(c.srv.ID(), 10) + "\n"; status != want {
		t.Errorf("STATUS answer %q, want %q", status, want)
	}
	c.register(t, n2, "&Balancer=mycluster&Domain=dom2&Maxattempts=1&Timeout=20&ping=20", 87, "/myapp")

	// The Java parser groups aliases by vhost id: both aliases share one.
	info := c.ok(t, "INFO", "/", "")
	if !strings.Contains(info, "Vhost: [0:1:0], Alias: default-host\nVhost: [0:1:1], Alias: localhost\n") {
		t.Errorf("INFO:\n%s\nwant node1's aliases in one vhost", info)
	}

	seen := map[string]int{}
	for range 20 {
		status, body := c.get(t, "/myapp/hello", "")
		if status != 200 {
			t.Fatalf("GET /myapp/hello = %d %q", status, body)
		}
		seen[servedBy(body)]++
	}
	if seen["node1"] != 10 || seen["node2"] != 10 {
		t.Errorf("equal loads: %v, want 10 each", seen)
	}
	for _, path := range []string{"/undeployed/x", "/unknown", "/"} {
		if status, _ := c.get(t, path, ""); status != 404 {
			t.Errorf("GET %s = %d, want 404", path, status)
		}
	}
	if status, body := c.get(t, "/myapp/x", "S1.node2"); status != 200 || servedBy(body) != "node2" {
		t.Errorf("sticky to node2: %d %q", status, body)
	}
	if status, body := c.get(t, "/myapp;jsessionid=S1.node1", ""); status != 200 || servedBy(body) != "node1" {
		t.Errorf("sticky path parameter to node1: %d %q", status, body)
	}
}

// TestInfoDumpGolden checks INFO and DUMP, text and XML, against golden
// files written from MCMP.md §3.5 and §3.6.
func TestInfoDumpGolden(t *testing.T) {
	c := newCluster(t, fakeProbe(&sync.Map{}))
	c.ok(t, "CONFIG", "/", "JVMRoute=node1&Host=10.0.0.5&Port=8009&StickySessionForce=No&Type=ajp")
	c.ok(t, "CONFIG", "/", "JVMRoute=node2&Balancer=mycluster&Domain=dom2&Host=10.0.0.6&Maxattempts=1&Port=8080&StickySessionForce=No&Timeout=20&Type=http&flushwait=20&ping=5&smax=10&ttl=30")
	c.ok(t, "ENABLE-APP", "/", "JVMRoute=node1&Alias=default-host%2Clocalhost&Context=%2Fmyapp")
	c.ok(t, "ENABLE-APP", "/", "JVMRoute=node2&Alias=localhost&Context=%2Fmyapp")
	c.ok(t, "DISABLE-APP", "/", "JVMRoute=node2&Alias=example.com&Context=%2Fmyapp")
	c.ok(t, "STOP-APP", "/", "JVMRoute=node1&Alias=default-host&Context=%2F")
	c.ok(t, "STATUS", "/", "JVMRoute=node1&Load=87")
	c.ok(t, "STATUS", "/", "JVMRoute=node2&Load=-1")
	for _, tt := range []struct {
		file, method, accept, ctype string
	}{
		{"info.golden", "INFO", "", "text/plain"},
		{"info.xml.golden", "INFO", "text/xml", "text/xml"},
		{"dump.golden", "DUMP", "", "text/plain"},
		{"dump.xml.golden", "DUMP", "application/xml, text/xml", "text/xml"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			target := "/"
			if tt.method == "DUMP" {
				target = "/*" // the Java worker sends DUMP node-wide
			}
			a := c.send(t, tt.method, target, "", "Accept", tt.accept)
			if a.status != 200 || a.contentTyp != tt.ctype {
				t.Fatalf("%s: %d %q", tt.method, a.status, a.contentTyp)
			}
			golden := filepath.Join("testdata", tt.file)
			if *update {
				os.WriteFile(golden, []byte(a.body), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if a.body != string(want) {
				t.Errorf("%s answer:\n%s\nwant (%s):\n%s", tt.method, a.body, golden, want)
			}
		})
	}
	if v := c.ok(t, "VERSION", "/", ""); v != "release: barkeep/test, protocol: 0.2.1\n" {
		t.Errorf("VERSION = %q", v)
	}
}

func TestLoadShares(t *testing.T) {
	c := newCluster(t)
	a, b := startNode(t, "a"), startNode(t, "b")
	c.register(t, a, "", 80, "/app")
	c.register(t, b, "", 20, "/app")
	const n = 10_000
	seen := map[string]int{}
	for range n {
		status, body := c.get(t, "/app/", "")
		if status != 200 {
			t.Fatalf("status %d", status)
		}
		seen[servedBy(body)]++
	}
	if share := float64(seen["a"]) / n; share < 0.75 || share > 0.85 {
		t.Errorf("Load 80 vs 20: a got %.3f of %d new sessions (%v), want 0.80 ± 0.05", share, n, seen)
	}
}

func TestLoadZeroIsHotStandby(t *testing.T) {
	c := newCluster(t)
	standby, main := startNode(t, "standby"), startNode(t, "main")
	c.register(t, standby, "", 0, "/app")
	c.register(t, main, "", 50, "/app")
	for range 20 {
		if _, body := c.get(t, "/app/", ""); servedBy(body) != "main" {
			t.Fatalf("request went to %q while main (Load 50) is up", body)
		}
	}
	main.srv.Close() // main is gone: the standby takes over
	for i := range 20 {
		if status, body := c.get(t, "/app/", ""); status != 200 || servedBy(body) != "standby" {
			t.Fatalf("request %d with main gone: %d %q, want the Load 0 node", i, status, body)
		}
	}
}

func TestLoadMinusOneKeepsStickySessions(t *testing.T) {
	c := newCluster(t)
	broken, ok := startNode(t, "broken"), startNode(t, "ok")
	c.register(t, broken, "", 50, "/app")
	c.register(t, ok, "", 50, "/app")
	c.ok(t, "STATUS", "/", "JVMRoute=broken&Load=-1")
	for range 20 {
		if _, body := c.get(t, "/app/", ""); servedBy(body) != "ok" {
			t.Fatalf("new session went to the Load -1 node")
		}
		if status, body := c.get(t, "/app/", "S1.broken"); status != 200 || servedBy(body) != "broken" {
			t.Fatalf("sticky session of the Load -1 node: %d %q, want it served there", status, body)
		}
	}
}

func TestDisableApp(t *testing.T) {
	c := newCluster(t)
	a, b := startNode(t, "a"), startNode(t, "b")
	c.register(t, a, "", 50, "/app")
	c.register(t, b, "", 50, "/app")
	c.ok(t, "DISABLE-APP", "/", "JVMRoute=a&Alias=default-host%2Clocalhost&Context=%2Fapp")
	for range 20 {
		if _, body := c.get(t, "/app/", ""); servedBy(body) != "b" {
			t.Fatalf("new session went to a after DISABLE-APP")
		}
		if _, body := c.get(t, "/app/", "S1.a"); servedBy(body) != "a" {
			t.Fatalf("sticky client of a moved after DISABLE-APP: %q", body)
		}
	}
	// Only DISABLED contexts and no session: 404.
	c.ok(t, "DISABLE-APP", "/", "JVMRoute=b&Alias=localhost&Context=%2Fapp")
	if status, _ := c.get(t, "/app/", ""); status != 404 {
		t.Errorf("all DISABLED, no session: %d, want 404", status)
	}
	if status, _ := c.get(t, "/app/", "anything"); status != 200 {
		t.Errorf("all DISABLED, with a session id: %d, want 200", status)
	}
}

func TestStopAppDrains(t *testing.T) {
	c := newCluster(t)
	a, b := startNode(t, "a"), startNode(t, "b")
	c.register(t, a, "", 50, "/app")
	c.register(t, b, "", 50, "/app")

	a.hold = make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, c.front.URL+"/app/slow", nil)
			req.Header.Set("Cookie", "JSESSIONID=S1.a")
			if res, err := c.front.Client().Do(req); err == nil {
				res.Body.Close()
			}
		})
	}
	for a.inFlight.Load() != 3 {
		runtimeGosched()
	}
	stop := "JVMRoute=a&Alias=default-host%2Clocalhost&Context=%2Fapp"
	if got, want := c.ok(t, "STOP-APP", "/", stop), "Type=STOP-APP-RSP&JvmRoute=a&Alias=default-host,localhost&Context=/app&Requests=3\n"; got != want {
		t.Errorf("STOP-APP with 3 requests in flight = %q, want %q", got, want)
	}
	// STOPPED: no requests at all, not even sticky ones.
	for range 10 {
		if _, body := c.get(t, "/app/", "S1.a"); servedBy(body) != "b" {
			t.Fatalf("request reached a after STOP-APP: %q", body)
		}
	}
	close(a.hold)
	wg.Wait()
	for deadline := 0; ; deadline++ {
		if got := c.ok(t, "STOP-APP", "/", stop); strings.HasSuffix(got, "&Requests=0\n") {
			break
		} else if deadline > 1000 {
			t.Fatalf("STOP-APP after the requests finished = %q, want Requests=0", got)
		}
		runtimeGosched()
	}
}

// TestRollingUndeploy takes node a through DISABLE-APP, STOP-APP until
// drained, REMOVE-APP and back, while a client sends 2,000 requests with
// and without session cookies: none may fail.
func TestRollingUndeploy(t *testing.T) {
	c := newCluster(t)
	a, b := startNode(t, "a"), startNode(t, "b")
	c.register(t, a, "", 50, "/app")
	c.register(t, b, "", 50, "/app")

	const total = 2000
	var done, failures atomic.Int64
	marks := map[int64]chan struct{}{}
	for _, m := range []int64{200, 500, 800, 1100, 1400} {
		marks[m] = make(chan struct{})
	}
	jar, _ := cookiejar.New(nil)
	sticky := &http.Client{Jar: jar}
	fresh := &http.Client{}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for i := int64(1); i <= total; i++ {
			client := fresh
			if i%2 == 0 {
				client = sticky
			}
			res, err := client.Get(c.front.URL + "/app/page")
			if err != nil || res.StatusCode != 200 {
				failures.Add(1)
			}
			if err == nil {
				res.Body.Close()
			}
			done.Store(i)
			if ch, ok := marks[i]; ok {
				close(ch)
			}
		}
	}()
	step := func(mark int64) {
		select {
		case <-marks[mark]:
		case <-finished:
		}
	}
	app := "JVMRoute=a&Alias=default-host%2Clocalhost&Context=%2Fapp"
	step(200)
	c.ok(t, "DISABLE-APP", "/", app)
	step(500)
	for !strings.HasSuffix(c.ok(t, "STOP-APP", "/", app), "&Requests=0\n") {
		runtimeGosched()
	}
	step(800)
	c.ok(t, "REMOVE-APP", "/", app)
	step(1100)
	servedBefore := a.served.Load()
	c.register(t, a, "", 50, "/app")
	step(1400)
	<-finished
	if f := failures.Load(); f != 0 {
		t.Errorf("%d of %d client requests failed during the rolling undeploy", f, total)
	}
	if a.served.Load() == servedBefore {
		t.Error("node a got no requests after it was enabled again")
	}
}

func TestDomainForceAndRemove(t *testing.T) {
	t.Run("sticky request for a dead node goes to its domain", func(t *testing.T) {
		c := newCluster(t)
		a, b, other := startNode(t, "a"), startNode(t, "b"), startNode(t, "other")
		c.register(t, a, "&Domain=dom1", 50, "/app")
		c.register(t, b, "&Domain=dom1", 50, "/app")
		c.register(t, other, "&Domain=dom2", 100, "/app")
		c.ok(t, "CONFIG", "/", nodeConfig(a, "&Domain=dom1")) // Force back on (no StickySessionForce=No)
		a.srv.Close()
		if got := c.ok(t, "STATUS", "/", "JVMRoute=a&Load=50"); !strings.Contains(got, "State=NOTOK") {
			t.Fatalf("STATUS of a dead node: %q, want NOTOK", got)
		}
		for i := range 20 {
			if status, body := c.get(t, "/app/", "S1.a"); status != 200 || servedBy(body) != "b" {
				t.Fatalf("request %d for dead a: %d %q, want b of the same domain", i, status, body)
			}
		}
	})
	t.Run("StickySessionForce without a domain answers 503", func(t *testing.T) {
		c := newCluster(t)
		a, b := startNode(t, "a"), startNode(t, "b")
		c.register(t, a, "", 50, "/app")
		c.register(t, b, "", 50, "/app")
		c.ok(t, "CONFIG", "/", nodeConfig(a, ""))
		a.srv.Close()
		c.ok(t, "STATUS", "/", "JVMRoute=a&Load=50")
		if status, _ := c.get(t, "/app/", "S1.a"); status != 503 {
			t.Errorf("forced session of a dead node without domain: %d, want 503", status)
		}
		if status, body := c.get(t, "/app/", ""); status != 200 || servedBy(body) != "b" {
			t.Errorf("new session: %d %q", status, body)
		}
	})
	t.Run("StickySessionRemove strips the stale session id", func(t *testing.T) {
		c := newCluster(t)
		a, b := startNode(t, "a"), startNode(t, "b")
		c.register(t, a, "&StickySessionRemove=Yes", 50, "/app")
		c.register(t, b, "&StickySessionRemove=Yes", 50, "/app")
		a.srv.Close()
		c.ok(t, "STATUS", "/", "JVMRoute=a&Load=50")
		req, _ := http.NewRequest(http.MethodGet, c.front.URL+"/app/page;jsessionid=S1.a", nil)
		req.Header.Set("Cookie", "theme=dark; JSESSIONID=S1.a")
		res, err := c.front.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := res.Header.Get("X-Cookie"); got != "theme=dark" {
			t.Errorf("b received Cookie %q, want the stale JSESSIONID stripped", got)
		}
		if res.Header.Get("X-Route") == "a" {
			t.Error("served by dead a")
		}
	})
}

func nodeConfig(n *node, extra string) string {
	h, p := n.hostPort()
	return "JVMRoute=" + n.route + "&Host=" + h + "&Port=" + p + "&Type=http" + extra
}

// TestRefusals checks the answers the server decides (MEM, GENERAL, and
// SYNTAX over HTTP): 500 with Version, Type and Mess, nothing changed.
func TestRefusals(t *testing.T) {
	c := newCluster(t, fakeProbe(&sync.Map{}), func(o *mcmpserver.Options) {
		o.MaxNode, o.MaxHost, o.MaxContext, o.MaxMessageSize = 2, 1, 2, 1024
	})
	c.ok(t, "CONFIG", "/", "JVMRoute=node1&Host=10.0.0.5&Port=8009&Type=http")
	tests := []struct {
		name, method, target, body string
		typ, mess                  string
	}{
		{"syntax over HTTP", "CONFIG", "/", "", "SYNTAX", mcmp.MessParse},
		{"APP for an unknown node", "ENABLE-APP", "/", "JVMRoute=nodeX&Alias=a&Context=/", "MEM", `MEM: Can't read node with "nodeX" JVMRoute`},
		{"node-wide APP for an unknown node", "REMOVE-APP", "/*", "JVMRoute=nodeX", "MEM", `MEM: Can't read node with "nodeX" JVMRoute`},
		{"STATUS for an unknown node", "STATUS", "/", "JVMRoute=nodeX&Load=5", "MEM", `MEM: Can't read node with "nodeX" JVMRoute`},
		{"PING for an unknown node", "PING", "/", "JVMRoute=nodeX", "MEM", `MEM: Can't read node with "nodeX" JVMRoute`},
		{"CONFIG moving a node", "CONFIG", "/", "JVMRoute=node1&Host=10.0.0.5&Port=8010&Type=http", "MEM", `MEM: Node with "node1" JVMRoute already exists`},
		{"CONFIG changing its balancer", "CONFIG", "/", "JVMRoute=node1&Balancer=other&Host=10.0.0.5&Port=8009&Type=http", "MEM", `MEM: Node with "node1" JVMRoute already exists`},
		{"second route for a backend", "CONFIG", "/", "JVMRoute=node2&Host=10.0.0.5&Port=8009&Type=http", "MEM", "MEM: Another for the same worker already exist"},
		{"balancer table full", "CONFIG", "/", "JVMRoute=node3&Balancer=other&Host=10.0.0.7&Port=1&Type=http", "MEM", `MEM: Can't update or insert balancer for node with "node3" JVMRoute`},
		{"oversized message is refused, not cut", "CONFIG", "/", "JVMRoute=node4&Host=h&Port=" + strings.Repeat("0", 1000) + "17002", "MEM", "MEM: CONFIG message longer than 1024 bytes (max_message_size)"},
		{"PING of a bad scheme", "PING", "/", "Scheme=gopher&Host=a&Port=70", "SYNTAX", "PING Unsupported scheme: gopher"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := c.store.Load().Version
			a := c.send(t, tt.method, tt.target, tt.body)
			if a.status != 500 || a.typ != tt.typ || a.mess != tt.mess {
				t.Errorf("%s %q = %d Type %q Mess %q; want 500 %s %q", tt.method, tt.body, a.status, a.typ, a.mess, tt.typ, tt.mess)
			}
			if c.store.Load().Version != before {
				t.Error("a refused message changed the registry")
			}
		})
	}
	a := c.send(t, "CONFIG", "/", "")
	if a.status == 500 && c.sendHeader(t, "Version") != "0.2.1" {
		t.Error("error answer without Version: 0.2.1")
	}

	// The node table is full at two nodes.
	c.ok(t, "CONFIG", "/", "JVMRoute=node2&Host=10.0.0.6&Port=8009&Type=http")
	if a := c.send(t, "CONFIG", "/", "JVMRoute=node3&Host=10.0.0.7&Port=8009&Type=http"); a.typ != "MEM" || a.mess != `MEM: Can't update or insert node with "node3" JVMRoute` {
		t.Errorf("node table full: %+v", a)
	}
	// CONFIG contexts that do not fit: GENERAL, and what fit stays.
	a = c.send(t, "CONFIG", "/", "JVMRoute=node2&Host=10.0.0.6&Port=8009&Type=http&Alias=a&Context=/x,/y,/z")
	want := `MEM: Can't update or insert context for node with "node2" JVMRoute (/z and alias: a)`
	if a.status != 500 || a.typ != "GENERAL" || a.mess != want {
		t.Errorf("CONFIG with too many contexts: %d %q %q, want GENERAL %q", a.status, a.typ, a.mess, want)
	}
	if n := c.store.Load().Node("node2"); len(n.Contexts) != 2 {
		t.Errorf("node2 has %d contexts, want the 2 that fit", len(n.Contexts))
	}
	a = c.send(t, "CONFIG", "/", "JVMRoute=node1&Host=10.0.0.5&Port=8009&Type=http&Alias=b,c&Context=/w")
	if a.typ != "GENERAL" || !strings.Contains(a.mess, `MEM: Can't update or insert host alias for node with "node1" JVMRoute (b)`) {
		t.Errorf("CONFIG with too many aliases: %+v", a)
	}

	// Methods that are not MCMP: 501; GET elsewhere: 404.
	if a := c.send(t, "FOO", "/", ""); a.status != 501 {
		t.Errorf("unknown method: %d, want 501", a.status)
	}
	if a := c.send(t, "GET", "/index.html", ""); a.status != 404 {
		t.Errorf("GET: %d, want 404", a.status)
	}
	// Lower-case methods are MCMP too.
	if a := c.send(t, "version", "/", ""); a.status != 200 {
		t.Errorf("lower-case VERSION: %d", a.status)
	}
}

func (c *cluster) sendHeader(t *testing.T, name string) string {
	req, _ := http.NewRequest("CONFIG", c.mgr.URL+"/", nil)
	res, err := c.mgr.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.Header.Get(name)
}

func TestStatusAndPingProbe(t *testing.T) {
	c := newCluster(t)
	a := startNode(t, "a")
	c.register(t, a, "", 50, "/app")
	node := c.store.Load().Node("a")
	if got := c.ok(t, "PING", "/", ""); !strings.HasPrefix(got, "Type=PING-RSP&State=OK&id=") {
		t.Errorf("PING = %q", got)
	}
	if got := c.ok(t, "PING", "/", "JVMRoute=a"); !strings.HasPrefix(got, "Type=PING-RSP&JVMRoute=a&State=OK&id=") {
		t.Errorf("PING node = %q", got)
	}
	h, p := a.hostPort()
	if got := c.ok(t, "PING", "/", "Scheme=http&Host="+h+"&Port="+p); !strings.Contains(got, "State=OK") {
		t.Errorf("PING of a member backend = %q", got)
	}
	if got := c.ok(t, "PING", "/", "Scheme=http&Host=127.0.0.1&Port=1"); !strings.Contains(got, "State=NOTOK") {
		t.Errorf("PING of an unknown http backend = %q, want NOTOK", got)
	}
	// STATUS without Load probes only.
	c.ok(t, "STATUS", "/", "JVMRoute=a")
	if node.Stats.Load.Load() != 50 {
		t.Errorf("STATUS without Load changed the load to %d", node.Stats.Load.Load())
	}
	a.srv.Close()
	if got := c.ok(t, "STATUS", "/", "JVMRoute=a&Load=90"); !strings.Contains(got, "State=NOTOK") || node.Stats.Load.Load() != 50 {
		t.Errorf("STATUS of a dead node = %q, load %d: want NOTOK and the load not applied", got, node.Stats.Load.Load())
	}
	if !c.store.Load().Balancer("mycluster").ByRoute("a").InError(c.clock.Now().UnixNano()) {
		t.Error("node with a failed probe is not in error state")
	}
	if got := c.ok(t, "PING", "/", "JVMRoute=a"); !strings.Contains(got, "State=NOTOK") {
		t.Errorf("PING of a dead node = %q", got)
	}
}

func TestAllowedNetworksOnly(t *testing.T) {
	c := newCluster(t, func(o *mcmpserver.Options) { o.Allow = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} })
	a := c.send(t, "CONFIG", "/", "JVMRoute=n&Host=10.0.0.5")
	if a.status != 403 {
		t.Errorf("CONFIG from 127.0.0.1 with allow 10.0.0.0/8: %d, want 403", a.status)
	}
	if c.store.Load().Node("n") != nil {
		t.Error("a forbidden CONFIG registered a node")
	}
	if status := c.send(t, "GET", "/mod_cluster_manager", "").status; status != 403 {
		t.Errorf("manager page from a forbidden network: %d", status)
	}
}

func TestManagerPageCommands(t *testing.T) {
	c := newCluster(t, fakeProbe(&sync.Map{}))
	c.ok(t, "CONFIG", "/", "JVMRoute=node1&Domain=dom1&Host=10.0.0.5&Port=8009&Type=http")
	c.ok(t, "CONFIG", "/", "JVMRoute=node2&Domain=dom1&Host=10.0.0.6&Port=8009&Type=http")
	c.ok(t, "ENABLE-APP", "/", "JVMRoute=node1&Alias=localhost&Context=%2Fapp,%2Fshop")
	c.ok(t, "ENABLE-APP", "/", "JVMRoute=node2&Alias=localhost&Context=%2Fapp")
	c.ok(t, "STATUS", "/", "JVMRoute=node1&Load=50")
	page := func(query string) (int, string) {
		res, err := http.Get(c.mgr.URL + "/mod_cluster_manager" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b := new(strings.Builder)
		_, _ = fmt.Fprint(b, readAll(res))
		return res.StatusCode, b.String()
	}
	state := func(route, path string) string {
		for _, ctx := range c.store.Load().Node(route).Contexts {
			if ctx.Path == path {
				return ctx.State.String()
			}
		}
		return "none"
	}
	status, html := page("")
	nonce := c.srv.Nonce()
	for _, want := range []string{"<h1>barkeep/test</h1>", "Node node1 (http://10.0.0.5:8009)", "Status: OK", "LBGroup dom1",
		"Balancer mycluster:", "StickySession: On, Cookie: JSESSIONID, Path: jsessionid, StickySessionForce: On",
		"/app, Status: ENABLED Request: 0", "nonce=" + nonce + "&amp;Cmd=DISABLE-APP&amp;Range=CONTEXT&amp;JVMRoute=node1&amp;Alias=localhost&amp;Context=%2fapp"} {
		if status != 200 || !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Times carry their units, not httpd's bare microseconds
	// ("Ping: 10000000"); INFO keeps httpd's numbers.
	if want := "Flushwait: 10ms,Ping: 10s,Smax: "; !strings.Contains(html, want) || !strings.Contains(html, ",Ttl: 60s,Status: OK") {
		t.Errorf("node line without units (want %q and Ttl: 60s):\n%s", want, html)
	}
	// Without the nonce nothing happens.
	for _, q := range []string{"?Cmd=DISABLE-APP&Range=CONTEXT&JVMRoute=node1&Alias=localhost&Context=/app", "?nonce=wrong&Cmd=STOP-APP&Range=NODE&JVMRoute=node1"} {
		page(q)
		if state("node1", "/app") != "ENABLED" {
			t.Fatalf("%s changed a context without the nonce", q)
		}
	}
	// With it, every range works.
	page("?nonce=" + nonce + "&Cmd=DISABLE-APP&Range=CONTEXT&JVMRoute=node1&Alias=localhost&Context=/app")
	if state("node1", "/app") != "DISABLED" || state("node1", "/shop") != "ENABLED" {
		t.Errorf("Range=CONTEXT: /app %s /shop %s", state("node1", "/app"), state("node1", "/shop"))
	}
	page("?nonce=" + nonce + "&Cmd=STOP-APP&Range=NODE&JVMRoute=node1")
	if state("node1", "/app") != "STOPPED" || state("node1", "/shop") != "STOPPED" || state("node2", "/app") != "ENABLED" {
		t.Errorf("Range=NODE: node1 /app %s /shop %s, node2 /app %s", state("node1", "/app"), state("node1", "/shop"), state("node2", "/app"))
	}
	page("?nonce=" + nonce + "&Cmd=DISABLE-APP&Range=DOMAIN&Domain=dom1")
	if state("node1", "/app") != "DISABLED" || state("node2", "/app") != "DISABLED" {
		t.Errorf("Range=DOMAIN: %s %s", state("node1", "/app"), state("node2", "/app"))
	}
	if _, out := page("?nonce=" + nonce + "&Cmd=INFO&Range=ALL"); out != c.ok(t, "INFO", "/", "") {
		t.Errorf("Cmd=INFO differs from INFO:\n%s", out)
	}
	if _, out := page("?nonce=" + nonce + "&Cmd=ENABLE-APP&Range=CONTEXT&JVMRoute=node1&Alias=localhost&Context=/app"); !strings.Contains(out, "Type=ENABLE-APP-RSP") {
		t.Error("command output not shown before the page")
	}
	if status, _ := page("?nonce"); status != 400 {
		t.Errorf("parameter without '=': %d, want 400", status)
	}
	if _, out := page("?nonce=" + nonce + "&Cmd=ENABLE-APP&Range=NODE&JVMRoute=ghost"); !regexp.MustCompile(`Command failed: MEM: Can&#39;t read node with &#34;ghost&#34; JVMRoute`).MatchString(out) {
		t.Error("failed command not reported")
	}
}

func readAll(res *http.Response) string {
	b := new(strings.Builder)
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

var _ = registry.ContextEnabled
