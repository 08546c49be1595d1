// Package cluster makes several barkeep balancers one cluster that shares
// one registry: an MCMP registration received by any balancer is routed by
// all of them, and operators' changes apply everywhere (Karaf Cellar's
// HTTP balancer, with health, stickiness and cleanup).
//
// The engine is NATS: each balancer runs an embedded nats-server (or uses
// an external NATS), the voters hold the registry in a replicated
// JetStream key-value bucket per cluster group, and soft state (reported
// loads, the balancers' heartbeats, requests in flight) travels on core
// NATS subjects. See docs/cluster.md.
//
// The flow of a registration:
//
//	worker ──CONFIG──▶ mcmpserver ──Store.Update──▶ local snapshot (routes at once)
//	                        └──CommitNodes──▶ Cluster ──KV Create/Update(rev)──▶ bucket (quorum)
//	                        ◀── nil: 200 │ error: MCMP error, the worker sends again
//	bucket ──watch──▶ Cluster on every balancer ──Store.Update──▶ their snapshots
//
// The request path never waits for the network: it reads the local
// snapshot, which the watchers keep current.
package cluster

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// Policy is a cluster group's sync policy, as Karaf Cellar defines them.
type Policy uint8

const (
	// PolicyCluster pulls the group's state on join (the cluster wins),
	// then pushes local changes and keeps pulling.
	PolicyCluster Policy = iota
	// PolicyNode pushes the local state on join (this node wins), then
	// both directions.
	PolicyNode
	// PolicyClusterOnly pulls only: local changes stay local.
	PolicyClusterOnly
	// PolicyNodeOnly pushes only: the group's changes are not applied here.
	PolicyNodeOnly
	// PolicyDisabled neither pulls nor pushes.
	PolicyDisabled
)

var policyNames = [...]string{"cluster", "node", "clusterOnly", "nodeOnly", "disabled"}

func (p Policy) String() string {
	if int(p) < len(policyNames) {
		return policyNames[p]
	}
	return "unknown"
}

// UnmarshalText accepts cluster, node, clusterOnly, nodeOnly and disabled.
func (p *Policy) UnmarshalText(b []byte) error {
	for i, n := range policyNames {
		if n == string(b) {
			*p = Policy(i)
			return nil
		}
	}
	return fmt.Errorf("unknown sync policy %q (want cluster, node, clusterOnly, nodeOnly or disabled)", b)
}

func (p Policy) pull() bool { return p == PolicyCluster || p == PolicyNode || p == PolicyClusterOnly }
func (p Policy) push() bool { return p == PolicyCluster || p == PolicyNode || p == PolicyNodeOnly }

// Group is one cluster group this balancer takes part in.
type Group struct {
	Name   string // letters, digits, '_' and '-'
	Policy Policy
}

// Options configures a Cluster. Zero values take the defaults noted.
type Options struct {
	// Name is the cluster's name, shared by all its balancers; required.
	Name string
	// Node is this balancer's name, unique in the cluster; required.
	Node string
	// Listen is "host:port" of the embedded server's cluster routes;
	// default "127.0.0.1:7422". Port 0 picks a free port (see RouteAddr).
	Listen string
	// Peers are the other balancers' route addresses. A voter lists the
	// other voters: JetStream counts them to know how many voters must
	// meet before it elects its first leader. Route-only balancers list
	// the voters. Without peers the embedded server runs alone and opens
	// no route port.
	Peers []string
	// Voter runs JetStream here: this balancer holds a replica of the
	// registry. Route-only balancers use the voters' buckets.
	Voter bool
	// Replicas of each group's bucket, 1..5; default 1.
	Replicas int
	// URL connects to an external NATS instead of embedding one; Listen,
	// Peers, Voter and DataDir are then unused.
	URL string
	// DataDir keeps a voter's JetStream state on disk; default: a
	// temporary directory removed at shutdown, and buckets in memory.
	DataDir string
	// Groups this balancer takes part in; default one group "default"
	// with PolicyCluster.
	Groups []Group
	// CommitTimeout bounds how long a commit waits for the bucket;
	// default 2s.
	CommitTimeout time.Duration
	// NodeTimeout: an MCMP node no balancer heard a STATUS from for this
	// long is marked down (load -1); default 60s.
	NodeTimeout time.Duration
	// WaitForRemove: a node down this long is removed, and a removed node
	// is listed this long (twice, plus 10 s, as the manager does); default
	// 10s.
	WaitForRemove time.Duration
	// Tombstone is how long a removed node's record stays in the bucket;
	// default 10m.
	Tombstone time.Duration
	// Log receives the cluster's events; default discard.
	Log *slog.Logger
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// Cluster is this balancer's part of the cluster. It implements
// registry.Replicator. Safe for concurrent use; Run must be running for
// commits to succeed.
type Cluster struct {
	store    *registry.Store
	opts     Options
	log      *slog.Logger
	now      func() time.Time
	clock    hlc
	started  time.Time
	ready    chan struct{}
	readyErr error

	mu       sync.Mutex // guards the fields below and every group's maps
	nc       *nats.Conn // nil until connected
	js       jetstream.JetStream
	srv      *server.Server
	routeAdr string
	groups   []*group
	heard    map[string]heard     // by route: the last STATUS heard, here or by a peer
	peers    map[string]peerState // other balancers, by name, from their heartbeats
	pending  map[string]*nodeDoc  // by route: local changes the bucket has not accepted
	pendingM map[string]*memberDoc

	routeLocks [256]sync.Mutex // see routeLock
}

// heard is the latest evidence that a node is alive.
type heard struct {
	local  time.Time // STATUS received by this balancer
	remote time.Time // reported by another balancer
	load   int32
}

type peerState struct {
	seen   time.Time
	voter  bool
	groups []string
}

// New returns the cluster part of the balancer whose registry is store.
// It starts nothing; call Run.
func New(store *registry.Store, opts Options) (*Cluster, error) {
	if opts.Name == "" || opts.Node == "" {
		return nil, errors.New("cluster: name and node are required")
	}
	if len(opts.Groups) == 0 {
		opts.Groups = []Group{{Name: "default"}}
	}
	opts.Listen = cmp.Or(opts.Listen, "127.0.0.1:7422")
	opts.Replicas = max(opts.Replicas, 1)
	opts.CommitTimeout = cmp.Or(opts.CommitTimeout, 2*time.Second)
	opts.NodeTimeout = cmp.Or(opts.NodeTimeout, 60*time.Second)
	opts.WaitForRemove = cmp.Or(opts.WaitForRemove, 10*time.Second)
	opts.Tombstone = cmp.Or(opts.Tombstone, 10*time.Minute)
	c := &Cluster{
		store: store, opts: opts, now: opts.Now, ready: make(chan struct{}),
		log:   cmp.Or(opts.Log, slog.New(slog.DiscardHandler)).With("component", "cluster"),
		heard: map[string]heard{}, peers: map[string]peerState{}, pending: map[string]*nodeDoc{}, pendingM: map[string]*memberDoc{},
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.clock.now = c.now
	for _, g := range opts.Groups {
		c.groups = append(c.groups, newGroup(c, g))
	}
	return c, nil
}

// Ready is closed once every group's bucket is open and the groups this
// balancer pulls from have been applied to the registry.
func (c *Cluster) Ready() <-chan struct{} { return c.ready }

// RouteAddr returns the address the embedded server's cluster routes
// listen on, once Run has started it; "" before, or with an external URL.
func (c *Cluster) RouteAddr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.routeAdr
}

// token makes s usable as one subject token and in a bucket name.
func token(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// Run joins the cluster and keeps this balancer's registry in step with it
// until ctx is done; then it leaves and stops the embedded server. It
// returns an error only when the server cannot start or connect.
func (c *Cluster) Run(ctx context.Context) error {
	c.started = c.now()
	dataDir := c.opts.DataDir
	if c.opts.URL == "" && dataDir == "" {
		dir, err := os.MkdirTemp("", "barkeep-cluster-")
		if err != nil {
			return fmt.Errorf("cluster: state directory: %w", err)
		}
		defer os.RemoveAll(dir)
		dataDir = dir
	}
	nc, err := c.connect(dataDir)
	if err != nil {
		return err
	}
	defer func() {
		nc.Drain() //nolint:errcheck // best effort on the way out
		c.mu.Lock()
		srv := c.srv
		c.mu.Unlock()
		if srv != nil {
			srv.Shutdown()
			srv.WaitForShutdown()
		}
	}()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	c.mu.Lock()
	c.nc, c.js = nc, js
	c.mu.Unlock()

	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := c.subscribe(ctx); err != nil {
		return err
	}
	synced := make(chan struct{}, len(c.groups))
	for _, g := range c.groups {
		wg.Go(func() { g.run(ctx, synced) })
	}
	wg.Go(func() {
		for range c.groups {
			select {
			case <-synced:
			case <-ctx.Done():
				return
			}
		}
		close(c.ready)
		c.log.Info("cluster joined", "cluster", c.opts.Name, "node", c.opts.Node, "groups", len(c.groups))
	})
	c.tick(ctx)
	return nil
}

// connect starts the embedded server (unless URL) and connects to it.
func (c *Cluster) connect(dataDir string) (*nats.Conn, error) {
	copts := []nats.Option{nats.Name("barkeep " + c.opts.Node), nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond), nats.RetryOnFailedConnect(true)}
	if c.opts.URL != "" {
		nc, err := nats.Connect(c.opts.URL, copts...)
		if err != nil {
			return nil, fmt.Errorf("cluster: connect to %s: %w", c.opts.URL, err)
		}
		return nc, nil
	}
	host, portText, err := net.SplitHostPort(c.opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("cluster: listen %q: %w", c.opts.Listen, err)
	}
	port, _ := strconv.Atoi(portText)
	if port == 0 {
		port = -1 // a free port
	}
	// The server's routing starts only with its client listener: that
	// listens on a free loopback port and takes only this process's
	// connection, which carries a random token.
	secret := make([]byte, 24)
	rand.Read(secret)
	tok := hex.EncodeToString(secret)
	copts = append(copts, nats.Token(tok))
	so := &server.Options{
		ServerName: c.opts.Node, Host: "127.0.0.1", Port: server.RANDOM_PORT, Authorization: tok, NoSigs: true, NoLog: true,
		JetStream: c.opts.Voter, StoreDir: dataDir,
		Cluster: server.ClusterOpts{Name: token(c.opts.Name), Host: host, Port: port, ConnectRetries: 0},
	}
	for _, p := range c.opts.Peers {
		so.Routes = append(so.Routes, server.RoutesFromStr("nats-route://"+p)...)
	}
	if len(so.Routes) == 0 {
		// A cluster of one: JetStream's clustered mode needs peers to elect
		// a leader, so this voter runs it alone and opens no route port.
		so.Cluster = server.ClusterOpts{}
		c.log.Info("cluster of one balancer: no peers, no route listener", "node", c.opts.Node)
	}
	if so.Cluster.Port > 0 {
		// The embedded server reports a port it cannot bind only in its
		// log: say so plainly.
		l, err := net.Listen("tcp", c.opts.Listen)
		if err != nil {
			return nil, fmt.Errorf("cluster: listen for routes: %w", err)
		}
		l.Close()
	}
	srv, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("cluster: embedded server: %w", err)
	}
	srv.SetLoggerV2(natsLog{c.log}, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(20 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("cluster: embedded server did not start (routes on %s)", c.opts.Listen)
	}
	c.mu.Lock()
	c.srv = srv
	if a := srv.ClusterAddr(); a != nil {
		c.routeAdr = a.String()
	}
	c.mu.Unlock()
	nc, err := nats.Connect("", append(copts, nats.InProcessServer(srv))...)
	if err != nil {
		srv.Shutdown()
		return nil, fmt.Errorf("cluster: connect to the embedded server: %w", err)
	}
	return nc, nil
}

// natsLog passes the embedded server's warnings and errors to our log.
type natsLog struct{ log *slog.Logger }

func (l natsLog) Noticef(string, ...any) {}
func (l natsLog) Debugf(string, ...any)  {}
func (l natsLog) Tracef(string, ...any)  {}
func (l natsLog) Warnf(f string, v ...any) {
	l.log.Debug("nats: " + fmt.Sprintf(f, v...))
}
func (l natsLog) Errorf(f string, v ...any) {
	l.log.Debug("nats: " + fmt.Sprintf(f, v...))
}
func (l natsLog) Fatalf(f string, v ...any) { l.log.Error("nats: " + fmt.Sprintf(f, v...)) }

// hlc is a hybrid logical clock: wall-clock nanoseconds, moved past every
// value it issued or observed, so it never goes back.
type hlc struct {
	mu   sync.Mutex
	last uint64
	now  func() time.Time
}

func (h *hlc) next() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := uint64(h.now().UnixNano())
	if t <= h.last {
		t = h.last + 1
	}
	h.last = t
	return t
}

func (h *hlc) observe(t uint64) {
	h.mu.Lock()
	h.last = max(h.last, t)
	h.mu.Unlock()
}
