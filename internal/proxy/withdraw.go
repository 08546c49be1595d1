package proxy

import "time"

// withdrawal tells whether a request sent to x.member at sent (Unix ns,
// wall clock) and still waiting for the first byte of its response at now
// should stop waiting, and why:
//
//   - errMemberHung when the member has gone into error state, failed its
//     health check, or reported Load -1 over MCMP (its agent found the
//     backend broken), so that the request can go elsewhere. A node that
//     already reported Load -1 when the request was sent (brokenAtSend)
//     keeps it: mod_cluster sends such a node its sessions on purpose, so
//     only a report that comes while the request waits withdraws it.
//   - errClientGone when the client has closed its connection (looked at
//     from a second after sending).
//
// nil means keep waiting. Every transport that waits for a first response
// byte asks it every awaitTick: h1's awaitResponse, and ajp's through
// ajp.Transport.Waiting (ajpWaiting).
func (x *exchange) withdrawal(now time.Time, sent int64, brokenAtSend bool) error {
	m := x.member
	if m.InError(x.h.now().UnixNano()) || m.Stats.HCFail.Load() || !brokenAtSend && m.Stats.Load.Load() == -1 {
		return errMemberHung
	}
	if x.conn != nil && now.UnixNano()-sent > int64(time.Second) && peekClosed(rawConn(x.conn)) {
		return errClientGone
	}
	return nil
}
