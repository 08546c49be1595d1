package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"

	"github.com/barkeep-lb/barkeep/ajp"
	"github.com/barkeep-lb/barkeep/internal/health"
	"github.com/barkeep-lb/barkeep/internal/registry"
)

// attempts is the RoundTripper ReverseProxy calls. It sends the request to
// the exchange's member and, when that fails before any response byte and
// a retry is safe, to further members, up to the balancer's maxattempts.
// Retrying here, below ReverseProxy, means nothing is written to the client
// and no body is replayed: a retry happens only when the body was not
// touched.
type attempts struct{ h *Handler }

func (a attempts) RoundTrip(req *http.Request) (*http.Response, error) {
	x := req.Context().Value(exchangeKey{}).(*exchange)
	h := a.h
	for {
		m := x.member
		setTarget(req, m)
		if x.body != nil {
			// ReverseProxy's own wrapper refuses reads once a failed
			// attempt closed it; ours stays readable for the next one.
			x.body.m = m
			req.Body = x.body
		}
		m.Stats.Elected.Add(1)
		var rt http.RoundTripper = h.transport
		if rt == nil {
			rt = h.pool.get(m)
		}
		resp, err := rt.RoundTrip(req)
		if err == nil {
			x.fault = FaultNone
			if x.bal.FailOnStatus.Has(resp.StatusCode) {
				h.fail(x, m, fmt.Errorf("status %d is in failonstatus", resp.StatusCode))
			} else {
				health.Succeed(m, h.now().UnixNano())
			}
			if resp.StatusCode != http.StatusSwitchingProtocols {
				x.resp = countingResponse{rc: resp.Body, m: m}
				resp.Body = &x.resp
			}
			return resp, nil
		}
		h.release(x)
		fault, _ := Classify(req.Context(), err)
		x.fault = fault
		switch {
		case fault == FaultClient:
			return nil, err
		case fault == FaultTimeout && !x.bal.FailOnTimeout:
			health.Count(m)
		case fault.MarksError():
			h.fail(x, m, err)
		default:
			health.Count(m)
		}
		next := h.retryMember(x, req, fault)
		if next == nil {
			return nil, err
		}
		x.tried = append(x.tried, m)
		x.member = next
		x.retries++
	}
}

// fail puts m in error state and logs the transition (once per error
// period, not per request).
func (h *Handler) fail(x *exchange, m *registry.Member, err error) {
	now := h.now().UnixNano()
	wasInError := m.InError(now)
	health.Fail(m, now)
	if !wasInError && m.InError(now) {
		h.log.Warn("member in error state", "balancer", x.bal.Name, "member", m.Name,
			"route", m.Route, "retry", m.Retry, "err", err)
	}
}

// retryMember returns the member for the next attempt after a fault, or nil
// when the request must not or cannot be retried: no attempts left, a
// fault after which resending is unsafe, or no other usable member.
func (h *Handler) retryMember(x *exchange, req *http.Request, fault Fault) *registry.Member {
	if x.retries >= x.bal.EffectiveMaxAttempts() {
		return nil
	}
	switch fault {
	case FaultConnect:
		// Nothing was sent: safe for any method, unless the body was read.
		if x.body != nil && (x.body.n > 0 || x.body.err != nil) {
			return nil
		}
	case FaultReset:
		// The request went out: resend only what is idempotent and has no
		// body to replay (a body may still be read by the failed attempt).
		if x.body != nil || !idempotent(req.Method) {
			return nil
		}
	default:
		return nil
	}
	return h.next(x, append(x.tried, x.member))
}

// setTarget points the outbound request at member m.
func setTarget(req *http.Request, m *registry.Member) {
	req.URL.Host = m.URL.Host
	if m.URL.Scheme == "h2c" {
		req.URL.Scheme = "http"
	} else {
		req.URL.Scheme = m.URL.Scheme
	}
}

// rewrite prepares the outbound request (ReverseProxy's Rewrite hook, which
// runs after hop-by-hop and X-Forwarded-* headers are stripped).
func (h *Handler) rewrite(pr *httputil.ProxyRequest) {
	x := pr.In.Context().Value(exchangeKey{}).(*exchange)
	rt := x.route // nil for MCMP contexts, which forward paths unchanged
	if rt != nil && rt.TargetPath != rt.Path {
		if p, ok := mapPrefix(pr.Out.URL.Path, rt.Path, rt.TargetPath); ok {
			pr.Out.URL.Path = p
		}
		if pr.Out.URL.RawPath != "" {
			if p, ok := mapPrefix(pr.Out.URL.RawPath, rt.Path, rt.TargetPath); ok {
				pr.Out.URL.RawPath = p
			}
		}
	}
	setTarget(pr.Out, x.member)
	// AJP carries the client's host itself, as mod_proxy_ajp does.
	if (rt == nil || !rt.PreserveHost) && x.member.URL.Scheme != "ajp" {
		pr.Out.Host = ""
	}
	// Append to the client's X-Forwarded-For as httpd does; Host and Proto
	// describe this hop.
	if prior := pr.In.Header["X-Forwarded-For"]; prior != nil {
		pr.Out.Header["X-Forwarded-For"] = prior
	}
	pr.SetXForwarded()
}

// transportPool holds one http.Transport per member, keyed by the member's
// Stats (its identity across snapshots). Lookups take no lock.
type transportPool struct {
	m sync.Map // *registry.Stats -> *memberTransport
}

type memberTransport struct {
	settings transportSettings
	rt       roundTripper
}

// roundTripper is what both http.Transport and ajp.Transport are.
type roundTripper interface {
	http.RoundTripper
	CloseIdleConnections()
}

// transportSettings are the member fields a transport is built from; a
// change in any of them builds a new transport.
type transportSettings struct {
	scheme       string
	connTimeout  time.Duration
	timeout      time.Duration
	ttl          time.Duration
	smax         int
	disableReuse bool
	secret       string
	ping         time.Duration
	flushPackets bool
	route        string
}

func settingsOf(m *registry.Member) transportSettings {
	return transportSettings{
		scheme: m.URL.Scheme, connTimeout: m.ConnectionTimeout, timeout: m.Timeout,
		ttl: m.TTL, smax: m.SMax, disableReuse: m.DisableReuse,
		secret: m.Secret, ping: m.Ping, flushPackets: m.FlushPackets, route: m.Route,
	}
}

// get returns the transport for m, building it on first use.
func (p *transportPool) get(m *registry.Member) http.RoundTripper {
	s := settingsOf(m)
	if v, ok := p.m.Load(m.Stats); ok {
		if mt := v.(*memberTransport); mt.settings == s {
			return mt.rt
		}
	}
	mt := &memberTransport{settings: s, rt: newTransport(s)}
	if old, loaded := p.m.Swap(m.Stats, mt); loaded {
		old.(*memberTransport).rt.CloseIdleConnections()
	}
	return mt.rt
}

// newTransport builds a keep-alive transport for one member: AJP13 for
// ajp members, net/http's for the others.
func newTransport(s transportSettings) roundTripper {
	if s.scheme == "ajp" {
		return &ajp.Transport{
			ConnectTimeout: s.connTimeout, ResponseHeaderTimeout: s.timeout, PingTimeout: s.ping,
			Secret: s.secret, Route: s.route, FlushPackets: s.flushPackets,
			MaxIdleConns: max(s.smax, 1), IdleConnTimeout: s.ttl,
		}
	}
	d := &net.Dialer{Timeout: s.connTimeout, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		DialContext:           d.DialContext,
		MaxIdleConnsPerHost:   s.smax,
		IdleConnTimeout:       s.ttl,
		ResponseHeaderTimeout: s.timeout,
		TLSHandshakeTimeout:   s.connTimeout,
		ExpectContinueTimeout: time.Second,
		DisableKeepAlives:     s.disableReuse,
		DisableCompression:    true, // pass Accept-Encoding through untouched
	}
	switch s.scheme {
	case "h2c":
		t.Protocols = new(http.Protocols)
		t.Protocols.SetUnencryptedHTTP2(true)
	case "https":
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		t.ForceAttemptHTTP2 = true
	}
	return t
}

// Run closes the idle connections of members that left the registry until
// ctx is done. It returns nil.
func (h *Handler) Run(ctx context.Context) error {
	for {
		snap := h.store.Load()
		h.pool.prune(snap)
		select {
		case <-ctx.Done():
			return nil
		case <-snap.Superseded():
		}
	}
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
			v.(*memberTransport).rt.CloseIdleConnections()
		}
		return true
	})
}

// CloseIdleConnections closes every idle member connection (at shutdown).
func (h *Handler) CloseIdleConnections() {
	h.pool.m.Range(func(_, v any) bool {
		v.(*memberTransport).rt.CloseIdleConnections()
		return true
	})
}
