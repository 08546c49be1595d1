package mcmpserver

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/barkeep-lb/barkeep/mcmp"
)

// Backends is the set of node addresses the manager accepts
// (manager.allow_backends): networks and host names. The zero value
// accepts any address, as mod_cluster does.
type Backends struct {
	// Nets holds the networks a node's address must be in; a host name is
	// resolved and every address it has must be in one.
	Nets []netip.Prefix
	// Hosts holds host names accepted without resolving, compared without
	// case; "*.example.com" accepts every name under example.com.
	Hosts []string
}

// ParseBackends reads allow_backends entries: CIDRs ("10.0.0.0/8"), IP
// addresses (one host) or host names ("app1.example.com",
// "*.example.com"). It returns an error naming the first bad entry.
func ParseBackends(entries []string) (Backends, error) {
	var b Backends
	for _, e := range entries {
		if p, err := netip.ParsePrefix(e); err == nil {
			b.Nets = append(b.Nets, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(e); err == nil {
			b.Nets = append(b.Nets, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		if name, ok := strings.CutPrefix(e, "*."); (ok && isHostName(name)) || isHostName(e) {
			b.Hosts = append(b.Hosts, strings.ToLower(strings.TrimSuffix(e, ".")))
			continue
		}
		return Backends{}, fmt.Errorf("allow_backends: %q is not a CIDR, an IP address or a host name", e)
	}
	return b, nil
}

func (b *Backends) any() bool { return len(b.Nets) == 0 && len(b.Hosts) == 0 }

// hasName reports whether host (a name) is one of b.Hosts.
func (b *Backends) hasName(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return slices.ContainsFunc(b.Hosts, func(h string) bool {
		if suffix, ok := strings.CutPrefix(h, "*."); ok {
			return strings.HasSuffix(host, "."+suffix)
		}
		return h == host
	})
}

func (b *Backends) hasAddr(a netip.Addr) bool {
	return slices.ContainsFunc(b.Nets, func(p netip.Prefix) bool { return p.Contains(a.Unmap()) })
}

// Address refusals: the reference stores any Host, Port and Type, so
// these are MEM (the worker tries again at its next period), never SYNTAX.
const (
	MessBadHost    = "MEM: Host field is not a host name or IP address"
	MessBadPort    = "MEM: Port field is not a port number (1..65535)"
	MessBadType    = "MEM: Type field is not http, https, ajp or h2c"
	MessOwnAddress = "MEM: Host and Port are one of this balancer's own listeners"
	MessNotAllowed = "MEM: Host is not in the balancer's allow_backends"
)

// lookupTimeout bounds resolving a node's host name.
const lookupTimeout = 2 * time.Second

// checkAddress refuses a CONFIG whose Host, Port or Type is not one a
// member can have, whose address is one of barkeep's own listeners (a
// node there would expose the admin pages or loop requests back), or
// that is outside AllowBackends. Host names are resolved only when that
// matters: the port is one of barkeep's, or AllowBackends must be
// checked.
func (s *Server) checkAddress(ctx context.Context, req *mcmp.ConfigRequest) error {
	switch strings.ToLower(req.Type) {
	case "http", "https", "ajp", "h2c":
	default:
		return &mcmp.ProtocolError{Type: mcmp.TypeMem, Mess: MessBadType}
	}
	port, err := strconv.ParseUint(req.Port, 10, 16)
	if err != nil || port == 0 {
		return &mcmp.ProtocolError{Type: mcmp.TypeMem, Mess: MessBadPort}
	}
	host := strings.TrimSuffix(strings.TrimPrefix(req.Host, "["), "]")
	ip, ipErr := netip.ParseAddr(host)
	if ipErr != nil && !isHostName(host) {
		return &mcmp.ProtocolError{Type: mcmp.TypeMem, Mess: MessBadHost}
	}
	own := s.listeners()
	ownPort := slices.ContainsFunc(own, func(l netip.AddrPort) bool { return l.Port() == uint16(port) })
	allowCheck := !s.backends.any() && (ipErr == nil || !s.backends.hasName(host))
	if !ownPort && !allowCheck {
		return nil
	}
	addrs := []netip.Addr{ip}
	if ipErr != nil {
		lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
		addrs, err = s.lookup(lctx, host)
		cancel()
		if err != nil || len(addrs) == 0 {
			return &mcmp.ProtocolError{Type: mcmp.TypeMem, Mess: fmt.Sprintf("MEM: Host %s does not resolve", host), Err: err}
		}
	}
	for _, a := range addrs {
		if ownPort && isOwn(own, netip.AddrPortFrom(a.Unmap(), uint16(port))) {
			return &mcmp.ProtocolError{Type: mcmp.TypeMem, Mess: MessOwnAddress}
		}
		if allowCheck && !s.backends.hasAddr(a) {
			return &mcmp.ProtocolError{Type: mcmp.TypeMem, Mess: MessNotAllowed}
		}
	}
	return nil
}

// isOwn reports whether a dial to ap would reach one of barkeep's
// listeners: the same address, or any local address (loopback, the
// unspecified address, an interface's) of a listener bound to all.
func isOwn(listeners []netip.AddrPort, ap netip.AddrPort) bool {
	local := ap.Addr().IsLoopback() || ap.Addr().IsUnspecified()
	for _, l := range listeners {
		if l.Port() != ap.Port() {
			continue
		}
		if l.Addr().Unmap() == ap.Addr() || ap.Addr().IsUnspecified() {
			return true
		}
		if l.Addr().IsUnspecified() && (local || isInterfaceAddr(ap.Addr())) {
			return true
		}
	}
	return false
}

// isInterfaceAddr reports whether a is an address of one of this host's
// network interfaces.
func isInterfaceAddr(a netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ia := range addrs {
		if p, err := netip.ParsePrefix(ia.String()); err == nil && p.Addr().Unmap() == a {
			return true
		}
	}
	return false
}

// isHostName reports whether h is a DNS host name: dot-separated labels
// of letters, digits, '-' and '_' (not at a label's ends), 1..63 bytes
// each, the last one not all digits (so "127.1" is no name); one trailing
// dot allowed.
func isHostName(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 || strings.Trim(h[strings.LastIndexByte(h, '.')+1:], "0123456789") == "" {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
