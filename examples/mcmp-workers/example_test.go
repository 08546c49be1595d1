// Package mcmpworkers runs the mcmp-workers example: barkeep with the
// example's file and certificates, and a worker that sends what WildFly's
// and Tomcat's mod_cluster send, over mTLS.
package mcmpworkers

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

// mcmp sends one MCMP message as a Java worker does: the method, "/" (or
// "/*"), a form-encoded body.
func mcmp(c *http.Client, manager, method, target, body string) (int, string, error) {
	req, err := http.NewRequest(method, "https://"+manager+target, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), nil
}

func TestMCMPWorkersExample(t *testing.T) {
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
	certs := filepath.Join(dir, "certs")
	if out, err := exec.Command("bash", "gen-certs.sh", certs).CombinedOutput(); err != nil {
		t.Fatalf("gen-certs.sh: %v\n%s", err, out)
	}
	ports := map[string]string{}
	for _, p := range []string{"8000", "8090", "6666"} {
		ports["127.0.0.1:"+p] = "127.0.0.1:" + exampletest.FreePort(t)
	}
	cfg := exampletest.Copy(t, dir, ports, "barkeep.yaml")[0]
	exampletest.Start(t, dir, nil, barkeep, "serve", "--config", cfg)
	workerAddr := "127.0.0.1:" + exampletest.FreePort(t)
	exampletest.Start(t, dir, nil, backend, "-listen", workerAddr, "-name", "node1")
	manager, front := ports["127.0.0.1:6666"], "http://"+ports["127.0.0.1:8000"]

	caPEM, _ := os.ReadFile(filepath.Join(certs, "ca.crt"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(filepath.Join(certs, "worker.crt"), filepath.Join(certs, "worker.key"))
	if err != nil {
		t.Fatal(err)
	}
	worker := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	anonymous := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	exampletest.Eventually(t, 20*time.Second, func() error { return exampletest.Listening(manager) })
	// A worker without a client certificate cannot even finish the handshake.
	if _, _, err := mcmp(anonymous, manager, "CONFIG", "/", "JVMRoute=intruder&Host=127.0.0.1&Port=1&Type=http"); err == nil {
		t.Error("CONFIG without a client certificate was answered")
	}

	host, port, _ := strings.Cut(workerAddr, ":")
	for _, m := range []struct{ method, target, body string }{
		{"CONFIG", "/", "JVMRoute=node1&Host=" + host + "&Port=" + port + "&StickySessionForce=No&Type=http"},
		{"ENABLE-APP", "/", "JVMRoute=node1&Alias=default-host%2Clocalhost%2C127.0.0.1&Context=%2Fapp"},
		{"STATUS", "/", "JVMRoute=node1&Load=100"},
	} {
		code, body, err := mcmp(worker, manager, m.method, m.target, m.body)
		if err != nil || code != 200 {
			t.Fatalf("%s: %d %q %v", m.method, code, body, err)
		}
	}
	c := &http.Client{Timeout: 5 * time.Second}
	exampletest.Eventually(t, 10*time.Second, func() error {
		code, body, err := exampletest.Get(c, front+"/app/hello")
		if err != nil || code != 200 || !strings.HasPrefix(body, "node1 GET /app/hello") {
			return fmt.Errorf("GET /app/hello through barkeep = %d %q %v, want node1's answer", code, body, err)
		}
		return nil
	})
	if code, _, _ := exampletest.Get(c, front+"/other"); code != 404 {
		t.Errorf("a path no node registered: %d, want 404", code)
	}
}
