// Package session finds the sticky route a request carries and the member
// it leads to, as httpd's mod_proxy_balancer does.
//
// A session id such as "8E1F0A.elm" is taken from a path parameter
// (";jsessionid=8E1F0A.elm"), a query parameter ("?jsessionid=...") or a
// cookie ("JSESSIONID=8E1F0A.elm"), the URL winning when both are present.
// The route is the text after the first separator (default "."): Tomcat's
// jvmRoute. Nothing here allocates.
package session

import (
	"net/http"
	"slices"
	"strings"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// Find returns the session id carried by r for balancer b and the route in
// it. The URL's path and query parameters are searched first, then the
// cookies (the other way round when b.StickyCookieFirst, as mod_cluster
// does), for each name in b.StickySession in order; surrounding double
// quotes are stripped. route is empty when there is no id or the id has no
// separator.
func Find(r *http.Request, b *registry.Balancer) (id, route string) {
	if b.StickyCookieFirst {
		if id = fromCookies(r, b); id == "" {
			id = fromURL(r, b)
		}
	} else if id = fromURL(r, b); id == "" {
		id = fromCookies(r, b)
	}
	if id == "" {
		return "", ""
	}
	return id, routeOf(id, b.StickySessionSep)
}

func fromURL(r *http.Request, b *registry.Balancer) string {
	for _, name := range b.StickySession {
		if id := pathParam(r.URL.Path, name); id != "" {
			return id
		}
		if id := queryParam(r.URL.RawQuery, name); id != "" {
			return id
		}
	}
	return ""
}

func fromCookies(r *http.Request, b *registry.Balancer) string {
	for _, name := range b.StickySession {
		if id := cookie(r.Header["Cookie"], name); id != "" {
			return id
		}
	}
	return ""
}

// Strip removes the session id of balancer b from r: the cookies and the
// path and query parameters named in b.StickySession
// (mod_cluster's StickySessionRemove, applied when a sticky request fails
// over outside its domain). It allocates; it runs only on such failovers.
func Strip(r *http.Request, b *registry.Balancer) {
	for _, name := range b.StickySession {
		if lines := r.Header["Cookie"]; lines != nil {
			var kept []string
			for _, line := range lines {
				var parts []string
				for part := range strings.SplitSeq(line, ";") {
					n, _, _ := strings.Cut(strings.TrimSpace(part), "=")
					if strings.TrimSpace(n) != name {
						parts = append(parts, strings.TrimSpace(part))
					}
				}
				if len(parts) > 0 {
					kept = append(kept, strings.Join(parts, "; "))
				}
			}
			if kept == nil {
				r.Header.Del("Cookie")
			} else {
				r.Header["Cookie"] = kept
			}
		}
		r.URL.Path = stripPathParam(r.URL.Path, name)
		if r.URL.RawPath != "" {
			r.URL.RawPath = stripPathParam(r.URL.RawPath, name)
		}
		var q []string
		for kv := range strings.FieldsFuncSeq(r.URL.RawQuery, func(c rune) bool { return c == '&' || c == ';' }) {
			if k, _, _ := strings.Cut(kv, "="); k != name {
				q = append(q, kv)
			}
		}
		r.URL.RawQuery = strings.Join(q, "&")
	}
}

// stripPathParam removes ";name=value" segments from path.
func stripPathParam(path, name string) string {
	for {
		i := strings.Index(path, ";"+name+"=")
		if i < 0 {
			return path
		}
		end := i + 1 + cut(path[i+1:], ";/?")
		path = path[:i] + path[end:]
	}
}

// routeOf returns the text after the first sep in id.
func routeOf(id string, sep byte) string {
	if i := strings.IndexByte(id, sep); i >= 0 {
		return id[i+1:]
	}
	return ""
}

// pathParam returns the value of ";name=value" in path, ending at the next
// ';', '/' or '?'.
func pathParam(path, name string) string {
	for i := strings.IndexByte(path, ';'); i >= 0; {
		rest := path[i+1:]
		if v, ok := strings.CutPrefix(rest, name); ok && strings.HasPrefix(v, "=") {
			return unquote(v[1 : cut(v[1:], ";/?")+1])
		}
		j := strings.IndexByte(rest, ';')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return ""
}

// queryParam returns the raw value of name in a query string whose
// parameters are separated by '&' or ';'.
func queryParam(query, name string) string {
	for query != "" {
		var kv string
		n := cut(query, "&;")
		kv, query = query[:n], query[min(n+1, len(query)):]
		if v, ok := strings.CutPrefix(kv, name); ok && strings.HasPrefix(v, "=") {
			return unquote(v[1:])
		}
	}
	return ""
}

// cookie returns the value of the first cookie called name in the Cookie
// header lines.
func cookie(lines []string, name string) string {
	for _, line := range lines {
		for line != "" {
			var pair string
			n := cut(line, ";")
			pair, line = line[:n], line[min(n+1, len(line)):]
			pair = strings.TrimLeft(pair, " \t")
			if v, ok := strings.CutPrefix(pair, name); ok {
				v = strings.TrimLeft(v, " \t")
				if strings.HasPrefix(v, "=") {
					return unquote(strings.TrimSpace(v[1:]))
				}
			}
		}
	}
	return ""
}

// cut returns the index of the first byte of s in chars, or len(s).
func cut(s, chars string) int {
	if i := strings.IndexAny(s, chars); i >= 0 {
		return i
	}
	return len(s)
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// Resolve returns the member that should serve a request whose session
// route is route, following httpd: the member with that route if it is
// usable at now and not in tried, else the member named by its Redirect
// under the same conditions. known is false when route names no member of
// b; such a route is ignored by the caller. m is nil when the route's
// member and its redirect are both unusable (the caller fails over, or
// answers 503 when the balancer has NoFailover).
func Resolve(b *registry.Balancer, route string, now int64, tried []*registry.Member) (m *registry.Member, known bool) {
	if route == "" {
		return nil, false
	}
	m = b.ByRoute(route)
	if m == nil {
		return nil, false
	}
	if m.Usable(now) && !slices.Contains(tried, m) {
		return m, true
	}
	if m.Redirect == "" {
		return nil, true
	}
	r := b.ByRoute(m.Redirect)
	if r != nil && r.Usable(now) && !slices.Contains(tried, r) {
		return r, true
	}
	return nil, true
}
