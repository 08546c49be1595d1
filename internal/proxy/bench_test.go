package proxy_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/barkeep-lb/barkeep/internal/proxy"
	"github.com/barkeep-lb/barkeep/internal/registry"
)

// stub answers every request with a fixed 100-byte response, as the
// benchmark harness's backend does, without a network.
type stub struct{ body []byte }

func (s stub) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	h := make(http.Header, 3)
	h["Content-Type"] = []string{"text/plain"}
	h["Content-Length"] = []string{strconv.Itoa(len(s.body))}
	h["X-Backend-Route"] = []string{"node1"}
	return &http.Response{StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, ContentLength: int64(len(s.body)), Body: io.NopCloser(bytes.NewReader(s.body)), Request: req}, nil
}

// benchRecorder is a reusable ResponseWriter, so the benchmarks measure the
// proxy, not httptest.
type benchRecorder struct {
	h    http.Header
	code int
	n    int
}

func (r *benchRecorder) Header() http.Header         { return r.h }
func (r *benchRecorder) WriteHeader(code int)        { r.code = code }
func (r *benchRecorder) Write(p []byte) (int, error) { r.n += len(p); return len(p), nil }

func benchRequest() *http.Request {
	req := httptest.NewRequest(http.MethodGet, "http://lb/bar/pint?x=1", nil)
	req.Header.Set("User-Agent", "wrk")
	req.Header.Set("Cookie", "JSESSIONID=0123456789ABCDEF.node2")
	return req
}

func benchServe(b *testing.B, h http.Handler) {
	b.Helper()
	benchServeRequest(b, h, benchRequest())
}

func benchServeRequest(b *testing.B, h http.Handler, req *http.Request) {
	b.Helper()
	w := &benchRecorder{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
		if w.code != 200 {
			b.Fatalf("status %d", w.code)
		}
	}
}

// BenchmarkHandler is barkeep's whole request path with a stub transport:
// route match, sticky route, selection, ReverseProxy, counters.
func BenchmarkHandler(b *testing.B) {
	store := registry.NewStore()
	u1, _ := url.Parse("http://127.0.0.1:27081")
	u2, _ := url.Parse("http://127.0.0.1:27082")
	_, err := store.Update(func(d *registry.Draft) error {
		d.SetRoutes([]*registry.Route{barRoute()})
		return d.PutBalancer(web(memberAt(u1.Host, "node1"), memberAt(u2.Host, "node2")))
	})
	if err != nil {
		b.Fatal(err)
	}
	h := proxy.New(store, proxy.Options{Log: slog.New(slog.DiscardHandler), Transport: stub{make([]byte, 100)}})
	benchServe(b, h)
}

// BenchmarkPlainReverseProxy is the floor: httputil.ReverseProxy alone with
// the same stub, round robin over two URLs.
func BenchmarkPlainReverseProxy(b *testing.B) {
	targets := []*url.URL{{Scheme: "http", Host: "127.0.0.1:27081"}, {Scheme: "http", Host: "127.0.0.1:27082"}}
	var n int
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			n++
			pr.SetURL(targets[n%2])
			pr.SetXForwarded()
		},
		Transport: stub{make([]byte, 100)},
	}
	benchServe(b, rp)
}

// BenchmarkHandlerMCMP is BenchmarkHandler for requests routed by MCMP
// context rows: two nodes of one cluster balancer serving /bar; a request
// with its session on node2, and one without a session.
func BenchmarkHandlerMCMP(b *testing.B) {
	store := registry.NewStore()
	_, err := store.Update(func(d *registry.Draft) error {
		if err := d.PutBalancer(&registry.Balancer{Name: "mycluster", StickySession: []string{"JSESSIONID"}, StickySessionSep: '.',
			LBMethod: registry.Cluster, Cluster: &registry.ClusterSettings{}}); err != nil {
			return err
		}
		for i, route := range []string{"node1", "node2"} {
			n := &registry.Node{ID: i, JVMRoute: route, Balancer: "mycluster", Type: "http", Host: "127.0.0.1", Port: strconv.Itoa(27081 + i),
				Hosts:    []registry.HostAlias{{ID: i, Vhost: 1, Alias: "localhost"}},
				Contexts: []*registry.Context{{ID: i, Vhost: 1, Path: "/bar", State: registry.ContextEnabled, Requests: new(atomic.Int64)}}}
			if err := d.PutNode(n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	h := proxy.New(store, proxy.Options{Log: slog.New(slog.DiscardHandler), Transport: stub{make([]byte, 100)}})
	b.Run("sticky", func(b *testing.B) { benchServe(b, h) })
	b.Run("new session", func(b *testing.B) {
		req := benchRequest()
		req.Header.Del("Cookie")
		benchServeRequest(b, h, req)
	})
}
