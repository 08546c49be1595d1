package mcmpserver_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/mcmpserver"
	"github.com/barkeep-lb/barkeep/internal/registry"
)

type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

func issue(t *testing.T, name string, parent *keyPair, isCA bool, usage x509.ExtKeyUsage) *keyPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: isCA, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &keyPair{cert: cert, key: key, der: der}
}

func (k *keyPair) write(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.der}), 0o600)
	kb, _ := x509.MarshalECPrivateKey(k.key)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

func (k *keyPair) tls() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{k.der}, PrivateKey: k.key}
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := issue(t, "barkeep test CA", nil, true, x509.ExtKeyUsageAny)
	caFile, _ := ca.write(t, dir, "ca")
	serverCert, serverKey := issue(t, "127.0.0.1", ca, false, x509.ExtKeyUsageServerAuth).write(t, dir, "server")
	worker := issue(t, "worker", ca, false, x509.ExtKeyUsageClientAuth)
	stranger := issue(t, "stranger", issue(t, "other CA", nil, true, x509.ExtKeyUsageAny), false, x509.ExtKeyUsageClientAuth)

	cfg, err := mcmpserver.TLSConfig(serverCert, serverKey, caFile)
	if err != nil {
		t.Fatal(err)
	}
	mgr := httptest.NewUnstartedServer(mcmpserver.New(registry.NewStore(), mcmpserver.Options{}))
	mgr.TLS = cfg
	mgr.StartTLS()
	defer mgr.Close()

	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
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
	if res, err := version(client(stranger.tls())); err == nil {
		res.Body.Close()
		t.Fatalf("a client with a certificate from another CA got %s", res.Status)
	}
	res, err := version(client(worker.tls()))
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
