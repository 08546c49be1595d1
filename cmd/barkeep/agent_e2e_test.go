package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/config"
	"github.com/barkeep-lb/barkeep/internal/testcert"
)

// managedConfig is a barkeep with a manager listener and no configured
// balancer: the nodes bring their contexts over MCMP.
const managedConfig = `listen: [%q]
admin: {listen: ""}
access_log: {path: off}
server: {shutdown_timeout: 20s}
manager:
  listen: %q
%s`

// serveCtl runs "barkeep serve" in this process on cfgText (SIGHUP reloads
// cfgText again) and returns it with a stop function that waits for it to
// end; the test's cleanup stops it too.
func serveCtl(t *testing.T, cfgText string) (*server, func()) {
	t.Helper()
	load := func() (*config.Config, error) { return config.Parse("e2e.yaml", []byte(cfgText)) }
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *server, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, load, serverOptions{stdout: io.Discard, stderr: io.Discard}, func(s *server) { ready <- s })
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	select {
	case s := <-ready:
		return s, stop
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	return nil, nil
}

// agentCmd runs "barkeep agent args..." in this process. stop is SIGTERM:
// it cancels the command's context and waits for the drain to end,
// returning the exit status.
func agentCmd(t *testing.T, args ...string) (stop func() int, log *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	stderr := new(lockedBuffer)
	go func() {
		done <- run(ctx, append([]string{"agent", "--log-format", "text"}, args...), io.Discard, stderr)
	}()
	var once sync.Once
	code := 0
	stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("agent did not stop within 30s; its log:\n%s", stderr.String())
			}
			if code != 0 {
				t.Errorf("agent exited %d; its log:\n%s", code, stderr.String())
			}
		})
		return code
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("agent %s log:\n%s", strings.Join(args, " "), stderr.String())
		}
	})
	return stop, stderr
}

// info returns the manager's INFO text.
func info(t *testing.T, manager string) string {
	t.Helper()
	req, _ := http.NewRequest("INFO", "http://"+manager+"/", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// nodeLoad returns the Load INFO shows for route, or ok false when the
// manager does not list it with an ENABLED context.
func nodeLoad(text, route string) (load int, ok bool) {
	m := regexp.MustCompile(`(?m)^Node: \[(\d+)\],Name: ` + regexp.QuoteMeta(route) + `,.*,Load: (-?\d+)$`).FindStringSubmatch(text)
	if m == nil || !strings.Contains(text, "Context: ["+m[1]+":") {
		return 0, false
	}
	load, _ = strconv.Atoi(m[2])
	return load, true
}

// waitFor polls cond every 20 ms until it holds or the timeout passes, and
// returns how long it took.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

func get(url, cookie string) (int, string) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// appBackend is an HTTP backend answering name, with a Prometheus gauge
// "jobs" at /metrics and /app/slow taking slow to answer.
type appBackend struct {
	*httptest.Server
	jobs     atomic.Int64
	inFlight atomic.Int64
	slow     time.Duration
	mu       sync.Mutex
	slowEnds []time.Time
}

func newAppBackend(t *testing.T, name string, slow time.Duration) *appBackend {
	b := &appBackend{slow: slow}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			fmt.Fprintf(w, "# TYPE jobs gauge\njobs %d\n", b.jobs.Load())
			return
		}
		if r.URL.Path == "/app/slow" {
			b.inFlight.Add(1)
			time.Sleep(b.slow)
			b.inFlight.Add(-1)
			defer func() {
				b.mu.Lock()
				b.slowEnds = append(b.slowEnds, time.Now())
				b.mu.Unlock()
			}()
		}
		io.WriteString(w, name)
	}))
	t.Cleanup(b.Close)
	return b
}

func TestAgentReportsTheBackendsMetricToServe(t *testing.T) {
	s, _ := serveCtl(t, fmt.Sprintf(managedConfig, "127.0.0.1:0", "127.0.0.1:0", ""))
	front := "http://" + s.clientAddrs[0]
	a := newAppBackend(t, "A", 0)
	a.jobs.Store(20)
	const interval = time.Second
	agentCmd(t, "--proxy", s.managerAddr, "--route", "node1", "--backend", a.URL, "--context", "/app",
		"--interval", interval.String(),
		"--metric", "prometheus:url="+a.URL+"/metrics,name=jobs,capacity=100")

	waitFor(t, 10*time.Second, "node1 registered with Load 80 (20 jobs of 100)", func() bool {
		l, ok := nodeLoad(info(t, s.managerAddr), "node1")
		return ok && l == 80
	})
	if code, body := get(front+"/app/x", ""); code != 200 || body != "A" {
		t.Fatalf("GET /app/x through serve = %d %q, want 200 A", code, body)
	}
	// The metric doubles: the balancer has the new Load, (0.4 + 0.2/2)/1.5
	// → 67, within one interval.
	a.jobs.Store(40)
	took := waitFor(t, 3*interval, "Load 67 after the metric doubled", func() bool {
		l, _ := nodeLoad(info(t, s.managerAddr), "node1")
		return l == 67
	})
	if took > interval+300*time.Millisecond {
		t.Errorf("the new Load reached the balancer after %v, want within one interval (%v)", took, interval)
	}
	t.Logf("Load changed %v after the metric doubled (interval %v)", took, interval)
}

// freeAddr returns a loopback address no one listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestAgentReRegistersWhenServeRestarts(t *testing.T) {
	client, manager := freeAddr(t), freeAddr(t)
	cfgText := fmt.Sprintf(managedConfig, client, manager, "")
	_, stop := serveCtl(t, cfgText)
	a := newAppBackend(t, "A", 0)
	const interval = time.Second
	agentCmd(t, "--proxy", manager, "--route", "node1", "--backend", a.URL, "--context", "/app",
		"--interval", interval.String(), "--metric", "static:factor=50")
	waitFor(t, 10*time.Second, "node1 registered", func() bool { _, ok := nodeLoad(info(t, manager), "node1"); return ok })

	stop()
	if code, _ := get("http://"+client+"/app/x", ""); code != 0 {
		t.Fatalf("serve still answers after stop: %d", code)
	}
	serveCtl(t, cfgText) // a new process knows no node
	took := waitFor(t, 4*interval, "node1 registered again", func() bool {
		l, ok := nodeLoad(info(t, manager), "node1")
		return ok && l == 50
	})
	if took > 2*interval {
		t.Errorf("re-registered %v after the restart, want within two intervals (%v)", took, 2*interval)
	}
	if code, body := get("http://"+client+"/app/x", ""); code != 200 || body != "A" {
		t.Errorf("GET /app/x after the restart = %d %q, want 200 A", code, body)
	}
	t.Logf("re-registered %v after serve restarted (interval %v)", took, interval)
}

func TestAgentDrainsOnSIGTERM(t *testing.T) {
	s, _ := serveCtl(t, fmt.Sprintf(managedConfig, "127.0.0.1:0", "127.0.0.1:0", ""))
	front := "http://" + s.clientAddrs[0]
	a := newAppBackend(t, "A", 2*time.Second)
	b := newAppBackend(t, "B", 0)
	common := []string{"--proxy", s.managerAddr, "--context", "/app", "--interval", "500ms", "--metric", "static:factor=50"}
	stopA, _ := agentCmd(t, append([]string{"--route", "nodeA", "--backend", a.URL}, common...)...)
	agentCmd(t, append([]string{"--route", "nodeB", "--backend", b.URL}, common...)...)
	waitFor(t, 10*time.Second, "both nodes registered", func() bool {
		text := info(t, s.managerAddr)
		_, okA := nodeLoad(text, "nodeA")
		_, okB := nodeLoad(text, "nodeB")
		return okA && okB
	})

	// Five slow requests of a session on nodeA.
	type result struct {
		code int
		body string
	}
	results := make(chan result, 5)
	for range 5 {
		go func() {
			code, body := get(front+"/app/slow", "JSESSIONID=s1.nodeA")
			results <- result{code, body}
		}()
	}
	waitFor(t, 5*time.Second, "5 slow requests in flight on A", func() bool { return a.inFlight.Load() == 5 })

	stopped := make(chan time.Time, 1)
	go func() {
		stopA()
		stopped <- time.Now()
	}()
	// During the drain, new requests (no session) go to B.
	// (DISABLED, then STOPPED at once: the sidecar has no requests of its
	// own to wait for.)
	waitFor(t, 5*time.Second, "nodeA's /app disabled or stopped", func() bool {
		return strings.Count(info(t, s.managerAddr), "Status: ENABLED") == 1
	})
	for i := range 10 {
		if code, body := get(front+"/app/new", ""); code != 200 || body != "B" {
			t.Errorf("new request %d during the drain = %d %q, want 200 B", i, code, body)
		}
	}
	select {
	case <-stopped:
		t.Fatal("the agent stopped while the slow requests were still in flight")
	default:
	}
	for range 5 {
		if r := <-results; r.code != 200 || r.body != "A" {
			t.Errorf("slow request = %d %q, want 200 A", r.code, r.body)
		}
	}
	end := <-stopped
	a.mu.Lock()
	for _, e := range a.slowEnds {
		if e.After(end) {
			t.Errorf("the agent stopped %v before a slow request ended", e.Sub(end))
		}
	}
	a.mu.Unlock()
	text := info(t, s.managerAddr)
	if _, ok := nodeLoad(text, "nodeA"); ok || strings.Count(text, "Context: [") != 1 {
		t.Errorf("nodeA still has contexts after the drain:\n%s", text)
	}
	for range 5 {
		if code, body := get(front+"/app/after", "JSESSIONID=s1.nodeA"); code != 200 || body != "B" {
			t.Errorf("request after the drain = %d %q, want 200 B", code, body)
		}
	}
}

func TestAgentConfigFileWithFlagsOverIt(t *testing.T) {
	s, _ := serveCtl(t, fmt.Sprintf(managedConfig, "127.0.0.1:0", "127.0.0.1:0", ""))
	a := newAppBackend(t, "A", 0)
	file := t.TempDir() + "/agent.yaml"
	writeFile(t, file, fmt.Sprintf(`proxies: [%q]
route: from-file
backend: %q
contexts: [/app, /shop]
interval: 500ms
metrics: ["static:factor=30"]
`, s.managerAddr, a.URL))
	agentCmd(t, "--config", file, "--route", "from-flag")
	waitFor(t, 10*time.Second, "from-flag registered with the file's settings", func() bool {
		text := info(t, s.managerAddr)
		l, ok := nodeLoad(text, "from-flag")
		return ok && l == 30 && strings.Contains(text, "Context: /shop, Status: ENABLED")
	})
	if strings.Contains(info(t, s.managerAddr), "from-file") {
		t.Error("the route of the file was used although --route was given")
	}

	writeFile(t, file, fmt.Sprintf("proxies: [%q]\nroute: r\nbackend: %q\nmetrics:\n  - cpu\n  - requests:capacity=10\n", s.managerAddr, a.URL))
	var stderr strings.Builder
	if code := run(t.Context(), []string{"agent", "--config", file}, io.Discard, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), file+":6: metrics[1]: metric requests measures the process it runs in") {
		t.Errorf("a sidecar metric that measures itself: exit %d, %s", code, stderr.String())
	}
}

func writeFile(t *testing.T, name, text string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAgentRegistersOverMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.Issue(t, "ca", nil, true, x509.ExtKeyUsageAny)
	caFile, _ := ca.Write(t, dir, "ca")
	serverCert, serverKey := testcert.Issue(t, "manager", ca, false, x509.ExtKeyUsageServerAuth).Write(t, dir, "manager")
	clientCert, clientKey := testcert.Issue(t, "agent", ca, false, x509.ExtKeyUsageClientAuth).Write(t, dir, "agent")
	s, _ := serveCtl(t, fmt.Sprintf(managedConfig, "127.0.0.1:0", "127.0.0.1:0",
		fmt.Sprintf("  tls: {cert: %q, key: %q, client_ca: %q}\n", serverCert, serverKey, caFile)))
	a := newAppBackend(t, "A", 0)
	common := []string{"--proxy", "https://" + s.managerAddr, "--backend", a.URL, "--context", "/app",
		"--interval", "500ms", "--metric", "static:factor=70", "--tls-ca", caFile}

	// Without a client certificate the manager refuses the connection.
	_, refused := agentCmd(t, append(common, "--route", "nocert")...)
	waitFor(t, 10*time.Second, "the agent without a certificate logs its failure", func() bool {
		return strings.Contains(refused.String(), "balancer exchange failed")
	})
	agentCmd(t, append(common, "--route", "withcert", "--tls-cert", clientCert, "--tls-key", clientKey)...)
	waitFor(t, 10*time.Second, "the agent with a certificate registered", func() bool {
		return strings.Contains(refused.String(), "balancer exchange failed") &&
			strings.Contains(front(t, s), "A")
	})
	text := mtlsInfo(t, s.managerAddr, caFile, clientCert, clientKey)
	if l, ok := nodeLoad(text, "withcert"); !ok || l != 70 {
		t.Errorf("withcert not registered with Load 70:\n%s", text)
	}
	if strings.Contains(text, "nocert") {
		t.Errorf("the agent without a certificate registered:\n%s", text)
	}
}

// front GETs /app/x on s's client listener and returns the body.
func front(t *testing.T, s *server) string {
	_, body := get("http://"+s.clientAddrs[0]+"/app/x", "")
	return body
}

// mtlsInfo sends INFO over TLS with a client certificate.
func mtlsInfo(t *testing.T, manager, caFile, certFile, keyFile string) string {
	t.Helper()
	tc, err := agentTLS(config.AgentTLS{CA: caFile, Cert: certFile, Key: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	defer c.CloseIdleConnections()
	req, _ := http.NewRequest("INFO", "https://"+manager+"/", nil)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}
