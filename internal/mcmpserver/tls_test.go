package mcmpserver_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/barkeep-lb/barkeep/internal/mcmpserver"
	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/internal/testcert"
)

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.Issue(t, "barkeep test CA", nil, true, x509.ExtKeyUsageAny)
	caFile, _ := ca.Write(t, dir, "ca")
	serverCert, serverKey := testcert.Issue(t, "127.0.0.1", ca, false, x509.ExtKeyUsageServerAuth).Write(t, dir, "server")
	worker := testcert.Issue(t, "worker", ca, false, x509.ExtKeyUsageClientAuth)
	stranger := testcert.Issue(t, "stranger", testcert.Issue(t, "other CA", nil, true, x509.ExtKeyUsageAny), false, x509.ExtKeyUsageClientAuth)

	cfg, err := mcmpserver.TLSConfig(serverCert, serverKey, caFile)
	if err != nil {
		t.Fatal(err)
	}
	mgr := httptest.NewUnstartedServer(mcmpserver.New(registry.NewStore(), mcmpserver.Options{}))
	mgr.TLS = cfg
	mgr.StartTLS()
	defer mgr.Close()

	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
	}
	version := func(c *http.Client) (*http.Response, error) {
		req, _ := http.NewRequest("VERSION", mgr.URL+"/", nil)
		return c.Do(req)
	}
	if res, err := version(client()); err == nil {
		res.Body.Close()
		t.Fatalf("a client without a certificate got %s, want the connection refused", res.Status)
	}
	if res, err := version(client(stranger.TLS())); err == nil {
		res.Body.Close()
		t.Fatalf("a client with a certificate from another CA got %s", res.Status)
	}
	res, err := version(client(worker.TLS()))
	if err != nil {
		t.Fatalf("a worker with a valid certificate: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("VERSION over mutual TLS: %s", res.Status)
	}
	if _, err := mcmpserver.TLSConfig(serverCert, serverKey, filepath.Join(dir, "none.pem")); err == nil || !strings.Contains(err.Error(), "client CA") {
		t.Errorf("missing client CA file: %v", err)
	}
}
