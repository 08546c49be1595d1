package proxy_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// TestMetricsCounters: the request path feeds the counters /metrics reads
// (registry.Stats and BalancerStats): sticky hits and misses, failovers,
// 503s, responses by status class, errors by class and the response time
// histogram.
func TestMetricsCounters(t *testing.T) {
	elm := pub(t, "elm")
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(failing.Close)
	dead := pub(t, "ash")
	deadAddr := member(dead, "ash")
	dead.Close()
	b := web(member(elm, "elm"), member(failing, "oak"), deadAddr)
	b.FailOnStatus.Add(500, 500)
	f := newFixture(t, b)

	// Sticky hit on elm.
	if code, body, _ := f.get(t, "/bar/", "s1.elm"); code != 200 || body != "elm" {
		t.Fatalf("sticky elm: %d %q", code, body)
	}
	// A session for ash (refused): failover to another member, a miss.
	if code, _, _ := f.get(t, "/bar/", "s1.ash"); code != 200 && code != 500 {
		t.Fatalf("session for the dead ash: %d", code)
	}
	bs := f.balancer().Stats
	if bs.StickyHits.Load() != 1 || bs.StickyMisses.Load() != 1 {
		t.Errorf("sticky hits %d misses %d, want 1 and 1", bs.StickyHits.Load(), bs.StickyMisses.Load())
	}
	var memberHits uint64
	for _, m := range f.balancer().Members {
		memberHits += m.Stats.StickyHits.Load()
	}
	if f.member("elm").Stats.StickyHits.Load() != 1 || memberHits != 1 {
		t.Errorf("members' sticky hits: elm %d, all %d; want 1 and 1", f.member("elm").Stats.StickyHits.Load(), memberHits)
	}
	if bs.Failovers.Load() != 1 {
		t.Errorf("failovers %d, want 1 (ash refused, another member served)", bs.Failovers.Load())
	}
	ash := f.member("ash").Stats
	if ash.ErrorsByClass.Get(registry.ErrorConnect) != 1 || ash.Errors.Load() != 1 {
		t.Errorf("ash: connect errors %d of %d, want 1 of 1", ash.ErrorsByClass.Get(registry.ErrorConnect), ash.Errors.Load())
	}
	// oak answers 500, a failonstatus status.
	for range 3 {
		f.get(t, "/bar/", "s1.oak")
	}
	oak := f.member("oak").Stats
	if oak.Responses.Class(5) == 0 || oak.ErrorsByClass.Get(registry.ErrorStatus) != oak.Responses.Class(5) {
		t.Errorf("oak: 5xx responses %d, status errors %d, want equal and > 0", oak.Responses.Class(5), oak.ErrorsByClass.Get(registry.ErrorStatus))
	}
	e := f.member("elm").Stats
	if _, n, _ := e.Latency.Read(); n != e.Responses.Class(2) || n == 0 {
		t.Errorf("elm: %d response times for %d 2xx responses", n, e.Responses.Class(2))
	}

	// Everyone out: 503, counted as unavailable.
	f.store.Update(func(d *registry.Draft) error {
		for _, r := range []string{"elm", "oak"} {
			if err := d.EditMember("web", f.member(r).Name, func(m *registry.Member) error { m.Status = registry.StatusStopped; return nil }); err != nil {
				return err
			}
		}
		return nil
	})
	f.clock.Advance(time.Second)
	if code, _, _ := f.get(t, "/bar/", ""); code != 503 {
		t.Fatalf("all out: %d, want 503", code)
	}
	if f.balancer().Stats.Unavailable.Load() != 1 {
		t.Errorf("unavailable %d, want 1", f.balancer().Stats.Unavailable.Load())
	}
}
