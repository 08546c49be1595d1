package proxy

import "net/http"

// PathOptions are the path normalisation settings (httpd's
// MergeSlashes and AllowEncodedSlashes).
type PathOptions struct {
	// KeepSlashes keeps repeated slashes ("/a//b"); by default they are
	// merged into one, as httpd's MergeSlashes On does.
	KeepSlashes bool
	// AllowEncodedSlashes lets "%2F" through, still encoded and not a
	// segment separator (httpd's AllowEncodedSlashes NoDecode); by default
	// a path holding one is answered 404, as httpd does.
	AllowEncodedSlashes bool
}

// normalPath holds the two forms of a normalised request path. Both are
// built in buffers the exchange reuses, so normalising does not allocate.
type normalPath struct {
	// fwd is what is forwarded: the normalised path with its path
	// parameters (";jsessionid=…") kept on their segments.
	fwd []byte
	// match is fwd without any path parameter: what routes and contexts
	// are matched against.
	match []byte
	// segs holds, for each segment written so far, where it starts in fwd
	// and in match, so ".." can remove it.
	segs []segStart
}

type segStart struct{ fwd, match int }

// normalize parses the path of a request-target (origin form: everything
// before '?') into p, as httpd normalises a URL before it maps it, and
// returns 0, or the status to refuse the request with:
//
//   - percent-encoded unreserved characters (ALPHA DIGIT - . _ ~) are
//     decoded; other escapes are kept, in upper case;
//   - "." and ".." segments are resolved (also "%2e" and "%2E%2E", and a
//     dot segment carrying path parameters such as "..;x", which Tomcat
//     takes for ".."); a ".." above the root is refused with 400;
//   - repeated slashes are merged unless opts.KeepSlashes;
//   - "%2F" is refused with 404 unless opts.AllowEncodedSlashes;
//   - a malformed escape, an escaped NUL, or a byte that may not appear in
//     a path (controls, space, '#', non-ASCII) is refused with 400.
//
// The result starts with "/" and has no dot segment; normalising it again
// changes nothing. raw must start with '/'.
func (p *normalPath) normalize(raw []byte, opts PathOptions) int {
	p.fwd, p.match, p.segs = p.fwd[:0], p.match[:0], p.segs[:0]
	if len(raw) == 0 || raw[0] != '/' {
		return http.StatusBadRequest
	}
	i := 1
	for {
		end := i
		for end < len(raw) && raw[end] != '/' {
			end++
		}
		if status := p.segment(raw[i:end], end == len(raw), opts); status != 0 {
			return status
		}
		if end == len(raw) {
			break
		}
		i = end + 1
	}
	if len(p.fwd) == 0 {
		p.fwd = append(p.fwd, '/')
		p.match = append(p.match, '/')
	}
	return 0
}

// segment adds one raw segment (without slashes); last is set for the
// final one, whose emptiness means a trailing slash.
func (p *normalPath) segment(raw []byte, last bool, opts PathOptions) int {
	start := segStart{len(p.fwd), len(p.match)}
	p.fwd = append(p.fwd, '/')
	p.match = append(p.match, '/')
	params := false // past the first raw ';': the rest goes to fwd only
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '%':
			if i+2 >= len(raw) {
				return http.StatusBadRequest
			}
			hi, ok1 := unhex(raw[i+1])
			lo, ok2 := unhex(raw[i+2])
			if !ok1 || !ok2 {
				return http.StatusBadRequest
			}
			v := hi<<4 | lo
			i += 2
			switch {
			case v == 0:
				return http.StatusBadRequest
			case unreserved(v):
				p.put(params, v)
			case v == '/' && !opts.AllowEncodedSlashes:
				return http.StatusNotFound
			default:
				p.put(params, '%', upperHex[v>>4], upperHex[v&15])
			}
		case c == ';':
			params = true
			p.fwd = append(p.fwd, c)
		case !pathByte(c):
			return http.StatusBadRequest
		default:
			p.put(params, c)
		}
	}
	name := p.match[start.match+1:]
	switch {
	case len(name) == 1 && name[0] == '.':
		p.truncate(start)
		if last {
			p.trailingSlash()
		}
	case len(name) == 2 && name[0] == '.' && name[1] == '.':
		p.truncate(start)
		if len(p.segs) == 0 {
			return http.StatusBadRequest // above the root
		}
		p.truncate(p.segs[len(p.segs)-1])
		p.segs = p.segs[:len(p.segs)-1]
		if last {
			p.trailingSlash()
		}
	case len(name) == 0 && !last && !opts.KeepSlashes:
		p.truncate(start) // "//": merged
	default:
		p.segs = append(p.segs, start)
	}
	return 0
}

// put appends bytes to fwd, and to match unless they are path parameters.
func (p *normalPath) put(params bool, b ...byte) {
	p.fwd = append(p.fwd, b...)
	if !params {
		p.match = append(p.match, b...)
	}
}

func (p *normalPath) truncate(s segStart) {
	p.fwd, p.match = p.fwd[:s.fwd], p.match[:s.match]
}

// trailingSlash ends the path with "/" after a final dot segment
// ("/a/b/.." is "/a/").
func (p *normalPath) trailingSlash() {
	p.fwd = append(p.fwd, '/')
	p.match = append(p.match, '/')
}

const upperHex = "0123456789ABCDEF"

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// unreserved reports RFC 3986's unreserved characters, which are the same
// whether escaped or not.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// pathByte reports the bytes a path may hold unescaped: RFC 3986's pchar
// ('/' and '%' are handled by the caller), and also '[', ']', '|', '^',
// '`', '{', '}', '"', '<' and '>', which browsers send and Tomcat accepts.
// Controls, space, '#', '?' (the query), non-ASCII bytes and '\' (a
// separator for some backends, so a way around route rules) are not.
func pathByte(c byte) bool {
	return c > ' ' && c < 0x7f && c != '#' && c != '?' && c != '\\'
}
