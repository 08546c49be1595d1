package proxy

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// countingBody wraps the client's request body: it counts the bytes sent to
// the current member (httpd's "To") and remembers whether anything was
// read, which decides if a failed attempt may be retried. Close does
// nothing, so a body the transport closed after a failed connect can be
// sent to the next member; the server closes the real body.
type countingBody struct {
	rc   io.ReadCloser
	m    *registry.Member // member of the current attempt; set before each attempt
	n    int64
	err  error
	done atomic.Bool // set when the handler returns; later reads fail
}

// errBodyDone is returned to a transport goroutine that reads the client's
// body after the handler returned (Go issue 46866).
var errBodyDone = errors.New("proxy: read of the client body after the handler returned")

func (b *countingBody) Read(p []byte) (int, error) {
	if b.done.Load() {
		return 0, errBodyDone
	}
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if n > 0 {
		b.m.Stats.Transferred.Add(uint64(n))
	}
	if err != nil && err != io.EOF {
		b.err = err
		return n, &clientBodyError{err}
	}
	return n, err
}

func (b *countingBody) Close() error { return nil }

// countingResponse wraps a member's response body and counts the bytes
// read from it (httpd's "From").
type countingResponse struct {
	rc io.ReadCloser
	m  *registry.Member
}

func (r *countingResponse) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if n > 0 {
		r.m.Stats.Read.Add(uint64(n))
	}
	return n, err
}

func (r *countingResponse) Close() error { return r.rc.Close() }

// recorder remembers the status and size of the response for the access
// log. Unwrap lets http.ResponseController reach the connection for
// flushing and for WebSocket upgrades.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
