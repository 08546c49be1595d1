package proxy

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// ServerOptions configures a client listener's Server. The zero value
// works.
type ServerOptions struct {
	// ReadHeaderTimeout bounds reading a request's headers (httpd's
	// RequestReadTimeout header=); default 30s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout is how long an idle keep-alive connection is kept;
	// default 120s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's line and headers; larger requests
	// get 431. It is also the per-connection read buffer. Default 64 KiB.
	MaxHeaderBytes int
	// TLS, when set, makes the listener speak TLS: HTTP/2 to clients whose
	// ALPN picks h2, HTTP/1.1 to the others. NextProtos is filled in.
	TLS *tls.Config
	// Log receives the servers' own complaints about clients (at debug
	// level) and listener failures.
	Log *slog.Logger
}

// Server serves client connections for a Handler: HTTP/1.x on fasthttp's
// server; HTTP/2 on net/http's, for TLS connections whose ALPN picked h2
// and for cleartext connections that open with the HTTP/2 preface (h2c
// with prior knowledge). It answers no h2c upgrade (Upgrade: h2c is
// removed before forwarding).
type Server struct {
	h    *Handler
	tls  *tls.Config
	hdr  time.Duration
	log  *slog.Logger
	fast *fasthttp.Server
	h1ln *connListener // connections for fast, after TLS or the h2c check
	h2   *http.Server
	h2ln *connListener

	mu        sync.Mutex
	listeners []net.Listener
	wg        sync.WaitGroup
	once      sync.Once
}

// NewServer returns a Server for h. Serve starts it on a listener.
func NewServer(h *Handler, opts ServerOptions) *Server {
	s := &Server{
		h:   h,
		hdr: cmp.Or(opts.ReadHeaderTimeout, 30*time.Second),
		log: cmp.Or(opts.Log, slog.New(slog.DiscardHandler)),
	}
	maxHeader := cmp.Or(opts.MaxHeaderBytes, 64<<10)
	s.fast = &fasthttp.Server{
		Handler:                      h.ServeFastHTTP,
		ErrorHandler:                 s.refuse,
		HeaderReceived:               h.headerReceived,
		ReadTimeout:                  s.hdr,
		IdleTimeout:                  cmp.Or(opts.IdleTimeout, 120*time.Second),
		ReadBufferSize:               maxHeader,
		MaxRequestBodySize:           h.bufferBody,
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		NoDefaultServerHeader:        true,
		// fasthttp manages Date itself: it sends its own (the current
		// second) in place of the member's.
		NoDefaultContentType: true,
		CloseOnShutdown:      true,
		TCPKeepalive:         true,
		Logger:               debugLogger{s.log},
	}
	s.h1ln, s.h2ln = newConnListener(), newConnListener()
	var p http.Protocols
	p.SetHTTP2(true)
	p.SetUnencryptedHTTP2(true)
	s.h2 = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.hdr,
		IdleTimeout:       cmp.Or(opts.IdleTimeout, 120*time.Second),
		MaxHeaderBytes:    maxHeader,
		Protocols:         &p,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if opts.TLS != nil {
		s.tls = opts.TLS.Clone()
		s.tls.NextProtos = []string{"h2", "http/1.1"}
		s.h2.TLSConfig = s.tls
	}
	return s
}

// headerReceived gives a request with a body its read allowance (see
// BodyRate): bodies up to BufferBody are read before the handler runs,
// within this deadline.
func (h *Handler) headerReceived(hdr *fasthttp.RequestHeader) fasthttp.RequestConfig {
	cl := hdr.ContentLength()
	if cl == 0 || cl == -2 || h.bodyRate.Timeout <= 0 {
		return fasthttp.RequestConfig{}
	}
	d := h.bodyRate.Timeout
	if cl > 0 && h.bodyRate.MinRate > 0 {
		d += time.Duration(int64(min(cl, h.bufferBody)) * int64(time.Second) / int64(h.bodyRate.MinRate))
	}
	return fasthttp.RequestConfig{ReadTimeout: d}
}

// refuse answers a request fasthttp could not read: 431 for headers over
// the limit, 408 when the client was too slow, 400 for anything malformed.
// The connection is closed afterwards.
func (s *Server) refuse(ctx *fasthttp.RequestCtx, err error) {
	status := fasthttp.StatusBadRequest
	var ne net.Error
	switch {
	case errors.As(err, new(*fasthttp.ErrSmallBuffer)):
		status = fasthttp.StatusRequestHeaderFieldsTooLarge
	case errors.As(err, &ne) && ne.Timeout():
		status = fasthttp.StatusRequestTimeout
	}
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString(fmt.Sprintf("%d %s\n", status, fasthttp.StatusMessage(status)))
	ctx.SetConnectionClose()
}

// Serve accepts connections on l until it is closed or Shutdown is called.
// It returns nil after Shutdown, else the accept error.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
	s.once.Do(func() {
		// Both servers take connections from serveConn through listeners
		// of their own, so their graceful shutdowns work as usual.
		s.wg.Go(func() {
			if err := s.fast.Serve(s.h1ln); err != nil && !errors.Is(err, net.ErrClosed) {
				s.log.Error("HTTP/1 server failed", "err", err)
			}
		})
		s.wg.Go(func() {
			if err := s.h2.Serve(s.h2ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("HTTP/2 server failed", "err", err)
			}
		})
	})
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			return err
		}
		s.wg.Go(func() { s.serveConn(c) })
	}
}

// serveConn hands one connection to the HTTP/1.x or the HTTP/2 server.
func (s *Server) serveConn(c net.Conn) {
	if s.tls != nil {
		tc := tls.Server(c, s.tls)
		tc.SetDeadline(time.Now().Add(s.hdr))
		if err := tc.Handshake(); err != nil {
			s.log.Debug("TLS handshake failed", "peer", c.RemoteAddr().String(), "err", err)
			c.Close()
			return
		}
		tc.SetDeadline(time.Time{})
		if tc.ConnectionState().NegotiatedProtocol == "h2" {
			s.h2ln.push(tc)
			return
		}
		s.h1ln.push(tc)
		return
	}
	pc, h2, err := sniff(c, s.hdr)
	if err != nil {
		c.Close()
		return
	}
	if h2 {
		s.h2ln.push(pc)
		return
	}
	s.h1ln.push(pc)
}

// h2Preface opens every HTTP/2 connection (RFC 9113 §3.4).
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// sniff looks at the first bytes of a cleartext connection and tells
// whether it opens with the HTTP/2 preface. It waits only as long as the
// bytes could still be the preface, so a short HTTP/1 request is answered
// at once. A TCP connection is peeked at and returned as it is; on others
// the bytes read are replayed by the returned connection.
func sniff(c net.Conn, timeout time.Duration) (net.Conn, bool, error) {
	c.SetReadDeadline(time.Now().Add(timeout))
	defer c.SetReadDeadline(time.Time{})
	// A TCP connection is peeked at, not read, so the servers get it as it
	// is: fasthttp then writes a response's header and a big body with one
	// writev, which it does only on a *net.TCPConn.
	if sc, ok := c.(syscall.Conn); ok {
		if n, h2, ok, err := peekPrefix(sc, h2Preface); ok {
			if n == 0 {
				return nil, false, err
			}
			return c, h2, nil
		}
	}
	buf := make([]byte, 0, len(h2Preface))
	for {
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if !bytes.HasPrefix([]byte(h2Preface), buf) {
			return &prefixConn{Conn: c, prefix: buf}, false, nil
		}
		if len(buf) == len(h2Preface) {
			return &prefixConn{Conn: c, prefix: buf}, true, nil
		}
		if err != nil {
			if len(buf) > 0 {
				return &prefixConn{Conn: c, prefix: buf}, false, nil
			}
			return nil, false, err
		}
	}
}

// prefixConn replays bytes already read from a connection.
type prefixConn struct {
	net.Conn
	prefix []byte
}

// NetConn returns the wrapped connection.
func (c *prefixConn) NetConn() net.Conn { return c.Conn }

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// Shutdown stops accepting, lets in-flight requests finish until ctx is
// done, then closes the remaining connections. It returns ctx's error when
// requests were still running.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	for _, l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
	var errs []error
	done := make(chan error, 1)
	go func() { done <- s.fast.ShutdownWithContext(ctx) }()
	if err := s.h2.Shutdown(ctx); err != nil {
		s.h2.Close()
		errs = append(errs, err)
	}
	if err := <-done; err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// connListener is a net.Listener fed with connections by serveConn, for
// net/http's HTTP/2 server.
type connListener struct {
	ch     chan net.Conn
	done   chan struct{}
	closed sync.Once
}

func newConnListener() *connListener {
	return &connListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) push(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4zero} }

// debugLogger sends fasthttp's log lines (malformed requests, broken
// connections) to the debug level.
type debugLogger struct{ log *slog.Logger }

func (l debugLogger) Printf(format string, args ...any) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug(fmt.Sprintf(format, args...), "component", "http1")
	}
}
