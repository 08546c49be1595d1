package proxy

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// pipePool returns a connPool whose dial makes in-memory connections, and
// the count of dials.
func pipePool(t testing.TB, max int64, ttl time.Duration) (*connPool, *atomic.Int64) {
	set := &connSet{}
	dials := &atomic.Int64{}
	p := &connPool{max: max, ttl: ttl, set: set, dial: func() (*memberConn, error) {
		a, b := net.Pipe()
		b.Close()
		dials.Add(1)
		c := &memberConn{Conn: a, set: set}
		set.add(c)
		return c, nil
	}}
	p.setKeep(idleSlots)
	t.Cleanup(p.closeIdle)
	return p, dials
}

func TestConnPoolNeverSharesAConnection(t *testing.T) {
	p, dials := pipePool(t, 0, time.Minute)
	const workers, rounds = 16, 2000
	var inUse sync.Map // *memberConn -> struct{}
	var shared atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range rounds {
				c, err := p.get()
				if err != nil {
					t.Error(err)
					return
				}
				if _, loaded := inUse.LoadOrStore(c, struct{}{}); loaded {
					shared.Add(1)
				}
				inUse.Delete(c)
				c.done(time.Now().UnixNano())
				p.put(c)
			}
		})
	}
	wg.Wait()
	if n := shared.Load(); n != 0 {
		t.Errorf("%d times a connection was handed to two requests at once", n)
	}
	if n := dials.Load(); n > workers {
		t.Errorf("%d connections dialed for %d concurrent requests", n, workers)
	}
	if open := p.set.open.Load(); open != dials.Load() {
		t.Errorf("open = %d, want %d (every dialed connection idle)", open, dials.Load())
	}
}

func TestConnPoolReusesTheLowestIdleConnection(t *testing.T) {
	p, dials := pipePool(t, 0, time.Minute)
	var cs []*memberConn
	for range 3 {
		c, _ := p.get()
		cs = append(cs, c)
	}
	for _, c := range cs {
		p.put(c)
	}
	for range 10 {
		c, _ := p.get()
		if c != cs[0] {
			t.Fatal("a request did not get the first idle connection")
		}
		p.put(c)
	}
	if dials.Load() != 3 {
		t.Errorf("dials = %d, want 3", dials.Load())
	}
}

func TestConnPoolMax(t *testing.T) {
	p, dials := pipePool(t, 2, time.Minute)
	a, err1 := p.get()
	_, err2 := p.get()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if _, err := p.get(); !errors.Is(err, errMemberMax) {
		t.Fatalf("third connection with max 2: err = %v, want errMemberMax", err)
	}
	p.put(a)
	if c, err := p.get(); err != nil || c != a {
		t.Fatalf("after one went back: got %p, %v; want the idle one", c, err)
	}
	a.Close()
	if _, err := p.get(); err != nil {
		t.Fatalf("after one closed: %v", err)
	}
	if dials.Load() != 3 {
		t.Errorf("dials = %d, want 3", dials.Load())
	}
	if fault, status := Classify(errMemberMax); fault != FaultConnect || status != 503 {
		t.Errorf("Classify(errMemberMax) = %v %d, want connect 503", fault, status)
	}
}

func TestConnPoolClosesWhatItCannotKeep(t *testing.T) {
	p, _ := pipePool(t, 0, time.Minute)
	var cs []*memberConn
	for range idleSlots + 1 {
		c, _ := p.get()
		cs = append(cs, c)
	}
	for _, c := range cs {
		p.put(c)
	}
	if last := cs[idleSlots]; !last.closed.Load() {
		t.Error("a connection beyond the idle slots was kept")
	}
	if open := p.set.open.Load(); open != idleSlots {
		t.Errorf("open = %d, want %d", open, idleSlots)
	}
	p.closeIdle()
	if open := p.set.open.Load(); open != 0 {
		t.Errorf("after closeIdle: open = %d, want 0", open)
	}
}

func TestConnPoolKeepsSmaxIdle(t *testing.T) {
	for _, smax := range []int{0, 1, 64, 65, 130} {
		p, _ := pipePool(t, 0, time.Minute)
		p.setKeep(smax)
		var cs []*memberConn
		for range 200 {
			c, _ := p.get()
			cs = append(cs, c)
		}
		for _, c := range cs {
			p.put(c)
		}
		if open := p.set.open.Load(); open != int64(smax) {
			t.Errorf("smax %d: %d idle connections kept", smax, open)
		}
		p.closeIdle()
	}
}

func TestConnPoolExpiresIdleConnections(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, _ := pipePool(t, 0, 4*time.Second)
		busy, _ := p.get()
		old, _ := p.get()
		busy.done(time.Now().UnixNano())
		p.put(busy) // the lowest slot: the one requests take first
		old.done(time.Now().UnixNano())
		p.put(old)
		if c, _ := p.get(); c != busy {
			t.Fatal("the lowest idle connection was not the one reused")
		}
		// busy keeps being used: back and out again every second.
		for range 7 {
			time.Sleep(time.Second)
			busy.done(time.Now().UnixNano())
			p.put(busy)
			if c, _ := p.get(); c != busy {
				t.Fatal("the busy connection was not the one reused")
			}
		}
		if !old.closed.Load() {
			t.Error("a connection idle for 7 s with ttl 4 s is still open")
		}
		if busy.closed.Load() {
			t.Error("the busy connection was closed")
		}
		busy.Close()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if p.janitor.Load() != 0 {
			t.Error("the janitor still runs with no connection open")
		}
	})
}

// BenchmarkConnPool is one get and put per operation, from all Ps.
func BenchmarkConnPool(b *testing.B) {
	p, _ := pipePool(b, 0, time.Minute)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c, err := p.get()
			if err != nil {
				b.Error(err)
				return
			}
			p.put(c)
		}
	})
}
