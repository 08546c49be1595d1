package proxy

import (
	"net"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// reverseHeaders are the response headers ProxyPassReverse rewrites.
var reverseHeaders = [...]string{"Location", "Content-Location", "Uri"}

// reverse applies the route's ProxyPassReverse rules to the client's
// response headers. It allocates only for headers it rewrites.
func (x *exchange) reverse(rt *registry.Route) {
	h := &x.resp.Header
	if rt.Reverse {
		for _, name := range reverseHeaders {
			v := h.Peek(name)
			if len(v) == 0 {
				continue
			}
			if nv, ok := reverseURL(string(v), x.hostB, x.tls, x.bal, rt); ok {
				h.Set(name, nv)
			}
		}
	}
	if rt.ReverseCookiePath != "" || rt.ReverseCookieDomain != "" {
		var cookies []string
		for k, v := range h.All() {
			if equalFold(k, "set-cookie") {
				cookies = append(cookies, reverseCookie(string(v), x.bal, rt))
			}
		}
		if cookies != nil {
			h.DelAllCookies()
			for _, c := range cookies {
				h.Add(fasthttp.HeaderSetCookie, c)
			}
		}
	}
}

// reverseURL maps a URL the member produced to the one the client sees
// (httpd's ProxyPassReverse): an absolute URL naming any member of the
// balancer, or a path, whose path lies under the route's TargetPath, is
// moved under the route's Path on the client's scheme and host.
func reverseURL(v string, host []byte, tls bool, b *registry.Balancer, rt *registry.Route) (string, bool) {
	rest, absolute := cutScheme(v)
	if !absolute {
		if !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") {
			return v, false
		}
		mapped, ok := mapPrefix(v, rt.TargetPath, rt.Path)
		return mapped, ok && mapped != v
	}
	mh, path := rest, "/"
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		mh, path = rest[:i], rest[i:]
	}
	if !memberHost(b, mh, v[:len(v)-len(rest)]) {
		return v, false
	}
	mapped, ok := mapPrefix(path, rt.TargetPath, rt.Path)
	if !ok {
		return v, false
	}
	scheme := "http://"
	if tls {
		scheme = "https://"
	}
	return scheme + string(host) + mapped, true
}

// cutScheme strips "http://" or "https://" (any case) from v.
func cutScheme(v string) (string, bool) {
	for _, s := range [...]string{"http://", "https://"} {
		if len(v) >= len(s) && strings.EqualFold(v[:len(s)], s) {
			return v[len(s):], true
		}
	}
	return v, false
}

// memberHost reports whether host (from a URL with the given scheme prefix)
// names a member of b, allowing the default port to be left out.
func memberHost(b *registry.Balancer, host, scheme string) bool {
	for _, mh := range b.MemberHosts() {
		if strings.EqualFold(host, mh) {
			return true
		}
		h, port, err := net.SplitHostPort(mh)
		if err != nil || !strings.EqualFold(host, h) {
			continue
		}
		if port == "80" && strings.EqualFold(scheme, "http://") || port == "443" && strings.EqualFold(scheme, "https://") {
			return true
		}
	}
	return false
}

// mapPrefix replaces the path prefix from with to when p lies under from on
// a boundary ("/a" covers "/a", "/a/x", "/a;x" and "/a?x", not "/ab").
func mapPrefix(p, from, to string) (string, bool) {
	var rest string
	switch {
	case from == "/":
		if !strings.HasPrefix(p, "/") {
			return p, false
		}
		rest = p
	case p == from:
		rest = ""
	case strings.HasPrefix(p, from) && strings.ContainsRune("/;?", rune(p[len(from)])):
		rest = p[len(from):]
	default:
		return p, false
	}
	if to == "/" {
		if rest == "" || rest[0] != '/' {
			return "/" + rest, true
		}
		return rest, true
	}
	return to + rest, true
}

// reverseCookie rewrites the Path and Domain attributes of one Set-Cookie
// value (ProxyPassReverseCookiePath / ProxyPassReverseCookieDomain). Other
// attributes and their order are kept as the member sent them.
func reverseCookie(c string, b *registry.Balancer, rt *registry.Route) string {
	parts := strings.Split(c, ";")
	changed := false
	for i, part := range parts[1:] {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch {
		case rt.ReverseCookiePath != "" && strings.EqualFold(name, "path"):
			if np, ok := mapPrefix(value, rt.TargetPath, rt.ReverseCookiePath); ok && np != value {
				parts[i+1] = " " + name + "=" + np
				changed = true
			}
		case rt.ReverseCookieDomain != "" && strings.EqualFold(name, "domain"):
			d := strings.TrimPrefix(value, ".")
			for _, mh := range b.MemberHosts() {
				if h, _, err := net.SplitHostPort(mh); err == nil && strings.EqualFold(h, d) {
					parts[i+1] = " " + name + "=" + rt.ReverseCookieDomain
					changed = true
					break
				}
			}
		}
	}
	if !changed {
		return c
	}
	return strings.Join(parts, ";")
}
