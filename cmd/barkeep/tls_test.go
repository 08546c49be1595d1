package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/testcert"
)

func TestTLSListener(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "proto="+r.Header.Get("X-Forwarded-Proto"))
	}))
	t.Cleanup(backend.Close)
	dir := t.TempDir()
	first := testcert.Issue(t, "first", nil, true, x509.ExtKeyUsageServerAuth)
	certFile, keyFile := first.Write(t, dir, "server")
	front := startServeTLS(t, fmt.Sprintf(`listen: ["127.0.0.1:0"]
tls: {listen: ["127.0.0.1:0"], cert: %q, key: %q}
admin: {listen: ""}
access_log: {path: off}
balancers:
  - name: web
    members: [{url: %q}]
routes: [{path: /, balancer: web}]
`, certFile, keyFile, backend.URL))

	get := func(trust *x509.Certificate) (*http.Response, string, error) {
		roots := x509.NewCertPool()
		roots.AddCert(trust)
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
		defer c.CloseIdleConnections()
		res, err := c.Get("https://" + front + "/")
		if err != nil {
			return nil, "", err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b), nil
	}
	res, body, err := get(first.Cert)
	if err != nil {
		t.Fatal(err)
	}
	if res.Proto != "HTTP/2.0" || body != "proto=https" {
		t.Errorf("over TLS: %s %q, want HTTP/2.0 and the member told proto=https", res.Proto, body)
	}

	// A renewed certificate is picked up on SIGHUP.
	second := testcert.Issue(t, "second", nil, true, x509.ExtKeyUsageServerAuth)
	second.Write(t, dir, "server")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, _, err := get(second.Cert); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate was not served after SIGHUP")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
