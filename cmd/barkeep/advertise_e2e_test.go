package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/mcmp"
)

// inNetns runs the test named name again in a network namespace of its own
// whose loopback carries multicast (lo up, MULTICAST, a 224.0.0.0/4 route),
// and reports its result. It returns true when the caller is that run.
// Without root or ip(8) the test is skipped, or fails when BARKEEP_NETNS=1
// (CI) says it must run.
func inNetns(t *testing.T, name string) bool {
	t.Helper()
	if os.Getenv("BARKEEP_IN_NETNS") == name {
		return true
	}
	_, ipErr := exec.LookPath("ip")
	if os.Geteuid() != 0 || ipErr != nil {
		if os.Getenv("BARKEEP_NETNS") == "1" {
			t.Fatalf("%s needs root and ip(8) for a network namespace (BARKEEP_NETNS=1)", name)
		}
		t.Skip("needs root and ip(8) for a network namespace; set BARKEEP_NETNS=1 to make this a failure")
	}
	ns := "barkeep-test-" + strconv.Itoa(os.Getpid())
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	ip("-n", ns, "link", "set", "lo", "up")
	ip("-n", ns, "link", "set", "lo", "multicast", "on")
	ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", "lo")
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, os.Args[0], "-test.run", "^"+name+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "BARKEEP_IN_NETNS="+name)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s in network namespace %s: %v\n%s", name, ns, err, out)
	}
	t.Logf("in network namespace %s:\n%s", ns, out)
	return false
}

func TestAdvertiseDiscoveryIgnoresForgedDatagrams(t *testing.T) {
	if !inNetns(t, t.Name()) {
		return
	}
	const group, key = "224.0.1.105:23364", "s3cret"
	s, _ := serveCtl(t, fmt.Sprintf(managedConfig, "127.0.0.1:0", "127.0.0.1:0",
		fmt.Sprintf("  advertise: {group: %q, interval: 200ms, security_key: %s, interface: lo}\n", group, key)))

	// A trap: a manager that a forged datagram announces. The agent must
	// never contact it.
	var trapped atomic.Int32
	trap := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { trapped.Add(1) }))
	defer trap.Close()
	forge := func(ctx context.Context) {
		c, err := net.Dial("udp4", group)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		for seq := int64(1); ctx.Err() == nil; seq++ {
			for _, k := range []string{"wrong key", ""} {
				ad := &mcmp.Advertisement{Status: 200, Date: time.Now().UTC().Format(http.TimeFormat), Sequence: seq,
					Server: "forger-" + k, ManagerAddress: trap.Listener.Addr().String(), ManagerURL: "/", ManagerProtocol: "http", ManagerHost: "x"}
				ad.Sign(k)
				c.Write(ad.Marshal())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go forge(ctx)

	backend := newAppBackend(t, "A", 0)
	_, log := agentCmd(t, "--advertise", "--advertise-interface", "lo", "--advertise-key", key,
		"--route", "node1", "--backend", backend.URL, "--context", "/app", "--interval", "500ms", "--metric", "static:factor=60")
	took := waitFor(t, 10*time.Second, "node1 registered through advertise", func() bool {
		l, ok := nodeLoad(info(t, s.managerAddr), "node1")
		return ok && l == 60
	})
	t.Logf("registered %v after the agent started", took)
	if code, body := get("http://"+s.clientAddrs[0]+"/app/x", ""); code != 200 || body != "A" {
		t.Errorf("GET /app/x = %d %q, want 200 A", code, body)
	}
	time.Sleep(500 * time.Millisecond) // more forged datagrams arrive meanwhile
	cancel()
	if !strings.Contains(log.String(), "wrong digest") {
		t.Errorf("the agent saw no forged datagram; its log:\n%s", log.String())
	}
	if n := trapped.Load(); n != 0 {
		t.Errorf("the agent contacted the manager of forged datagrams %d times", n)
	}
}
