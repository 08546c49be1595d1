package registry

import (
	"sync/atomic"
	"time"
)

// LatencyBounds are the upper bounds of the response time buckets of
// [Histogram], in seconds; a last bucket (+Inf) holds the rest. They are
// Prometheus's default buckets, which fit web requests.
var LatencyBounds = [...]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// latencyBoundsNs are LatencyBounds in nanoseconds, for Observe.
var latencyBoundsNs = func() (out [len(LatencyBounds)]int64) {
	for i, s := range LatencyBounds {
		out[i] = int64(s * float64(time.Second))
	}
	return out
}()

// Histogram counts durations in the fixed buckets of [LatencyBounds]
// (plus +Inf) with atomics: Observe costs a few compares and two atomic
// adds, takes no lock and does not allocate. The zero value is ready.
// Readers (the metrics collector, at scrape time) call Read; a read that
// races an Observe may see the bucket counted before the sum.
type Histogram struct {
	buckets [len(LatencyBounds) + 1]atomic.Uint64 // not cumulative
	sumNs   atomic.Int64
}

// Observe counts one duration d (negative counts as 0).
func (h *Histogram) Observe(d time.Duration) {
	ns := max(int64(d), 0)
	i := 0
	for i < len(latencyBoundsNs) && ns > latencyBoundsNs[i] {
		i++
	}
	h.buckets[i].Add(1)
	h.sumNs.Add(ns)
}

// Read returns the cumulative count per bound of LatencyBounds (as
// Prometheus wants them), the total count and the sum in seconds.
func (h *Histogram) Read() (cumulative [len(LatencyBounds)]uint64, count uint64, sumSeconds float64) {
	for i := range h.buckets {
		count += h.buckets[i].Load()
		if i < len(cumulative) {
			cumulative[i] = count
		}
	}
	return cumulative, count, time.Duration(h.sumNs.Load()).Seconds()
}

// ErrorClass says why an attempt to a member failed, for the per-class
// error counters ([Stats.ErrorsByClass]). The request path's fault
// classification (proxy.Classify) maps onto it.
type ErrorClass uint8

const (
	// ErrorConnect: the member could not be reached (refused, unreachable,
	// connect timeout, no CPONG).
	ErrorConnect ErrorClass = iota
	// ErrorReset: the connection broke after the request was sent, before
	// any response byte.
	ErrorReset
	// ErrorTimeout: no response byte within the member's timeout.
	ErrorTimeout
	// ErrorResponse: the member answered something that is not HTTP.
	ErrorResponse
	// ErrorStatus: the member answered a status listed in the balancer's
	// failonstatus.
	ErrorStatus
	numErrorClasses
)

var errorClassNames = [numErrorClasses]string{"connect", "reset", "timeout", "response", "status"}

// String returns the class's label value ("connect", "reset", "timeout",
// "response", "status").
func (c ErrorClass) String() string {
	if c < numErrorClasses {
		return errorClassNames[c]
	}
	return "unknown"
}

// ErrorClasses returns every class, in label order.
func ErrorClasses() []ErrorClass {
	out := make([]ErrorClass, numErrorClasses)
	for i := range out {
		out[i] = ErrorClass(i)
	}
	return out
}

// ErrorCounts counts failed attempts by [ErrorClass]; the zero value is
// ready. Add costs one atomic add.
type ErrorCounts [numErrorClasses]atomic.Uint64

// Add counts one failure of class c; an unknown class is ignored.
func (e *ErrorCounts) Add(c ErrorClass) {
	if c < numErrorClasses {
		e[c].Add(1)
	}
}

// Get returns the count of class c.
func (e *ErrorCounts) Get(c ErrorClass) uint64 {
	if c < numErrorClasses {
		return e[c].Load()
	}
	return 0
}

// StatusCounts counts responses by status class: index 1 for 1xx up to 5
// for 5xx; index 0 holds statuses outside 100..599. The zero value is
// ready. Add costs one atomic add.
type StatusCounts [6]atomic.Uint64

// Add counts one response with status code.
func (s *StatusCounts) Add(code int) {
	i := code / 100
	if i < 1 || i > 5 {
		i = 0
	}
	s[i].Add(1)
}

// Class returns the count for status class k (1..5, i.e. 1xx..5xx); 0 for
// the others.
func (s *StatusCounts) Class(k int) uint64 {
	if k < 0 || k > 5 {
		return 0
	}
	return s[k].Load()
}
