package config

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Cluster makes this balancer one node of a cluster of balancers that
// share one registry (see docs/cluster.md). Absent (nil), barkeep runs
// alone and opens no port for clustering.
type Cluster struct {
	// Name is the cluster's name; every node of one cluster uses the same.
	// Required.
	Name string `yaml:"name"`
	// Node is this balancer's name in the cluster; default the host name.
	Node string `yaml:"node"`
	// Listen is "host:port" for the cluster routes between balancers;
	// default "127.0.0.1:7422". Ignored with URL.
	Listen string `yaml:"listen"`
	// Peers are the other balancers' route addresses, "host:port".
	Peers []string `yaml:"peers"`
	// Voter makes this node hold the replicated registry (JetStream);
	// run 3 or 5 voters, the others route only. Default true.
	Voter bool `yaml:"voter"`
	// Replicas is how many voters keep a copy of the registry bucket,
	// 1..5; default 3 with peers, 1 alone.
	Replicas int `yaml:"replicas"`
	// URL connects to an external NATS with JetStream instead of running
	// the embedded server ("nats://host:4222"); default "".
	URL string `yaml:"url"`
	// DataDir holds a voter's replicated state; default "" keeps it in
	// memory (a restarted voter catches up from the others).
	DataDir string `yaml:"data_dir"`
	// Groups are the cluster groups (Karaf Cellar) this node takes part
	// in; default ["default"].
	Groups []string `yaml:"groups"`
	// Sync is the sync policy per group; a group not listed uses cluster.
	Sync map[string]SyncPolicy `yaml:"sync"`
	// CommitTimeout bounds how long an MCMP or operator change waits for
	// the registry bucket to accept it before the writer gets an error;
	// default 2s.
	CommitTimeout time.Duration `yaml:"commit_timeout"`
	// NodeTimeout is how long an MCMP node may go unheard by every
	// balancer (no STATUS) before it is marked down; it is removed
	// manager.wait_for_remove later. Default 60s.
	NodeTimeout time.Duration `yaml:"node_timeout"`
	// Tombstone is how long a removed node's record is kept in the bucket
	// so that a late, older CONFIG cannot bring it back; default 10m.
	Tombstone time.Duration `yaml:"tombstone"`
}

func (c *Cluster) setDefaults() {
	c.Listen = "127.0.0.1:7422"
	c.Voter = true
	c.Groups = []string{"default"}
	c.CommitTimeout = 2 * time.Second
	c.NodeTimeout = 60 * time.Second
	c.Tombstone = 10 * time.Minute
}

// SyncPolicy is a cluster group's sync policy (Karaf Cellar): cluster,
// node, clusterOnly, nodeOnly or disabled.
type SyncPolicy string

// UnmarshalText rejects unknown policies.
func (p *SyncPolicy) UnmarshalText(b []byte) error {
	return setEnum(p, b, "sync policy", "cluster", "node", "clusterOnly", "nodeOnly", "disabled")
}

// groupRE is a cluster group name: it names a bucket and a subject token.
var groupRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// NodeName returns the cluster node name: Node, else the host name.
func (c *Cluster) NodeName() string {
	if c.Node != "" {
		return c.Node
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "barkeep"
	}
	return strings.Split(h, ".")[0]
}

// Policy returns the sync policy of group: Sync[group], default cluster.
func (c *Cluster) Policy(group string) SyncPolicy {
	if p, ok := c.Sync[group]; ok {
		return p
	}
	return "cluster"
}

func (v *validator) cluster() {
	c := v.c.Cluster
	if c == nil {
		return
	}
	if !nameRE.MatchString(c.Name) || len(c.Name) > 64 {
		v.fail("cluster.name", "%q: every cluster needs a name of up to 64 letters, digits, '.', '_' and '-'", c.Name)
	}
	if c.Node != "" && (!nameRE.MatchString(c.Node) || len(c.Node) > 64) {
		v.fail("cluster.node", "%q: up to 64 letters, digits, '.', '_' and '-'", c.Node)
	}
	if c.URL != "" {
		if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
			v.fail("cluster.url", "%q is not a NATS URL such as nats://127.0.0.1:4222", c.URL)
		}
		if len(c.Peers) > 0 {
			v.fail("cluster.peers", "peers are for the embedded server; with url the external NATS routes")
		}
	} else {
		v.hostPort("cluster.listen", c.Listen)
	}
	for i, p := range c.Peers {
		v.hostPort(fmt.Sprintf("cluster.peers[%d]", i), p)
	}
	if c.Replicas < 0 || c.Replicas > 5 {
		v.fail("cluster.replicas", "%d is outside 1..5", c.Replicas)
	}
	if len(c.Groups) == 0 {
		v.fail("cluster.groups", "a node takes part in at least one group")
	}
	for i, g := range c.Groups {
		if !groupRE.MatchString(g) {
			v.fail(fmt.Sprintf("cluster.groups[%d]", i), "%q: up to 32 letters, digits, '_' and '-'", g)
		} else if slices.Index(c.Groups, g) != i {
			v.fail(fmt.Sprintf("cluster.groups[%d]", i), "%q listed twice", g)
		}
	}
	for g := range c.Sync {
		if !slices.Contains(c.Groups, g) {
			v.fail("cluster.sync."+g, "%q is not one of cluster.groups", g)
		}
	}
	for _, d := range []struct {
		field string
		d     time.Duration
		min   time.Duration
	}{{"commit_timeout", c.CommitTimeout, 100 * time.Millisecond}, {"node_timeout", c.NodeTimeout, time.Second},
		{"tombstone", c.Tombstone, time.Minute}} {
		if d.d < d.min {
			v.fail("cluster."+d.field, "%s is below the minimum of %s", d.d, d.min)
		}
	}
}
