package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/ajp"
	"github.com/barkeep-lb/barkeep/internal/health"
	"github.com/barkeep-lb/barkeep/internal/proxy"
	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/internal/testnet"
)

// TestMain lets the test binary run as a member process of its own
// (BARKEEP_TEST_MEMBER=route, speaking BARKEEP_TEST_MEMBER_PROTO: http,
// h2c or ajp), so a test can freeze it with SIGSTOP as an operator's hung JVM
// would be.
func TestMain(m *testing.M) {
	if route := os.Getenv("BARKEEP_TEST_MEMBER"); route != "" {
		serveMemberProcess(route, os.Getenv("BARKEEP_TEST_MEMBER_PROTO"))
		return
	}
	// The fault and streaming tests load the machine: not beside the
	// other heavy packages (see testnet.Exclusive).
	os.Exit(testnet.RunExclusive(m))
}

// serveMemberProcess listens on loopback, prints its address on stdout and
// answers every request with its route, over HTTP/1.1, HTTP/2 without TLS
// (proto "h2c") or AJP13 (proto "ajp"), until stdin closes.
func serveMemberProcess(route, proto string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(l.Addr().String())
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	if proto == "ajp" {
		for {
			c, err := l.Accept()
			if err != nil {
				os.Exit(1)
			}
			go serveAJP(c, route, func(*ajp.ForwardRequest) string { return route })
		}
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, route)
	})}
	if proto == "h2c" {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	srv.Serve(l)
}

// memberProcess starts the test binary as an HTTP member process and
// returns its address; it is killed (and continued first, if stopped) when
// the test ends.
func memberProcess(t *testing.T, route string) (string, *os.Process) {
	t.Helper()
	return memberProcessOf(t, route, "http")
}

// memberProcessOf is memberProcess for a member speaking proto (http, h2c
// or ajp).
func memberProcessOf(t *testing.T, route, proto string) (string, *os.Process) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "BARKEEP_TEST_MEMBER="+route, "BARKEEP_TEST_MEMBER_PROTO="+proto)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGCONT)
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("member process: %v", err)
	}
	return strings.TrimSpace(addr), cmd.Process
}

// outcome is one client request of a load run.
type outcome struct {
	start, end time.Time
	status     int
	body       string
	err        error
}

// load runs clients goroutines sending GETs to url until stop, each request
// bounded by 10 s, and returns every outcome.
func load(client *http.Client, url string, clients int, stop <-chan struct{}) []outcome {
	var mu sync.Mutex
	var out []outcome
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				o := outcome{start: time.Now()}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				res, err := client.Do(req)
				if err == nil {
					b, rerr := io.ReadAll(res.Body)
					res.Body.Close()
					o.status, o.body, err = res.StatusCode, string(b), rerr
				}
				cancel()
				o.err, o.end = err, time.Now()
				mu.Lock()
				out = append(out, o)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

// hangRun freezes member a (a process) with SIGSTOP while 16 clients load
// the front, and reports every outcome and when a was stopped.
func hangRun(t *testing.T, f *fixture, a *os.Process) ([]outcome, time.Time) {
	t.Helper()
	for range 20 { // warm both members and the connection pools up
		f.get(t, "/bar/", "")
	}
	stop := make(chan struct{})
	var stoppedAt time.Time
	go func() {
		time.Sleep(time.Second)
		stoppedAt = time.Now()
		a.Signal(syscall.SIGSTOP)
		time.Sleep(4 * time.Second)
		close(stop)
	}()
	out := load(f.front.Client(), f.front.URL+"/bar/", 16, stop)
	return out, stoppedAt
}

// checkHangRun asserts that no request failed, that every request started
// more than within after the freeze went to b (throughput came back by
// then: the frozen member takes nothing), and that no request waited on
// the frozen member much longer than within (the member's own timeout is
// 10 s).
func checkHangRun(t *testing.T, out []outcome, stoppedAt time.Time, within time.Duration) {
	t.Helper()
	var failed, toA, after int
	var worst time.Duration
	for _, o := range out {
		if o.err != nil || o.status != 200 {
			failed++
			if failed <= 3 {
				t.Errorf("request at +%v: %d %q %v", o.start.Sub(stoppedAt), o.status, o.body, o.err)
			}
			continue
		}
		if o.start.After(stoppedAt.Add(within)) {
			after++
			if o.body != "b" {
				toA++
			}
		}
		if o.end.After(stoppedAt) && o.end.Sub(o.start) > worst {
			worst = o.end.Sub(o.start)
		}
	}
	t.Logf("%d requests, %d started %v after the freeze, longest wait %v", len(out), after, within, worst)
	if failed > 0 {
		t.Errorf("%d of %d idempotent requests failed while a member hung, want 0", failed, len(out))
	}
	if after == 0 || toA > 0 {
		t.Errorf("%d requests started %v after the freeze, %d of them went to the frozen member", after, within, toA)
	}
	// Slack for a busy machine; a request stuck until the member's timeout
	// would wait 10 s.
	if worst > within+2*time.Second {
		t.Errorf("a request waited %v; want it withdrawn from the frozen member within %v", worst, within)
	}
}

// TestHungMemberWithHealthCheck: one of two members is frozen (SIGSTOP)
// under load, with a 1 s health check. Requests waiting on it are withdrawn
// when the check fails and served by the other member: no idempotent
// request fails, and traffic flows again within 2 s.
func TestHungMemberWithHealthCheck(t *testing.T) {
	aAddr, a := memberProcess(t, "a")
	b := pub(t, "b")
	check := func() *registry.HealthCheck {
		hc := &registry.HealthCheck{Method: registry.CheckGET, URI: "/", Interval: time.Second, Timeout: 300 * time.Millisecond, Passes: 1, Fails: 1}
		hc.Status.Add(200, 399)
		return hc
	}
	ma, mb := memberAt(aAddr, "a"), member(b, "b")
	ma.Check, mb.Check = check(), check()
	f := newFixture(t, web(ma, mb))
	startHealthChecks(t, f)

	out, stoppedAt := hangRun(t, f, a)
	checkHangRun(t, out, stoppedAt, 2*time.Second)
	if !f.member("a").Stats.HCFail.Load() {
		t.Error("frozen member passes its health check")
	}
}

// TestHungMemberWithoutHealthCheck: without a health check the frozen
// member is out after its first timeout (2 s here): other requests waited
// on it too and it answered nothing since, so it is hung, not slow; its
// waiting requests go to the other member, and none fails, although the
// balancer has failontimeout off.
func TestHungMemberWithoutHealthCheck(t *testing.T) {
	aAddr, a := memberProcess(t, "a")
	b := pub(t, "b")
	ma, mb := memberAt(aAddr, "a"), member(b, "b")
	ma.Timeout, mb.Timeout = 2*time.Second, 2*time.Second
	bal := web(ma, mb)
	bal.FailOnTimeout = false
	f := newFixture(t, bal)

	out, stoppedAt := hangRun(t, f, a)
	checkHangRun(t, out, stoppedAt, 2500*time.Millisecond)
	if !f.member("a").InError(f.clock.Now().UnixNano()) {
		t.Error("frozen member not in error state after its timeout")
	}
}

// abortingMember answers every request with headers announcing size bytes,
// sends 10 of them, then resets the connection.
func abortingMember(t *testing.T, size int) string {
	return testnet.Serve(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\r\n" {
				break
			}
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n0123456789", size)
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	})
}

// TestMemberAbortsMidBody: a member that resets its connection after the
// headers and part of the body is in error after its first such response.
// A body small enough to be read whole was not passed on yet, so an
// idempotent request goes to the other member; a streamed one is cut off at
// the client, and the access log says so.
func TestMemberAbortsMidBody(t *testing.T) {
	t.Run("read whole", func(t *testing.T) {
		bad, good := memberAt(abortingMember(t, 1000), "bad"), member(pub(t, "good"), "good")
		f := newFixture(t, web(bad, good)) // byrequests tries bad first
		status, body, _ := f.get(t, "/bar/", "")
		if status != 200 || body != "good" {
			t.Fatalf("first request: %d %q, want it served by the other member", status, body)
		}
		m := f.member("bad")
		if !m.InError(f.clock.Now().UnixNano()) || m.Stats.Errors.Load() != 1 {
			t.Errorf("member that aborts its body: in error %v, errors %d; want in error after the first", m.InError(f.clock.Now().UnixNano()), m.Stats.Errors.Load())
		}
	})
	t.Run("streamed", func(t *testing.T) {
		bad := memberAt(abortingMember(t, 1<<20), "bad")
		f := newFixture(t, web(bad, member(pub(t, "good"), "good")))
		res, err := f.front.Client().Get(f.front.URL + "/bar/")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err == nil {
			t.Errorf("client read a cut-off body (%d bytes) as complete", len(body))
		}
		m := f.member("bad")
		if !m.InError(f.clock.Now().UnixNano()) || m.Stats.Errors.Load() != 1 {
			t.Errorf("member that aborts its body: in error %v, errors %d", m.InError(f.clock.Now().UnixNano()), m.Stats.Errors.Load())
		}
		waitFor(t, func() bool { return strings.Contains(f.access.String()+flush(f), "fault=abort") })
		if line := f.accessLines(t)[0]; !strings.Contains(line, `" 200 10 `) || !strings.HasSuffix(line, "fault=abort") {
			t.Errorf("access log line %q, want status 200, the 10 bytes sent, fault=abort", line)
		}
	})
}

// TestSlowRequestBody: a client sending its body slower than the minimum
// rate gets 408 within the configured time, and the member's connection is
// closed (it never sees a complete request).
func TestSlowRequestBody(t *testing.T) {
	var mu sync.Mutex
	complete := 0
	member := testnet.Serve(t, func(c net.Conn) {
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, req.Body); err == nil {
			mu.Lock()
			complete++
			mu.Unlock()
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		}
	})
	opts := proxy.Options{BodyRate: proxy.BodyRate{Timeout: time.Second, MinRate: 100_000}}
	f := newFixtureWith(t, opts, web(memberAt(member, "m")))
	for _, tt := range []struct {
		name string
		size int
		fast int // bytes sent at once before the trickle
	}{
		{"read before forwarding", 100, 10},
		{"streamed to the member", 200_000, 100_000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", f.front.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			fmt.Fprintf(c, "POST /bar/ HTTP/1.1\r\nHost: lb\r\nContent-Length: %d\r\n\r\n", tt.size)
			c.Write(bytes.Repeat([]byte("x"), tt.fast))
			answered := make(chan *http.Response, 1)
			go func() {
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				res, _ := http.ReadResponse(bufio.NewReader(c), nil)
				answered <- res
			}()
			var res *http.Response
		trickle:
			for range 40 {
				select {
				case res = <-answered:
					break trickle
				case <-time.After(200 * time.Millisecond):
					c.Write([]byte("x")) // 5 bytes per second
				}
			}
			if res == nil {
				res = <-answered
			}
			took := time.Since(start)
			if res == nil || res.StatusCode != http.StatusRequestTimeout {
				t.Fatalf("slow body: %v, want 408", res)
			}
			// 1 s plus a second per 100,000 bytes received.
			if limit := time.Second + time.Duration(tt.fast)*time.Second/100_000 + time.Second; took > limit {
				t.Errorf("408 after %v, want within %v", took, limit)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if complete != 0 {
		t.Errorf("the member read %d complete bodies, want none", complete)
	}
}

// TestHangDetect: with hang_detect, a frozen member is put in error state
// once requests have waited that long for it while it answered nothing,
// well before its own timeout (10 s here); its waiting requests go to the
// other member and none fails.
func TestHangDetect(t *testing.T) {
	aAddr, a := memberProcess(t, "a")
	b := pub(t, "b")
	f := newFixtureWith(t, proxy.Options{HangDetect: 500 * time.Millisecond, HangWatch: 50 * time.Millisecond},
		web(memberAt(aAddr, "a"), member(b, "b")))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.h.Run(ctx)

	out, stoppedAt := hangRun(t, f, a)
	checkHangRun(t, out, stoppedAt, 1500*time.Millisecond)
	if !f.member("a").InError(f.clock.Now().UnixNano()) {
		t.Error("frozen member not in error state")
	}
}

// startHealthChecks runs the health checker over f's registry until the
// test ends.
func startHealthChecks(t *testing.T, f *fixture) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go health.NewChecker(f.store, health.CheckerOptions{Log: slog.New(slog.DiscardHandler)}).Run(ctx)
}

// twoNodes returns a registry with MCMP nodes "a" at aAddr and "b" at
// bAddr in balancer mycluster (maxattempts 1, as a CONFIG sets it), both
// of Type memberScheme serving /app for localhost with a node timeout of a
// minute.
func twoNodes(t *testing.T, aAddr, bAddr string) *registry.Store {
	t.Helper()
	return twoNodesOf(t, memberScheme, aAddr, bAddr)
}

// twoNodesOf is twoNodes with nodes of Type scheme. Both report Load 50.
func twoNodesOf(t *testing.T, scheme, aAddr, bAddr string) *registry.Store {
	t.Helper()
	store := registry.NewStore()
	_, err := store.Update(func(d *registry.Draft) error {
		if err := d.PutBalancer(&registry.Balancer{Name: "mycluster", StickySession: []string{"JSESSIONID", "jsessionid"},
			StickySessionSep: '.', LBMethod: registry.Cluster, Cluster: &registry.ClusterSettings{}, MaxAttempts: 1}); err != nil {
			return err
		}
		for i, addr := range []string{aAddr, bAddr} {
			host, port, _ := net.SplitHostPort(addr)
			route := string(rune('a' + i))
			n := &registry.Node{ID: i + 1, JVMRoute: route, Balancer: "mycluster", Type: scheme, Host: host, Port: port,
				Timeout:  time.Minute,
				Hosts:    []registry.HostAlias{{ID: i + 1, Vhost: 1, Alias: "localhost"}},
				Contexts: []*registry.Context{registry.NewContext(i+1, 1, "/app", registry.ContextEnabled)}}
			if err := d.PutNode(n); err != nil {
				return err
			}
			n.Stats.Load.Store(50) // as after the node's first STATUS
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// TestBrokenLoadWithdrawsWaitingRequest: a GET waiting on an MCMP node
// whose agent then reports Load -1 (the backend stopped answering) is
// withdrawn from it and answered by the other node, long before the
// node's timeout.
func TestBrokenLoadWithdrawsWaitingRequest(t *testing.T) {
	got := make(chan struct{}, 1)
	hung := testnet.Serve(t, func(c net.Conn) {
		defer c.Close()
		if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
			got <- struct{}{}
		}
		io.Copy(io.Discard, c) // never answers; ends when the test closes it
	})
	other := newRecorder(t, "b")
	store := twoNodes(t, hung, other.Listener.Addr().String())
	a := store.Load().Node("a")
	f := frontFor(t, store)
	go func() {
		select {
		case <-got:
			a.Stats.Load.Store(-1) // what STATUS with Load=-1 does
		case <-time.After(5 * time.Second):
		}
	}()
	res, body, _ := raw(t, f.Addr, "GET /app/x HTTP/1.1\r\nHost: localhost\r\nCookie: JSESSIONID=1234.a\r\n\r\n")
	if res.StatusCode != 200 || body != "b" {
		t.Errorf("GET stuck on a node that reports Load -1: %d %q, want 200 from b", res.StatusCode, body)
	}
}

// TestBrokenNodeStillServesItsSessions: a node that already reported
// Load -1 still gets its sticky requests (mod_cluster's rule), and one it
// answers slowly is not withdrawn from it.
func TestBrokenNodeStillServesItsSessions(t *testing.T) {
	slow := newBackend(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond) // past a few of the waiting request's looks
		io.WriteString(w, "a")
	}))
	t.Cleanup(slow.Close)
	other := newRecorder(t, "b")
	store := twoNodes(t, slow.Listener.Addr().String(), other.Listener.Addr().String())
	store.Load().Node("a").Stats.Load.Store(-1)
	f := frontFor(t, store)
	res, body, _ := raw(t, f.Addr, "GET /app/x HTTP/1.1\r\nHost: localhost\r\nCookie: JSESSIONID=1234.a\r\n\r\n")
	if res.StatusCode != 200 || body != "a" {
		t.Errorf("sticky request to a node reporting Load -1: %d %q, want 200 from a", res.StatusCode, body)
	}
}

// TestHungH2CMember: the hung-member tests with h2c:// members (HTTP/2
// without TLS, on net/http's transport): with a 1 s health check, and with
// hang_detect alone, a frozen member's waiting GETs go to the other member
// and none fails.
func TestHungH2CMember(t *testing.T) {
	for _, tt := range []struct {
		name  string
		check bool
		opts  proxy.Options
	}{
		{"health check", true, proxy.Options{}},
		{"hang_detect", false, proxy.Options{HangDetect: 500 * time.Millisecond, HangWatch: 50 * time.Millisecond}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			aAddr, a := memberProcessOf(t, "a", "h2c")
			bAddr, _ := memberProcessOf(t, "b", "h2c")
			ma, mb := memberAt(aAddr, "a"), memberAt(bAddr, "b")
			ma.URL.Scheme, mb.URL.Scheme = "h2c", "h2c"
			if tt.check {
				for _, m := range []*registry.Member{ma, mb} {
					m.Check = &registry.HealthCheck{Method: registry.CheckGET, URI: "/", Interval: time.Second, Timeout: 300 * time.Millisecond, Passes: 1, Fails: 1}
					m.Check.Status.Add(200, 399)
				}
			}
			f := newFixtureWith(t, tt.opts, web(ma, mb))
			if tt.check {
				startHealthChecks(t, f)
			} else {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				go f.h.Run(ctx)
			}
			out, stoppedAt := hangRun(t, f, a)
			checkHangRun(t, out, stoppedAt, 2*time.Second)
			if !f.member("a").InError(f.clock.Now().UnixNano()) && !f.member("a").Stats.HCFail.Load() {
				t.Error("frozen member neither in error state nor failing its check")
			}
		})
	}
}
