package proxy_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/ajp"
	"github.com/barkeep-lb/barkeep/internal/proxy"
	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/internal/testnet"
)

// ajpContainer serves AJP13 on loopback: it answers every forward request
// with a body naming route and what it was told about the client. With
// silent it accepts and never answers.
func ajpContainer(t *testing.T, route string, silent bool) string {
	t.Helper()
	return testnet.Serve(t, func(nc net.Conn) {
		if silent {
			io.Copy(io.Discard, nc)
			return
		}
		serveAJP(nc, route, func(fr *ajp.ForwardRequest) string {
			host, cookie := "", ""
			for _, h := range fr.Headers {
				switch strings.ToLower(h.Name) {
				case "host":
					host = h.Value
				case "cookie":
					cookie = h.Value
				}
			}
			return route + " uri=" + fr.URI + " remote=" + fr.RemoteAddr + " host=" + host + " secret=" + fr.Secret + " cookie=" + cookie
		})
	})
}

// serveAJP serves AJP13 on nc as a container until it closes: CPONG for
// CPING, and for every forward request a 200 with a session cookie for
// route and the body body(request).
func serveAJP(nc net.Conn, route string, body func(*ajp.ForwardRequest) string) {
	br := bufio.NewReader(nc)
	buf := make([]byte, ajp.DefaultPacketSize)
	for {
		p, err := ajp.ReadPacket(br, buf, ajp.MagicToContainer)
		if err != nil {
			return
		}
		if p[0] == ajp.CodeCPing {
			nc.Write(ajp.AppendPacket(nil, ajp.MagicFromContainer, []byte{ajp.CodeCPong}))
			continue
		}
		fr, err := ajp.ParseForwardRequest(p)
		if err != nil {
			return
		}
		sh := ajp.SendHeaders{Status: 200, Headers: []ajp.Header{{Name: "Set-Cookie", Value: "JSESSIONID=S." + route + "; Path=/bar"}}}
		out := ajp.AppendPacket(nil, ajp.MagicFromContainer, sh.AppendPayload(nil))
		out = ajp.AppendPacket(out, ajp.MagicFromContainer, ajp.AppendBodyChunk(nil, []byte(body(fr))))
		out = ajp.AppendPacket(out, ajp.MagicFromContainer, []byte{ajp.CodeEndResponse, 1})
		nc.Write(out)
	}
}

func ajpMember(addr, route string) *registry.Member {
	m := memberAt(addr, route)
	m.URL.Scheme = "ajp"
	m.Name = m.URL.String()
	return m
}

func TestAJPMembers(t *testing.T) {
	tc1, tc2 := ajpMember(ajpContainer(t, "tc1", false), "tc1"), ajpMember(ajpContainer(t, "tc2", false), "tc2")
	tc1.Secret, tc2.Secret = "s3cret", "s3cret"
	f := newFixture(t, web(tc1, tc2))
	seen := map[string]int{}
	for range 10 {
		status, body, _ := f.get(t, "/bar/x%20y", "")
		if status != 200 {
			t.Fatalf("status %d %q", status, body)
		}
		seen[strings.Fields(body)[0]]++
		frontHost := strings.TrimPrefix(f.front.URL, "http://")
		if !strings.Contains(body, "uri=/bar/x%20y remote=127.0.0.1 host="+frontHost+" secret=s3cret") {
			t.Errorf("container saw %q", body)
		}
	}
	if seen["tc1"] != 5 || seen["tc2"] != 5 {
		t.Errorf("ajp members shares %v", seen)
	}
	for range 10 {
		if _, body, _ := f.get(t, "/bar/", "S.tc2"); !strings.HasPrefix(body, "tc2 ") || !strings.Contains(body, "cookie=JSESSIONID=S.tc2") {
			t.Fatalf("sticky ajp request: %q", body)
		}
	}
}

func TestAJPPingTimeoutFailsOver(t *testing.T) {
	hung := ajpMember(ajpContainer(t, "hung", true), "hung")
	hung.Ping = 100 * time.Millisecond
	ok := ajpMember(ajpContainer(t, "ok", false), "ok")
	f := newFixture(t, web(hung, ok)) // byrequests tries hung first
	status, body, _ := f.get(t, "/bar/", "")
	if status != 200 || !strings.HasPrefix(body, "ok ") {
		t.Fatalf("first member never answers CPING: %d %q, want the request served by the other", status, body)
	}
	if !f.member("hung").InError(f.clock.Now().UnixNano()) {
		t.Error("member without CPONG not in error state")
	}
	// A POST with a body may also go elsewhere: nothing was sent.
	f.clock.Advance(f.member("hung").Retry) // its retry is due
	f.member("hung").Stats.Elected.Store(0)
	res, err := f.front.Client().Post(f.front.URL+"/bar/", "text/plain", strings.NewReader("data"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Set-Cookie") != "JSESSIONID=S.ok; Path=/bar" {
		t.Errorf("POST after a failed CPING: %d %q", res.StatusCode, res.Header.Get("Set-Cookie"))
	}
	if f.member("hung").Stats.Elected.Load() != 1 {
		t.Error("the POST did not try the hung member first")
	}
}

// TestHungAJPMemberWithHealthCheck is TestHungMemberWithHealthCheck with
// ajp:// members and a 1 s CPING check: one of two containers is frozen
// (SIGSTOP) under load; the requests waiting for its headers are withdrawn
// when the check fails and served by the other, none fails, and traffic
// flows again within 2 s (the member's timeout is 10 s).
func TestHungAJPMemberWithHealthCheck(t *testing.T) {
	aAddr, a := memberProcessOf(t, "a", "ajp")
	bAddr, _ := memberProcessOf(t, "b", "ajp")
	check := func() *registry.HealthCheck {
		return &registry.HealthCheck{Method: registry.CheckCPING, Interval: time.Second, Timeout: 300 * time.Millisecond, Passes: 1, Fails: 1}
	}
	ma, mb := ajpMember(aAddr, "a"), ajpMember(bAddr, "b")
	ma.Check, mb.Check = check(), check()
	f := newFixture(t, web(ma, mb))
	startHealthChecks(t, f)

	out, stoppedAt := hangRun(t, f, a)
	checkHangRun(t, out, stoppedAt, 2*time.Second)
	if !f.member("a").Stats.HCFail.Load() {
		t.Error("frozen container passes its CPING check")
	}
}

// TestHungAJPMemberWithPing is TestHungAJPMemberWithHealthCheck with
// ping: 5s on both members (a CPING before every request, as mod_cluster
// nodes have by default): the requests waiting for the frozen container's
// CPONG are withdrawn as well when its check fails, and go to the other
// member; none fails and traffic flows again within 2 s.
func TestHungAJPMemberWithPing(t *testing.T) {
	aAddr, a := memberProcessOf(t, "a", "ajp")
	bAddr, _ := memberProcessOf(t, "b", "ajp")
	ma, mb := ajpMember(aAddr, "a"), ajpMember(bAddr, "b")
	for _, m := range []*registry.Member{ma, mb} {
		m.Ping = 5 * time.Second
		m.Check = &registry.HealthCheck{Method: registry.CheckCPING, Interval: time.Second, Timeout: 300 * time.Millisecond, Passes: 1, Fails: 1}
	}
	f := newFixture(t, web(ma, mb))
	startHealthChecks(t, f)

	out, stoppedAt := hangRun(t, f, a)
	checkHangRun(t, out, stoppedAt, 2*time.Second)
}

// TestHungAJPMemberWithoutHealthCheck is TestHungMemberWithoutHealthCheck
// with ajp:// members and failontimeout off: the frozen container's first
// timeout (2 s) finds other requests waiting on it and no response from it
// in half that time, so it is hung, not slow: it goes into error state and
// its other waiting requests go to the other member; none fails.
func TestHungAJPMemberWithoutHealthCheck(t *testing.T) {
	aAddr, a := memberProcessOf(t, "a", "ajp")
	bAddr, _ := memberProcessOf(t, "b", "ajp")
	ma, mb := ajpMember(aAddr, "a"), ajpMember(bAddr, "b")
	ma.Timeout, mb.Timeout = 2*time.Second, 2*time.Second
	bal := web(ma, mb)
	bal.FailOnTimeout = false
	f := newFixture(t, bal)

	out, stoppedAt := hangRun(t, f, a)
	checkHangRun(t, out, stoppedAt, 2500*time.Millisecond)
	if !f.member("a").InError(f.clock.Now().UnixNano()) {
		t.Error("frozen container not in error state after its timeout")
	}
}

// TestAJPHangDetect is TestHangDetect with ajp:// members: with
// hang_detect 500ms and no health check, the frozen container is put in
// error state by the hang watcher and its waiting requests go elsewhere
// within 1.5 s, long before their 10 s timeout.
func TestAJPHangDetect(t *testing.T) {
	aAddr, a := memberProcessOf(t, "a", "ajp")
	bAddr, _ := memberProcessOf(t, "b", "ajp")
	f := newFixtureWith(t, proxy.Options{HangDetect: 500 * time.Millisecond, HangWatch: 50 * time.Millisecond},
		web(ajpMember(aAddr, "a"), ajpMember(bAddr, "b")))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.h.Run(ctx)

	out, stoppedAt := hangRun(t, f, a)
	checkHangRun(t, out, stoppedAt, 1500*time.Millisecond)
	if !f.member("a").InError(f.clock.Now().UnixNano()) {
		t.Error("frozen container not in error state")
	}
}

// TestBrokenLoadDuringCPING: a request waiting for the CPONG of an ajp
// node that then reports Load -1 goes to the other node (nothing of it was
// sent), and the node is not put in error state for it: a node at Load -1
// still serves its sessions.
func TestBrokenLoadDuringCPING(t *testing.T) {
	pinged := make(chan struct{}, 1)
	mute := testnet.Serve(t, func(nc net.Conn) { // reads the CPING, never answers
		select {
		case pinged <- struct{}{}:
		default:
		}
		io.Copy(io.Discard, nc)
	})
	store := twoNodesOf(t, "ajp", mute, ajpContainer(t, "b", false))
	a := store.Load().Node("a")
	f := frontFor(t, store)
	go func() {
		select {
		case <-pinged:
			a.Stats.Load.Store(-1)
		case <-time.After(5 * time.Second):
		}
	}()
	res, body, _ := raw(t, f.Addr, "POST /app/x HTTP/1.1\r\nHost: localhost\r\nCookie: JSESSIONID=1234.a\r\nContent-Length: 2\r\n\r\nhi")
	if res.StatusCode != 200 || !strings.HasPrefix(body, "b ") {
		t.Errorf("POST waiting for the CPONG of a node that reports Load -1: %d %q, want 200 from b", res.StatusCode, body)
	}
	if m := store.Load().Node("a").Member(); m.InError(time.Now().UnixNano()) {
		t.Error("node a in error state after a Load -1 withdrawal during its CPING")
	}
}

// stuckAJPContainer answers CPING but holds every forward request: it
// calls got, then reads until the connection closes, and only then (too
// late) answers with route.
func stuckAJPContainer(t *testing.T, route string, got func()) string {
	return testnet.Serve(t, func(nc net.Conn) {
		serveAJP(nc, route, func(*ajp.ForwardRequest) string {
			got()
			io.Copy(io.Discard, nc)
			return route
		})
	})
}

// TestBrokenLoadWithdrawsWaitingAJPRequest is
// TestBrokenLoadWithdrawsWaitingRequest with ajp nodes: a GET waiting for
// the headers of a node whose agent then reports Load -1 is withdrawn
// from it and answered by the other node, long before the node's timeout
// (a minute).
func TestBrokenLoadWithdrawsWaitingAJPRequest(t *testing.T) {
	got := make(chan struct{}, 1)
	hung := stuckAJPContainer(t, "a", func() {
		select {
		case got <- struct{}{}:
		default:
		}
	})
	store := twoNodesOf(t, "ajp", hung, ajpContainer(t, "b", false))
	a := store.Load().Node("a")
	f := frontFor(t, store)
	go func() {
		select {
		case <-got:
			a.Stats.Load.Store(-1) // what STATUS with Load=-1 does
		case <-time.After(5 * time.Second):
		}
	}()
	start := time.Now()
	res, body, _ := raw(t, f.Addr, "GET /app/x HTTP/1.1\r\nHost: localhost\r\nCookie: JSESSIONID=1234.a\r\n\r\n")
	if res.StatusCode != 200 || !strings.HasPrefix(body, "b ") {
		t.Errorf("GET stuck on an ajp node that reports Load -1 (after %v): %d %q, want 200 from b", time.Since(start), res.StatusCode, body)
	}
}

// TestBrokenAJPNodeStillServesItsSessions is
// TestBrokenNodeStillServesItsSessions with ajp nodes: a node that already
// reported Load -1 keeps the sticky request it answers slowly.
func TestBrokenAJPNodeStillServesItsSessions(t *testing.T) {
	slow := testnet.Serve(t, func(nc net.Conn) {
		serveAJP(nc, "a", func(*ajp.ForwardRequest) string {
			time.Sleep(300 * time.Millisecond) // past a few of the waiting request's looks
			return "a"
		})
	})
	store := twoNodesOf(t, "ajp", slow, ajpContainer(t, "b", false))
	store.Load().Node("a").Stats.Load.Store(-1)
	f := frontFor(t, store)
	res, body, _ := raw(t, f.Addr, "GET /app/x HTTP/1.1\r\nHost: localhost\r\nCookie: JSESSIONID=1234.a\r\n\r\n")
	if res.StatusCode != 200 || body != "a" {
		t.Errorf("sticky request to an ajp node reporting Load -1: %d %q, want 200 from a", res.StatusCode, body)
	}
}
