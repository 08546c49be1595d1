package balancer_test

import (
	"errors"
	"math"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/balancer"
	"github.com/barkeep-lb/barkeep/internal/registry"
)

var now = time.Unix(1_000_000, 0)

type spec struct {
	name   string
	lf     int
	status registry.Status
	lbset  int
}

// group publishes one balancer with the given members and returns it.
func group(t testing.TB, method registry.LBMethod, specs ...spec) *registry.Balancer {
	t.Helper()
	b := &registry.Balancer{Name: "web", LBMethod: method, StickySessionSep: '.', MaxAttempts: -1}
	for _, s := range specs {
		u, _ := url.Parse("http://" + s.name + ":80")
		b.Members = append(b.Members, &registry.Member{
			Name: u.String(), URL: u, Route: s.name, LoadFactor: s.lf, Status: s.status,
			LBSet: s.lbset, StatusSince: now, Retry: time.Minute,
		})
	}
	store := registry.NewStore()
	snap, err := store.Update(func(d *registry.Draft) error { return d.PutBalancer(b) })
	if err != nil {
		t.Fatal(err)
	}
	return snap.Balancer("web")
}

// shares runs n selections and returns how many each route got.
func shares(t testing.TB, b *registry.Balancer, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for i := range n {
		m, err := balancer.Select(b, balancer.Pick{Seq: b.Stats.Seq.Add(1) - 1, Rand: uint64(i) * 0x9e3779b97f4a7c15, Now: now.UnixNano()})
		if err != nil {
			t.Fatalf("select %d: %v", i, err)
		}
		got[m.Route]++
	}
	return got
}

func within(t *testing.T, got map[string]int, n int, want map[string]float64, tolerance float64) {
	t.Helper()
	for route, share := range want {
		if g := float64(got[route]) / float64(n); math.Abs(g-share) > tolerance {
			t.Errorf("%s got %.4f of the requests, want %.4f ± %.2f (counts %v)", route, g, share, tolerance, got)
		}
	}
	for route := range got {
		if _, ok := want[route]; !ok {
			t.Errorf("%s got %d requests, want none", route, got[route])
		}
	}
}

func TestByRequestsLoadFactors(t *testing.T) {
	b := group(t, registry.ByRequests, spec{name: "a", lf: 1}, spec{name: "b", lf: 1}, spec{name: "c", lf: 1}, spec{name: "d", lf: 2})
	got := shares(t, b, 10_000)
	within(t, got, 10_000, map[string]float64{"a": 0.2, "b": 0.2, "c": 0.2, "d": 0.4}, 0.01)
}

func TestByRequestsDisabledShareSpreads(t *testing.T) {
	for _, tt := range []struct {
		name string
		how  func(b *registry.Balancer)
		spec spec
	}{
		{"disabled", nil, spec{name: "a", lf: 1, status: registry.StatusDisabled}},
		{"stopped", nil, spec{name: "a", lf: 1, status: registry.StatusStopped}},
		{"in error", func(b *registry.Balancer) { b.Members[0].Stats.ErrorTime.Store(now.UnixNano()) }, spec{name: "a", lf: 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := group(t, registry.ByRequests, tt.spec, spec{name: "b", lf: 1}, spec{name: "c", lf: 1}, spec{name: "d", lf: 2})
			if tt.how != nil {
				tt.how(b)
			}
			got := shares(t, b, 10_000)
			within(t, got, 10_000, map[string]float64{"b": 0.25, "c": 0.25, "d": 0.5}, 0.01)
		})
	}
}

func TestDisabledIsRetriedAfterRetry(t *testing.T) {
	b := group(t, registry.ByRequests, spec{name: "a", lf: 1, status: registry.StatusDisabled}, spec{name: "b", lf: 1})
	p := balancer.Pick{Now: now.Add(30 * time.Second).UnixNano()}
	for i := range 10 {
		p.Seq = uint64(i)
		if m, _ := balancer.Select(b, p); m.Route == "a" {
			t.Fatal("disabled member chosen 30s into its 60s retry")
		}
	}
	p.Now = now.Add(time.Minute).UnixNano()
	seen := false
	for i := range 10 {
		p.Seq = uint64(i)
		if m, _ := balancer.Select(b, p); m.Route == "a" {
			seen = true
		}
	}
	if !seen {
		t.Error("disabled member not tried again after retry")
	}
}

func TestHotStandbyOnlyWhenOthersUnusable(t *testing.T) {
	b := group(t, registry.ByRequests, spec{name: "a", lf: 1}, spec{name: "b", lf: 1}, spec{name: "h", lf: 1, status: registry.StatusHotStandby})
	within(t, shares(t, b, 1000), 1000, map[string]float64{"a": 0.5, "b": 0.5}, 0.01)
	for _, m := range b.Members[:2] {
		m.Stats.ErrorTime.Store(now.UnixNano())
	}
	within(t, shares(t, b, 100), 100, map[string]float64{"h": 1}, 0)
}

func TestLBSetOrder(t *testing.T) {
	b := group(t, registry.ByRequests, spec{name: "a", lf: 1, lbset: 1}, spec{name: "b", lf: 1})
	within(t, shares(t, b, 100), 100, map[string]float64{"b": 1}, 0)
	b.Members[1].Stats.ErrorTime.Store(now.UnixNano())
	within(t, shares(t, b, 100), 100, map[string]float64{"a": 1}, 0)
}

func TestDrainGetsNoNewRequests(t *testing.T) {
	b := group(t, registry.ByRequests, spec{name: "a", lf: 1}, spec{name: "n", lf: 5, status: registry.StatusDrain})
	within(t, shares(t, b, 100), 100, map[string]float64{"a": 1}, 0)
	b.Members[0].Stats.ErrorTime.Store(now.UnixNano())
	if m, err := balancer.Select(b, balancer.Pick{Now: now.UnixNano()}); !errors.Is(err, balancer.ErrNoMember) {
		t.Errorf("only a draining member left: got %v, %v; want ErrNoMember", m, err)
	}
}

func TestTriedMembersAreSkipped(t *testing.T) {
	b := group(t, registry.ByRequests, spec{name: "a", lf: 1}, spec{name: "b", lf: 1})
	p := balancer.Pick{Now: now.UnixNano(), Tried: []*registry.Member{b.Members[0]}}
	for i := range 20 {
		p.Seq = uint64(i)
		if m, _ := balancer.Select(b, p); m.Route != "b" {
			t.Fatalf("seq %d: chose tried member %s", i, m.Route)
		}
	}
	p.Tried = b.Members
	if _, err := balancer.Select(b, p); !errors.Is(err, balancer.ErrNoMember) {
		t.Errorf("all tried: err = %v, want ErrNoMember", err)
	}
}

func TestByTrafficPrefersLightMembers(t *testing.T) {
	b := group(t, registry.ByTraffic, spec{name: "a", lf: 1}, spec{name: "b", lf: 1}, spec{name: "c", lf: 2})
	// a has moved a lot of bytes; c moved as much as b but has twice the factor.
	b.Members[0].Stats.Read.Store(10 << 20)
	b.Members[1].Stats.Transferred.Store(1 << 20)
	b.Members[2].Stats.Read.Store(1 << 20)
	got := map[string]int{}
	for i := range 300 {
		m, _ := balancer.Select(b, balancer.Pick{Seq: uint64(i), Now: now.UnixNano()})
		got[m.Route]++
		m.Stats.Read.Add(64 << 10) // each request moves 64 KiB
	}
	if got["a"] >= got["b"] || got["b"] >= got["c"] {
		t.Errorf("bytraffic shares %v: want a < b < c", got)
	}
	// Per loadfactor the traffic evens out: c moves about twice b's bytes.
	bt := b.Members[1].Stats.Read.Load() + b.Members[1].Stats.Transferred.Load()
	ct := b.Members[2].Stats.Read.Load()
	if r := float64(ct) / float64(bt); r < 1.9 || r > 2.1 {
		t.Errorf("traffic c/b = %.2f, want about 2 (loadfactor 2 vs 1)", r)
	}
}

func TestByBusynessPrefersIdleMembers(t *testing.T) {
	b := group(t, registry.ByBusyness, spec{name: "a", lf: 1}, spec{name: "b", lf: 1}, spec{name: "c", lf: 2})
	// a holds 3 slow requests, b 1, c 2 (one per loadfactor unit, so equal to b).
	b.Members[0].Stats.Busy.Store(3)
	b.Members[1].Stats.Busy.Store(1)
	b.Members[2].Stats.Busy.Store(2)
	got := map[string]int{}
	for i := range 300 {
		m, _ := balancer.Select(b, balancer.Pick{Seq: uint64(i), Now: now.UnixNano()})
		got[m.Route]++
	}
	if got["a"] != 0 {
		t.Errorf("busiest member a got %d new requests, want 0", got["a"])
	}
	// b and c tie on busy/loadfactor: byrequests breaks the tie 1:2.
	if r := float64(got["c"]) / float64(got["b"]); r < 1.9 || r > 2.1 {
		t.Errorf("tie break c/b = %.2f (%v), want 2 (byrequests by loadfactor)", r, got)
	}
	// Requests in flight steer new ones away.
	b.Members[1].Stats.Busy.Store(0)
	b.Members[0].Stats.Busy.Store(0)
	b.Members[2].Stats.Busy.Store(50)
	for i := range 50 {
		m, _ := balancer.Select(b, balancer.Pick{Seq: uint64(i), Now: now.UnixNano()})
		if m.Route == "c" {
			t.Fatalf("request %d went to c holding 50 requests while a and b are idle", i)
		}
	}
}

func TestRandomFollowsLoadFactors(t *testing.T) {
	b := group(t, registry.Random, spec{name: "a", lf: 1}, spec{name: "b", lf: 3})
	within(t, shares(t, b, 20_000), 20_000, map[string]float64{"a": 0.25, "b": 0.75}, 0.02)
}

func TestSelectDoesNotAllocate(t *testing.T) {
	for _, method := range []registry.LBMethod{registry.ByRequests, registry.ByTraffic, registry.ByBusyness, registry.Random} {
		b := group(t, method, spec{name: "a", lf: 1}, spec{name: "b", lf: 2}, spec{name: "c", lf: 3})
		b.Members[0].Stats.ErrorTime.Store(now.UnixNano())
		var seq uint64
		allocs := testing.AllocsPerRun(1000, func() {
			seq++
			if _, err := balancer.Select(b, balancer.Pick{Seq: seq, Rand: seq * 7, Now: now.UnixNano()}); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocs per Select, want 0", method, allocs)
		}
	}
}

func BenchmarkSelect(b *testing.B) {
	for _, method := range []registry.LBMethod{registry.ByRequests, registry.ByTraffic, registry.ByBusyness, registry.Random} {
		for _, n := range []int{2, 1000} {
			var specs []spec
			for i := range n {
				specs = append(specs, spec{name: "m" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676)), lf: 1})
			}
			g := group(b, method, specs...)
			b.Run(method.String()+"/"+itoa(n), func(b *testing.B) {
				b.ReportAllocs()
				p := balancer.Pick{Now: now.UnixNano()}
				for b.Loop() {
					p.Seq = g.Stats.Seq.Add(1)
					p.Rand = p.Seq * 0x9e3779b97f4a7c15
					if _, err := balancer.Select(g, p); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func itoa(n int) string {
	if n == 2 {
		return "2"
	}
	return "1000"
}

func TestSlowStartRampsTheShareUp(t *testing.T) {
	for _, method := range []registry.LBMethod{registry.ByRequests, registry.Random, registry.ByTraffic, registry.ByBusyness} {
		t.Run(method.String(), func(t *testing.T) {
			b := group(t, method, spec{name: "back", lf: 1}, spec{name: "steady", lf: 1})
			back := b.Members[0]
			back.SlowStart = 30 * time.Second
			back.Stats.RecoveredAt.Store(now.UnixNano())
			var prev float64 = -1
			var shares []float64
			for _, at := range []time.Duration{0, 6 * time.Second, 12 * time.Second, 18 * time.Second, 24 * time.Second, 30 * time.Second} {
				got := 0
				const n = 10_000
				for i := range n {
					p := balancer.Pick{Seq: b.Stats.Seq.Add(1), Rand: uint64(i) * 0x9e3779b97f4a7c15, Now: now.Add(at).UnixNano()}
					m, err := balancer.Select(b, p)
					if err != nil {
						t.Fatal(err)
					}
					if m == back {
						got++
					}
					if method == registry.ByTraffic {
						m.Stats.Read.Add(1000)
					}
				}
				share := float64(got) / n
				shares = append(shares, share)
				if share < prev-0.02 {
					t.Errorf("share fell from %.3f to %.3f at %s into slow start", prev, share, at)
				}
				prev = share
			}
			if shares[0] > 0.05 || shares[2] < 0.15 || shares[2] > 0.55 {
				t.Errorf("shares over a 30s slow start: %.3f, want near 0, then rising", shares)
			}
			// bytraffic balances bytes since the start, so after slow start
			// the member catches up; the others settle at its share.
			if method != registry.ByTraffic && (shares[5] < 0.45 || shares[5] > 0.55) {
				t.Errorf("share once slow start is over: %.3f, want 0.5", shares[5])
			}
		})
	}
}

func TestMaxLeavesFullMembersOut(t *testing.T) {
	b := group(t, registry.ByRequests, spec{name: "a", lf: 1}, spec{name: "b", lf: 1})
	for _, m := range b.Members {
		m.Max = 2
	}
	a := b.Members[0]
	if got := []bool{a.Acquire(), a.Acquire(), a.Acquire()}; !slices.Equal(got, []bool{true, true, false}) {
		t.Fatalf("three Acquire calls with max 2 = %v, want [true true false]", got)
	}
	for i := range 10 {
		if m, _ := balancer.Select(b, balancer.Pick{Seq: uint64(i), Now: now.UnixNano()}); m.Route != "b" {
			t.Fatalf("pick %d went to full member a", i)
		}
	}
	b.Members[1].Stats.Busy.Store(2)
	if _, err := balancer.Select(b, balancer.Pick{Now: now.UnixNano()}); !errors.Is(err, balancer.ErrNoMember) {
		t.Errorf("all members full: %v, want ErrNoMember", err)
	}
}
