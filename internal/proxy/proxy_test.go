package proxy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/fakeclock"
	"github.com/barkeep-lb/barkeep/internal/health"
	"github.com/barkeep-lb/barkeep/internal/proxy"
	"github.com/barkeep-lb/barkeep/internal/proxy/proxytest"
	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/internal/testnet"
)

func TestStickySessions(t *testing.T) {
	elm, oak, ash := pub(t, "elm"), pub(t, "oak"), pub(t, "ash")
	f := newFixture(t, web(member(elm, "elm"), member(oak, "oak"), member(ash, "ash")))
	tests := []struct{ name, path, cookie, want string }{
		{"cookie", "/bar/", "8E1F.oak", "oak"},
		{"quoted cookie", "/bar/", `"8E1F.elm"`, "elm"},
		{"path parameter", "/bar/pint;jsessionid=8E1F.ash", "", "ash"},
		{"query parameter", "/bar/pint?jsessionid=8E1F.elm", "", "elm"},
		{"url wins over cookie", "/bar/pint;jsessionid=8E1F.ash", "8E1F.oak", "ash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range 100 {
				if status, body, _ := f.get(t, tt.path, tt.cookie); status != 200 || body != tt.want {
					t.Fatalf("request %d: GET %s cookie %q = %d %q, want 200 %q", i, tt.path, tt.cookie, status, body, tt.want)
				}
			}
		})
	}
	t.Run("unknown route falls back to the lbmethod", func(t *testing.T) {
		got := map[string]int{}
		for range 300 {
			_, body, _ := f.get(t, "/bar/", "8E1F.gone")
			got[body]++
		}
		for _, r := range []string{"elm", "oak", "ash"} {
			if got[r] != 100 {
				t.Errorf("unknown route: %s got %d of 300, want 100 (byrequests)", r, got[r])
			}
		}
	})
}

func TestStickyRedirect(t *testing.T) {
	elm, oak, ash := pub(t, "elm"), pub(t, "oak"), pub(t, "ash")
	e := member(elm, "elm")
	e.Redirect = "oak"
	f := newFixture(t, web(e, member(oak, "oak"), member(ash, "ash")))
	health.Fail(f.member("elm"), f.clock.Now().UnixNano())
	for i := range 50 {
		if _, body, _ := f.get(t, "/bar/", "8E1F.elm"); body != "oak" {
			t.Fatalf("request %d for route elm (in error, redirect oak) went to %s", i, body)
		}
	}
	// Redirect unusable too: fail over to the lbmethod.
	health.Fail(f.member("oak"), f.clock.Now().UnixNano())
	if _, body, _ := f.get(t, "/bar/", "8E1F.elm"); body != "ash" {
		t.Errorf("route and redirect in error: went to %s, want ash", body)
	}
}

func TestStickyDisabledMemberUsesRedirect(t *testing.T) {
	elm, oak, ash := pub(t, "elm"), pub(t, "oak"), pub(t, "ash")
	e := member(elm, "elm")
	e.Redirect = "ash"
	e.Status = registry.StatusDisabled
	f := newFixture(t, web(e, member(oak, "oak"), member(ash, "ash")))
	for i := range 20 {
		if _, body, _ := f.get(t, "/bar/", "8E1F.elm"); body != "ash" {
			t.Fatalf("request %d for disabled elm went to %s, want its redirect ash", i, body)
		}
	}
}

func TestNoFailover(t *testing.T) {
	elm, oak := pub(t, "elm"), pub(t, "oak")
	b := web(member(elm, "elm"), member(oak, "oak"))
	b.NoFailover = true
	f := newFixture(t, b)
	health.Fail(f.member("elm"), f.clock.Now().UnixNano())
	status, _, res := f.get(t, "/bar/", "8E1F.elm")
	if status != http.StatusServiceUnavailable {
		t.Errorf("nofailover, sticky member in error: status %d, want 503", status)
	}
	if res.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	// A route naming no member is ignored, nofailover or not.
	if status, _, _ := f.get(t, "/bar/", "8E1F.gone"); status != 200 {
		t.Errorf("nofailover, unknown route: status %d, want 200", status)
	}
	// A killed sticky member is not replaced by another one.
	f.clock.Advance(2 * time.Minute)
	oak.Close()
	if status, _, _ := f.get(t, "/bar/", "8E1F.oak"); status != http.StatusBadGateway {
		t.Errorf("nofailover, sticky member refuses connections: status %d, want 502", status)
	}
}

func TestDrain(t *testing.T) {
	elm, oak := pub(t, "elm"), pub(t, "oak")
	o := member(oak, "oak")
	o.Status = registry.StatusDrain
	f := newFixture(t, web(member(elm, "elm"), o))
	for i := range 50 {
		if _, body, _ := f.get(t, "/bar/", ""); body != "elm" {
			t.Fatalf("new session %d went to draining oak", i)
		}
		if _, body, _ := f.get(t, "/bar/", "8E1F.oak"); body != "oak" {
			t.Fatalf("sticky request %d for draining oak went to %s", i, body)
		}
	}
}

func TestHotStandby(t *testing.T) {
	elm, oak, hot := pub(t, "elm"), pub(t, "oak"), pub(t, "hot")
	h := member(hot, "hot")
	h.Status = registry.StatusHotStandby
	f := newFixture(t, web(member(elm, "elm"), member(oak, "oak"), h))
	for i := range 50 {
		if _, body, _ := f.get(t, "/bar/", ""); body == "hot" {
			t.Fatalf("request %d went to the hot standby while elm and oak are up", i)
		}
	}
	elm.Close()
	oak.Close()
	for i := range 20 {
		if status, body, _ := f.get(t, "/bar/", ""); status != 200 || body != "hot" {
			t.Fatalf("request %d with elm and oak down: %d %q, want the hot standby", i, status, body)
		}
	}
}

func TestFailoverWhenMemberKilled(t *testing.T) {
	elm, oak, ash := pub(t, "elm"), pub(t, "oak"), pub(t, "ash")
	f := newFixture(t, web(member(elm, "elm"), member(oak, "oak"), member(ash, "ash")))
	oakAddr := oak.Listener.Addr().String()

	got := map[string]int{}
	for i := range 1000 {
		if i == 300 {
			oak.Close() // killed mid-run, with pooled connections to it
		}
		status, body, _ := f.get(t, "/bar/", "")
		if status != 200 {
			t.Fatalf("request %d: status %d %q; want 0 errors seen by the client", i, status, body)
		}
		got[body]++
	}
	m := f.member("oak")
	if !m.InError(f.clock.Now().UnixNano()) || m.Stats.Errors.Load() == 0 {
		t.Fatalf("killed oak: in error %v, errors %d", m.InError(f.clock.Now().UnixNano()), m.Stats.Errors.Load())
	}
	if got["oak"] > 101 {
		t.Errorf("oak served %d requests, want at most its share before the kill", got["oak"])
	}

	// oak comes back on the same address: no traffic until its retry has passed.
	back := httptest.NewUnstartedServer(pubHandler("oak"))
	speakMemberScheme(back)
	l, err := net.Listen("tcp", oakAddr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", oakAddr, err)
	}
	back.Listener.Close()
	back.Listener = l
	back.Start()
	t.Cleanup(back.Close)
	f.clock.Advance(59 * time.Second)
	for i := range 30 {
		if _, body, _ := f.get(t, "/bar/", ""); body == "oak" {
			t.Fatalf("request %d went to oak 59s into its 60s retry", i)
		}
	}
	f.clock.Advance(time.Second)
	got = map[string]int{}
	for range 30 {
		_, body, _ := f.get(t, "/bar/", "")
		got[body]++
	}
	if got["oak"] < 9 {
		t.Errorf("after retry oak got %d of 30 requests, want its share back", got["oak"])
	}
	if m.InError(f.clock.Now().UnixNano()) || m.Stats.ErrorTime.Load() != 0 || m.Stats.Retries.Load() != 1 {
		t.Errorf("oak after a successful retry: error time %d, retries %d", m.Stats.ErrorTime.Load(), m.Stats.Retries.Load())
	}
}

func TestRefusedConnectionIsRetriedElsewhere(t *testing.T) {
	oak := pub(t, "oak")
	dead := memberAt(testnet.ClosedAddr(t), "dead")
	f := newFixture(t, web(dead, member(oak, "oak"))) // byrequests tries dead first
	status, body, _ := f.get(t, "/bar/", "")
	if status != 200 || body != "oak" {
		t.Fatalf("GET with first member refusing: %d %q, want 200 from oak", status, body)
	}
	if m := f.member("dead"); !m.InError(f.clock.Now().UnixNano()) {
		t.Error("refusing member not in error state")
	}
	lines := f.accessLines(t)
	if !strings.Contains(lines[len(lines)-1], "route=oak") || !strings.Contains(lines[len(lines)-1], "attempts=2") {
		t.Errorf("access log %q: want route=oak attempts=2", lines[len(lines)-1])
	}
}

func TestPostWithBodyIsRetriedOnlyWhenNothingWasSent(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body) // read first: HTTP/1 servers drop the body once writing starts
		w.Write(body)
	}))
	t.Cleanup(echo.Close)
	dead := memberAt(testnet.ClosedAddr(t), "dead")
	f := newFixture(t, web(dead, member(echo, "echo")))
	res, err := f.front.Client().Post(f.front.URL+"/bar/", "text/plain", strings.NewReader("a pint of bitter"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "a pint of bitter" {
		t.Errorf("POST after a refused connection: %d %q, want the body echoed by the second member", res.StatusCode, body)
	}

	// A member that reads the request and then drops the connection: the
	// POST went out, so it is not sent again.
	reset := testnet.Serve(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		c.Read(buf)
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	})
	f2 := newFixture(t, web(memberAt(reset, "reset"), member(echo, "echo")))
	res, err = f2.front.Client().Post(f2.front.URL+"/bar/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadGateway {
		t.Errorf("POST to a member that resets: status %d, want 502 without retry", res.StatusCode)
	}
	if !f2.member("reset").InError(f2.clock.Now().UnixNano()) {
		t.Error("resetting member not in error state")
	}
	// The same failure on a GET is retried. Of two GETs byrequests sends
	// one to the resetting member, whose retry is due.
	f2.clock.Advance(f2.member("reset").Retry)
	for range 2 {
		if status, body, _ := f2.get(t, "/bar/", ""); status != 200 || body != "" {
			t.Errorf("GET with a member that resets: %d %q, want 200 from echo", status, body)
		}
	}
	if n := f2.member("reset").Stats.Errors.Load(); n != 2 {
		t.Errorf("resetting member has %d errors, want 2: no GET was tried there", n)
	}
}

func TestHungMemberTimesOut(t *testing.T) {
	hung := testnet.Serve(t, func(c net.Conn) {
		io.Copy(io.Discard, c) // reads the request, never answers
	})
	m := memberAt(hung, "hung")
	m.Timeout = 200 * time.Millisecond
	f := newFixture(t, web(m))
	status, _, _ := f.get(t, "/bar/", "")
	if status != http.StatusGatewayTimeout {
		t.Fatalf("hung member: status %d, want 504", status)
	}
	if !f.member("hung").InError(f.clock.Now().UnixNano()) {
		t.Error("hung member not in error state after its timeout")
	}
}

func TestGarbageResponse(t *testing.T) {
	garbage := testnet.Serve(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		c.Read(buf)
		io.WriteString(c, "THIS IS NOT HTTP\r\n\r\n")
		c.Close()
	})
	f := newFixture(t, web(memberAt(garbage, "junk")))
	status, _, _ := f.get(t, "/bar/", "")
	if status != http.StatusBadGateway {
		t.Errorf("garbage response: status %d, want 502", status)
	}
	if m := f.member("junk"); m.Stats.Errors.Load() != 1 {
		t.Errorf("garbage response: member errors = %d, want 1", m.Stats.Errors.Load())
	}
}

func TestClientGoneIs499AndNotTheMembersFault(t *testing.T) {
	started := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-r.Context().Done()
	}))
	t.Cleanup(slow.Close)
	f := newFixture(t, web(member(slow, "slow")))
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.front.URL+"/bar/", nil)
	errc := make(chan error, 1)
	go func() {
		res, err := f.front.Client().Do(req)
		if err == nil {
			res.Body.Close()
		}
		errc <- err
	}()
	<-started
	cancel()
	<-errc
	waitFor(t, func() bool { return strings.Contains(f.access.String()+flush(f), `" 499 `) })
	m := f.member("slow")
	if m.Stats.Errors.Load() != 0 || m.InError(f.clock.Now().UnixNano()) {
		t.Errorf("client gone counted against the member: errors %d", m.Stats.Errors.Load())
	}
	waitFor(t, func() bool { return m.Stats.Busy.Load() == 0 })
}

func flush(f *fixture) string { f.log.Flush(); return "" }

// waitFor polls cond for up to 10 s: for effects that cross a real socket.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestNoUsableMember503(t *testing.T) {
	elm := pub(t, "elm")
	f := newFixture(t, web(member(elm, "elm")))
	health.Fail(f.member("elm"), f.clock.Now().Add(-20*time.Second).UnixNano())
	status, _, res := f.get(t, "/bar/", "")
	if status != http.StatusServiceUnavailable || res.Header.Get("Retry-After") != "40" {
		t.Errorf("no usable member: %d Retry-After %q, want 503 and 40 (seconds left of the retry)", status, res.Header.Get("Retry-After"))
	}
}

func TestBalancerTimeoutWaitsForAMember(t *testing.T) {
	elm := pub(t, "elm")
	m := member(elm, "elm")
	m.Retry = 10 * time.Second
	b := web(m)
	b.Timeout = 30 * time.Second
	f := newFixture(t, b)
	health.Fail(f.member("elm"), f.clock.Now().UnixNano())
	stop := tick(f.clock, time.Second)
	defer stop()
	if status, body, _ := f.get(t, "/bar/", ""); status != 200 || body != "elm" {
		t.Errorf("waiting for a member that comes back within the timeout: %d %q", status, body)
	}
	stop()

	// A member that does not come back within the timeout: 503.
	m2 := member(elm, "elm")
	m2.Retry = time.Hour
	b2 := web(m2)
	b2.Timeout = 5 * time.Second
	f2 := newFixture(t, b2)
	health.Fail(f2.member("elm"), f2.clock.Now().UnixNano())
	stop2 := tick(f2.clock, time.Second)
	defer stop2()
	if status, _, _ := f2.get(t, "/bar/", ""); status != http.StatusServiceUnavailable {
		t.Errorf("timeout passed with no member: status %d, want 503", status)
	}
}

// tick advances c by step every millisecond of real time until stopped.
func tick(c *fakeclock.Clock, step time.Duration) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				c.Advance(step)
			}
		}
	}()
	var stopped bool
	return func() {
		if !stopped {
			stopped = true
			close(done)
			<-finished
		}
	}
}

func TestRoutesAndExclusions(t *testing.T) {
	elm := pub(t, "elm")
	f := newFixture(t, web(member(elm, "elm")), barRoute(), &registry.Route{Path: "/bar/static", Pass: false})
	tests := []struct {
		path   string
		status int
	}{
		{"/bar", 200}, {"/bar/", 200}, {"/bar/pint", 200},
		{"/barn", 404}, {"/", 404}, {"/bar/static/logo.png", 404}, {"/bar/static", 404},
	}
	for _, tt := range tests {
		if status, _, _ := f.get(t, tt.path, ""); status != tt.status {
			t.Errorf("GET %s = %d, want %d", tt.path, status, tt.status)
		}
	}
}

func TestForwardedHeaders(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"host": r.Host, "path": r.URL.Path, "header": r.Header})
	}))
	t.Cleanup(echo.Close)
	type seen struct {
		Host   string
		Path   string
		Header http.Header
	}
	get := func(f *fixture, path string) seen {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.front.URL+path, nil)
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		req.Header.Set("Connection", "X-Secret")
		req.Header.Set("X-Secret", "hop-by-hop")
		req.Header.Set("Keep-Alive", "timeout=5")
		res, err := f.front.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var s seen
		if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	f := newFixture(t, web(member(echo, "echo")))
	s := get(f, "/bar/x")
	frontHost := strings.TrimPrefix(f.front.URL, "http://")
	if got := s.Header.Get("X-Forwarded-For"); got != "203.0.113.7, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the client's chain plus 127.0.0.1", got)
	}
	if s.Header.Get("X-Forwarded-Host") != frontHost || s.Header.Get("X-Forwarded-Proto") != "http" {
		t.Errorf("X-Forwarded-Host %q Proto %q", s.Header.Get("X-Forwarded-Host"), s.Header.Get("X-Forwarded-Proto"))
	}
	if s.Header.Get("X-Secret") != "" || s.Header.Get("Keep-Alive") != "" {
		t.Errorf("hop-by-hop headers reached the member: %v", s.Header)
	}
	if s.Host != strings.TrimPrefix(echo.URL, "http://") || s.Path != "/bar/x" {
		t.Errorf("member saw host %q path %q, want its own host and /bar/x", s.Host, s.Path)
	}

	rt := &registry.Route{Path: "/bar", Pass: true, BalancerName: "web", TargetPath: "/app", PreserveHost: true}
	f2 := newFixture(t, web(member(echo, "echo")), rt)
	s = get(f2, "/bar/x")
	if s.Host != strings.TrimPrefix(f2.front.URL, "http://") || s.Path != "/app/x" {
		t.Errorf("preserve_host + target_path: member saw host %q path %q", s.Host, s.Path)
	}
}

func TestProxyPassReverse(t *testing.T) {
	var memberURL string
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/app/login":
			w.Header().Set("Location", memberURL+"/app/home?x=1")
			w.Header().Set("Content-Location", "/app/login.html")
			w.Header().Add("Set-Cookie", "JSESSIONID=s1.elm; Path=/app; HttpOnly")
			w.Header().Add("Set-Cookie", "theme=dark; Path=/app/prefs; Domain=127.0.0.1")
			w.Header().Add("Set-Cookie", "other=1; Path=/elsewhere")
			w.WriteHeader(http.StatusFound)
		case "/app/away":
			w.Header().Set("Location", "http://example.com/app/x")
			w.WriteHeader(http.StatusFound)
		}
	}))
	t.Cleanup(app.Close)
	memberURL = app.URL
	rt := &registry.Route{Path: "/bar", Pass: true, BalancerName: "web", TargetPath: "/app",
		Reverse: true, ReverseCookiePath: "/bar", ReverseCookieDomain: "pubs.example"}
	f := newFixture(t, web(member(app, "elm")), rt)
	client := *f.front.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	res, err := client.Get(f.front.URL + "/bar/login")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got, want := res.Header.Get("Location"), f.front.URL+"/bar/home?x=1"; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if got := res.Header.Get("Content-Location"); got != "/bar/login.html" {
		t.Errorf("Content-Location = %q, want /bar/login.html", got)
	}
	cookies := res.Header.Values("Set-Cookie")
	want := []string{
		"JSESSIONID=s1.elm; Path=/bar; HttpOnly",
		"theme=dark; Path=/bar/prefs; Domain=pubs.example",
		"other=1; Path=/elsewhere",
	}
	if fmt.Sprint(cookies) != fmt.Sprint(want) {
		t.Errorf("Set-Cookie = %q, want %q", cookies, want)
	}
	res, err = client.Get(f.front.URL + "/bar/away")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("Location"); got != "http://example.com/app/x" {
		t.Errorf("foreign Location rewritten to %q", got)
	}
}

var accessLine = regexp.MustCompile(`^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET /bar/pint\?q=1 HTTP/1\.1" 200 3 "http://ref/" "barkeep-test/1" balancer=web route=oak sticky=oak attempts=1 time_us=\d+$`)

func TestAccessLogCombined(t *testing.T) {
	oak := pub(t, "oak")
	f := newFixture(t, web(member(oak, "oak")))
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.front.URL+"/bar/pint?q=1", nil)
	req.Header.Set("Referer", "http://ref/")
	req.Header.Set("User-Agent", "barkeep-test/1")
	req.Header.Set("Cookie", "JSESSIONID=abc.oak")
	res, err := f.front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	f.get(t, "/nowhere", "")
	lines := f.accessLines(t)
	if len(lines) != 2 || !accessLine.MatchString(lines[0]) {
		t.Fatalf("access log:\n%s\nwant a first line matching %s", strings.Join(lines, "\n"), accessLine)
	}
	if !strings.Contains(lines[1], `"GET /nowhere HTTP/1.1" 404 `) || !strings.Contains(lines[1], "balancer=- route=- sticky=- attempts=0") {
		t.Errorf("404 line = %q", lines[1])
	}
}

func TestBytesAndBusyCounters(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body) // read first: HTTP/1 servers drop the body once writing starts
		w.Write(body)
	}))
	t.Cleanup(echo.Close)
	f := newFixture(t, web(member(echo, "echo")))
	res, err := f.front.Client().Post(f.front.URL+"/bar/", "text/plain", strings.NewReader(strings.Repeat("x", 1000)))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	m := f.member("echo")
	waitFor(t, func() bool { return m.Stats.Busy.Load() == 0 })
	if m.Stats.Transferred.Load() != 1000 || m.Stats.Read.Load() != 1000 || m.Stats.Elected.Load() != 1 {
		t.Errorf("to %d from %d elected %d, want 1000 1000 1", m.Stats.Transferred.Load(), m.Stats.Read.Load(), m.Stats.Elected.Load())
	}
}

func TestAccessLogJSON(t *testing.T) {
	oak := pub(t, "oak")
	store := registry.NewStore()
	_, err := store.Update(func(d *registry.Draft) error {
		d.SetRoutes([]*registry.Route{barRoute()})
		return d.PutBalancer(web(member(oak, "oak")))
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf syncBuffer
	log := proxy.NewAccessLog(&buf, proxy.JSON)
	front := httptest.NewServer(proxy.New(store, proxy.Options{AccessLog: log}))
	t.Cleanup(front.Close)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, front.URL+"/bar/\"quoted\"", nil)
	req.Header.Set("User-Agent", "ua\t\xff")
	res, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	log.Flush()
	var entry map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &entry); err != nil {
		t.Fatalf("access log line is not JSON: %v\n%s", err, buf.String())
	}
	want := map[string]any{"method": "GET", "uri": `/bar/%22quoted%22`, "status": 200.0, "bytes": 3.0,
		"balancer": "web", "route": "oak", "sticky": "", "attempts": 1.0, "remote": "127.0.0.1", "user_agent": "ua\t\ufffd"}
	for k, v := range want {
		if entry[k] != v {
			t.Errorf("%s = %#v, want %#v", k, entry[k], v)
		}
	}
}

func TestByBusynessThroughTheProxy(t *testing.T) {
	// slow holds every request until released; fast answers at once. With
	// bybusyness the requests slow holds steer new ones to fast.
	release := make(chan struct{})
	started := make(chan struct{}, 100)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		io.WriteString(w, "slow")
	}))
	t.Cleanup(slow.Close)
	defer close(release)
	fast := pub(t, "fast")
	b := web(member(slow, "slow"), member(fast, "fast"))
	b.LBMethod = registry.ByBusyness
	f := newFixture(t, b)

	// The first request goes to slow (ties are broken byrequests) and stays.
	go func() {
		if res, err := f.front.Client().Get(f.front.URL + "/bar/"); err == nil {
			res.Body.Close()
		}
	}()
	<-started
	// Requests that find slow busy go to fast.
	got := map[string]int{}
	for range 20 {
		_, body, _ := f.get(t, "/bar/", "")
		got[body]++
	}
	if got["slow"] != 0 || got["fast"] != 20 {
		t.Errorf("with slow holding requests: %v, want all 20 new requests on fast", got)
	}
}

// blockingWriter stands for a disk that stops taking writes: Write blocks
// until release is closed.
type blockingWriter struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	buf     bytes.Buffer
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.entered) })
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// TestAccessLogSlowDiskDoesNotStallRequests: while the access log's
// writer is stuck in a write, requests are still answered; the log queues
// lines up to its limit and drops (and counts) the rest, and writes the
// queued ones once the disk takes writes again.
func TestAccessLogSlowDiskDoesNotStallRequests(t *testing.T) {
	oak := pub(t, "oak")
	w := &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
	l := proxy.NewAccessLog(w, proxy.Combined)
	proxy.SetAccessLogMaxPending(l, 5)
	store := registry.NewStore()
	if _, err := store.Update(func(d *registry.Draft) error {
		if err := d.PutBalancer(web(member(oak, "oak"))); err != nil {
			return err
		}
		d.SetRoutes([]*registry.Route{barRoute()})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	h := proxy.New(store, proxy.Options{Log: slog.New(slog.DiscardHandler), AccessLog: l})
	front := proxytest.Start(t, h, edge, proxy.ServerOptions{})
	get := func(path string) {
		t.Helper()
		res, body, _ := raw(t, front.Addr, "GET "+path+" HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n")
		if res.StatusCode != 200 || body != "oak" {
			t.Fatalf("GET %s: %d %q", path, res.StatusCode, body)
		}
	}
	get("/bar/first")
	flushed := make(chan error, 1)
	go func() { flushed <- l.Flush() }() // the disk hangs in this write
	<-w.entered
	for i := range 20 {
		get("/bar/" + strconv.Itoa(i)) // raw gives each 5 s
	}
	if d := l.Dropped(); d != 15 {
		t.Errorf("dropped %d lines, want 15 (20 requests, 5 queued)", d)
	}
	close(w.release)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(w.buf.String()), "\n")
	want := []string{"/bar/first", "/bar/0", "/bar/1", "/bar/2", "/bar/3", "/bar/4"}
	if len(lines) != len(want) {
		t.Fatalf("access log:\n%s\nwant %d lines", w.buf.String(), len(want))
	}
	for i, p := range want {
		if !strings.Contains(lines[i], `"GET `+p+` HTTP/1.1" 200 `) {
			t.Errorf("line %d = %q, want the request for %s", i, lines[i], p)
		}
	}
}
