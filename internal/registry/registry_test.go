package registry_test

import (
	"errors"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

func member(name string, lf int) *registry.Member {
	u, _ := url.Parse(name)
	return &registry.Member{Name: name, URL: u, LoadFactor: lf, Route: u.Port(), Retry: time.Minute}
}

func balancer(name string, members ...*registry.Member) *registry.Balancer {
	return &registry.Balancer{Name: name, StickySessionSep: '.', MaxAttempts: -1, Members: members}
}

func put(t *testing.T, s *registry.Store, b *registry.Balancer, routes ...*registry.Route) *registry.Snapshot {
	t.Helper()
	snap, err := s.Update(func(d *registry.Draft) error {
		if err := d.PutBalancer(b); err != nil {
			return err
		}
		if routes != nil {
			d.SetRoutes(routes)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func TestScheduleIsHttpdByRequestsSequence(t *testing.T) {
	// httpd's byrequests with lbfactors a=1 b=1 c=1 d=2: every pick adds the
	// factor to each lbstatus, takes the largest (first on ties) and
	// subtracts the total (5).
	s := registry.NewStore()
	snap := put(t, s, balancer("web",
		member("http://a:1", 1), member("http://b:2", 1), member("http://c:3", 1), member("http://d:4", 2)))
	tiers := snap.Balancer("web").Tiers()
	if len(tiers) != 1 {
		t.Fatalf("tiers = %d, want 1", len(tiers))
	}
	var got string
	for _, m := range tiers[0].Schedule {
		got += m.URL.Hostname()
	}
	if want := "dabcd"; got != want {
		t.Errorf("schedule = %s, want %s", got, want)
	}
}

func TestScheduleSharesForLargeBalancers(t *testing.T) {
	// Enough members and distinct loadfactors to take the heap-built path.
	var ms []*registry.Member
	for i := range 1000 {
		ms = append(ms, member("http://m:"+strconv.Itoa(1000+i), 1+i%100))
	}
	snap := put(t, registry.NewStore(), balancer("big", ms...))
	count := map[*registry.Member]int{}
	sched := snap.Balancer("big").Tiers()[0].Schedule
	for _, m := range sched {
		count[m]++
	}
	for _, m := range ms {
		if count[m] != m.LoadFactor {
			t.Fatalf("member %s with loadfactor %d appears %d times in one cycle", m.Name, m.LoadFactor, count[m])
		}
	}
}

func TestTiers(t *testing.T) {
	a, b, c, d, e := member("http://a:1", 1), member("http://b:2", 1), member("http://c:3", 1), member("http://d:4", 1), member("http://e:5", 1)
	b.Status = registry.StatusHotStandby
	c.Status = registry.StatusDrain
	d.LBSet = 1
	e.Status = registry.StatusStopped
	snap := put(t, registry.NewStore(), balancer("web", a, b, c, d, e))
	var got []string
	for _, tier := range snap.Balancer("web").Tiers() {
		s := ""
		for _, m := range tier.Members {
			s += m.URL.Hostname()
		}
		got = append(got, s)
	}
	want := []string{"a", "b", "d"} // set 0, set 0 standby, set 1; drain and stopped in none
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("tiers = %v, want %v", got, want)
	}
}

func TestMatchRoute(t *testing.T) {
	s := registry.NewStore()
	routes := []*registry.Route{
		{Path: "/", Pass: true, BalancerName: "web", TargetPath: "/"},
		{Path: "/bar", Pass: true, BalancerName: "web", TargetPath: "/bar"},
		{Path: "/bar/static", Pass: false},
	}
	snap := put(t, s, balancer("web", member("http://a:1", 1)), routes...)
	tests := []struct{ path, want string }{
		{"/", "/"},
		{"/x", "/"},
		{"/bar", "/bar"},
		{"/bar/", "/bar"},
		{"/bar/pint", "/bar"},
		{"/barn", "/"},
		{"/bar/static", "/bar/static"},
		{"/bar/static/logo.png", "/bar/static"},
		{"/bar/staticx", "/bar"},
	}
	for _, tt := range tests {
		tg := snap.Match(tt.path, "", false)
		if tg == nil || tg.Path != tt.want || tg.Route == nil || tg.Rows != nil {
			t.Errorf("Match(%q) = %+v, want the route %s", tt.path, tg, tt.want)
		}
	}
	if tg := snap.Match("/bar/static/x", "", false); tg.Pass() || tg.Route.Balancer() != nil {
		t.Errorf("exclusion route passes: %+v", tg)
	}
	if tg := snap.Match("/bar", "", false); tg.Route.Balancer() != snap.Balancer("web") {
		t.Errorf("route balancer not resolved")
	}
	if allocs := testing.AllocsPerRun(100, func() { snap.Match("/bar/a/b/c/d", "", false) }); allocs != 0 {
		t.Errorf("Match allocates %v times", allocs)
	}
}

func TestMatchRouteNoRoot(t *testing.T) {
	snap := put(t, registry.NewStore(), balancer("web"), &registry.Route{Path: "/bar", Pass: true, BalancerName: "web"})
	if tg := snap.Match("/other", "", false); tg != nil {
		t.Errorf("Match(/other) = %v, want nil", tg.Path)
	}
}

func TestUpdateIsAllOrNothing(t *testing.T) {
	s := registry.NewStore()
	put(t, s, balancer("web", member("http://a:1", 1)))
	before := s.Load()
	_, err := s.Update(func(d *registry.Draft) error {
		if err := d.PutBalancer(balancer("other", member("http://b:1", 1))); err != nil {
			return err
		}
		return d.PutBalancer(balancer("bad", member("http://c:1", 0)))
	})
	if !errors.Is(err, registry.ErrInvalid) {
		t.Fatalf("Update with loadfactor 0: err = %v, want ErrInvalid", err)
	}
	if s.Load() != before || s.Load().Balancer("other") != nil {
		t.Fatal("a failed update published something")
	}
	// A route naming an unknown balancer fails the whole update too.
	_, err = s.Update(func(d *registry.Draft) error {
		d.SetRoutes([]*registry.Route{{Path: "/", Pass: true, BalancerName: "nope"}})
		return nil
	})
	if !errors.Is(err, registry.ErrInvalid) || s.Load() != before {
		t.Fatalf("route to unknown balancer: err = %v, published = %v", err, s.Load() != before)
	}
}

func TestStatsSurviveReplacement(t *testing.T) {
	s := registry.NewStore()
	a := member("http://a:1", 1)
	a.Status = registry.StatusDisabled
	a.StatusSince = time.Unix(100, 0)
	put(t, s, balancer("web", a, member("http://b:2", 1)))
	old := s.Load().Balancer("web")
	old.Members[0].Stats.Elected.Add(7)
	old.Members[0].Stats.ErrorTime.Store(42)

	// A reload builds fresh members (nil Stats) for the same URLs.
	a2 := member("http://a:1", 5)
	a2.Status = registry.StatusDisabled
	a2.StatusSince = time.Unix(900, 0)
	c := member("http://c:3", 1)
	snap := put(t, s, balancer("web", a2, c))
	nb := snap.Balancer("web")
	if got := nb.Member("http://a:1").Stats; got != old.Members[0].Stats || got.Elected.Load() != 7 || got.ErrorTime.Load() != 42 {
		t.Errorf("member a lost its stats across the reload")
	}
	if got := nb.Member("http://a:1").StatusSince; !got.Equal(time.Unix(100, 0)) {
		t.Errorf("unchanged status: StatusSince = %v, want the old one", got)
	}
	if nb.Member("http://c:3").Stats == nil || nb.Stats != old.Stats {
		t.Errorf("new member without stats, or balancer stats not kept")
	}
}

func TestSuperseded(t *testing.T) {
	s := registry.NewStore()
	first := s.Load()
	select {
	case <-first.Superseded():
		t.Fatal("closed before any update")
	default:
	}
	put(t, s, balancer("web"))
	select {
	case <-first.Superseded():
	default:
		t.Fatal("not closed after an update")
	}
	if s.Load().Version != first.Version+1 {
		t.Errorf("version = %d, want %d", s.Load().Version, first.Version+1)
	}
}

func TestEditMember(t *testing.T) {
	s := registry.NewStore()
	put(t, s, balancer("web", member("http://a:1", 1)))
	stats := s.Load().Balancer("web").Members[0].Stats
	_, err := s.Update(func(d *registry.Draft) error {
		return d.EditMember("web", "http://a:1", func(m *registry.Member) error {
			m.LoadFactor = 3
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	m := s.Load().Balancer("web").Members[0]
	if m.LoadFactor != 3 || m.Stats != stats {
		t.Errorf("EditMember: loadfactor %d, same stats %v", m.LoadFactor, m.Stats == stats)
	}
	_, err = s.Update(func(d *registry.Draft) error {
		return d.EditMember("web", "http://zz:1", func(*registry.Member) error { return nil })
	})
	if !errors.Is(err, registry.ErrNoMember) {
		t.Errorf("unknown member: err = %v", err)
	}
}

func TestParseStatus(t *testing.T) {
	s, err := registry.ParseStatus("dH")
	if err != nil || s != registry.StatusDisabled|registry.StatusHotStandby || s.String() != "DH" {
		t.Errorf("ParseStatus(dH) = %v %q, %v", s, s.String(), err)
	}
	if _, err := registry.ParseStatus("DE"); err == nil {
		t.Error("ParseStatus(DE) accepted the runtime flag E")
	}
}

func TestUsable(t *testing.T) {
	m := member("http://a:1", 1)
	m.Stats = new(registry.Stats)
	now := time.Unix(1000, 0).UnixNano()
	if !m.Usable(now) {
		t.Fatal("fresh member not usable")
	}
	m.Stats.ErrorTime.Store(now)
	if m.Usable(now + int64(59*time.Second)) {
		t.Error("usable 59s into a 60s retry")
	}
	if !m.Usable(now + int64(time.Minute)) {
		t.Error("not usable once retry has passed")
	}
	m.Status = registry.StatusIgnoreErrors
	if !m.Usable(now) {
		t.Error("I flag: member in error is not usable")
	}
	m.Status = registry.StatusDisabled
	m.StatusSince = time.Unix(0, now)
	m.Stats.ErrorTime.Store(0)
	if m.Usable(now+1) || !m.Usable(now+int64(time.Minute)) {
		t.Error("D: want unusable until retry has passed, usable after")
	}
	m.Status = registry.StatusStopped
	if m.Usable(now + int64(time.Hour)) {
		t.Error("S: usable after an hour, want never")
	}
}

func TestNodeMember(t *testing.T) {
	ajpNode := &registry.Node{JVMRoute: "n1", Type: "ajp", Host: "10.0.0.5", Port: "8009", Ping: 5 * time.Second, FlushPackets: 1, Smax: -1}
	m := ajpNode.Member()
	if m.Name != "ajp://10.0.0.5:8009" || m.Route != "n1" || m.Ping != 5*time.Second || !m.FlushPackets || m.SMax != 64 {
		t.Errorf("ajp node member: %+v", m)
	}
	if m.Check == nil || m.Check.Method != registry.CheckCPING || m.Check.Interval != 10*time.Second || m.Check.Timeout != 5*time.Second {
		t.Errorf("ajp node check: %+v", m.Check)
	}
	httpNode := &registry.Node{JVMRoute: "n2", Type: "http", Host: "fe80::1", Port: "8080", Timeout: 20 * time.Second}
	m = httpNode.Member()
	if m.Name != "http://[fe80::1]:8080" || m.Ping != 0 || m.Timeout != 20*time.Second || m.ConnectionTimeout != 10*time.Second {
		t.Errorf("http node member: %+v", m)
	}
	if c := m.Check; c == nil || c.Method != registry.CheckOPTIONS || c.URI != "*" || !c.Status.Has(404) || !c.Status.Has(503) {
		t.Errorf("http node check: %+v (want OPTIONS *, any status)", c)
	}
}

// bigRegistry holds the benchmark harness's "big" case: 2 + 998 members,
// and 1,000 MCMP nodes with 10 contexts each.
func bigRegistry(tb testing.TB) *registry.Snapshot {
	tb.Helper()
	s := registry.NewStore()
	snap, err := s.Update(func(d *registry.Draft) error {
		var ms []*registry.Member
		for i := range 1000 {
			m := member("http://10.1."+strconv.Itoa(i/250)+"."+strconv.Itoa(i%250)+":80", 1)
			m.Route = "m" + strconv.Itoa(i)
			if i >= 2 {
				m.LBSet = 1
			}
			ms = append(ms, m)
		}
		if err := d.PutBalancer(balancer("be", ms...)); err != nil {
			return err
		}
		if err := d.PutBalancer(&registry.Balancer{Name: "mycluster", StickySessionSep: '.', LBMethod: registry.Cluster, Cluster: &registry.ClusterSettings{}}); err != nil {
			return err
		}
		d.SetRoutes([]*registry.Route{{Path: "/", Pass: true, BalancerName: "be", TargetPath: "/"}})
		for n := range 1000 {
			node := &registry.Node{ID: n, JVMRoute: "node" + strconv.Itoa(n), Balancer: "mycluster", Type: "http",
				Host: "10.2." + strconv.Itoa(n/250) + "." + strconv.Itoa(n%250), Port: "8080",
				Hosts: []registry.HostAlias{{ID: n, Vhost: 1, Alias: "localhost"}}}
			for c := range 10 {
				node.Contexts = append(node.Contexts, &registry.Context{ID: n*10 + c, Vhost: 1,
					Path: "/app" + strconv.Itoa(n) + "/ctx" + strconv.Itoa(c), State: registry.ContextEnabled, Requests: new(atomic.Int64)})
			}
			if err := d.PutNode(node); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return snap
}

func TestMatchWithTenThousandContexts(t *testing.T) {
	snap := bigRegistry(t)
	if tg := snap.Match("/app517/ctx3/page", "", false); tg == nil || tg.Route != nil || len(tg.Rows) != 1 || tg.Rows[0].Node.JVMRoute != "node517" {
		t.Fatalf("context match: %+v", tg)
	}
	if tg := snap.Match("/static/logo.png", "", false); tg == nil || tg.Route == nil || tg.Rows != nil {
		t.Fatalf("static route match: %+v", tg)
	}
	for _, path := range []string{"/", "/static/logo.png", "/app517/ctx3/page"} {
		if allocs := testing.AllocsPerRun(200, func() { snap.Match(path, "localhost", true) }); allocs != 0 {
			t.Errorf("Match(%q) allocates %v times", path, allocs)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	big := bigRegistry(b)
	small := registry.NewStore()
	snapSmall, _ := small.Update(func(d *registry.Draft) error {
		d.SetRoutes([]*registry.Route{{Path: "/", Pass: true, BalancerName: "be", TargetPath: "/"}})
		return d.PutBalancer(balancer("be", member("http://a:1", 1), member("http://b:1", 1)))
	})
	for _, tt := range []struct {
		name string
		snap *registry.Snapshot
		path string
	}{
		{"2 members/static route", snapSmall, "/bar/pint"},
		{"10000 contexts/static route", big, "/bar/pint"},
		{"10000 contexts/context", big, "/app517/ctx3/page/x"},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			big.Match("/", "", false) // build the context index outside the loop
			for b.Loop() {
				tt.snap.Match(tt.path, "", false)
			}
		})
	}
}

// TestPutMCMPBalancer: a CONFIG's balancer gets the lowest free row id,
// keeps its members, counters and row when rewritten (settings left out
// go back to their defaults), is refused over a balancer of the
// configuration file, and over the row limit.
func TestPutMCMPBalancer(t *testing.T) {
	s := registry.NewStore()
	put := func(b registry.MCMPBalancer, max int) error {
		_, err := s.Update(func(d *registry.Draft) error { return d.PutMCMPBalancer(b, max) })
		return err
	}
	if _, err := s.Update(func(d *registry.Draft) error {
		return d.PutBalancer(&registry.Balancer{Name: "file", StickySessionSep: '.'})
	}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if err := put(registry.MCMPBalancer{Name: name, Sticky: true, Cookie: "JSESSIONID", Path: "jsessionid", Force: true}, 2); err != nil {
			t.Fatal(err)
		}
	}
	a := s.Load().Balancer("a")
	if a.Cluster.ID != 0 || s.Load().Balancer("b").Cluster.ID != 1 || !a.NoFailover || len(a.StickySession) != 2 || a.LBMethod != registry.Cluster {
		t.Fatalf("a = %+v (row %d), b row %d", a, a.Cluster.ID, s.Load().Balancer("b").Cluster.ID)
	}
	a.Stats.Failovers.Add(3)
	if err := put(registry.MCMPBalancer{Name: "a", MaxAttempts: -1}, 2); err != nil {
		t.Fatal(err)
	}
	a2 := s.Load().Balancer("a")
	if a2.Cluster.ID != 0 || a2.Stats != a.Stats || a2.NoFailover || a2.StickySession != nil || a2.MaxAttempts != 0 {
		t.Errorf("rewritten a = %+v, want row 0, the same counters, defaults back", a2)
	}
	if err := put(registry.MCMPBalancer{Name: "c"}, 2); !errors.Is(err, registry.ErrBalancerTableFull) {
		t.Errorf("third MCMP balancer with room for two: %v", err)
	}
	if err := put(registry.MCMPBalancer{Name: "file"}, 0); !errors.Is(err, registry.ErrConfiguredBalancer) {
		t.Errorf("MCMP balancer over the file's: %v", err)
	}
}
