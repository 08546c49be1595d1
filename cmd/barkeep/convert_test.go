package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/barkeep-lb/barkeep/internal/config"
)

func TestConvertCommand(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "httpd.conf")
	os.WriteFile(conf, []byte(`Listen 127.0.0.1:8000
<IfDefine WITH_BALANCER>
<Proxy balancer://tomcats>
  BalancerMember ajp://10.0.0.5:8009 route=tc1
</Proxy>
ProxyPass /app balancer://tomcats/app
</IfDefine>
RewriteEngine On
`), 0o644)

	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"convert", "-D", "WITH_BALANCER", conf}, &stdout, &stderr); code != 0 {
		t.Fatalf("convert: exit %d\n%s", code, stderr.String())
	}
	cfg, err := config.Parse("converted", stdout.Bytes())
	if err != nil {
		t.Fatalf("convert's output does not pass check-config: %v\n%s", err, stdout.String())
	}
	if len(cfg.Balancers) != 1 || len(cfg.Routes) != 1 {
		t.Errorf("-D WITH_BALANCER did not enable the balancer:\n%s", stdout.String())
	}
	if want := conf + ":8: RewriteEngine: not mapped: mod_rewrite"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
	}

	stdout.Reset()
	stderr.Reset()
	if code := run(t.Context(), []string{"convert", "--strict", conf}, &stdout, &stderr); code != 2 || stdout.Len() != 0 {
		t.Errorf("--strict with a directive left out: exit %d, stdout %q; want 2 and nothing", code, stdout.String())
	}

	clean := filepath.Join(dir, "clean.conf")
	os.WriteFile(clean, []byte("Listen 8000\n<Proxy balancer://b>\nBalancerMember http://10.0.0.1:8080\n</Proxy>\nProxyPass / balancer://b/\n"), 0o644)
	stdout.Reset()
	if code := run(t.Context(), []string{"convert", "--strict", clean}, &stdout, &stderr); code != 0 || stdout.Len() == 0 {
		t.Errorf("--strict on a file that maps completely: exit %d", code)
	}

	broken := filepath.Join(dir, "broken.conf")
	os.WriteFile(broken, []byte("<Proxy balancer://b>\nBalancerMember http://10.0.0.1:8080\n"), 0o644)
	stderr.Reset()
	if code := run(t.Context(), []string{"convert", broken}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), broken+":2: <Proxy> section not closed") {
		t.Errorf("a file httpd refuses: exit %d, stderr %q", code, stderr.String())
	}
	if code := run(t.Context(), []string{"convert"}, &stdout, &stderr); code != 2 {
		t.Errorf("convert without a file: exit %d, want 2", code)
	}
}
