package proxy

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// errMemberHung is the error of a request withdrawn by barkeep because its
// member went into error state (a failed health check, another request's
// timeout on a member that stopped answering, the hang watcher) while the
// request waited for its first response byte. Nothing of the response was
// received, so an idempotent request may go elsewhere.
var errMemberHung = errors.New("proxy: member in error state; request withdrawn before its response")

// errClientGone is the error of a request withdrawn from its member
// because its client closed the connection while it waited.
var errClientGone = errors.New("proxy: client closed the connection; request withdrawn")

// States of a member connection, as the request path moves it.
const (
	connIdle    uint32 = iota // in the pool, or between requests
	connWaiting               // request being sent or sent; no response byte yet
	connReading               // response headers received
)

// memberConn is one connection to a member. It records whether its
// current request still waits for the first response byte, and since
// when, for the hang watcher (Options.HangDetect).
type memberConn struct {
	net.Conn               // HTTP is spoken over this (TLS for https members)
	raw      syscall.Conn  // the TCP connection, for the liveness check
	set      *connSet      // the member's connections
	state    atomic.Uint32 // connIdle, connWaiting, connReading
	sentAt   atomic.Int64  // Unix ns when the current request started
	idleAt   atomic.Int64  // Unix ns when the last response ended
	reused   bool          // a request completed on it before; owner only
	br       *bufio.Reader // made on first use; owner only
	bw       *bufio.Writer
	// writeDeadline is set while the connection has a write deadline;
	// owner only.
	writeDeadline bool
	// detached is set once the connection became a WebSocket tunnel: it
	// no longer counts against the member's max (connSet.open).
	detached bool
	closed   atomic.Bool
}

// begin marks the start of a request on c.
func (c *memberConn) begin(now int64) {
	c.sentAt.Store(now)
	c.state.Store(connWaiting)
}

// responding marks the arrival of the response headers.
func (c *memberConn) responding() { c.state.Store(connReading) }

// done marks the end of a request whose connection goes back to the pool.
func (c *memberConn) done(now int64) {
	c.idleAt.Store(now)
	c.reused = true
	c.state.Store(connIdle)
}

func (c *memberConn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.set.remove(c)
	if !c.detached {
		c.set.open.Add(-1)
	}
	return c.Conn.Close()
}

// detach takes c, which became a WebSocket tunnel, out of the count of
// its member's open connections: a tunnel gives back its member slot when
// it starts (it is not a request in flight), so its connection must not
// hold a place under the member's max either. Owner only, before the
// tunnel starts.
func (c *memberConn) detach() {
	c.detached = true
	c.set.open.Add(-1)
}

// stale reports whether an idle pooled connection can no longer carry a
// request: the member closed it (or sent something unasked). Only
// connections idle for more than a second are checked, with one
// non-blocking peek, so a busy member costs nothing.
func (c *memberConn) stale(now int64) bool {
	if !c.reused || now-c.idleAt.Load() < int64(time.Second) || c.raw == nil {
		return false
	}
	return !peekAlive(c.raw)
}

// connSet holds a member's open connections. It is locked only when a
// connection opens or closes and when the hang watcher scans it, never per
// request.
type connSet struct {
	mu    sync.Mutex
	conns map[*memberConn]struct{}
	// open counts the open connections, those being dialed included.
	open atomic.Int64
	// Requests waiting for their first response byte on connections
	// barkeep does not hold itself (ajp members: the ajp package pools
	// them), and since when some have waited without a break, Unix ns.
	waiting      atomic.Int64
	waitingSince atomic.Int64
	// lastResponse is when the member last sent response headers, Unix ns.
	lastResponse atomic.Int64
}

func (s *connSet) add(c *memberConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		s.conns = map[*memberConn]struct{}{}
	}
	s.conns[c] = struct{}{}
}

func (s *connSet) remove(c *memberConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// beginWait counts a request on an unheld connection (see waiting) sent
// at now (Unix ns) as waiting for its first response byte, until endWait.
func (s *connSet) beginWait(now int64) {
	if s.waiting.Add(1) == 1 {
		s.waitingSince.Store(now)
	}
}

// endWait ends what beginWait began; with a response, at now (Unix ns;
// 0 without one).
func (s *connSet) endWait(now int64) {
	s.waiting.Add(-1)
	if now != 0 {
		s.lastResponse.Store(now)
	}
}

// oldestWaiting returns the start of the longest-waiting request (Unix ns)
// and how many requests wait for their first response byte. For requests
// on unheld connections the start is when they began to wait without a
// break (beginWait).
func (s *connSet) oldestWaiting() (oldest int64, waiting int) {
	if n := s.waiting.Load(); n > 0 {
		oldest, waiting = s.waitingSince.Load(), int(n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.Load() == connWaiting {
			if t := c.sentAt.Load(); waiting == 0 || t < oldest {
				oldest = t
			}
			waiting++
		}
	}
	return oldest, waiting
}

// rawConn returns the TCP connection under c (TLS and replaying wrappers
// unwrapped), or nil.
func rawConn(c net.Conn) syscall.Conn {
	for {
		switch w := c.(type) {
		case interface{ NetConn() net.Conn }:
			c = w.NetConn()
		case syscall.Conn:
			return w
		default:
			return nil
		}
	}
}
