package registry_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

func TestAwaitIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := registry.NewContext(0, 1, "/app", registry.ContextEnabled)
		if n := c.AwaitIdle(t.Context()); n != 0 {
			t.Fatalf("idle context: AwaitIdle = %d, want 0 at once", n)
		}
		c.Requests.Add(2)
		go func() {
			time.Sleep(time.Millisecond)
			c.EndRequest() // 1 left: no wake-up that counts
			time.Sleep(time.Millisecond)
			c.EndRequest()
		}()
		start := time.Now()
		if n := c.AwaitIdle(t.Context()); n != 0 || time.Since(start) != 2*time.Millisecond {
			t.Errorf("AwaitIdle = %d after %v, want 0 after 2ms", n, time.Since(start))
		}
		c.Requests.Add(1)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if n := c.AwaitIdle(ctx); n != 1 || time.Since(start) != 2*time.Millisecond+time.Second {
			t.Errorf("AwaitIdle with a request that stays = %d, want 1 when ctx ends", n)
		}
		// A copy of the row (a state change) shares the counter and the signal.
		cp := *c
		go func() {
			time.Sleep(time.Millisecond)
			cp.EndRequest()
		}()
		if n := c.AwaitIdle(t.Context()); n != 0 {
			t.Errorf("AwaitIdle on the original after the copy ended the request = %d", n)
		}
	})
}

func BenchmarkEndRequest(b *testing.B) {
	c := registry.NewContext(0, 1, "/app", registry.ContextEnabled)
	for b.Loop() {
		c.Requests.Add(1)
		c.EndRequest()
	}
}

func TestSameBalancers(t *testing.T) {
	s := registry.NewStore()
	first := put(t, s, balancer("web", member("http://a:1", 1)))
	_, err := s.Update(func(d *registry.Draft) error {
		return d.PutBalancer(&registry.Balancer{Name: "mycluster", StickySessionSep: '.', LBMethod: registry.Cluster, Cluster: &registry.ClusterSettings{}})
	})
	if err != nil {
		t.Fatal(err)
	}
	withCluster := s.Load()
	if withCluster.SameBalancers(first) {
		t.Error("a balancer was added, SameBalancers says no change")
	}
	node := &registry.Node{ID: 0, JVMRoute: "n1", Balancer: "mycluster", Type: "ajp", Host: "10.0.0.5", Port: "8009"}
	snap, _ := s.Update(func(d *registry.Draft) error { return d.PutNode(node) })
	if snap.SameBalancers(withCluster) {
		t.Error("a node joined (a new member), SameBalancers says no change")
	}
	// A context change keeps the member and so every balancer.
	n := snap.Node("n1").Clone()
	n.Contexts = append(n.Contexts, registry.NewContext(0, 1, "/app", registry.ContextEnabled))
	next, _ := s.Update(func(d *registry.Draft) error { return d.PutNode(n) })
	if !next.SameBalancers(snap) || next.Balancer("mycluster").ByRoute("n1") != snap.Balancer("mycluster").ByRoute("n1") {
		t.Error("a context change replaced the node's member or balancer")
	}
}
