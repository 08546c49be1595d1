package admin

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
)

// Guard serves next only for requests whose Host names this listener:
// an IP address, "localhost", the host of listen when it is a name, or
// one of hosts (compared without case, port ignored). Others get 403, so
// a web page whose name an attacker points at 127.0.0.1 (DNS rebinding)
// cannot read the pages and their nonces through a victim's browser.
// Requests that change something (any method but GET, HEAD and OPTIONS,
// or any carrying a nonce) must also not come from a foreign page: their
// Origin, else their Referer, when present, must name this listener too.
//
// Guard does not authenticate: anything that can connect to the listener
// and send an accepted Host can use it. Keep it on loopback or behind
// your own access control.
func Guard(next http.Handler, listen string, hosts []string) http.Handler {
	g := &guard{next: next}
	for _, h := range hosts {
		g.names = append(g.names, strings.ToLower(strings.TrimSuffix(h, ".")))
	}
	if h, _, err := net.SplitHostPort(listen); err == nil && h != "" {
		if _, err := netip.ParseAddr(h); err != nil {
			g.names = append(g.names, strings.ToLower(h))
		}
	}
	return g
}

type guard struct {
	next  http.Handler
	names []string
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !g.accepts(r.Host) {
		http.Error(w, "403 forbidden: Host "+clipHost(r.Host)+" does not name this listener (add it to admin.hosts)", http.StatusForbidden)
		return
	}
	if changes(r) {
		if o := r.Header.Get("Origin"); o != "" && !g.acceptsURL(o) {
			http.Error(w, "403 forbidden: a change from a page of another site (Origin "+clipHost(o)+")", http.StatusForbidden)
			return
		}
		if ref := r.Header.Get("Referer"); r.Header.Get("Origin") == "" && ref != "" && !g.acceptsURL(ref) {
			http.Error(w, "403 forbidden: a change from a page of another site (Referer)", http.StatusForbidden)
			return
		}
	}
	g.next.ServeHTTP(w, r)
}

// changes reports whether r may change something: an unsafe method, or a
// nonce (the balancer-manager's and mod_cluster_manager's change links).
func changes(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return strings.Contains(r.URL.RawQuery, "nonce=")
	}
	return true
}

// accepts reports whether hostport (a Host header) names the listener.
// An empty Host (HTTP/1.0) is no browser's.
func (g *guard) accepts(hostport string) bool {
	if hostport == "" {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return host == "localhost" || slices.Contains(g.names, host)
}

func (g *guard) acceptsURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Host != "" && g.accepts(u.Host)
}

func clipHost(h string) string {
	if len(h) > 100 {
		h = h[:100] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, h)
}
