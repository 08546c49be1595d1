package registry_test

import (
	"testing"
	"time"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

func TestHistogramCumulativeBuckets(t *testing.T) {
	var h registry.Histogram
	for _, d := range []time.Duration{time.Millisecond, 5 * time.Millisecond, 7 * time.Millisecond, 2 * time.Second, time.Minute, -time.Second} {
		h.Observe(d)
	}
	cum, count, sum := h.Read()
	if count != 6 {
		t.Fatalf("count = %d, want 6", count)
	}
	// 0.005 holds -1s (as 0), 1ms and 5ms (bounds are inclusive).
	if cum[0] != 3 || cum[1] != 4 || cum[8] != 5 || cum[len(cum)-1] != 5 {
		t.Fatalf("cumulative = %v, want 3 at 5ms, 4 at 10ms, 5 at 2.5s and at 10s", cum)
	}
	if want := 0.001 + 0.005 + 0.007 + 2 + 60; sum < want-1e-9 || sum > want+1e-9 {
		t.Fatalf("sum = %v, want %v", sum, want)
	}
}

func TestHistogramObserveDoesNotAllocate(t *testing.T) {
	var h registry.Histogram
	if n := testing.AllocsPerRun(100, func() { h.Observe(30 * time.Millisecond) }); n != 0 {
		t.Fatalf("Observe allocates %v times", n)
	}
}

func TestStatusAndErrorCounts(t *testing.T) {
	var s registry.StatusCounts
	for _, c := range []int{200, 204, 302, 404, 503, 700, 42} {
		s.Add(c)
	}
	for k, want := range []uint64{0, 0, 2, 1, 1, 1} {
		if k > 0 && s.Class(k) != want {
			t.Errorf("Class(%d) = %d, want %d", k, s.Class(k), want)
		}
	}
	if s.Class(0) != 2 {
		t.Errorf("Class(0) = %d, want 2 (700 and 42)", s.Class(0))
	}
	var e registry.ErrorCounts
	e.Add(registry.ErrorTimeout)
	e.Add(registry.ErrorTimeout)
	e.Add(registry.ErrorClass(200))
	if e.Get(registry.ErrorTimeout) != 2 || e.Get(registry.ErrorConnect) != 0 {
		t.Fatalf("timeout %d connect %d, want 2 and 0", e.Get(registry.ErrorTimeout), e.Get(registry.ErrorConnect))
	}
	var names []string
	for _, c := range registry.ErrorClasses() {
		names = append(names, c.String())
	}
	if got := len(names); got != 5 || names[0] != "connect" || names[4] != "status" {
		t.Fatalf("ErrorClasses = %v", names)
	}
}

func BenchmarkHistogramObserve(b *testing.B) {
	var h registry.Histogram
	for i := 0; b.Loop(); i++ {
		h.Observe(time.Duration(i&0xffff) * time.Microsecond)
	}
}
