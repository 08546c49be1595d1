package convert

import (
	"os"
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

func TestReverseAndScopeSettings(t *testing.T) {
	cfg, res := convertText(t, modules+`Timeout 120
ProxyPreserveHost On
<Proxy balancer://tomcats>
  BalancerMember ajp://tc1.internal:8009 route=tc1
  BalancerMember ajp://tc2.internal:8009 route=tc2 timeout=10
</Proxy>
ProxyPass /shop balancer://tomcats/store
ProxyPassReverse /shop balancer://tomcats/store
ProxyPassReverseCookiePath /store /shop
ProxyPassReverseCookieDomain tc1.internal shop.example.com
ProxyPassReverse /nowhere balancer://tomcats/x
ProxyPassReverseCookiePath /unknown /shop
<VirtualHost *:80>
  ProxyTimeout 30
  ProxyPreserveHost Off
  <Proxy balancer://other>
    BalancerMember http://10.0.0.9:8080
  </Proxy>
  ProxyPass /other balancer://other
</VirtualHost>
`)
	r := cfg.Routes[0]
	if r.Path != "/shop" || r.TargetPath != "/store" || !r.Reverse || r.ReverseCookiePath != "/shop" || r.ReverseCookieDomain != "shop.example.com" || !r.PreserveHost {
		t.Errorf("route 0: %+v", r)
	}
	if r := cfg.Routes[1]; r.PreserveHost || r.TargetPath != "/" {
		t.Errorf("the virtual host's ProxyPreserveHost Off not applied: %+v", r)
	}
	tc := cfg.Balancers[0].Members
	if tc[0].Timeout != 120*time.Second || tc[1].Timeout != 10*time.Second {
		t.Errorf("Timeout as the members' default: %v %v", tc[0].Timeout, tc[1].Timeout)
	}
	if m := cfg.Balancers[1].Members[0]; m.Timeout != 30*time.Second {
		t.Errorf("the virtual host's ProxyTimeout: %v", m.Timeout)
	}
	wantFinding(t, res.Skipped, 13, "no ProxyPass routes /nowhere")
	wantFinding(t, res.Skipped, 14, "no route forwards to /unknown")
}

func TestMemberPathMovesToTargetPath(t *testing.T) {
	cfg, res := convertText(t, modules+`<Proxy balancer://b>
  BalancerMember http://10.0.0.1:8080/app
  BalancerMember http://10.0.0.2:8080/app/
</Proxy>
ProxyPass /shop balancer://b/store
`)
	if r := cfg.Routes[0]; r.TargetPath != "/app/store" {
		t.Errorf("target_path %q, want /app/store (member path + ProxyPass path)", r.TargetPath)
	}
	wantFinding(t, res.Notes, 4, "carry the path /app")
}

func TestBalancerManager(t *testing.T) {
	cfg, res := convertText(t, modules+`<Location "/balancer-manager">
  SetHandler balancer-manager
  Require ip 10.0.0.0/8
</Location>
<Location /server-status>
  SetHandler server-status
</Location>
`)
	if cfg.Admin.Listen != "127.0.0.1:8090" {
		t.Errorf("admin.listen %q", cfg.Admin.Listen)
	}
	wantFinding(t, res.Notes, 3, "Require ip 10.0.0.0/8")
	wantFinding(t, res.Skipped, 8, "server-status")
}

func TestModCluster(t *testing.T) {
	cfg, res := convertText(t, `LoadModule proxy_module modules/mod_proxy.so
LoadModule proxy_ajp_module modules/mod_proxy_ajp.so
LoadModule manager_module modules/mod_manager.so
LoadModule proxy_cluster_module modules/mod_proxy_cluster.so
Listen 8000
Listen 10.0.0.1:6666
<IfModule manager_module>
  Maxnode 50
  Maxhost 30
  Maxcontext 200
  ManagerBalancerName Workers
  LBstatusRecalTime 10
  WaitBeforeRemove 5
  UseAlias On
  PersistSlots On
  MemManagerFile /var/cache/mod_cluster
  ModProxyClusterHCTemplate hcmethod=GET hcuri=/health
  <VirtualHost *:6666>
    EnableMCMPReceive
    <Directory />
      Require ip 127.0.0.1 10.0.0
      Require ip 192.168.1.0/255.255.255.0
      Require host worker.example.com
    </Directory>
    ServerAdvertise On
    AdvertiseFrequency 5
    KeepAliveTimeout 60
    <Location /mod_cluster_manager>
      SetHandler mod_cluster-manager
      Require ip 127.0.0.1
    </Location>
  </VirtualHost>
</IfModule>
`)
	m := cfg.Manager
	if m.Listen != "10.0.0.1:6666" || m.MaxNode != 50 || m.MaxHost != 30 || m.MaxContext != 200 || m.Balancer != "workers" ||
		m.LBStatusRecalc != 10*time.Second || m.WaitForRemove != 10*time.Second || !m.UseAlias || m.Persist == "" {
		t.Errorf("manager %+v", m)
	}
	if want := []string{"127.0.0.1/32", "10.0.0.0/24", "192.168.1.0/24"}; !slices.Equal(m.Allow, want) {
		t.Errorf("manager.allow %q, want %q", m.Allow, want)
	}
	if !slices.Equal(cfg.Listen, []string{":8000"}) {
		t.Errorf("listen %q: the manager's port must not be a client listener", cfg.Listen)
	}
	wantFinding(t, res.Skipped, 23, "admits networks (manager.allow)")
	if a := m.Advertise; a == nil || a.Interval != 5*time.Second {
		t.Errorf("manager.advertise %+v, want interval 5s", a)
	}
	wantFinding(t, res.Skipped, 17, "CPING for ajp")
	wantFinding(t, res.Notes, 13, "written as 10s")
}

func TestHealthCheckTemplates(t *testing.T) {
	cfg, res := convertText(t, modules+`ProxyHCExpr ok234 {%{REQUEST_STATUS} =~ /^[234]/}
ProxyHCExpr up {%{REQUEST_STATUS} -lt 400 && hc('body') =~ /"status":"UP"/}
ProxyHCExpr odd {hc('body') !~ /Maint/}
ProxyHCTemplate tpl hcmethod=GET hcuri=/ready hcinterval=10 hcexpr=up hcpasses=2 route=x
<Proxy balancer://b>
  BalancerMember http://10.0.0.1:8080 hctemplate=tpl
  BalancerMember http://10.0.0.2:8080 hcmethod=HEAD hcexpr=ok234
  BalancerMember http://10.0.0.3:8080 hcmethod=HEAD hcexpr=odd
  BalancerMember http://10.0.0.4:8080 hcmethod=HEAD hcexpr=missing
</Proxy>
`)
	if len(cfg.HCTemplates) != 1 {
		t.Fatalf("hctemplates %+v", cfg.HCTemplates)
	}
	tpl := cfg.HCTemplates[0]
	if tpl.Name != "tpl" || *tpl.HCMethod != "GET" || *tpl.HCURI != "/ready" || *tpl.HCInterval != 10*time.Second || *tpl.HCPasses != 2 ||
		tpl.HCExpr.Status != "100-399" || tpl.HCExpr.BodyRegexp != `"status":"UP"` {
		t.Errorf("template %+v expr %+v", tpl, tpl.HCExpr)
	}
	b := cfg.Balancers[0]
	if chk := cfg.Check(&b, &b.Members[0]); chk == nil || chk.Method != "GET" || chk.URI != "/ready" {
		t.Errorf("member 0's check through its template: %+v", chk)
	}
	if e := b.Members[1].HCExpr; e == nil || e.Status != "2xx, 3xx, 4xx" {
		t.Errorf("member 1 hcexpr %+v", e)
	}
	wantFinding(t, res.Skipped, 6, `"route=x": a template holds hc* parameters only`)
	wantFinding(t, res.Skipped, 10, "is not one barkeep can write")
	wantFinding(t, res.Skipped, 11, "no ProxyHCExpr missing")
}

func TestTLSVirtualHost(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "site.crt"), filepath.Join(dir, "site.key")
	for _, f := range []string{cert, key} {
		if err := writeFile(f); err != nil {
			t.Fatal(err)
		}
	}
	cfg, res := convertText(t, modules+`Listen 80
Listen 443
<VirtualHost *:443>
  ServerName shop.example.com
  SSLEngine on
  SSLCertificateFile `+cert+`
  SSLCertificateKeyFile `+key+`
  SSLProtocol -all +TLSv1.3
  SSLCipherSuite HIGH:!aNULL
  <Proxy balancer://b>
    BalancerMember https://10.0.0.1:8443
  </Proxy>
  ProxyPass / balancer://b/
</VirtualHost>
`)
	if !slices.Equal(cfg.Listen, []string{":80"}) || !slices.Equal(cfg.TLS.Listen, []string{":443"}) || cfg.TLS.Cert != cert || cfg.TLS.Key != key || cfg.TLS.MinVersion != "1.3" {
		t.Errorf("listen %q tls %+v", cfg.Listen, cfg.TLS)
	}
	wantFinding(t, res.Skipped, 6, "name-based virtual hosts")
	wantFinding(t, res.Notes, 11, "cipher suites")
	wantFinding(t, res.Notes, 5, "merged with the others")
}

func writeFile(path string) error { return os.WriteFile(path, []byte("pem\n"), 0o600) }

func TestServerAndLogSettings(t *testing.T) {
	cfg, res := convertText(t, `LogFormat "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\"" combined
LogFormat "%h %r" short
KeepAliveTimeout 5
RequestReadTimeout header=20-40,MinRate=500 body=20,MinRate=500
GracefulShutdownTimeout 25
LogLevel warn proxy:debug
CustomLog /var/log/apache2/access.log combined
CustomLog /var/log/apache2/other.log short
ErrorLog /var/log/apache2/error.log
RewriteEngine On
RewriteRule ^/old /new [R]
Header set X-Frame-Options DENY
<Directory /var/www>
  Options Indexes
</Directory>
`)
	if cfg.Server.IdleTimeout != 5*time.Second || cfg.Server.ReadHeaderTimeout != 40*time.Second || cfg.Server.ShutdownTimeout != 25*time.Second {
		t.Errorf("server %+v", cfg.Server)
	}
	if cfg.Log.Level != "warn" || cfg.AccessLog.Path != "/var/log/apache2/access.log" || cfg.AccessLog.Format != "combined" {
		t.Errorf("log %+v access_log %+v", cfg.Log, cfg.AccessLog)
	}
	for line, want := range map[int]string{
		4:  "body=20,MinRate=500",
		6:  "proxy:debug: per-module log levels",
		8:  "one access log",
		9:  "standard error",
		10: "mod_rewrite: not supported; route this path with `routes`",
		11: "mod_rewrite",
		12: "mod_headers",
		13: "barkeep serves no files",
	} {
		wantFinding(t, res.Skipped, line, want)
	}
	if len(res.Notes) == 0 || !strings.Contains(findings(res.Notes), "4: RequestReadTimeout: header=20-40,MinRate=500: barkeep has one fixed limit, written as 40s") {
		t.Errorf("notes:\n%s", findings(res.Notes))
	}
}

// TestEveryFindingHasItsPlace: each Finding names the file it came from
// (an included one for included directives) and its line.
func TestEveryFindingHasItsPlace(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"httpd.conf":       "Listen 80\nIncludeOptional conf.d/*.conf\nRewriteEngine On\n",
		"conf.d/site.conf": "\n\nRewriteRule ^/a /b\n<Proxy balancer://b>\n  BalancerMember gopher://x:70\n</Proxy>\n",
	})
	res, err := File(filepath.Join(dir, "httpd.conf"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"conf.d/site.conf:3: RewriteRule", "conf.d/site.conf:5: BalancerMember", "httpd.conf:3: RewriteEngine"}
	var got []string
	for _, f := range res.Skipped {
		rel, _ := filepath.Rel(dir, f.File)
		got = append(got, rel+":"+itoa(f.Line)+": "+f.Directive)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("skipped %q, want %q", got, want)
	}
}

// TestOutputNamesItsSources: every block of the YAML has a comment with
// the file and line it came from.
func TestOutputNamesItsSources(t *testing.T) {
	_, res := convertText(t, modules+"Listen 8000\n<Proxy balancer://b>\nBalancerMember http://10.0.0.1:1 route=a\n</Proxy>\nProxyPass /b balancer://b\n")
	y := string(res.YAML)
	for _, want := range []string{"- :8000 # from ", "httpd.conf:3\n", "# from ", "httpd.conf:5\n      - url: http://10.0.0.1:1", "httpd.conf:7\n  - path: /b"} {
		if !strings.Contains(y, want) {
			t.Errorf("output lacks %q:\n%s", want, y)
		}
	}
}

func TestAdvertiseNeedsServerAdvertiseOn(t *testing.T) {
	cfg, res := convertText(t, "Listen 6666\n<VirtualHost *:6666>\nEnableMCMPReceive\nAdvertiseGroup 224.0.1.105:23364\nAdvertiseSecurityKey k\nAdvertiseBindAddress 10.0.0.1:23364\n</VirtualHost>\n")
	if cfg.Manager.Advertise != nil {
		t.Errorf("advertise on without ServerAdvertise On: %+v", cfg.Manager.Advertise)
	}
	wantFinding(t, res.Skipped, 4, "without ServerAdvertise On")
	wantFinding(t, res.Skipped, 5, "without ServerAdvertise On")
	wantFinding(t, res.Skipped, 6, "manager.advertise.interface")
	cfg, _ = convertText(t, "Listen 6666\n<VirtualHost *:6666>\nEnableMCMPReceive\nServerAdvertise On http://10.0.0.1:6666\nAdvertiseGroup 224.0.1.105:23364\nAdvertiseSecurityKey k\nAdvertiseManagerUrl /mgr\n</VirtualHost>\n")
	if a := cfg.Manager.Advertise; a == nil || a.Group != "224.0.1.105:23364" || a.SecurityKey != "k" || a.ManagerURL != "/mgr" {
		t.Errorf("advertise %+v", a)
	}
}

func TestBalancerNamesBarkeepRefuses(t *testing.T) {
	cfg, res := convertText(t, modules+`<Proxy "balancer://my app">
  BalancerMember http://10.0.0.1:8080
</Proxy>
ProxySet "balancer://my app" lbmethod=bytraffic
ProxyPass /x "balancer://my app/x"
ProxyPassReverse /x "balancer://MY APP/x"
`)
	if len(cfg.Balancers) != 1 || cfg.Balancers[0].Name != "my-app" || cfg.Balancers[0].LBMethod != "bytraffic" {
		t.Fatalf("balancers %+v", cfg.Balancers)
	}
	if r := cfg.Routes[0]; r.Balancer != "my-app" || !r.Reverse {
		t.Errorf("route %+v", r)
	}
	wantFinding(t, res.Notes, 3, `it is called "my-app"`)
}

func TestListenOnBarkeepsAdminPort(t *testing.T) {
	cfg, res := convertText(t, "Listen 8080\nListen 8090\n")
	if cfg.Admin.Listen != "" {
		t.Errorf("admin.listen %q would collide with the client listener :8090", cfg.Admin.Listen)
	}
	wantFinding(t, res.Notes, 2, "barkeep's default admin listener")
}
