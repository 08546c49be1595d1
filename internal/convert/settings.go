package convert

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// httpdDuration reads an httpd time parameter: a number of seconds, or a
// number with the unit ms, s, mi or h (ap_timeout_parameter_parse), and
// returns barkeep's duration text.
func httpdDuration(v string) (string, error) {
	num, unit := v, "s"
	for _, u := range []string{"ms", "mi", "s", "h"} {
		if n, ok := strings.CutSuffix(strings.ToLower(v), u); ok {
			num, unit = n, u
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > 1<<31 {
		return "", fmt.Errorf("%q is not a time (seconds, or a number with ms, s, mi or h)", v)
	}
	d := map[string]time.Duration{"ms": time.Millisecond, "s": time.Second, "mi": time.Minute, "h": time.Hour}[unit] * time.Duration(n)
	return d.String(), nil
}

// duration reads the one time argument of d.
func (c *converter) duration(d *Directive, args []string) (string, bool) {
	if len(args) != 1 {
		c.skip(d, "want one time value")
		return "", false
	}
	v, err := httpdDuration(args[0])
	if err != nil {
		c.skip(d, "%v", err)
		return "", false
	}
	return v, true
}

func onOffValue(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "on", "1", "yes", "true":
		return true, true
	case "off", "0", "no", "false":
		return false, true
	}
	return false, false
}

func (c *converter) onOff(d *Directive) (bool, bool) {
	if len(d.Args) == 1 {
		if b, ok := onOffValue(d.Args[0]); ok {
			return b, true
		}
	}
	c.skip(d, "want On or Off")
	return false, false
}

// count reads the one whole-number argument of d, within lo..hi.
func (c *converter) count(d *Directive, lo, hi int) (int, bool) {
	if len(d.Args) == 1 {
		if n, err := strconv.Atoi(d.Args[0]); err == nil && n >= lo && n <= hi {
			return n, true
		}
	}
	c.skip(d, "want a whole number %d..%d", lo, hi)
	return 0, false
}

// cluster maps mod_proxy_cluster's and mod_manager's directives; it
// reports whether d was one of them.
func (c *converter) cluster(d *Directive, sc *scope) bool {
	name := strings.ToLower(d.Name)
	switch name {
	case "enablemcmpreceive":
		c.skip(d, "outside a <VirtualHost> of its own: barkeep takes MCMP on a separate manager.listen; put EnableMCMPReceive in a <VirtualHost> on the workers' port")
	case "managerbalancername":
		if len(d.Args) == 1 && (!nameRE.MatchString(d.Args[0]) || len(d.Args[0]) > 39) {
			c.skip(d, "%q: barkeep's balancer names are up to 39 letters, digits, '.', '_' and '-'", d.Args[0])
		} else if len(d.Args) == 1 {
			c.managerObj(d).set("balancer", str(strings.ToLower(d.Args[0])))
		} else {
			c.skip(d, "want one name")
		}
	case "maxnode", "maxhost", "maxcontext":
		if n, ok := c.count(d, 1, 100000); ok {
			c.managerObj(d).set(name, num(n))
		}
	case "maxmcmpmesssize":
		if n, ok := c.count(d, 1024, 1<<20); ok {
			c.managerObj(d).set("max_message_size", num(n))
		}
	case "lbstatusrecaltime":
		if v, ok := c.duration(d, d.Args); ok {
			c.managerObj(d).set("lbstatus_recalc", str(v))
		}
	case "waitbeforeremove":
		if v, ok := c.duration(d, d.Args); ok {
			if dur, _ := time.ParseDuration(v); dur < 10*time.Second {
				c.note(d, "%s is below barkeep's minimum; written as 10s", v)
				v = "10s"
			}
			c.managerObj(d).set("wait_for_remove", str(v))
		}
	case "usealias":
		if v, ok := c.onOff(d); ok {
			c.managerObj(d).set("use_alias", boolean(v))
		}
	case "persistslots":
		if v, ok := c.onOff(d); ok && v {
			c.managerObj(d).set("persist", str("/var/lib/barkeep/manager.json"))
			c.note(d, "nodes, aliases and contexts are kept in manager.persist (/var/lib/barkeep/manager.json, the systemd unit's StateDirectory)")
		}
	case "memmanagerfile":
		c.note(d, "not needed: barkeep keeps its tables in memory (manager.persist keeps them across restarts)")
	case "serveradvertise", "advertisegroup", "advertisefrequency", "advertisesecuritykey", "advertisemanagerurl", "advertisebindaddress":
		c.advertiseDirective(d)
	case "modproxyclusterhctemplate":
		c.skip(d, "barkeep checks MCMP nodes like mod_proxy_cluster's default: CPING for ajp, OPTIONS * otherwise, every 10s; not configurable")
	case "createbalancers":
		c.skip(d, "barkeep creates the balancer each node names in its CONFIG (CreateBalancers 0); not configurable")
	case "enableoptions", "enablewstunnel", "wsupgradeheader":
		c.note(d, "not needed: barkeep probes http nodes with OPTIONS * and passes WebSocket upgrades through")
	case "maxsessionid", "deterministicfailover", "responsefieldsize", "proxyhctemplatesize", "nodetimeout":
		c.skip(d, "not supported by barkeep's manager")
	default:
		return false
	}
	return true
}

// serverSetting maps the core and logging directives barkeep has keys for.
func (c *converter) serverSetting(d *Directive) bool {
	switch strings.ToLower(d.Name) {
	case "keepalivetimeout":
		if v, ok := c.duration(d, d.Args); ok {
			c.server.from = cmpOr(c.server.from, d.pos())
			c.server.set("idle_timeout", str(v))
		}
	case "gracefulshutdowntimeout":
		if v, ok := c.duration(d, d.Args); ok {
			if v == "0s" {
				c.skip(d, "0 (wait for ever): barkeep waits server.shutdown_timeout (30s by default) at most")
				return true
			}
			c.server.from = cmpOr(c.server.from, d.pos())
			c.server.set("shutdown_timeout", str(v))
		}
	case "requestreadtimeout":
		c.requestReadTimeout(d)
	case "loglevel":
		c.logLevelDirective(d)
	case "customlog", "transferlog":
		c.customLog(d)
	default:
		return false
	}
	return true
}

func (c *converter) requestReadTimeout(d *Directive) {
	for _, a := range d.Args {
		k, v, _ := strings.Cut(a, "=")
		if !strings.EqualFold(k, "header") {
			c.skip(d, "%s: barkeep bounds only the time to read request headers (server.read_header_timeout)", a)
			continue
		}
		v, _, _ = strings.Cut(v, ",")
		lo, hi, _ := strings.Cut(v, "-")
		dur, err := httpdDuration(cmpOr(hi, lo))
		if err != nil {
			c.skip(d, "%s: %v", a, err)
			continue
		}
		if dur == "0s" {
			c.skip(d, "%s: barkeep always bounds the time to read request headers", a)
			continue
		}
		c.server.from = cmpOr(c.server.from, d.pos())
		c.server.set("read_header_timeout", str(dur))
		if hi != "" || strings.Contains(a, ",") {
			c.note(d, "%s: barkeep has one fixed limit, written as %s", a, dur)
		}
	}
}

func (c *converter) logLevelDirective(d *Directive) {
	for _, a := range d.Args {
		if strings.Contains(a, ":") {
			c.skip(d, "%s: per-module log levels are not supported", a)
			continue
		}
		lvl := ""
		switch strings.ToLower(a) {
		case "emerg", "alert", "crit", "error":
			lvl = "error"
		case "warn":
			lvl = "warn"
		case "notice", "info":
			lvl = "info"
		case "debug", "trace1", "trace2", "trace3", "trace4", "trace5", "trace6", "trace7", "trace8":
			lvl = "debug"
		default:
			c.skip(d, "%q is not a log level", a)
			continue
		}
		if c.logLevel == nil {
			c.logLevel = newObj(d.pos())
		}
		c.logLevel.set("level", str(lvl))
	}
}

// combinedFormat is Apache's "combined" LogFormat.
const combinedFormat = `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"`

func (c *converter) customLog(d *Directive) {
	if len(d.Args) < 1 {
		c.skip(d, "needs a file")
		return
	}
	if c.accessLog != nil {
		c.skip(d, "barkeep writes one access log (access_log, from %s)", c.accessLog.from)
		return
	}
	path := d.Args[0]
	if path == "" {
		c.skip(d, "needs a file")
		return
	}
	if strings.HasPrefix(path, "|") {
		c.skip(d, "piped logs are not supported: barkeep appends to a file and reopens it on SIGUSR1 (logrotate), or writes to standard output")
		return
	}
	c.accessLog = newObj(d.pos())
	c.accessLog.set("path", str(path))
	c.accessLog.set("format", str("combined"))
	format := "combined"
	if d.Is("CustomLog") && len(d.Args) >= 2 {
		format = d.Args[1]
	}
	if f, ok := c.logFormat[format]; ok {
		format = f
	}
	if format != "combined" && format != combinedFormat {
		c.note(d, "barkeep writes Apache's combined format followed by balancer=, route=, sticky=, attempts= and time_us= (or json); the format %q is not reproduced", format)
	}
	if len(d.Args) > 2 {
		c.skip(d, "%s: conditional logging is not supported", d.Args[2])
	}
}

// advertiseDirective maps mod_advertise's directives to manager.advertise;
// they take effect only with ServerAdvertise On (see finishAdvertise).
func (c *converter) advertiseDirective(d *Directive) {
	if c.advert == nil {
		c.advert = newObj("")
	}
	a := c.advert
	arg := strings.Join(d.Args, " ")
	switch strings.ToLower(d.Name) {
	case "serveradvertise":
		on, ok := onOffValue(strings.Fields(arg + " x")[0])
		if !ok {
			c.skip(d, "want On or Off")
			return
		}
		c.advertOn, c.advertAt = on, d
		if on && len(d.Args) > 1 {
			c.note(d, "barkeep announces its manager listener's address (manager.listen, or the interface's address); %s is not used", d.Args[1])
		}
		return
	case "advertisegroup":
		g, err := netip.ParseAddrPort(arg)
		if err != nil || !g.Addr().Is4() || !g.Addr().IsMulticast() {
			c.skip(d, "%q is not an IPv4 multicast address:port", arg)
			return
		}
		a.set("group", str(arg))
	case "advertisefrequency":
		v, ok := c.duration(d, d.Args)
		if !ok {
			return
		}
		if dur, _ := time.ParseDuration(v); dur < 100*time.Millisecond {
			c.skip(d, "below barkeep's minimum of 100ms")
			return
		}
		a.set("interval", str(v))
	case "advertisesecuritykey":
		if len(d.Args) != 1 {
			c.skip(d, "want one key")
			return
		}
		a.set("security_key", str(d.Args[0]))
	case "advertisemanagerurl":
		if len(d.Args) != 1 || !strings.HasPrefix(d.Args[0], "/") {
			c.skip(d, "want a path starting with /")
			return
		}
		a.set("manager_url", str(d.Args[0]))
	case "advertisebindaddress":
		c.skip(d, "barkeep picks the interface by name: set manager.advertise.interface (default: the system's route to the group)")
		return
	}
	c.advertDirs = append(c.advertDirs, d)
}

// finishAdvertise writes manager.advertise when ServerAdvertise is On and
// reports the advertise settings that then have no effect.
func (c *converter) finishAdvertise() {
	if c.advertOn {
		m := c.managerObj(c.advertAt)
		m.set("advertise", c.advert.node())
		return
	}
	for _, d := range c.advertDirs {
		c.skip(d, "without ServerAdvertise On nothing is advertised")
	}
}
