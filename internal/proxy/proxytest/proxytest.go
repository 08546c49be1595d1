// Package proxytest serves a proxy.Handler on loopback the way barkeep
// serves its clients (proxy.Server: fasthttp for HTTP/1.x, net/http for
// HTTP/2), for tests of the request path from the outside.
package proxytest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/proxy"
	"github.com/barkeep-lb/barkeep/internal/testcert"
)

// Protocol is how a test client talks to the front.
type Protocol string

const (
	// HTTP1 is HTTP/1.1 in cleartext (fasthttp's edge).
	HTTP1 Protocol = "http1"
	// H2 is HTTP/2 over TLS, chosen by ALPN (net/http's edge).
	H2 Protocol = "h2"
	// H2C is HTTP/2 in cleartext with prior knowledge (net/http's edge).
	H2C Protocol = "h2c"
)

// Front is a Handler listening on 127.0.0.1.
type Front struct {
	// URL is "http://127.0.0.1:PORT" (https for H2).
	URL string
	// Addr is "127.0.0.1:PORT".
	Addr   string
	client *http.Client
}

// Client returns a client speaking the front's protocol.
func (f *Front) Client() *http.Client { return f.client }

// Start serves h on a loopback listener with opts until the test ends,
// for clients speaking p.
func Start(tb testing.TB, h *proxy.Handler, p Protocol, opts proxy.ServerOptions) *Front {
	tb.Helper()
	f := &Front{}
	tr := &http.Transport{MaxIdleConnsPerHost: 64, Protocols: new(http.Protocols)}
	switch p {
	case H2:
		ca := testcert.Issue(tb, "proxytest CA", nil, true, x509.ExtKeyUsageServerAuth)
		leaf := testcert.Issue(tb, "127.0.0.1", ca, false, x509.ExtKeyUsageServerAuth)
		opts.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS()}, MinVersion: tls.VersionTLS12}
		pool := x509.NewCertPool()
		pool.AddCert(ca.Cert)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
		tr.Protocols.SetHTTP2(true)
	case H2C:
		tr.Protocols.SetUnencryptedHTTP2(true)
	default:
		tr.Protocols.SetHTTP1(true)
	}
	srv := proxy.NewServer(h, opts)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	f.Addr = l.Addr().String()
	f.URL = "http://" + f.Addr
	if p == H2 {
		f.URL = "https://" + f.Addr
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l) //nolint:errcheck // ends with Shutdown
	}()
	f.client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	tb.Cleanup(func() {
		tr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck
		<-done
		h.CloseIdleConnections()
	})
	return f
}
