package convert

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/config"
)

// convertFile converts a configuration on disk with env as the
// environment and checks the result passes barkeep's validation.
func convertFile(t *testing.T, path string, env map[string]string, defines ...string) (*config.Config, *Result) {
	t.Helper()
	res, err := File(path, Options{Defines: defines, LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("converted.yaml", res.YAML)
	if err != nil {
		t.Fatalf("the converted file does not pass check-config: %v\n%s", err, res.YAML)
	}
	return cfg, res
}

// TestTutorialSetup: httpd with two Tomcats over ajp:// with jvmRoutes and
// a secret, stickysession=JSESSIONID|jsessionid, lbmethod=bytraffic,
// ProxyPassReverseCookiePath, and the balancer-manager.
func TestTutorialSetup(t *testing.T) {
	cfg, res := convertFile(t, "testdata/tutorial/httpd.conf", map[string]string{"AJP_SECRET": "s3cret"})
	if !slices.Equal(cfg.Listen, []string{":80"}) || cfg.Admin.Listen != "127.0.0.1:8090" {
		t.Errorf("listen %q admin %q", cfg.Listen, cfg.Admin.Listen)
	}
	if len(cfg.Balancers) != 1 {
		t.Fatalf("balancers: %+v", cfg.Balancers)
	}
	b := cfg.Balancers[0]
	if b.Name != "tomcatcluster" || b.LBMethod != "bytraffic" || !slices.Equal(b.StickySession, []string{"JSESSIONID", "jsessionid"}) || len(b.Members) != 2 {
		t.Errorf("balancer %+v", b)
	}
	for i, m := range b.Members {
		if m.URL != "ajp://192.168.1.1"+string(rune('1'+i))+":8009" || m.Route != "tomcat"+string(rune('1'+i)) || m.Secret != "s3cret" || m.Retry != 10*time.Second {
			t.Errorf("member %d: %+v", i, m)
		}
	}
	if len(cfg.Routes) != 2 || cfg.Routes[0].Pass || cfg.Routes[0].Path != "/myapp/images" {
		t.Fatalf("routes %+v", cfg.Routes)
	}
	r := cfg.Routes[1]
	if r.Path != "/myapp" || r.TargetPath != "/examples" || !r.Reverse || r.ReverseCookiePath != "/myapp" || !r.PreserveHost {
		t.Errorf("route %+v", r)
	}
	if cfg.AccessLog.Path != "logs/access_log" {
		t.Errorf("access_log %+v", cfg.AccessLog)
	}
	wantFinding(t, res.Notes, 15, "Require ip 192.168.1")
	if !strings.Contains(findings(res.Skipped), "13: ErrorLog") {
		t.Errorf("ErrorLog not reported:\n%s", findings(res.Skipped))
	}
}

// TestModClusterSetup: mod_proxy_cluster as its documentation shows it.
func TestModClusterSetup(t *testing.T) {
	cfg, res := convertFile(t, "testdata/modcluster/httpd.conf", nil)
	m := cfg.Manager
	if m.Listen != "10.0.0.1:6666" || !slices.Equal(m.Allow, []string{"127.0.0.1/32", "10.0.0.0/24"}) || m.MaxNode != 40 || m.MaxContext != 200 ||
		m.Balancer != "mycluster" || m.LBStatusRecalc != 5*time.Second || m.WaitForRemove != 30*time.Second || !m.UseAlias || m.Persist == "" {
		t.Errorf("manager %+v", m)
	}
	if !slices.Equal(cfg.Listen, []string{":8000"}) {
		t.Errorf("listen %q", cfg.Listen)
	}
	if len(res.Skipped) != 0 {
		t.Errorf("a plain mod_proxy_cluster setup maps completely; left out:\n%s", findings(res.Skipped))
	}
}

// TestDebianShippedConfiguration converts Debian's own apache2.conf with
// every proxy module enabled and the balancer-manager block of its
// proxy_balancer.conf uncommented. It needs Debian's apache2 package (CI
// installs it; BARKEEP_HTTPD=1 makes its absence a failure).
func TestDebianShippedConfiguration(t *testing.T) {
	if _, err := os.Stat("/etc/apache2/apache2.conf"); err != nil {
		if os.Getenv("BARKEEP_HTTPD") != "" {
			t.Fatal("/etc/apache2/apache2.conf missing: install Debian's apache2 (.ci/run does)")
		}
		t.Skip("Debian's apache2 is not installed")
	}
	root := filepath.Join(t.TempDir(), "apache2")
	if out, err := exec.Command("cp", "-a", "/etc/apache2", root).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	avail, _ := filepath.Glob(filepath.Join(root, "mods-available", "proxy*"))
	for _, f := range append(avail, filepath.Join(root, "mods-available", "lbmethod_byrequests.load"), filepath.Join(root, "mods-available", "slotmem_shm.load")) {
		os.Symlink(f, filepath.Join(root, "mods-enabled", filepath.Base(f)))
	}
	pb := filepath.Join(root, "mods-available", "proxy_balancer.conf")
	text, err := os.ReadFile(pb)
	if err != nil {
		t.Fatal(err)
	}
	// Uncomment the sample's <IfModule mod_status.c><Location
	// /balancer-manager> block: its lines start with "#<" or "#\t".
	var lines []string
	for _, l := range strings.Split(string(text), "\n") {
		if strings.HasPrefix(l, "#<") || strings.HasPrefix(l, "#\t") {
			l = l[1:]
		}
		lines = append(lines, l)
	}
	os.WriteFile(pb, []byte(strings.Join(lines, "\n")), 0o644)

	env := map[string]string{"APACHE_RUN_USER": "www-data", "APACHE_RUN_GROUP": "www-data", "APACHE_PID_FILE": "/var/run/apache2/apache2.pid",
		"APACHE_RUN_DIR": "/var/run/apache2", "APACHE_LOCK_DIR": "/var/lock/apache2", "APACHE_LOG_DIR": "/var/log/apache2"}
	res, err := File(filepath.Join(root, "apache2.conf"), Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("converted.yaml", res.YAML)
	if err != nil {
		t.Fatalf("%v\n%s", err, res.YAML)
	}
	if !slices.Equal(cfg.Listen, []string{":80"}) || cfg.Admin.Listen != "127.0.0.1:8090" || cfg.AccessLog.Path != "/var/log/apache2/other_vhosts_access.log" {
		t.Errorf("listen %q admin %q access_log %+v", cfg.Listen, cfg.Admin.Listen, cfg.AccessLog)
	}
	all := findings(append(res.Skipped, res.Notes...))
	for _, want := range []string{"ProxyHTMLLinks: mod_proxy: not supported", "Require local", "RequestReadTimeout"} {
		if !strings.Contains(all, want) {
			t.Errorf("findings lack %q:\n%s", want, all)
		}
	}
	for _, f := range append(res.Skipped, res.Notes...) {
		if !strings.HasPrefix(f.File, root) || f.Line < 1 {
			t.Errorf("finding without its place in the Debian tree: %+v", f)
		}
	}
}
