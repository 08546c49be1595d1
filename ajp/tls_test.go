package ajp_test

import (
	"crypto/tls"
	"crypto/x509"
)

// tlsState is what a server sees of a TLS 1.3 client with a certificate.
func tlsState() *tls.ConnectionState {
	return &tls.ConnectionState{
		Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256,
		PeerCertificates: []*x509.Certificate{{Raw: []byte("not really DER")}},
	}
}
