package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
)

// syncTransport writes the request and reads the response head on the
// caller's goroutine; the connection goes back to its pool when the body has
// been read to EOF.
type syncTransport struct{ pools map[string]*pool }

type pool struct {
	addr string
	mu   sync.Mutex
	idle []*bconn
}

type bconn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

func (p *pool) get() (*bconn, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		b := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return b, nil
	}
	p.mu.Unlock()
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		return nil, err
	}
	return &bconn{c: c, br: bufio.NewReaderSize(c, 4096), bw: bufio.NewWriterSize(c, 4096)}, nil
}

func (p *pool) put(b *bconn) {
	p.mu.Lock()
	p.idle = append(p.idle, b)
	p.mu.Unlock()
}

func (t *syncTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	p := t.pools[req.URL.Host]
	if p == nil {
		return nil, errors.New("h1proto: unknown backend " + req.URL.Host)
	}
	b, err := p.get()
	if err != nil {
		return nil, err
	}
	bw := b.bw
	bw.WriteString(req.Method)
	bw.WriteByte(' ')
	bw.WriteString(req.URL.RequestURI())
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(req.Host)
	bw.WriteString("\r\n")
	req.Header.Write(bw)
	bw.WriteString("\r\n")
	if req.Body != nil && req.Body != http.NoBody && req.ContentLength > 0 {
		io.CopyN(bw, req.Body, req.ContentLength)
	}
	if err := bw.Flush(); err != nil {
		b.c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(b.br, req)
	if err != nil {
		b.c.Close()
		return nil, err
	}
	resp.Body = &pooledBody{ReadCloser: resp.Body, p: p, b: b}
	return resp, nil
}

type pooledBody struct {
	io.ReadCloser
	p   *pool
	b   *bconn
	eof bool
}

func (b *pooledBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *pooledBody) Close() error {
	if b.b == nil {
		return nil
	}
	if b.eof {
		b.p.put(b.b)
	} else {
		b.b.c.Close()
	}
	b.b = nil
	return nil
}
