package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestHostMetricsRead(t *testing.T) {
	now := time.Now()
	for _, k := range []MetricKind{CPU, Mem, Heap} {
		v, err := newReader(MetricSpec{Kind: k}, nil, nil, now)(t.Context(), now)
		if err != nil {
			t.Errorf("%s: %v", k, err)
			continue
		}
		// CPU load per core can exceed 1 on a busy machine; memory and
		// heap are fractions.
		if v < 0 || (k != CPU && v > 1) {
			t.Errorf("%s = %v, want a fraction", k, v)
		}
	}
}

func TestPrometheusGaugeAndCounterRate(t *testing.T) {
	var jobs, total atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "# TYPE jobs gauge\njobs{queue=\"a\"} %d\njobs{queue=\"b\"} 5\n", jobs.Load())
		fmt.Fprintf(w, "# TYPE served_total counter\nserved_total %d\n", total.Load())
	}))
	defer srv.Close()
	p := &promScraper{client: srv.Client()}
	t0 := time.Now()
	gauge := p.reader(MetricSpec{Kind: Prometheus, URL: srv.URL, Name: "jobs"}, t0)
	counter := p.reader(MetricSpec{Kind: Prometheus, URL: srv.URL, Name: "served_total", Type: "counter"}, t0)
	missing := p.reader(MetricSpec{Kind: Prometheus, URL: srv.URL, Name: "nope"}, t0)
	ctx := context.Background()

	jobs.Store(7)
	if v, err := gauge(ctx, t0); err != nil || v != 12 {
		t.Errorf("gauge summed over its series = %v, %v; want 12", v, err)
	}
	total.Store(100)
	if _, err := counter(ctx, t0); !errors.Is(err, errNoSample) {
		t.Errorf("first counter reading: %v, want no sample yet", err)
	}
	total.Store(150)
	if v, err := counter(ctx, t0.Add(10*time.Second)); err != nil || v != 5 {
		t.Errorf("counter rate = %v, %v; want 50 in 10 s = 5/s", v, err)
	}
	if _, err := missing(ctx, t0); err == nil {
		t.Error("a missing metric family read without error")
	}
	srv.Close()
	if _, err := gauge(ctx, t0); err == nil {
		t.Error("a scrape of a closed endpoint read without error")
	}
}

func TestRateNeedsTimeToPass(t *testing.T) {
	t0 := time.Now()
	r := &rate{at: t0}
	if v, err := r.per(30, t0.Add(3*time.Second), 1); err != nil || v != 10 {
		t.Errorf("30 in 3 s = %v, %v; want 10", v, err)
	}
	if _, err := r.per(40, t0.Add(3*time.Second), 1); !errors.Is(err, errNoSample) {
		t.Errorf("no time passed: %v, want no sample", err)
	}
	if _, err := r.per(5, t0.Add(5*time.Second), 1); !errors.Is(err, errNoSample) {
		t.Errorf("a counter that went down (reset): %v, want no sample", err)
	}
	if v, err := r.per(5+2000, t0.Add(7*time.Second), 1000); err != nil || v != 1 {
		t.Errorf("2000 bytes in 2 s in KB/s = %v, %v; want 1", v, err)
	}
}
