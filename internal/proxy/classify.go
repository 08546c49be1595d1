package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/barkeep-lb/barkeep/ajp"
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
)

var faultNames = [...]string{"", "client", "connect", "reset", "timeout", "response"}

func (f Fault) String() string {
	if int(f) < len(faultNames) {
		return faultNames[f]
	}
	return "fault?"
}

// MarksError reports whether the fault puts the member in error state.
func (f Fault) MarksError() bool {
	return f == FaultConnect || f == FaultReset || f == FaultTimeout
}

// Classify maps an error from a round trip to a member to the party at
// fault and the status to answer with. ctx is the client request's
// context; err may be wrapped.
func Classify(ctx context.Context, err error) (Fault, int) {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return FaultClient, StatusClientClosedRequest
	}
	if _, ok := errors.AsType[*clientBodyError](err); ok {
		return FaultClient, http.StatusBadRequest
	}
	if errors.Is(err, ajp.ErrHeadersTooLarge) {
		return FaultClient, http.StatusRequestHeaderFieldsTooLarge
	}
	if errors.Is(err, ajp.ErrPing) {
		return FaultConnect, http.StatusServiceUnavailable // no CPONG: nothing was sent
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		return FaultConnect, http.StatusBadGateway
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return FaultTimeout, http.StatusGatewayTimeout
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return FaultTimeout, http.StatusGatewayTimeout
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed) {
		return FaultReset, http.StatusBadGateway
	}
	return FaultResponse, http.StatusBadGateway
}

// clientBodyError wraps a failure to read the client's request body, so
// Classify does not blame the member for it.
type clientBodyError struct{ err error }

func (e *clientBodyError) Error() string { return "read client request body: " + e.err.Error() }
func (e *clientBodyError) Unwrap() error { return e.err }

// idempotent reports whether a request with this method may be sent twice
// (RFC 9110 §9.2.2).
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace,
		http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}
