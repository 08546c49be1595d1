package agent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/barkeep-lb/barkeep/internal/mcmpserver"
	"github.com/barkeep-lb/barkeep/internal/registry"
)

// memBalancer is a barkeep manager (the real MCMP handler) reached in
// memory, so the agent's loops run under synctest's fake clock. It records
// every message as "METHOD /target body".
type memBalancer struct {
	mu    sync.Mutex
	store *registry.Store
	h     http.Handler // nil: the balancer is down (connection refused)
	msgs  []string
	tries []time.Time // every exchange, also while down
}

func newMemBalancer() *memBalancer {
	b := &memBalancer{}
	b.restart()
	return b
}

// restart replaces the manager with a fresh one that knows no node.
func (b *memBalancer) restart() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.store = registry.NewStore()
	b.h = mcmpserver.New(b.store, mcmpserver.Options{
		Probe: func(context.Context, string, string, time.Duration) error { return nil },
		// STOP-APP answers at once: these tests end requests with
		// Requests.Add, which does not wake a STOP-APP waiting for them.
		StopAppWait: -1,
	})
}

func (b *memBalancer) setDown() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.h = nil
}

func (b *memBalancer) RoundTrip(r *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	h := b.h
	if h != nil {
		b.msgs = append(b.msgs, r.Method+" "+r.URL.Path+" "+string(body))
	}
	b.tries = append(b.tries, time.Now())
	b.mu.Unlock()
	if h == nil {
		return nil, errors.New("connect: connection refused")
	}
	in := httptest.NewRequest(r.Method, r.URL.String(), bytes.NewReader(body))
	in.RemoteAddr = "127.0.0.1:40000"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, in)
	return rec.Result(), nil
}

// take returns the messages since the last take, methods and targets only
// (STATUS with its Load).
func (b *memBalancer) take() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.msgs {
		f := strings.SplitN(m, " ", 3)
		s := f[0] + " " + f[1]
		if f[0] == "STATUS" {
			_, load, _ := strings.Cut(f[2], "Load=")
			s += " " + load
		}
		out = append(out, s)
	}
	b.msgs = nil
	return out
}

// node returns the balancer's view of route, or nil.
func (b *memBalancer) node(route string) *registry.Node {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.store.Load().Node(route)
}

func (b *memBalancer) context(t *testing.T, route, path string) *registry.Context {
	t.Helper()
	n := b.node(route)
	if n == nil {
		t.Fatalf("balancer does not know %s", route)
	}
	for _, c := range n.Contexts {
		if c.Path == path {
			return c
		}
	}
	t.Fatalf("balancer has no context %s on %s", path, route)
	return nil
}

func newTestAgent(t *testing.T, b *memBalancer, opts Options) *Agent {
	t.Helper()
	opts.Route = "n1"
	opts.Backend = "http://127.0.0.1:8080"
	opts.Proxies = []string{"127.0.0.1:6666"}
	opts.Transport = b
	if opts.Interval == 0 {
		opts.Interval = 10 * time.Second
	}
	opts.Log = slog.New(slog.DiscardHandler)
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func gauge(v *atomic.Int64) MetricSpec {
	return MetricSpec{Kind: Custom, Capacity: 100, Func: func(context.Context) (float64, error) { return float64(v.Load()), nil }}
}

func run(t *testing.T, a *Agent) context.CancelFunc {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return cancel
}

func equal(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}

func TestRegistersInfoFirstAndReportsLoadEachInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newMemBalancer()
		var v atomic.Int64
		v.Store(20)
		a := newTestAgent(t, b, Options{Metrics: []MetricSpec{gauge(&v)}, Contexts: []string{"/app"}})
		run(t, a)
		synctest.Wait()
		equal(t, "first period", b.take(), "INFO /", "CONFIG /", "ENABLE-APP /", "STATUS / 80")
		n := b.node("n1")
		if n == nil || n.Host != "127.0.0.1" || n.Port != "8080" || n.Type != "http" || n.Stats.Load.Load() != 80 {
			t.Fatalf("balancer's node: %+v", n)
		}
		if c := b.context(t, "n1", "/app"); c.State != registry.ContextEnabled {
			t.Errorf("/app is %v, want enabled", c.State)
		}

		// The metric doubles: within one interval the balancer has the new
		// Load, (0.4 + 0.2/2)/1.5 → 67.
		v.Store(40)
		time.Sleep(10*time.Second + time.Millisecond)
		synctest.Wait()
		equal(t, "second period", b.take(), "STATUS / 67")
		if got := b.node("n1").Stats.Load.Load(); got != 67 {
			t.Errorf("balancer's Load %d, want 67", got)
		}
	})
}

func TestReRegistersWhenTheBalancerRestarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newMemBalancer()
		a := newTestAgent(t, b, Options{Metrics: []MetricSpec{{Kind: Static, Factor: 50}}})
		run(t, a)
		synctest.Wait()
		b.take()

		b.restart() // forgets the node
		start := time.Now()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		equal(t, "after the restart", b.take(), "STATUS / 50")
		// The STATUS was refused (MEM: unknown node): the first retry comes
		// after a tenth of the interval and registers from INFO on.
		time.Sleep(time.Second)
		synctest.Wait()
		equal(t, "retry", b.take(), "INFO /", "CONFIG /", "ENABLE-APP /", "STATUS / 50")
		if n := b.node("n1"); n == nil || n.Stats.Load.Load() != 50 {
			t.Fatalf("node not back with Load 50: %+v", n)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("re-registered after %v, want within two intervals", d)
		}
	})
}

func TestBacksOffWhileTheBalancerIsDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newMemBalancer()
		a := newTestAgent(t, b, Options{Metrics: []MetricSpec{{Kind: Static, Factor: 50}}})
		b.setDown()
		start := time.Now()
		run(t, a)
		time.Sleep(30 * time.Second)
		synctest.Wait()
		// Tries at 0 s, then after 1, 2, 4, 8 s and then every interval
		// (10 s): 0, 1, 3, 7, 15, 25 s.
		var at []string
		b.mu.Lock()
		for _, tr := range b.tries {
			at = append(at, tr.Sub(start).String())
		}
		b.mu.Unlock()
		equal(t, "tries", at, "0s", "1s", "3s", "7s", "15s", "25s")
		b.restart()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		equal(t, "back at 35 s", b.take(), "INFO /", "CONFIG /", "ENABLE-APP /", "STATUS / 50")
	})
}

func TestSyntaxRefusalStopsTalkingToThatBalancer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newMemBalancer()
		var calls atomic.Int32
		b.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.Header().Set("Type", "SYNTAX")
			w.Header().Set("Mess", "SYNTAX: Command is not supported")
			w.WriteHeader(500)
		})
		a := newTestAgent(t, b, Options{})
		run(t, a)
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := calls.Load(); n != 1 {
			t.Errorf("%d messages in a minute after a SYNTAX answer, want 1", n)
		}
	})
}

func TestBackendDownReportsMinusOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newMemBalancer()
		var down atomic.Bool
		a := newTestAgent(t, b, Options{
			Metrics: []MetricSpec{{Kind: Static, Factor: 70}},
			Check: func(context.Context) error {
				if down.Load() {
					return errors.New("connection refused")
				}
				return nil
			},
		})
		run(t, a)
		synctest.Wait()
		b.take()
		down.Store(true)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		equal(t, "backend down", b.take(), "STATUS / -1")
		down.Store(false)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		equal(t, "backend back", b.take(), "STATUS / 70")
	})
}

func TestInfoShowsWhatIsAlreadyRegistered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newMemBalancer()
		static := []MetricSpec{{Kind: Static, Factor: 50}}
		first := newTestAgent(t, b, Options{Metrics: static, Contexts: []string{"/app", "/old"}})
		ctx, cancel := context.WithCancel(t.Context())
		go first.Run(ctx)
		synctest.Wait()
		cancel()
		b.take()

		// The same node comes back (an agent restart) with /app only: /app
		// is ENABLED already, /old is obsolete.
		second := newTestAgent(t, b, Options{Metrics: static, Contexts: []string{"/app"}})
		run(t, second)
		synctest.Wait()
		equal(t, "second start", b.take(), "INFO /", "REMOVE-APP /", "CONFIG /", "STATUS / 50")
		for _, c := range b.node("n1").Contexts {
			if c.Path == "/old" {
				t.Errorf("/old still registered")
			}
		}

		// Other aliases than the balancer holds: start from scratch.
		b.take()
		third := newTestAgent(t, b, Options{Metrics: static, Contexts: []string{"/app"}, Aliases: []string{"example.com"}})
		run(t, third)
		synctest.Wait()
		equal(t, "new aliases", b.take(), "INFO /", "REMOVE-APP /*", "CONFIG /", "ENABLE-APP /", "STATUS / 50")
	})
}

func TestShutdownDrainsThenRemoves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newMemBalancer()
		a := newTestAgent(t, b, Options{Metrics: []MetricSpec{{Kind: Static, Factor: 50}}, Contexts: []string{"/app"}})
		cancel := run(t, a)
		synctest.Wait()
		b.take()

		// Two requests in flight on the balancer, and one in the service.
		reqs := b.context(t, "n1", "/app").Requests
		reqs.Add(2)
		release := make(chan struct{})
		h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
		go h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/app", nil))
		synctest.Wait()

		done := make(chan error, 1)
		go func() { done <- a.Shutdown(context.Background()) }()
		synctest.Wait()
		if c := b.context(t, "n1", "/app"); c.State != registry.ContextDisabled {
			t.Fatalf("/app is %v during the drain, want disabled", c.State)
		}
		equal(t, "while the service has a request", b.take(), "DISABLE-APP /")
		time.Sleep(time.Second)
		close(release)
		time.Sleep(time.Second)
		synctest.Wait()
		if got := b.take(); len(got) < 2 || got[0] != "STOP-APP /" || strings.Contains(strings.Join(got, ","), "REMOVE") {
			t.Fatalf("while the balancer counts 2 requests: %q, want STOP-APP repeated", got)
		}
		reqs.Add(-2)
		if err := <-done; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		got := b.take()
		equal(t, "end of the drain", got[len(got)-3:], "STOP-APP /", "REMOVE-APP /", "REMOVE-APP /*")
		if n := b.node("n1"); n == nil || !n.Removed || len(n.Contexts) != 0 {
			t.Fatalf("node after Shutdown: %+v", n)
		}
		// Nothing more is sent: no STATUS would register it again.
		time.Sleep(time.Minute)
		synctest.Wait()
		equal(t, "after Shutdown", b.take())
		cancel()
	})
}

func TestShutdownGivesUpAfterStopTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newMemBalancer()
		a := newTestAgent(t, b, Options{StopTimeout: 3 * time.Second})
		run(t, a)
		synctest.Wait()
		b.context(t, "n1", "/").Requests.Add(1) // never ends
		start := time.Now()
		if err := a.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 3*time.Second || d > 4*time.Second {
			t.Errorf("Shutdown took %v, want the 3s stop timeout", d)
		}
		if n := b.node("n1"); !n.Removed {
			t.Error("node not removed after the timeout")
		}
	})
}

func TestMiddlewareFeedsRequestsBusynessAndTraffic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newMemBalancer()
		a := newTestAgent(t, b, Options{History: -1, Metrics: []MetricSpec{
			{Kind: Requests, Capacity: 10},
		}})
		h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Write(make([]byte, 2000))
		}))
		run(t, a)
		synctest.Wait()
		b.take()
		// 50 requests in the 10 s period: 5 per second of 10 → Load 50.
		for range 50 {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/", strings.NewReader("hello")))
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		equal(t, "5 req/s of 10", b.take(), "STATUS / 50")
		if s, r := a.traffic.sent.Load(), a.traffic.received.Load(); s != 100000 || r != 250 {
			t.Errorf("counted %d bytes sent, %d received; want 100000, 250", s, r)
		}
	})
}

func TestNewRefusesBadOptions(t *testing.T) {
	for name, o := range map[string]Options{
		"no route":      {Backend: "http://h:1", Proxies: []string{"h:2"}},
		"no balancer":   {Route: "r", Backend: "http://h:1"},
		"no port":       {Route: "r", Backend: "http://h", Proxies: []string{"h:2"}},
		"bad scheme":    {Route: "r", Backend: "ftp://h:1", Proxies: []string{"h:2"}},
		"bad proxy":     {Route: "r", Backend: "http://h:1", Proxies: []string{"h"}},
		"bad context":   {Route: "r", Backend: "http://h:1", Proxies: []string{"h:2"}, Contexts: []string{"app"}},
		"two statics":   {Route: "r", Backend: "http://h:1", Proxies: []string{"h:2"}, Metrics: []MetricSpec{{Kind: Static}, {Kind: CPU}}},
		"route quote":   {Route: "r'", Backend: "http://h:1", Proxies: []string{"h:2"}},
		"decay below 1": {Route: "r", Backend: "http://h:1", Proxies: []string{"h:2"}, Decay: 0.5},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: New accepted %+v", name, o)
		}
	}
}

// hosts sends each exchange to the memBalancer of its host:port.
type hosts map[string]*memBalancer

func (h hosts) RoundTrip(r *http.Request) (*http.Response, error) { return h[r.URL.Host].RoundTrip(r) }

func TestEveryBalancerIsKeptInformedOnItsOwn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		good, syntax := newMemBalancer(), newMemBalancer()
		syntax.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Type", "SYNTAX")
			w.Header().Set("Mess", "SYNTAX: Command is not supported")
			w.WriteHeader(500)
		})
		a, err := New(Options{Route: "n1", Backend: "http://127.0.0.1:8080", Proxies: []string{"10.0.0.1:6666", "10.0.0.2:6666"},
			Metrics: []MetricSpec{{Kind: Static, Factor: 40}}, Transport: hosts{"10.0.0.1:6666": good, "10.0.0.2:6666": syntax},
			Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		run(t, a)
		time.Sleep(30 * time.Second)
		synctest.Wait()
		equal(t, "the balancer that refuses with SYNTAX", syntax.take(), "INFO /")
		equal(t, "the other one", good.take(), "INFO /", "CONFIG /", "ENABLE-APP /", "STATUS / 40", "STATUS / 40", "STATUS / 40", "STATUS / 40")
		if err := a.Shutdown(t.Context()); err != nil {
			t.Fatalf("Shutdown skips the SYNTAX balancer: %v", err)
		}
		if n := good.node("n1"); n == nil || !n.Removed {
			t.Error("not removed from the good balancer")
		}
	})
}
