package convert

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The checks below keep the output within what "barkeep check-config"
// accepts: what would fail there is reported here, at the httpd line.

// tokenRE is what a cookie name or route may contain (as barkeep's config).
var tokenRE = regexp.MustCompile(`^[!#$%&'*+\-.^_` + "`" + `|~0-9A-Za-z]+$`)

func validStatus(s string) bool {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err1 := strconv.Atoi(lo)
	b, err2 := a, error(nil)
	if isRange {
		b, err2 = strconv.Atoi(hi)
	}
	return err1 == nil && err2 == nil && a >= 100 && b <= 599 && a <= b
}

func validRegexp(s string) bool {
	_, err := regexp.Compile(s)
	return err == nil
}

// validPath is barkeep's rule for route paths.
func validPath(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.ContainsAny(p, "?#; \t\n")
}

func (c *converter) balancerNamed(name string) *balancer {
	for _, b := range c.balancers {
		if b.name == name {
			return b
		}
	}
	return nil
}

func (c *converter) template(name string) *obj {
	for _, t := range c.templates {
		if t.vals["name"].Value == name {
			return t
		}
	}
	return nil
}

// checkMembers drops what barkeep would refuse in a balancer's members:
// repeated routes, redirects to routes that do not exist, unknown
// templates and health-check methods that do not fit the member's scheme.
func (c *converter) checkMembers(b *balancer) {
	routes := map[string]*member{}
	for _, m := range b.members {
		if r := m.o.vals["route"]; r != nil {
			if first := routes[r.Value]; first != nil {
				c.skip(m.d, "route %s is already the route of %s in balancer %s; left out here", r.Value, first.url, b.name)
				m.o.del("route")
				continue
			}
			routes[r.Value] = m
		}
	}
	for _, m := range b.members {
		if r := m.o.vals["redirect"]; r != nil {
			own := m.o.vals["route"]
			if routes[r.Value] == nil || own != nil && own.Value == r.Value {
				c.skip(m.d, "redirect=%s: no other member of balancer %s has that route", r.Value, b.name)
				m.o.del("redirect")
			}
		}
		if t := m.o.vals["hctemplate"]; t != nil && c.template(t.Value) == nil {
			c.skip(m.d, "hctemplate=%s: no ProxyHCTemplate %s", t.Value, t.Value)
			m.o.del("hctemplate")
		}
		method := ""
		if t := m.o.vals["hctemplate"]; t != nil {
			if tm := c.template(t.Value).vals["hcmethod"]; tm != nil {
				method = tm.Value
			}
		}
		if hm := m.o.vals["hcmethod"]; hm != nil {
			method = hm.Value
		}
		ajp := strings.HasPrefix(m.url, "ajp:")
		if method == "CPING" && !ajp || ajp && (method == "GET" || method == "HEAD" || method == "OPTIONS") {
			c.skip(m.d, "hcmethod %s does not fit %s (CPING checks ajp members, GET, HEAD and OPTIONS http ones); no health check", method, m.url)
			m.o.del("hcmethod")
			m.o.del("hctemplate")
		}
	}
}

// checkManager keeps the manager's balancer name valid and apart from the
// configured balancers.
func (c *converter) checkManager() {
	m := c.manager
	if m == nil {
		return
	}
	name := "mycluster"
	if n := m.vals["balancer"]; n != nil {
		name = n.Value
	}
	if v := m.vals["lbstatus_recalc"]; v != nil {
		if d, _ := time.ParseDuration(v.Value); d < time.Second {
			v.Value = "1s"
		}
	}
	if !m.has("listen") {
		return
	}
	for _, b := range c.balancers {
		if strings.EqualFold(b.name, name) {
			old := b.name
			b.name += "-static"
			for c.balancerNamed(b.name) != b {
				b.name += "x"
			}
			b.o.set("name", str(b.name))
			c.note(b.members0(), "balancer %s is also the manager's balancer for MCMP nodes (ManagerBalancerName); the configured one is called %s", old, b.name)
		}
	}
}

// members0 is the directive that defined b's first member, or else b.
func (b *balancer) members0() *Directive {
	if len(b.members) > 0 {
		return b.members[0].d
	}
	return b.d
}

// validStatusList checks a list of codes, ranges and classes ("2xx, 3xx",
// "100-399") as barkeep's hcexpr.status takes them.
func validStatusList(list string) bool {
	items := strings.Split(list, ",")
	for _, it := range items {
		it = strings.TrimSpace(it)
		if len(it) == 3 && strings.HasSuffix(it, "xx") && it[0] >= '1' && it[0] <= '5' {
			continue
		}
		if !validStatus(it) {
			return false
		}
	}
	return len(items) > 0
}
