package proxy

import (
	"bufio"
	"errors"
	"math/bits"
	"sync/atomic"
	"time"
)

// idleWords × 64 (idleSlots, 256) is how many idle connections a member's
// pool can keep; the member's smax says how many it does keep. A
// connection released when they are all taken is closed. Open connections
// are limited by the member's max, not by this.
const (
	idleWords = 4
	idleSlots = idleWords * 64
)

// Sizes of each member connection's buffers, in bytes. The read buffer
// bounds a response's headers: bigger ones are answered 502, as HAProxy
// does past its tune.bufsize (16 KiB); nginx's default is 4 KiB, Tomcat
// and Jetty send at most 8 KiB by default.
const (
	memberReadBuf  = 16 << 10
	memberWriteBuf = 4 << 10
)

// errMemberMax is returned when a member already has its max connections
// open and none is idle: nothing was sent.
var errMemberMax = errors.New("proxy: member has max connections open and none idle")

// connPool holds the idle HTTP/1.1 connections of one member and counts
// its open ones, without a lock: a request takes an idle connection by
// clearing its bit in a bitmap (one compare-and-swap) and gives it back by
// filling a free slot. The lowest slots are taken first, so under load the
// same few connections carry the traffic and the others age out after the
// member's ttl (default 4 s).
//
// A slot's bit is set only while the slot holds a connection, and only the
// request that cleared the bit empties the slot, so a connection is never
// handed to two requests.
type connPool struct {
	dial func() (*memberConn, error)
	max  int64         // open connections at most; 0: no limit
	ttl  time.Duration // idle connections older than this are closed
	set  *connSet      // every open connection; counts them
	// keep masks the slots in use per word: the member's smax (at most
	// idleSlots) lowest ones.
	keep [idleWords]uint64

	bits  [idleWords]atomic.Uint64
	slots [idleSlots]atomic.Pointer[memberConn]

	// janitor is 1 while the goroutine closing aged idle connections
	// runs; it runs while the member has open connections.
	janitor atomic.Int32
}

// get returns an idle connection, or dials a new one when none is idle
// and the member's max allows. The connection is the caller's until put
// or closed.
func (p *connPool) get() (*memberConn, error) {
	if c := p.take(); c != nil {
		return c, nil
	}
	if n := p.set.open.Add(1); p.max > 0 && n > p.max {
		p.set.open.Add(-1)
		return nil, errMemberMax
	}
	c, err := p.dial()
	if err != nil {
		p.set.open.Add(-1)
		return nil, err
	}
	if p.janitor.CompareAndSwap(0, 1) {
		go p.expire()
	}
	return c, nil
}

// take removes the idle connection in the lowest occupied slot, or
// returns nil.
func (p *connPool) take() *memberConn {
	for w := range p.bits {
		word := &p.bits[w]
		for {
			v := word.Load()
			if v == 0 {
				break
			}
			i := bits.TrailingZeros64(v)
			if word.CompareAndSwap(v, v&^(1<<i)) {
				return p.slots[w*64+i].Swap(nil)
			}
		}
	}
	return nil
}

// put gives c back for the next request, or closes it when every idle
// slot is taken.
func (p *connPool) put(c *memberConn) {
	for w := range p.bits {
		word := &p.bits[w]
		// A free bit whose slot is still full is being emptied by a take
		// or filled by another put: try the next one.
		for free := ^word.Load() & p.keep[w]; free != 0; {
			i := bits.TrailingZeros64(free)
			free &^= 1 << i
			if p.slots[w*64+i].CompareAndSwap(nil, c) {
				word.Or(1 << i)
				return
			}
		}
	}
	c.Close()
}

// setKeep makes the pool keep at most n idle connections (0..idleSlots).
func (p *connPool) setKeep(n int) {
	for w := range p.keep {
		switch k := n - w*64; {
		case k >= 64:
			p.keep[w] = ^uint64(0)
		case k > 0:
			p.keep[w] = 1<<k - 1
		default:
			p.keep[w] = 0
		}
	}
}

// closeIdle closes every idle connection.
func (p *connPool) closeIdle() {
	for c := p.take(); c != nil; c = p.take() {
		c.Close()
	}
}

// expire closes idle connections older than the ttl, every half ttl,
// until the member has no open connection left.
func (p *connPool) expire() {
	tick := max(p.ttl/2, 100*time.Millisecond)
	for {
		time.Sleep(tick)
		p.closeAged(time.Now().Add(-p.ttl).UnixNano())
		if p.set.open.Load() == 0 {
			p.janitor.Store(0)
			// A connection dialed between the check and the store found
			// the janitor still running; take over for it.
			if p.set.open.Load() == 0 || !p.janitor.CompareAndSwap(0, 1) {
				return
			}
		}
	}
}

// closeAged closes the idle connections that went idle before cutoff
// (Unix ns).
func (p *connPool) closeAged(cutoff int64) {
	for w := range p.bits {
		word := &p.bits[w]
		v := word.Load()
		for v != 0 {
			i := bits.TrailingZeros64(v)
			v &^= 1 << i
			c := p.slots[w*64+i].Load()
			if c == nil || c.idleAt.Load() >= cutoff {
				continue
			}
			// Take it the way a request would; a request may have been
			// quicker, then it is in use and not ours to close.
			for {
				cur := word.Load()
				if cur&(1<<i) == 0 {
					break
				}
				if word.CompareAndSwap(cur, cur&^(1<<i)) {
					if c := p.slots[w*64+i].Swap(nil); c != nil {
						if c.idleAt.Load() < cutoff {
							c.Close()
						} else {
							p.put(c)
						}
					}
					break
				}
			}
		}
	}
}

// buffers returns c's read and write buffers, made on first use.
func (c *memberConn) buffers() (*bufio.Reader, *bufio.Writer) {
	if c.br == nil {
		c.br = bufio.NewReaderSize(c, memberReadBuf)
		c.bw = bufio.NewWriterSize(c, memberWriteBuf)
	}
	return c.br, c.bw
}
