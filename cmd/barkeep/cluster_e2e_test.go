package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/testnet"
)

// lb is one `barkeep serve` process of a test cluster.
type lb struct {
	name                            string
	file                            string
	client, admin, manager, routeAt string
	netns                           string // network namespace to run in; "" for the test's
	cmd                             *exec.Cmd
	stderr                          *lockedBuffer
	exited                          chan struct{} // closed when the process exited
}

// clusterConfigs writes the configuration files of names, all voters of
// cluster "e2e", each routing to the others.
func clusterConfigs(t *testing.T, names ...string) []*lb {
	t.Helper()
	dir := t.TempDir()
	ports := testnet.FixedAddrs(t, 4*len(names))
	var lbs []*lb
	for i, name := range names {
		p := ports[4*i : 4*i+4]
		lbs = append(lbs, &lb{name: name, client: p[0], admin: p[1], manager: p[2], routeAt: p[3],
			file: filepath.Join(dir, name+".yaml")})
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
manager: {listen: %q}
access_log: {path: off}
server: {shutdown_timeout: 2s}
cluster:
  name: e2e
  node: %s
  listen: %q
  peers: [%s]
  data_dir: %q
`, b.client, b.admin, b.manager, b.name, b.routeAt, strings.Join(peers, ", "), filepath.Join(dir, b.name+"-data"))
		if err := os.WriteFile(b.file, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return lbs
}

// start runs the balancer's process; the test's end kills it.
func (b *lb) start(t *testing.T) {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	b.cmd = exec.Command(bin, "serve", "--config", b.file, "--log-format", "json")
	if b.netns != "" {
		b.cmd = exec.Command("ip", "netns", "exec", b.netns, bin, "serve", "--config", b.file, "--log-format", "json")
	}
	b.stderr = &lockedBuffer{}
	b.cmd.Stderr = b.stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b.exited = make(chan struct{})
	cmd, exited := b.cmd, b.exited
	go func() { cmd.Wait(); close(exited) }()
	stderr, name := b.stderr, b.name
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			out := stderr.String()
			t.Logf("%s (pid %d) stderr, last 4 kB:\n%s", name, cmd.Process.Pid, out[max(0, len(out)-4096):])
		}
	})
}

// kill9 kills the process with SIGKILL and waits for it.
func (b *lb) kill9(t *testing.T) {
	t.Helper()
	if err := b.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-b.exited
}

// status fetches /api/v1/cluster; nil if the balancer does not answer.
func (b *lb) status() map[string]any {
	res, err := http.Get("http://" + b.admin + "/api/v1/cluster")
	if err != nil {
		return nil
	}
	defer res.Body.Close()
	var st map[string]any
	if json.NewDecoder(res.Body).Decode(&st) != nil {
		return nil
	}
	return st
}

// waitUntil polls cond every 100ms for up to d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(100 * time.Millisecond) // polling other processes over the network
	}
}

func (b *lb) waitReady(t *testing.T) {
	t.Helper()
	waitUntil(t, 60*time.Second, b.name+" joined the cluster", func() bool {
		st := b.status()
		return st != nil && st["ready"] == true
	})
}

// mcmpSend sends one MCMP message to the balancer's manager listener.
func (b *lb) mcmpSend(method, body string) (int, error) {
	req, _ := http.NewRequest(method, "http://"+b.manager+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// mcmpUntilOK sends the message again every 250ms until it is answered
// 200, as a worker does after an error.
func (b *lb) mcmpUntilOK(t *testing.T, method, body string) {
	t.Helper()
	waitUntil(t, 20*time.Second, method+" "+body+" acknowledged by "+b.name, func() bool {
		code, err := b.mcmpSend(method, body)
		return err == nil && code == 200
	})
}

// get returns the status and body of GET path through the balancer.
func (b *lb) get(path string) (int, string) {
	res, err := http.Get("http://" + b.client + path)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

func (b *lb) routes(path, want string) bool {
	code, body := b.get(path)
	return code == 200 && body == want
}

func namedBackend(t *testing.T, name string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).AddrPort().String()
}

func register(t *testing.T, b *lb, route, hostport, path string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(hostport)
	b.mcmpUntilOK(t, "CONFIG", "JVMRoute="+route+"&Host="+host+"&Port="+port+"&Type=http")
	b.mcmpUntilOK(t, "ENABLE-APP", "JVMRoute="+route+"&Alias=localhost&Context="+path)
}

// TestClusterSurvivesKill9: three balancer processes, all voters; six
// workers register, each through one of them, and every balancer routes
// all six. `barkeep ctl cluster` and `ctl http-list` against one of them
// show the three balancers, the leader and every location. Then kill -9 of
// the registry bucket's leader: the others keep every acknowledged
// registration and keep routing it, and take new changes (after the leader
// election the worker's retries get through); the restarted balancer
// catches up, routes everything again, and a REMOVE-APP sent while it was
// dead does not come back with it, on any balancer. It restarts with an
// empty data directory, as a replacement for a lost machine does.
func TestClusterSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three balancer processes")
	}
	lbs := clusterConfigs(t, "lb1", "lb2", "lb3")
	for _, b := range lbs {
		b.start(t)
	}
	for _, b := range lbs {
		b.waitReady(t)
	}
	const workers = 6
	path := func(i int) string { return fmt.Sprintf("/c%d", i) }
	for i := range workers {
		w := fmt.Sprintf("w%d", i)
		register(t, lbs[i%len(lbs)], w, namedBackend(t, w), path(i))
	}
	routesAll := func(b *lb, skip int) bool {
		for i := range workers {
			if i != skip && !b.routes(path(i), fmt.Sprintf("w%d", i)) {
				return false
			}
		}
		return true
	}
	for _, b := range lbs {
		waitUntil(t, 5*time.Second, b.name+" routes all six contexts", func() bool { return routesAll(b, -1) })
	}
	checkCtl(t, lbs, workers)

	// Kill the leader of the registry bucket.
	st := lbs[1].status()
	leader, _ := st["groups"].([]any)[0].(map[string]any)["leader"].(string)
	i := slices.IndexFunc(lbs, func(b *lb) bool { return b.name == leader })
	if i < 0 {
		t.Fatalf("no leader named in %v", st)
	}
	dead := lbs[i]
	alive := slices.Delete(slices.Clone(lbs), i, i+1)
	dead.kill9(t)
	t.Logf("killed %s (the bucket's leader) with SIGKILL", dead.name)
	for _, b := range alive {
		if !routesAll(b, -1) {
			t.Errorf("%s does not route all six contexts right after %s was killed", b.name, dead.name)
		}
	}
	// Changes while it is dead: /c0 removed through one, a new worker
	// registered through the other. The first tries may get an MCMP error
	// while the voters elect a new leader; the worker sends again.
	killed := time.Now()
	alive[0].mcmpUntilOK(t, "REMOVE-APP", "JVMRoute=w0&Alias=localhost&Context="+path(0))
	t.Logf("REMOVE-APP acknowledged %s after the kill", time.Since(killed).Round(time.Millisecond))
	register(t, alive[1], "wnew", namedBackend(t, "wnew"), "/new")
	for _, b := range alive {
		waitUntil(t, 5*time.Second, b.name+" routes /new and the other five, not /c0", func() bool {
			code, _ := b.get(path(0))
			return code == 404 && b.routes("/new", "wnew") && routesAll(b, 0)
		})
	}

	// It comes back as a replacement machine would: same name and
	// address, empty data directory (the runbook for a lost voter).
	cfg, err := os.ReadFile(dead.file)
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(strings.Replace(string(cfg), dead.name+"-data", dead.name+"-replacement-data", 1))
	if err := os.WriteFile(dead.file, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	dead.start(t)
	dead.waitReady(t)
	waitUntil(t, 10*time.Second, dead.name+" caught up: routes /new and the other five", func() bool {
		return dead.routes("/new", "wnew") && routesAll(dead, 0)
	})
	t.Logf("%s restarted: ready and routing everything %s after its start", dead.name, time.Since(restarted).Round(time.Millisecond))
	for _, b := range lbs {
		if code, body := b.get(path(0)); code != 404 {
			t.Errorf("%s: GET %s = %d %q after %s came back, want 404 (removed while it was dead)", b.name, path(0), code, body, dead.name)
		}
	}
}

// checkCtl runs `barkeep ctl cluster` and `barkeep ctl http-list` against
// the last balancer of lbs, a cluster where worker wI serves /cI.
func checkCtl(t *testing.T, lbs []*lb, workers int) {
	t.Helper()
	admin := "http://" + lbs[len(lbs)-1].admin
	// Balancers are listed once heard from (they announce themselves
	// about once a second): wait for all of them first.
	waitUntil(t, 10*time.Second, "every balancer heard", func() bool {
		bs, _ := lbs[len(lbs)-1].status()["balancers"].([]any)
		return len(bs) == len(lbs)
	})
	code, out, errOut := ctlRun(t, admin, "cluster")
	if code != 0 {
		t.Fatalf("ctl cluster: exit %d: %s", code, errOut)
	}
	t.Logf("barkeep ctl cluster:\n%s", out)
	for _, b := range lbs {
		if !strings.Contains(out, b.name) {
			t.Errorf("ctl cluster does not name balancer %s:\n%s", b.name, out)
		}
	}
	if !strings.Contains(out, "LEADER") {
		t.Errorf("ctl cluster has no LEADER column:\n%s", out)
	}
	// The JSON form: three voters heard, one group with a leader and two
	// more replicas.
	code, out, errOut = ctlRun(t, admin, "cluster", "-o", "json")
	var st struct {
		Balancers []struct {
			Node  string `json:"node"`
			Voter bool   `json:"voter"`
		} `json:"balancers"`
		Groups []struct {
			Name, Leader string
			Replicas     []struct{ Node string }
		} `json:"groups"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("ctl cluster -o json: exit %d %s: %q", code, errOut, out)
	}
	voters := 0
	for _, b := range st.Balancers {
		if b.Voter {
			voters++
		}
	}
	if voters != len(lbs) || len(st.Groups) != 1 || st.Groups[0].Name != "default" || st.Groups[0].Leader == "" || len(st.Groups[0].Replicas) != len(lbs) {
		t.Errorf("ctl cluster -o json: %d voters, groups %+v; want %d voters, group default with a leader and %d replicas", voters, st.Groups, len(lbs), len(lbs))
	}

	code, out, errOut = ctlRun(t, admin, "http-list")
	if code != 0 {
		t.Fatalf("ctl http-list: exit %d: %s", code, errOut)
	}
	t.Logf("barkeep ctl http-list:\n%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1+workers || !strings.HasPrefix(lines[0], "ALIAS") {
		t.Errorf("ctl http-list: %d lines, want a header and %d locations:\n%s", len(lines), workers, out)
	}
	for i := range workers {
		if !slices.ContainsFunc(lines, func(l string) bool {
			f := strings.Fields(l)
			return len(f) >= 6 && f[0] == "localhost" && f[1] == fmt.Sprintf("/c%d", i) && f[2] == fmt.Sprintf("w%d", i) &&
				strings.HasPrefix(f[3], "http://127.0.0.1:") && f[4] == "ENABLED" && f[5] == "default"
		}) {
			t.Errorf("ctl http-list has no row localhost /c%d w%d http://127.0.0.1:… ENABLED default:\n%s", i, i, out)
		}
	}
	if code, out, _ := ctlRun(t, admin, "http-list", "default", "-o", "json"); code != 0 || strings.Count(out, `"route"`) != workers {
		t.Errorf("ctl http-list default -o json: exit %d, want %d locations: %s", code, workers, out)
	}
	if code, out, _ := ctlRun(t, admin, "http-list", "other"); code != 0 || strings.Contains(out, "/c") {
		t.Errorf("ctl http-list other (a group nobody is in): exit %d, want no locations: %s", code, out)
	}
	if code, _, errOut := ctlRun(t, admin, "http-list", "a", "b"); code == 0 || !strings.Contains(errOut, "at most one GROUP") {
		t.Errorf("ctl http-list a b: exit %d %q, want a usage error", code, errOut)
	}
}

// listeningPorts returns the TCP ports process pid listens on.
func listeningPorts(t *testing.T, pid int) []int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Skip("no /proc:", err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var ports []int
	for _, f := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] { // 0A: LISTEN
				continue
			}
			_, hexPort, _ := strings.Cut(fields[1], ":")
			p, _ := strconv.ParseInt(hexPort, 16, 32)
			ports = append(ports, int(p))
		}
	}
	slices.Sort(ports)
	return ports
}

// TestNoClusterSectionOpensNoClusterPort: without a cluster section the
// process listens on its client, admin and manager listeners and nothing
// else; with one, on the route port as well (and a loopback client port
// for its own in-process connection).
func TestNoClusterSectionOpensNoClusterPort(t *testing.T) {
	lbs := clusterConfigs(t, "solo")
	b := lbs[0]
	data, _ := os.ReadFile(b.file)
	alone := strings.Split(string(data), "cluster:")[0]
	if err := os.WriteFile(b.file, []byte(alone), 0o644); err != nil {
		t.Fatal(err)
	}
	b.start(t)
	waitUntil(t, 10*time.Second, "solo serves", func() bool { code, _ := b.get("/"); return code != 0 })
	var want []int
	for _, a := range []string{b.client, b.admin, b.manager} {
		_, p, _ := net.SplitHostPort(a)
		n, _ := strconv.Atoi(p)
		want = append(want, n)
	}
	slices.Sort(want)
	if got := listeningPorts(t, b.cmd.Process.Pid); !slices.Equal(got, want) {
		t.Errorf("barkeep without a cluster section listens on %v, want only %v (client, admin, manager)", got, want)
	}
	if res, err := http.Get("http://" + b.admin + "/api/v1/cluster"); err == nil {
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET /api/v1/cluster without a cluster = %d, want 404", res.StatusCode)
		}
	}
}
