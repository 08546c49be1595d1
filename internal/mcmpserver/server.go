// Package mcmpserver is the manager listener: it receives MCMP messages
// from mod_cluster workers (WildFly, JBoss EAP, Tomcat with the
// mod_cluster listener), applies them to the registry and answers as
// mod_proxy_cluster does; it also serves the mod_cluster_manager page.
//
// Every message is applied in one registry update: a malformed, oversized
// or conflicting message changes nothing and gets the protocol's error
// answer (HTTP 500 with Type and Mess headers). Only clients from the
// allowed networks are served (403 otherwise); with a client CA configured
// on the listener, only clients with a verified certificate reach it.
package mcmpserver

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/mcmp"
)

// Options configures a Server. Zero values take the defaults noted.
type Options struct {
	// Balancer is used for nodes whose CONFIG names none (httpd's
	// ManagerBalancerName); default "mycluster". Lower-cased.
	Balancer string
	// Allow lists the networks served; others get 403. Default loopback
	// (127.0.0.0/8 and ::1).
	Allow []netip.Prefix
	// LBStatusRecalc is how often the cluster lbmethod's window restarts
	// (LBstatusRecalTime); default 5s.
	LBStatusRecalc time.Duration
	// WaitForRemove is how long a node stays listed after REMOVE-APP "/*"
	// before it is forgotten (WaitBeforeRemove); default 10s.
	WaitForRemove time.Duration
	// MaxMessageSize bounds the body of a message (MaxMCMPMessSize); a
	// longer one is refused with a MEM error (the reference cuts it short
	// and applies the rest). Default
	// 9+64+MaxHost*255+7+MaxContext*80+8 (13188 with default tables), at
	// least 1024.
	MaxMessageSize int
	// MaxNode, MaxHost and MaxContext size the node, host (alias, and
	// balancer) and context tables; a full table gets the reference's MEM
	// or GENERAL answer. Defaults 20, 20 and 100.
	MaxNode, MaxHost, MaxContext int
	// Persist is a file that keeps nodes, aliases and contexts across
	// restarts (PersistSlots); "" keeps nothing.
	Persist string
	// Release is reported by VERSION and the manager page, as
	// "barkeep/<x.y.z>.<Q>" (Q: Final, Dev, AlphaN, BetaN, CRN) for the
	// tools that scrape it; default "barkeep/0.0.0.Dev".
	Release string
	// StopAppWait bounds how long a STOP-APP that finds requests in flight
	// waits for them to end before it answers with the count (see
	// registry.Context.EndRequest); default 500ms, negative: no wait.
	StopAppWait time.Duration
	// Listeners returns the addresses of barkeep's own listeners (client,
	// TLS, admin, manager): a CONFIG whose address reaches one of them is
	// refused. Called for each CONFIG; default none.
	Listeners func() []netip.AddrPort
	// GuardPage wraps the mod_cluster_manager page on the manager listener
	// (cmd passes admin.Guard: only Host names of the listener, changes
	// only from its own pages); default: no wrapping. MCMP messages are
	// not wrapped: workers may address the balancer by any name.
	GuardPage func(http.Handler) http.Handler
	// AllowBackends limits the addresses nodes may register with; the zero
	// value allows any, as mod_cluster does (see ParseBackends).
	AllowBackends Backends
	// Lookup resolves a node's host name when its address must be checked;
	// default net.DefaultResolver.LookupNetIP.
	Lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	// Probe checks a backend for STATUS and PING; default probes with
	// OPTIONS (http, https) or CPING (ajp), as MCMP.md §6.4.
	Probe ProbeFunc
	// Replicator, in a cluster of balancers, commits every change a
	// message makes before it is answered, reports the STATUS messages
	// heard and adds the other balancers' requests in flight to STOP-APP
	// answers; nil (default): this balancer alone.
	Replicator registry.Replicator
	// Log receives registrations and refusals; default discard.
	Log *slog.Logger
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// Server handles MCMP on the manager listener. Safe for concurrent use.
// Run must be running for removed nodes to be forgotten, the cluster
// lbmethod's window to move and the registry to be persisted.
type Server struct {
	store          *registry.Store
	balancer       string
	allow          []netip.Prefix
	recalc         time.Duration
	waitForRemove  time.Duration
	maxMessageSize int
	maxNode        int
	maxHost        int
	maxContext     int
	persist        string
	stopAppWait    time.Duration
	listeners      func() []netip.AddrPort
	guardedPage    http.Handler
	backends       Backends
	lookup         func(ctx context.Context, host string) ([]netip.Addr, error)
	release        string
	probe          ProbeFunc
	replicator     registry.Replicator
	log            *slog.Logger
	now            func() time.Time
	id             int64 // reported in STATUS and PING answers; fixed per process start
	page           *page
	refused        refusals
	restored       uint64 // registry version the persist file held at start; written by Restore before Run
}

// New returns a manager listener handler applying messages to store.
func New(store *registry.Store, opts Options) *Server {
	s := &Server{
		store:         store,
		balancer:      strings.ToLower(cmp.Or(opts.Balancer, "mycluster")),
		allow:         opts.Allow,
		recalc:        cmp.Or(opts.LBStatusRecalc, 5*time.Second),
		waitForRemove: cmp.Or(opts.WaitForRemove, 10*time.Second),
		maxNode:       cmp.Or(opts.MaxNode, 20),
		maxHost:       cmp.Or(opts.MaxHost, 20),
		maxContext:    cmp.Or(opts.MaxContext, 100),
		persist:       opts.Persist,
		stopAppWait:   cmp.Or(opts.StopAppWait, 500*time.Millisecond),
		listeners:     opts.Listeners,
		backends:      opts.AllowBackends,
		lookup:        opts.Lookup,
		release:       cmp.Or(opts.Release, "barkeep/0.0.0.Dev"),
		probe:         opts.Probe,
		replicator:    opts.Replicator,
		log:           cmp.Or(opts.Log, slog.New(slog.DiscardHandler)).With("component", "mcmp"),
		now:           opts.Now,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.allow == nil {
		s.allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	if s.probe == nil {
		s.probe = Probe
	}
	if s.lookup == nil {
		s.lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	s.maxMessageSize = opts.MaxMessageSize
	if s.maxMessageSize == 0 {
		s.maxMessageSize = 9 + 64 + s.maxHost*255 + 7 + s.maxContext*80 + 8
	}
	s.maxMessageSize = max(s.maxMessageSize, 1024)
	s.id = s.now().UnixMicro()
	s.page = newPage(s)
	s.guardedPage = s.page
	if opts.GuardPage != nil {
		s.guardedPage = opts.GuardPage(s.page)
	}
	if s.listeners == nil {
		s.listeners = func() []netip.AddrPort { return nil }
	}
	return s
}

// ServeHTTP answers MCMP methods, the mod_cluster_manager page (GET
// /mod_cluster_manager), 404 for other GETs and 501 for anything else.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.allowed(r.RemoteAddr) {
		http.Error(w, "403 forbidden: "+hostOf(r.RemoteAddr)+" is not allowed to manage this balancer", http.StatusForbidden)
		return
	}
	m, ok := mcmp.ParseMethod(r.Method)
	switch {
	case ok && r.RequestURI == "*":
		// httpd refuses the request-target "*" for every method but
		// OPTIONS before mod_manager sees it; node-wide commands use "/*".
		http.Error(w, "400 Bad Request: request-target * is for OPTIONS only; use /*", http.StatusBadRequest)
	case ok:
		s.serveMCMP(w, r, m)
	case r.Method == http.MethodGet && (r.URL.Path == "/mod_cluster_manager" || r.URL.Path == "/mod_cluster_manager/"):
		s.guardedPage.ServeHTTP(w, r)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		http.NotFound(w, r)
	default:
		w.Header().Set("Allow", "GET, CONFIG, ENABLE-APP, DISABLE-APP, STOP-APP, REMOVE-APP, STATUS, PING, INFO, DUMP, VERSION")
		http.Error(w, r.Method+" not supported for current URL.", http.StatusNotImplemented)
	}
}

// Page returns the mod_cluster_manager page handler, for mounting on the
// admin listener too.
func (s *Server) Page() http.Handler { return s.page }

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

func (s *Server) allowed(remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, p := range s.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// serveMCMP reads, parses, applies and answers one MCMP message.
func (s *Server) serveMCMP(w http.ResponseWriter, r *http.Request, m mcmp.Method) {
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(s.maxMessageSize)+1))
	if err != nil {
		s.refuse(w, r, "", mcmp.CantReadBody(m, err))
		return
	}
	if len(body) > s.maxMessageSize {
		w.Header().Set("Connection", "close") // the rest of the body is not read
		s.refuse(w, r, "", mcmp.TooBig(m, s.maxMessageSize))
		return
	}
	req, err := mcmp.Parse(m, mcmp.NodeWide(r.URL.Path), body)
	if err != nil {
		s.refuse(w, r, "", err)
		return
	}
	xml := strings.Contains(r.Header.Get("Accept"), "text/xml")
	text, ctype, err := s.handle(r.Context(), req, xml)
	if err != nil {
		s.refuse(w, r, routeOf(req), err)
		return
	}
	if ctype != "" {
		w.Header().Set("Content-Type", ctype)
	}
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, text)
}

// routeOf returns the JVMRoute a message is about, or "".
func routeOf(req mcmp.Request) string {
	switch req := req.(type) {
	case *mcmp.ConfigRequest:
		return req.JVMRoute
	case *mcmp.AppRequest:
		return req.JVMRoute
	case *mcmp.StatusRequest:
		return req.JVMRoute
	case *mcmp.PingRequest:
		return req.JVMRoute
	}
	return ""
}

// handle applies one parsed message and returns the answer body and its
// content type ("" for the empty answers of CONFIG and "/*" commands).
func (s *Server) handle(ctx context.Context, req mcmp.Request, xml bool) (body, ctype string, err error) {
	switch req := req.(type) {
	case *mcmp.ConfigRequest:
		if err := s.checkAddress(ctx, req); err != nil {
			return "", "", err
		}
		if err := s.config(ctx, req); err != nil {
			return "", "", err
		}
		s.log.Info("node configured", "route", req.JVMRoute, "balancer", cmp.Or(req.Balancer, s.balancer),
			"member", req.Type+"://"+net.JoinHostPort(strings.Trim(req.Host, "[]"), req.Port), "domain", req.Domain)
		return "", "", nil
	case *mcmp.AppRequest:
		text, err := s.app(ctx, req)
		if err != nil || req.NodeWide {
			return "", "", err
		}
		return text, "text/plain", nil
	case *mcmp.StatusRequest:
		text, err := s.status(ctx, req)
		return text, "text/plain", err
	case *mcmp.PingRequest:
		text, err := s.ping(ctx, req)
		return text, "text/plain", err
	case *mcmp.SimpleRequest:
		return s.simple(req.M, xml)
	}
	return "", "", &mcmp.ProtocolError{Type: mcmp.TypeSyntax, Mess: mcmp.MessUnsupported}
}

func (s *Server) simple(m mcmp.Method, xml bool) (body, ctype string, err error) {
	ctype = "text/plain"
	if xml {
		ctype = "text/xml"
	}
	switch m {
	case mcmp.Info:
		t := s.table()
		if xml {
			return t.InfoXML(), ctype, nil
		}
		return t.Info(), ctype, nil
	case mcmp.Dump:
		t := s.table()
		if xml {
			return t.DumpXML(), ctype, nil
		}
		return t.Dump(), ctype, nil
	}
	return mcmp.VersionResponse(s.release, xml), ctype, nil
}

// ID returns the id sent in STATUS and PING answers: microseconds since
// the epoch at the server's start.
func (s *Server) ID() int64 { return s.id }
