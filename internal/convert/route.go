package convert

import (
	"regexp/syntax"
	"strings"

	"go.yaml.in/yaml/v3"
)

// route is one ProxyPass (or ProxyPassMatch that is a prefix).
type route struct {
	path   string
	pass   bool
	b      *balancer
	target string // member-side path before the balancer's member path
	o      *obj   // reverse keys and preserve_host
	sc     *scope
	d      *Directive
	inLoc  bool
}

// pendingReverse is a ProxyPassReverse* directive, applied once every
// route is known.
type pendingReverse struct {
	d       *Directive
	locPath string
	args    []string
	sc      *scope
}

// trimSlashes drops the trailing slash httpd configurations often write on
// both sides ("ProxyPass /app/ balancer://b/app/"): barkeep matches path
// prefixes on "/" boundaries anyway.
func trimSlashes(path, target string) (string, string) {
	if len(path) > 1 && strings.HasSuffix(path, "/") {
		path = strings.TrimRight(path, "/")
		target = strings.TrimRight(target, "/")
		if path == "" { // "//": the root
			path = "/"
		}
	}
	if len(target) > 1 {
		target = strings.TrimRight(target, "/")
	}
	if target == "" {
		target = "/"
	}
	return path, target
}

// proxyPass maps "ProxyPass PATH URL|! [params]", or "ProxyPass URL|!
// [params]" inside <Location PATH> (locPath).
func (c *converter) proxyPass(d *Directive, locPath string, args []string, sc *scope) {
	path := locPath
	if path == "" {
		if len(args) < 2 {
			c.skip(d, "needs a path and a URL (or !)")
			return
		}
		path, args = args[0], args[1:]
	} else if len(args) < 1 {
		c.skip(d, "needs a URL (or !)")
		return
	}
	if !validPath(path) {
		c.skip(d, "path %q: barkeep routes absolute paths without '?', '#', ';' or spaces", path)
		return
	}
	u, params := args[0], args[1:]
	if u == "!" {
		p, _ := trimSlashes(path, "")
		c.addRoute(&route{path: p, sc: sc, d: d, o: newObj(""), inLoc: locPath != ""})
		return
	}
	b, target := c.target(d, u, params, sc)
	if b == nil {
		return
	}
	p, t := trimSlashes(path, target)
	if !validPath(t) {
		c.skip(d, "target path %q: want an absolute path without '?', '#', ';' or spaces", t)
		return
	}
	c.addRoute(&route{path: p, pass: true, b: b, target: t, sc: sc, d: d, o: newObj(""), inLoc: locPath != ""})
}

// target resolves a ProxyPass URL to its balancer and member-side path,
// applying the parameters: balancer parameters for balancer://, member
// parameters for a plain URL (which becomes a balancer of one member).
func (c *converter) target(d *Directive, u string, params []string, sc *scope) (*balancer, string) {
	var kv []string
	for _, p := range params {
		switch strings.ToLower(p) {
		case "nocanon":
			c.note(d, "nocanon: barkeep forwards the normalised path")
		case "interpolate":
			c.skip(d, "interpolate: ${...} in ProxyPass URLs at request time is not supported")
		case "noquery":
			c.skip(d, "noquery: barkeep always forwards the query string")
		default:
			if k, _, _ := strings.Cut(strings.ToLower(p), "="); k == "mapping" {
				c.skip(d, "%s: barkeep matches paths as they are (after normalisation)", p)
				continue
			}
			kv = append(kv, p)
		}
	}
	if b, path := c.balancerFor(u, d, sc); b != nil {
		for _, p := range kv {
			c.balancerParam(d, b, p)
		}
		return b, path
	}
	canon, path, err := memberURL(u)
	if err != nil {
		c.skip(d, "%v", err)
		return nil, ""
	}
	name := strings.NewReplacer("://", "-", ":", "-", "[", "", "]", "").Replace(canon)
	b, _ := c.balancerFor("balancer://"+name, d, sc)
	if len(b.members) == 0 {
		c.member(d, "balancer://"+b.raw, canon, kv, sc)
		c.note(d, "%s becomes balancer %s with one member", canon, b.name)
	} else if len(kv) > 0 {
		c.skip(d, "parameters %s: %s already has its parameters from %s", strings.Join(kv, " "), canon, b.members[0].d.pos())
	}
	return b, path
}

// addRoute adds r unless httpd would never use it, and notes where httpd's
// first-match order differs from barkeep's longest prefix.
func (c *converter) addRoute(r *route) {
	for _, o := range c.routes {
		if o.path == r.path {
			c.skip(r.d, "%s is already routed at %s, which httpd uses first", r.path, o.d.pos())
			return
		}
	}
	for _, o := range c.routes {
		if !o.inLoc && !r.inLoc && under(r.path, o.path) {
			c.note(r.d, "httpd tries ProxyPass in order, so %s (%s) took requests for %s before this line; barkeep picks the longest matching path, so this one applies to them", o.path, o.d.pos(), r.path)
			break
		}
	}
	c.routes = append(c.routes, r)
}

// under reports whether path p is prefix or under it, on "/" boundaries.
func under(p, prefix string) bool {
	if prefix == "/" {
		return true
	}
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}

// proxyPassMatch maps ProxyPassMatch REGEX URL when the expression is a
// path prefix followed by a captured rest that the URL appends with $1:
// "^/app(/.*)?$" → balancer://b/app$1, "^(/app/.*)$" → balancer://b$1.
func (c *converter) proxyPassMatch(d *Directive, sc *scope) {
	if len(d.Args) < 2 {
		c.skip(d, "needs a regular expression and a URL (or !)")
		return
	}
	prefix, whole, ok := regexPrefix(d.Args[0])
	if !ok || !strings.HasPrefix(prefix, "/") {
		c.skip(d, "%q is not a path prefix with the rest captured; barkeep routes path prefixes: write one route per prefix", d.Args[0])
		return
	}
	u := d.Args[1]
	if u == "!" {
		c.proxyPass(d, "", []string{prefix, "!"}, sc)
		return
	}
	base, ok := strings.CutSuffix(u, "$1")
	if !ok || strings.Contains(base, "$") {
		c.skip(d, "URL %q: barkeep maps a prefix when the URL ends with $1 and uses no other group", u)
		return
	}
	b, target := c.target(d, base, d.Args[2:], sc)
	if b == nil {
		return
	}
	if whole {
		target = strings.TrimSuffix(target, "/") + prefix
	}
	if !strings.HasSuffix(prefix, "/") {
		c.note(d, "%q also matches %s-something; barkeep's route %s matches only %s and paths under it", d.Args[0], prefix, prefix, prefix)
	}
	p, t := trimSlashes(prefix, target)
	if !validPath(p) || !validPath(t) {
		c.skip(d, "path %q or target %q: want absolute paths without '?', '#', ';' or spaces", p, t)
		return
	}
	c.addRoute(&route{path: p, pass: true, b: b, target: t, sc: sc, d: d, o: newObj("")})
}

// regexPrefix reads "^PREFIX(.*)$", "^PREFIX(/.*)?$" and "^(PREFIX.*)$"
// (the $ optional): the literal prefix, and whether the capture includes it.
func regexPrefix(expr string) (prefix string, whole, ok bool) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil || re.Op != syntax.OpConcat {
		return "", false, false
	}
	subs := re.Sub
	if len(subs) < 2 || subs[0].Op != syntax.OpBeginText {
		return "", false, false
	}
	subs = subs[1:]
	if last := subs[len(subs)-1]; last.Op == syntax.OpEndText {
		subs = subs[:len(subs)-1]
	}
	isRest := func(r *syntax.Regexp) bool {
		return r.Op == syntax.OpStar && (r.Sub[0].Op == syntax.OpAnyCharNotNL || r.Sub[0].Op == syntax.OpAnyChar)
	}
	switch {
	case len(subs) == 2 && subs[0].Op == syntax.OpLiteral && subs[1].Op == syntax.OpCapture && isRest(subs[1].Sub[0]):
		return string(subs[0].Rune), false, true
	case len(subs) == 2 && subs[0].Op == syntax.OpLiteral && subs[1].Op == syntax.OpQuest &&
		subs[1].Sub[0].Op == syntax.OpCapture && subs[1].Sub[0].Sub[0].Op == syntax.OpConcat:
		in := subs[1].Sub[0].Sub[0].Sub
		if len(in) == 2 && in[0].Op == syntax.OpLiteral && string(in[0].Rune) == "/" && isRest(in[1]) {
			return string(subs[0].Rune), false, true
		}
	case len(subs) == 1 && subs[0].Op == syntax.OpCapture && subs[0].Sub[0].Op == syntax.OpConcat:
		in := subs[0].Sub[0].Sub
		if len(in) == 2 && in[0].Op == syntax.OpLiteral && isRest(in[1]) {
			return string(in[0].Rune), true, true
		}
	}
	return "", false, false
}

// finishRoute writes target_path and preserve_host.
func (c *converter) finishRoute(r *route) {
	if !r.pass {
		return
	}
	t := r.target
	if r.b.path != "" {
		t = strings.TrimSuffix(r.b.path+t, "/")
	}
	if t != r.path {
		r.o.set("target_path", str(cmpOr(t, "/")))
	}
	if ph := cmpPtr(r.sc.preserveHost, c.main.preserveHost); ph != nil && *ph {
		r.o.set("preserve_host", boolean(true))
	}
}

func cmpPtr[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}

// effectiveTarget is the member-side path of r.
func (r *route) effectiveTarget() string {
	if n := r.o.vals["target_path"]; n != nil {
		return n.Value
	}
	return r.path
}

// reverse records a ProxyPassReverse* directive for applyReverse.
func (c *converter) reverse(d *Directive, locPath string, args []string, sc *scope) {
	c.reverses = append(c.reverses, pendingReverse{d: d, locPath: locPath, args: args, sc: sc})
}

// applyReverse maps ProxyPassReverse [PATH] URL, ProxyPassReverseCookiePath
// INTERNAL PUBLIC and ProxyPassReverseCookieDomain INTERNAL PUBLIC onto the
// routes they concern.
func (c *converter) applyReverse(p pendingReverse) {
	d, args := p.d, p.args
	switch {
	case d.Is("ProxyPassReverse"):
		path := p.locPath
		if path == "" {
			if len(args) != 2 {
				c.skip(d, "needs a path and a URL")
				return
			}
			path, args = args[0], args[1:]
		} else if len(args) != 1 {
			c.skip(d, "inside <Location> it needs one URL")
			return
		}
		path, _ = trimSlashes(path, "")
		b := c.balancerOfURL(args[0])
		for _, r := range c.routes {
			if r.pass && r.path == path && (b == nil || r.b == b) {
				r.o.set("reverse", boolean(true))
				return
			}
		}
		c.skip(d, "no ProxyPass routes %s to %s; barkeep rewrites response headers per route", path, args[0])
	case len(args) != 2:
		c.skip(d, "needs two arguments: the member's and the client's")
	case d.Is("ProxyPassReverseCookiePath"):
		internal, _ := trimSlashes(args[0], "")
		public, _ := trimSlashes(args[1], "")
		if !validPath(public) {
			c.skip(d, "%q: want an absolute path", public)
			return
		}
		done := false
		for _, r := range c.routes {
			if r.pass && (p.locPath == "" || under(r.path, p.locPath)) && r.effectiveTarget() == internal {
				r.o.set("reverse_cookie_path", str(public))
				done = true
			}
		}
		if !done {
			c.skip(d, "no route forwards to %s; barkeep rewrites cookie paths under a route's target_path", internal)
		}
	default: // ProxyPassReverseCookieDomain
		if !nameRE.MatchString(strings.TrimPrefix(args[1], ".")) {
			c.skip(d, "%q is not a domain name", args[1])
			return
		}
		done := false
		for _, r := range c.routes {
			if r.pass && (p.locPath == "" && r.sc == p.sc || p.locPath != "" && under(r.path, p.locPath)) {
				r.o.set("reverse_cookie_domain", str(args[1]))
				done = true
				if !r.b.hasHost(args[0]) {
					c.note(d, "barkeep rewrites cookie domains that name a member host of the route's balancer; %s is not one of balancer %s's members", args[0], r.b.name)
				}
			}
		}
		if !done {
			c.skip(d, "no route in this scope to apply it to")
		}
	}
}

// balancerOfURL finds the balancer a ProxyPassReverse URL names: a
// balancer:// URL or a member's URL.
func (c *converter) balancerOfURL(u string) *balancer {
	if rest, ok := cutPrefixFold(u, "balancer://"); ok {
		name, _, _ := strings.Cut(rest, "/")
		for _, b := range c.balancers {
			if strings.EqualFold(b.raw, name) {
				return b
			}
		}
		return nil
	}
	canon, _, err := memberURL(u)
	if err != nil {
		return nil
	}
	for _, b := range c.balancers {
		for _, m := range b.members {
			if m.url == canon {
				return b
			}
		}
	}
	return nil
}

func (b *balancer) hasHost(h string) bool {
	h = strings.TrimPrefix(strings.ToLower(h), ".")
	for _, m := range b.members {
		if strings.Contains(m.url, "://"+h+":") {
			return true
		}
	}
	return false
}

func (c *converter) routeNodes() *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode}
	for _, r := range c.routes {
		m := newObj("")
		m.set("path", str(r.path))
		if r.pass {
			m.set("balancer", str(r.b.name))
		} else {
			m.set("pass", boolean(false))
		}
		rn := m.node(r.o.node().Content...)
		rn.HeadComment = "from " + r.d.pos()
		n.Content = append(n.Content, rn)
	}
	return n
}
