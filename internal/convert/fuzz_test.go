package convert

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/barkeep-lb/barkeep/internal/config"
)

// FuzzFile: whatever the configuration, convert never panics, refuses it
// only with an *Error naming a file, reports every finding with its file
// and line, and writes YAML that barkeep's own validation accepts (a TLS
// certificate file missing on this machine aside).
func FuzzFile(f *testing.F) {
	for _, s := range []string{
		modules + "<Proxy balancer://b>\nBalancerMember ajp://10.0.0.1 route=a status=+H\nProxySet lbmethod=bytraffic\n</Proxy>\nProxyPass /a balancer://b/a\nProxyPassReverse /a balancer://b/a\n",
		"Listen 6666\n<VirtualHost *:6666>\nEnableMCMPReceive\n<Directory />\nRequire ip 10.0\n</Directory>\n</VirtualHost>\nManagerBalancerName x\n",
		"ProxyPassMatch ^/(a.*)$ http://h:1$1\nProxyPass /b http://h:1/x retry=0\nProxyPass /b/c !\n",
		"<Location /balancer-manager>\nSetHandler balancer-manager\nRequire local\n</Location>\n<IfDefine X>\nListen 1\n</IfDefine>\n",
		"ProxyHCExpr e {%{REQUEST_STATUS} =~ /^[23]/}\nProxyHCTemplate t hcmethod=GET hcexpr=e\nBalancerMember balancer://c http://h:2 hctemplate=t\n",
		"Define v ${v}${v}\nListen ${v}\n<VirtualHost *:443>\nSSLEngine on\nSSLCertificateFile /x\n</VirtualHost>\n",
		"Include /dev/null\nLogLevel trace8\nCustomLog |/bin/x combined\nKeepAliveTimeout 0\n",
	} {
		f.Add(s)
	}
	// One directory per fuzzing process: inputs run one at a time in it.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, conf string) {
		path := filepath.Join(dir, "httpd.conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		res, err := File(path, Options{ServerRoot: dir, LookupEnv: func(string) (string, bool) { return "", false }})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.File == "" {
				t.Fatalf("error %v is not an *Error with a file", err)
			}
			return
		}
		for _, fd := range append(res.Skipped, res.Notes...) {
			if fd.File == "" || fd.Line < 1 {
				t.Fatalf("finding without its place: %+v", fd)
			}
		}
		if _, err := config.Parse("converted.yaml", res.YAML); err != nil {
			var ce *config.Error
			if errors.As(err, &ce) {
				for _, p := range ce.Problems {
					if strings.HasPrefix(p.Field, "tls.cert") || strings.HasPrefix(p.Field, "tls.key") {
						continue
					}
					t.Fatalf("converted YAML refused: %v\n--- input\n%s\n--- output\n%s", p, conf, res.YAML)
				}
				return
			}
			t.Fatalf("converted YAML refused: %v\n%s", err, res.YAML)
		}
	})
}
