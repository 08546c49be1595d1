package convert

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// listenAddr is one Listen directive.
type listenAddr struct {
	addr string // barkeep's host:port (":80" for every address)
	port string
	from string
	tls  bool // Listen 443 https
}

type tlsOut struct {
	from          string
	ports         map[string]bool
	cert, key     string
	minVersion13  bool
	certDirective *Directive
}

func (c *converter) listen(d *Directive) {
	if len(d.Args) < 1 || len(d.Args) > 2 {
		c.skip(d, "want Listen [address:]port [protocol]")
		return
	}
	a := d.Args[0]
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		host, port = "", a
	}
	if why := checkHostPort(host, port); why != "" {
		c.skip(d, "%s", why)
		return
	}
	l := listenAddr{addr: net.JoinHostPort(host, port), port: port, from: d.pos()}
	if len(d.Args) == 2 {
		l.tls = strings.EqualFold(d.Args[1], "https")
		if !l.tls && !strings.EqualFold(d.Args[1], "http") {
			c.skip(d, "protocol %q: barkeep listens for http and https", d.Args[1])
			return
		}
	}
	c.listens = append(c.listens, l)
}

// clientListens are the Listen addresses that are neither the manager's
// nor TLS.
func (c *converter) clientListens() []listenAddr {
	var out []listenAddr
	for _, l := range c.listens {
		if l.tls || c.mgrPorts[l.port] || c.tls != nil && c.tls.ports[l.port] {
			continue
		}
		out = append(out, l)
	}
	return out
}

// vhostAddr turns a <VirtualHost> address into host:port, taking the
// address from the Listen of that port for "*" and "_default_".
func (c *converter) vhostAddr(a string) (addr, port string, ok bool) {
	host, port, err := net.SplitHostPort(a)
	if err != nil || checkHostPort(strings.Trim(host, "*_default"), port) != "" {
		return "", "", false
	}
	if host == "*" || host == "_default_" {
		for _, l := range c.listens {
			if l.port == port {
				return l.addr, port, true
			}
		}
		host = ""
	}
	return net.JoinHostPort(host, port), port, true
}

func hasDirective(ds []*Directive, name string) *Directive {
	for _, d := range ds {
		if d.Is(name) {
			return d
		}
	}
	return nil
}

func (c *converter) virtualHost(d *Directive) {
	sc := &scope{name: strings.Join(d.Args, " ")}
	if e := hasDirective(d.Block, "EnableMCMPReceive"); e != nil && (len(e.Args) == 0 || !strings.EqualFold(e.Args[0], "off")) {
		c.managerVHost(d, sc)
		return
	}
	block := d.Block
	if e := hasDirective(d.Block, "SSLEngine"); e != nil && len(e.Args) == 1 && strings.EqualFold(e.Args[0], "on") {
		block = c.tlsVHost(d)
	}
	before := len(c.routes)
	named := false
	for _, in := range block {
		switch {
		case in.Is("ServerName") || in.Is("ServerAlias"):
			named = true
			c.skip(in, "barkeep routes by path on every listener; name-based virtual hosts are not separated")
		default:
			c.directive(in, sc)
		}
	}
	if named && len(c.routes) > before {
		c.note(d, "the routes of this virtual host are merged with the others: barkeep's routes apply on every listener")
	}
}

// tlsVHost maps a virtual host with SSLEngine on to the TLS listener and
// returns the directives left to map.
func (c *converter) tlsVHost(d *Directive) []*Directive {
	first := c.tls == nil
	if first {
		c.tls = &tlsOut{from: d.pos(), ports: map[string]bool{}}
	}
	for _, a := range d.Args {
		if _, port, ok := c.vhostAddr(a); ok {
			c.tls.ports[port] = true
		}
	}
	var rest []*Directive
	for _, in := range d.Block {
		switch {
		case in.Is("SSLEngine"):
		case in.Is("SSLCertificateFile") && len(in.Args) == 1:
			if c.tls.cert != "" && c.tls.cert != in.Args[0] {
				c.skip(in, "barkeep's TLS listeners share one certificate (%s, from %s)", c.tls.cert, c.tls.certDirective.pos())
				continue
			}
			c.tls.cert, c.tls.certDirective = in.Args[0], in
		case in.Is("SSLCertificateKeyFile") && len(in.Args) == 1:
			if c.tls.key == "" {
				c.tls.key = in.Args[0]
			}
		case in.Is("SSLProtocol"):
			if on := sslProtocols(in.Args); on["tlsv1.3"] && !on["tlsv1.2"] {
				c.tls.minVersion13 = true
			} else {
				c.note(in, "barkeep accepts TLS 1.2 and 1.3 (tls.min_version: 1.2); older protocols are refused")
			}
		case in.Is("SSLCipherSuite") || in.Is("SSLHonorCipherOrder"):
			c.note(in, "barkeep uses Go's TLS cipher suites, which are not configurable")
		case in.Is("SSLCertificateChainFile"):
			c.skip(in, "put the chain after the certificate in the file tls.cert names")
		default:
			rest = append(rest, in)
		}
	}
	return rest
}

func (c *converter) tlsNode() *yaml.Node {
	if c.tls == nil || c.tlsOff {
		return nil
	}
	var listen []string
	for _, l := range c.listens {
		if c.tls.ports[l.port] || l.tls {
			listen = append(listen, l.addr)
		}
	}
	o := newObj("")
	o.set("listen", strs(listen...))
	o.set("cert", str(c.tls.cert))
	o.set("key", str(cmpOr(c.tls.key, c.tls.cert)))
	if c.tls.minVersion13 {
		o.set("min_version", str("1.3"))
	}
	return o.node()
}

// managerVHost maps the <VirtualHost> with EnableMCMPReceive to the manager
// listener: its address, and the networks its Require/Allow lines admit.
func (c *converter) managerVHost(d *Directive, sc *scope) {
	m := c.managerObj(d)
	if c.manager.has("listen") {
		c.skip(d, "a second EnableMCMPReceive virtual host; barkeep has one manager listener")
		return
	}
	if len(d.Args) != 1 {
		c.skip(d, "want one address for the manager listener")
		return
	}
	addr, port, ok := c.vhostAddr(d.Args[0])
	if !ok {
		c.skip(d, "address %q has no port", d.Args[0])
		return
	}
	m.from = d.pos()
	m.set("listen", str(addr))
	c.mgrPorts[port] = true
	for _, in := range d.Block {
		switch {
		case in.Is("EnableMCMPReceive"):
		case in.Is("<Location") || in.Is("<Directory"):
			for _, x := range in.Block {
				switch {
				case x.Is("SetHandler") && len(x.Args) == 1 && strings.EqualFold(x.Args[0], "mod_cluster-manager"):
					c.clusterManagerPage(x, in)
				case c.requireLine(x):
					c.managerAllow(x)
				default:
					c.skip(x, "%s", reasonFor(x))
				}
			}
		case in.Is("KeepAliveTimeout") || in.Is("MaxKeepAliveRequests") || in.Is("KeepAlive"):
			c.note(in, "the manager listener keeps idle worker connections for at least 2 minutes; not configurable")
		case in.Is("ServerName") || in.Is("ServerAlias"):
			c.note(in, "not needed: the manager listener answers any host name")
		default:
			c.directive(in, sc)
		}
	}
	if !m.has("allow") {
		c.note(d, "no Require or Allow lines: httpd admitted every address here; barkeep's manager admits loopback only unless manager.allow lists the workers' networks")
	}
}

func (c *converter) managerObj(d *Directive) *obj {
	if c.manager == nil {
		c.manager = newObj(d.pos())
	}
	return c.manager
}

func (c *converter) clusterManagerPage(x, loc *Directive) {
	where := "/mod_cluster_manager"
	if len(loc.Args) == 1 && loc.Is("<Location") {
		where = loc.Args[0]
	}
	if where != "/mod_cluster_manager" {
		c.note(x, "barkeep serves the mod_cluster_manager page at /mod_cluster_manager (not %s) on the manager and admin listeners", where)
	}
}

// requireLine reports whether d is an access-control line.
func (c *converter) requireLine(d *Directive) bool {
	for _, n := range []string{"Require", "Order", "Allow", "Deny", "Satisfy", "<RequireAny", "<RequireAll", "<RequireNone"} {
		if d.Is(n) {
			return true
		}
	}
	return false
}

// managerAllow maps Require ip/local/all and Allow from to manager.allow.
func (c *converter) managerAllow(d *Directive) {
	m := c.manager
	addAll := func(nets ...string) {
		cur := []string{}
		if n := m.vals["allow"]; n != nil {
			for _, x := range n.Content {
				cur = append(cur, x.Value)
			}
		}
		for _, n := range nets {
			if !slices.Contains(cur, n) {
				cur = append(cur, n)
			}
		}
		m.set("allow", strs(cur...))
	}
	args := d.Args
	switch {
	case d.Is("<RequireAny"):
		for _, x := range d.Block {
			c.managerAllow(x)
		}
		return
	case d.Is("Order") || d.Is("Satisfy") || d.Is("Deny") && len(args) == 2 && strings.EqualFold(args[1], "all"):
		return // the default-deny half of an allow list
	case d.Is("Require") && len(args) >= 2 && strings.EqualFold(args[0], "ip"),
		d.Is("Allow") && len(args) >= 2 && strings.EqualFold(args[0], "from") && !strings.EqualFold(args[1], "all"):
		for _, a := range args[1:] {
			for f := range strings.FieldsSeq(a) {
				if p, ok := cidr(f); ok {
					addAll(p)
				} else {
					c.skip(d, "%q: manager.allow takes IP addresses and networks; host names are not supported", f)
				}
			}
		}
		return
	case d.Is("Require") && len(args) == 1 && strings.EqualFold(args[0], "local"):
		addAll("127.0.0.0/8", "::1/128")
		return
	case d.Is("Require") && len(args) == 2 && strings.EqualFold(args[0], "all") && strings.EqualFold(args[1], "granted"),
		d.Is("Allow") && len(args) == 2 && strings.EqualFold(args[1], "all"):
		addAll("0.0.0.0/0", "::/0")
		c.note(d, "every address may register nodes with the manager; consider listing the workers' networks in manager.allow and manager.tls.client_ca")
		return
	case d.Is("Require") && len(args) == 2 && strings.EqualFold(args[0], "all") && strings.EqualFold(args[1], "denied"):
		m.set("allow", &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle})
		return
	}
	c.skip(d, "the manager listener admits networks (manager.allow) and client certificates (manager.tls.client_ca) only")
}

// cidr reads an httpd address for Require ip / Allow from: a full address,
// a network (a.b.c.d/len or a.b.c.d/mask) or leading IPv4 octets ("10.1").
func cidr(s string) (string, bool) {
	if a, mask, ok := strings.Cut(s, "/"); ok {
		if m, err := netip.ParseAddr(mask); err == nil && m.Is4() {
			b := m.As4()
			bits := 0
			for _, x := range b {
				for x&0x80 != 0 {
					bits++
					x <<= 1
				}
			}
			s = a + "/" + strconv.Itoa(bits)
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return "", false
		}
		return p.Masked().String(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()).String(), true
	}
	parts := strings.Split(strings.TrimSuffix(s, "."), ".")
	if len(parts) < 1 || len(parts) > 3 {
		return "", false
	}
	full := append(parts, make([]string, 4-len(parts))...)
	for i := len(parts); i < 4; i++ {
		full[i] = "0"
	}
	a, err := netip.ParseAddr(strings.Join(full, "."))
	if err != nil {
		return "", false
	}
	return netip.PrefixFrom(a, 8*len(parts)).String(), true
}

// location maps <Location PATH>: ProxyPass and ProxyPassReverse* in their
// one-argument form, the balancer-manager and mod_cluster_manager handlers.
func (c *converter) location(d *Directive, sc *scope) {
	if len(d.Args) != 1 {
		c.skip(d, "want one path")
		return
	}
	path := d.Args[0]
	var requires []string
	handler := ""
	if h := hasDirective(d.Block, "SetHandler"); h != nil && len(h.Args) == 1 {
		handler = strings.ToLower(h.Args[0])
	}
	for _, in := range d.Block {
		switch {
		case in.Is("SetHandler") && handler == "balancer-manager":
			c.balancerManager(in, path)
		case in.Is("SetHandler") && handler == "mod_cluster-manager":
			c.clusterManagerPage(in, d)
		case in.Is("SetHandler") && (handler == "server-status" || handler == "server-info"):
			c.skip(in, "%s: barkeep's state is on the admin listener: /balancer-manager, /api/v1/balancers and Prometheus /metrics", handler)
		case in.Is("ProxyPass"):
			c.proxyPass(in, path, in.Args, sc)
		case in.Is("ProxyPassReverse") || in.Is("ProxyPassReverseCookiePath") || in.Is("ProxyPassReverseCookieDomain"):
			c.reverse(in, path, in.Args, sc)
		case c.requireLine(in) && (handler == "balancer-manager" || handler == "mod_cluster-manager"):
			requires = append(requires, in.Name+" "+strings.Join(in.Args, " ")+" ("+in.pos()+")")
		case c.requireLine(in):
			c.access(in, "the route "+path)
		default:
			c.skip(in, "%s", reasonFor(in))
		}
	}
	if len(requires) > 0 {
		c.notes = append(c.notes, Finding{File: d.File, Line: d.Line, Directive: d.Name,
			Why: "access rules " + strings.Join(requires, "; ") + " are not carried over: the admin listener (admin.listen) binds loopback by default and trusts every client that reaches it; bind it to an internal address only behind a firewall that admits the same clients (docs/security.md)"})
	}
}

func (c *converter) balancerManager(d *Directive, path string) {
	if c.admin == nil {
		c.admin = newObj(d.pos())
		c.admin.set("listen", str("127.0.0.1:8090"))
	}
	if path != "/balancer-manager" {
		c.note(d, "barkeep serves the balancer-manager at /balancer-manager (not %s) on the admin listener", path)
	}
}

// access maps an access-control line on proxied requests: "allow
// everyone" is what barkeep does; anything narrower is left out.
func (c *converter) access(d *Directive, what string) {
	a := strings.ToLower(strings.Join(d.Args, " "))
	switch {
	case d.Is("Require") && a == "all granted", d.Is("Allow") && a == "from all", d.Is("Order"), d.Is("Satisfy"):
		return
	case c.requireLine(d):
		c.skip(d, "access control on %s is not supported: barkeep serves every client of its listeners; filter in front of it", what)
	default:
		c.skip(d, "%s", reasonFor(d))
	}
}

// sslProtocols evaluates an SSLProtocol line: the protocols left enabled.
func sslProtocols(args []string) map[string]bool {
	all := []string{"sslv3", "tlsv1", "tlsv1.1", "tlsv1.2", "tlsv1.3"}
	on := map[string]bool{}
	for _, a := range args {
		a = strings.ToLower(a)
		enable := !strings.HasPrefix(a, "-")
		name := strings.TrimLeft(a, "+-")
		names := []string{name}
		if name == "all" {
			names = all
		}
		for _, n := range names {
			on[n] = enable
		}
	}
	return on
}

// checkHostPort says what is wrong with a listener address, or "".
func checkHostPort(host, port string) string {
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port != strconv.Itoa(n) {
		return fmt.Sprintf("port %q is not 1..65535", port)
	}
	if _, err := netip.ParseAddr(host); host != "" && err != nil && !nameRE.MatchString(host) {
		return fmt.Sprintf("host %q is neither an IP address nor a host name", host)
	}
	return ""
}

// checkTLS leaves out TLS virtual hosts without a certificate: barkeep's
// TLS listeners need one.
func (c *converter) checkTLS() {
	if c.tls == nil || c.tls.cert != "" {
		return
	}
	file, line := c.tls.from, 0
	if i := strings.LastIndexByte(c.tls.from, ':'); i >= 0 {
		file, line = c.tls.from[:i], atoi(c.tls.from[i+1:])
	}
	c.skipped = append(c.skipped, Finding{File: file, Line: line, Directive: "<VirtualHost",
		Why: "SSLEngine on without SSLCertificateFile: no TLS listener (and no plain one on its port)"})
	c.tls.cert = ""
	c.tlsOff = true
}

// checkAdminPort keeps barkeep's default admin listener (127.0.0.1:8090)
// from colliding with a listener httpd had on port 8090: with no
// balancer-manager to carry over, the admin listener is turned off.
func (c *converter) checkAdminPort() {
	if c.admin != nil {
		return
	}
	for _, l := range c.listens {
		if host, _, _ := net.SplitHostPort(l.addr); l.port == "8090" && (host == "" || host == "127.0.0.1" || host == "0.0.0.0") {
			c.admin = newObj(l.from)
			c.admin.set("listen", str(""))
			file, line := l.from, 0
			if i := strings.LastIndexByte(l.from, ':'); i >= 0 {
				file, line = l.from[:i], atoi(l.from[i+1:])
			}
			c.notes = append(c.notes, Finding{File: file, Line: line, Directive: "Listen",
				Why: "port 8090 is barkeep's default admin listener; admin.listen is \"\" (off): set it to a free address for the balancer-manager"})
			return
		}
	}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }
