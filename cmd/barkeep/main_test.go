package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/testnet"
)

// lockedBuffer collects a command's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitForMatch polls s until re matches, for up to 20 s.
func waitForMatch(t *testing.T, s fmt.Stringer, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := re.FindStringSubmatch(s.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no match for %s in:\n%s", re, s.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var visitRE = regexp.MustCompile(`^You are in the (\w+) \(route (\w+)\), visit (\d+)\n$`)

func visit(t *testing.T, c *http.Client, u string) (route string, n int) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	m := visitRE.FindStringSubmatch(string(body))
	if res.StatusCode != 200 || m == nil {
		t.Fatalf("GET %s = %d %q", u, res.StatusCode, body)
	}
	fmt.Sscan(m[3], &n)
	return m[2], n
}

func TestDemoLikeAUser(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr lockedBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"demo", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"}, &stdout, &stderr)
	}()
	m := waitForMatch(t, &stdout, regexp.MustCompile(`(http://127\.0\.0\.1:\d+/bar/)\n`))
	front := m[1]
	admin := waitForMatch(t, &stdout, regexp.MustCompile(`(http://127\.0\.0\.1:\d+/balancer-manager)`))[1]

	// New clients (curl without a cookie jar) spread over the pubs.
	seen := map[string]int{}
	for range 30 {
		route, n := visit(t, &http.Client{}, front)
		if n != 1 {
			t.Errorf("a new client's first visit is number %d", n)
		}
		seen[route]++
	}
	for _, p := range []string{"elm", "oak", "ash"} {
		if seen[p] != 10 {
			t.Errorf("new clients: pub %s got %d of 30, want 10 (%v)", p, seen[p], seen)
		}
	}

	// One client with a cookie jar stays in one pub, and its count rises.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	first, _ := visit(t, c, front)
	for want := 2; want <= 10; want++ {
		route, n := visit(t, c, front)
		if route != first || n != want {
			t.Fatalf("visit %d with a cookie jar: pub %s visit %d, want pub %s visit %d", want, route, n, first, want)
		}
	}

	// "/" is a page of things to try, not a bare 404.
	res, err := http.Get(strings.TrimSuffix(front, "bar/"))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{`href="/bar/"`, admin, "curl -s -c /tmp/barkeep.jar"} {
		if res.StatusCode != 200 || !strings.Contains(string(page), want) {
			t.Errorf("GET / = %d, page lacks %q:\n%s", res.StatusCode, want, page)
		}
	}

	res, err = http.Get(admin)
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(page), "balancer://barcrawl") {
		t.Error("balancer-manager does not show barcrawl")
	}

	cancel() // Ctrl-C
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("demo exited %d after Ctrl-C, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop after Ctrl-C")
	}
	if !strings.Contains(stdout.String(), "route="+first+" sticky="+first) {
		t.Error("access log lacks the sticky requests")
	}
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("listen: [\"127.0.0.1:8000\"]\nbalancers:\n  - name: x\n    lbmethod: fastest\n    members:\n      - url: http://a:1\n        loadfactor: 0\n"), 0o644)
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"check-config", bad}, &stdout, &stderr); code != 2 {
		t.Errorf("check-config on a bad file: exit %d, want 2", code)
	}
	for _, want := range []string{bad + ":4: balancers[0].lbmethod:", bad + ":7: balancers[0].members[0].loadfactor:"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	stderr.Reset()
	if code := run(t.Context(), []string{"serve", "--config", bad}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "nothing started") {
		t.Errorf("serve on a bad file: exit %d, stderr %q", code, stderr.String())
	}
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("balancers:\n  - name: x\n    members:\n      - url: http://a:1\nroutes:\n  - {path: /, balancer: x}\n"), 0o644)
	stdout.Reset()
	if code := run(t.Context(), []string{"check-config", good}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "OK (1 balancers, 1 members, 1 routes)") {
		t.Errorf("check-config on a good file: exit %d, %q", code, stdout.String())
	}
	if code := run(t.Context(), []string{"serve"}, &stdout, &stderr); code != 2 {
		t.Errorf("serve without --config: exit %d, want 2", code)
	}
	stdout.Reset()
	if code := run(t.Context(), []string{"version"}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "barkeep ") {
		t.Errorf("version: %d %q", code, stdout.String())
	}
}

// buildBinary builds cmd/barkeep once per test binary run.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "barkeep-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "barkeep")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	// Clusters of barkeep processes and browser tests: not beside the
	// other heavy packages (see testnet.Exclusive).
	code := testnet.RunExclusive(m)
	if bin, err := buildOnce(); err == nil {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

const serveConfig = `listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
access_log: {path: off}
server: {shutdown_timeout: 20s}
balancers:
  - name: web
    members:
%s
routes:
  - {path: /, balancer: web}
`

func memberYAML(urls ...string) string {
	var b strings.Builder
	for i, u := range urls {
		fmt.Fprintf(&b, "      - {url: %q, route: r%d}\n", u, i)
	}
	return b.String()
}

func TestServeReloadAndGracefulStop(t *testing.T) {
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	slowStarted := make(chan struct{}, 1)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			slowStarted <- struct{}{}
			<-release
		}
		io.WriteString(w, "served by a")
	}))
	defer backend.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "served by b")
	}))
	defer other.Close()

	file := filepath.Join(t.TempDir(), "barkeep.yaml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(fmt.Sprintf(serveConfig, memberYAML(backend.URL)))
	cmd := exec.Command(bin, "serve", "--config", file, "--log-format", "json")
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer cmd.Process.Kill()

	m := waitForMatch(t, &stderr, regexp.MustCompile(`"msg":"barkeep started","listen":"([^"]+)","tls":"[^"]*","admin":"([^"]+)"`))
	front, admin := "http://"+m[1], "http://"+m[2]
	get := func(path string) string {
		res, err := http.Get(front + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	for range 5 {
		if got := get("/"); got != "served by a" {
			t.Fatalf("before reload: %q", got)
		}
	}

	// A bad file on SIGHUP is refused; the old configuration keeps serving.
	write("balancers:\n  - name: web\n    lbmethod: nope\n")
	cmd.Process.Signal(syscall.SIGHUP)
	waitForMatch(t, &stderr, regexp.MustCompile(`reload refused`))
	if !strings.Contains(stderr.String(), `barkeep.yaml:3: balancers[0].lbmethod: unknown lbmethod`) {
		t.Errorf("the refused reload does not list the problem with its line:\n%s", stderr.String())
	}
	if got := get("/"); got != "served by a" {
		t.Fatalf("after a refused reload: %q", got)
	}

	// A good file adds member b; member a keeps its counters.
	write(fmt.Sprintf(serveConfig, memberYAML(backend.URL, other.URL)))
	cmd.Process.Signal(syscall.SIGHUP)
	waitForMatch(t, &stderr, regexp.MustCompile(`"msg":"configuration reloaded"`))
	got := map[string]int{}
	for range 10 {
		got[get("/")]++
	}
	if got["served by a"] != 5 || got["served by b"] != 5 {
		t.Errorf("after reload: %v, want a and b 5 each", got)
	}
	var api struct {
		Balancers []struct {
			Members []struct {
				Name    string
				Elected uint64
			}
		}
	}
	res, err := http.Get(admin + "/api/v1/balancers")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(res.Body).Decode(&api)
	res.Body.Close()
	if len(api.Balancers) != 1 || len(api.Balancers[0].Members) != 2 || api.Balancers[0].Members[0].Elected != 11 {
		t.Errorf("member a after reload: %+v, want elected 11 (6 before the reload + 5 after)", api)
	}

	// SIGTERM with a request in flight: it completes, then barkeep exits 0.
	slow := make(chan string, 1)
	go func() { slow <- get("/slow") }()
	<-slowStarted
	cmd.Process.Signal(syscall.SIGTERM)
	waitForMatch(t, &stderr, regexp.MustCompile(`"msg":"shutting down"`))
	// The listener closes while the slow request is still being served.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		c, err := net.Dial("tcp", m[1])
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections 10s after SIGTERM")
		}
	}
	close(release)
	if got := <-slow; got != "served by a" {
		t.Errorf("in-flight request during shutdown: %q", got)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("barkeep exited with %v, want status 0\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("barkeep did not exit after SIGTERM")
	}
}
