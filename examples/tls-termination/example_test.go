// Package tlstermination runs the tls-termination example as its README
// does: certificates from gen-certs.sh, an https member, HTTP/2 clients.
package tlstermination

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/exampletest"
)

func TestTLSTerminationExample(t *testing.T) {
	for _, tool := range []string{"bash", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("BARKEEP_EXAMPLES") != "" {
				t.Fatalf("the example needs %s (BARKEEP_EXAMPLES is set)", tool)
			}
			t.Skipf("the example needs %s; set BARKEEP_EXAMPLES=1 to make this a failure", tool)
		}
	}
	barkeep := exampletest.Build(t, "../../cmd/barkeep")
	backend := exampletest.Build(t, "../backend")
	dir := t.TempDir()
	if out, err := exec.Command("bash", "gen-certs.sh", filepath.Join(dir, "certs")).CombinedOutput(); err != nil {
		t.Fatalf("gen-certs.sh: %v\n%s", err, out)
	}
	ports := map[string]string{}
	for _, p := range []string{"8000", "8443", "8090", "9443"} {
		ports["127.0.0.1:"+p] = "127.0.0.1:" + exampletest.FreePort(t)
	}
	cfg := exampletest.Copy(t, dir, ports, "barkeep.yaml")[0]
	certs := filepath.Join(dir, "certs")
	exampletest.Start(t, dir, nil, backend, "-listen", ports["127.0.0.1:9443"], "-name", "node1",
		"-cert", filepath.Join(certs, "member.crt"), "-key", filepath.Join(certs, "member.key"))
	exampletest.Start(t, dir, []string{"SSL_CERT_FILE=" + filepath.Join(certs, "ca.crt")}, barkeep, "serve", "--config", cfg)

	caPEM, err := os.ReadFile(filepath.Join(certs, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	front := strings.Replace(ports["127.0.0.1:8443"], "127.0.0.1", "localhost", 1)
	for _, h2 := range []bool{true, false} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		wantProto := map[bool]string{true: "HTTP/2.0", false: "HTTP/1.1"}[h2]
		exampletest.Eventually(t, 20*time.Second, func() error {
			res, err := c.Get("https://" + front + "/hello")
			if err != nil {
				return err
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			got := string(body)
			if res.Proto != wantProto || !strings.HasPrefix(got, "node1 GET /hello") || !strings.Contains(got, "forwarded-proto=https") {
				return fmt.Errorf("%s answer %d %q, want %s from node1 with forwarded-proto=https", res.Proto, res.StatusCode, got, wantProto)
			}
			return nil
		})
	}
}
