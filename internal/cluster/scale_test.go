package cluster_test

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/cluster"
	"github.com/barkeep-lb/barkeep/internal/testnet"
)

// TestScale is the scale benchmark of docs/cluster.md; it runs only with
// BARKEEP_CLUSTER_SCALE set to the number of backends (or 1 for 10,000):
//
//	BARKEEP_CLUSTER_SCALE=10000 go test -run TestScale -v -timeout 30m ./internal/cluster
//
// Three voters and one route-only balancer in this process. Every backend
// registers through voter A (CONFIG, then ENABLE-APP of five contexts), 32
// workers at a time. It reports the time until every backend is routable
// on every balancer, p50/p99/max from sending a backend's CONFIG to A
// until a peer routes its five contexts, the Go heap of the four
// balancers, and how long a restarted voter (its data directory kept) and
// a restarted route-only balancer take until they route every backend.
func TestScale(t *testing.T) {
	env := os.Getenv("BARKEEP_CLUSTER_SCALE")
	if env == "" {
		t.Skip("set BARKEEP_CLUSTER_SCALE=N (backends; 1 means 10000) to run the scale benchmark")
	}
	n, err := strconv.Atoi(env)
	if err != nil || n < 1 {
		t.Fatalf("BARKEEP_CLUSTER_SCALE=%q: want a number of backends", env)
	}
	if n == 1 {
		n = 10000
	}
	const contexts, concurrency = 5, 32
	addrs := testnet.FixedAddrs(t, 4)
	opts := make([]cluster.Options, 4)
	for i, name := range []string{"a", "b", "c", "r"} {
		o := cluster.Options{Name: "scale", Node: name, Listen: addrs[i], Voter: i < 3, Replicas: 3, Log: logger(),
			Groups: defaultGroup, DataDir: t.TempDir(), NodeTimeout: time.Hour}
		o.Peers = slices.Delete(slices.Clone(addrs[:3]), min(i, 3), min(i+1, 3))
		if i == 3 {
			o.Peers = addrs[:3]
		}
		opts[i] = o
	}
	var heapBefore runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&heapBefore)
	nodes := make([]*bnode, 4)
	for i := range nodes {
		nodes[i] = startNode(t, opts[i], nil)
	}
	for _, nd := range nodes {
		waitReady(t, nd)
	}
	a := nodes[0]
	routes := make([]string, n)
	var ctxList string
	for i := range contexts {
		if i > 0 {
			ctxList += ","
		}
		ctxList += fmt.Sprintf("/ctx%d", i)
	}
	for i := range routes {
		routes[i] = fmt.Sprintf("w%05d", i)
	}
	sent := make([]atomic.Int64, n) // UnixNano of the CONFIG to A; 0 before
	routable := func(nd *bnode, i int) bool {
		node := nd.store.Load().Node(routes[i])
		if node == nil || node.Removed || len(node.Contexts) != contexts {
			return false
		}
		for _, c := range node.Contexts {
			if c.State.String() != "ENABLED" {
				return false
			}
		}
		return true
	}

	// Each peer watches its snapshots for the backends sent and not yet
	// routable there (a small set at any time).
	var mu sync.Mutex
	var lat []time.Duration
	lastOn := make([]time.Duration, 4)
	start := time.Now()
	var wg sync.WaitGroup
	for pi, peer := range nodes[1:] {
		wg.Go(func() {
			seen := make([]bool, n)
			next, left := 0, n // next: first index not known to be sent
			open := map[int]bool{}
			deadline := time.After(10 * time.Minute)
			for left > 0 {
				snap := peer.store.Load()
				for next < n && sent[next].Load() != 0 {
					open[next] = true
					next++
				}
				now := time.Now()
				for i := range open {
					if !seen[i] && routable(peer, i) {
						seen[i], left = true, left-1
						delete(open, i)
						mu.Lock()
						lat = append(lat, now.Sub(time.Unix(0, sent[i].Load())))
						mu.Unlock()
					}
				}
				if left == 0 {
					break
				}
				select {
				case <-snap.Superseded():
				case <-time.After(20 * time.Millisecond):
				case <-deadline:
					t.Errorf("%s: %d backends not routable within 10 minutes", peer.name, left)
					return
				}
			}
			lastOn[pi+1] = time.Since(start)
		})
	}
	work := make(chan int)
	var senders sync.WaitGroup
	for range concurrency {
		senders.Go(func() {
			for i := range work {
				sent[i].Store(time.Now().UnixNano())
				mustSend(t, a.manager, "CONFIG", "JVMRoute="+routes[i]+"&Host=127.0.0.1&Port="+strconv.Itoa(20000+i%40000)+"&Type=http")
				mustSend(t, a.manager, "ENABLE-APP", "JVMRoute="+routes[i]+"&Alias=localhost&Context="+ctxList)
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	senders.Wait()
	acked := time.Since(start)
	wg.Wait()
	if t.Failed() {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
	t.Logf("%d backends × %d contexts registered through A, %d at a time: all acknowledged after %s (%.0f backends/s)",
		n, contexts, concurrency, acked.Round(time.Millisecond), float64(n)/acked.Seconds())
	t.Logf("all routable on b %s, c %s, route-only r %s after the first CONFIG",
		lastOn[1].Round(time.Millisecond), lastOn[2].Round(time.Millisecond), lastOn[3].Round(time.Millisecond))
	t.Logf("CONFIG to A → five contexts routable on a peer, %d observations: p50 %s p99 %s max %s",
		len(lat), pct(0.50).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
	var heap runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&heap)
	t.Logf("Go heap in use, four balancers in this process: %.1f MiB (%.1f MiB each on average); Sys %.1f MiB",
		float64(heap.HeapInuse-heapBefore.HeapInuse)/(1<<20), float64(heap.HeapInuse-heapBefore.HeapInuse)/4/(1<<20),
		float64(heap.Sys)/(1<<20))
	if rss := selfRSS(); rss != "" {
		t.Logf("process RSS: %s", rss)
	}

	// One registration at a time with the registry full: the latency a
	// backend that starts sees, without the bulk load's queueing (32
	// senders at full speed wait on each other: Little's law alone puts
	// their mean at 32 / throughput).
	var one []time.Duration
	for i := range 100 {
		route := fmt.Sprintf("x%03d", i)
		began := time.Now()
		mustSend(t, a.manager, "CONFIG", "JVMRoute="+route+"&Host=127.0.0.2&Port="+strconv.Itoa(20000+i)+"&Type=http")
		mustSend(t, a.manager, "ENABLE-APP", "JVMRoute="+route+"&Alias=localhost&Context="+ctxList)
		for _, peer := range nodes[1:] {
			eventually(t, peer, 10*time.Second, route+" routable", func() bool {
				node := peer.store.Load().Node(route)
				return node != nil && len(node.Contexts) == contexts
			})
		}
		one = append(one, time.Since(began))
	}
	slices.Sort(one)
	t.Logf("with %d backends registered, one registration at a time (CONFIG + ENABLE-APP to A until b, c and r route it), 100: p50 %s p99 %s max %s",
		n, one[50].Round(time.Microsecond), one[98].Round(time.Microsecond), one[99].Round(time.Microsecond))
	n += 100 // the catch-up below counts these too
	for i := range 100 {
		routes = append(routes, fmt.Sprintf("x%03d", i))
	}

	// Catch-up: a voter (state kept on disk) and the route-only balancer
	// restart with empty registries.
	for _, i := range []int{2, 3} {
		nodes[i].stop()
		began := time.Now()
		nd := startNode(t, opts[i], nil)
		waitReady(t, nd)
		ready := time.Since(began)
		eventually(t, nd, 2*time.Minute, "every backend routable", func() bool { return len(nd.store.Load().Nodes()) == n && routable(nd, n-1) })
		for j := range n {
			if !routable(nd, j) {
				eventually(t, nd, time.Minute, routes[j]+" routable", func() bool { return routable(nd, j) })
			}
		}
		kind := "voter"
		if i == 3 {
			kind = "route-only balancer"
		}
		t.Logf("restarted %s %s: ready after %s, every backend routable after %s", kind, nd.name,
			ready.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	}
}

// selfRSS returns this process's VmRSS line from /proc, or "".
func selfRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ""
	}
	for _, l := range slices.Collect(func(yield func(string) bool) {
		start := 0
		for i, c := range b {
			if c == '\n' {
				if !yield(string(b[start:i])) {
					return
				}
				start = i + 1
			}
		}
	}) {
		if len(l) > 6 && l[:6] == "VmRSS:" {
			return l[6:]
		}
	}
	return ""
}
