package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"time"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// BodyRate bounds how slowly a client may send its request body (httpd's
// RequestReadTimeout body=Timeout,MinRate=MinRate): the body must arrive
// within Timeout, extended by one second for every MinRate bytes received.
// A client slower than that gets 408 and the member's connection is
// closed.
type BodyRate struct {
	// Timeout is the initial allowance; default 20s.
	Timeout time.Duration
	// MinRate is in bytes per second; default 500. Negative: no extension.
	MinRate int
}

// reqBody streams a request body from the client to the member: it counts
// the bytes (httpd's "To"), enforces the minimum rate, and tells a failed
// read of the client (not the member's fault) apart.
type reqBody struct {
	x        *exchange
	r        io.Reader
	n        int64
	deadline time.Time // current read deadline of the client connection
	err      error
	done     bool
}

func (b *reqBody) init(x *exchange, r io.Reader) {
	*b = reqBody{x: x, r: r}
	if x.conn != nil && x.h.bodyRate.Timeout > 0 {
		b.deadline = time.Now().Add(x.h.bodyRate.Timeout) // a socket deadline: wall clock
		x.conn.SetReadDeadline(b.deadline)
	}
}

func (b *reqBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, errBodyDone
	}
	n, err := b.r.Read(p)
	if n > 0 {
		b.n += int64(n)
		if m := b.x.member; m != nil {
			m.Stats.Transferred.Add(uint64(n))
		}
		b.extend(n)
	}
	if err != nil && err != io.EOF {
		b.err = err
		return n, &clientBodyError{err}
	}
	return n, err
}

// extend moves the client connection's read deadline on by the time n
// bytes earn at the minimum rate.
func (b *reqBody) extend(n int) {
	rate := b.x.h.bodyRate
	if b.deadline.IsZero() || rate.MinRate <= 0 {
		return
	}
	b.deadline = b.deadline.Add(time.Duration(int64(n) * int64(time.Second) / int64(rate.MinRate)))
	b.x.conn.SetReadDeadline(b.deadline)
}

// clientBodyError wraps a failure to read the client's request body, so
// Classify does not blame the member for it.
type clientBodyError struct{ err error }

func (e *clientBodyError) Error() string { return "read client request body: " + e.err.Error() }
func (e *clientBodyError) Unwrap() error { return e.err }

// slowBody reports whether a client body failure was the read deadline:
// the client sent slower than the minimum rate.
func slowBody(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// streamFrom makes r the member's response body, read through x as the
// client's body is written (Read). release is called once, when the body
// ends or the exchange does, with clean set when the member sent the whole
// body and the connection may be reused.
func (x *exchange) streamFrom(r io.Reader, mc *memberConn, timeout time.Duration, release func(clean bool)) {
	x.mbody, x.mc, x.mtimeout, x.mrelease = r, mc, timeout, release
}

// Read passes the member's response body on to the client (fasthttp or
// the HTTP/2 edge reads it). Each read waits at most the member's timeout.
// A member that breaks off its body is a failure like a reset before the
// headers: it goes into error state, and the client's connection is cut so
// the response cannot be taken for complete.
func (x *exchange) Read(p []byte) (int, error) {
	if x.mbody == nil {
		if x.mend != nil {
			return 0, x.mend // ended (endBody): EOF, or how it broke off
		}
		return 0, io.EOF
	}
	if x.mtimeout > 0 && x.mc != nil {
		x.mc.SetReadDeadline(time.Now().Add(x.mtimeout))
	}
	n, err := x.mbody.Read(p)
	if n > 0 {
		x.bytes += int64(n)
		x.member.Stats.Read.Add(uint64(n))
	}
	switch {
	case err == io.EOF:
		x.mclean = true
		x.copyTrailers()
		x.endBody(err)
	case err != nil:
		x.aborted = true
		x.fault = FaultAbort
		x.member.Stats.ErrorsByClass.Add(registry.ErrorReset)
		x.fail(x.member, "response aborted", err)
		x.endBody(err)
	}
	return n, err
}

// endBody ends the member's part of x once its streamed body ended with
// err: the connection goes back to the pool (or is closed) before the
// member slot is given back, so a request let in by that slot finds it,
// while the edge may still be writing the last bytes to the client.
func (x *exchange) endBody(err error) {
	if x.mrelease != nil {
		x.mrelease(x.mclean)
		x.mrelease = nil
	}
	x.mc, x.mbody, x.mend = nil, nil, err
	x.memberDone()
}

// CloseWithError ends the exchange after the client's response was written
// (err is the write error, nil when it was complete). fasthttp calls it
// exactly once for a response body stream.
func (x *exchange) CloseWithError(err error) error {
	if x.mrelease != nil {
		x.mrelease(x.mclean)
		x.mrelease = nil
	}
	if err != nil && !x.aborted {
		x.aborted = true
		x.fault = FaultClient
	}
	x.h.finish(x)
	return nil
}
