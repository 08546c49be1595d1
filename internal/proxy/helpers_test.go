package proxy_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/fakeclock"
	"github.com/barkeep-lb/barkeep/internal/proxy"
	"github.com/barkeep-lb/barkeep/internal/proxy/proxytest"
	"github.com/barkeep-lb/barkeep/internal/registry"
)

// edge is the protocol test clients speak to the proxy, and memberScheme
// the one the proxy speaks to the pubs; TestOtherProtocols runs the core
// tests again with HTTP/2 clients and h2c members.
var (
	edge         = proxytest.HTTP1
	memberScheme = "http"
)

// syncBuffer is a bytes.Buffer safe for the access log and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// pub starts a backend that answers with its route in the body and the
// X-Route header, and sets JSESSIONID=<n>.<route> for clients without one.
func pub(t *testing.T, route string) *httptest.Server {
	t.Helper()
	srv := newBackend(pubHandler(route))
	t.Cleanup(srv.Close)
	return srv
}

// newBackend starts a member speaking memberScheme (h2c members also take
// HTTP/1.1, for health checks and tests that dial them directly).
func newBackend(h http.Handler) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	speakMemberScheme(srv)
	srv.Start()
	return srv
}

// speakMemberScheme makes an unstarted server take h2c when members are
// h2c.
func speakMemberScheme(srv *httptest.Server) {
	if memberScheme == "h2c" {
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetHTTP1(true)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
	}
}

func pubHandler(route string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := r.Cookie("JSESSIONID"); err != nil {
			http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: "s1." + route, Path: "/bar"})
		}
		w.Header().Set("X-Route", route)
		io.WriteString(w, route)
	})
}

// member describes a member pointing at srv.
func member(srv *httptest.Server, route string) *registry.Member {
	u, _ := url.Parse(srv.URL)
	return memberAt(u.Host, route)
}

func memberAt(hostport, route string) *registry.Member {
	u := &url.URL{Scheme: memberScheme, Host: hostport}
	return &registry.Member{
		Name: u.String(), URL: u, Route: route, LoadFactor: 1,
		Retry: time.Minute, ConnectionTimeout: 2 * time.Second, Timeout: 10 * time.Second,
		SMax: 16, TTL: time.Minute,
	}
}

func web(members ...*registry.Member) *registry.Balancer {
	return &registry.Balancer{
		Name: "web", StickySession: []string{"JSESSIONID", "jsessionid"}, StickySessionSep: '.',
		MaxAttempts: -1, FailOnTimeout: true, Members: members,
	}
}

type fixture struct {
	store  *registry.Store
	clock  *fakeclock.Clock
	front  *proxytest.Front
	access *syncBuffer
	log    *proxy.AccessLog
	h      *proxy.Handler
}

// route is the default route of the fixtures: everything under /bar goes
// to balancer web.
func barRoute() *registry.Route {
	return &registry.Route{Path: "/bar", Pass: true, BalancerName: "web", TargetPath: "/bar"}
}

func newFixture(t *testing.T, b *registry.Balancer, routes ...*registry.Route) *fixture {
	t.Helper()
	return newFixtureWith(t, proxy.Options{}, b, routes...)
}

// newFixtureWith is newFixture with request path options (the fixture
// sets Log, AccessLog, Now and WaitPoll).
func newFixtureWith(t *testing.T, opts proxy.Options, b *registry.Balancer, routes ...*registry.Route) *fixture {
	t.Helper()
	f := &fixture{store: registry.NewStore(), clock: fakeclock.New(), access: &syncBuffer{}}
	if len(routes) == 0 {
		routes = []*registry.Route{barRoute()}
	}
	for _, m := range b.Members {
		m.StatusSince = f.clock.Now()
	}
	_, err := f.store.Update(func(d *registry.Draft) error {
		if err := d.PutBalancer(b); err != nil {
			return err
		}
		d.SetRoutes(routes)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	f.log = proxy.NewAccessLog(f.access, proxy.Combined)
	opts.Log, opts.AccessLog, opts.Now, opts.WaitPoll = slog.New(slog.DiscardHandler), f.log, f.clock.Now, 5*time.Millisecond
	h := proxy.New(f.store, opts)
	f.h = h
	f.front = proxytest.Start(t, h, edge, proxy.ServerOptions{})
	return f
}

func (f *fixture) balancer() *registry.Balancer { return f.store.Load().Balancer("web") }

func (f *fixture) member(route string) *registry.Member { return f.balancer().ByRoute(route) }

// get sends a GET for path with an optional JSESSIONID cookie and returns
// the status, the body and the response.
func (f *fixture) get(t *testing.T, path, cookie string) (int, string, *http.Response) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.front.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != "" {
		req.Header.Set("Cookie", "JSESSIONID="+cookie)
	}
	res, err := f.front.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", path, err)
	}
	return res.StatusCode, string(body), res
}

// accessLines returns the access log lines written so far.
func (f *fixture) accessLines(t *testing.T) []string {
	t.Helper()
	if err := f.log.Flush(); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(f.access.String()), "\n")
}

// frontFor serves a Handler for store with default options.
func frontFor(t *testing.T, store *registry.Store) *proxytest.Front {
	t.Helper()
	h := proxy.New(store, proxy.Options{Log: slog.New(slog.DiscardHandler)})
	return proxytest.Start(t, h, edge, proxy.ServerOptions{})
}
