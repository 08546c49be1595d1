package mcmp

import (
	"errors"
	"fmt"
	"strings"
)

// ErrorType is the Type header of a refused MCMP message.
type ErrorType string

const (
	// TypeSyntax: the message could not be parsed or is incomplete. The
	// Java worker stops talking to a balancer that answers this.
	TypeSyntax ErrorType = "SYNTAX"
	// TypeMem: the message is valid but could not be applied (unknown
	// node, conflicting registration, table full). The worker re-sends its
	// whole configuration at its next period.
	TypeMem ErrorType = "MEM"
	// TypeGeneral: partly applied (a CONFIG whose aliases or contexts did
	// not all fit).
	TypeGeneral ErrorType = "GENERAL"
)

// ProtocolError is an MCMP message the balancer refuses. The manager
// listener answers it with HTTP 500 and the headers Type and Mess (plus
// Version); Err is kept for logs and errors.Is and never sent.
type ProtocolError struct {
	Type ErrorType
	Mess string
	Err  error
}

func (e *ProtocolError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("mcmp %s: %s: %v", e.Type, e.Mess, e.Err)
	}
	return fmt.Sprintf("mcmp %s: %s", e.Type, e.Mess)
}

func (e *ProtocolError) Unwrap() error { return e.Err }

// Sentinels wrapped by the ProtocolErrors Parse returns, for errors.Is.
var (
	ErrParse    = errors.New("mcmp: unparsable message")
	ErrTooBig   = errors.New("mcmp: field too big")
	ErrBadValue = errors.New("mcmp: bad field value")
	ErrMissing  = errors.New("mcmp: missing parameter")
	ErrUnknown  = errors.New("mcmp: unknown field")
)

func syntax(sentinel error, mess string) *ProtocolError {
	return &ProtocolError{Type: TypeSyntax, Mess: mess, Err: sentinel}
}

// The reference's message texts (mod_manager.c), word for word.
const (
	MessParse          = "SYNTAX: Can't parse MCMP message. It might have contained illegal symbols or unknown elements."
	MessRouteEmpty     = "SYNTAX: JVMRoute can't be empty"
	MessRouteTooBig    = "SYNTAX: JVMRoute field too big"
	MessBalancerTooBig = "SYNTAX: Balancer field too big"
	MessDomainTooBig   = "SYNTAX: LBGroup field too big"
	MessHostTooBig     = "SYNTAX: Host field too big"
	MessPortTooBig     = "SYNTAX: Port field too big"
	MessTypeTooBig     = "SYNTAX: Type field too big"
	MessAliasTooBig    = "SYNTAX: Alias field too big"
	MessContextTooBig  = "SYNTAX: Context field too big"
	MessFieldTooBig    = "SYNTAX: A field is too big"
	MessFlushwait      = "SYNTAX: Flushwait field has bad value"
	MessPing           = "SYNTAX: Ping field has bad value"
	MessTTL            = "SYNTAX: TTL field has bad value"
	MessTimeout        = "SYNTAX: Timeout field has bad value"
	MessAliasNoContext = "SYNTAX: Alias without Context"
	MessContextNoAlias = "SYNTAX: Context without Alias"
	MessNoContextAlias = "SYNTAX: No Context and Alias in APP command"
	MessMandatory      = "SYNTAX: Mandatory field(s) missing in message"
	MessBadLoad        = "TODO: Bad value for Load"
	MessNoRoute        = "TODO: No JVMRoute given!"
	MessEmptyAlias     = "TODO: Empty Alias is not allowed"
	MessEmptyContext   = "TODO: Empty Context is not allowed"
	MessUnsupported    = "SYNTAX: Command is not supported"
)

// MessContextBad is barkeep's SYNTAX refusal of a context that is not an
// absolute path, or holds whitespace, a control character or a ".."
// segment (the reference stores any text; no worker sends such a path).
const MessContextBad = "SYNTAX: Context field has bad value"

// CheckContext returns the SYNTAX refusal of a context path that is not
// absolute ("/..."), or holds whitespace, a control character or a ".."
// segment; nil for a good one.
func CheckContext(path string) *ProtocolError {
	if path == "" || path[0] != '/' {
		return syntax(ErrBadValue, MessContextBad)
	}
	for i := 0; i < len(path); i++ {
		if c := path[i]; c <= ' ' || c == 0x7f {
			return syntax(ErrBadValue, MessContextBad)
		}
	}
	for seg := range strings.SplitSeq(path, "/") {
		if seg == ".." {
			return syntax(ErrBadValue, MessContextBad)
		}
	}
	return nil
}

// TooBig is the refusal of a message whose body is longer than the
// manager reads (max_message_size). The reference cuts such a body short
// and applies what is left; barkeep applies nothing. It is MEM, not
// SYNTAX, because the reference accepts the message: the worker tries
// again at its next period.
func TooBig(m Method, limit int) *ProtocolError {
	return &ProtocolError{Type: TypeMem, Mess: fmt.Sprintf("MEM: %s message longer than %d bytes (max_message_size)", m, limit), Err: ErrTooBig}
}

// InvalidField is the SYNTAX refusal of an unknown key in STATUS or PING.
func InvalidField(key string) *ProtocolError {
	return syntax(ErrUnknown, fmt.Sprintf("SYNTAX: Invalid field %q in message", key))
}

// UnsupportedScheme is the SYNTAX refusal of a PING with a scheme other
// than ajp, http, https, ws or wss (the reference's text has no "SYNTAX:").
func UnsupportedScheme(scheme string) *ProtocolError {
	return syntax(ErrBadValue, "PING Unsupported scheme: "+scheme)
}

// CantReadBody is the refusal of a message whose body could not be read.
func CantReadBody(m Method, err error) *ProtocolError {
	return &ProtocolError{Type: TypeSyntax, Mess: "SYNTAX: " + string(m) + " can't read POST data", Err: err}
}

// CantReadNode is the MEM refusal of a command for a node that is unknown
// or being removed.
func CantReadNode(route string) *ProtocolError {
	return &ProtocolError{Type: TypeMem, Mess: fmt.Sprintf("MEM: Can't read node with %q JVMRoute", route)}
}

// NodeExists is the MEM refusal of a CONFIG that changes a fixed field
// (balancer, host, port, type, reversed, smax, ttl) of a registered node.
func NodeExists(route string) *ProtocolError {
	return &ProtocolError{Type: TypeMem, Mess: fmt.Sprintf("MEM: Node with %q JVMRoute already exists", route)}
}

// WorkerExists is the MEM refusal of a CONFIG registering a second route
// for a backend that is already a node.
func WorkerExists() *ProtocolError {
	return &ProtocolError{Type: TypeMem, Mess: "MEM: Another for the same worker already exist"}
}

// NodeTableFull is the MEM refusal of a CONFIG when no node slot is free.
func NodeTableFull(route string) *ProtocolError {
	return &ProtocolError{Type: TypeMem, Mess: fmt.Sprintf("MEM: Can't update or insert node with %q JVMRoute", route)}
}

// BalancerTableFull is the MEM refusal of a CONFIG when no balancer slot is
// free.
func BalancerTableFull(route string) *ProtocolError {
	return &ProtocolError{Type: TypeMem, Mess: fmt.Sprintf("MEM: Can't update or insert balancer for node with %q JVMRoute", route)}
}

// HostNotInserted is one part of the GENERAL answer to a CONFIG whose alias
// did not fit.
func HostNotInserted(route, alias string) string {
	return fmt.Sprintf("MEM: Can't update or insert host alias for node with %q JVMRoute (%s)", route, alias)
}

// ContextNotInserted is one part of the GENERAL answer to a CONFIG whose
// context did not fit.
func ContextNotInserted(route, context, alias string) string {
	return fmt.Sprintf("MEM: Can't update or insert context for node with %q JVMRoute (%s and alias: %s)", route, context, alias)
}
