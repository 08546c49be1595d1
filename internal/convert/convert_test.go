package convert

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/config"
)

// convertText converts conf (written as httpd.conf, with extra files
// beside it) and checks the result passes barkeep's own validation.
func convertText(t *testing.T, conf string, extra ...string) (*config.Config, *Result) {
	t.Helper()
	files := map[string]string{"httpd.conf": conf}
	for i := 0; i+1 < len(extra); i += 2 {
		files[extra[i]] = extra[i+1]
	}
	dir := writeFiles(t, files)
	res, err := File(filepath.Join(dir, "httpd.conf"), Options{LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("converted.yaml", res.YAML)
	if err != nil {
		t.Fatalf("the converted file does not pass check-config: %v\n%s", err, res.YAML)
	}
	return cfg, res
}

// findings renders findings as "line: Directive: why" for matching.
func findings(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(strconvItoa(f.Line) + ": " + f.Directive + ": " + f.Why + "\n")
	}
	return b.String()
}

func strconvItoa(n int) string { return itoa(n) }

func wantFinding(t *testing.T, fs []Finding, line int, text string) {
	t.Helper()
	for _, f := range fs {
		if f.Line == line && strings.Contains(f.Directive+": "+f.Why, text) {
			return
		}
	}
	t.Errorf("no finding at line %d containing %q in:\n%s", line, text, findings(fs))
}

const modules = "LoadModule proxy_module modules/mod_proxy.so\nLoadModule proxy_balancer_module modules/mod_proxy_balancer.so\n"

func TestListen(t *testing.T) {
	cfg, _ := convertText(t, "Listen 80\nListen 10.0.0.1:8080\nListen [::1]:8081 http\n")
	if want := []string{":80", "10.0.0.1:8080", "[::1]:8081"}; !slices.Equal(cfg.Listen, want) {
		t.Errorf("listen %q, want %q", cfg.Listen, want)
	}
	_, res := convertText(t, "Listen 80\nListen 99999\nListen 81 ftp\n")
	wantFinding(t, res.Skipped, 2, "port")
	wantFinding(t, res.Skipped, 3, `protocol "ftp"`)
}

func TestBalancerMembers(t *testing.T) {
	cfg, res := convertText(t, modules+`<Proxy "balancer://Tomcats">
  BalancerMember ajp://10.0.0.5:8009 route=tc1 loadfactor=2 lbset=1 redirect=tc2 retry=30 timeout=90 connectiontimeout=500ms ping=2 ttl=120 max=200 smax=10 secret=s3cret flushpackets=on disablereuse=On
  BalancerMember ajp://10.0.0.6 route=tc2 status=+H hcmethod=CPING hcinterval=5 hcpasses=2 hcfails=3
  BalancerMember http://10.0.0.7:8080 route=tc3 status=D status=-D+S+I min=5 keepalive=On loadfactor=1.6 hcmethod=GET11 hcuri=/health
  BalancerMember ws://10.0.0.8:8080
  BalancerMember fcgi://10.0.0.9:9000
  BalancerMember http://10.0.0.7:8080 route=dup
  BalancerMember http://10.0.0.10:8080 status=+E bogus=1 loadfactor=0
</Proxy>
`)
	if len(cfg.Balancers) != 1 {
		t.Fatalf("balancers %+v", cfg.Balancers)
	}
	b := cfg.Balancers[0]
	if b.Name != "Tomcats" || len(b.Members) != 4 {
		t.Fatalf("balancer %s with %d members, want Tomcats with 4", b.Name, len(b.Members))
	}
	m := b.Members[0]
	if m.URL != "ajp://10.0.0.5:8009" || m.Route != "tc1" || m.LoadFactor != 2 || m.LBSet != 1 || m.Redirect != "tc2" ||
		m.Retry != 30*time.Second || m.Timeout != 90*time.Second || m.ConnectionTimeout != 500*time.Millisecond ||
		m.Ping != 2*time.Second || m.TTL != 2*time.Minute || m.Max != 200 || m.SMax != 10 || m.Secret != "s3cret" || !m.FlushPackets || !m.DisableReuse {
		t.Errorf("member 0: %+v", m)
	}
	m = b.Members[1]
	if m.URL != "ajp://10.0.0.6:8009" || m.Status != "H" || *m.HCMethod != "CPING" || *m.HCInterval != 5*time.Second || *m.HCPasses != 2 || *m.HCFails != 3 {
		t.Errorf("member 1: %+v", m)
	}
	m = b.Members[2]
	if m.Status != "SI" || m.LoadFactor != 2 || *m.HCMethod != "GET" || *m.HCURI != "/health" {
		t.Errorf("member 2: status %q loadfactor %d hcmethod %v", m.Status, m.LoadFactor, *m.HCMethod)
	}
	for line, want := range map[int]string{
		6:  "min=5",
		7:  "ws:// members",
		8:  `scheme "fcgi"`,
		9:  "http://10.0.0.7:8080 is already a member of balancer Tomcats (",
		10: "status E: a runtime state",
	} {
		wantFinding(t, res.Skipped, line, want)
	}
	wantFinding(t, res.Skipped, 6, "keepalive=On")
	wantFinding(t, res.Skipped, 10, "bogus=1: not a parameter")
	wantFinding(t, res.Skipped, 10, "loadfactor=0: want a number 1..100")
	wantFinding(t, res.Notes, 6, "rounded to 2")
	wantFinding(t, res.Notes, 6, "hcmethod=GET11")
}

func TestProxySet(t *testing.T) {
	cfg, res := convertText(t, modules+`<Proxy balancer://web>
  BalancerMember http://10.0.0.5:8080
  ProxySet lbmethod=bybusyness stickysession=SESSION nofailover=On maxattempts=1 timeout=15 failonstatus=500,503 failontimeout=Off growth=5
</Proxy>
ProxySet balancer://web stickysessionsep=_ lbmethod=heartbeat
ProxySet http://10.0.0.5:8080 retry=5
<Proxy http://10.0.0.5:8080>
  ProxySet connectiontimeout=2
</Proxy>
ProxySet lbmethod=bytraffic
`)
	b := cfg.Balancers[0]
	if b.LBMethod != "bybusyness" || !slices.Equal(b.StickySession, []string{"SESSION"}) || !b.NoFailover || *b.MaxAttempts != 1 ||
		b.Timeout != 15*time.Second || !slices.Equal(b.FailOnStatus, []string{"500", "503"}) || b.FailOnTimeout || b.StickySessionSep != "_" {
		t.Errorf("balancer %+v", b)
	}
	if m := b.Members[0]; m.Retry != 5*time.Second || m.ConnectionTimeout != 2*time.Second {
		t.Errorf("worker settings not applied to the member: %+v", m)
	}
	wantFinding(t, res.Skipped, 7, "lbmethod=heartbeat")
	wantFinding(t, res.Skipped, 12, "needs the URL first")
	wantFinding(t, res.Notes, 5, "growth=5")
}

func TestProxyPass(t *testing.T) {
	cfg, res := convertText(t, modules+`<Proxy balancer://app>
  BalancerMember http://10.0.0.5:8080
</Proxy>
ProxyPass /app/static !
ProxyPass /app balancer://app/app stickysession=JSESSIONID|jsessionid nofailover=On
ProxyPass /other/ balancer://app/
ProxyPass /legacy http://10.0.0.9:8000/new retry=0 timeout=5
ProxyPass /legacy2 http://10.0.0.9:8000/old
<Location /loc>
  ProxyPass balancer://app/inner
  ProxyPassReverse balancer://app/inner
</Location>
ProxyPassMatch ^/api/(.*)$ balancer://app/v2/$1
ProxyPassMatch ^(/img/.*)$ balancer://app$1
ProxyPassMatch \.jsp$ balancer://app
ProxyPass /app balancer://app/second
ProxyPass /x balancer://app nocanon noquery
ProxyPass relative balancer://app
`)
	type r struct{ path, balancer, target string }
	var got []r
	for _, x := range cfg.Routes {
		if !x.Pass {
			got = append(got, r{x.Path, "!", ""})
			continue
		}
		got = append(got, r{x.Path, x.Balancer, x.TargetPath})
	}
	want := []r{
		{"/app/static", "!", ""},
		{"/app", "app", ""},
		{"/other", "app", "/"},
		{"/legacy", "http-10.0.0.9-8000", "/new"},
		{"/legacy2", "http-10.0.0.9-8000", "/old"},
		{"/loc", "app", "/inner"},
		{"/api", "app", "/v2"},
		{"/img", "app", ""},
		{"/x", "app", "/"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("routes\n got %v\nwant %v", got, want)
	}
	if b := cfg.Balancers[0]; !b.NoFailover || !slices.Equal(b.StickySession, []string{"JSESSIONID", "jsessionid"}) {
		t.Errorf("ProxyPass balancer parameters not applied: %+v", b)
	}
	if m := cfg.Balancers[1].Members[0]; m.URL != "http://10.0.0.9:8000" || m.Retry != 0 || m.Timeout != 5*time.Second {
		t.Errorf("ProxyPass worker parameters not applied: %+v", m)
	}
	if !cfg.Routes[5].Reverse {
		t.Error("ProxyPassReverse inside <Location> not applied")
	}
	wantFinding(t, res.Skipped, 17, "not a path prefix")
	wantFinding(t, res.Skipped, 18, "/app is already routed at")
	wantFinding(t, res.Skipped, 19, "noquery")
	wantFinding(t, res.Notes, 19, "nocanon")
	wantFinding(t, res.Skipped, 20, "barkeep routes absolute paths")
}

func TestProxyPassOrderNote(t *testing.T) {
	_, res := convertText(t, modules+"<Proxy balancer://b>\nBalancerMember http://a:1\n</Proxy>\nProxyPass /app balancer://b/app\nProxyPass /app/static !\n")
	wantFinding(t, res.Notes, 7, "httpd tries ProxyPass in order, so /app")
}
