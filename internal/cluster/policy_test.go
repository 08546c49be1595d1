package cluster_test

import (
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/cluster"
	"github.com/barkeep-lb/barkeep/internal/mcmpserver"
	"github.com/barkeep-lb/barkeep/internal/testnet"
)

// The sync policies, one test each (Karaf Cellar's table): voters A and C
// take part in group g with the policy cluster, and A holds a1 (ENABLED)
// and x (ENABLED) before B joins; B, a route-only balancer, joins g with
// the policy under test holding b1 and x (DISABLED) of its own. After the
// join each side registers one more node.
type policyWant struct {
	bGetsA     bool   // B routes a1 after the join (pull)
	aGetsB     bool   // A routes b1 after the join (push)
	xOnA, xOnB string // state of x on each side after the join
	laterToA   bool   // B's later registration reaches A
	laterToB   bool   // A's later registration reaches B
}

func testPolicy(t *testing.T, p cluster.Policy, want policyWant) {
	t.Parallel()
	addrs := testnet.FixedAddrs(t, 3) // a, c: voters from the start; b: route only, joins later
	base := cluster.Options{Name: "test", Replicas: 1, Log: logger()}
	voter := func(name, listen string, peers ...string) *bnode {
		o := base
		o.Node, o.Listen, o.Voter, o.Peers, o.DataDir = name, listen, true, peers, t.TempDir()
		o.Groups = []cluster.Group{{Name: "g", Policy: cluster.PolicyCluster}}
		return startNode(t, o, nil)
	}
	a, c := voter("a", addrs[0], addrs[2]), voter("c", addrs[2], addrs[0])
	waitReady(t, a)
	waitReady(t, c)
	register(t, a.manager, "a1", "20001", "/a")
	register(t, a.manager, "x", "20009", "/x")

	ob := base
	ob.Node, ob.Listen, ob.Voter, ob.Peers, ob.DataDir = "b", addrs[1], false, []string{addrs[0], addrs[2]}, t.TempDir()
	ob.Groups = []cluster.Group{{Name: "g", Policy: p}}
	b := startNode(t, ob, func(t *testing.T, _ *mcmpserver.Server, manager string) {
		register(t, manager, "b1", "20002", "/b")
		register(t, manager, "x", "20009", "/x")
		mustSend(t, manager, "DISABLE-APP", "JVMRoute=x&Alias=localhost&Context=/x")
	})
	waitReady(t, b)

	check := func(n *bnode, route, path string, want bool) {
		t.Helper()
		has := func() bool { return contextState(n, route, path) != "" }
		if want {
			eventually(t, n, 10*time.Second, route+" routed", has)
		} else {
			never(t, n, 1500*time.Millisecond, route+" routed", has)
		}
	}
	check(b, "a1", "/a", want.bGetsA)
	check(a, "b1", "/b", want.aGetsB)
	eventually(t, a, 5*time.Second, "x "+want.xOnA, func() bool { return contextState(a, "x", "/x") == want.xOnA })
	eventually(t, b, 5*time.Second, "x "+want.xOnB, func() bool { return contextState(b, "x", "/x") == want.xOnB })

	// After the join. B's manager answers 200 whatever the policy: a
	// balancer that does not push has nothing to commit.
	register(t, b.manager, "b2", "20003", "/b2")
	register(t, a.manager, "a2", "20004", "/a2")
	check(a, "b2", "/b2", want.laterToA)
	check(b, "a2", "/a2", want.laterToB)
}

func TestPolicyCluster(t *testing.T) {
	testPolicy(t, cluster.PolicyCluster, policyWant{bGetsA: true, aGetsB: true, xOnA: "ENABLED", xOnB: "ENABLED",
		laterToA: true, laterToB: true})
}

func TestPolicyNode(t *testing.T) {
	testPolicy(t, cluster.PolicyNode, policyWant{bGetsA: true, aGetsB: true, xOnA: "DISABLED", xOnB: "DISABLED",
		laterToA: true, laterToB: true})
}

func TestPolicyClusterOnly(t *testing.T) {
	testPolicy(t, cluster.PolicyClusterOnly, policyWant{bGetsA: true, aGetsB: false, xOnA: "ENABLED", xOnB: "ENABLED",
		laterToA: false, laterToB: true})
}

func TestPolicyNodeOnly(t *testing.T) {
	testPolicy(t, cluster.PolicyNodeOnly, policyWant{bGetsA: false, aGetsB: true, xOnA: "DISABLED", xOnB: "DISABLED",
		laterToA: true, laterToB: false})
}

func TestPolicyDisabled(t *testing.T) {
	testPolicy(t, cluster.PolicyDisabled, policyWant{bGetsA: false, aGetsB: false, xOnA: "ENABLED", xOnB: "DISABLED",
		laterToA: false, laterToB: false})
}
