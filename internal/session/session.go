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
	"strings"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// Request is what Find reads of a client request. Implementations must not
// allocate; the request path passes its exchange.
type Request interface {
	// SessionPath returns the request path with its path parameters
	// (";jsessionid=…" on their segments), without the query.
	SessionPath() string
	// SessionQuery returns the raw query string, without '?'.
	SessionQuery() string
	// SessionCookie returns the value of the first cookie called name in
	// the request's Cookie header lines ("" when there is none);
	// CookieValue does this for one line.
	SessionCookie(name string) string
}

// Find returns the session id carried by r for balancer b and the route in
// it. The URL's path and query parameters are searched first, then the
// cookies (the other way round when b.StickyCookieFirst, as mod_cluster
// does), for each name in b.StickySession in order; surrounding double
// quotes are stripped. route is empty when there is no id or the id has no
// separator.
func Find(r Request, b *registry.Balancer) (id, route string) {
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

func fromURL(r Request, b *registry.Balancer) string {
	path, query := r.SessionPath(), r.SessionQuery()
	for _, name := range b.StickySession {
		if id := pathParam(path, name); id != "" {
			return id
		}
		if id := queryParam(query, name); id != "" {
			return id
		}
	}
	return ""
}

func fromCookies(r Request, b *registry.Balancer) string {
	for _, name := range b.StickySession {
		if id := r.SessionCookie(name); id != "" {
			return id
		}
	}
	return ""
}

// StripPath removes the ";name=value" path parameters of every name in
// names from path (mod_cluster's StickySessionRemove, applied when a
// sticky request fails over outside its domain). It allocates only when
// something is removed.
func StripPath(path string, names []string) string {
	for _, name := range names {
		path = stripPathParam(path, name)
	}
	return path
}

// StripQuery removes the parameters of every name in names from a raw
// query string whose parameters are separated by '&' or ';'.
func StripQuery(query string, names []string) string {
	var q []string
	changed := false
	for kv := range strings.FieldsFuncSeq(query, func(c rune) bool { return c == '&' || c == ';' }) {
		k, _, _ := strings.Cut(kv, "=")
		if containsString(names, k) {
			changed = true
			continue
		}
		q = append(q, kv)
	}
	if !changed {
		return query
	}
	return strings.Join(q, "&")
}

// StripCookies removes the cookies of every name in names from one Cookie
// header line; it returns "" when none is left.
func StripCookies(line string, names []string) string {
	var parts []string
	for part := range strings.SplitSeq(line, ";") {
		n, _, _ := strings.Cut(strings.TrimSpace(part), "=")
		if !containsString(names, strings.TrimSpace(n)) && strings.TrimSpace(part) != "" {
			parts = append(parts, strings.TrimSpace(part))
		}
	}
	return strings.Join(parts, "; ")
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
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

// CookieValue returns the value of the first cookie called name in one
// Cookie header line ("a=1; JSESSIONID=x.elm"), unquoted; "" when there
// is none. It does not allocate.
func CookieValue(line, name string) string {
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
