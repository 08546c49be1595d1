package registry

import (
	"sync/atomic"
	"time"
)

// Stats is the hot, per-request state of one member. It is shared by every
// copy of the member across snapshots and reloads and is only ever touched
// through atomics, so the request path updates it without a lock.
type Stats struct {
	// Elected counts the times the member was chosen for a request attempt.
	Elected atomic.Uint64
	// Busy is the number of requests in flight to the member.
	Busy atomic.Int64
	// Read counts response bytes read from the member (httpd "From").
	Read atomic.Uint64
	// Transferred counts request body bytes sent to the member (httpd "To").
	Transferred atomic.Uint64
	// Errors counts failed attempts: connection failures, timeouts and
	// unreadable responses.
	Errors atomic.Uint64
	// Retries counts the times the member was tried again after an error.
	Retries atomic.Uint64
	// ErrorTime is when the member entered error state, in Unix
	// nanoseconds; 0 when it is not in error.
	ErrorTime atomic.Int64
	// HCFail is the C flag: the active health check failed hcfails times
	// in a row and has not passed hcpasses times since.
	HCFail atomic.Bool
	// RecoveredAt is when the member last came back (left error state,
	// passed its check) or was added, in Unix nanoseconds; slow start ramps
	// its share up from then.
	RecoveredAt atomic.Int64

	// Load is the capacity an MCMP node last reported: -1 broken (sticky
	// requests only), 0 hot standby, 1..100 its weight. A new node starts
	// at 0. Unused by configured members.
	Load atomic.Int32
	// LBStatus and OldElected are the cluster lbmethod's window: every
	// LBstatusRecalTime, LBStatus = (Elected-OldElected)*1000/Load and
	// OldElected = Elected.
	LBStatus   atomic.Int64
	OldElected atomic.Uint64

	// The counters below feed /metrics only (read at scrape time); the
	// request path pays one atomic add for each.

	// Latency holds the time of each attempt that got a response: from
	// choosing the member for the attempt (proxy exchange.forward sets
	// attemptAt) to the end of the member's response body or the failure
	// that cut it (observed in exchange.memberDone).
	Latency Histogram
	// ErrorsByClass splits Errors by cause: proxy exchange.judge adds the
	// class of every fault but the client's (connect; reset and aborted
	// bodies; timeout and hung; response), the body reader adds reset for
	// an aborted response, and exchange.forward adds ErrorStatus when a
	// failonstatus status puts the member in error; each of those also
	// adds 1 to Errors.
	ErrorsByClass ErrorCounts
	// Responses counts the member's responses by status class (1xx..5xx),
	// the status as the member sent it; proxy exchange.forward adds one
	// when an attempt's response header has been read.
	Responses StatusCounts
	// StickyHits counts the requests with a session route naming this
	// member that it answered (the sticky sessions it serves, request by
	// request); proxy exchange.countSticky adds one beside the balancer's
	// BalancerStats.StickyHits.
	StickyHits atomic.Uint64
	// CheckedAt is when the active health check last ran, in Unix
	// nanoseconds (0: never); CheckFailed whether that run failed. The
	// health checker stores both after every check.
	CheckedAt   atomic.Int64
	CheckFailed atomic.Bool
}

// BalancerStats is the hot state of one balancer, shared like [Stats].
type BalancerStats struct {
	// Seq increases by one per member selection; it indexes the byrequests
	// schedule.
	Seq atomic.Uint64

	// The counters below feed /metrics only; one atomic add each on the
	// request path, where the request's fate is known.

	// StickyHits counts requests with a session route that the route's
	// member answered; StickyMisses those answered by another member (its
	// redirect, a failover) or by nobody (an error, a 503). Counted once
	// per request when its fate is known (proxy exchange.countSticky, from
	// exchange.forward and exchange.unavailable).
	StickyHits   atomic.Uint64
	StickyMisses atomic.Uint64
	// Failovers counts attempts sent to another member after one failed
	// (proxy exchange.forward, one per retry).
	Failovers atomic.Uint64
	// Queued counts requests that waited for a usable member or a free
	// slot (proxy exchange.wait, with the balancer's timeout).
	Queued atomic.Uint64
	// Unavailable counts requests answered 503 because no member could
	// take them, after any wait (proxy exchange.unavailable).
	Unavailable atomic.Uint64

	waiters atomic.Int64                  // requests waiting for a member
	freed   atomic.Pointer[chan struct{}] // closed when a slot frees up
}

// Wait registers a request that waits for a member and returns the
// channel that is closed when one may have become available; the caller
// checks again after getting it (so no release is missed) and calls Done
// when it stops waiting. It does not allocate unless nobody waited before.
func (b *BalancerStats) Wait() <-chan struct{} {
	b.waiters.Add(1)
	return b.freedChan()
}

// Again returns the channel to wait on for the next release, for a waiter
// whose previous channel was closed.
func (b *BalancerStats) Again() <-chan struct{} { return b.freedChan() }

// Done unregisters a waiter.
func (b *BalancerStats) Done() { b.waiters.Add(-1) }

func (b *BalancerStats) freedChan() <-chan struct{} {
	for {
		if ch := b.freed.Load(); ch != nil {
			return *ch
		}
		ch := make(chan struct{})
		if b.freed.CompareAndSwap(nil, &ch) {
			return ch
		}
	}
}

// Released wakes the waiters after a member slot was given back. With no
// waiter it costs one atomic load.
func (b *BalancerStats) Released() {
	if b.waiters.Load() == 0 {
		return
	}
	if old := b.freed.Swap(nil); old != nil {
		close(*old)
	}
}

// InError reports whether the member is in error state at now (Unix
// nanoseconds): it failed less than Retry ago. Members with the I flag are
// never in error. A member whose Retry has passed is not in error even if
// ErrorTime is still set: the next request tries it (httpd's retry).
func (m *Member) InError(now int64) bool {
	if m.Status.Has(StatusIgnoreErrors) {
		return false
	}
	t := m.Stats.ErrorTime.Load()
	return t != 0 && now < t+int64(m.Retry)
}

// Disabled reports whether the D flag keeps the member out at now: the flag
// is set and Retry has not yet passed since it was set.
func (m *Member) Disabled(now int64) bool {
	return m.Status.Has(StatusDisabled) && now < m.StatusSince.UnixNano()+int64(m.Retry)
}

// Usable reports whether the member may take a request at now (Unix
// nanoseconds): not stopped, not disabled, not in error, not failing its
// health check. Drain and hot standby do not make a member unusable; they
// decide which requests it gets. Max does not either: see HasRoom.
func (m *Member) Usable(now int64) bool {
	return !m.Status.Has(StatusStopped) && !m.Disabled(now) && !m.InError(now) && !m.Stats.HCFail.Load()
}

// HasRoom reports whether the member is below its Max (always, without one).
func (m *Member) HasRoom() bool {
	return m.Max <= 0 || m.Stats.Busy.Load() < int64(m.Max)
}

// Acquire takes one of the member's Max slots (counting the request in
// Busy) and reports whether it could; without Max it always can. Release
// with Stats.Busy.Add(-1).
func (m *Member) Acquire() bool {
	for {
		b := m.Stats.Busy.Load()
		if m.Max > 0 && b >= int64(m.Max) {
			return false
		}
		if m.Stats.Busy.CompareAndSwap(b, b+1) {
			return true
		}
	}
}

// Ramp is the share of its traffic a member in slow start should get at
// now, in thousandths: 1000 once SlowStart has passed since RecoveredAt.
func (m *Member) Ramp(now int64) int64 {
	if m.SlowStart <= 0 {
		return 1000
	}
	since := now - m.Stats.RecoveredAt.Load()
	if since >= int64(m.SlowStart) {
		return 1000
	}
	return max(since*1000/int64(m.SlowStart), 1)
}

// RetryAt returns when a member that is unusable at now may be tried again,
// and false if it never will without an operator (stopped) or is usable.
func (m *Member) RetryAt(now int64) (time.Time, bool) {
	switch {
	case m.Status.Has(StatusStopped):
		return time.Time{}, false
	case m.InError(now):
		return time.Unix(0, m.Stats.ErrorTime.Load()+int64(m.Retry)), true
	case m.Disabled(now):
		return m.StatusSince.Add(m.Retry), true
	}
	return time.Time{}, false
}

// RecalcLBStatus starts a new window of the cluster lbmethod:
// LBStatus = (Elected-OldElected)*1000/Load when Load > 0, and OldElected =
// Elected (mod_proxy_cluster's watchdog, every LBstatusRecalTime).
func (s *Stats) RecalcLBStatus() {
	e := s.Elected.Load()
	old := s.OldElected.Swap(e)
	if load := int64(s.Load.Load()); load > 0 {
		s.LBStatus.Store(int64(e-old) * 1000 / load)
	}
}
