package proxy

import (
	"bytes"
	"context"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/barkeep-lb/barkeep/ajp"
)

// ajpTransport forwards requests to an ajp:// member with the ajp package,
// building the forward-request packet straight from the request's header
// bytes (no http.Header map).
type ajpTransport struct {
	t     *ajp.Transport
	addr  string
	conns *connSet // counts the requests waiting for headers, for the hang watcher
}

func newAJPTransport(s transportSettings, conns *connSet) *ajpTransport {
	return &ajpTransport{addr: s.host, conns: conns, t: &ajp.Transport{
		ConnectTimeout: s.connTimeout, ResponseHeaderTimeout: s.timeout, PingTimeout: s.ping,
		Secret: s.secret, Route: s.route, FlushPackets: s.flushPackets,
		MaxIdleConns: 64, IdleConnTimeout: s.ttl,
		Waiting: ajpWaiting, WaitTick: awaitTick,
	}}
}

// ajpWaitKey carries the exchange in the context given to ajp's Do, for
// ajpWaiting.
type ajpWaitKey struct{}

// ajpWaiting is the ajp transport's Transport.Waiting: a request waiting
// for its container's headers is withdrawn as h1's awaitResponse withdraws
// one (see withdrawal), so a hung container does not hold it until the
// member's timeout.
func ajpWaiting(ctx context.Context, sent time.Time) error {
	x, ok := ctx.Value(ajpWaitKey{}).(*exchange)
	if !ok {
		return nil
	}
	return x.withdrawal(time.Now(), sent.UnixNano(), x.brokenAtSend)
}

func (a *ajpTransport) closeIdle() { a.t.CloseIdleConnections() }

func (a *ajpTransport) roundTrip(x *exchange) error {
	req := x.req
	fr := x.forwardRequest()
	var body io.Reader
	length := int64(req.Header.ContentLength())
	switch {
	case req.IsBodyStream():
		body = req.BodyStream()
	case len(req.Body()) > 0:
		body = bytes.NewReader(req.Body())
		length = int64(len(req.Body()))
	default:
		length = 0
	}
	if length == -2 {
		length = 0
	}
	x.hdr = x.mresp
	x.brokenAtSend = x.member.Stats.Load.Load() == -1
	ctx := context.WithValue(context.Background(), ajpWaitKey{}, x) // for ajpWaiting
	a.conns.beginWait(time.Now().UnixNano())
	resp, err := a.t.Do(ctx, a.addr, fr, body, length)
	if err != nil {
		a.conns.endWait(0)
		return err
	}
	a.conns.endWait(time.Now().UnixNano())
	mr := x.mresp
	mr.SetStatusCode(resp.Status)
	mr.Header.SetStatusMessage([]byte(resp.Message))
	for _, h := range resp.Headers {
		if equalFold([]byte(h.Name), "content-length") {
			continue
		}
		mr.Header.Add(h.Name, h.Value)
	}
	if resp.Body == nil {
		mr.Header.SetContentLength(0)
		x.memberDone()
		return nil
	}
	mr.Header.SetContentLength(int(resp.ContentLength))
	x.streamFrom(resp.Body, nil, 0, func(bool) { resp.Body.Close() })
	return nil
}

// forwardRequest describes the member's request as mod_proxy_ajp does: the
// client's address and port, the host and port it asked for, whether it
// used TLS.
func (x *exchange) forwardRequest() *ajp.ForwardRequest {
	req := x.req
	uri := req.URI()
	host := string(x.hostB)
	serverName, serverPort := host, 0
	if h, p, err := net.SplitHostPort(host); err == nil {
		serverName = h
		serverPort, _ = strconv.Atoi(p)
	}
	if serverPort == 0 {
		if a, ok := localAddr(x.conn).(*net.TCPAddr); ok {
			serverPort = a.Port
		} else if x.tls {
			serverPort = 443
		} else {
			serverPort = 80
		}
	}
	fr := &ajp.ForwardRequest{
		Method: string(req.Header.Method()), Protocol: "HTTP/1.1", URI: string(uri.PathOriginal()),
		ServerName: serverName, ServerPort: serverPort, IsSSL: x.tls,
		QueryString: string(uri.QueryString()),
	}
	if x.proto == "HTTP/1.0" {
		fr.Protocol = x.proto
	}
	if ip := remoteIP(x.remote); ip != "" {
		fr.RemoteAddr, fr.RemoteHost = ip, ip
		if a, ok := x.remote.(*net.TCPAddr); ok {
			fr.Attributes = append(fr.Attributes, ajp.Header{Name: "AJP_REMOTE_PORT", Value: strconv.Itoa(a.Port)})
		}
	}
	if a, ok := localAddr(x.conn).(*net.TCPAddr); ok {
		fr.Attributes = append(fr.Attributes, ajp.Header{Name: "AJP_LOCAL_ADDR", Value: a.IP.String()})
	}
	fr.Headers = append(fr.Headers, ajp.Header{Name: "Host", Value: host})
	for k, v := range req.Header.All() {
		if equalFold(k, "host") || equalFold(k, "content-length") || equalFold(k, "transfer-encoding") {
			continue
		}
		fr.Headers = append(fr.Headers, ajp.Header{Name: string(k), Value: string(v)})
	}
	if cl := req.Header.ContentLength(); cl > 0 {
		fr.Headers = append(fr.Headers, ajp.Header{Name: "Content-Length", Value: strconv.Itoa(cl)})
	} else if n := len(req.Body()); n > 0 && !req.IsBodyStream() {
		fr.Headers = append(fr.Headers, ajp.Header{Name: "Content-Length", Value: strconv.Itoa(n)})
	}
	return fr
}
