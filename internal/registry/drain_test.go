package registry_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

func TestAwaitIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := registry.NewContext(0, 1, "/app", registry.ContextEnabled)
		if n := c.AwaitIdle(t.Context()); n != 0 {
			t.Fatalf("idle context: AwaitIdle = %d, want 0 at once", n)
		}
		c.Requests.Add(2)
		go func() {
			time.Sleep(time.Millisecond)
			c.EndRequest() // 1 left: no wake-up that counts
			time.Sleep(time.Millisecond)
			c.EndRequest()
		}()
		start := time.Now()
		if n := c.AwaitIdle(t.Context()); n != 0 || time.Since(start) != 2*time.Millisecond {
			t.Errorf("AwaitIdle = %d after %v, want 0 after 2ms", n, time.Since(start))
		}
		c.Requests.Add(1)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if n := c.AwaitIdle(ctx); n != 1 || time.Since(start) != 2*time.Millisecond+time.Second {
			t.Errorf("AwaitIdle with a request that stays = %d, want 1 when ctx ends", n)
		}
		// A copy of the row (a state change) shares the counter and the signal.
		cp := *c
		go func() {
			time.Sleep(time.Millisecond)
			cp.EndRequest()
		}()
		if n := c.AwaitIdle(t.Context()); n != 0 {
			t.Errorf("AwaitIdle on the original after the copy ended the request = %d", n)
		}
	})
}

func BenchmarkEndRequest(b *testing.B) {
	c := registry.NewContext(0, 1, "/app", registry.ContextEnabled)
	for b.Loop() {
		c.Requests.Add(1)
		c.EndRequest()
	}
}
