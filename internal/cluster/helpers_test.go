package cluster_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/admin"
	"github.com/barkeep-lb/barkeep/internal/cluster"
	"github.com/barkeep-lb/barkeep/internal/mcmpserver"
	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/internal/testnet"
)

// bnode is one balancer of a test cluster, in this process: its registry,
// its cluster part, its manager and admin listeners on loopback.
type bnode struct {
	name    string
	store   *registry.Store
	cl      *cluster.Cluster
	mcmp    *mcmpserver.Server
	manager string // base URL
	admin   *admin.Handler
	adminU  string
	stop    func()
}

type spec struct {
	name   string
	groups []cluster.Group
	voter  bool
	// before, if set, is applied to the node's registry before it joins
	// (as a persist file restored at start would be).
	before func(t *testing.T, m *mcmpserver.Server, manager string)
}

func logger() *slog.Logger {
	if os.Getenv("BARKEEP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startCluster starts the balancers of specs, each routing to all the
// others, with opts' timeouts, and waits until all of them joined.
func startCluster(t *testing.T, opts cluster.Options, specs ...spec) []*bnode {
	t.Helper()
	addrs := testnet.FixedAddrs(t, len(specs))
	voters := 0
	for _, s := range specs {
		if s.voter {
			voters++
		}
	}
	var nodes []*bnode
	for i, s := range specs {
		o := opts
		o.Name, o.Node, o.Listen, o.Voter, o.Groups, o.Log = "test", s.name, addrs[i], s.voter, s.groups, logger()
		o.Peers = slices.Delete(slices.Clone(addrs), i, i+1)
		o.Replicas = min(voters, 3)
		o.DataDir = t.TempDir()
		nodes = append(nodes, startNode(t, o, s.before))
	}
	for _, n := range nodes {
		waitReady(t, n)
	}
	return nodes
}

func waitReady(t *testing.T, n *bnode) {
	t.Helper()
	select {
	case <-n.cl.Ready():
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not join the cluster within 30s", n.name)
	}
}

func startNode(t *testing.T, o cluster.Options, before func(*testing.T, *mcmpserver.Server, string)) *bnode {
	t.Helper()
	store := registry.NewStore()
	if before != nil {
		// A manager without the cluster: what a restored persist file is.
		m := mcmpserver.New(store, mcmpserver.Options{StopAppWait: -1, Probe: alive})
		srv := httptest.NewServer(m)
		before(t, m, srv.URL)
		srv.Close()
	}
	cl, err := cluster.New(store, o)
	if err != nil {
		t.Fatal(err)
	}
	m := mcmpserver.New(store, mcmpserver.Options{StopAppWait: -1, Probe: alive, Replicator: cl, Log: logger(), MaxNode: 20000, MaxHost: 20000, MaxContext: 100000})
	msrv := httptest.NewServer(m)
	ah := admin.New(store, admin.Options{Replicator: cl})
	asrv := httptest.NewServer(ah)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := cl.Run(ctx); err != nil {
			t.Errorf("%s: Run: %v", o.Node, err)
		}
	}()
	n := &bnode{name: o.Node, store: store, cl: cl, mcmp: m, manager: msrv.URL, admin: ah, adminU: asrv.URL}
	var stopped bool
	n.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		<-done
		msrv.Close()
		asrv.Close()
	}
	t.Cleanup(n.stop)
	return n
}

func alive(context.Context, string, string, time.Duration) error { return nil }

// send sends one MCMP message and returns the status, the Type header
// and the body.
func send(t *testing.T, base, method, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Type"), string(b)
}

// mustSend is send expecting 200.
func mustSend(t *testing.T, base, method, body string) string {
	t.Helper()
	code, typ, text := send(t, base, method, body)
	if code != http.StatusOK {
		t.Fatalf("%s %s = %d %s %q, want 200", method, body, code, typ, text)
	}
	return text
}

// register registers node route serving ctxPath under alias localhost,
// ENABLED, through base.
func register(t *testing.T, base, route, port, ctxPath string) {
	t.Helper()
	mustSend(t, base, "CONFIG", "JVMRoute="+route+"&Host=127.0.0.1&Port="+port+"&Type=http")
	mustSend(t, base, "ENABLE-APP", "JVMRoute="+route+"&Alias=localhost&Context="+url.QueryEscape(ctxPath))
}

// contextState returns the state of route's context path in n's
// registry, or "" when it has none.
func contextState(n *bnode, route, path string) string {
	nd := n.store.Load().Node(route)
	if nd == nil || nd.Removed {
		return ""
	}
	for _, c := range nd.Contexts {
		if c.Path == path {
			return c.State.String()
		}
	}
	return ""
}

// eventually waits up to d for cond, checking after every registry change
// of n (and at least every 50ms).
func eventually(t *testing.T, n *bnode, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(d)
	for {
		snap := n.store.Load()
		if cond() {
			return
		}
		select {
		case <-snap.Superseded():
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%s: %s not within %s", n.name, what, d)
		}
	}
}

// never checks that cond stays false on n for d.
func never(t *testing.T, n *bnode, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(d)
	for {
		snap := n.store.Load()
		if cond() {
			t.Fatalf("%s: %s, want not", n.name, what)
		}
		select {
		case <-snap.Superseded():
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			return
		}
	}
}

func newServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
