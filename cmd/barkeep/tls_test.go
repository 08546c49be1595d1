package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate for 127.0.0.1 with the given
// common name to certFile and keyFile, and returns it.
func writeCert(t *testing.T, certFile, keyFile, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	return cert
}

func TestTLSListener(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "proto="+r.Header.Get("X-Forwarded-Proto"))
	}))
	t.Cleanup(backend.Close)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := writeCert(t, certFile, keyFile, "first")
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
	res, body, err := get(first)
	if err != nil {
		t.Fatal(err)
	}
	if res.Proto != "HTTP/2.0" || body != "proto=https" {
		t.Errorf("over TLS: %s %q, want HTTP/2.0 and the member told proto=https", res.Proto, body)
	}

	// A renewed certificate is picked up on SIGHUP.
	second := writeCert(t, certFile, keyFile, "second")
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, _, err := get(second); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate was not served after SIGHUP")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
