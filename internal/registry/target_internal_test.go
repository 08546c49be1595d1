package registry

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestPatchedTargetsMatchRebuild applies random context changes (the
// ENABLE-APP, DISABLE-APP, STOP-APP and REMOVE-APP of MCMP) to nodes that
// share paths, interleaved with new nodes, removals and route changes, and
// checks after each update that the target table, patched from the
// previous snapshot's when it was built, equals one built from scratch.
func TestPatchedTargetsMatchRebuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	s := NewStore()
	_, err := s.Update(func(d *Draft) error {
		return d.PutBalancer(&Balancer{Name: "a", StickySessionSep: '.', Cluster: &ClusterSettings{}})
	})
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{"/app", "/shop", "/app/admin", "/"}
	patched := 0
	for step := range 800 {
		prev := s.Load()
		if rng.IntN(3) > 0 {
			prev.Match("/app/x", "", false) // a request builds the table
		}
		_, err := s.Update(func(d *Draft) error {
			route := "n" + strconv.Itoa(rng.IntN(12))
			old := d.Node(route)
			switch op := rng.IntN(20); {
			case old == nil || op == 0:
				n := &Node{JVMRoute: route, Balancer: "a", Type: "http", Host: "10.0.0." + route[1:], Port: "80", ID: d.FreeNodeID()}
				if old != nil {
					n.ID = old.ID
				}
				n.Hosts = []HostAlias{{ID: d.FreeHostID(0), Vhost: 1, Alias: "h" + route}}
				return d.PutNode(n)
			case op == 1:
				return d.DeleteNode(route)
			case op == 2:
				d.SetRoutes([]*Route{{Path: paths[rng.IntN(len(paths))], Pass: rng.IntN(2) == 0, BalancerName: "a"}})
				return nil
			default:
				n := old.Clone()
				path := paths[rng.IntN(len(paths))]
				i := -1
				for j, c := range n.Contexts {
					if c.Path == path {
						i = j
					}
				}
				switch {
				case i < 0:
					n.Contexts = append(n.Contexts, NewContext(d.FreeContextID(0), 1, path, ContextEnabled))
				case rng.IntN(3) == 0:
					n.Contexts = append(n.Contexts[:i], n.Contexts[i+1:]...)
				default:
					c := *n.Contexts[i]
					c.State = ContextState(1 + rng.IntN(3))
					n.Contexts[i] = &c
				}
				if rng.IntN(10) == 0 {
					n.Removed = !n.Removed
				}
				return d.PutNode(n)
			}
		})
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		snap := s.Load()
		if snap.targetBase != nil {
			patched++
		}
		got, want := snap.targets(), snap.buildTargets()
		if len(got) != len(want) {
			t.Fatalf("step %d: %d targets, want %d", step, len(got), len(want))
		}
		for p, w := range want {
			g := got[p]
			if g == nil || g.Path != w.Path || g.Route != w.Route || len(g.Rows) != len(w.Rows) {
				t.Fatalf("step %d: target %s = %+v, want %+v", step, p, g, w)
			}
			for i := range w.Rows {
				gr, wr := g.Rows[i], w.Rows[i]
				if gr.Balancer != wr.Balancer || gr.Member != wr.Member || gr.Node != wr.Node || gr.Context != wr.Context ||
					len(gr.Aliases) != len(wr.Aliases) {
					t.Fatalf("step %d: %s row %d = %+v, want %+v", step, p, i, gr, wr)
				}
			}
		}
	}
	if patched < 100 {
		t.Errorf("only %d of 800 tables were patched; the test does not exercise the patching", patched)
	}
}
