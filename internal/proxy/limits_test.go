package proxy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// counting is a backend that records how many requests it holds at once.
type counting struct {
	srv     *httptest.Server
	now     atomic.Int64
	peak    atomic.Int64
	release chan struct{}
	started chan struct{}
}

func countingBackend(t *testing.T, name string, hold time.Duration) *counting {
	t.Helper()
	c := &counting{release: make(chan struct{}), started: make(chan struct{}, 100)}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := c.now.Add(1)
		defer c.now.Add(-1)
		for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
		}
		c.started <- struct{}{}
		if hold > 0 {
			time.Sleep(hold)
		} else {
			<-c.release
		}
		io.WriteString(w, name)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func TestMaxQueuesRequests(t *testing.T) {
	a, b := countingBackend(t, "a", 20*time.Millisecond), countingBackend(t, "b", 20*time.Millisecond)
	ma, mb := member(a.srv, "a"), member(b.srv, "b")
	ma.Max, mb.Max = 2, 2
	bal := web(ma, mb)
	bal.Timeout = time.Minute // the fake clock does not move: queued requests wait for slots
	f := newFixture(t, bal)
	var wg sync.WaitGroup
	var ok, failed atomic.Int32
	for range 10 {
		wg.Go(func() {
			res, err := f.front.Client().Get(f.front.URL + "/bar/slow")
			if err != nil {
				failed.Add(1)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == 200 {
				ok.Add(1)
			} else {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 10 {
		t.Errorf("%d of 10 queued requests completed (%d failed), want all", ok.Load(), failed.Load())
	}
	if a.peak.Load() > 2 || b.peak.Load() > 2 {
		t.Errorf("peak concurrency a %d b %d, want at most max 2", a.peak.Load(), b.peak.Load())
	}
	if a.peak.Load() < 2 || b.peak.Load() < 2 {
		t.Errorf("peak concurrency a %d b %d: the test did not reach the limit", a.peak.Load(), b.peak.Load())
	}
}

func TestMaxQueueTimesOut(t *testing.T) {
	a := countingBackend(t, "a", 0)
	ma := member(a.srv, "a")
	ma.Max = 2
	bal := web(ma)
	bal.Timeout = 5 * time.Second
	f := newFixture(t, bal)
	results := make(chan int, 3)
	retryAfter := make(chan string, 3)
	for range 3 {
		go func() {
			res, err := f.front.Client().Get(f.front.URL + "/bar/")
			if err != nil {
				results <- 0
				return
			}
			res.Body.Close()
			retryAfter <- res.Header.Get("Retry-After")
			results <- res.StatusCode
		}()
	}
	<-a.started
	<-a.started // two held; the third waits in the queue
	stop := tick(f.clock, time.Second)
	if status, ra := <-results, <-retryAfter; status != http.StatusServiceUnavailable || ra != "1" {
		t.Errorf("queued request after the balancer timeout: %d Retry-After %q, want 503 and 1", status, ra)
	}
	stop()
	close(a.release)
	for range 2 {
		if status := <-results; status != 200 {
			t.Errorf("held request: %d, want 200", status)
		}
	}
	if a.peak.Load() != 2 {
		t.Errorf("peak %d, want 2", a.peak.Load())
	}
}

func TestFailOnStatus(t *testing.T) {
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	t.Cleanup(sick.Close)
	fine := pub(t, "fine")
	bal := web(member(sick, "sick"), member(fine, "fine"))
	bal.FailOnStatus.Add(500, 503)
	f := newFixture(t, bal)
	status, body, _ := f.get(t, "/bar/", "")
	if status != 503 || body != "overloaded\n" {
		t.Errorf("the failing answer still goes to the client: %d %q", status, body)
	}
	if !f.member("sick").InError(f.clock.Now().UnixNano()) {
		t.Fatal("member answering a failonstatus status not in error")
	}
	for range 5 {
		if _, body, _ := f.get(t, "/bar/", ""); body != "fine" {
			t.Fatalf("request went to the member in error: %q", body)
		}
	}
}

func TestFailOnTimeoutOff(t *testing.T) {
	slow := countingBackend(t, "slow", 0)
	t.Cleanup(func() { close(slow.release) })
	m := member(slow.srv, "slow")
	m.Timeout = 100 * time.Millisecond
	bal := web(m)
	bal.FailOnTimeout = false
	f := newFixture(t, bal)
	if status, _, _ := f.get(t, "/bar/", ""); status != http.StatusGatewayTimeout {
		t.Errorf("status %d, want 504", status)
	}
	if mm := f.member("slow"); mm.InError(f.clock.Now().UnixNano()) || mm.Stats.Errors.Load() != 1 {
		t.Errorf("failontimeout off: in error %v, errors %d; want counted, not in error", mm.InError(f.clock.Now().UnixNano()), mm.Stats.Errors.Load())
	}
}
