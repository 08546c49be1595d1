package registry

import (
	"cmp"
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestSameMemberCoversMemberFields guards the shortcut PutNode takes: for
// every field of Node, a change that alters Node.Member must make
// sameMember false, or a node edit would leave a stale member behind.
func TestSameMemberCoversMemberFields(t *testing.T) {
	base := Node{ID: 1, JVMRoute: "n1", Balancer: "b", Domain: "d", Type: "ajp", Host: "10.0.0.5", Port: "8009",
		FlushWait: time.Millisecond, Ping: time.Second, Smax: 3, TTL: time.Minute, Timeout: time.Second, Stats: new(Stats)}
	memberOf := func(n *Node) Member {
		m := *n.Member()
		m.Check = nil // a fresh pointer each time; its content follows Type and Ping, compared below
		return m
	}
	rt := reflect.TypeFor[Node]()
	for i := range rt.NumField() {
		f := rt.Field(i)
		changed := base
		v := reflect.ValueOf(&changed).Elem().Field(i)
		switch v.Kind() {
		case reflect.String:
			v.SetString(v.String() + "x")
		case reflect.Int, reflect.Int64:
			v.SetInt(v.Int() + 7)
		case reflect.Uint8:
			v.SetUint(v.Uint() + 1)
		case reflect.Bool:
			v.SetBool(!v.Bool())
		case reflect.Pointer:
			v.Set(reflect.New(v.Type().Elem()))
		case reflect.Slice, reflect.Struct:
			continue // Hosts, Contexts, RemovedAt: not member fields
		default:
			t.Fatalf("field %s of kind %s: teach this test to change it", f.Name, v.Kind())
		}
		a, b := memberOf(&base), memberOf(&changed)
		memberDiffers := !reflect.DeepEqual(a, b) || base.Member().Check.Method != changed.Member().Check.Method ||
			base.Member().Check.Timeout != changed.Member().Check.Timeout
		if memberDiffers && base.sameMember(&changed) {
			t.Errorf("changing Node.%s changes its member, but sameMember reports no change", f.Name)
		}
	}
}

// TestIncrementalUpdatesMatchRebuild applies random node and balancer
// changes, one update each, and checks after each that what the snapshot
// patched and derived incrementally equals what a rebuild from scratch
// gives.
func TestIncrementalUpdatesMatchRebuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := NewStore()
	_, err := s.Update(func(d *Draft) error {
		for _, name := range []string{"a", "b"} {
			if err := d.PutBalancer(&Balancer{Name: name, StickySessionSep: '.', Cluster: &ClusterSettings{}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for step := range 600 {
		_, err := s.Update(func(d *Draft) error {
			for range 1 + rng.IntN(3) {
				route := "n" + strconv.Itoa(rng.IntN(40))
				old := d.Node(route)
				switch op := rng.IntN(10); {
				case op < 2 && old != nil:
					if err := d.DeleteNode(route); err != nil {
						return err
					}
				case op < 3:
					// Rewrite a balancer's settings, same members.
					b := d.Balancer([]string{"a", "b"}[rng.IntN(2)]).Clone()
					b.MaxAttempts = rng.IntN(3)
					if err := d.PutBalancer(b); err != nil {
						return err
					}
				default:
					n := randomNode(rng, route, old, d)
					if err := d.PutNode(n); err != nil && !errors.Is(err, ErrInvalid) {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		checkSnapshot(t, step, s.Load())
	}
}

// randomNode returns a node for route: a new one, or old edited (contexts,
// load-relevant fields, removal, another balancer or address).
func randomNode(rng *rand.Rand, route string, old *Node, d *Draft) *Node {
	var n *Node
	if old == nil || rng.IntN(4) == 0 {
		n = &Node{JVMRoute: route, Balancer: "a", Type: "http", Port: "80", ID: d.FreeNodeID()}
		if old != nil {
			n.ID = old.ID
		}
	} else {
		n = old.Clone()
	}
	switch rng.IntN(6) {
	case 0:
		n.Balancer = []string{"a", "b"}[rng.IntN(2)]
	case 1:
		n.Host = "10.0.0." + strconv.Itoa(rng.IntN(5)) // shared hosts, distinct ports below
		n.Port = strconv.Itoa(8000 + rng.IntN(1000))
	case 2:
		n.Removed = !n.Removed
	case 3:
		n.Ping = time.Duration(rng.IntN(3)) * time.Second
	default:
		id := d.FreeContextID(0)
		n.Contexts = append(n.Contexts, &Context{ID: id, Vhost: 1, Path: "/c" + strconv.Itoa(id), State: ContextEnabled})
	}
	if n.Host == "" {
		n.Host = "10.1.0." + route[1:]
	}
	return n
}

func checkSnapshot(t *testing.T, step int, s *Snapshot) {
	t.Helper()
	var want []*Node
	s.nodeByRoute.All(func(_ string, n *Node) bool { want = append(want, n); return true })
	slices.SortFunc(want, func(a, b *Node) int { return cmp.Compare(a.ID, b.ID) })
	if !slices.Equal(s.Nodes(), want) {
		t.Fatalf("step %d: Nodes() is not the nodes sorted by ID", step)
	}
	var ids rowIDs
	for _, n := range want {
		if err := ids.replace(nil, n); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if got, _ := s.nodesAt.Get(nodeAddr(n.Host, n.Port)); !slices.Contains(got, n.JVMRoute) {
			t.Fatalf("step %d: node %s missing at its address", step, n.JVMRoute)
		}
		if b := s.Balancer(n.Balancer); n.Removed != (b.ByRoute(n.JVMRoute) == nil) {
			t.Fatalf("step %d: node %s (removed %v) and its member disagree", step, n.JVMRoute, n.Removed)
		}
	}
	if ids.nodes.n != s.ids.nodes.n || ids.contexts.n != s.ids.contexts.n || !slices.Equal(trim(ids.contexts.words), trim(s.ids.contexts.words)) {
		t.Fatalf("step %d: row ids in use differ from the nodes' rows", step)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for name := range s.byName {
			if !yield(name) {
				return
			}
		}
	})
	for i, b := range s.Balancers() {
		if b.Name != names[i] {
			t.Fatalf("step %d: Balancers() not sorted by name", step)
		}
		fresh := *b
		fresh.derived = false
		if err := derive(&fresh, nil); err != nil {
			t.Fatalf("step %d: balancer %s: %v", step, b.Name, err)
		}
		if !reflect.DeepEqual(fresh.tiers, b.tiers) || fresh.byRoute.Len() != b.byRoute.Len() || fresh.byName.Len() != b.byName.Len() {
			t.Fatalf("step %d: balancer %s: derived data differs from a rebuild", step, b.Name)
		}
		for _, m := range b.Members {
			if b.Member(m.Name) != m || b.ByRoute(m.Route) != m {
				t.Fatalf("step %d: balancer %s: member %s not indexed", step, b.Name, m.Name)
			}
		}
		if !sameSet(fresh.hosts, b.hosts) {
			t.Fatalf("step %d: balancer %s: hosts %v, want %v", step, b.Name, b.hosts, fresh.hosts)
		}
	}
}

func trim(w []uint64) []uint64 {
	for len(w) > 0 && w[len(w)-1] == 0 {
		w = w[:len(w)-1]
	}
	return w
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

func TestPatch(t *testing.T) {
	byValue := func(a, b int) int { return cmp.Compare(a, b) }
	for _, tt := range []struct {
		base, drop, add, want []int
	}{
		{nil, nil, []int{3, 1}, []int{1, 3}},
		{[]int{1, 2, 3}, []int{2}, []int{2}, []int{1, 2, 3}},
		{[]int{1, 2, 3}, []int{1, 3}, nil, []int{2}},
		{[]int{1, 5, 9}, []int{5}, []int{0, 6, 10}, []int{0, 1, 6, 9, 10}},
		{[]int{1, 5, 9}, []int{7}, []int{4}, []int{1, 4, 5, 9}},
	} {
		if got := patch(tt.base, tt.drop, tt.add, byValue); !slices.Equal(got, tt.want) {
			t.Errorf("patch(%v, -%v, +%v) = %v, want %v", tt.base, tt.drop, tt.add, got, tt.want)
		}
	}
}

func TestIDSetNextFree(t *testing.T) {
	var s idSet
	for _, id := range []int{0, 1, 2, 64, 65, 130} {
		s.add(id)
	}
	for _, tt := range []struct{ from, want int }{{0, 3}, {3, 3}, {64, 66}, {128, 128}, {130, 131}, {500, 500}} {
		if got := s.nextFree(tt.from); got != tt.want {
			t.Errorf("nextFree(%d) = %d, want %d", tt.from, got, tt.want)
		}
	}
	s.remove(1)
	if got := s.nextFree(0); got != 1 || s.n != 5 {
		t.Errorf("after remove(1): nextFree(0) = %d, n = %d; want 1, 5", got, s.n)
	}
}
