package agent

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
)

// MetricKind names a load metric.
type MetricKind string

// The metrics (mod_cluster's load metrics, plus prometheus).
const (
	// CPU is the system's 1-minute load average per CPU core (gopsutil).
	// Capacity default 1: one runnable task per core is full load.
	CPU MetricKind = "cpu"
	// Mem is the fraction of system memory in use, (total − available) ÷
	// total (gopsutil). Capacity default 1.
	Mem MetricKind = "mem"
	// Heap is the Go heap in use ÷ the memory limit (GOMEMLIMIT), or ÷ the
	// system's memory when no limit is set. Embedded mode. Capacity
	// default 1.
	Heap MetricKind = "heap"
	// Requests is requests per second through Agent.Middleware since the
	// previous period. Capacity required (requests per second).
	Requests MetricKind = "requests"
	// Sessions is the number of active sessions, read from
	// MetricSpec.Func. Capacity required.
	Sessions MetricKind = "sessions"
	// Busyness is the requests in flight through Agent.Middleware.
	// Capacity required: the in-flight count that is full load.
	Busyness MetricKind = "busyness"
	// SendTraffic is response body KB/s written through Agent.Middleware
	// (1 KB = 1000 bytes). Capacity required (KB/s).
	SendTraffic MetricKind = "send-traffic"
	// ReceiveTraffic is request body KB/s read through Agent.Middleware.
	// Capacity required (KB/s).
	ReceiveTraffic MetricKind = "receive-traffic"
	// Prometheus is a gauge, or the per-second rate of a counter, scraped
	// from a Prometheus text endpoint (MetricSpec.URL, .Name, .Type),
	// summed over the family's series. Capacity required.
	Prometheus MetricKind = "prometheus"
	// Static is mod_cluster's simple provider: Load is MetricSpec.Factor
	// (0 hot standby, 1..100) every period. It must be the only metric.
	Static MetricKind = "static"
	// Custom reads MetricSpec.Func. Capacity default 1.
	Custom MetricKind = "custom"
)

var kinds = []MetricKind{CPU, Mem, Heap, Requests, Sessions, Busyness, SendTraffic, ReceiveTraffic, Prometheus, Static, Custom}

// UnmarshalText accepts the names above, so a typo fails at load time.
func (k *MetricKind) UnmarshalText(b []byte) error {
	if !slices.Contains(kinds, MetricKind(b)) {
		names := make([]string, len(kinds))
		for i, k := range kinds {
			names[i] = string(k)
		}
		return fmt.Errorf("unknown metric %q (want %s)", b, strings.Join(names, ", "))
	}
	*k = MetricKind(b)
	return nil
}

// Embedded reports whether the metric measures the process the agent runs
// in (heap, the Middleware counters, sessions), so it means nothing in a
// sidecar.
func (k MetricKind) Embedded() bool {
	switch k {
	case Heap, Requests, Sessions, Busyness, SendTraffic, ReceiveTraffic, Custom:
		return true
	}
	return false
}

// MetricSpec configures one metric of the load model.
type MetricSpec struct {
	Kind MetricKind
	// Weight is the metric's share among the metrics; default 1.
	Weight float64
	// Capacity is the value that counts as full load (see each kind for
	// the unit and whether it has a default).
	Capacity float64
	// URL, Name and Type configure a Prometheus metric: the endpoint
	// (http:// or https://), the metric family and "gauge" (default) or
	// "counter" (its per-second rate).
	URL, Name, Type string
	// Factor is the static Load, 0..100.
	Factor int
	// Func reads Sessions and Custom metrics; it must be safe to call
	// from the agent's goroutine.
	Func func(ctx context.Context) (float64, error)
}

// ParseMetric reads the command-line form of a metric,
// "kind[:key=value,...]" with keys weight, capacity, url, name, type and
// factor, for example "cpu:weight=2,capacity=1" or
// "prometheus:url=http://127.0.0.1:9000/metrics,name=queue_depth,capacity=50".
func ParseMetric(s string) (MetricSpec, error) {
	kind, params, _ := strings.Cut(s, ":")
	var m MetricSpec
	if err := m.Kind.UnmarshalText([]byte(kind)); err != nil {
		return m, err
	}
	if params == "" {
		return m, nil
	}
	for kv := range strings.SplitSeq(params, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return m, fmt.Errorf("metric %s: %q is not key=value", kind, kv)
		}
		var err error
		switch k {
		case "weight":
			m.Weight, err = strconv.ParseFloat(v, 64)
		case "capacity":
			m.Capacity, err = strconv.ParseFloat(v, 64)
		case "factor":
			m.Factor, err = strconv.Atoi(v)
		case "url":
			m.URL = v
		case "name":
			m.Name = v
		case "type":
			m.Type = v
		default:
			return m, fmt.Errorf("metric %s: unknown key %q (want weight, capacity, url, name, type or factor)", kind, k)
		}
		if err != nil {
			return m, fmt.Errorf("metric %s: %s: %q is not a number", kind, k, v)
		}
	}
	return m, nil
}

// check validates m and fills its defaults.
func (m *MetricSpec) check() error {
	if m.Weight == 0 {
		m.Weight = 1
	}
	if m.Weight < 0 || math.IsNaN(m.Weight) || math.IsInf(m.Weight, 0) {
		return fmt.Errorf("metric %s: weight %v must be positive", m.Kind, m.Weight)
	}
	switch m.Kind {
	case CPU, Mem, Heap, Custom:
		if m.Capacity == 0 {
			m.Capacity = 1
		}
	case Static:
		if m.Factor < 0 || m.Factor > 100 {
			return fmt.Errorf("metric static: factor %d is outside 0..100", m.Factor)
		}
		return nil
	case Prometheus:
		if !strings.HasPrefix(m.URL, "http://") && !strings.HasPrefix(m.URL, "https://") {
			return fmt.Errorf("metric prometheus: url %q must start with http:// or https://", m.URL)
		}
		if m.Name == "" {
			return errors.New("metric prometheus: name (the metric family) is required")
		}
		if m.Type == "" {
			m.Type = "gauge"
		}
		if m.Type != "gauge" && m.Type != "counter" {
			return fmt.Errorf("metric prometheus: type %q: want gauge or counter", m.Type)
		}
	case "":
		return errors.New("metric without a kind")
	}
	if (m.Kind == Sessions || m.Kind == Custom) && m.Func == nil {
		return fmt.Errorf("metric %s needs Func", m.Kind)
	}
	if m.Capacity <= 0 || math.IsNaN(m.Capacity) || math.IsInf(m.Capacity, 0) {
		return fmt.Errorf("metric %s: capacity must be a positive number (the value that counts as full load)", m.Kind)
	}
	return nil
}

// errNoSample is returned by a rate metric that has no earlier reading to
// compare with yet; the period goes without it.
var errNoSample = errors.New("agent: no earlier reading yet")

// reader reads one metric's value.
type reader func(ctx context.Context, now time.Time) (float64, error)

// traffic counts what passes through Agent.Middleware.
type traffic struct {
	requests, inFlight, sent, received atomic.Int64
}

// rate turns a growing count into a per-second rate between readings.
type rate struct {
	mu    sync.Mutex
	count float64
	at    time.Time
}

func (r *rate) per(count float64, now time.Time, scale float64) (float64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev, at := r.count, r.at
	r.count, r.at = count, now
	if at.IsZero() || !now.After(at) || count < prev {
		return 0, errNoSample
	}
	return (count - prev) / now.Sub(at).Seconds() / scale, nil
}

// newReader builds the reader of m; t holds the Middleware counters and
// start is when counting began.
func newReader(m MetricSpec, t *traffic, prom *promScraper, start time.Time) reader {
	counter := func(c *atomic.Int64, scale float64) reader {
		r := &rate{at: start}
		return func(_ context.Context, now time.Time) (float64, error) {
			return r.per(float64(c.Load()), now, scale)
		}
	}
	switch m.Kind {
	case CPU:
		return func(ctx context.Context, _ time.Time) (float64, error) {
			avg, err := load.AvgWithContext(ctx)
			if err != nil {
				return 0, err
			}
			return avg.Load1 / float64(runtime.NumCPU()), nil
		}
	case Mem:
		return func(ctx context.Context, _ time.Time) (float64, error) {
			v, err := mem.VirtualMemoryWithContext(ctx)
			if err != nil || v.Total == 0 {
				return 0, cmpErr(err, "no memory total")
			}
			return float64(v.Total-v.Available) / float64(v.Total), nil
		}
	case Heap:
		return heapReader
	case Requests:
		return counter(&t.requests, 1)
	case Busyness:
		return func(context.Context, time.Time) (float64, error) { return float64(t.inFlight.Load()), nil }
	case SendTraffic:
		return counter(&t.sent, 1000)
	case ReceiveTraffic:
		return counter(&t.received, 1000)
	case Prometheus:
		return prom.reader(m, start)
	}
	f := m.Func
	return func(ctx context.Context, _ time.Time) (float64, error) { return f(ctx) }
}

func heapReader(ctx context.Context, _ time.Time) (float64, error) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	limit := float64(debug.SetMemoryLimit(-1))
	if limit >= math.MaxInt64/2 {
		v, err := mem.VirtualMemoryWithContext(ctx)
		if err != nil || v.Total == 0 {
			return 0, cmpErr(err, "no memory total")
		}
		limit = float64(v.Total)
	}
	return float64(ms.HeapAlloc) / limit, nil
}

func cmpErr(err error, why string) error {
	if err != nil {
		return err
	}
	return errors.New(why)
}
