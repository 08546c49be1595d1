package convert

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// balancer is one balancer://NAME (or the implicit balancer of a plain
// ProxyPass to a URL).
type balancer struct {
	name    string // as written in the output
	raw     string // as written in httpd's balancer:// URLs
	o       *obj
	members []*member
	sc      *scope
	d       *Directive // where it was first named
	// path is the path every member URL carried (httpd appends it to the
	// request path); barkeep member URLs have none, so the routes to this
	// balancer get it in front of their target_path.
	path string
}

type member struct {
	url  string // scheme://host:port
	path string
	o    *obj
	d    *Directive
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// balancerFor returns the balancer named in a balancer:// URL, creating it
// at d. Names are case-insensitive, as in httpd.
func (c *converter) balancerFor(raw string, d *Directive, sc *scope) (*balancer, string) {
	rest, ok := cutPrefixFold(raw, "balancer://")
	if !ok {
		return nil, ""
	}
	name, path, _ := strings.Cut(rest, "/")
	if path != "" {
		path = "/" + path
	}
	for _, b := range c.balancers {
		if strings.EqualFold(b.raw, name) {
			return b, path
		}
	}
	clean := name
	if !nameRE.MatchString(clean) {
		clean = strings.Map(func(r rune) rune {
			if r < 128 && (r == '.' || r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return r
			}
			return '-'
		}, name)
		clean = strings.TrimLeft(clean, "-._")
		if clean == "" {
			clean = "balancer"
		}
		c.note(d, "balancer name %q has characters barkeep does not allow in names; it is called %q", name, clean)
	}
	for base, i := clean, 2; c.balancerNamed(clean) != nil; i++ {
		clean = base + "-" + strconv.Itoa(i)
	}
	b := &balancer{name: clean, raw: name, o: newObj(d.pos()), sc: sc, d: d}
	b.o.set("name", str(clean))
	c.balancers = append(c.balancers, b)
	return b, path
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// memberURL splits a member URL into barkeep's scheme://host:port and the
// path httpd would append.
func memberURL(raw string) (canon, path string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("%q is not a URL", raw)
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	switch scheme {
	case "http", "h2c":
		port = cmpOr(port, "80")
	case "https":
		port = cmpOr(port, "443")
	case "ajp":
		port = cmpOr(port, "8009")
	case "ws", "wss":
		return "", "", fmt.Errorf("%s:// members: barkeep passes WebSocket upgrades through http:// and https:// members; write the member as %s", scheme, strings.Replace(raw, "ws", "http", 1))
	default:
		return "", "", fmt.Errorf("scheme %q: barkeep's members are http, https, h2c or ajp", u.Scheme)
	}
	if u.Hostname() == "" || u.User != nil {
		return "", "", fmt.Errorf("%q: want scheme://host[:port][/path]", raw)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("%q: port %q is not 1..65535", raw, port)
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port), strings.TrimSuffix(u.Path, "/"), nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// member maps BalancerMember burl murl params.
func (c *converter) member(d *Directive, burl, murl string, params []string, sc *scope) {
	b, _ := c.balancerFor(burl, d, sc)
	if b == nil {
		c.skip(d, "%q is not a balancer:// URL", burl)
		return
	}
	canon, path, err := memberURL(murl)
	if err != nil {
		c.skip(d, "%v", err)
		return
	}
	for _, m := range b.members {
		if m.url == canon {
			c.skip(d, "%s is already a member of balancer %s (%s); barkeep identifies members by scheme, host and port", canon, b.name, m.d.pos())
			return
		}
	}
	m := &member{url: canon, path: path, o: newObj(d.pos()), d: d}
	m.o.set("url", str(canon))
	b.members = append(b.members, m)
	for _, p := range params {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			c.skip(d, "parameter %q is not key=value", p)
			continue
		}
		c.memberParam(d, m.o, strings.ToLower(k), v)
	}
}

// memberParam maps one worker parameter onto o (a member or a template).
func (c *converter) memberParam(d *Directive, o *obj, k, v string) {
	bad := func(why string, args ...any) { c.skip(d, "%s=%s: %s", k, v, fmt.Sprintf(why, args...)) }
	switch k {
	case "route", "redirect":
		if !tokenRE.MatchString(v) {
			bad("a route may not contain spaces, ';', ',' or quotes")
			return
		}
		o.set(k, str(v))
	case "secret":
		o.set(k, str(v))
	case "loadfactor":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 1 || f > 100 {
			bad("want a number 1..100")
			return
		}
		if f != math.Trunc(f) {
			c.note(d, "loadfactor=%s: barkeep's loadfactors are whole numbers; rounded to %d", v, int(math.Round(f)))
		}
		o.set(k, num(int(math.Round(f))))
	case "lbset", "max", "smax":
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || k == "lbset" && n > 99 {
			bad("want a whole number (lbset: 0..99)")
			return
		}
		o.set(k, num(n))
	case "retry", "timeout", "connectiontimeout", "ping", "ttl", "hcinterval":
		dur, err := httpdDuration(v)
		if err != nil {
			bad("%v", err)
			return
		}
		if (k == "timeout" || k == "connectiontimeout") && dur == "0s" {
			bad("0 means httpd's default; barkeep needs a positive timeout")
			return
		}
		if d, _ := time.ParseDuration(dur); k == "hcinterval" && d < 100*time.Millisecond {
			bad("below barkeep's minimum of 100ms")
			return
		}
		o.set(k, str(dur))
	case "status":
		c.status(d, o, v)
	case "flushpackets":
		switch strings.ToLower(v) {
		case "on":
			o.set(k, boolean(true))
		case "off":
			o.set(k, boolean(false))
		case "auto":
			o.set(k, boolean(true))
			c.note(d, "flushpackets=auto: barkeep flushes each packet (as On)")
		default:
			bad("want On, Off or Auto")
		}
	case "disablereuse":
		if b, ok := onOffValue(v); ok {
			o.set(k, boolean(b))
		} else {
			bad("want On or Off")
		}
	case "enablereuse":
		if b, ok := onOffValue(v); ok {
			o.set("disablereuse", boolean(!b))
		} else {
			bad("want On or Off")
		}
	case "hcmethod":
		m := strings.ToUpper(v)
		if base, ok := strings.CutSuffix(m, "11"); ok && (base == "OPTIONS" || base == "HEAD" || base == "GET") {
			c.note(d, "hcmethod=%s: barkeep's HTTP checks use HTTP/1.1 always; written as %s", v, base)
			m = base
		}
		if !slices.Contains([]string{"NONE", "TCP", "OPTIONS", "HEAD", "GET", "CPING"}, m) {
			bad("barkeep checks with NONE, TCP, OPTIONS, HEAD, GET or CPING")
			return
		}
		o.set(k, str(m))
	case "hcuri":
		if v != "*" && !strings.HasPrefix(v, "/") {
			bad("want a path such as /health (or *)")
			return
		}
		o.set(k, str(v))
	case "hcpasses", "hcfails":
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			bad("want a whole number of at least 1")
			return
		}
		o.set(k, num(n))
	case "hctemplate":
		o.set(k, str(v))
	case "hcexpr":
		c.hcExpr(d, o, v)
	case "min":
		bad("barkeep keeps up to smax idle connections and opens more on demand; no minimum")
	case "keepalive":
		bad("TCP keep-alive on member connections is not configurable; barkeep reuses connections for ttl")
	case "flushwait":
		bad("barkeep flushes at once; there is no wait")
	case "iobuffersize", "receivebuffersize", "responsefieldsize":
		bad("buffer sizes are not configurable")
	case "upgrade":
		bad("barkeep passes any WebSocket upgrade through")
	case "acquire":
		bad("a request waits for a member at its max for the balancer's timeout")
	default:
		bad("not a parameter barkeep knows")
	}
}

// status maps status=[+-]FLAGS: + sets the flags that follow, - clears
// them (httpd's set_worker_param).
func (c *converter) status(d *Directive, o *obj, v string) {
	on := true
	flags := ""
	if n := o.vals["status"]; n != nil {
		flags = n.Value
	}
	for _, r := range strings.ToUpper(v) {
		switch r {
		case '+':
			on = true
		case '-':
			on = false
		case 'D', 'S', 'I', 'H', 'N', 'R':
			f := string(r)
			if r == 'R' {
				c.note(d, "status R (hot spare): barkeep has hot standby (H), which takes requests only when no other member of its lbset is usable; written as H")
				f = "H"
			}
			flags = strings.ReplaceAll(flags, f, "")
			if on {
				flags += f
			}
		case 'E', 'C':
			c.skip(d, "status %c: a runtime state (error, failed health check), not a flag barkeep sets at start", r)
		default:
			c.skip(d, "status %c: not a status flag", r)
		}
	}
	if flags == "" {
		o.del("status")
		return
	}
	o.set("status", str(flags))
}

// proxySection maps <Proxy URL> and <ProxyMatch>.
func (c *converter) proxySection(d *Directive, sc *scope) {
	if d.Is("<ProxyMatch") || len(d.Args) != 1 {
		c.skip(d, "only <Proxy balancer://NAME> and <Proxy URL> sections are mapped; name the balancer with <Proxy balancer://NAME>")
		return
	}
	u := d.Args[0]
	if b, _ := c.balancerFor(u, d, sc); b != nil {
		burl := "balancer://" + b.raw
		for _, in := range d.Block {
			switch {
			case in.Is("BalancerMember") && len(in.Args) >= 1:
				c.member(in, burl, in.Args[0], in.Args[1:], sc)
			case in.Is("ProxySet"):
				c.proxySet(in, burl, in.Args, sc)
			default:
				c.access(in, "proxied requests")
			}
		}
		return
	}
	if u == "*" {
		for _, in := range d.Block {
			c.access(in, "proxied requests")
		}
		return
	}
	canon, _, err := memberURL(u)
	if err != nil {
		c.skip(d, "%v", err)
		return
	}
	for _, in := range d.Block {
		if in.Is("ProxySet") {
			c.workers[canon] = append(c.workers[canon], in)
			continue
		}
		c.access(in, "proxied requests")
	}
}

// proxySet maps ProxySet [URL] params: balancer parameters for a
// balancer:// URL, member parameters for a member URL.
func (c *converter) proxySet(d *Directive, u string, params []string, sc *scope) {
	if u == "" {
		if len(params) == 0 || strings.Contains(params[0], "=") {
			c.skip(d, "outside a <Proxy> section ProxySet needs the URL first")
			return
		}
		u, params = params[0], params[1:]
	}
	if b, _ := c.balancerFor(u, d, sc); b != nil {
		for _, p := range params {
			c.balancerParam(d, b, p)
		}
		return
	}
	canon, _, err := memberURL(u)
	if err != nil {
		c.skip(d, "%v", err)
		return
	}
	c.workers[canon] = append(c.workers[canon], &Directive{Name: d.Name, Args: params, File: d.File, Line: d.Line})
}

// balancerParam maps one balancer parameter (ProxySet, or ProxyPass to a
// balancer:// URL).
func (c *converter) balancerParam(d *Directive, b *balancer, p string) {
	k, v, ok := strings.Cut(p, "=")
	if !ok {
		c.skip(d, "parameter %q is not key=value", p)
		return
	}
	k = strings.ToLower(k)
	bad := func(why string, args ...any) { c.skip(d, "%s=%s: %s", k, v, fmt.Sprintf(why, args...)) }
	switch k {
	case "lbmethod":
		switch m := strings.ToLower(v); m {
		case "byrequests", "bytraffic", "bybusyness":
			b.o.set(k, str(m))
		default:
			bad("barkeep balances byrequests, bytraffic, bybusyness or random (heartbeat is not supported); the default byrequests stays")
		}
	case "stickysession":
		var names []string
		for n := range strings.SplitSeq(v, "|") {
			if !tokenRE.MatchString(n) {
				bad("%q is not a cookie name", n)
				return
			}
			names = append(names, n)
		}
		b.o.set(k, strs(names...))
	case "stickysessionsep":
		if len(v) != 1 || v == ";" || v == "=" {
			bad("want one character other than ';' and '='")
			return
		}
		b.o.set(k, str(v))
	case "nofailover", "failontimeout":
		if on, ok := onOffValue(v); ok {
			b.o.set(k, boolean(on))
		} else {
			bad("want On or Off")
		}
	case "maxattempts":
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			bad("want a whole number")
			return
		}
		b.o.set(k, num(n))
	case "timeout":
		dur, err := httpdDuration(v)
		if err != nil {
			bad("%v", err)
			return
		}
		b.o.set(k, str(dur))
	case "failonstatus":
		var codes []string
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); !validStatus(s) {
				bad("%q is not a status code 100..599", s)
				return
			}
			codes = append(codes, s)
		}
		b.o.set(k, strs(codes...))
	case "growth":
		c.note(d, "growth=%s: not needed; members can be added at any time (reload or admin API)", v)
	case "nonce":
		c.note(d, "nonce=%s: barkeep makes its own balancer-manager nonce", v)
	case "scolonpathdelim":
		c.note(d, "scolonpathdelim=%s: barkeep always reads the route from ;jsessionid= path parameters", v)
	case "forcerecovery":
		bad("not configurable: when every member is in error, barkeep waits for the first retry to pass")
	default:
		bad("not a balancer parameter barkeep knows")
	}
}

// hcTemplate maps ProxyHCTemplate NAME params.
func (c *converter) hcTemplate(d *Directive) {
	if len(d.Args) < 1 {
		c.skip(d, "needs a name")
		return
	}
	for _, o := range c.templates {
		if o.vals["name"].Value == d.Args[0] {
			c.skip(d, "template %s is already defined at %s", d.Args[0], o.from)
			return
		}
	}
	if d.Args[0] == "" {
		c.skip(d, "needs a name")
		return
	}
	t := newObj(d.pos())
	t.set("name", str(d.Args[0]))
	for _, p := range d.Args[1:] {
		k, v, ok := strings.Cut(p, "=")
		if k = strings.ToLower(k); !ok || !strings.HasPrefix(k, "hc") || k == "hctemplate" {
			c.skip(d, "parameter %q: a template holds hc* parameters only", p)
			continue
		}
		c.memberParam(d, t, k, v)
	}
	c.templates = append(c.templates, t)
}

var (
	statusMatchRE = regexp.MustCompile(`^%\{REQUEST_STATUS\}\s*=~\s*/\^\[?([0-9-]+)\]?/$`)
	statusCmpRE   = regexp.MustCompile(`^%\{REQUEST_STATUS\}\s*(-lt|<|-le|<=|-eq|==|=)\s*([0-9]{3})$`)
	bodyMatchRE   = regexp.MustCompile(`^hc\('body'\)\s*=~\s*/(.*)/$`)
)

// hcExpr maps hcexpr=NAME through its ProxyHCExpr to barkeep's hcexpr:
// comparisons of %{REQUEST_STATUS} and a match of hc('body'), joined with
// &&.
func (c *converter) hcExpr(d *Directive, o *obj, name string) {
	def := c.hcexprs[name]
	if def == nil {
		c.skip(d, "hcexpr=%s: no ProxyHCExpr %s in the configuration", name, name)
		return
	}
	expr := strings.TrimSpace(strings.Join(def.Args[1:], " "))
	expr = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(expr, "{"), "}"))
	out := newObj("")
	for part := range strings.SplitSeq(expr, "&&") {
		part = strings.TrimSpace(part)
		if m := statusMatchRE.FindStringSubmatch(part); m != nil {
			out.set("status", str(statusClasses(m[1])))
		} else if m := statusCmpRE.FindStringSubmatch(part); m != nil {
			n, _ := strconv.Atoi(m[2])
			switch m[1] {
			case "-lt", "<":
				out.set("status", str(fmt.Sprintf("100-%d", n-1)))
			case "-le", "<=":
				out.set("status", str(fmt.Sprintf("100-%d", n)))
			default:
				out.set("status", str(m[2]))
			}
		} else if m := bodyMatchRE.FindStringSubmatch(part); m != nil && validRegexp(m[1]) {
			out.set("body_regexp", str(m[1]))
		} else {
			c.skip(d, "hcexpr=%s: the expression %q (%s) is not one barkeep can write: it checks status codes, ranges and classes and a body regexp", name, part, def.pos())
			return
		}
	}
	if st := out.vals["status"]; st != nil && !validStatusList(st.Value) {
		c.skip(d, "hcexpr=%s: %q (%s) allows no status within 100..599", name, expr, def.pos())
		return
	}
	o.set("hcexpr", out.node())
}

// statusClasses turns a regexp character class of first digits ("23",
// "2-3") into status classes ("2xx, 3xx").
func statusClasses(class string) string {
	var out []string
	for i := 0; i < len(class); i++ {
		lo, hi := class[i], class[i]
		if i+2 < len(class) && class[i+1] == '-' {
			hi = class[i+2]
			i += 2
		}
		for ch := lo; ch <= hi; ch++ {
			out = append(out, string(ch)+"xx")
		}
	}
	return strings.Join(out, ", ")
}

// finishBalancer applies <Proxy URL>/ProxySet URL worker settings and the
// default timeouts, and moves a path common to all member URLs to the
// routes.
func (c *converter) finishBalancer(b *balancer) {
	paths := map[string]bool{}
	for _, m := range b.members {
		for _, ws := range c.workers[m.url] {
			for _, p := range ws.Args {
				k, v, ok := strings.Cut(p, "=")
				if !ok {
					c.skip(ws, "parameter %q is not key=value", p)
					continue
				}
				c.memberParam(ws, m.o, strings.ToLower(k), v)
			}
		}
		if !m.o.has("timeout") {
			if t := cmpOr(cmpOr(b.sc.proxyTimeout, c.main.proxyTimeout), cmpOr(b.sc.timeout, c.main.timeout)); t != "" {
				m.o.set("timeout", str(t))
			}
		}
		paths[m.path] = true
	}
	c.checkMembers(b)
	if len(paths) == 1 {
		for p := range paths {
			b.path = p
		}
		if b.path != "" {
			c.note(b.members[0].d, "member URLs of balancer %s carry the path %s; barkeep member URLs have none, so the routes to it forward to %s plus their target path", b.name, b.path, b.path)
		}
	} else if len(paths) > 1 {
		for _, m := range b.members {
			if m.path != "" {
				c.skip(m.d, "the path %s of this member URL: members of one balancer with different paths are not supported (barkeep member URLs have no path); the path is dropped", m.path)
			}
		}
	}
}

func (c *converter) balancerNodes() *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode}
	for _, b := range c.balancers {
		var extra []*yaml.Node
		if len(b.members) > 0 {
			ms := &yaml.Node{Kind: yaml.SequenceNode}
			for _, m := range b.members {
				mn := m.o.node()
				mn.HeadComment = "from " + m.o.from
				ms.Content = append(ms.Content, mn)
			}
			extra = append(extra, str("members"), ms)
		}
		bn := b.o.node(extra...)
		bn.HeadComment = "from " + b.o.from
		n.Content = append(n.Content, bn)
	}
	return n
}
