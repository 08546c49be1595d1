package registry

import (
	"context"
	"sync"
	"sync/atomic"
)

// NewContext returns a context row (mod_cluster's context table) with a
// fresh in-flight counter that STOP-APP can wait on (see AwaitIdle).
func NewContext(id, vhost int, path string, state ContextState) *Context {
	return &Context{ID: id, Vhost: vhost, Path: path, State: state, Requests: new(atomic.Int64), idle: new(idleSignal)}
}

// EndRequest lowers the context's in-flight count by one. The request path
// calls it when the member has sent its whole response (and Requests.Add(1)
// when it chose the context). When the count reaches 0 while a STOP-APP
// waits in AwaitIdle, the waiter wakes; otherwise it costs one atomic load
// more than Requests.Add(-1).
func (c *Context) EndRequest() {
	if c.Requests.Add(-1) <= 0 && c.idle != nil && c.idle.waiters.Load() > 0 {
		c.idle.wake()
	}
}

// AwaitIdle waits until no request is in flight to the context (see
// EndRequest) or ctx is done, and returns the count then. A context not
// made by NewContext cannot be waited on: it returns the count at once.
func (c *Context) AwaitIdle(ctx context.Context) int64 {
	if c.idle == nil {
		return c.Requests.Load()
	}
	c.idle.waiters.Add(1)
	defer c.idle.waiters.Add(-1)
	for {
		// Take the channel before reading the count: a request that ends
		// after the read closes this channel.
		ch := c.idle.next()
		if n := c.Requests.Load(); n <= 0 {
			return n
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return c.Requests.Load()
		}
	}
}

// idleSignal wakes the STOP-APPs waiting for a context's requests to end.
// It is shared by every copy of the context row, like Requests.
type idleSignal struct {
	waiters atomic.Int32
	mu      sync.Mutex
	ch      chan struct{} // closed by the next wake; nil until someone waits
}

func (s *idleSignal) next() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *idleSignal) wake() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}
