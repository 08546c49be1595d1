package config_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/barkeep-lb/barkeep/internal/config"
)

func TestIssueExampleLoads(t *testing.T) {
	c, err := config.Load("testdata/issue.yaml")
	if err != nil {
		t.Fatal(err)
	}
	one := 1
	want := &config.Config{
		Listen: []string{"127.0.0.1:8000"},
		TLS:    config.TLS{MinVersion: "1.2"},
		Server: config.Server{ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 65536, ShutdownTimeout: 30 * time.Second,
			MaxHeaderFields: 100, MergeSlashes: true, BodyTimeout: 20 * time.Second, BodyMinRate: 500, BufferBody: 65536},
		Admin: config.Admin{Listen: "127.0.0.1:8090"},
		Manager: config.Manager{Allow: []string{"127.0.0.0/8", "::1/128"}, Balancer: "mycluster",
			LBStatusRecalc: 5 * time.Second, WaitForRemove: 10 * time.Second, MaxNode: 20, MaxHost: 20, MaxContext: 100, StopAppWait: 500 * time.Millisecond},
		Log:       config.Log{Format: "text", Level: "info"},
		AccessLog: config.AccessLog{Path: "-", Format: "combined"},
		Balancers: []config.Balancer{{
			Name: "barcrawl", LBMethod: "byrequests", StickySession: []string{"JSESSIONID", "jsessionid"},
			StickySessionSep: ".", MaxAttempts: &one, FailOnTimeout: true,
			Members: []config.Member{{
				URL: "http://127.0.0.1:9001", Route: "elm", LoadFactor: 1, Retry: time.Minute,
				ConnectionTimeout: 5 * time.Second, Timeout: time.Minute, SMax: 64, TTL: time.Minute,
			}},
		}},
		Routes: []config.Route{
			{Path: "/bar", Pass: true, Balancer: "barcrawl", Reverse: true, ReverseCookiePath: "/bar", PreserveHost: true},
			{Path: "/bar/static", Pass: false},
		},
	}
	if diff := cmp.Diff(want, c, cmpopts.IgnoreUnexported(config.Config{})); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if c.Line("balancers[0].members[0].loadfactor") != 15 {
		t.Errorf("line of loadfactor = %d, want 15", c.Line("balancers[0].members[0].loadfactor"))
	}
}

func TestDefaults(t *testing.T) {
	c, err := config.Parse("min.yaml", []byte(`
balancers:
  - name: web
    members:
      - url: http://app1
routes:
  - {path: /, balancer: web}
`))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Balancers[0]
	if b.LBMethod != "byrequests" || b.StickySessionSep != "." || len(b.StickySession) != 2 || b.MaxAttempts != nil {
		t.Errorf("balancer defaults: %+v", b)
	}
	m := b.Members[0]
	if m.LoadFactor != 1 || m.Retry != time.Minute || m.Timeout != time.Minute || m.ConnectionTimeout != 5*time.Second {
		t.Errorf("member defaults: %+v", m)
	}
	if !c.Routes[0].Pass || c.Listen[0] != "127.0.0.1:8000" || c.Admin.Listen != "127.0.0.1:8090" {
		t.Errorf("route/listen defaults: %+v %v %v", c.Routes[0], c.Listen, c.Admin)
	}
	c, err = config.Parse("nosticky.yaml", []byte("balancers:\n  - name: web\n    stickysession: []\n"))
	if err != nil || len(c.Balancers[0].StickySession) != 0 {
		t.Errorf("stickysession: [] = %v, %v; want it disabled", c.Balancers[0].StickySession, err)
	}
}

func TestEveryProblemWithItsLine(t *testing.T) {
	const file = `listen: ["127.0.0.1:8000", "nonsense"]
admin:
  listen: 127.0.0.1:8090
  color: blue
balancers:
  - name: barcrawl
    lbmethod: byrequest
    stickysessionsep: "::"
    maxattempts: -1
    timeout: 30
    members:
      - url: http://127.0.0.1:9001
        route: elm
        loadfactor: 150
        status: DX
        redirect: birch
      - url: ftp://127.0.0.1:9002
        route: elm
        retry: soon
        lodfactor: 2
  - name: barcrawl
    members: []
routes:
  - path: bar
    balancer: nowhere
  - path: /static
    pass: false
    balancer: barcrawl
`
	_, err := config.Parse("barkeep.yaml", []byte(file))
	var cerr *config.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Parse = %v, want *config.Error", err)
	}
	want := []string{
		`barkeep.yaml:1: listen[1]: "nonsense" is not host:port (missing port in address)`,
		`barkeep.yaml:4: admin.color: unknown key`,
		`barkeep.yaml:7: balancers[0].lbmethod: unknown lbmethod "byrequest" (want byrequests, bytraffic, bybusyness, random)`,
		`barkeep.yaml:8: balancers[0].stickysessionsep: want exactly one character other than ';' and '=', got "::"`,
		`barkeep.yaml:9: balancers[0].maxattempts: -1 is negative`,
		`barkeep.yaml:10: balancers[0].timeout: duration "30" has no unit (write e.g. 30s or 30ms)`,
		`barkeep.yaml:14: balancers[0].members[0].loadfactor: 150 is outside 1..100`,
		`barkeep.yaml:15: balancers[0].members[0].status: unknown status flag 'X' (want any of D disabled, S stopped, I ignore errors, H hot standby, N drain)`,
		`barkeep.yaml:16: balancers[0].members[0].redirect: no member of balancer "barcrawl" has route "birch"`,
		`barkeep.yaml:17: balancers[0].members[1].url: "ftp://127.0.0.1:9002": scheme must be http, https, h2c or ajp`,
		`barkeep.yaml:18: balancers[0].members[1].route: route "elm" is already used by members[0]`,
		`barkeep.yaml:19: balancers[0].members[1].retry: want a duration such as 60s or 1m30s, got "soon"`,
		`barkeep.yaml:20: balancers[0].members[1].lodfactor: unknown key (did you mean "loadfactor"?)`,
		`barkeep.yaml:21: balancers[1].name: balancer "barcrawl" is already defined (balancers[0])`,
		`barkeep.yaml:24: routes[0].path: "bar": want an absolute path such as /bar, without '?', '#' or ';'`,
		`barkeep.yaml:25: routes[0].balancer: no balancer is named "nowhere"`,
		`barkeep.yaml:28: routes[1].balancer: an exclusion (pass: false) names no balancer`,
	}
	var got []string
	for _, p := range cerr.Problems {
		got = append(got, p.Error())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	if err.Error() != strings.Join(want, "\n") {
		t.Errorf("Error() does not list every problem one per line")
	}
}

func TestTypeErrors(t *testing.T) {
	_, err := config.Parse("t.yaml", []byte(`
listen: {a: b}
balancers:
  - name: web
    nofailover: maybe
    members:
      - url: http://a:1
        loadfactor: heavy
        smax: [1]
`))
	want := []string{
		"t.yaml:2: listen: want a list, got a mapping",
		`t.yaml:5: balancers[0].nofailover: want true or false, got "maybe"`,
		`t.yaml:8: balancers[0].members[0].loadfactor: want an integer, got "heavy"`,
		"t.yaml:9: balancers[0].members[0].smax: want an integer, got a list",
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("Parse errors:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}

func TestSyntaxErrorHasItsLine(t *testing.T) {
	_, err := config.Parse("s.yaml", []byte("listen: [a\nbalancers:\n  - name: x\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "s.yaml:") {
		t.Fatalf("syntax error = %v, want s.yaml:LINE: ...", err)
	}
	_, err = config.Parse("s.yaml", []byte("admin:\n  listen: a\n listen: b\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "s.yaml:2: ") {
		t.Errorf("syntax error = %v, want the line yaml reports (2)", err)
	}
}

func TestDuplicateKey(t *testing.T) {
	_, err := config.Parse("d.yaml", []byte("admin:\n  listen: 127.0.0.1:1\n  listen: 127.0.0.1:2\n"))
	if err == nil || err.Error() != "d.yaml:3: admin.listen: key given twice (first on line 2)" {
		t.Errorf("duplicate key: %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := config.Load("testdata/nope.yaml")
	if err == nil || !strings.Contains(err.Error(), "testdata/nope.yaml") || !errors.Is(err, os.ErrNotExist) && !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}

func TestMemberName(t *testing.T) {
	for in, want := range map[string]string{
		"http://App1":          "http://app1:80",
		"https://app1/":        "https://app1:443",
		"h2c://127.0.0.1:9001": "h2c://127.0.0.1:9001",
		"http://[::1]:9001":    "http://[::1]:9001",
	} {
		if got, err := config.MemberName(in); err != nil || got != want {
			t.Errorf("MemberName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:9001", "http://a:1/app", "http://u:p@a:1", "http://a:99999", "gopher://a:70"} {
		if _, err := config.MemberName(bad); err == nil {
			t.Errorf("MemberName(%q) accepted", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	seed, _ := os.ReadFile("testdata/issue.yaml")
	f.Add(seed)
	f.Add([]byte("balancers: [{name: a, members: [{url: 'http://x:1', loadfactor: 0}]}]"))
	f.Add([]byte("listen: *a"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse("fuzz.yaml", data)
		if (c == nil) == (err == nil) {
			t.Fatalf("Parse returned config %v and error %v", c != nil, err)
		}
	})
}

func TestManagerSection(t *testing.T) {
	c, err := config.Parse("m.yaml", []byte(`
manager:
  listen: "127.0.0.1:6666"
  allow: ["10.0.0.0/8"]
  tls: {cert: s.crt, key: s.key, client_ca: ca.crt}
  balancer: mycluster
  lbstatus_recalc: 5s
  wait_for_remove: 10s
  max_message_size: 13188
  use_alias: false
  persist: /var/lib/barkeep/mcmp.json
  stop_app_wait: 250ms
  allow_backends: [10.1.0.0/16, 192.168.1.5, app1.example.com, "*.apps.example.com"]
admin:
  hosts: [lb.example.com, barkeep]
`))
	if err != nil {
		t.Fatal(err)
	}
	if m := c.Manager; m.Listen != "127.0.0.1:6666" || m.Allow[0] != "10.0.0.0/8" || m.TLS.ClientCA != "ca.crt" || m.MaxMessageSize != 13188 || m.Persist == "" ||
		m.StopAppWait != 250*time.Millisecond || len(m.AllowBackends) != 4 {
		t.Errorf("manager: %+v", m)
	}
	if h := c.Admin.Hosts; len(h) != 2 || h[1] != "barkeep" {
		t.Errorf("admin.hosts: %v", h)
	}
	_, err = config.Parse("m.yaml", []byte(`
manager:
  listen: "127.0.0.1:6666"
  allow: [10.0.0.0]
  tls: {key: s.key}
  wait_for_remove: 5s
  max_message_size: 100
  stop_app_wait: 1m
  allow_backends: [10.0.0.0/33, "http://x"]
admin:
  hosts: ["lb.example.com:8090"]
balancers:
  - name: mycluster
`))
	want := []string{
		`m.yaml:4: manager.allow[0]: "10.0.0.0" is not a network in CIDR form such as 10.0.0.0/8`,
		"m.yaml:5: manager.tls: cert and key go together",
		"m.yaml:6: manager.wait_for_remove: 5s is below the minimum of 10s",
		"m.yaml:7: manager.max_message_size: 100 is below the minimum of 1024",
		"m.yaml:8: manager.stop_app_wait: 1m0s is above the maximum of 10s (the worker's own stop timeout)",
		`m.yaml:9: manager.allow_backends[0]: "10.0.0.0/33" is not a CIDR, an IP address or a host name (*.example.com for a domain)`,
		`m.yaml:9: manager.allow_backends[1]: "http://x" is not a CIDR, an IP address or a host name (*.example.com for a domain)`,
		`m.yaml:11: admin.hosts[0]: "lb.example.com:8090" is not a host name (no port, no scheme)`,
		`m.yaml:13: balancers[0].name: "mycluster" is the manager's balancer for MCMP nodes; use another name`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("manager problems:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}

func TestHealthCheckKeys(t *testing.T) {
	c, err := config.Parse("hc.yaml", []byte(`
hctemplates:
  - name: deep
    hcmethod: get
    hcuri: /health?deep=1
    hcinterval: 5s
    hcexpr: {status: "2xx", body: UP}
balancers:
  - name: web
    hcmethod: TCP
    hcfails: 3
    failonstatus: [503, 500-502]
    slowstart: 30s
    members:
      - {url: "http://a:1", route: a}
      - {url: "http://b:1", route: b, hctemplate: deep, hcpasses: 2, max: 2}
      - {url: "ajp://c:8009", route: c, hcmethod: CPING, slowstart: 0s}
      - {url: "http://d:1", route: d, hcmethod: NONE}
`))
	if err != nil {
		t.Fatal(err)
	}
	b := &c.Balancers[0]
	a := c.Check(b, &b.Members[0])
	if a == nil || a.Method != "TCP" || a.Fails != 3 || a.Interval != 30*time.Second || a.Passes != 1 {
		t.Errorf("member a inherits the balancer's check: %+v", a)
	}
	bc := c.Check(b, &b.Members[1])
	want := &config.Check{Method: "GET", URI: "/health?deep=1", Interval: 5 * time.Second, Passes: 2, Fails: 3,
		Status: [][2]int{{200, 299}}, Body: "UP"}
	if diff := cmp.Diff(want, bc); diff != "" {
		t.Errorf("member b: template over balancer, own keys over template (-want +got):\n%s", diff)
	}
	if cc := c.Check(b, &b.Members[2]); cc == nil || cc.Method != "CPING" {
		t.Errorf("member c: %+v", cc)
	}
	if dc := c.Check(b, &b.Members[3]); dc != nil {
		t.Errorf("member d with hcmethod NONE has a check: %+v", dc)
	}
	if b.Members[1].Max != 2 || *b.Members[2].SlowStart != 0 || b.SlowStart != 30*time.Second || len(b.FailOnStatus) != 2 {
		t.Errorf("max/slowstart/failonstatus: %+v", b)
	}

	_, err = config.Parse("hc.yaml", []byte(`
hctemplates:
  - {name: t, hcinterval: 10ms}
balancers:
  - name: web
    failonstatus: [5xy]
    members:
      - {url: "http://a:1", hcmethod: CPING}
      - {url: "ajp://b:1", hcmethod: GET, hctemplate: nope}
      - {url: "http://c:1", hcmethod: GET, hcexpr: {status: "600", body_regexp: "("}, hcuri: health}
`))
	want2 := []string{
		"hc.yaml:3: hctemplates[0].hcinterval: 10ms is below the minimum of 100ms",
		`hc.yaml:6: balancers[0].failonstatus[0]: "5xy" is not a status code or range within 100-599 (e.g. 503, 500-599, 5xx)`,
		"hc.yaml:8: balancers[0].members[0].hcmethod: CPING checks ajp members only",
		`hc.yaml:9: balancers[0].members[1].hctemplate: no hctemplates entry is named "nope"`,
		"hc.yaml:9: balancers[0].members[1].hcmethod: GET checks need an http member; use CPING or TCP for ajp",
		`hc.yaml:10: balancers[0].members[2].hcuri: "health": want a path such as /health (or * for OPTIONS *)`,
		`hc.yaml:10: balancers[0].members[2].hcexpr.status: "600" is not a status code or range within 100-599 (e.g. 503, 500-599, 5xx)`,
		"hc.yaml:10: balancers[0].members[2].hcexpr.body_regexp: error parsing regexp: missing closing ): `(`",
	}
	if err == nil || err.Error() != strings.Join(want2, "\n") {
		t.Errorf("problems:\n%v\nwant:\n%s", err, strings.Join(want2, "\n"))
	}
}

func TestAdminTokensTLSAndStateFile(t *testing.T) {
	dir := t.TempDir()
	c, err := config.Parse("a.yaml", []byte(`
admin:
  tokens:
    - {name: grafana, token: "0123456789abcdef", role: read}
    - {name: alice, token: "fedcba9876543210", role: operator}
  state_file: `+dir+`/state.json
`))
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Admin; len(a.Tokens) != 2 || a.Tokens[1].Role != "operator" || a.StateFile != dir+"/state.json" {
		t.Errorf("admin: %+v", a)
	}
	_, err = config.Parse("a.yaml", []byte(`
admin:
  tokens:
    - {name: grafana, token: short, role: admin}
    - {name: grafana, token: "0123456789abcdef"}
    - {token: "0123456789abcdef"}
  tls: {cert: /nonexistent.crt, client_role: root}
  state_file: /nonexistent/dir/state.json
`))
	for _, want := range []string{
		"a.yaml:4: admin.tokens[0].token: a token needs at least 16 characters",
		`a.yaml:4: admin.tokens[0].role: "admin": want read or operator`,
		`a.yaml:5: admin.tokens[1].name: token name "grafana" is already used`,
		"admin.tokens[2].name: every token needs a name",
		"admin.tls.key: an HTTPS admin listener needs a certificate and its key",
		"admin.tls.cert: stat /nonexistent.crt",
		`admin.tls.client_role: "root": want read or operator`,
		"admin.state_file: directory /nonexistent/dir does not exist",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("problems lack %q:\n%v", want, err)
		}
	}
}
