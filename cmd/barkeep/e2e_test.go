package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/config"
)

// startServe runs barkeep in this process on cfgText (a YAML file body)
// and returns its client and admin base URLs.
func startServe(t *testing.T, cfgText string) (front, admin string) {
	t.Helper()
	s := startServer(t, cfgText)
	return "http://" + s.clientAddrs[0], "http://" + s.adminAddr
}

// startServeTLS is startServe returning the first TLS listener's address.
func startServeTLS(t *testing.T, cfgText string) string {
	t.Helper()
	return startServer(t, cfgText).tlsAddrs[0]
}

// startServer runs barkeep in this process on cfgText until the test
// ends; SIGHUP reloads cfgText again.
func startServer(t *testing.T, cfgText string) *server {
	t.Helper()
	s, _ := serveCtl(t, cfgText)
	return s
}

func TestKilledMemberFailoverShowsErr(t *testing.T) {
	var backends []*httptest.Server
	var urls []string
	for _, name := range []string{"elm", "oak", "ash"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, name)
		}))
		t.Cleanup(srv.Close)
		backends = append(backends, srv)
		urls = append(urls, srv.URL)
	}
	front, admin := startServe(t, fmt.Sprintf(serveConfig, memberYAML(urls...)))

	for i := range 1000 {
		if i == 400 {
			backends[1].Close() // r1 is killed mid-run
		}
		res, err := http.Get(front + "/")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("request %d: status %d; want 0 errors seen by the client", i, res.StatusCode)
		}
	}

	res, err := http.Get(admin + "/balancer-manager")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	row := regexp.MustCompile(`(?s)data-route="r1".*?</tr>`).FindString(string(page))
	if !strings.Contains(row, `<span class="Err">Err</span>`) {
		t.Errorf("balancer-manager row of the killed member does not show Err:\n%s", row)
	}
	var api struct {
		Balancers []struct {
			Members []struct {
				Route, Status string
				StatusText    string `json:"status_text"`
				Errors        int
			}
		}
	}
	res, err = http.Get(admin + "/api/v1/balancers")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(res.Body).Decode(&api)
	res.Body.Close()
	m := api.Balancers[0].Members[1]
	if m.Route != "r1" || m.Status != "E" || m.StatusText != "Err" || m.Errors == 0 {
		t.Errorf("API for the killed member: %+v", m)
	}
	if ok := api.Balancers[0].Members[0]; ok.StatusText != "Ok" {
		t.Errorf("API for a live member: %+v", ok)
	}
}

func TestBadClientRequestsGet4xx(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(backend.Close)
	front, _ := startServe(t, fmt.Sprintf(serveConfig, memberYAML(backend.URL))+"\n")
	host := strings.TrimPrefix(front, "http://")
	for _, tt := range []struct {
		name, request string
		status        int
	}{
		// At least 24 bytes: with h2c on, the server first compares them
		// with the HTTP/2 preface.
		{"garbage request line", "NONSENSE WITHOUT ANY PROTOCOL\r\n\r\n", 400},
		{"bad header", "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400},
		{"oversized headers", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 128<<10) + "\r\n\r\n", 431},
		{"bad content length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 400},
		{"unsupported version", "GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", host, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, tt.request)
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no HTTP answer: %v", err)
			}
			res.Body.Close()
			if res.StatusCode != tt.status {
				t.Errorf("status %d, want %d", res.StatusCode, tt.status)
			}
		})
	}
	// barkeep still serves afterwards.
	res, err := http.Get(front + "/")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("after bad requests: %v %v", res, err)
	}
	res.Body.Close()
}

func TestManagerListenerEndToEnd(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "tomcat "+r.URL.Path)
	}))
	t.Cleanup(app.Close)
	cfg, err := config.Parse("e2e.yaml", []byte(`listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
access_log: {path: off}
manager:
  listen: "127.0.0.1:0"
`))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *server, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, nil, serverOptions{stdout: io.Discard, stderr: io.Discard}, func(s *server) { ready <- s })
	}()
	s := <-ready
	defer func() { cancel(); <-done }()
	front, admin, manager := "http://"+s.clientAddrs[0], "http://"+s.adminAddr, "http://"+s.managerAddr

	send := func(base, method, body string) (int, string) {
		req, _ := http.NewRequest(method, base+"/", strings.NewReader(body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(app.URL, "http://"))
	for _, m := range [][2]string{
		{"CONFIG", "JVMRoute=tc1&Host=" + host + "&Port=" + port + "&StickySessionForce=No&Type=http"},
		{"ENABLE-APP", "JVMRoute=tc1&Alias=default-host%2Clocalhost&Context=%2Fshop"},
		{"STATUS", "JVMRoute=tc1&Load=100"},
	} {
		if status, body := send(manager, m[0], m[1]); status != 200 {
			t.Fatalf("%s: %d %s", m[0], status, body)
		}
	}
	res, err := http.Get(front + "/shop/cart")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "tomcat /shop/cart" {
		t.Errorf("GET /shop/cart through the client listener: %d %q", res.StatusCode, body)
	}
	if status, _ := send(front, "CONFIG", "JVMRoute=evil&Host=10.6.6.6"); status != 501 {
		t.Errorf("MCMP on the client listener: %d, want 501", status)
	}
	if status, body := send(manager, "VERSION", ""); status != 200 || !regexp.MustCompile(`^release: barkeep/\d+\.\d+\.\d+\.(Dev|Final|Alpha\d+|Beta\d+|CR\d+), protocol: 0\.2\.1\n$`).MatchString(body) {
		t.Errorf("VERSION: %d %q, want barkeep/<x.y.z>.<Q>", status, body)
	}
	if status, _ := send(manager, "BREW", ""); status != 501 {
		t.Errorf("unknown method on the manager listener: %d, want 501", status)
	}
	for _, u := range []string{admin + "/mod_cluster_manager", manager + "/mod_cluster_manager"} {
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(page), "Node tc1 (http://"+host+":"+port+")") {
			t.Errorf("%s: %d, page without node tc1", u, res.StatusCode)
		}
	}
	res, err = http.Get(admin + "/api/v1/nodes")
	if err != nil {
		t.Fatal(err)
	}
	var api struct {
		Nodes []struct {
			JVMRoute string
			Load     int
			Status   string
			Contexts []struct{ Path, State string }
		}
	}
	json.NewDecoder(res.Body).Decode(&api)
	res.Body.Close()
	if len(api.Nodes) != 1 || api.Nodes[0].JVMRoute != "tc1" || api.Nodes[0].Load != 100 || api.Nodes[0].Status != "OK" ||
		len(api.Nodes[0].Contexts) != 1 || api.Nodes[0].Contexts[0].State != "ENABLED" {
		t.Errorf("/api/v1/nodes: %+v", api)
	}

	// A node may not point at barkeep's own listeners (here: the admin
	// one, whose pages it would expose on the client listener).
	for _, own := range []string{s.adminAddr, s.clientAddrs[0], s.managerAddr} {
		h, p, _ := net.SplitHostPort(own)
		if status, _ := send(manager, "CONFIG", "JVMRoute=loop&Host="+h+"&Port="+p+"&Type=http"); status != 500 {
			t.Errorf("CONFIG at barkeep's own %s: %d, want 500 (MEM)", own, status)
		}
	}
	// The admin and manager pages answer only names of their listener.
	for _, u := range []string{admin + "/balancer-manager", admin + "/mod_cluster_manager", manager + "/mod_cluster_manager"} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Host = "attacker.example"
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 403 {
			t.Errorf("GET %s with Host attacker.example: %d, want 403", u, res.StatusCode)
		}
	}
}

func TestHealthCheckFromConfig(t *testing.T) {
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			http.Error(w, "db down", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "sick")
	}))
	t.Cleanup(sick.Close)
	well := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "well")
	}))
	t.Cleanup(well.Close)
	front, admin := startServe(t, fmt.Sprintf(`listen: ["127.0.0.1:0"]
admin: {listen: "127.0.0.1:0"}
access_log: {path: off}
balancers:
  - name: web
    hcmethod: GET
    hcuri: /health
    hcinterval: 100ms
    members:
      - {url: %q, route: sick}
      - {url: %q, route: well}
routes:
  - {path: /, balancer: web}
`, sick.URL, well.URL))
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get(admin + "/api/v1/balancers/web")
		if err != nil {
			t.Fatal(err)
		}
		var b struct {
			Members []struct{ Route, Status string }
		}
		json.NewDecoder(res.Body).Decode(&b)
		res.Body.Close()
		if len(b.Members) == 2 && b.Members[0].Status == "C" && b.Members[1].Status == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the member failing its health check is not marked C: %+v", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 10 {
		res, err := http.Get(front + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(body) != "well" {
			t.Fatalf("request served by %q while it fails its health check", body)
		}
	}
}

// TestServeStartsWithCorruptPersistFile: a manager.persist file cut short
// stopped barkeep from starting, static routes included; now it is moved
// aside and everything else serves.
func TestServeStartsWithCorruptPersistFile(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "static") }))
	t.Cleanup(app.Close)
	persist := filepath.Join(t.TempDir(), "mcmp.json")
	if err := os.WriteFile(persist, []byte(`{"balancers":[{"name":"mycl`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(fmt.Sprintf(serveConfig, memberYAML(app.URL)), "balancers:", fmt.Sprintf("manager: {listen: \"127.0.0.1:0\", persist: %q}\nbalancers:", persist), 1)
	front, _ := startServe(t, cfg)
	res, err := http.Get(front + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(body) != "static" {
		t.Errorf("static route with a corrupt persist file: %d %q", res.StatusCode, body)
	}
	if m, _ := filepath.Glob(persist + ".corrupt-*"); len(m) != 1 {
		t.Errorf("corrupt file not moved aside: %v", m)
	}
}
