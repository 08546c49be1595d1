package proxy_test

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/barkeep-lb/barkeep/internal/proxy"
	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/internal/testnet"
)

// fixedMember starts a raw HTTP/1.1 member on loopback that answers every
// request on a connection with the same 100-byte response, as the bench
// harness's backend does, and allocates nothing per request (so
// allocation counts are the proxy's).
func fixedMember(tb testing.TB, route string) string {
	body := strings.Repeat("x", 100)
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Backend-Route: " + route +
		"\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	return testnet.Serve(tb, func(c net.Conn) {
		defer c.Close()
		buf := make([]byte, 16<<10)
		pending := 0
		for {
			n, err := c.Read(buf[pending:])
			if err != nil {
				return
			}
			pending += n
			for {
				i := bytes.Index(buf[:pending], []byte("\r\n\r\n"))
				if i < 0 {
					break
				}
				if _, err := c.Write(resp); err != nil {
					return
				}
				copy(buf, buf[i+4:pending])
				pending -= i + 4
			}
		}
	})
}

const benchRequest = "GET /bar/pint?x=1 HTTP/1.1\r\nHost: lb\r\nUser-Agent: wrk\r\nCookie: JSESSIONID=0123456789ABCDEF.node2\r\n\r\n"

// serveLoop returns a function that runs one request (raw, HTTP/1.1)
// through h's HTTP/1.x edge the way fasthttp's server does, reusing one
// RequestCtx, and checks the status.
func serveLoop(tb testing.TB, h *proxy.Handler, raw string) func() {
	var ctx fasthttp.RequestCtx
	ctx.Init(&fasthttp.Request{}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	rd := strings.NewReader(raw)
	br := bufio.NewReader(rd)
	return func() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		rd.Reset(raw)
		br.Reset(rd)
		if err := ctx.Request.Read(br); err != nil {
			tb.Fatal(err)
		}
		h.ServeFastHTTP(&ctx)
		if ctx.Response.StatusCode() != 200 {
			tb.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
}

func staticHandler(tb testing.TB, opts ...proxy.Options) *proxy.Handler {
	store := registry.NewStore()
	_, err := store.Update(func(d *registry.Draft) error {
		d.SetRoutes([]*registry.Route{barRoute()})
		return d.PutBalancer(web(memberAt(fixedMember(tb, "node1"), "node1"), memberAt(fixedMember(tb, "node2"), "node2")))
	})
	if err != nil {
		tb.Fatal(err)
	}
	o := proxy.Options{}
	if len(opts) > 0 {
		o = opts[0]
	}
	o.Log = slog.New(slog.DiscardHandler)
	h := proxy.New(store, o)
	tb.Cleanup(h.CloseIdleConnections)
	return h
}

func mcmpHandler(tb testing.TB) *proxy.Handler {
	store := registry.NewStore()
	_, err := store.Update(func(d *registry.Draft) error {
		if err := d.PutBalancer(&registry.Balancer{Name: "mycluster", StickySession: []string{"JSESSIONID"}, StickySessionSep: '.',
			LBMethod: registry.Cluster, Cluster: &registry.ClusterSettings{}}); err != nil {
			return err
		}
		for i, route := range []string{"node1", "node2"} {
			host, port, _ := net.SplitHostPort(fixedMember(tb, route))
			n := &registry.Node{ID: i, JVMRoute: route, Balancer: "mycluster", Type: "http", Host: host, Port: port, Smax: -1,
				Hosts:    []registry.HostAlias{{ID: i, Vhost: 1, Alias: "localhost"}},
				Contexts: []*registry.Context{{ID: i, Vhost: 1, Path: "/bar", State: registry.ContextEnabled, Requests: new(atomic.Int64)}}}
			if err := d.PutNode(n); err != nil {
				return err
			}
			n.Stats.Load.Store(50)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	h := proxy.New(store, proxy.Options{Log: slog.New(slog.DiscardHandler)})
	tb.Cleanup(h.CloseIdleConnections)
	return h
}

// BenchmarkHandler is barkeep's whole HTTP/1.x request path against a
// loopback member: header checks, path normalisation, route match, sticky
// route, selection, forwarding over a pooled connection, response relay,
// counters.
func BenchmarkHandler(b *testing.B) {
	serve := serveLoop(b, staticHandler(b), benchRequest)
	b.ReportAllocs()
	for b.Loop() {
		serve()
	}
}

// BenchmarkHandlerMCMP is BenchmarkHandler for requests routed by MCMP
// context rows: two nodes of one cluster balancer serving /bar; a request
// with its session on node2, and one without a session.
func BenchmarkHandlerMCMP(b *testing.B) {
	h := mcmpHandler(b)
	b.Run("sticky", func(b *testing.B) {
		serve := serveLoop(b, h, benchRequest)
		b.ReportAllocs()
		for b.Loop() {
			serve()
		}
	})
	b.Run("new session", func(b *testing.B) {
		serve := serveLoop(b, h, strings.Replace(benchRequest, "Cookie: JSESSIONID=0123456789ABCDEF.node2\r\n", "", 1))
		b.ReportAllocs()
		for b.Loop() {
			serve()
		}
	})
}

// TestRequestPathAllocations keeps the HTTP/1.x request path free of
// per-request allocations: a sticky request to a static route, and MCMP
// requests with and without a session.
func TestRequestPathAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	combined, json := proxy.NewAccessLog(io.Discard, proxy.Combined), proxy.NewAccessLog(io.Discard, proxy.JSON)
	for _, tt := range []struct {
		name string
		h    *proxy.Handler
		raw  string
		log  *proxy.AccessLog
	}{
		{"static route, sticky", staticHandler(t), benchRequest, nil},
		{"static route, access log", staticHandler(t, proxy.Options{AccessLog: combined}), benchRequest, combined},
		{"static route, JSON access log", staticHandler(t, proxy.Options{AccessLog: json}), benchRequest, json},
		{"mcmp context, sticky", mcmpHandler(t), benchRequest, nil},
		{"mcmp context, new session", mcmpHandler(t), strings.Replace(benchRequest, "Cookie: JSESSIONID=0123456789ABCDEF.node2\r\n", "", 1), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			serve := serveLoop(t, tt.h, tt.raw)
			if tt.log != nil {
				// The log's writer keeps up (as Run does), so its line
				// buffers come back to the pool.
				serveOnly := serve
				serve = func() { serveOnly(); tt.log.Flush() }
			}
			serve() // warm the pools and connections
			if allocs := testing.AllocsPerRun(200, serve); allocs > 0 {
				t.Errorf("%v allocations per request, want 0", allocs)
			}
		})
	}
}
