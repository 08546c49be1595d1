package session_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/internal/session"
)

var now = time.Unix(1_000_000, 0).UnixNano()

func web(t *testing.T, members ...*registry.Member) *registry.Balancer {
	t.Helper()
	b := &registry.Balancer{Name: "web", StickySession: []string{"JSESSIONID", "jsessionid"}, StickySessionSep: '.', MaxAttempts: -1, Members: members}
	snap, err := registry.NewStore().Update(func(d *registry.Draft) error { return d.PutBalancer(b) })
	if err != nil {
		t.Fatal(err)
	}
	return snap.Balancer("web")
}

func member(route, redirect string) *registry.Member {
	u, _ := url.Parse("http://" + route + ":80")
	return &registry.Member{Name: u.String(), URL: u, Route: route, Redirect: redirect, LoadFactor: 1, Retry: time.Minute}
}

func TestFind(t *testing.T) {
	b := web(t)
	tests := []struct {
		name, target string
		cookies      []string
		id, route    string
	}{
		{"none", "/bar/", nil, "", ""},
		{"cookie", "/bar/", []string{"JSESSIONID=abc.elm"}, "abc.elm", "elm"},
		{"cookie among others", "/bar/", []string{"a=1; JSESSIONID=abc.oak; b=2"}, "abc.oak", "oak"},
		{"second header line", "/bar/", []string{"a=1", "JSESSIONID=x.ash"}, "x.ash", "ash"},
		{"quoted cookie", "/bar/", []string{`JSESSIONID="abc.elm"`}, "abc.elm", "elm"},
		{"cookie name is exact", "/bar/", []string{"XJSESSIONID=abc.elm; JSESSIONIDX=abc.oak"}, "", ""},
		{"second name as cookie", "/bar/", []string{"jsessionid=abc.ash"}, "abc.ash", "ash"},
		{"first separator", "/bar/", []string{"JSESSIONID=abc.elm.x"}, "abc.elm.x", "elm.x"},
		{"no separator", "/bar/", []string{"JSESSIONID=abc"}, "abc", ""},
		{"path parameter", "/bar/pint;jsessionid=abc.oak", nil, "abc.oak", "oak"},
		{"path parameter mid path", "/bar;jsessionid=abc.oak/pint", nil, "abc.oak", "oak"},
		{"path parameter after others", "/bar;x=1;jsessionid=abc.oak?q=1", nil, "abc.oak", "oak"},
		{"query parameter", "/bar/?a=1&jsessionid=abc.ash&b=2", nil, "abc.ash", "ash"},
		{"url wins over cookie", "/bar/;jsessionid=abc.oak", []string{"JSESSIONID=abc.elm"}, "abc.oak", "oak"},
		{"quoted path parameter", `/bar;jsessionid="abc.oak"`, nil, "abc.oak", "oak"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := http.NewRequest("GET", "http://lb"+tt.target, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tt.cookies {
				r.Header.Add("Cookie", c)
			}
			id, route := session.Find(r, b)
			if id != tt.id || route != tt.route {
				t.Errorf("Find(%s, %q) = %q, %q; want %q, %q", tt.target, tt.cookies, id, route, tt.id, tt.route)
			}
		})
	}
}

func TestFindDoesNotAllocate(t *testing.T) {
	b := web(t)
	r, _ := http.NewRequest("GET", "http://lb/bar/pint?x=1", nil)
	r.Header.Set("Cookie", "a=1; b=2; JSESSIONID=0123456789ABCDEF.elm")
	allocs := testing.AllocsPerRun(1000, func() {
		if _, route := session.Find(r, b); route != "elm" {
			t.Fatal(route)
		}
	})
	if allocs != 0 {
		t.Errorf("Find allocates %v times per request", allocs)
	}
}

func TestResolve(t *testing.T) {
	elm, oak, ash := member("elm", "oak"), member("oak", ""), member("ash", "")
	b := web(t, elm, oak, ash)
	elm, oak = b.ByRoute("elm"), b.ByRoute("oak")

	if m, known := session.Resolve(b, "gone", now, nil); m != nil || known {
		t.Errorf("unknown route: %v, %v; want nil, false", m, known)
	}
	if m, _ := session.Resolve(b, "elm", now, nil); m != elm {
		t.Errorf("usable route member: got %v", m)
	}
	elm.Stats.ErrorTime.Store(now)
	if m, known := session.Resolve(b, "elm", now, nil); m != oak || !known {
		t.Errorf("member in error: got %v, want its redirect oak", m)
	}
	oak.Stats.ErrorTime.Store(now)
	if m, known := session.Resolve(b, "elm", now, nil); m != nil || !known {
		t.Errorf("member and redirect in error: got %v, %v; want nil, true", m, known)
	}
	if m, known := session.Resolve(b, "oak", now, nil); m != nil || !known {
		t.Errorf("no redirect: got %v, %v; want nil, true", m, known)
	}
	if m, _ := session.Resolve(b, "ash", now, []*registry.Member{b.ByRoute("ash")}); m != nil {
		t.Errorf("tried member returned again")
	}
}

func TestResolveDrainKeepsStickyRequests(t *testing.T) {
	n := member("n", "")
	n.Status = registry.StatusDrain
	b := web(t, n, member("a", ""))
	if m, _ := session.Resolve(b, "n", now, nil); m == nil || m.Route != "n" {
		t.Errorf("sticky request for a draining member: got %v, want the member", m)
	}
}

func BenchmarkFind(b *testing.B) {
	bal := &registry.Balancer{Name: "web", StickySession: []string{"JSESSIONID", "jsessionid"}, StickySessionSep: '.'}
	for _, tt := range []struct{ name, target, cookie string }{
		{"cookie", "http://lb/bar/pint?x=1", "theme=dark; JSESSIONID=0123456789ABCDEF0123456789ABCDEF.node2; lang=en"},
		{"path parameter", "http://lb/bar/pint;jsessionid=0123456789ABCDEF.node2?x=1", ""},
		{"none", "http://lb/bar/pint?x=1", "theme=dark; lang=en"},
	} {
		b.Run(tt.name, func(b *testing.B) {
			r, _ := http.NewRequest("GET", tt.target, nil)
			if tt.cookie != "" {
				r.Header.Set("Cookie", tt.cookie)
			}
			b.ReportAllocs()
			for b.Loop() {
				session.Find(r, bal)
			}
		})
	}
}
