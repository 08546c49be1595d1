package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/barkeep-lb/barkeep/internal/admin"
	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/internal/testcert"
)

// ctlRun runs "barkeep ctl --admin adminURL args..." and returns its exit
// status and output.
func ctlRun(t *testing.T, adminURL string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"ctl", "--admin", adminURL}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

const ctlConfig = `listen: ["127.0.0.1:0"]
admin:
  listen: "127.0.0.1:0"
%s
access_log: {path: off}
balancers:
  - name: web
    members:
      - {url: "http://127.0.0.1:9001", route: r0}
      - {url: "http://127.0.0.1:9002", route: r1}
      - {url: "http://127.0.0.1:9003", route: r2, status: H}
routes:
  - {path: /, balancer: web}
`

func TestCtlListsAsTableAndJSON(t *testing.T) {
	s := startServer(t, fmt.Sprintf(ctlConfig, ""))
	adminURL := "http://" + s.adminAddr
	code, out, errs := ctlRun(t, adminURL, "members")
	if code != 0 {
		t.Fatalf("ctl members: exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !regexp.MustCompile(`^BALANCER\s+ROUTE\s+MEMBER\s+STATUS`).MatchString(lines[0]) {
		t.Fatalf("ctl members table:\n%s", out)
	}
	if !regexp.MustCompile(`^web\s+r2\s+http://127\.0\.0\.1:9003\s+Ok Stby\s+H\s+1\s+0`).MatchString(lines[3]) {
		t.Errorf("row of r2: %q", lines[3])
	}
	code, out, _ = ctlRun(t, adminURL, "members", "web", "-o", "json")
	var res struct{ Members []admin.MemberView }
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || len(res.Members) != 3 || res.Members[1].Route != "r1" {
		t.Fatalf("ctl members -o json: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"balancers"}, {"nodes"}, {"contexts"}, {"diff"}} {
		if code, out, errs := ctlRun(t, adminURL, args...); code != 0 || out == "" {
			t.Errorf("ctl %v: exit %d, %q %q", args, code, out, errs)
		}
	}
	if _, out, _ := ctlRun(t, adminURL, "balancers"); !regexp.MustCompile(`(?m)^web\s+config\s+byrequests\s+3\s+3\s+JSESSIONID\|jsessionid\s+/$`).MatchString(out) {
		t.Errorf("ctl balancers:\n%s", out)
	}
	if code, _, errs := ctlRun(t, adminURL, "members", "nowhere"); code != 1 || !strings.Contains(errs, "404") {
		t.Errorf("unknown balancer: exit %d %q", code, errs)
	}
	if code, _, errs := ctlRun(t, adminURL, "drain", "r9"); code != 2 || !strings.Contains(errs, `no member "r9"`) {
		t.Errorf("unknown member: exit %d %q", code, errs)
	}
	if code, _, _ := ctlRun(t, adminURL, "members", "-o", "yaml"); code != 2 {
		t.Errorf("-o yaml: exit %d, want 2", code)
	}
}

// TestCtlChangesSurviveRestart: changes made with ctl are in the state
// file, applied again when barkeep starts on the same configuration, and
// ctl diff shows them before and after.
func TestCtlChangesSurviveRestart(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	cfg := fmt.Sprintf(ctlConfig, fmt.Sprintf("  state_file: %q", state))
	s, stop := serveCtl(t, cfg)
	adminURL := "http://" + s.adminAddr
	if code, out, errs := ctlRun(t, adminURL, "drain", "r0"); code != 0 || !strings.Contains(out, "Drn") {
		t.Fatalf("ctl drain r0: exit %d\n%s%s", code, out, errs)
	}
	if code, out, errs := ctlRun(t, adminURL, "set-loadfactor", "web/r1", "5"); code != 0 || !regexp.MustCompile(`\s5\s+0\s*$`).MatchString(out) {
		t.Fatalf("ctl set-loadfactor: exit %d\n%s%s", code, out, errs)
	}
	if code, _, _ := ctlRun(t, adminURL, "set-loadfactor", "r1", "500"); code != 2 {
		t.Fatalf("loadfactor 500: exit %d, want 2", code)
	}
	want := []string{"balancer web", `~ member http://127.0.0.1:9001 status: "" → N`, "~ member http://127.0.0.1:9002 loadfactor: 1 → 5"}
	_, diff, _ := ctlRun(t, adminURL, "diff")
	for _, w := range want {
		if !strings.Contains(diff, w) {
			t.Errorf("ctl diff lacks %q:\n%s", w, diff)
		}
	}
	stop()

	s2, _ := serveCtl(t, cfg)
	b := s2.store.Load().Balancer("web")
	if b.ByRoute("r0").Status != registry.StatusDrain || b.ByRoute("r1").LoadFactor != 5 {
		t.Fatalf("after restart: r0 %q, r1 loadfactor %d; want N and 5", b.ByRoute("r0").Status, b.ByRoute("r1").LoadFactor)
	}
	_, diff2, _ := ctlRun(t, "http://"+s2.adminAddr, "diff")
	if diff2 != diff {
		t.Errorf("ctl diff after restart:\n%s\nbefore:\n%s", diff2, diff)
	}
	if code, _, _ := ctlRun(t, "http://"+s2.adminAddr, "enable", "r0"); code != 0 {
		t.Fatal("enable r0")
	}
	if _, out, _ := ctlRun(t, "http://"+s2.adminAddr, "diff", "-o", "json"); strings.Contains(out, "9001") {
		t.Errorf("r0 enabled again is no difference:\n%s", out)
	}
}

func TestCtlTokens(t *testing.T) {
	tokens := `  tokens:
    - {name: grafana, token: "read-read-read-read", role: read}
    - {name: alice, token: "oper-oper-oper-oper", role: operator}`
	s := startServer(t, fmt.Sprintf(ctlConfig, tokens))
	adminURL := "http://" + s.adminAddr
	if code, _, errs := ctlRun(t, adminURL, "members"); code != 1 || !strings.Contains(errs, "401") {
		t.Errorf("no token: exit %d %q", code, errs)
	}
	if code, _, _ := ctlRun(t, adminURL, "--token", "read-read-read-read", "members"); code != 0 {
		t.Errorf("read token listing: exit %d", code)
	}
	if code, _, errs := ctlRun(t, adminURL, "--token", "read-read-read-read", "drain", "r0"); code != 1 || !strings.Contains(errs, "403") {
		t.Errorf("read token draining: exit %d %q", code, errs)
	}
	t.Setenv("BARKEEP_TOKEN", "oper-oper-oper-oper")
	if code, _, errs := ctlRun(t, adminURL, "drain", "r0"); code != 0 {
		t.Errorf("operator token from the environment: exit %d %q", code, errs)
	}
}

func TestCtlExplain(t *testing.T) {
	s := startServer(t, fmt.Sprintf(ctlConfig, ""))
	adminURL := "http://" + s.adminAddr
	code, out, errs := ctlRun(t, adminURL, "explain", "/shop/cart", "--cookie", "JSESSIONID=abc.r1")
	if code != 0 {
		t.Fatalf("ctl explain: exit %d %s", code, errs)
	}
	for _, want := range []string{"sticky: the session's member http://127.0.0.1:9002 (route r1)", "route / matched", "cookie JSESSIONID",
		"hot standby (H)"} {
		if !strings.Contains(out, want) {
			t.Errorf("ctl explain lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`(?m)^\*\s+http://127\.0\.0\.1:9002\s+r1`).MatchString(out) {
		t.Errorf("the chosen member is not marked:\n%s", out)
	}
	code, out, _ = ctlRun(t, adminURL, "explain", "/x", "-o", "json")
	var e struct{ Decision, Chosen string }
	if code != 0 || json.Unmarshal([]byte(out), &e) != nil || e.Decision != "lbmethod" || e.Chosen == "" {
		t.Fatalf("ctl explain -o json: exit %d %+v\n%s", code, e, out)
	}
	if code, _, errs := ctlRun(t, adminURL, "explain", "no-slash"); code != 1 || !strings.Contains(errs, "400") {
		t.Errorf("a bad URL: exit %d %q", code, errs)
	}
}

// TestCtlOverMutualTLS: with admin.tls.client_ca the admin listener wants
// a client certificate; a read-role certificate may list, not change.
func TestCtlOverMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.Issue(t, "ca", nil, true, x509.ExtKeyUsageAny)
	caFile, _ := ca.Write(t, dir, "ca")
	serverCert, serverKey := testcert.Issue(t, "admin", ca, false, x509.ExtKeyUsageServerAuth).Write(t, dir, "admin")
	clientCert, clientKey := testcert.Issue(t, "grafana", ca, false, x509.ExtKeyUsageClientAuth).Write(t, dir, "grafana")
	s := startServer(t, fmt.Sprintf(ctlConfig, fmt.Sprintf("  tls: {cert: %q, key: %q, client_ca: %q, client_role: read}", serverCert, serverKey, caFile)))
	adminURL := "https://" + s.adminAddr
	if code, _, errs := ctlRun(t, adminURL, "--cacert", caFile, "members"); code != 1 || !strings.Contains(errs, "admin listener") {
		t.Errorf("without a client certificate: exit %d %q", code, errs)
	}
	withCert := []string{"--cacert", caFile, "--cert", clientCert, "--key", clientKey}
	if code, out, errs := ctlRun(t, adminURL, append(withCert, "members")...); code != 0 || !strings.Contains(out, "r1") {
		t.Errorf("with a client certificate: exit %d %q %q", code, out, errs)
	}
	if code, _, errs := ctlRun(t, adminURL, append(withCert, "drain", "r0")...); code != 1 || !strings.Contains(errs, "cert:grafana has the read role") {
		t.Errorf("read-role certificate draining: exit %d %q", code, errs)
	}
}

// TestCtlMemberActionsNodesAndContexts: every member action through ctl
// shows the new state and reaches the API; nodes and contexts registered
// over MCMP are listed as tables and as JSON; ctl diff shows members added
// and removed at runtime.
func TestCtlMemberActionsNodesAndContexts(t *testing.T) {
	cfg := strings.Replace(fmt.Sprintf(ctlConfig, ""), "access_log:", "manager: {listen: \"127.0.0.1:0\"}\naccess_log:", 1)
	s := startServer(t, cfg)
	adminURL := "http://" + s.adminAddr
	for _, tt := range []struct {
		action, route, text, flags string
	}{
		{"disable", "r1", "Dis", "D"},
		{"enable", "r1", "Ok", "-"},
		{"standby", "r1", "Ok Stby", "H"},
		{"stop", "r1", "Stop Stby", "SH"},
		{"enable", "r1", "Ok", "-"},
		{"drain", "r0", "Ok Drn", "N"},
	} {
		code, out, errs := ctlRun(t, adminURL, tt.action, tt.route)
		row := regexp.MustCompile(`(?m)^web\s+` + tt.route + `\s+http://\S+\s+(.+?)\s+(\S+)\s+1\s+0\s*$`).FindStringSubmatch(out)
		if code != 0 || row == nil || row[1] != tt.text || row[2] != tt.flags {
			t.Fatalf("ctl %s %s: exit %d, row %q, want %q %q\n%s%s", tt.action, tt.route, code, row, tt.text, tt.flags, out, errs)
		}
		want := strings.Trim(tt.flags, "-")
		if got := s.store.Load().Balancer("web").ByRoute(tt.route).Status.String(); got != want {
			t.Fatalf("after ctl %s %s: registry status %q, want %q", tt.action, tt.route, got, want)
		}
	}

	// A node over MCMP (STATUS probes it: it must answer).
	app := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(app.Close)
	host, port, _ := net.SplitHostPort(app.Listener.Addr().String())
	for _, m := range [][2]string{
		{"CONFIG", "JVMRoute=tc1&Domain=dom1&Host=" + host + "&Port=" + port + "&Type=http"},
		{"ENABLE-APP", "JVMRoute=tc1&Alias=default-host%2Clocalhost&Context=%2Fshop"},
		{"DISABLE-APP", "JVMRoute=tc1&Alias=default-host%2Clocalhost&Context=%2Fshop"},
		{"STATUS", "JVMRoute=tc1&Load=60"},
	} {
		req, _ := http.NewRequest(m[0], "http://"+s.managerAddr+"/", strings.NewReader(m[1]))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d", m[0], res.StatusCode)
		}
	}
	_, out, _ := ctlRun(t, adminURL, "nodes")
	if !regexp.MustCompile(`(?m)^NODE\s+BALANCER\s+DOMAIN\s+URL\s+STATUS\s+LOAD`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^tc1\s+mycluster\s+dom1\s+`+regexp.QuoteMeta(app.URL)+`\s+OK\s+60\s+0\s+0\s+1$`).MatchString(out) {
		t.Errorf("ctl nodes:\n%s", out)
	}
	_, out, _ = ctlRun(t, adminURL, "contexts")
	if !regexp.MustCompile(`(?m)^tc1\s+mycluster\s+\d+\s+/shop\s+default-host localhost\s+DISABLED\s+0$`).MatchString(out) {
		t.Errorf("ctl contexts:\n%s", out)
	}
	var nodes struct{ Nodes []admin.NodeView }
	if code, out, _ := ctlRun(t, adminURL, "nodes", "-o", "json"); code != 0 || json.Unmarshal([]byte(out), &nodes) != nil ||
		len(nodes.Nodes) != 1 || nodes.Nodes[0].Load != 60 || nodes.Nodes[0].Contexts[0].State != "DISABLED" {
		t.Errorf("ctl nodes -o json: %d\n%s", code, out)
	}
	var ctxs struct{ Contexts []admin.ContextView }
	if code, out, _ := ctlRun(t, adminURL, "contexts", "-o", "json"); code != 0 || json.Unmarshal([]byte(out), &ctxs) != nil ||
		len(ctxs.Contexts) != 1 || ctxs.Contexts[0].Path != "/shop" {
		t.Errorf("ctl contexts -o json: %d\n%s", code, out)
	}
	var bals struct{ Balancers []admin.BalancerView }
	if code, out, _ := ctlRun(t, adminURL, "balancers", "-o", "json"); code != 0 || json.Unmarshal([]byte(out), &bals) != nil ||
		len(bals.Balancers) != 2 || len(bals.Balancers[0].Contexts)+len(bals.Balancers[1].Contexts) != 1 {
		t.Errorf("ctl balancers -o json: %d\n%s", code, out)
	}
	// The node's member is found by its route too.
	if code, out, errs := ctlRun(t, adminURL, "members", "mycluster"); code != 0 || !regexp.MustCompile(`(?m)^mycluster\s+tc1\s+`+regexp.QuoteMeta(app.URL)+`\s`).MatchString(out) {
		t.Errorf("ctl members mycluster: %d\n%s%s", code, out, errs)
	}

	// Members added and removed at runtime are in ctl diff.
	body := strings.NewReader(`{"url": "http://127.0.0.1:9004", "route": "r3", "loadfactor": 2}`)
	res, err := http.Post(adminURL+"/api/v1/balancers/web/members", "application/json", body)
	if err != nil || res.StatusCode != 201 {
		t.Fatalf("add r3: %v %v", err, res)
	}
	res.Body.Close()
	req, _ := http.NewRequest("DELETE", adminURL+"/api/v1/balancers/web/members/r2", nil)
	req.Header.Set("Content-Type", "application/json")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("remove r2: %v %v", err, res)
	}
	_, diff, _ := ctlRun(t, adminURL, "diff")
	for _, w := range []string{"balancer web\n", "  + member http://127.0.0.1:9004 (route r3, loadfactor 2) not in the file\n",
		"  - member http://127.0.0.1:9003 removed\n", "  ~ member http://127.0.0.1:9001 status: \"\" → N\n"} {
		if !strings.Contains(diff, w) {
			t.Errorf("ctl diff lacks %q:\n%s", w, diff)
		}
	}
	if strings.Contains(diff, "mycluster") {
		t.Errorf("ctl diff shows the MCMP balancer:\n%s", diff)
	}
}
