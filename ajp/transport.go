package ajp

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrPing is wrapped by the error of a request whose CPING got no CPONG in
// time: nothing of the request was sent, so it may go elsewhere, and the
// container should be considered down.
var ErrPing = errors.New("ajp: no CPONG")

// ErrHeadersTooLarge is returned, before anything is sent, for a request
// whose forward-request packet exceeds the packet size.
var ErrHeadersTooLarge = errors.New("ajp: request headers exceed the packet size")

// DefaultWaitTick is how often [Transport.Waiting] is consulted when
// [Transport.WaitTick] is 0.
const DefaultWaitTick = 100 * time.Millisecond

// Transport is an http.RoundTripper for ajp://host:port URLs (port 8009
// when absent). It keeps idle connections per address for reuse. The
// zero value works: no timeouts, no CPING, 2 idle connections per address,
// 8192-byte packets. Safe for concurrent use; do not change fields after
// the first request.
type Transport struct {
	// ConnectTimeout bounds connecting; 0 means no limit beyond the
	// request's context.
	ConnectTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for SEND_HEADERS once the
	// request is sent; 0 means none. Its expiry is a net.Error whose
	// Timeout() is true.
	ResponseHeaderTimeout time.Duration
	// PingTimeout > 0 sends a CPING before every request and fails the
	// request (with ErrPing, nothing sent) when no CPONG arrives in time,
	// like mod_proxy_ajp's ping=.
	PingTimeout time.Duration
	// Secret is sent as the secret attribute (Tomcat's secret /
	// requiredSecret); "" sends none.
	Secret string
	// Route is sent as the jvm_route attribute; "" sends none.
	Route string
	// FlushPackets makes every response body chunk reach the client at
	// once (the response is reported with unknown length so
	// httputil.ReverseProxy flushes each write).
	FlushPackets bool
	// MaxIdleConns is how many idle connections per address are kept;
	// default 2.
	MaxIdleConns int
	// IdleConnTimeout closes connections idle longer; 0 means no limit.
	IdleConnTimeout time.Duration
	// PacketSize is the largest packet, header included; it must match the
	// container's packetSize. Default 8192, at most 65536.
	PacketSize int
	// DialContext opens connections; default net.Dialer.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Waiting, when set, is consulted while a request waits for the
	// container's SEND_HEADERS once its forward request is written: every
	// WaitTick (the first one WaitTick after sent, the time the forward
	// request was written), with the ctx given to Do (req.Context() for
	// RoundTrip), so per-request state can travel in ctx. It returns nil
	// to keep waiting; any other error abandons the request: its
	// connection is closed, never reused nor retried, and Do returns that
	// very error, unwrapped. It is not consulted while a packet is
	// arriving, nor once the headers came. It runs on the caller's
	// goroutine between reads and must not block. ResponseHeaderTimeout
	// and ctx still end the wait as without it. With PingTimeout it is
	// also consulted while the CPONG is awaited (sent is then when the
	// CPING was written); a request abandoned there returns an error
	// wrapping both ErrPing and Waiting's, since nothing of it was sent.
	// Nil (the default) leaves the waits to their timeouts and ctx alone.
	Waiting func(ctx context.Context, sent time.Time) error
	// WaitTick is how often Waiting is consulted; default
	// DefaultWaitTick. Unused without Waiting.
	WaitTick time.Duration

	pools sync.Map // address -> chan *conn
}

// conn is one connection to a container.
type conn struct {
	nc       net.Conn
	br       *bufio.Reader
	buf      []byte // payload buffer, PacketSize long
	out      []byte // write buffer, reused
	lastUsed time.Time
}

func (t *Transport) packetSize() int {
	return min(cmp.Or(t.PacketSize, DefaultPacketSize), 65536)
}

func (t *Transport) pool(addr string) chan *conn {
	if p, ok := t.pools.Load(addr); ok {
		return p.(chan *conn)
	}
	p, _ := t.pools.LoadOrStore(addr, make(chan *conn, cmp.Or(t.MaxIdleConns, 2)))
	return p.(chan *conn)
}

// getConn returns an idle connection to addr, or a new one; reused tells
// which.
func (t *Transport) getConn(ctx context.Context, addr string) (c *conn, reused bool, err error) {
	p := t.pool(addr)
	for {
		select {
		case c := <-p:
			if t.IdleConnTimeout > 0 && time.Since(c.lastUsed) > t.IdleConnTimeout {
				c.nc.Close()
				continue
			}
			return c, true, nil
		default:
		}
		break
	}
	dial := t.DialContext
	if dial == nil {
		dial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	if t.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.ConnectTimeout)
		defer cancel()
	}
	nc, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	size := t.packetSize()
	return &conn{nc: nc, br: bufio.NewReaderSize(nc, size), buf: make([]byte, size)}, false, nil
}

func (t *Transport) putConn(addr string, c *conn) {
	c.nc.SetDeadline(time.Time{})
	c.lastUsed = time.Now()
	select {
	case t.pool(addr) <- c:
	default:
		c.nc.Close()
	}
}

// CloseIdleConnections closes the idle connections of every address.
func (t *Transport) CloseIdleConnections() {
	t.pools.Range(func(_, v any) bool {
		for {
			select {
			case c := <-v.(chan *conn):
				c.nc.Close()
			default:
				return true
			}
		}
	})
}

// cping sends a CPING on c and waits up to timeout for the CPONG. With w
// (nil for none), w.t.Waiting is consulted while it waits.
func (c *conn) cping(timeout time.Duration, w *headerWait) error {
	start := time.Now()
	c.nc.SetDeadline(start.Add(timeout))
	defer c.nc.SetDeadline(time.Time{})
	if _, err := c.nc.Write(AppendPacket(c.out[:0], MagicToContainer, []byte{CodeCPing})); err != nil {
		return err
	}
	if w != nil {
		w.sent, w.end, w.wake = start, start.Add(timeout), start.Add(w.tick())
		if err := w.await(c); err != nil {
			return err
		}
	}
	p, err := ReadPacket(c.br, c.buf, MagicFromContainer)
	if err != nil {
		return err
	}
	if len(p) != 1 || p[0] != CodeCPong {
		return fmt.Errorf("%w: answer to CPING of type %d", ErrMalformed, p[0])
	}
	return nil
}

// Ping opens a connection to addr, sends a CPING and waits up to timeout
// for the CPONG: mod_proxy_hcheck's CPING check. It returns nil when the
// container answered.
func (t *Transport) Ping(ctx context.Context, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, _, err := (&Transport{DialContext: t.DialContext, PacketSize: t.PacketSize}).getConn(ctx, addr)
	if err != nil {
		return err
	}
	defer c.nc.Close()
	if err := c.cping(timeout, nil); err != nil {
		return fmt.Errorf("%w: %w", ErrPing, err)
	}
	return nil
}

// RoundTrip sends req to the container at req.URL.Host and returns its
// response, whose body streams the container's chunks; closing the body
// before its end closes the connection. Errors before anything was sent
// are the dial error itself (a *net.OpError) or wrap ErrPing.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "ajp" {
		closeBody(req)
		return nil, fmt.Errorf("ajp: unsupported scheme %q", req.URL.Scheme)
	}
	var body io.Reader
	if req.Body != nil && req.Body != http.NoBody {
		body = req.Body
	}
	r, err := t.Do(req.Context(), req.URL.Host, t.forwardRequest(req), body, req.ContentLength)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp := &http.Response{
		Status: strconv.Itoa(r.Status) + " " + cmp.Or(r.Message, http.StatusText(r.Status)), StatusCode: r.Status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: make(http.Header, len(r.Headers)), ContentLength: r.ContentLength, Request: req, Body: r.Body,
	}
	for _, h := range r.Headers {
		resp.Header.Add(h.Name, h.Value)
	}
	if r.ContentLength == 0 && r.Body == nil {
		resp.Body = http.NoBody
	}
	return resp, nil
}

// Response is a container's answer to [Transport.Do]: the status line and
// headers as the container sent them, the length of the body (-1 when
// unknown, and always with FlushPackets so every chunk is passed on at
// once), and the body, which streams the container's chunks. Body is nil
// when there is none (HEAD, 204, 304); otherwise it must be closed, and
// closing it before its end closes the connection.
type Response struct {
	SendHeaders
	ContentLength int64
	Body          io.ReadCloser
}

// Do sends the forward request fr, with body (nil for none) of length
// bytes (-1 when unknown), to the container at addr ("host:port", port
// 8009 when absent) and returns its response once the headers arrived.
// The transport's Secret and Route fill fr's when those are empty. Errors
// before anything was sent are the dial error itself (a *net.OpError) or
// wrap ErrPing; ErrHeadersTooLarge when fr does not fit in a packet.
// A reused connection the container had closed is retried once on a new
// one when none of the body was sent. A request abandoned by the
// transport's Waiting returns Waiting's error as is. Safe for concurrent
// use.
func (t *Transport) Do(ctx context.Context, addr string, fr *ForwardRequest, body io.Reader, length int64) (*Response, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(strings.Trim(addr, "[]"), "8009")
	}
	if fr.Secret == "" {
		fr.Secret = t.Secret
	}
	if fr.Route == "" {
		fr.Route = t.Route
	}
	for attempt := 0; ; attempt++ {
		c, reused, err := t.getConn(ctx, addr)
		if err != nil {
			return nil, err
		}
		resp, sent, err := t.exchange(ctx, c, addr, fr, body, length)
		if err == nil {
			return resp, nil
		}
		c.nc.Close()
		// A reused connection the container had closed: like net/http,
		// try once more on a fresh one if nothing of the body was sent.
		if reused && attempt == 0 && !sent.body && !sent.abandoned && staleConn(err) && ctx.Err() == nil {
			continue
		}
		return nil, err
	}
}

// sentState tells how far a failed exchange got.
type sentState struct {
	body      bool // some of the body was sent
	abandoned bool // Waiting gave the request up
}

func staleConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// exchange sends fr on c and reads up to the response headers.
func (t *Transport) exchange(ctx context.Context, c *conn, addr string, fr *ForwardRequest, r io.Reader, length int64) (*Response, sentState, error) {
	var sent sentState
	if t.PingTimeout > 0 {
		var w *headerWait
		if t.Waiting != nil {
			w = &headerWait{ctx: ctx, t: t}
		}
		if err := c.cping(t.PingTimeout, w); err != nil {
			if w != nil && w.abandoned {
				// Nothing of the request was sent.
				sent.abandoned = true
				return nil, sent, fmt.Errorf("%w: abandoned while waiting: %w", ErrPing, err)
			}
			return nil, sent, fmt.Errorf("%w within %s: %w", ErrPing, t.PingTimeout, err)
		}
	}
	payload := fr.AppendPayload(c.buf[:0])
	if len(payload)+headerLen > t.packetSize() {
		return nil, sent, fmt.Errorf("%w (%d bytes, packet size %d)", ErrHeadersTooLarge, len(payload)+headerLen, t.packetSize())
	}
	c.out = AppendPacket(c.out[:0], MagicToContainer, payload)
	body := &requestBody{r: r, left: length}
	if r == nil || length == 0 {
		body.done = true
	}
	// With a known length the first chunk goes at once (the container
	// expects it); with an unknown one it waits for GET_BODY_CHUNK.
	if length > 0 && r != nil {
		if err := body.appendChunk(c, t.packetSize()-headerLen-2); err != nil {
			return nil, sent, err
		}
		sent.body = true
	}
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	if _, err := c.nc.Write(c.out); err != nil {
		stop()
		return nil, sent, ctxErr(ctx, err)
	}
	w := headerWait{ctx: ctx, t: t}
	if t.ResponseHeaderTimeout > 0 || t.Waiting != nil {
		w.sent = time.Now()
		w.wake = w.sent.Add(w.tick())
	}
	if t.ResponseHeaderTimeout > 0 {
		w.end = w.sent.Add(t.ResponseHeaderTimeout)
		c.nc.SetReadDeadline(w.end)
	}
	for {
		if t.Waiting != nil {
			if err := w.await(c); err != nil {
				stop()
				sent.abandoned = w.abandoned
				return nil, sent, err
			}
		}
		p, err := ReadPacket(c.br, c.buf, MagicFromContainer)
		if err != nil {
			stop()
			return nil, sent, ctxErr(ctx, err)
		}
		if len(p) == 0 {
			stop()
			return nil, sent, fmt.Errorf("%w: empty packet", ErrMalformed)
		}
		switch p[0] {
		case CodeGetBodyChunk:
			sent.body = true
			if err := body.send(c, p, t.packetSize()); err != nil {
				stop()
				return nil, sent, ctxErr(ctx, err)
			}
		case CodeSendHeaders:
			sh, err := ParseSendHeaders(p)
			if err != nil {
				stop()
				return nil, sent, err
			}
			c.nc.SetReadDeadline(time.Time{})
			return t.response(c, addr, fr.Method, sh, body, stop), sent, nil
		default:
			stop()
			return nil, sent, fmt.Errorf("%w: message type %d before the response headers", ErrMalformed, p[0])
		}
	}
}

// headerWait is an exchange waiting for SEND_HEADERS with
// Transport.Waiting set.
type headerWait struct {
	ctx       context.Context
	t         *Transport
	sent      time.Time // the forward request was written
	end       time.Time // ResponseHeaderTimeout expires; zero: never
	wake      time.Time // Waiting is next consulted
	abandoned bool      // Waiting returned an error
}

func (w *headerWait) tick() time.Duration { return cmp.Or(w.t.WaitTick, DefaultWaitTick) }

// await returns once the next packet starts arriving on c, consulting
// Waiting every WaitTick until then; on return without error c's read
// deadline is end. The wait ends with Waiting's error, ctx's, or the
// timeout at end.
func (w *headerWait) await(c *conn) error {
	for {
		deadline := w.wake
		if !w.end.IsZero() && w.end.Before(deadline) {
			deadline = w.end
		}
		c.nc.SetReadDeadline(deadline)
		// ctx's AfterFunc may have forced a past deadline that the line
		// above replaced: look at ctx after setting it.
		if err := w.ctx.Err(); err != nil {
			return err
		}
		_, err := c.br.Peek(1)
		if err == nil {
			c.nc.SetReadDeadline(w.end)
			return nil
		}
		now := time.Now()
		if !errors.Is(err, os.ErrDeadlineExceeded) || w.ctx.Err() != nil || !w.end.IsZero() && !now.Before(w.end) {
			return ctxErr(w.ctx, err)
		}
		if err := w.t.Waiting(w.ctx, w.sent); err != nil {
			w.abandoned = true
			return err
		}
		w.wake = time.Now().Add(w.tick())
	}
}

// ctxErr prefers the context's error to the deadline it forced on the
// connection.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// forwardRequest describes req as mod_proxy_ajp does: the client's
// address and port, the host and port it asked for, whether it used TLS
// (with the cipher, key size, protocol and client certificates).
func (t *Transport) forwardRequest(req *http.Request) *ForwardRequest {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	serverName, serverPort := host, 0
	if h, p, err := net.SplitHostPort(host); err == nil {
		serverName = h
		serverPort, _ = strconv.Atoi(p)
	}
	local, _ := req.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if serverPort == 0 {
		if a, ok := local.(*net.TCPAddr); ok {
			serverPort = a.Port
		} else if req.TLS != nil {
			serverPort = 443
		} else {
			serverPort = 80
		}
	}
	proto := req.Proto
	if !strings.HasPrefix(proto, "HTTP/1.") {
		proto = "HTTP/1.1"
	}
	f := &ForwardRequest{
		Method: req.Method, Protocol: proto, URI: req.URL.EscapedPath(),
		ServerName: strings.Trim(serverName, "[]"), ServerPort: serverPort, IsSSL: req.TLS != nil,
		QueryString: req.URL.RawQuery, Route: t.Route, Secret: t.Secret,
	}
	if f.URI == "" {
		f.URI = "/"
	}
	if ip, port, err := net.SplitHostPort(req.RemoteAddr); err == nil {
		f.RemoteAddr, f.RemoteHost = ip, ip
		f.Attributes = append(f.Attributes, Header{"AJP_REMOTE_PORT", port})
	}
	if a, ok := local.(*net.TCPAddr); ok {
		f.Attributes = append(f.Attributes, Header{"AJP_LOCAL_ADDR", a.IP.String()})
	}
	names := make([]string, 0, len(req.Header))
	for k := range req.Header {
		if k != "Host" && k != "Content-Length" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	f.Headers = append(f.Headers, Header{"Host", host})
	for _, k := range names {
		for _, v := range req.Header[k] {
			f.Headers = append(f.Headers, Header{k, v})
		}
	}
	if req.ContentLength > 0 {
		f.Headers = append(f.Headers, Header{"Content-Length", strconv.FormatInt(req.ContentLength, 10)})
	}
	if s := req.TLS; s != nil {
		tlsInfo(f, s)
	}
	return f
}

// tlsInfo adds the client's TLS details as mod_proxy_ajp forwards them.
func tlsInfo(f *ForwardRequest, s *tls.ConnectionState) {
	f.SSLCipher = tls.CipherSuiteName(s.CipherSuite)
	switch {
	case strings.Contains(f.SSLCipher, "AES_128"):
		f.SSLKeySize = 128
	case strings.Contains(f.SSLCipher, "AES_256"), strings.Contains(f.SSLCipher, "CHACHA20"):
		f.SSLKeySize = 256
	}
	var certs strings.Builder
	for _, c := range s.PeerCertificates {
		pem.Encode(&certs, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	f.SSLCert = certs.String()
	f.Attributes = append(f.Attributes, Header{"AJP_SSL_PROTOCOL", strings.Replace(tls.VersionName(s.Version), "TLS 1.", "TLSv1.", 1)})
}

// requestBody feeds the client's body to the container in chunks.
type requestBody struct {
	r    io.Reader
	left int64 // bytes still expected when the length is known, else -1
	done bool  // the end (an empty chunk) was sent
}

// appendChunk reads up to max bytes of body (at least one, unless the
// body has ended) and appends them to c.out as a body packet; at the end
// of the body it appends the empty packet that says so.
func (b *requestBody) appendChunk(c *conn, max int) error {
	if !b.done && b.left != 0 {
		if b.left > 0 {
			max = int(min(int64(max), b.left))
		}
		start := len(c.out)
		c.out = slices.Grow(c.out, 6+max)[:start+6+max]
		n, err := io.ReadAtLeast(b.r, c.out[start+6:], 1)
		if err != nil && err != io.EOF {
			c.out = c.out[:start]
			return err
		}
		c.out = c.out[:start+6+n]
		if n > 0 {
			binary.BigEndian.PutUint16(c.out[start:], MagicToContainer)
			binary.BigEndian.PutUint16(c.out[start+2:], uint16(n+2))
			binary.BigEndian.PutUint16(c.out[start+4:], uint16(n))
			if b.left > 0 {
				b.left -= int64(n)
			}
			return nil
		}
		c.out = c.out[:start]
	}
	b.done = true
	c.out = AppendPacket(c.out, MagicToContainer, nil)
	return nil
}

// send answers a GET_BODY_CHUNK with the next chunk of the body.
func (b *requestBody) send(c *conn, p []byte, packetSize int) error {
	want := packetSize - headerLen - 2
	if len(p) >= 3 {
		want = min(want, int(binary.BigEndian.Uint16(p[1:3])))
	}
	c.out = c.out[:0]
	if err := b.appendChunk(c, want); err != nil {
		return err
	}
	_, err := c.nc.Write(c.out)
	return err
}

// response builds the Response for SEND_HEADERS; its body reads the rest
// of the exchange.
func (t *Transport) response(c *conn, addr, method string, sh *SendHeaders, body *requestBody, stop func() bool) *Response {
	resp := &Response{SendHeaders: *sh, ContentLength: -1}
	for _, h := range sh.Headers {
		if strings.EqualFold(h.Name, "Content-Length") && !t.FlushPackets {
			if n, err := strconv.ParseInt(h.Value, 10, 64); err == nil && n >= 0 {
				resp.ContentLength = n
			}
		}
	}
	rb := &responseBody{t: t, c: c, addr: addr, body: body, stop: stop}
	if method == http.MethodHead || sh.Status == http.StatusNoContent || sh.Status == http.StatusNotModified {
		// No body: read up to END_RESPONSE now so the connection can be reused.
		io.Copy(io.Discard, rb)
		resp.ContentLength = 0
		return resp
	}
	resp.Body = rb
	return resp
}

// responseBody streams SEND_BODY_CHUNK data until END_RESPONSE, answering
// late GET_BODY_CHUNK requests.
type responseBody struct {
	t     *Transport
	c     *conn
	addr  string
	body  *requestBody
	stop  func() bool
	chunk []byte
	done  bool
	err   error
}

func (r *responseBody) Read(p []byte) (int, error) {
	for len(r.chunk) == 0 {
		if r.done || r.err != nil {
			return 0, cmp.Or(r.err, io.EOF)
		}
		r.next()
	}
	n := copy(p, r.chunk)
	r.chunk = r.chunk[n:]
	return n, nil
}

// next reads one packet of the response.
func (r *responseBody) next() {
	c := r.c
	p, err := ReadPacket(c.br, c.buf, MagicFromContainer)
	if err == nil && len(p) == 0 {
		err = fmt.Errorf("%w: empty packet", ErrMalformed)
	}
	if err != nil {
		r.fail(err)
		return
	}
	switch p[0] {
	case CodeSendBodyChunk:
		data, err := BodyChunk(p)
		if err != nil {
			r.fail(err)
			return
		}
		r.chunk = data // an empty chunk is a flush request
	case CodeGetBodyChunk:
		if err := r.body.send(c, p, r.t.packetSize()); err != nil {
			r.fail(err)
		}
	case CodeEndResponse:
		r.done = true
		r.stop()
		// The container swallows a body chunk it did not read, and asks
		// for no more: the connection is clean whenever it says reuse.
		if len(p) >= 2 && p[1] == 1 {
			r.t.putConn(r.addr, c)
		} else {
			c.nc.Close()
		}
		r.c = nil
	default:
		r.fail(fmt.Errorf("%w: message type %d in the response body", ErrMalformed, p[0]))
	}
}

func (r *responseBody) fail(err error) {
	if r.err == nil {
		r.err = err
		r.stop()
		if r.c != nil {
			r.c.nc.Close()
			r.c = nil
		}
	}
}

// Close ends the response; before END_RESPONSE it closes the connection.
func (r *responseBody) Close() error {
	if !r.done {
		r.fail(errors.New("ajp: response body closed early"))
	}
	return nil
}
