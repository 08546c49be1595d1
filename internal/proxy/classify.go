package proxy

import (
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/valyala/fasthttp"

	"github.com/barkeep-lb/barkeep/ajp"
	"github.com/barkeep-lb/barkeep/internal/registry"
)

// StatusClientClosedRequest is the status logged when the client went away
// before the response (nginx's 499). It is never sent.
const StatusClientClosedRequest = 499

// Fault says who caused a failed exchange with a member, and so whether it
// counts against the member and whether the request may go elsewhere.
type Fault uint8

const (
	// FaultNone: no failure.
	FaultNone Fault = iota
	// FaultClient: the client went away or its request body failed; not the
	// member's fault, never retried.
	FaultClient
	// FaultConnect: the member could not be reached (refused, unreachable,
	// connect timeout). Nothing was sent, so any request may be retried on
	// another member. The member enters error state.
	FaultConnect
	// FaultReset: the connection broke after the request was sent, before
	// any response byte. Retried only when that is safe. The member enters
	// error state.
	FaultReset
	// FaultTimeout: no response byte within the member's timeout. Answered
	// 504, not retried; the member enters error state.
	FaultTimeout
	// FaultResponse: the member answered something that is not HTTP.
	// Answered 502 and counted as the member's error, not retried.
	FaultResponse
	// FaultHung: the request waited for its first response byte when its
	// member went into error state (a health check failed, another request
	// timed out on a member that had stopped answering, or the hang
	// watcher saw no progress); barkeep withdrew it. Idempotent requests
	// go to another member.
	FaultHung
	// FaultAbort: the member broke off its response after the headers had
	// been passed on. The member enters error state; the client's
	// connection is closed so the response is not taken for complete.
	FaultAbort
)

var faultNames = [...]string{"", "client", "connect", "reset", "timeout", "response", "hung", "abort"}

func (f Fault) String() string {
	if int(f) < len(faultNames) {
		return faultNames[f]
	}
	return "fault?"
}

// errorClass is the fault's class in the per-class error counters
// (registry.Stats.ErrorsByClass); false for faults that are not the
// member's (none, client).
func (f Fault) errorClass() (registry.ErrorClass, bool) {
	switch f {
	case FaultConnect:
		return registry.ErrorConnect, true
	case FaultReset, FaultAbort:
		return registry.ErrorReset, true
	case FaultTimeout, FaultHung:
		return registry.ErrorTimeout, true
	case FaultResponse:
		return registry.ErrorResponse, true
	}
	return 0, false
}

// MarksError reports whether the fault puts the member in error state.
func (f Fault) MarksError() bool {
	return f == FaultConnect || f == FaultReset || f == FaultTimeout || f == FaultAbort
}

// Classify maps an error from an attempt at a member to the party at
// fault and the status to answer with. err may be wrapped.
func Classify(err error) (Fault, int) {
	if cb, ok := errors.AsType[*clientBodyError](err); ok {
		if slowBody(cb.err) {
			return FaultClient, http.StatusRequestTimeout
		}
		return FaultClient, http.StatusBadRequest
	}
	if errors.Is(err, errBodyDone) {
		return FaultClient, StatusClientClosedRequest
	}
	if errors.Is(err, errClientGone) {
		return FaultClient, StatusClientClosedRequest
	}
	if errors.Is(err, ajp.ErrPing) {
		// No CPONG, or the wait for it abandoned (errMemberHung): nothing
		// of the request was sent.
		return FaultConnect, http.StatusServiceUnavailable
	}
	if errors.Is(err, errMemberHung) {
		return FaultHung, http.StatusBadGateway
	}
	if errors.Is(err, ajp.ErrHeadersTooLarge) {
		return FaultClient, http.StatusRequestHeaderFieldsTooLarge
	}
	if errors.Is(err, errMemberMax) {
		return FaultConnect, http.StatusServiceUnavailable // nothing was sent
	}
	if _, ok := errors.AsType[*bodyError](err); ok {
		return FaultReset, http.StatusBadGateway // broke off a body not yet passed on
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		return FaultConnect, http.StatusBadGateway
	}
	if _, ok := errors.AsType[tlsDialError](err); ok {
		return FaultConnect, http.StatusBadGateway
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return FaultTimeout, http.StatusGatewayTimeout
	}
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) {
		return FaultTimeout, http.StatusGatewayTimeout
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, fasthttp.ErrConnectionClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return FaultReset, http.StatusBadGateway
	}
	return FaultResponse, http.StatusBadGateway
}

// tlsDialError is a failed TLS handshake with an https member: nothing of
// the request was sent.
type tlsDialError struct{ error }

func (e tlsDialError) Unwrap() error { return e.error }

// idempotent reports whether a request with this method may be sent twice
// (RFC 9110 §9.2.2).
func idempotent(method []byte) bool {
	switch string(method) {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}
