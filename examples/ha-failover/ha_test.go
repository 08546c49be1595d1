// Package hafailover drives the HA failover example (start.sh, failover.sh)
// end to end, as its README tells a user to run it.
package hafailover

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestHAFailoverExample(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("BARKEEP_EXAMPLES") == "1" {
				t.Fatalf("the example needs %s (BARKEEP_EXAMPLES=1)", tool)
			}
			t.Skipf("the example needs %s; set BARKEEP_EXAMPLES=1 to make this a failure", tool)
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "barkeep")
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("building barkeep needs the go command on PATH: %v", err)
	}
	build := exec.Command(goBin, "build", "-o", bin, "../../cmd/barkeep")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// The scenario is bounded: everything is killed after a minute.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	began := time.Now()
	port := freePorts(t, 5)
	env := append(os.Environ(), "BARKEEP="+bin, "RUN_DIR="+filepath.Join(dir, "run"), "INTERVAL=1s", "PHASE=3",
		"PORT="+port[0], "ADMIN_PORT="+port[1], "MANAGER_PORT="+port[2], "NODE1_PORT="+port[3], "NODE2_PORT="+port[4])
	var startOut bytes.Buffer
	start := exec.CommandContext(ctx, "bash", "start.sh")
	start.Env, start.Stdout, start.Stderr = env, &startOut, &startOut
	start.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so a timeout can end the whole group
	start.Cancel = func() error { return syscall.Kill(-start.Process.Pid, syscall.SIGKILL) }
	if err := start.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			syscall.Kill(-start.Process.Pid, syscall.SIGKILL)
			start.Wait()
		}
		if t.Failed() {
			t.Logf("start.sh output:\n%s", startOut.String())
		}
	}()

	front := "http://127.0.0.1:" + port[0] + "/"
	seen := map[string]bool{}
	for !seen["node1"] || !seen["node2"] {
		if ctx.Err() != nil {
			t.Fatalf("both nodes not serving; seen %v", seen)
		}
		if res, err := http.Get(front); err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			for _, n := range []string{"node1", "node2"} {
				seen[n] = seen[n] || strings.Contains(string(body), "(route "+n+")")
			}
		}
		time.Sleep(100 * time.Millisecond)
	}

	fail := exec.CommandContext(ctx, "bash", "failover.sh")
	fail.Env = env
	out, err := fail.CombinedOutput()
	if err != nil {
		t.Fatalf("failover.sh: %v\n%s", err, out)
	}
	checkClientLog(t, filepath.Join(dir, "run", "client.log"))

	// Ctrl-C stops everything: the agents drain, the balancer exits.
	start.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- start.Wait() }()
	select {
	case <-done:
		stopped = true
	case <-time.After(20 * time.Second):
		t.Fatal("start.sh did not stop within 20s of Ctrl-C")
	}
	if !strings.Contains(startOut.String(), "node removed from the balancers") {
		t.Error("the agents did not drain their nodes on Ctrl-C")
	}
	for _, p := range port {
		if c, err := net.Dial("tcp", "127.0.0.1:"+p); err == nil {
			c.Close()
			t.Errorf("port %s still open after Ctrl-C", p)
		}
	}
	t.Logf("the scenario took %v", time.Since(began).Round(time.Millisecond))
}

// checkClientLog reads failover.sh's client log: steps ("== ...") and one
// "time status route" line per request.
func checkClientLog(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	step := ""
	byStep := map[string][]string{} // step -> "status route" per request
	var order []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if s, ok := strings.CutPrefix(line, "== "); ok {
			step = strings.Fields(s)[0] + " " + strings.Fields(s)[1] + " " + strings.Fields(s)[2]
			order = append(order, step)
			continue
		}
		f := strings.Fields(line)
		if len(f) == 3 {
			byStep[step] = append(byStep[step], f[1]+" "+f[2])
		}
	}
	t.Logf("steps %q; requests per step: %d %d %d %d %d", order, len(byStep["both nodes answer"]),
		len(byStep["node1 hangs (SIGSTOP"]), len(byStep["node1 is killed"]), len(byStep["node1 starts again:"]), len(byStep["node1 is back"]))
	if len(order) != 5 {
		t.Fatalf("steps %q, want 5", order)
	}
	count := func(reqs []string, what string) int {
		n := 0
		for _, r := range reqs {
			if r == what {
				n++
			}
		}
		return n
	}
	failed := 0
	for _, s := range order {
		for _, r := range byStep[s] {
			if !strings.HasPrefix(r, "200 ") {
				failed++
				t.Logf("step %q: a request got %q", s, r)
			}
		}
	}
	// The request waiting on node1 when it froze is withdrawn when its
	// agent reports Load -1 and answered by node2.
	hang := byStep["node1 hangs (SIGSTOP"]
	if failed > 0 {
		t.Errorf("%d requests not answered 200; want every request answered", failed)
	}
	if both := byStep["both nodes answer"]; count(both, "200 node1") == 0 || count(both, "200 node2") == 0 {
		t.Errorf("before the hang: %q, want both nodes", both)
	}
	if len(hang) < 4 || count(hang[len(hang)/2:], "200 node2") != len(hang)-len(hang)/2 {
		t.Errorf("while node1 hangs: %q, want node2 answering everything in the second half", hang)
	}
	if killed := byStep["node1 is killed"]; len(killed) == 0 || count(killed, "200 node2") != len(killed) {
		t.Errorf("node1 killed: %q, want node2 answering everything", killed)
	}
	// Back, node1 first takes most requests: the cluster lbmethod evens
	// out what each node was sent within its window.
	if back := byStep["node1 is back"]; count(back, "200 node1") == 0 {
		t.Errorf("after node1 came back: %q, want node1 answering again", back)
	}
}

func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var ports []string
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}
