package config

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// validator collects semantic problems with the line of the field they
// concern (or of its closest enclosing field present in the file).
type validator struct {
	c        *Config
	problems []Problem
}

func (v *validator) fail(field, format string, args ...any) {
	line := 0
	for p := field; p != ""; p = parent(p) {
		if l, ok := v.c.pos[p]; ok {
			line = l
			break
		}
	}
	v.problems = append(v.problems, Problem{File: v.c.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// parent strips the last ".key" or "[i]" from a field path.
func parent(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// hostNameRE is a DNS host name: dot-separated labels of letters, digits,
// '-' and '_'.
var hostNameRE = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$`)

// tokenRE is what a cookie name, route or session parameter may contain.
var tokenRE = regexp.MustCompile(`^[!#$%&'*+\-.^_` + "`" + `|~0-9A-Za-z]+$`)

func (c *Config) validate() []Problem {
	v := &validator{c: c}
	if len(c.Listen) == 0 {
		v.fail("listen", "at least one listener is needed")
	}
	for i, addr := range c.Listen {
		v.hostPort(fmt.Sprintf("listen[%d]", i), addr)
	}
	if c.Admin.Listen != "" {
		v.hostPort("admin.listen", c.Admin.Listen)
	}
	for i, h := range c.Admin.Hosts {
		if !hostNameRE.MatchString(h) {
			v.fail(fmt.Sprintf("admin.hosts[%d]", i), "%q is not a host name (no port, no scheme)", h)
		}
	}
	v.admin()
	v.tls()
	v.manager()
	v.cluster()
	if c.Server.MaxHeaderFields < 1 {
		v.fail("server.max_header_fields", "%d: at least 1", c.Server.MaxHeaderFields)
	}
	if c.Server.BodyMinRate < 0 {
		v.fail("server.body_min_rate", "%d: not negative", c.Server.BodyMinRate)
	}
	if c.Server.BufferBody < 0 || c.Server.BufferBody > 16<<20 {
		v.fail("server.buffer_body", "%d: between 0 and 16777216", c.Server.BufferBody)
	}
	if c.Server.HangDetect < 0 || c.Server.BodyTimeout < 0 {
		v.fail("server", "hang_detect and body_timeout must not be negative")
	}
	if c.Server.MaxHeaderBytes < 1024 {
		v.fail("server.max_header_bytes", "%d is too small (at least 1024)", c.Server.MaxHeaderBytes)
	}
	if p := c.AccessLog.Path; p == "" {
		v.fail("access_log.path", `empty path (use "-" for standard output or "off")`)
	}
	tmpl := map[string]bool{}
	for i, t := range c.HCTemplates {
		f := fmt.Sprintf("hctemplates[%d]", i)
		switch {
		case t.Name == "":
			v.fail(f+".name", "every template needs a name")
		case tmpl[t.Name]:
			v.fail(f+".name", "template %q is already defined", t.Name)
		}
		tmpl[t.Name] = true
		if t.HCTemplate != "" {
			v.fail(f+".hctemplate", "templates do not nest")
		}
		k := t.HealthCheckKeys
		k.HCTemplate = ""
		v.checkKeys(f, &k)
	}
	names := map[string]int{}
	for i := range c.Balancers {
		v.balancer(i, names)
	}
	v.routes(names)
	return v.problems
}

func (v *validator) admin() {
	a := &v.c.Admin
	names := map[string]bool{}
	for i, t := range a.Tokens {
		f := fmt.Sprintf("admin.tokens[%d]", i)
		switch {
		case t.Name == "":
			v.fail(f+".name", "every token needs a name (the audit log shows it)")
		case names[t.Name]:
			v.fail(f+".name", "token name %q is already used", t.Name)
		}
		names[t.Name] = true
		if len(t.Token) < 16 {
			v.fail(f+".token", "a token needs at least 16 characters")
		}
		if t.Role != "" && t.Role != "read" && t.Role != "operator" {
			v.fail(f+".role", "%q: want read or operator", t.Role)
		}
	}
	t := &a.TLS
	if t.Cert != "" || t.Key != "" || t.ClientCA != "" {
		for _, f := range []struct{ field, path string }{{"admin.tls.cert", t.Cert}, {"admin.tls.key", t.Key}, {"admin.tls.client_ca", t.ClientCA}} {
			if f.path == "" && f.field != "admin.tls.client_ca" {
				v.fail(f.field, "an HTTPS admin listener needs a certificate and its key")
			} else if f.path != "" {
				if _, err := os.Stat(f.path); err != nil {
					v.fail(f.field, "%v", err)
				}
			}
		}
	}
	if r := t.ClientRole; r != "" && r != "read" && r != "operator" {
		v.fail("admin.tls.client_role", "%q: want read or operator", r)
	}
	if a.StateFile != "" {
		if st, err := os.Stat(filepath.Dir(a.StateFile)); err != nil || !st.IsDir() {
			v.fail("admin.state_file", "directory %s does not exist", filepath.Dir(a.StateFile))
		}
	}
}

func (v *validator) tls() {
	t := &v.c.TLS
	for i, addr := range t.Listen {
		v.hostPort(fmt.Sprintf("tls.listen[%d]", i), addr)
	}
	if t.MinVersion != "1.2" && t.MinVersion != "1.3" {
		v.fail("tls.min_version", "%q: want 1.2 or 1.3", t.MinVersion)
	}
	if len(t.Listen) == 0 {
		return
	}
	for _, f := range []struct{ field, path string }{{"tls.cert", t.Cert}, {"tls.key", t.Key}} {
		if f.path == "" {
			v.fail(f.field, "TLS listeners need a certificate and its key")
		} else if _, err := os.Stat(f.path); err != nil {
			v.fail(f.field, "%v", err)
		}
	}
}

func (v *validator) manager() {
	m := &v.c.Manager
	if m.Listen == "" {
		return
	}
	v.hostPort("manager.listen", m.Listen)
	for i, a := range m.Allow {
		if _, err := netip.ParsePrefix(a); err != nil {
			v.fail(fmt.Sprintf("manager.allow[%d]", i), "%q is not a network in CIDR form such as 10.0.0.0/8", a)
		}
	}
	if (m.TLS.Cert == "") != (m.TLS.Key == "") {
		v.fail("manager.tls", "cert and key go together")
	}
	if m.TLS.ClientCA != "" && m.TLS.Cert == "" {
		v.fail("manager.tls.client_ca", "a client CA needs the listener's own cert and key")
	}
	if !nameRE.MatchString(m.Balancer) || len(m.Balancer) > 39 {
		v.fail("manager.balancer", "%q: up to 39 letters, digits, '.', '_' and '-'", m.Balancer)
	}
	if m.WaitForRemove < 10*time.Second {
		v.fail("manager.wait_for_remove", "%s is below the minimum of 10s", m.WaitForRemove)
	}
	if m.LBStatusRecalc < time.Second {
		v.fail("manager.lbstatus_recalc", "%s is below the minimum of 1s", m.LBStatusRecalc)
	}
	if m.StopAppWait > 10*time.Second {
		v.fail("manager.stop_app_wait", "%s is above the maximum of 10s (the worker's own stop timeout)", m.StopAppWait)
	}
	for i, b := range m.AllowBackends {
		_, perr := netip.ParsePrefix(b)
		_, aerr := netip.ParseAddr(b)
		if perr != nil && aerr != nil && !hostNameRE.MatchString(strings.TrimPrefix(b, "*.")) {
			v.fail(fmt.Sprintf("manager.allow_backends[%d]", i), "%q is not a CIDR, an IP address or a host name (*.example.com for a domain)", b)
		}
	}
	if m.MaxMessageSize != 0 && m.MaxMessageSize < 1024 {
		v.fail("manager.max_message_size", "%d is below the minimum of 1024", m.MaxMessageSize)
	}
	for _, t := range []struct {
		name string
		n    int
	}{{"maxnode", m.MaxNode}, {"maxhost", m.MaxHost}, {"maxcontext", m.MaxContext}} {
		if t.n < 1 || t.n > 100000 {
			v.fail("manager."+t.name, "%d is outside 1..100000", t.n)
		}
	}
	if a := m.Advertise; a != nil {
		v.advertise(a)
	}
	for i, b := range v.c.Balancers {
		if strings.EqualFold(b.Name, m.Balancer) {
			v.fail(fmt.Sprintf("balancers[%d].name", i), "%q is the manager's balancer for MCMP nodes; use another name", b.Name)
		}
	}
}

func (v *validator) advertise(a *Advertise) {
	if a.Group != "" {
		g, err := netip.ParseAddrPort(a.Group)
		if err != nil || !g.Addr().Is4() || !g.Addr().IsMulticast() {
			v.fail("manager.advertise.group", "%q is not an IPv4 multicast ip:port such as 224.0.1.105:23364", a.Group)
		}
	}
	if a.Interval != 0 && a.Interval < 100*time.Millisecond {
		v.fail("manager.advertise.interval", "%s is below the minimum of 100ms", a.Interval)
	}
	if a.ManagerURL != "" && !strings.HasPrefix(a.ManagerURL, "/") {
		v.fail("manager.advertise.manager_url", "%q must start with /", a.ManagerURL)
	}
	if strings.ContainsAny(a.SecurityKey+a.ManagerURL, "\r\n") {
		v.fail("manager.advertise", "security_key and manager_url must be one line")
	}
	if a.Interface != "" && !nameRE.MatchString(a.Interface) {
		v.fail("manager.advertise.interface", "%q is not an interface name", a.Interface)
	}
}

func (v *validator) hostPort(field, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.fail(field, "%q is not host:port (%v)", addr, strings.TrimPrefix(err.Error(), "address "+addr+": "))
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.fail(field, "port %q is not a number in 0..65535", port)
	}
	if host != "" && net.ParseIP(host) == nil && !nameRE.MatchString(host) {
		v.fail(field, "host %q is neither an IP address nor a host name", host)
	}
}

func (v *validator) balancer(i int, names map[string]int) {
	b := &v.c.Balancers[i]
	f := fmt.Sprintf("balancers[%d]", i)
	switch {
	case b.Name == "":
		v.fail(f+".name", "every balancer needs a name")
	case !nameRE.MatchString(b.Name):
		v.fail(f+".name", "%q: use letters, digits, '.', '_' and '-'", b.Name)
	default:
		if first, dup := names[b.Name]; dup {
			v.fail(f+".name", "balancer %q is already defined (balancers[%d])", b.Name, first)
		} else {
			names[b.Name] = i
		}
	}
	for j, s := range b.StickySession {
		if !tokenRE.MatchString(s) {
			v.fail(fmt.Sprintf("%s.stickysession[%d]", f, j), "%q is not a valid cookie name", s)
		}
	}
	if len(b.StickySessionSep) != 1 || b.StickySessionSep == ";" || b.StickySessionSep == "=" {
		v.fail(f+".stickysessionsep", "want exactly one character other than ';' and '=', got %q", b.StickySessionSep)
	}
	if b.MaxAttempts != nil && *b.MaxAttempts < 0 {
		v.fail(f+".maxattempts", "%d is negative", *b.MaxAttempts)
	}
	for j, s := range b.FailOnStatus {
		if _, err := ParseStatusRanges(s); err != nil {
			v.fail(fmt.Sprintf("%s.failonstatus[%d]", f, j), "%v", err)
		}
	}
	v.checkKeys(f, &b.HealthCheckKeys)
	urls := map[string]int{}
	routes := map[string]int{}
	for j := range b.Members {
		v.member(f, j, &b.Members[j], urls, routes)
		mf := fmt.Sprintf("%s.members[%d]", f, j)
		v.checkKeys(mf, &b.Members[j].HealthCheckKeys)
		if chk := v.c.Check(b, &b.Members[j]); chk != nil {
			ajpMember := strings.HasPrefix(strings.ToLower(b.Members[j].URL), "ajp:")
			switch {
			case chk.Method == "CPING" && !ajpMember:
				v.fail(mf+".hcmethod", "CPING checks ajp members only")
			case ajpMember && (chk.Method == "OPTIONS" || chk.Method == "HEAD" || chk.Method == "GET"):
				v.fail(mf+".hcmethod", "%s checks need an http member; use CPING or TCP for ajp", chk.Method)
			}
		}
		if m := b.Members[j]; m.Max < 0 {
			v.fail(mf+".max", "%d is negative", m.Max)
		}
	}
	for j, m := range b.Members {
		if m.Redirect == "" {
			continue
		}
		field := fmt.Sprintf("%s.members[%d].redirect", f, j)
		if m.Redirect == m.Route {
			v.fail(field, "a member cannot redirect to its own route %q", m.Redirect)
		} else if _, ok := routes[m.Redirect]; !ok {
			v.fail(field, "no member of balancer %q has route %q", b.Name, m.Redirect)
		}
	}
}

func (v *validator) member(bf string, j int, m *Member, urls, routes map[string]int) {
	f := fmt.Sprintf("%s.members[%d]", bf, j)
	if name, err := MemberName(m.URL); err != nil {
		v.fail(f+".url", "%v", err)
	} else if first, dup := urls[name]; dup {
		v.fail(f+".url", "%s is already a member (members[%d])", name, first)
	} else {
		urls[name] = j
	}
	if m.Route != "" {
		if !tokenRE.MatchString(m.Route) {
			v.fail(f+".route", "%q: a route may not contain spaces, ';', ',' or quotes", m.Route)
		} else if first, dup := routes[m.Route]; dup {
			v.fail(f+".route", "route %q is already used by members[%d]", m.Route, first)
		} else {
			routes[m.Route] = j
		}
	}
	if m.LoadFactor < 1 || m.LoadFactor > 100 {
		v.fail(f+".loadfactor", "%d is outside 1..100", m.LoadFactor)
	}
	if m.LBSet < 0 || m.LBSet > 99 {
		v.fail(f+".lbset", "%d is outside 0..99", m.LBSet)
	}
	if m.ConnectionTimeout == 0 {
		v.fail(f+".connectiontimeout", "must be more than 0s")
	}
	if m.Timeout == 0 {
		v.fail(f+".timeout", "must be more than 0s")
	}
	if m.SMax < 0 {
		v.fail(f+".smax", "%d is negative", m.SMax)
	}
}

// MemberName checks a member URL and returns its canonical form,
// "scheme://host:port" with the default port filled in.
func MemberName(raw string) (string, error) {
	if raw == "" {
		return "", fmt.Errorf("every member needs a url")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL: %v", raw, err)
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	switch scheme {
	case "http", "h2c":
		port = cmp.Or(port, "80")
	case "https":
		port = cmp.Or(port, "443")
	case "ajp":
		port = cmp.Or(port, "8009")
	default:
		return "", fmt.Errorf("%q: scheme must be http, https, h2c or ajp", raw)
	}
	switch {
	case u.Hostname() == "":
		return "", fmt.Errorf("%q has no host", raw)
	case u.User != nil:
		return "", fmt.Errorf("%q: credentials in member URLs are not supported", raw)
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return "", fmt.Errorf("%q: a member URL has no path or query (map paths with the route's target_path)", raw)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q: port %q is not a number in 1..65535", raw, port)
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port), nil
}

func (v *validator) routes(balancers map[string]int) {
	paths := map[string]int{}
	for i, r := range v.c.Routes {
		f := fmt.Sprintf("routes[%d]", i)
		if !validPath(r.Path) {
			v.fail(f+".path", "%q: want an absolute path such as /bar, without '?', '#' or ';'", r.Path)
		} else if first, dup := paths[CleanPath(r.Path)]; dup {
			v.fail(f+".path", "path %s is already routed (routes[%d])", r.Path, first)
		} else {
			paths[CleanPath(r.Path)] = i
		}
		if !r.Pass {
			if r.Balancer != "" {
				v.fail(f+".balancer", "an exclusion (pass: false) names no balancer")
			}
			continue
		}
		if r.Balancer == "" {
			v.fail(f+".balancer", "a route needs a balancer (or pass: false)")
		} else if _, ok := balancers[r.Balancer]; !ok {
			v.fail(f+".balancer", "no balancer is named %q", r.Balancer)
		}
		if r.TargetPath != "" && !validPath(r.TargetPath) {
			v.fail(f+".target_path", "%q: want an absolute path", r.TargetPath)
		}
		if r.ReverseCookiePath != "" && !validPath(r.ReverseCookiePath) {
			v.fail(f+".reverse_cookie_path", "%q: want an absolute path", r.ReverseCookiePath)
		}
		if d := r.ReverseCookieDomain; d != "" && !nameRE.MatchString(strings.TrimPrefix(d, ".")) {
			v.fail(f+".reverse_cookie_domain", "%q is not a domain name", d)
		}
	}
}

func validPath(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.ContainsAny(p, "?#; \t")
}

// CleanPath drops a trailing slash, except from "/".
func CleanPath(p string) string {
	if c := strings.TrimRight(p, "/"); c != "" {
		return c
	}
	return p
}
