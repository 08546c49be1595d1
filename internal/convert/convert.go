// Package convert turns an Apache httpd configuration that balances with
// mod_proxy_balancer or mod_proxy_cluster into a barkeep configuration
// file ("barkeep convert httpd.conf > barkeep.yaml").
//
// It reads the configuration the way httpd does (see read.go): Include and
// IncludeOptional with globs relative to ServerRoot, <IfDefine> with the
// -D names given and Define, <IfModule> for the modules the file loads (and
// those compiled into httpd), ${VAR} from Define and the environment,
// <VirtualHost>, comments and line continuations. Then it maps what barkeep
// has an equivalent for (docs/migrating-from-httpd.md lists each
// directive) and reports everything else as a Finding with file:line and
// why. The YAML it writes carries a comment per block naming the line it
// came from, and passes "barkeep check-config".
//
// The package depends on nothing else in barkeep: it writes the file
// format docs/config.md describes, as text.
package convert

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Options tune how the configuration is read. The zero value reads as
// httpd would without -D flags, with ServerRoot the main file's directory.
type Options struct {
	// Defines are httpd's -D names (also "NAME=VALUE", as Define).
	Defines []string
	// ServerRoot is the base of relative Include paths until a ServerRoot
	// directive changes it (httpd's -d); default: the main file's directory.
	ServerRoot string
	// LookupEnv resolves ${VAR}; default os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// Finding is one directive the conversion left out or changed in meaning.
type Finding struct {
	File      string
	Line      int
	Directive string // e.g. "RewriteRule", "<Location"
	Why       string
}

func (f Finding) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", f.File, f.Line, f.Directive, f.Why)
}

// Result is a converted configuration.
type Result struct {
	// YAML is the barkeep configuration file.
	YAML []byte
	// Skipped lists every directive that was not mapped, in file order;
	// "barkeep convert --strict" fails when it is not empty.
	Skipped []Finding
	// Notes lists directives that were mapped with a difference worth
	// knowing, and advice (for example what Require lines become).
	Notes []Finding
}

// File converts the httpd configuration at path. A configuration httpd
// would refuse to start with (an unclosed section, an Include of a missing
// file) returns an *Error with its file and line.
func File(path string, opts Options) (*Result, error) {
	if opts.ServerRoot == "" {
		opts.ServerRoot = filepath.Dir(path)
	}
	c := newConverter()
	r := newReader(opts, &c.notes)
	ds, err := r.readFile(path, 0)
	if err != nil {
		return nil, err
	}
	c.run(ds)
	y, err := c.emit(path)
	if err != nil {
		return nil, err
	}
	return &Result{YAML: y, Skipped: c.skipped, Notes: c.notes}, nil
}

// scope is the main server or one <VirtualHost>: the directives httpd
// merges per virtual host.
type scope struct {
	name         string // "" for the main server
	preserveHost *bool
	proxyTimeout string // duration text
	timeout      string
	cookieDomain string
}

// converter holds what has been mapped so far.
type converter struct {
	skipped, notes []Finding

	main      *scope
	listens   []listenAddr
	tls       *tlsOut
	tlsOff    bool // the TLS virtual hosts had no certificate
	server    *obj
	admin     *obj
	manager   *obj
	mgrAllow  []string
	mgrPorts  map[string]bool // ports of EnableMCMPReceive virtual hosts
	logLevel  *obj
	accessLog *obj
	logFormat map[string]string // LogFormat nickname -> format

	balancers []*balancer
	workers   map[string][]*Directive // <Proxy http://...> ProxySet lines by member URL
	hcexprs   map[string]*Directive   // ProxyHCExpr by name
	templates []*obj
	routes    []*route
	reverses  []pendingReverse

	advert     *obj // manager.advertise
	advertOn   bool
	advertAt   *Directive // the ServerAdvertise line
	advertDirs []*Directive
}

func newConverter() *converter {
	return &converter{
		main: &scope{}, server: newObj(""), mgrPorts: map[string]bool{}, logFormat: map[string]string{},
		workers: map[string][]*Directive{}, hcexprs: map[string]*Directive{},
	}
}

func (c *converter) skip(d *Directive, format string, args ...any) {
	c.skipped = append(c.skipped, Finding{File: d.File, Line: d.Line, Directive: d.Name, Why: fmt.Sprintf(format, args...)})
}

func (c *converter) note(d *Directive, format string, args ...any) {
	c.notes = append(c.notes, Finding{File: d.File, Line: d.Line, Directive: d.Name, Why: fmt.Sprintf(format, args...)})
}

// run maps the directives of the main server, then finishes what depends
// on all of them (timeouts, ProxyPassReverse*, worker settings).
func (c *converter) run(ds []*Directive) {
	c.collect(ds)
	c.walk(ds, c.main)
	c.finish()
}

// collect finds the directives others refer to wherever they are:
// ProxyHCExpr (hcexpr=NAME) and LogFormat nicknames.
func (c *converter) collect(ds []*Directive) {
	for _, d := range ds {
		switch {
		case d.Is("ProxyHCExpr") && len(d.Args) >= 2:
			c.hcexprs[d.Args[0]] = d
		case d.Is("LogFormat") && len(d.Args) == 2:
			c.logFormat[d.Args[1]] = d.Args[0]
		}
		c.collect(d.Block)
	}
}

// walk maps the directives of one scope.
func (c *converter) walk(ds []*Directive, sc *scope) {
	for _, d := range ds {
		c.directive(d, sc)
	}
}

func (c *converter) directive(d *Directive, sc *scope) {
	switch strings.ToLower(d.Name) {
	case "loadmodule", "define", "undefine", "serverroot", "proxyhcexpr", "logformat":
		// Read by the reader or by collect; nothing of their own to map.
	case "listen":
		c.listen(d)
	case "<virtualhost":
		c.virtualHost(d)
	case "<proxy", "<proxymatch":
		c.proxySection(d, sc)
	case "<location":
		c.location(d, sc)
	case "balancermember":
		if len(d.Args) < 2 {
			c.skip(d, "outside <Proxy balancer://NAME> it needs the balancer URL first")
			return
		}
		c.member(d, d.Args[0], d.Args[1], d.Args[2:], sc)
	case "proxyset":
		c.proxySet(d, "", d.Args, sc)
	case "proxypass":
		c.proxyPass(d, "", d.Args, sc)
	case "proxypassmatch":
		c.proxyPassMatch(d, sc)
	case "proxypassreverse", "proxypassreversecookiepath", "proxypassreversecookiedomain":
		c.reverse(d, "", d.Args, sc)
	case "proxypreservehost":
		if v, ok := c.onOff(d); ok {
			sc.preserveHost = &v
		}
	case "proxytimeout":
		if v, ok := c.duration(d, d.Args); ok {
			sc.proxyTimeout = v
		}
	case "timeout":
		if v, ok := c.duration(d, d.Args); ok {
			sc.timeout = v
		}
	case "proxyrequests":
		if len(d.Args) == 1 && strings.EqualFold(d.Args[0], "off") {
			return
		}
		c.skip(d, "barkeep is a reverse proxy only; forward proxying is not supported")
	case "proxyhctemplate":
		c.hcTemplate(d)
	default:
		if c.cluster(d, sc) || c.serverSetting(d) {
			return
		}
		c.skip(d, "%s", reasonFor(d))
	}
}

// finish applies what needed every directive first.
func (c *converter) finish() {
	for _, b := range c.balancers {
		c.finishBalancer(b)
	}
	c.finishAdvertise()
	c.checkManager()
	c.checkTLS()
	c.checkAdminPort()
	for _, r := range c.routes {
		c.finishRoute(r)
	}
	for _, p := range c.reverses {
		c.applyReverse(p)
	}
}
