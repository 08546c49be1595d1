package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// partitionNet is the network of TestClusterPartition, built inside the
// test's own network namespace (inNetns): one namespace per balancer,
// with two links each.
//
//   - The cluster link eN (10.77.0.N/24) is a veth whose other end pN is a
//     port of bridge br0 in the test's namespace: the balancers' routes
//     run over it, and `ip link set pN down` cuts balancer N off.
//   - The control link cN (10.78.N.2/30, peer hN 10.78.N.1 in the test's
//     namespace) carries the test's requests to the balancer (client,
//     admin and manager listeners) and the balancer's requests to the
//     workers, which listen on 10.79.0.1 (on the test's loopback, routed
//     via hN). The test's namespace does not forward, so the control links
//     never join the balancers to each other.
type partitionNet struct {
	t  *testing.T
	ns []string // node namespaces, index 0 is balancer 1
}

const partitionWorkers = "10.79.0.1"

func (p *partitionNet) ip(args ...string) {
	p.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		p.t.Fatalf("ip %v: %v\n%s", args, err, out)
	}
}

func newPartitionNet(t *testing.T, n int) *partitionNet {
	p := &partitionNet{t: t}
	p.ip("link", "add", "br0", "type", "bridge")
	p.ip("link", "set", "br0", "up")
	p.ip("addr", "add", partitionWorkers+"/32", "dev", "lo")
	for i := 1; i <= n; i++ {
		ns := fmt.Sprintf("bkpart-%d-%d", os.Getpid(), i)
		p.ip("netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		p.ns = append(p.ns, ns)
		pn, en, hn, cn := fmt.Sprint("p", i), fmt.Sprint("e", i), fmt.Sprint("h", i), fmt.Sprint("c", i)
		p.ip("-n", ns, "link", "set", "lo", "up")
		p.ip("link", "add", pn, "type", "veth", "peer", "name", en, "netns", ns)
		p.ip("link", "set", pn, "master", "br0", "up")
		p.ip("-n", ns, "addr", "add", fmt.Sprintf("10.77.0.%d/24", i), "dev", en)
		p.ip("-n", ns, "link", "set", en, "up")
		p.ip("link", "add", hn, "type", "veth", "peer", "name", cn, "netns", ns)
		p.ip("addr", "add", fmt.Sprintf("10.78.%d.1/30", i), "dev", hn)
		p.ip("link", "set", hn, "up")
		p.ip("-n", ns, "addr", "add", fmt.Sprintf("10.78.%d.2/30", i), "dev", cn)
		p.ip("-n", ns, "link", "set", cn, "up")
		p.ip("-n", ns, "route", "add", partitionWorkers+"/32", "via", fmt.Sprintf("10.78.%d.1", i))
	}
	return p
}

// balancers writes the configurations of n voters, balancer i in
// namespace i, and returns them (not started).
func (p *partitionNet) balancers(n int) []*lb {
	dir := p.t.TempDir()
	var lbs []*lb
	for i := 1; i <= n; i++ {
		ctl := fmt.Sprintf("10.78.%d.2", i)
		b := &lb{name: fmt.Sprint("lb", i), file: filepath.Join(dir, fmt.Sprintf("lb%d.yaml", i)),
			client: ctl + ":8080", admin: ctl + ":8090", manager: ctl + ":6666", routeAt: fmt.Sprintf("10.77.0.%d:7422", i),
			netns: p.ns[i-1]}
		lbs = append(lbs, b)
	}
	for _, b := range lbs {
		var peers []string
		for _, o := range lbs {
			if o != b {
				peers = append(peers, strconv.Quote(o.routeAt))
			}
		}
		cfg := fmt.Sprintf(`listen: [%q]
admin: {listen: %q}
manager: {listen: %q, allow: ["10.78.0.0/16"]}
access_log: {path: off}
server: {shutdown_timeout: 2s}
cluster:
  name: part
  node: %s
  listen: %q
  peers: [%s]
`, b.client, b.admin, b.manager, b.name, b.routeAt, strings.Join(peers, ", "))
		if err := os.WriteFile(b.file, []byte(cfg), 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
	return lbs
}

// workerAt starts a worker answering its name on partitionWorkers and
// returns its host:port.
func workerAt(t *testing.T, name string) string {
	t.Helper()
	l, err := net.Listen("tcp", partitionWorkers+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// TestClusterPartition: three voters, each in a network namespace of its
// own. The bucket's leader is cut off from the other two (its bridge port
// down). It keeps routing on its last snapshot; an MCMP CONFIG it cannot
// commit is answered with an MCMP error that is not SYNTAX (the worker
// sends it again later), and `/api/v1/cluster` counts it as not yet
// accepted. The other two elect a leader and take a registration and a
// REMOVE-APP. After the link is up again, every balancer converges: each
// acknowledged registration is routed by all three, the removed context
// by none.
func TestClusterPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three balancer processes")
	}
	if !inNetns(t, t.Name()) {
		return
	}
	pn := newPartitionNet(t, 3)
	lbs := pn.balancers(3)
	for _, b := range lbs {
		b.start(t)
	}
	for _, b := range lbs {
		b.waitReady(t)
	}
	register(t, lbs[0], "w1", workerAt(t, "w1"), "/one")
	register(t, lbs[2], "w2", workerAt(t, "w2"), "/two")
	for _, b := range lbs {
		waitUntil(t, 5*time.Second, b.name+" routes /one and /two", func() bool {
			return b.routes("/one", "w1") && b.routes("/two", "w2")
		})
	}

	st := lbs[0].status()
	leader, _ := st["groups"].([]any)[0].(map[string]any)["leader"].(string)
	i := -1
	for j, b := range lbs {
		if b.name == leader {
			i = j
		}
	}
	if i < 0 {
		t.Fatalf("no leader named in %v", st)
	}
	cut := lbs[i]
	var rest []*lb
	for j, b := range lbs {
		if j != i {
			rest = append(rest, b)
		}
	}
	port := fmt.Sprint("p", i+1)
	pn.ip("link", "set", port, "down")
	t.Logf("%s (the bucket's leader) cut off: %s down", cut.name, port)
	partitioned := time.Now()

	// The cut-off balancer: routes on, refuses what it cannot commit.
	w3 := workerAt(t, "w3")
	host, p3, _ := net.SplitHostPort(w3)
	config3 := "JVMRoute=w3&Host=" + host + "&Port=" + p3 + "&Type=http"
	req, _ := http.NewRequest("CONFIG", "http://"+cut.manager+"/", strings.NewReader(config3))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sent := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	t.Logf("CONFIG to the cut-off %s: %d Type=%s Mess=%q after %s", cut.name, res.StatusCode, res.Header.Get("Type"),
		res.Header.Get("Mess"), time.Since(sent).Round(time.Millisecond))
	if res.StatusCode == http.StatusOK || res.Header.Get("Type") == "" || res.Header.Get("Type") == "SYNTAX" {
		t.Errorf("CONFIG to the cut-off balancer = %d Type=%q, want an MCMP error other than SYNTAX", res.StatusCode, res.Header.Get("Type"))
	}
	if pending, _ := cut.status()["pending"].(float64); pending < 1 {
		t.Errorf("cut-off %s's /api/v1/cluster counts %v changes not yet accepted, want ≥ 1", cut.name, pending)
	}
	if !cut.routes("/one", "w1") || !cut.routes("/two", "w2") {
		t.Errorf("cut-off %s no longer routes /one and /two", cut.name)
	}
	if _, out, _ := ctlRun(t, "http://"+cut.admin, "cluster"); true {
		t.Logf("barkeep ctl cluster on the cut-off %s:\n%s", cut.name, out)
	}

	// The majority: elects a leader, takes changes.
	register(t, rest[0], "w4", workerAt(t, "w4"), "/four")
	rest[1].mcmpUntilOK(t, "REMOVE-APP", "JVMRoute=w1&Alias=localhost&Context=/one")
	t.Logf("majority acknowledged a registration and a REMOVE-APP %s after the cut", time.Since(partitioned).Round(time.Millisecond))
	for _, b := range rest {
		waitUntil(t, 5*time.Second, b.name+" routes /four, /two, not /one", func() bool {
			code, _ := b.get("/one")
			return code == 404 && b.routes("/four", "w4") && b.routes("/two", "w2")
		})
	}
	if _, out, _ := ctlRun(t, "http://"+rest[0].admin, "cluster"); true {
		t.Logf("barkeep ctl cluster on %s, on the majority side:\n%s", rest[0].name, out)
	}
	// Still cut off, still routing on its last snapshot.
	if !cut.routes("/one", "w1") || !cut.routes("/two", "w2") {
		t.Errorf("cut-off %s stopped routing /one and /two during the partition", cut.name)
	}
	if code, _ := cut.get("/four"); code != 404 {
		t.Errorf("cut-off %s routes /four (registered on the other side) with %d, want 404 until the link is back", cut.name, code)
	}

	pn.ip("link", "set", port, "up")
	healed := time.Now()
	// The worker sends its configuration again, as after any error.
	cut.mcmpUntilOK(t, "CONFIG", config3)
	cut.mcmpUntilOK(t, "ENABLE-APP", "JVMRoute=w3&Alias=localhost&Context=/three")
	for _, b := range lbs {
		waitUntil(t, 20*time.Second, b.name+" converged: routes /two, /three, /four, not /one", func() bool {
			code, _ := b.get("/one")
			return code == 404 && b.routes("/two", "w2") && b.routes("/three", "w3") && b.routes("/four", "w4")
		})
	}
	t.Logf("all three converged %s after the link came back", time.Since(healed).Round(time.Millisecond))
}
