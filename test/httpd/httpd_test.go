// Package httpd checks "barkeep convert" against the real thing: Debian's
// Apache httpd runs a mod_proxy_balancer configuration, barkeep runs what
// convert made of the same file, and both face the same script of
// requests in front of recording backends. Which backend got each request,
// the path it saw and the rewritten Location and Set-Cookie headers must be
// the same: sticky sessions (cookie and ;jsessionid=), weighted byrequests,
// failover to another member, a hot standby, ProxyPass exclusions and
// ProxyPassReverse/ProxyPassReverseCookiePath.
//
// .ci/run installs Debian's apache2 and sets BARKEEP_HTTPD=1, which turns
// a missing httpd into a failure instead of a skip. Everything listens on
// 127.0.0.1.
package httpd

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var sessionNumber = regexp.MustCompile(`S[0-9]+\.`)

const (
	apache2 = "/usr/sbin/apache2"
	modules = "/usr/lib/apache2/modules"
)

func needHttpd(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(modules, "mod_proxy_balancer.so")); err == nil {
		if _, err := os.Stat(apache2); err == nil {
			return
		}
	}
	if os.Getenv("BARKEEP_HTTPD") != "" {
		t.Fatalf("%s or its proxy modules are missing (install Debian's apache2; .ci/run does)", apache2)
	}
	t.Skipf("%s not installed; set BARKEEP_HTTPD=1 to make this a failure", apache2)
}

// backend is a recording member: it answers with its route and the path
// it saw, gives a new client a JSESSIONID=<n>.<route> cookie with Path
// /examples, and redirects /examples/redirect to its own /examples/login.
type backend struct {
	route string
	srv   *http.Server
	l     net.Listener
	addr  string
	mu    sync.Mutex
	n     int
}

func startBackend(t *testing.T, route string) *backend {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{route: route, l: l, addr: l.Addr().String()}
	b.srv = &http.Server{Handler: b}
	go b.srv.Serve(l)
	t.Cleanup(b.stop)
	return b
}

func (b *backend) stop() { b.srv.Close() }

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, err := r.Cookie("JSESSIONID"); err != nil && !strings.Contains(r.URL.RawPath+r.URL.Path, ";jsessionid=") {
		b.mu.Lock()
		b.n++
		id := fmt.Sprintf("S%d.%s", b.n, b.route)
		b.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: id, Path: "/examples"})
	}
	if strings.HasSuffix(r.URL.Path, "/redirect") {
		w.Header().Set("Location", "http://"+b.addr+"/examples/login")
		w.WriteHeader(http.StatusFound)
		return
	}
	fmt.Fprintf(w, "%s %s host=%s xff=%s xfh=%s", b.route, r.RequestURI, r.Host, r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Host"))
}

// httpdConf is the configuration both sides run: httpd as it is, barkeep
// after "barkeep convert". %[1]s is the listener, %[2]s..%[4]s the members.
const httpdConf = `# The classic mod_proxy_balancer setup: two application servers with
# jvmRoutes, one weighted higher, a hot standby, sticky JSESSIONID.
ServerRoot "%[5]s"
LoadModule mpm_event_module %[6]s/mod_mpm_event.so
LoadModule authz_core_module %[6]s/mod_authz_core.so
LoadModule proxy_module %[6]s/mod_proxy.so
LoadModule proxy_http_module %[6]s/mod_proxy_http.so
LoadModule proxy_balancer_module %[6]s/mod_proxy_balancer.so
LoadModule slotmem_shm_module %[6]s/mod_slotmem_shm.so
LoadModule lbmethod_byrequests_module %[6]s/mod_lbmethod_byrequests.so
PidFile httpd.pid
ErrorLog error.log
DefaultRuntimeDir .
Mutex file:%[5]s default
ServerName localhost
DocumentRoot "%[5]s/htdocs"
StartServers 1
ServerLimit 1
%[7]s
Listen %[1]s

<IfModule proxy_balancer_module>
  <Proxy "balancer://tomcats">
    BalancerMember http://%[2]s route=tc1 loadfactor=2 retry=60
    BalancerMember http://%[3]s route=tc2 retry=60
    BalancerMember http://%[4]s route=tc3 status=+H
    ProxySet lbmethod=byrequests stickysession=JSESSIONID|jsessionid
  </Proxy>
</IfModule>

ProxyPass /app/static !
ProxyPass /app balancer://tomcats/examples
ProxyPassReverse /app balancer://tomcats/examples
ProxyPassReverseCookiePath /examples /app
`

// observation is what a client and the backends saw for one request,
// with addresses replaced by names so both sides compare.
type observation struct {
	step     string
	status   int
	body     string // "<route> <path the member saw> host= xff= xfh=" as the member saw them
	location string
	cookie   string // Set-Cookie, with its Path
}

func (o observation) String() string {
	return fmt.Sprintf("%-22s %d %-75q loc=%q cookie=%q", o.step, o.status, o.body, o.location, o.cookie)
}

// script sends the same requests to front, killing members on the way,
// and returns what happened.
func script(t *testing.T, front string, tc []*backend) []observation {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	names := strings.NewReplacer(front, "FRONT", tc[0].addr, "TC1", tc[1].addr, "TC2", tc[2].addr, "TC3")
	var out []observation
	get := func(step, path, cookie string, header ...string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+front+path, nil)
		if cookie != "" {
			req.Header.Set("Cookie", "JSESSIONID="+cookie)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: GET %s: %v", step, path, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		// Session numbers count a backend's new sessions; compare the route.
		setCookie := sessionNumber.ReplaceAllString(res.Header.Get("Set-Cookie"), "S#.")
		o := observation{step: step, status: res.StatusCode, location: names.Replace(res.Header.Get("Location")), cookie: setCookie}
		if res.StatusCode < 400 {
			o.body = names.Replace(string(body))
		}
		out = append(out, o)
	}
	for i := range 9 {
		get(fmt.Sprintf("new session %d", i), "/app/page", "")
	}
	for i := range 3 {
		get(fmt.Sprintf("cookie tc2 %d", i), "/app/page?x=1", "old.tc2")
	}
	get("path parameter tc1", "/app/page;jsessionid=old.tc1", "")
	get("cookie unknown route", "/app/page", "old.gone")
	get("redirect", "/app/redirect", "old.tc1")
	get("redirect new session", "/app/redirect", "")
	get("client's forwarded chain", "/app/page", "old.tc1", "X-Forwarded-For", "203.0.113.7, 198.51.100.2")
	get("excluded", "/app/static/logo.png", "")
	get("unrouted", "/nothing-here", "")

	tc[1].stop() // tc2 dies
	for i := range 3 {
		get(fmt.Sprintf("tc2 dead, cookie %d", i), "/app/page", "old.tc2")
	}
	for i := range 4 {
		get(fmt.Sprintf("tc2 dead, new %d", i), "/app/page", "")
	}
	tc[0].stop() // tc1 dies too: only the hot standby is left
	for i := range 3 {
		get(fmt.Sprintf("standby %d", i), "/app/page", "old.tc1")
	}
	return out
}

// waitListening waits until addr accepts connections, for up to 15 s.
func waitListening(t *testing.T, addr string, log func() string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s after 15s:\n%s", addr, log())
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// writeConf writes the httpd configuration for front and tc into dir.
func writeConf(t *testing.T, dir, front string, tc []*backend) string {
	t.Helper()
	user := ""
	if os.Geteuid() == 0 {
		user = "User #65534\nGroup #65534" // httpd refuses to serve as root
	}
	os.MkdirAll(filepath.Join(dir, "htdocs"), 0o755)
	conf := fmt.Sprintf(httpdConf, front, tc[0].addr, tc[1].addr, tc[2].addr, dir, modules, user)
	path := filepath.Join(dir, "httpd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runHttpd(t *testing.T) []observation {
	dir := t.TempDir()
	// httpd's children run as nobody and look for files in htdocs.
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	tc := []*backend{startBackend(t, "tc1"), startBackend(t, "tc2"), startBackend(t, "tc3")}
	front := freeAddr(t)
	conf := writeConf(t, dir, front, tc)
	cmd := exec.Command(apache2, "-f", conf, "-DFOREGROUND")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	errorLog := func() string { b, _ := os.ReadFile(filepath.Join(dir, "error.log")); return out.String() + string(b) }
	waitListening(t, front, errorLog)
	return script(t, front, tc)
}

func buildBarkeep(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "barkeep")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/barkeep").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func runBarkeep(t *testing.T, bin string) ([]observation, string) {
	dir := t.TempDir()
	tc := []*backend{startBackend(t, "tc1"), startBackend(t, "tc2"), startBackend(t, "tc3")}
	front := freeAddr(t)
	conf := writeConf(t, dir, front, tc)
	var yaml, stderr bytes.Buffer
	cmd := exec.Command(bin, "convert", conf)
	cmd.Stdout, cmd.Stderr = &yaml, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("barkeep convert: %v\n%s", err, stderr.String())
	}
	// The converted file has no admin listener of its own (the httpd file
	// has no balancer-manager), so barkeep's default 127.0.0.1:8090 would
	// apply; other tests may hold that port.
	file := filepath.Join(dir, "barkeep.yaml")
	os.WriteFile(file, append(yaml.Bytes(), fmt.Sprintf("admin: {listen: %q}\naccess_log: {path: \"off\"}\n", freeAddr(t))...), 0o644)
	srv := exec.Command(bin, "serve", "--config", file)
	var log bytes.Buffer
	srv.Stdout, srv.Stderr = &log, &log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	waitListening(t, front, log.String)
	return script(t, front, tc), yaml.String() + "\n--- convert's findings\n" + stderr.String()
}

// knownDifferences are the steps where barkeep deliberately or knowingly
// differs from httpd, with why; docs/migrating-from-httpd.md lists them.
var knownDifferences = map[string]string{
	// Sticky requests before it: httpd's proxy_balancer_pre_request charges
	// a request that follows its session route to that member's lbstatus
	// as if byrequests had picked it; barkeep's byrequests counts only the
	// requests it places, so after sticky traffic the next new session can
	// go to another member.
	"redirect new session": "byrequests: httpd counts sticky requests in lbstatus, barkeep does not",
}

func TestConvertedConfigRoutesLikeHttpd(t *testing.T) {
	needHttpd(t)
	bin := buildBarkeep(t)
	want := runHttpd(t)
	got, converted := runBarkeep(t, bin)

	// The script must have shown each behaviour, so equal results mean
	// equal behaviour, not equal failure.
	route := func(o observation) string { r, _, _ := strings.Cut(o.body, " "); return r }
	var newRoutes []string
	for _, o := range want[:9] {
		newRoutes = append(newRoutes, route(o))
	}
	if !slices.Contains(newRoutes, "tc1") || !slices.Contains(newRoutes, "tc2") || slices.Contains(newRoutes, "tc3") {
		t.Errorf("httpd's new sessions went to %v; the script expects tc1 and tc2, never the standby", newRoutes)
	}
	if route(want[9]) != "tc2" || route(want[12]) != "tc1" || route(want[len(want)-1]) != "tc3" || want[14].location != "http://FRONT/app/login" ||
		!strings.Contains(want[16].body, "xff=203.0.113.7, 198.51.100.2, 127.0.0.1") {
		t.Errorf("httpd did not show stickiness, redirect rewriting or the standby; the script is wrong:\n%s", table(want))
	}

	if len(got) != len(want) {
		t.Fatalf("barkeep answered %d requests, httpd %d", len(got), len(want))
	}
	diff := false
	for i := range want {
		why, known := knownDifferences[want[i].step]
		switch {
		case got[i] != want[i] && known:
			t.Logf("known difference at %q: %s\n   httpd:   %v\n   barkeep: %v", want[i].step, why, want[i], got[i])
		case got[i] != want[i]:
			diff = true
			t.Errorf("%s\n   httpd:   %v\n   barkeep: %v", want[i].step, want[i], got[i])
		case known:
			t.Errorf("the known difference at %q is gone (%s); remove it from knownDifferences and docs/migrating-from-httpd.md", want[i].step, why)
		}
	}
	if diff || testing.Verbose() {
		t.Logf("httpd:\n%s\nbarkeep:\n%s\nconverted configuration:\n%s", table(want), table(got), converted)
	}
}

func table(os []observation) string {
	var b strings.Builder
	for _, o := range os {
		b.WriteString(o.String() + "\n")
	}
	return b.String()
}
