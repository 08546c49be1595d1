package proxy

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// h2cTransport forwards requests to an h2c:// member (HTTP/2 without TLS)
// with net/http's transport, converting the request at this edge.
type h2cTransport struct {
	t    *http.Transport
	host string
}

func newH2CTransport(s transportSettings) *h2cTransport {
	d := &net.Dialer{Timeout: s.connTimeout, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		DialContext:           d.DialContext,
		IdleConnTimeout:       s.ttl,
		ResponseHeaderTimeout: s.timeout,
		DisableCompression:    true, // pass Accept-Encoding through untouched
		Protocols:             new(http.Protocols),
	}
	t.Protocols.SetUnencryptedHTTP2(true)
	return &h2cTransport{t: t, host: s.host}
}

func (c *h2cTransport) closeIdle() { c.t.CloseIdleConnections() }

func (c *h2cTransport) roundTrip(x *exchange) error {
	req := x.req
	uri := req.URI()
	raw := string(uri.PathOriginal())
	path, err := url.PathUnescape(raw)
	if err != nil {
		path = raw
	}
	u := &url.URL{Scheme: "http", Host: c.host, Path: path, RawPath: raw, RawQuery: string(uri.QueryString())}
	hr := &http.Request{
		Method: string(req.Header.Method()), URL: u, Host: string(req.Header.Host()),
		Proto: "HTTP/2.0", ProtoMajor: 2, Header: make(http.Header),
	}
	hr = hr.WithContext(context.Background())
	for k, v := range req.Header.All() {
		if equalFold(k, "host") || equalFold(k, "content-length") || equalFold(k, "transfer-encoding") || hopByHop(k) {
			continue
		}
		hr.Header.Add(string(k), string(v))
	}
	switch {
	case req.IsBodyStream():
		hr.Body = io.NopCloser(req.BodyStream())
		hr.ContentLength = int64(req.Header.ContentLength())
		if hr.ContentLength < 0 {
			hr.ContentLength = -1
		}
	case len(req.Body()) > 0:
		hr.Body = io.NopCloser(bytes.NewReader(req.Body()))
		hr.ContentLength = int64(len(req.Body()))
	}
	x.hdr = x.mresp
	resp, err := c.t.RoundTrip(hr)
	if err != nil {
		return err
	}
	mr := x.mresp
	mr.SetStatusCode(resp.StatusCode)
	for k, vs := range resp.Header {
		if k == "Content-Length" {
			continue
		}
		for _, v := range vs {
			mr.Header.Add(k, v)
		}
	}
	if resp.Body == http.NoBody || x.req.Header.IsHead() || noBody(resp.StatusCode) {
		resp.Body.Close()
		mr.SkipBody = true
		if resp.ContentLength >= 0 {
			mr.Header.SetContentLength(int(resp.ContentLength))
		}
		x.memberDone()
		return nil
	}
	mr.Header.SetContentLength(int(max(resp.ContentLength, -1)))
	x.streamFrom(resp.Body, nil, 0, func(bool) { resp.Body.Close() })
	return nil
}
