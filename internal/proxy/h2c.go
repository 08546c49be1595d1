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
	t     *http.Transport
	host  string
	conns *connSet // counts the requests waiting for headers, for the hang watcher
}

func newH2CTransport(s transportSettings, conns *connSet) *h2cTransport {
	d := &net.Dialer{Timeout: s.connTimeout, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		DialContext:           d.DialContext,
		IdleConnTimeout:       s.ttl,
		ResponseHeaderTimeout: s.timeout,
		DisableCompression:    true, // pass Accept-Encoding through untouched
		Protocols:             new(http.Protocols),
	}
	t.Protocols.SetUnencryptedHTTP2(true)
	return &h2cTransport{t: t, host: s.host, conns: conns}
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
	ctx, cancel := context.WithCancel(context.Background())
	hr = hr.WithContext(ctx)
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
	resp, err := c.await(x, hr, cancel)
	if err != nil {
		cancel()
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
		cancel()
		mr.SkipBody = true
		if resp.ContentLength >= 0 {
			mr.Header.SetContentLength(int(resp.ContentLength))
		}
		x.memberDone()
		return nil
	}
	mr.Header.SetContentLength(int(max(resp.ContentLength, -1)))
	x.streamFrom(resp.Body, nil, 0, func(bool) { resp.Body.Close(); cancel() })
	return nil
}

// await sends hr and waits for the response headers. A request without a
// body is sent on a goroutine of its own, and every awaitTick await looks
// whether it should be withdrawn (see withdrawal); if so it cancels hr
// (cancel) and returns why. (net/http's RoundTrip cannot be interrupted
// otherwise, and it may read a request body after it returned, which a
// withdrawn request's body must not be.)
func (c *h2cTransport) await(x *exchange, hr *http.Request, cancel context.CancelFunc) (*http.Response, error) {
	sent := time.Now()
	c.conns.beginWait(sent.UnixNano())
	if hr.Body != nil {
		resp, err := c.t.RoundTrip(hr)
		if err != nil {
			c.conns.endWait(0)
		} else {
			c.conns.endWait(time.Now().UnixNano())
		}
		return resp, err
	}
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	brokenAtSend := x.member.Stats.Load.Load() == -1
	go func() {
		resp, err := c.t.RoundTrip(hr)
		done <- result{resp, err}
	}()
	tick := time.NewTicker(awaitTick)
	defer tick.Stop()
	for {
		select {
		case r := <-done:
			if r.err != nil {
				c.conns.endWait(0)
			} else {
				c.conns.endWait(time.Now().UnixNano())
			}
			return r.resp, r.err
		case now := <-tick.C:
			if err := x.withdrawal(now, sent.UnixNano(), brokenAtSend); err != nil {
				cancel()
				if r := <-done; r.err == nil {
					r.resp.Body.Close() // the headers came after all; too late
				}
				c.conns.endWait(0)
				return nil, err
			}
		}
	}
}
