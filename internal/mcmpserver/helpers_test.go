package mcmpserver_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/fakeclock"
	"github.com/barkeep-lb/barkeep/internal/mcmpserver"
	"github.com/barkeep-lb/barkeep/internal/proxy"
	"github.com/barkeep-lb/barkeep/internal/proxy/proxytest"
	"github.com/barkeep-lb/barkeep/internal/registry"
)

// cluster is a manager listener and a client listener over one registry.
type cluster struct {
	store *registry.Store
	srv   *mcmpserver.Server
	mgr   *httptest.Server
	front *proxytest.Front
	clock *fakeclock.Clock
}

func newCluster(t *testing.T, configure ...func(*mcmpserver.Options)) *cluster {
	t.Helper()
	c := &cluster{store: registry.NewStore(), clock: fakeclock.New()}
	opts := mcmpserver.Options{Now: c.clock.Now, Log: slog.New(slog.DiscardHandler), Release: "barkeep/test"}
	for _, f := range configure {
		f(&opts)
	}
	c.srv = mcmpserver.New(c.store, opts)
	c.mgr = httptest.NewServer(c.srv)
	t.Cleanup(c.mgr.Close)
	h := proxy.New(c.store, proxy.Options{Now: c.clock.Now, Log: slog.New(slog.DiscardHandler)})
	c.front = proxytest.Start(t, h, proxytest.HTTP1, proxy.ServerOptions{})
	return c
}

// fakeProbe makes every probe succeed except for the host:ports in down.
func fakeProbe(down *sync.Map) func(*mcmpserver.Options) {
	return func(o *mcmpserver.Options) {
		o.Probe = func(_ context.Context, _, hostport string, _ time.Duration) error {
			if _, ok := down.Load(hostport); ok {
				return io.ErrUnexpectedEOF
			}
			return nil
		}
	}
}

type answer struct {
	status     int
	typ, mess  string
	body       string
	contentTyp string
}

// send sends one MCMP message the way the Java worker does (no
// Content-Type) and returns the answer.
func (c *cluster) send(t *testing.T, method, target, body string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, c.mgr.URL+target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", "ClusterListener/1.0")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.mgr.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{status: res.StatusCode, typ: res.Header.Get("Type"), mess: res.Header.Get("Mess"), body: string(b), contentTyp: res.Header.Get("Content-Type")}
}

// ok sends a message that must succeed and returns the answer body.
func (c *cluster) ok(t *testing.T, method, target, body string) string {
	t.Helper()
	a := c.send(t, method, target, body)
	if a.status != 200 {
		t.Fatalf("%s %s %q = %d %s %q", method, target, body, a.status, a.typ, a.mess)
	}
	return a.body
}

// node is a Tomcat-like backend: it answers "<route> <path>", sets
// JSESSIONID=<n>.<route> for requests without its own session, and counts
// requests in flight. hold, when set, keeps requests until it is closed.
type node struct {
	route    string
	srv      *httptest.Server
	inFlight atomic.Int64
	served   atomic.Int64
	hold     chan struct{}
	sessions atomic.Int64
}

func startNode(t *testing.T, route string) *node {
	t.Helper()
	n := &node{route: route}
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.inFlight.Add(1)
		defer n.inFlight.Add(-1)
		if n.hold != nil {
			<-n.hold
		}
		w.Header().Set("X-Cookie", r.Header.Get("Cookie"))
		if c, err := r.Cookie("JSESSIONID"); err != nil || !strings.HasSuffix(c.Value, "."+route) {
			http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: "S" + itoa(n.sessions.Add(1)) + "." + route, Path: "/"})
		}
		n.served.Add(1)
		io.WriteString(w, route+" "+r.URL.Path)
	}))
	t.Cleanup(n.srv.Close)
	return n
}

func itoa(i int64) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func (n *node) hostPort() (string, string) {
	u, _ := url.Parse(n.srv.URL)
	h, p, _ := net.SplitHostPort(u.Host)
	return h, p
}

// register sends what the Java worker sends at startup for n: CONFIG with
// its defaults plus extra, ENABLE-APP for each context, STATUS with load.
func (c *cluster) register(t *testing.T, n *node, extra string, load int, contexts ...string) {
	t.Helper()
	h, p := n.hostPort()
	c.ok(t, "CONFIG", "/", "JVMRoute="+n.route+"&Host="+h+"&Port="+p+"&StickySessionForce=No&Type=http"+extra)
	for _, ctx := range contexts {
		c.ok(t, "ENABLE-APP", "/", "JVMRoute="+n.route+"&Alias=default-host%2Clocalhost&Context="+url.QueryEscape(ctx))
	}
	c.ok(t, "STATUS", "/", "JVMRoute="+n.route+"&Load="+itoa(int64(load)))
}

// get sends a client request through the proxy.
func (c *cluster) get(t *testing.T, path, cookie string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, c.front.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != "" {
		req.Header.Set("Cookie", "JSESSIONID="+cookie)
	}
	res, err := c.front.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// servedBy returns the route that answered a "route path" body.
func servedBy(body string) string {
	r, _, _ := strings.Cut(body, " ")
	return r
}

func registryStore() *registry.Store { return registry.NewStore() }
