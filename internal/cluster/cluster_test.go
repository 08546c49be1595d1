package cluster_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/cluster"
	"github.com/barkeep-lb/barkeep/internal/mcmpserver"
	"github.com/barkeep-lb/barkeep/internal/registry"
)

var defaultGroup = []cluster.Group{{Name: "default"}}

func three(t *testing.T) []*bnode {
	return startCluster(t, cluster.Options{},
		spec{name: "a", voter: true, groups: defaultGroup},
		spec{name: "b", voter: true, groups: defaultGroup},
		spec{name: "c", voter: true, groups: defaultGroup})
}

// TestRegistrationRoutedByPeers: CONFIG + ENABLE-APP sent to A is routed
// by B and C within 1s, measured from sending the CONFIG to A until the
// peer's registry has the context ENABLED; p50/p99 over 100
// registrations (200 observations) are logged.
func TestRegistrationRoutedByPeers(t *testing.T) {
	nodes := three(t)
	a := nodes[0]
	const n = 100
	routes := make([]string, n)
	for i := range routes {
		routes[i] = fmt.Sprintf("w%03d", i)
	}
	sent := make([]time.Time, n) // when A was sent the CONFIG
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for _, peer := range nodes[1:] {
		wg.Go(func() {
			seen := make([]bool, n)
			left := n
			deadline := time.After(60 * time.Second)
			for left > 0 {
				snap := peer.store.Load()
				for i, r := range routes {
					if seen[i] || contextState(peer, r, "/app") != "ENABLED" {
						continue
					}
					now := time.Now()
					seen[i], left = true, left-1
					mu.Lock()
					lat = append(lat, now.Sub(sent[i]))
					mu.Unlock()
				}
				if left == 0 {
					return
				}
				select {
				case <-snap.Superseded():
				case <-deadline:
					t.Errorf("%s: %d registrations not routed within 60s", peer.name, left)
					return
				}
			}
		})
	}
	for i := range routes {
		mu.Lock()
		sent[i] = time.Now()
		mu.Unlock()
		register(t, a.manager, routes[i], fmt.Sprint(20000+i), "/app")
	}
	wg.Wait()
	slices.Sort(lat)
	if len(lat) != 2*n {
		t.Fatalf("%d observations, want %d", len(lat), 2*n)
	}
	p50, p99, worst := lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	t.Logf("CONFIG sent to A -> CONFIG and ENABLE-APP routed on B and C, %d observations: p50 %s p99 %s max %s", len(lat), p50, p99, worst)
	if worst > time.Second {
		t.Errorf("slowest registration routed by a peer after %s, want within 1s", worst)
	}
	// The registrations are the cluster's: one document per node.
	if got := a.cl.Status(t.Context()).Groups[0].Registrations; got != n {
		t.Errorf("bucket holds %d registrations, want %d", got, n)
	}
}

// TestSameConfigFromEveryBalancerWritesOnce: a worker registers with all
// balancers (mod_cluster's default); the bucket keeps one document and
// every balancer answers 200.
func TestSameConfigFromEveryBalancer(t *testing.T) {
	t.Parallel()
	nodes := three(t)
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() {
			for _, m := range []string{"CONFIG", "ENABLE-APP"} {
				body := "JVMRoute=w1&Host=127.0.0.1&Port=20001&Type=http"
				if m == "ENABLE-APP" {
					body = "JVMRoute=w1&Alias=localhost&Context=/app"
				}
				if code, typ, text := send(t, n.manager, m, body); code != 200 {
					t.Errorf("%s: %s = %d %s %s", n.name, m, code, typ, text)
				}
			}
		})
	}
	wg.Wait()
	for _, n := range nodes {
		eventually(t, n, 5*time.Second, "w1 /app ENABLED", func() bool { return contextState(n, "w1", "/app") == "ENABLED" })
	}
}

// TestOperatorDrainReplicates: drain set on B's balancer-manager stops new
// sessions to the member through A and C (it leaves every tier).
func TestOperatorDrainReplicates(t *testing.T) {
	t.Parallel()
	nodes := three(t)
	a, b := nodes[0], nodes[1]
	register(t, a.manager, "w1", "20001", "/app")
	register(t, a.manager, "w2", "20002", "/app")
	for _, n := range nodes {
		eventually(t, n, 5*time.Second, "w1 and w2 routed", func() bool {
			return contextState(n, "w1", "/app") == "ENABLED" && contextState(n, "w2", "/app") == "ENABLED"
		})
	}
	f := url.Values{"b": {"mycluster"}, "w": {"http://127.0.0.1:20001"}, "w_status_N": {"1"}, "nonce": {b.admin.Nonce("mycluster")}}
	res, err := http.PostForm(b.adminU+"/balancer-manager", f)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode >= 400 {
		t.Fatalf("drain on B: status %d", res.StatusCode)
	}
	for _, n := range nodes {
		eventually(t, n, 5*time.Second, "w1 draining and out of every tier", func() bool {
			bal := n.store.Load().Balancer("mycluster")
			m := bal.ByRoute("w1")
			if m == nil || !m.Status.Has(registry.StatusDrain) {
				return false
			}
			for _, tier := range bal.Tiers() {
				if slices.Contains(tier.Members, m) {
					return false
				}
			}
			return true
		})
	}
	// A later registration change of the node keeps the operator's drain.
	mustSend(t, a.manager, "ENABLE-APP", "JVMRoute=w1&Alias=localhost&Context=/other")
	eventually(t, nodes[2], 5*time.Second, "w1 /other", func() bool { return contextState(nodes[2], "w1", "/other") == "ENABLED" })
	if m := nodes[2].store.Load().Balancer("mycluster").ByRoute("w1"); !m.Status.Has(registry.StatusDrain) {
		t.Errorf("C: w1 status %q after ENABLE-APP, want the drain kept", m.Status)
	}
}

// TestStopAppCountsRequestsOnPeers: STOP-APP on A reports the requests in
// flight through B.
func TestStopAppCountsRequestsOnPeers(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, cluster.Options{},
		spec{name: "a", voter: true, groups: defaultGroup},
		spec{name: "b", voter: true, groups: defaultGroup})
	a, b := nodes[0], nodes[1]
	register(t, a.manager, "w1", "20001", "/app")
	eventually(t, b, 5*time.Second, "w1 routed on B", func() bool { return contextState(b, "w1", "/app") == "ENABLED" })
	// Two requests run through B: the request path counts them on B's row.
	row := b.store.Load().Node("w1").Contexts[0]
	row.Requests.Add(2)
	// Heartbeats tell A that B is there.
	eventually(t, a, 5*time.Second, "B heard", func() bool { return len(a.cl.Status(t.Context()).Balancers) == 2 })
	text := mustSend(t, a.manager, "STOP-APP", "JVMRoute=w1&Alias=localhost&Context=/app")
	if !strings.Contains(text, "Requests=2") {
		t.Errorf("STOP-APP answer %q, want Requests=2 (in flight through B)", text)
	}
	row.EndRequest()
	row.EndRequest()
	text = mustSend(t, a.manager, "STOP-APP", "JVMRoute=w1&Alias=localhost&Context=/app")
	if !strings.Contains(text, "Requests=0") {
		t.Errorf("STOP-APP answer %q after the requests ended, want Requests=0", text)
	}
}

// TestGroupsAreSeparate: a balancer routes only the registrations of the
// groups it takes part in.
func TestGroupsAreSeparate(t *testing.T) {
	t.Parallel()
	red, blue := []cluster.Group{{Name: "red"}}, []cluster.Group{{Name: "blue"}}
	nodes := startCluster(t, cluster.Options{},
		spec{name: "a", voter: true, groups: red},
		spec{name: "b", voter: true, groups: blue},
		spec{name: "c", voter: true, groups: []cluster.Group{{Name: "red"}, {Name: "blue"}}})
	a, b, c := nodes[0], nodes[1], nodes[2]
	register(t, a.manager, "r1", "20001", "/red")
	register(t, b.manager, "b1", "20002", "/blue")
	eventually(t, c, 5*time.Second, "r1 and b1 routed on C", func() bool {
		return contextState(c, "r1", "/red") == "ENABLED" && contextState(c, "b1", "/blue") == "ENABLED"
	})
	never(t, a, time.Second, "A routes blue's b1", func() bool { return contextState(a, "b1", "/blue") != "" })
	never(t, b, 0, "B routes red's r1", func() bool { return contextState(b, "r1", "/red") != "" })
	locs := c.cl.HTTPList("red")
	if len(locs) != 1 || locs[0].Route != "r1" || locs[0].Alias != "localhost" || locs[0].Context != "/red" ||
		locs[0].Location != "http://127.0.0.1:20001" {
		t.Errorf("http-list red on C = %+v, want r1 localhost /red at http://127.0.0.1:20001", locs)
	}
}

// TestNodeExpiry: a node no balancer hears a STATUS from goes down (load
// -1) after the node timeout and is removed wait_for_remove later, on
// every balancer, whichever received it; a node whose STATUS one
// balancer hears stays.
func TestNodeExpiry(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, cluster.Options{NodeTimeout: 2 * time.Second, WaitForRemove: 2 * time.Second},
		spec{name: "a", voter: true, groups: defaultGroup},
		spec{name: "b", voter: true, groups: defaultGroup})
	a, b := nodes[0], nodes[1]
	register(t, a.manager, "dead", "20001", "/app")
	register(t, a.manager, "live", "20002", "/app")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	wg.Go(func() {
		for {
			// The live node reports to B only.
			send(t, b.manager, "STATUS", "JVMRoute=live&Load=50")
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	})
	eventually(t, a, 10*time.Second, "dead marked down (load -1)", func() bool {
		n := a.store.Load().Node("dead")
		return n != nil && n.Stats.Load.Load() == -1
	})
	for _, n := range nodes {
		eventually(t, n, 10*time.Second, "dead removed", func() bool {
			nd := n.store.Load().Node("dead")
			return nd == nil || nd.Removed
		})
		if contextState(n, "live", "/app") != "ENABLED" {
			t.Errorf("%s: live node not routed any more", n.name)
		}
		if got := n.store.Load().Node("live").Stats.Load.Load(); got != 50 {
			t.Errorf("%s: live node's load %d, want the reported 50", n.name, got)
		}
	}
}

// TestCommitFailsWithoutCluster: before the balancer joined (or with no
// quorum) a change is refused with a non-SYNTAX error, and still routed
// here.
func TestCommitFailsWithoutCluster(t *testing.T) {
	store := registry.NewStore()
	cl, err := cluster.New(store, cluster.Options{Name: "t", Node: "alone", CommitTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m := mcmpserver.New(store, mcmpserver.Options{Replicator: cl, Probe: alive})
	srv := newServer(t, m)
	code, typ, _ := send(t, srv, "CONFIG", "JVMRoute=w1&Host=127.0.0.1&Port=20001&Type=http")
	if code == 200 || typ == "SYNTAX" {
		t.Errorf("CONFIG without the cluster = %d %s, want an error other than SYNTAX", code, typ)
	}
	if store.Load().Node("w1") == nil {
		t.Error("the refused CONFIG is not routed here meanwhile")
	}
}
