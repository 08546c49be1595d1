package proxy_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/internal/testnet"
)

// recorder is a member that records every request it gets and answers
// with its route.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	method, uri, host string
	header            http.Header
	body              string
	trailer           http.Header
}

func newRecorder(t *testing.T, route string) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.Server = newBackend(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{r.Method, r.RequestURI, r.Host, r.Header.Clone(), string(body), r.Trailer.Clone()})
		rec.mu.Unlock()
		w.Header().Set("X-Route", route)
		io.WriteString(w, route)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *recorder) got() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]recorded(nil), rec.reqs...)
}

func (rec *recorder) uris() []string {
	var out []string
	for _, r := range rec.got() {
		out = append(out, r.uri)
	}
	return out
}

// raw sends request bytes to addr on a new connection and returns the
// response, and whether the connection was closed after it (a read after
// the response sees EOF or a reset within a second).
func raw(t *testing.T, addr, request string) (*http.Response, string, bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no HTTP answer to %q: %v", request, err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	c.SetReadDeadline(time.Now().Add(time.Second))
	_, err = br.ReadByte()
	var ne net.Error
	closed := err != nil && !(errors.As(err, &ne) && ne.Timeout()) // EOF or reset
	return res, string(body), closed
}

// TestPathsCannotWalkAroundRules sends the path tricks that got past route
// exclusions before paths were normalised: none reaches the member.
func TestPathsCannotWalkAroundRules(t *testing.T) {
	app := newRecorder(t, "app")
	f := newFixture(t, web(member(app.Server, "app")),
		&registry.Route{Path: "/app", Pass: true, BalancerName: "web", TargetPath: "/app"},
		&registry.Route{Path: "/app/admin", Pass: false},
		&registry.Route{Path: "/m", Pass: true, BalancerName: "web", TargetPath: "/internal/public"})
	for _, tt := range []struct {
		path   string
		status int
	}{
		{"/app/x/../admin/secret", 404},
		{"/app/./admin/secret", 404},
		{"/app//admin/secret", 404},
		{"/app/%2e%2e/app/admin/secret", 404},
		{"/app/%2E%2e/app/admin/secret", 404},
		{"/app/x/..;/admin/secret", 404},
		{"/app/.;x=1/admin/secret", 404},
		{"/app/%61dmin/secret", 404},
		{"/app/admin%2Fsecret", 404},
		{"/app/../../etc/passwd", 400},
		{"/m/../../secret", 400},
		{"/m/../secret", 404},
		{`/app\..\admin`, 400},
	} {
		res, body, _ := raw(t, f.front.Addr, "GET "+tt.path+" HTTP/1.1\r\nHost: lb\r\n\r\n")
		if res.StatusCode != tt.status {
			t.Errorf("GET %s: %d %q, want %d", tt.path, res.StatusCode, body, tt.status)
		}
	}
	if got := app.uris(); len(got) != 0 {
		t.Fatalf("the member got %q; want nothing", got)
	}
	// What does pass is forwarded normalised, under target_path.
	for _, tt := range []struct{ path, want string }{
		{"/app/x/../y?q=1", "/app/y?q=1"},
		{"/app//a/./b", "/app/a/b"},
		{"/%61pp/%7euser", "/app/~user"},
		{"/m/a/../b", "/internal/public/b"},
		{"/m", "/internal/public"},
		{"/m;v=2/c", "/internal/public;v=2/c"},
		{"/app/page;jsessionid=abc.app", "/app/page;jsessionid=abc.app"},
	} {
		before := len(app.got())
		res, body, _ := raw(t, f.front.Addr, "GET "+tt.path+" HTTP/1.1\r\nHost: lb\r\n\r\n")
		if res.StatusCode != 200 {
			t.Errorf("GET %s: %d %q", tt.path, res.StatusCode, body)
			continue
		}
		if got := app.uris(); len(got) != before+1 || got[before] != tt.want {
			t.Errorf("GET %s reached the member as %q, want %q", tt.path, got[before:], tt.want)
		}
	}
}

// TestPathsCannotWalkAroundMCMPContexts: a node that registered only /app
// gets nothing outside it, however the path is spelled.
func TestPathsCannotWalkAroundMCMPContexts(t *testing.T) {
	app := newRecorder(t, "node1")
	store := registry.NewStore()
	host, port, _ := net.SplitHostPort(app.Listener.Addr().String())
	_, err := store.Update(func(d *registry.Draft) error {
		if err := d.PutBalancer(&registry.Balancer{Name: "mycluster", StickySession: []string{"JSESSIONID", "jsessionid"},
			StickySessionSep: '.', LBMethod: registry.Cluster, Cluster: &registry.ClusterSettings{}}); err != nil {
			return err
		}
		n := &registry.Node{ID: 1, JVMRoute: "node1", Balancer: "mycluster", Type: memberScheme, Host: host, Port: port,
			Hosts:    []registry.HostAlias{{ID: 1, Vhost: 1, Alias: "localhost"}},
			Contexts: []*registry.Context{registry.NewContext(1, 1, "/app", registry.ContextEnabled)}}
		return d.PutNode(n)
	})
	if err != nil {
		t.Fatal(err)
	}
	store.Load().Node("node1").Stats.Load.Store(50)
	f := frontFor(t, store)
	for _, path := range []string{"/app/../manager/html", "/app/%2e%2e/manager/html", "/app/..;/manager/html", "/app/x/../../manager/html", "/manager/html"} {
		res, body, _ := raw(t, f.Addr, "GET "+path+" HTTP/1.1\r\nHost: localhost\r\n\r\n")
		if res.StatusCode != 404 {
			t.Errorf("GET %s: %d %q, want 404", path, res.StatusCode, body)
		}
	}
	if got := app.uris(); len(got) != 0 {
		t.Fatalf("the node got %q; want nothing", got)
	}
	res, _, _ := raw(t, f.Addr, "GET /app/x/../y HTTP/1.1\r\nHost: localhost\r\n\r\n")
	if got := app.uris(); res.StatusCode != 200 || len(got) != 1 || got[0] != "/app/y" {
		t.Errorf("GET /app/x/../y: %d, node got %q, want /app/y", res.StatusCode, got)
	}
}

// TestPathParameterSession: ";jsessionid=" still routes the session
// although matching ignores path parameters.
func TestPathParameterSession(t *testing.T) {
	elm, oak := newRecorder(t, "elm"), newRecorder(t, "oak")
	f := newFixture(t, web(member(elm.Server, "elm"), member(oak.Server, "oak")))
	for range 6 {
		status, body, _ := f.get(t, "/bar/pint;jsessionid=8E1F0A.oak?x=1", "")
		if status != 200 || body != "oak" {
			t.Fatalf("sticky path parameter: %d %q, want oak", status, body)
		}
	}
	if got := oak.uris(); len(got) != 6 || got[0] != "/bar/pint;jsessionid=8E1F0A.oak?x=1" {
		t.Errorf("oak got %q, want the path with its parameter", got)
	}
}

// TestMalformedRequests sends ambiguous and malformed requests as raw
// bytes: each gets its status at once (no waiting for a timeout), the
// connection is closed where RFC 9112 says so, and the member sees no
// request smuggled behind them.
func TestMalformedRequests(t *testing.T) {
	app := newRecorder(t, "app")
	f := newFixture(t, web(member(app.Server, "app")))
	smuggled := "GET /bar/smuggled HTTP/1.1\r\nHost: lb\r\n\r\n"
	many := ""
	for i := range 101 {
		many += "X-H" + strconv.Itoa(i) + ": v\r\n"
	}
	for _, tt := range []struct {
		name, request string
		status        int
		closed        bool
	}{
		{"CL and TE", "POST /bar/ HTTP/1.1\r\nHost: lb\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, 400, true},
		{"TE and CL", "POST /bar/ HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\n" + smuggled, 400, true},
		{"duplicate CL", "POST /bar/ HTTP/1.1\r\nHost: lb\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400, true},
		{"CL +5", "POST /bar/ HTTP/1.1\r\nHost: lb\r\nContent-Length: +5\r\n\r\nhello", 400, true},
		{"CL 0x5", "POST /bar/ HTTP/1.1\r\nHost: lb\r\nContent-Length: 0x5\r\n\r\nhello", 400, true},
		{"CL -1", "POST /bar/ HTTP/1.1\r\nHost: lb\r\nContent-Length: -1\r\n\r\nhello", 400, true},
		{"CL list", "POST /bar/ HTTP/1.1\r\nHost: lb\r\nContent-Length: 5, 6\r\n\r\nhello", 400, true},
		{"TE gzip", "POST /bar/ HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: gzip\r\n\r\n", 400, true},
		{"TE identity", "POST /bar/ HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: identity\r\n\r\n", 501, true},
		{"two TE", "POST /bar/ HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, true},
		{"chunk size garbage", "POST /bar/ HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n" + smuggled, 400, true},
		{"chunk size overflow", "POST /bar/ HTTP/1.1\r\nHost: lb\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n" + smuggled, 400, true},
		{"obs-fold", "GET /bar/ HTTP/1.1\r\nHost: lb\r\nX-A: 1\r\n  folded\r\n\r\n", 400, true},
		{"bare LF in headers", "GET /bar/ HTTP/1.1\r\nHost: lb\nX-A: 1\r\n\r\n", 400, true},
		{"too many fields", "GET /bar/ HTTP/1.1\r\nHost: lb\r\n" + many + "\r\n", 431, true},
		{"CONNECT", "CONNECT lb:443 HTTP/1.1\r\nHost: lb:443\r\n\r\n", 405, true},
		{"short malformed", "GET /\r\n\r\n", 400, true},
		{"no method", " / HTTP/1.1\r\nHost: lb\r\n\r\n", 400, true},
		{"HTTP/9.9", "GET /bar/ HTTP/9.9\r\nHost: lb\r\n\r\n", 505, true},
		{"MCMP method", "CONFIG / HTTP/1.1\r\nHost: lb\r\n\r\n", 501, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			res, body, closed := raw(t, f.front.Addr, tt.request)
			if res.StatusCode != tt.status {
				t.Errorf("status %d %q, want %d", res.StatusCode, body, tt.status)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("answered after %v, want at once", took)
			}
			if closed != tt.closed {
				t.Errorf("connection closed after the answer: %v, want %v", closed, tt.closed)
			}
			if res.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type %q", res.Header.Get("Content-Type"))
			}
		})
	}
	for _, r := range app.got() {
		if r.uri == "/bar/smuggled" {
			t.Fatalf("a smuggled request reached the member: %+v", r)
		}
		if r.method == "POST" && r.body != "" {
			t.Errorf("a refused request reached the member with its body: %+v", r)
		}
	}
}

// TestUpgradeH2CIsNotForwarded: an h2c upgrade is neither answered nor
// passed on; the request goes to the member as plain HTTP/1.1.
func TestUpgradeH2CIsNotForwarded(t *testing.T) {
	app := newRecorder(t, "app")
	f := newFixture(t, web(member(app.Server, "app")))
	res, body, _ := raw(t, f.front.Addr, "GET /bar/ HTTP/1.1\r\nHost: lb\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
	if res.StatusCode != 200 || body != "app" {
		t.Fatalf("h2c upgrade request: %d %q, want 200 from the member", res.StatusCode, body)
	}
	got := app.got()
	if len(got) != 1 {
		t.Fatalf("member got %d requests", len(got))
	}
	for _, h := range []string{"Upgrade", "Http2-Settings", "Connection"} {
		if v := got[0].header.Get(h); v != "" {
			t.Errorf("member got %s: %q", h, v)
		}
	}
}

// TestHopByHopHeadersBothWays: hop-by-hop headers and those named in
// Connection are removed from requests and responses; nothing is added to
// a response (no Content-Type where the member sent none).
func TestHopByHopHeadersBothWays(t *testing.T) {
	var seen http.Header
	var mu sync.Mutex
	app := newBackend(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		mu.Unlock()
		w.Header().Set("Connection", "X-Secret-Hop")
		w.Header().Set("X-Secret-Hop", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Kept", "yes")
		w.Header()["Content-Type"] = nil // no sniffing by the member either
		w.Write([]byte{0x89, 'P', 'N', 'G', 0, 1, 2})
	}))
	t.Cleanup(app.Close)
	f := newFixture(t, web(member(app, "app")))
	res, body, _ := raw(t, f.front.Addr, "GET /bar/ HTTP/1.1\r\nHost: lb\r\nConnection: X-Drop\r\nX-Drop: 1\r\nKeep-Alive: 300\r\nProxy-Authorization: Basic eDp5\r\nTE: trailers\r\nX-Keep: 1\r\n\r\n")
	if res.StatusCode != 200 || len(body) != 7 {
		t.Fatalf("%d %q", res.StatusCode, body)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, h := range []string{"X-Drop", "Keep-Alive", "Proxy-Authorization", "Te", "Connection"} {
		if v := seen.Get(h); v != "" {
			t.Errorf("member got %s: %q", h, v)
		}
	}
	if seen.Get("X-Keep") != "1" {
		t.Error("an end-to-end request header was dropped")
	}
	for _, h := range []string{"X-Secret-Hop", "Keep-Alive"} {
		if v := res.Header.Get(h); v != "" {
			t.Errorf("client got %s: %q", h, v)
		}
	}
	if res.Header.Get("X-Kept") != "yes" {
		t.Error("an end-to-end response header was dropped")
	}
	if ct, ok := res.Header["Content-Type"]; ok {
		t.Errorf("client got Content-Type %q; the member sent none", ct)
	}
}

// TestExpectContinue: a client that waits for 100 Continue before its body
// gets it, and the body reaches the member.
func TestExpectContinue(t *testing.T) {
	app := newRecorder(t, "app")
	f := newFixture(t, web(member(app.Server, "app")))
	c, err := net.Dial("tcp", f.front.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST /bar/ HTTP/1.1\r\nHost: lb\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("before the body: %q %v, want 100 Continue", line, err)
	}
	br.ReadString('\n') // the blank line ending the interim response
	io.WriteString(c, "hello")
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("final response: %v %v", res, err)
	}
	if got := app.got(); len(got) != 1 || got[0].body != "hello" || got[0].header.Get("Expect") != "" {
		t.Errorf("member got %+v", got)
	}
}

// TestHTTP10Client: an HTTP/1.0 client gets an HTTP/1.0-framed response,
// also when the member's response has no length.
func TestHTTP10Client(t *testing.T) {
	app := newBackend(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "part one, ")
		w.(http.Flusher).Flush() // no Content-Length: chunked from the member
		io.WriteString(w, "part two")
	}))
	t.Cleanup(app.Close)
	f := newFixture(t, web(member(app, "app")))
	res, body, closed := raw(t, f.front.Addr, "GET /bar/ HTTP/1.0\r\n\r\n")
	if res.StatusCode != 200 || body != "part one, part two" {
		t.Fatalf("HTTP/1.0 client: %d %q", res.StatusCode, body)
	}
	if len(res.TransferEncoding) != 0 {
		t.Errorf("HTTP/1.0 client got Transfer-Encoding %q", res.TransferEncoding)
	}
	if !closed {
		t.Error("connection left open after a response to HTTP/1.0 without keep-alive")
	}
}

// TestServerSentEventsFlow: a streamed response reaches the client piece
// by piece, while the member is still sending.
func TestServerSentEventsFlow(t *testing.T) {
	next := make(chan struct{})
	app := newBackend(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		<-next
		io.WriteString(w, "data: two\n\n")
	}))
	t.Cleanup(app.Close)
	f := newFixture(t, web(member(app, "app")))
	res, err := f.front.Client().Get(f.front.URL + "/bar/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	if line, err := br.ReadString('\n'); err != nil || line != "data: one\n" {
		t.Fatalf("first event while the member waits: %q %v", line, err)
	}
	close(next)
	rest, _ := io.ReadAll(br)
	if string(rest) != "\ndata: two\n\n" {
		t.Errorf("rest of the stream: %q", rest)
	}
}

// TestTrailers: trailers of a chunked request reach the member, and those
// of a chunked response reach the client.
func TestTrailers(t *testing.T) {
	var got atomic.Pointer[http.Header]
	app := newBackend(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		tr := r.Trailer.Clone()
		got.Store(&tr)
		w.Header().Set("Trailer", "X-Checksum")
		io.WriteString(w, "body")
		w.(http.Flusher).Flush()
		w.Header().Set("X-Checksum", "abc")
	}))
	t.Cleanup(app.Close)
	f := newFixture(t, web(member(app, "app")))
	req, _ := http.NewRequest(http.MethodPost, f.front.URL+"/bar/", io.MultiReader(strings.NewReader("data")))
	req.ContentLength = -1
	req.Trailer = http.Header{"X-Req-Sum": {"42"}}
	res, err := f.front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(res.Body)
	res.Body.Close()
	if tr := got.Load(); tr == nil || tr.Get("X-Req-Sum") != "42" {
		t.Errorf("member got request trailers %v, want X-Req-Sum: 42", tr)
	}
	if res.Trailer.Get("X-Checksum") != "abc" {
		t.Errorf("client got response trailers %v, want X-Checksum: abc", res.Trailer)
	}
}

// TestUnasked101: a member that switches protocols for a request that
// asked for no WebSocket upgrade does not get the client's connection.
func TestUnasked101(t *testing.T) {
	member := testnet.Serve(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\nraw bytes past every rule")
	})
	f := newFixture(t, web(memberAt(member, "m")))
	res, body, _ := raw(t, f.front.Addr, "GET /bar/ HTTP/1.1\r\nHost: lb\r\n\r\n")
	if res.StatusCode != http.StatusBadGateway || strings.Contains(body, "raw bytes") {
		t.Errorf("unasked 101: %d %q, want 502", res.StatusCode, body)
	}
}

// TestRequestTargetForms: an absolute-form request-target is served like
// its path; a request without Host is refused.
func TestRequestTargetForms(t *testing.T) {
	app := newRecorder(t, "app")
	f := newFixture(t, web(member(app.Server, "app")))
	res, body, _ := raw(t, f.front.Addr, "GET http://lb/bar/x/../y?q=1 HTTP/1.1\r\nHost: lb\r\n\r\n")
	if got := app.uris(); res.StatusCode != 200 || len(got) != 1 || got[0] != "/bar/y?q=1" {
		t.Errorf("absolute form: %d %q, member got %q", res.StatusCode, body, got)
	}
	res, body, closed := raw(t, f.front.Addr, "GET /bar/ HTTP/1.1\r\n\r\n")
	if res.StatusCode != http.StatusBadRequest || !closed {
		t.Errorf("no Host: %d %q (closed %v), want 400 and closed", res.StatusCode, body, closed)
	}
}

// TestBareLFRequestLine documents what fasthttp's parser cannot be made to
// refuse: a request line ending in a bare LF (the header lines are
// checked). It is no smuggling vector here: barkeep writes its own request
// line to the member, so a member never sees the client's framing.
func TestBareLFRequestLine(t *testing.T) {
	app := newRecorder(t, "app")
	f := newFixture(t, web(member(app.Server, "app")))
	res, _, _ := raw(t, f.front.Addr, "GET /bar/ HTTP/1.1\nHost: lb\r\n\r\n")
	if got := app.uris(); res.StatusCode != 200 || len(got) != 1 || got[0] != "/bar/" {
		// If fasthttp starts refusing it, make this a refusal test.
		t.Errorf("bare LF request line: %d, member got %q; want it served (a known gap)", res.StatusCode, got)
	}
}

// TestBigResponseHeaders: a member's response whose headers take 12 KiB
// (long Set-Cookie and Content-Security-Policy values are common) reaches
// the client whole; nginx's default (proxy_buffer_size 4k) refuses it with
// 502. Past 16 KiB the answer is 502, as HAProxy's.
func TestBigResponseHeaders(t *testing.T) {
	cookie := strings.Repeat("c", 6<<10)
	csp := strings.Repeat("p", 6<<10)
	app := newBackend(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Set-Cookie", "big="+cookie)
		w.Header().Set("Content-Security-Policy", csp)
		if r.URL.Query().Has("huge") {
			w.Header().Set("X-Huge", strings.Repeat("h", 8<<10))
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(app.Close)
	f := newFixture(t, web(member(app, "app")))
	for range 2 { // a new connection, then a pooled one
		status, body, res := f.get(t, "/bar/", "")
		if status != http.StatusOK || body != "ok" {
			t.Fatalf("status %d body %q, want 200 ok", status, body)
		}
		if res.Header.Get("Set-Cookie") != "big="+cookie || res.Header.Get("Content-Security-Policy") != csp {
			t.Error("the big headers did not arrive whole")
		}
	}
	if status, _, _ := f.get(t, "/bar/?huge", ""); status != http.StatusBadGateway {
		t.Errorf("20 KiB of response headers: status %d, want 502", status)
	}
}
