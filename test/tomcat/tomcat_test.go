// Package tomcat tests barkeep against real Tomcat instances over AJP:
// two private instances on loopback with jvmRoutes tc1 and tc2, a servlet
// with a session, and barkeep's proxy in front. .ci/run installs Debian's
// tomcat10 and a JDK and sets BARKEEP_TOMCAT=1, which turns a missing
// Tomcat into a failure instead of a skip.
package tomcat

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/ajp"
	"github.com/barkeep-lb/barkeep/internal/proxy"
	"github.com/barkeep-lb/barkeep/internal/proxy/proxytest"
	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/internal/testnet"
)

const catalinaHome = "/usr/share/tomcat10"

// need skips, or in CI fails, when a tool is missing.
func need(t *testing.T, what, path string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	if os.Getenv("BARKEEP_TOMCAT") != "" {
		t.Fatalf("%s not found at %s (install Debian's tomcat10 and a JDK; .ci/run does)", what, path)
	}
	t.Skipf("%s not found at %s; set BARKEEP_TOMCAT=1 to make this a failure", what, path)
}

// webapp compiles Pub.java into a ROOT webapp under dir/webapps.
func webapp(t *testing.T, dir string) string {
	t.Helper()
	javac, err := exec.LookPath("javac")
	if err != nil {
		need(t, "javac", "/nonexistent/javac")
	}
	root := filepath.Join(dir, "webapps", "ROOT")
	classes := filepath.Join(root, "WEB-INF", "classes")
	if err := os.MkdirAll(classes, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(javac, "-nowarn", "-cp", filepath.Join(catalinaHome, "lib", "servlet-api.jar"),
		"-d", classes, "Pub.java").CombinedOutput()
	if err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	write(t, filepath.Join(root, "WEB-INF", "web.xml"), `<?xml version="1.0" encoding="UTF-8"?>
<web-app xmlns="https://jakarta.ee/xml/ns/jakartaee" version="5.0" metadata-complete="true">
  <servlet><servlet-name>pub</servlet-name><servlet-class>Pub</servlet-class></servlet>
  <servlet-mapping><servlet-name>pub</servlet-name><url-pattern>/*</url-pattern></servlet-mapping>
</web-app>
`)
	return filepath.Join(dir, "webapps")
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tomcat is one private Tomcat instance.
type tomcat struct {
	route string
	addr  string
	cmd   *exec.Cmd
	log   *bytes.Buffer
}

const secret = "barkeep-test-secret"

// start runs a Tomcat with its own CATALINA_BASE, an AJP connector on
// loopback (with a secret) and jvmRoute route, serving the webapp.
func start(t *testing.T, route, webapps string) *tomcat {
	t.Helper()
	base := t.TempDir()
	for _, f := range []string{"web.xml", "catalina.properties", "logging.properties", "context.xml"} {
		b, err := os.ReadFile(filepath.Join(catalinaHome, "etc", f))
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(base, "conf", f), string(b))
	}
	addr := testnet.ClosedAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	write(t, filepath.Join(base, "conf", "server.xml"), fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector protocol="AJP/1.3" address="127.0.0.1" port="%s" secret="%s" secretRequired="true" maxPostSize="-1"/>
    <Engine name="Catalina" defaultHost="localhost" jvmRoute="%s">
      <Host name="localhost" appBase="%s" unpackWARs="false" autoDeploy="false"/>
    </Engine>
  </Service>
</Server>
`, port, secret, route, webapps))
	for _, d := range []string{"logs", "temp", "work"} {
		os.MkdirAll(filepath.Join(base, d), 0o755)
	}
	tc := &tomcat{route: route, addr: addr, log: new(bytes.Buffer)}
	tc.cmd = exec.Command(filepath.Join(catalinaHome, "bin", "catalina.sh"), "run")
	tc.cmd.Env = append(os.Environ(), "CATALINA_HOME="+catalinaHome, "CATALINA_BASE="+base,
		"CATALINA_TMPDIR="+filepath.Join(base, "temp"), "JAVA_OPTS=-Xmx128m -Xss512k -Dbarkeep.route="+route)
	tc.cmd.Stdout, tc.cmd.Stderr = tc.log, tc.log
	if err := tc.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		tc.cmd.Process.Kill()
		tc.cmd.Wait()
		if t.Failed() {
			t.Logf("tomcat %s output:\n%s", route, tc.log)
		}
	})
	return tc
}

// waitReady waits until the instance answers CPING (it opens its
// connector after deploying the webapp).
func (tc *tomcat) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if err := (&ajp.Transport{}).Ping(context.Background(), tc.addr, time.Second); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tomcat %s not ready after 90s:\n%s", tc.route, tc.log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var answer = regexp.MustCompile(`^route=(\w+) visit=(\d+) size=(\d+) sha256=(\w*) remote=([\d.]+) server=(\S+)$`)

func TestTomcatOverAJP(t *testing.T) {
	need(t, "Tomcat 10", filepath.Join(catalinaHome, "bin", "catalina.sh"))
	webapps := webapp(t, t.TempDir())
	tc1, tc2 := start(t, "tc1", webapps), start(t, "tc2", webapps)
	tc1.waitReady(t)
	tc2.waitReady(t)

	store := registry.NewStore()
	b := &registry.Balancer{Name: "tomcats", StickySession: []string{"JSESSIONID", "jsessionid"}, StickySessionSep: '.',
		MaxAttempts: -1, FailOnTimeout: true}
	for _, tc := range []*tomcat{tc1, tc2} {
		u := &url.URL{Scheme: "ajp", Host: tc.addr}
		b.Members = append(b.Members, &registry.Member{Name: u.String(), URL: u, Route: tc.route, LoadFactor: 1,
			Retry: time.Minute, ConnectionTimeout: 5 * time.Second, Timeout: 60 * time.Second, SMax: 8, TTL: time.Minute,
			Secret: secret, Ping: 5 * time.Second})
	}
	_, err := store.Update(func(d *registry.Draft) error {
		d.SetRoutes([]*registry.Route{{Path: "/", Pass: true, BalancerName: "tomcats", TargetPath: "/"}})
		return d.PutBalancer(b)
	})
	if err != nil {
		t.Fatal(err)
	}
	h := proxy.New(store, proxy.Options{Log: slog.New(slog.DiscardHandler)})
	front := proxytest.Start(t, h, proxytest.HTTP1, proxy.ServerOptions{})
	defer h.CloseIdleConnections()

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 60 * time.Second}
	visit := func(method string, body []byte) []string {
		t.Helper()
		req, _ := http.NewRequest(method, front.URL+"/pub", bytes.NewReader(body))
		if body == nil {
			req.Body = nil
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		m := answer.FindStringSubmatch(string(b))
		if res.StatusCode != 200 || m == nil {
			t.Fatalf("%s through barkeep: %d %q", method, res.StatusCode, b)
		}
		return m
	}

	// A new session gets JSESSIONID=<id>.<jvmRoute> and sticks.
	first := visit("GET", nil)
	route := first[1]
	var cookie string
	for _, c := range jar.Cookies(must(url.Parse(front.URL))) {
		if c.Name == "JSESSIONID" {
			cookie = c.Value
		}
	}
	if !strings.HasSuffix(cookie, "."+route) {
		t.Fatalf("JSESSIONID %q does not end in the jvmRoute .%s", cookie, route)
	}
	if first[5] != "127.0.0.1" || !strings.HasPrefix(first[6], "127.0.0.1") {
		t.Errorf("Tomcat saw remote %s server %s, want the client's address and the host it asked for", first[5], first[6])
	}
	for want := 2; want <= 20; want++ {
		m := visit("GET", nil)
		if m[1] != route || m[2] != fmt.Sprint(want) {
			t.Fatalf("visit %d: served by %s with count %s, want %s and %d", want, m[1], m[2], route, want)
		}
	}

	// A 1 MiB POST arrives intact.
	payload := make([]byte, 1<<20)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	sum := sha256.Sum256(payload)
	if m := visit("POST", payload); m[3] != fmt.Sprint(len(payload)) || m[4] != hex.EncodeToString(sum[:]) {
		t.Errorf("1 MiB POST: Tomcat read %s bytes with sha256 %s", m[3], m[4])
	}

	// Kill the session's instance: the next request fails over to the other.
	dead, alive := tc1, tc2
	if route == "tc2" {
		dead, alive = tc2, tc1
	}
	dead.cmd.Process.Kill()
	dead.cmd.Wait()
	m := visit("GET", nil)
	if m[1] != alive.route || m[2] != "1" {
		t.Errorf("after killing %s: served by %s visit %s, want a new session on %s", dead.route, m[1], m[2], alive.route)
	}
	if m := visit("GET", nil); m[1] != alive.route || m[2] != "2" {
		t.Errorf("the new session does not stick to %s: %v", alive.route, m)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
