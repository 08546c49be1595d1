// Package health keeps the members' error state: passive detection from
// failed requests, with httpd's retry timer. It writes only the members'
// Stats, so a failure never rebuilds a snapshot.
//
// A member that fails is in error (flag E) for its Retry; during that time
// it takes no requests. After Retry the next request tries it again; a
// success clears the error, a failure starts a new Retry period. There is
// no goroutine per failure: expiry is computed when a member is considered
// (registry.Member.InError).
package health

import "github.com/barkeep-lb/barkeep/internal/registry"

// Fail records a failed attempt against m at now (Unix nanoseconds): the
// error counter goes up, and the member enters error state unless it has
// the I (ignore errors) flag. Safe for concurrent use.
func Fail(m *registry.Member, now int64) {
	m.Stats.Errors.Add(1)
	if m.Status.Has(registry.StatusIgnoreErrors) {
		return
	}
	if now == 0 {
		now = 1 // 0 means "not in error"
	}
	m.Stats.ErrorTime.Store(now)
}

// Count records a failed exchange that does not put m in error, such as an
// unreadable response.
func Count(m *registry.Member) { m.Stats.Errors.Add(1) }

// Succeed records a successful exchange with m at now: a member whose
// retry period had passed leaves error state, and the retry is counted. A
// success from a request that started before a newer failure does not clear
// that failure. It does not write in the common case of a member that was
// not in error.
func Succeed(m *registry.Member, now int64) {
	t := m.Stats.ErrorTime.Load()
	if t != 0 && now >= t+int64(m.Retry) && m.Stats.ErrorTime.CompareAndSwap(t, 0) {
		m.Stats.Retries.Add(1)
		m.Stats.RecoveredAt.Store(now) // slow start begins
	}
}
