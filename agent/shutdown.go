package agent

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/barkeep-lb/barkeep/mcmp"
)

// drainPoll is how often Shutdown looks at the requests in flight.
const drainPoll = 100 * time.Millisecond

// Shutdown drains the node and takes it off every balancer, as the Java
// worker does when its server stops:
//
//  1. DISABLE-APP for the contexts: no new sessions, sticky ones still
//     served;
//  2. wait until the requests in flight through Middleware reach zero;
//  3. STOP-APP, repeated while a balancer answers Requests=N > 0;
//  4. REMOVE-APP for the contexts, then REMOVE-APP /*.
//
// Steps 2 and 3 together take at most Options.StopTimeout (and end with
// ctx); the removal is sent in any case. After Shutdown the agent sends
// nothing more; cancel Run's context afterwards. It returns the
// balancers' refusals and transport errors, joined.
func (a *Agent) Shutdown(ctx context.Context) error {
	a.draining.Store(true)
	bs := a.registered()
	deadline := time.Now().Add(a.opts.StopTimeout)
	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	errs := a.each(ctx, bs, func(b *balancer) error {
		_, err := b.send(ctx, mcmp.DisableApp, false, a.appParams(a.opts.Contexts))
		return err
	})
	a.log.Info("draining: contexts disabled", "in_flight", a.traffic.inFlight.Load())
	for a.traffic.inFlight.Load() > 0 && sleep(wctx, drainPoll) {
	}
	left := map[*balancer]bool{}
	for _, b := range bs {
		left[b] = true
	}
	for len(left) > 0 {
		var mu sync.Mutex
		total := 0
		errs = append(errs, a.each(ctx, keys(left), func(b *balancer) error {
			body, err := b.send(wctx, mcmp.StopApp, false, a.appParams(a.opts.Contexts))
			n := stopRequests(body)
			mu.Lock()
			defer mu.Unlock()
			total += n
			if err != nil || n == 0 {
				delete(left, b)
			}
			return err
		})...)
		if len(left) == 0 {
			break
		}
		a.log.Info("draining: requests still in flight on the balancers", "requests", total)
		if !sleep(wctx, drainPoll) {
			a.log.Warn("drain timed out; removing the node with requests in flight", "requests", total)
			break
		}
	}
	errs = append(errs, a.each(ctx, bs, func(b *balancer) error {
		_, err := b.send(ctx, mcmp.RemoveApp, false, a.appParams(a.opts.Contexts))
		if err == nil {
			_, err = b.send(ctx, mcmp.RemoveApp, true, a.routeParam())
		}
		return err
	})...)
	a.stopped.Store(true)
	a.log.Info("node removed from the balancers", "balancers", len(bs))
	return errors.Join(errs...)
}

// registered returns the balancers the node may be registered with (all
// but those that answered SYNTAX).
func (a *Agent) registered() []*balancer {
	a.mu.Lock()
	defer a.mu.Unlock()
	var bs []*balancer
	for _, b := range a.balancers {
		b.mu.Lock()
		if b.state != stateDown {
			bs = append(bs, b)
		}
		b.mu.Unlock()
	}
	return bs
}

// each runs f for every balancer concurrently, each under its lock, and
// returns the errors.
func (a *Agent) each(ctx context.Context, bs []*balancer, f func(*balancer) error) []error {
	errs := make([]error, len(bs))
	var wg sync.WaitGroup
	for i, b := range bs {
		wg.Go(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if ctx.Err() != nil {
				errs[i] = ctx.Err()
				return
			}
			errs[i] = f(b)
		})
	}
	wg.Wait()
	return errs
}

func keys(m map[*balancer]bool) []*balancer {
	out := make([]*balancer, 0, len(m))
	for b := range m {
		out = append(out, b)
	}
	return out
}

// sleep waits d, or reports false when ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Middleware counts the requests of h for the requests, busyness and
// traffic metrics and for Shutdown's wait on requests in flight.
func (a *Agent) Middleware(h http.Handler) http.Handler {
	t := &a.traffic
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.requests.Add(1)
		t.inFlight.Add(1)
		defer t.inFlight.Add(-1)
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &countingBody{ReadCloser: r.Body, n: &t.received}
		}
		h.ServeHTTP(&countingWriter{ResponseWriter: w, n: &t.sent}, r)
	})
}

// InFlight is the number of requests in h (of Middleware) right now.
func (a *Agent) InFlight() int64 { return a.traffic.inFlight.Load() }

type counter interface{ Add(int64) int64 }

type countingBody struct {
	io.ReadCloser
	n counter
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type countingWriter struct {
	http.ResponseWriter
	n counter
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// Unwrap gives http.ResponseController the underlying writer (Flush,
// Hijack, deadlines).
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
