package mcmpserver_test

import (
	"flag"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/mcmpserver"
	"github.com/barkeep-lb/barkeep/internal/registry"
)

// The scale test registers many nodes the way the Java worker does; it runs
// only when asked, e.g.
//
//	go test ./internal/mcmpserver -run TestScaleRegistration -mcmp.scale=10000 -v
var scaleNodes = flag.Int("mcmp.scale", 0, "register this many nodes × 5 contexts in TestScaleRegistration (0: skip)")

// scaleContexts is how many contexts each node of the scale test and the
// benchmarks deploys.
const scaleContexts = 5

// scaleServer returns a manager with tables sized for n nodes.
func scaleServer(n int) *mcmpserver.Server {
	srv, _ := scaleServerStore(n)
	return srv
}

func scaleServerStore(n int) (*mcmpserver.Server, *registry.Store) {
	store := registry.NewStore()
	return mcmpserver.New(store, mcmpserver.Options{
		Probe: alwaysUp, Log: slog.New(slog.DiscardHandler),
		MaxNode: n, MaxHost: n*2 + 2, MaxContext: n*scaleContexts*2 + 2,
	}), store
}

// direct sends one message straight to the handler and fails tb unless it
// is answered 200.
func direct(tb testing.TB, srv *mcmpserver.Server, method, target, body string) {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.RemoteAddr = "127.0.0.1:40000"
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != 200 {
		tb.Fatalf("%s %s %q = %d %s %s", method, target, body, rec.Code, rec.Header().Get("Type"), rec.Header().Get("Mess"))
	}
}

// registerScaleNode sends what the Java worker sends at startup for node i:
// CONFIG, one ENABLE-APP per context, STATUS.
func registerScaleNode(tb testing.TB, srv *mcmpserver.Server, i int) {
	route := "node" + strconv.Itoa(i)
	host := "10." + strconv.Itoa(i>>16&255) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255)
	direct(tb, srv, "CONFIG", "/", "JVMRoute="+route+"&Host="+host+"&Port=8009&StickySessionForce=No&Type=ajp")
	for c := range scaleContexts {
		direct(tb, srv, "ENABLE-APP", "/", "JVMRoute="+route+"&Alias=default-host%2Clocalhost&Context=%2Fapp"+strconv.Itoa(c))
	}
	direct(tb, srv, "STATUS", "/", "JVMRoute="+route+"&Load=50")
}

// TestScaleRegistration registers -mcmp.scale nodes with 5 contexts each,
// reporting the time per thousand nodes, then times ENABLE-APP/DISABLE-APP
// of one context at that size. It fails when registration takes over 30 s
// for 10,000 nodes (scaled linearly) or an *-APP's p99 is 5 ms or more.
func TestScaleRegistration(t *testing.T) {
	n := *scaleNodes
	if n == 0 {
		t.Skip("set -mcmp.scale=N to run")
	}
	srv, store := scaleServerStore(n)
	start := time.Now()
	lap := start
	for i := range n {
		registerScaleNode(t, srv, i)
		if (i+1)%1000 == 0 {
			t.Logf("nodes %5d..%5d: %v", i-998, i+1, time.Since(lap).Round(time.Millisecond))
			lap = time.Now()
		}
	}
	total := time.Since(start)
	t.Logf("%d nodes × %d contexts registered in %v", n, scaleContexts, total.Round(time.Millisecond))
	if limit := 30 * time.Second * time.Duration(n) / 10000; total > limit {
		t.Errorf("registration took %v, want under %v", total, limit)
	}
	p50, p99, worst := appLatencies(t, srv, n, 1000)
	t.Logf("ENABLE-APP/DISABLE-APP at %d nodes: p50 %v, p99 %v, max %v", n, p50, p99, worst)
	// The request path builds its context index on the first request
	// after each snapshot (registry.Snapshot.Match): its cost, for the
	// record.
	rows := 0
	for _, node := range store.Load().Nodes() {
		rows += len(node.Contexts)
	}
	t0 := time.Now()
	store.Load().Match("/app1/x", "", false)
	t.Logf("first Match after a snapshot (builds the index of %d context rows): %v", rows, time.Since(t0))
	// After a change to one node, the next snapshot's index is patched
	// from this one's rather than built again.
	direct(t, srv, "DISABLE-APP", "/", "JVMRoute=node7&Alias=default-host%2Clocalhost&Context=%2Fapp1")
	t0 = time.Now()
	store.Load().Match("/app1/x", "", false)
	t.Logf("first Match after one DISABLE-APP (patches the index): %v", time.Since(t0))
	if p99 >= 5*time.Millisecond {
		t.Errorf("*-APP p99 %v, want under 5ms", p99)
	}
}

// appLatencies toggles one context of rotating nodes count times and
// returns the median, 99th percentile and worst time per message.
func appLatencies(tb testing.TB, srv *mcmpserver.Server, nodes, count int) (p50, p99, worst time.Duration) {
	d := make([]time.Duration, count)
	for i := range count {
		cmd := "DISABLE-APP"
		if i%2 == 1 {
			cmd = "ENABLE-APP"
		}
		body := "JVMRoute=node" + strconv.Itoa(i/2*7919%nodes) + "&Alias=default-host%2Clocalhost&Context=%2Fapp1"
		t0 := time.Now()
		direct(tb, srv, cmd, "/", body)
		d[i] = time.Since(t0)
	}
	slices.Sort(d)
	return d[count/2], d[count*99/100], d[count-1]
}

// BenchmarkEnableApp measures one ENABLE-APP (alternating with DISABLE-APP)
// of one context with many nodes registered; it reports the 99th
// percentile as p99-ns.
func BenchmarkEnableApp(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run("nodes="+strconv.Itoa(n), func(b *testing.B) {
			srv := scaleServer(n)
			for i := range n {
				registerScaleNode(b, srv, i)
			}
			var d []time.Duration
			i := 0
			for b.Loop() {
				cmd := "DISABLE-APP"
				if i%2 == 1 {
					cmd = "ENABLE-APP"
				}
				body := "JVMRoute=node" + strconv.Itoa(i/2*7919%n) + "&Alias=default-host%2Clocalhost&Context=%2Fapp1"
				t0 := time.Now()
				direct(b, srv, cmd, "/", body)
				d = append(d, time.Since(t0))
				i++
			}
			slices.Sort(d)
			b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}
