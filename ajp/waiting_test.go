package ajp_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/ajp"
)

// looksKey carries a request's count of Waiting calls in its context, as a
// caller carries its per-request state.
type looksKey struct{}

// waitingTransport returns a transport whose Waiting counts its calls in
// the request's context (looksKey) and returns what decide says for the
// nth call; ticks are 5 ms, and ResponseHeaderTimeout is timeout.
func waitingTransport(t *testing.T, timeout time.Duration, decide func(ctx context.Context, n int32) error) *ajp.Transport {
	return &ajp.Transport{ResponseHeaderTimeout: timeout, WaitTick: 5 * time.Millisecond,
		Waiting: func(ctx context.Context, sent time.Time) error {
			if since := time.Since(sent); since < 5*time.Millisecond || since > 3*time.Second {
				t.Errorf("Waiting consulted %v after the request was sent, want a tick or more", since)
			}
			return decide(ctx, ctx.Value(looksKey{}).(*atomic.Int32).Add(1))
		}}
}

// do sends a GET with tr and a context carrying looks.
func do(ctx context.Context, tr *ajp.Transport, c *container, looks *atomic.Int32) (*ajp.Response, error) {
	fr := &ajp.ForwardRequest{Method: "GET", Protocol: "HTTP/1.1", URI: "/", ServerName: "h", ServerPort: 80}
	return tr.Do(context.WithValue(ctx, looksKey{}, looks), c.addr(), fr, nil, 0)
}

// waitEnded fails the test unless one of c's connections ends within 5 s.
func waitEnded(t *testing.T, c *container, what string) {
	t.Helper()
	select {
	case <-c.ended:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: the container's connection is still open", what)
	}
}

// TestWaitingAbandons: against a container that never answers, Waiting
// gives the request up at its third look, long before the response header
// timeout (3 s): Do returns Waiting's error itself, the connection is
// closed, and the next request opens a new one.
func TestWaitingAbandons(t *testing.T) {
	c := newContainer(t, ajp.DefaultPacketSize, nil)
	c.silent = true
	errGiveUp := errors.New("give up")
	tr := waitingTransport(t, 3*time.Second, func(_ context.Context, n int32) error {
		if n == 3 {
			return errGiveUp
		}
		return nil
	})
	for i := range 2 {
		var looks atomic.Int32
		start := time.Now()
		_, err := do(t.Context(), tr, c, &looks)
		if err != errGiveUp || !errors.Is(err, errGiveUp) {
			t.Fatalf("request %d abandoned by Waiting: error %v, want Waiting's own", i, err)
		}
		if n := looks.Load(); n != 3 {
			t.Errorf("request %d: Waiting consulted %d times, want 3 (it gave up at the third)", i, n)
		}
		if took := time.Since(start); took < 15*time.Millisecond || took > 2*time.Second {
			t.Errorf("request %d abandoned after %v, want three 5 ms ticks (and well before the 3 s timeout)", i, took)
		}
		waitEnded(t, c, "abandoned request")
	}
	if n := c.conns.Load(); n != 2 {
		t.Errorf("two abandoned requests used %d connections, want 2 (an abandoned one is never reused)", n)
	}
}

// TestWaitingKeepsWaiting: Waiting that returns nil keeps the request
// waiting; the container answers once Waiting was consulted three times,
// and the connection is reused afterwards.
func TestWaitingKeepsWaiting(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	c := newContainer(t, ajp.DefaultPacketSize, func(s *stream, fr *ajp.ForwardRequest) {
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		s.headers(204)
		s.end()
	})
	tr := waitingTransport(t, 3*time.Second, func(_ context.Context, n int32) error {
		if n == 3 {
			once.Do(func() { close(release) })
		}
		return nil
	})
	for i := range 2 {
		var looks atomic.Int32
		res, err := do(t.Context(), tr, c, &looks)
		if err != nil || res.Status != 204 {
			t.Fatalf("request %d: %v %v, want 204", i, res, err)
		}
		if i == 0 && looks.Load() < 3 {
			t.Errorf("answer before Waiting was consulted three times (%d)", looks.Load())
		}
	}
	if n := c.conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1 (kept for reuse)", n)
	}
}

// TestWaitingStillTimesOut: with a Waiting that never gives up, the
// response header timeout and the context still end the wait, and the
// connection is closed.
func TestWaitingStillTimesOut(t *testing.T) {
	c := newContainer(t, ajp.DefaultPacketSize, nil)
	c.silent = true
	t.Run("timeout", func(t *testing.T) {
		tr := waitingTransport(t, 50*time.Millisecond, func(context.Context, int32) error { return nil })
		var looks atomic.Int32
		start := time.Now()
		_, err := do(t.Context(), tr, c, &looks)
		if ne, ok := errors.AsType[net.Error](err); !ok || !ne.Timeout() {
			t.Errorf("request to a silent container with a 50 ms timeout: %v, want a timeout", err)
		}
		if took := time.Since(start); took < 50*time.Millisecond || took > 5*time.Second {
			t.Errorf("timed out after %v, want 50 ms", took)
		}
		if looks.Load() == 0 {
			t.Error("Waiting never consulted in 50 ms of 5 ms ticks")
		}
		waitEnded(t, c, "timed-out request")
	})
	t.Run("context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		tr := waitingTransport(t, 3*time.Second, func(_ context.Context, n int32) error {
			if n == 2 {
				cancel()
			}
			return nil
		})
		var looks atomic.Int32
		start := time.Now()
		_, err := do(ctx, tr, c, &looks)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("request whose context was cancelled: %v, want context.Canceled", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("cancelled request returned after %v, want at once (the timeout is 3 s)", took)
		}
		waitEnded(t, c, "cancelled request")
	})
}

// TestWaitingAbandonsThePing: with PingTimeout, Waiting is consulted while
// the CPONG is awaited too; a request given up there returns an error
// wrapping ErrPing (nothing of it was sent, so a caller may send it
// anywhere) and Waiting's own, long before the ping timeout (3 s).
func TestWaitingAbandonsThePing(t *testing.T) {
	c := newContainer(t, ajp.DefaultPacketSize, nil)
	c.silent = true // reads the CPING, never answers
	errGiveUp := errors.New("give up")
	tr := waitingTransport(t, 0, func(_ context.Context, n int32) error {
		if n == 3 {
			return errGiveUp
		}
		return nil
	})
	tr.PingTimeout = 3 * time.Second
	var looks atomic.Int32
	start := time.Now()
	_, err := do(t.Context(), tr, c, &looks)
	if !errors.Is(err, ajp.ErrPing) || !errors.Is(err, errGiveUp) {
		t.Fatalf("request abandoned during the CPING: error %v, want ErrPing and Waiting's", err)
	}
	if n := looks.Load(); n != 3 {
		t.Errorf("Waiting consulted %d times, want 3", n)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("abandoned after %v, want three 5 ms ticks", took)
	}
	waitEnded(t, c, "abandoned ping")
}
