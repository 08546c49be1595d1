package session_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/internal/session"
)

func web(t *testing.T, members ...*registry.Member) *registry.Balancer {
	t.Helper()
	b := &registry.Balancer{Name: "web", StickySession: []string{"JSESSIONID", "jsessionid"}, StickySessionSep: '.', MaxAttempts: -1, Members: members}
	snap, err := registry.NewStore().Update(func(d *registry.Draft) error { return d.PutBalancer(b) })
	if err != nil {
		t.Fatal(err)
	}
	return snap.Balancer("web")
}

// req is a client request as Find sees it.
type req struct {
	path, query string
	cookies     []string
}

func newReq(target string, cookies ...string) *req {
	path, query, _ := strings.Cut(target, "?")
	return &req{path: path, query: query, cookies: cookies}
}

func (r *req) SessionPath() string  { return r.path }
func (r *req) SessionQuery() string { return r.query }
func (r *req) SessionCookie(name string) string {
	for _, line := range r.cookies {
		if v := session.CookieValue(line, name); v != "" {
			return v
		}
	}
	return ""
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
			id, route := session.Find(newReq(tt.target, tt.cookies...), b)
			if id != tt.id || route != tt.route {
				t.Errorf("Find(%s, %q) = %q, %q; want %q, %q", tt.target, tt.cookies, id, route, tt.id, tt.route)
			}
		})
	}
}

func TestFindDoesNotAllocate(t *testing.T) {
	b := web(t)
	r := newReq("/bar/pint?x=1", "a=1; b=2; JSESSIONID=0123456789ABCDEF.elm")
	allocs := testing.AllocsPerRun(1000, func() {
		if _, route := session.Find(r, b); route != "elm" {
			t.Fatal(route)
		}
	})
	if allocs != 0 {
		t.Errorf("Find allocates %v times per request", allocs)
	}
}

func TestStrip(t *testing.T) {
	names := []string{"JSESSIONID", "jsessionid"}
	if got := session.StripPath("/bar;jsessionid=a.b/pint;x=1", names); got != "/bar/pint;x=1" {
		t.Errorf("StripPath = %q", got)
	}
	if got := session.StripQuery("a=1&jsessionid=x.y;b=2", names); got != "a=1&b=2" {
		t.Errorf("StripQuery = %q", got)
	}
	if got := session.StripQuery("a=1;b=2", names); got != "a=1;b=2" {
		t.Errorf("StripQuery without the name changed the query: %q", got)
	}
	if got := session.StripCookies("a=1; JSESSIONID=x.y; b=2", names); got != "a=1; b=2" {
		t.Errorf("StripCookies = %q", got)
	}
	if got := session.StripCookies("JSESSIONID=x.y", names); got != "" {
		t.Errorf("StripCookies of the only cookie = %q", got)
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
			r := newReq(strings.TrimPrefix(tt.target, "http://lb"), tt.cookie)
			b.ReportAllocs()
			for b.Loop() {
				session.Find(r, bal)
			}
		})
	}
}
