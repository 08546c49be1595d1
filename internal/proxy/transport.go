package proxy

import (
	"cmp"
	"crypto/tls"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// transport sends an exchange's request to one member.
type transport interface {
	// roundTrip sends x.req to x.member and reads the response headers into
	// x.mresp; the body is then either in x.mresp (read whole: small
	// responses of known length) or left to stream through x.mbody. An
	// error means no response byte was passed on; Classify says whose
	// fault it was.
	roundTrip(x *exchange) error
	// closeIdle closes the idle connections.
	closeIdle()
}

// memberTransport is a member's transport with the settings it was built
// from and the member's open connections (for the hang watcher).
type memberTransport struct {
	settings transportSettings
	rt       transport
	conns    *connSet
}

// transportSettings are the member fields a transport is built from; a
// change in any of them builds a new transport.
type transportSettings struct {
	scheme, host string
	connTimeout  time.Duration
	timeout      time.Duration
	ttl          time.Duration
	max          int
	smax         int
	disableReuse bool
	secret       string
	ping         time.Duration
	flushPackets bool
	route        string
}

func settingsOf(m *registry.Member) transportSettings {
	return transportSettings{
		scheme: m.URL.Scheme, host: m.URL.Host, connTimeout: m.ConnectionTimeout, timeout: m.Timeout,
		ttl: m.TTL, max: m.Max, smax: m.SMax, disableReuse: m.DisableReuse,
		secret: m.Secret, ping: m.Ping, flushPackets: m.FlushPackets, route: m.Route,
	}
}

// transportPool holds one transport per member, keyed by the member's
// Stats (its identity across snapshots). Lookups take no lock.
type transportPool struct {
	m      sync.Map // *registry.Stats -> *memberTransport
	buffer int      // Options.BufferBody
}

// get returns the transport for m, building it on first use or when the
// member's settings changed.
func (p *transportPool) get(m *registry.Member) *memberTransport {
	s := settingsOf(m)
	if v, ok := p.m.Load(m.Stats); ok {
		if mt := v.(*memberTransport); mt.settings == s {
			return mt
		}
	}
	mt := &memberTransport{settings: s, conns: &connSet{}}
	mt.rt = p.newTransport(s, mt.conns)
	if old, loaded := p.m.Swap(m.Stats, mt); loaded {
		old.(*memberTransport).rt.closeIdle()
	}
	return mt
}

func (p *transportPool) newTransport(s transportSettings, conns *connSet) transport {
	switch s.scheme {
	case "ajp":
		return newAJPTransport(s, conns)
	case "h2c":
		return newH2CTransport(s, conns)
	}
	return newH1Transport(s, conns, p.buffer)
}

// prune drops the transports of members absent from snap.
func (p *transportPool) prune(snap *registry.Snapshot) {
	live := map[*registry.Stats]bool{}
	for _, b := range snap.Balancers() {
		for _, m := range b.Members {
			live[m.Stats] = true
		}
	}
	p.m.Range(func(k, v any) bool {
		if !live[k.(*registry.Stats)] {
			p.m.Delete(k)
			v.(*memberTransport).rt.closeIdle()
		}
		return true
	})
}

// closeIdle closes every idle member connection.
func (p *transportPool) closeIdle() {
	p.m.Range(func(_, v any) bool {
		v.(*memberTransport).rt.closeIdle()
		return true
	})
}

// dialer opens the connections of one member, wrapped so their requests
// can be followed (see memberConn); TLS for https members.
type dialer struct {
	addr    string
	timeout time.Duration
	tls     *tls.Config // nil for plain TCP
	conns   *connSet
}

func (d *dialer) dial() (*memberConn, error) {
	nd := net.Dialer{Timeout: d.timeout, KeepAlive: 30 * time.Second}
	c, err := nd.Dial("tcp", d.addr)
	if err != nil {
		return nil, err
	}
	raw, _ := c.(syscall.Conn)
	mc := &memberConn{Conn: c, raw: raw, set: d.conns}
	if d.tls != nil {
		tc := tls.Client(c, d.tls)
		if d.timeout > 0 {
			tc.SetDeadline(time.Now().Add(d.timeout))
		}
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, tlsDialError{err}
		}
		tc.SetDeadline(time.Time{})
		mc.Conn = tc
	}
	d.conns.add(mc)
	return mc, nil
}

// newConnPool returns the connection pool of one HTTP/1.1 member: at most
// its max connections open (0: no limit), at most its smax idle ones kept
// (up to idleSlots), idle ones closed after its ttl (checked every half
// ttl; 4 s when the member has none, below the keep-alive timeouts of
// httpd and Node.js, 5 s).
func newConnPool(s transportSettings, conns *connSet) *connPool {
	d := &dialer{addr: s.host, timeout: s.connTimeout, conns: conns}
	if s.scheme == "https" {
		host, _, _ := net.SplitHostPort(s.host)
		d.tls = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	}
	p := &connPool{dial: d.dial, max: int64(max(s.max, 0)), ttl: cmp.Or(max(s.ttl, 0), 4*time.Second), set: conns}
	p.setKeep(min(max(s.smax, 0), idleSlots))
	return p
}
