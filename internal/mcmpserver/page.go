package mcmpserver

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/mcmp"
)

//go:embed page.html
var pageHTML string

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{"unit": withUnit}).Parse(pageHTML))

// withUnit writes a node's flushwait, ping or ttl with its unit, in the
// largest of s, ms and µs that shows it whole: "10s", "250ms", "1500µs".
// httpd's page prints bare microseconds ("Ping: 10000000"); INFO and DUMP
// keep httpd's numbers for scripts.
func withUnit(d time.Duration) string {
	switch {
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	case d%time.Millisecond == 0:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	}
	return strconv.FormatInt(d.Microseconds(), 10) + "µs"
}

// page is the mod_cluster_manager page: the nodes with their contexts and
// aliases, INFO and DUMP output, and Enable/Disable/Stop links per context,
// node and domain. Like the reference with CheckNonce on, every parameter
// is ignored unless the request carries the page's nonce, which only the
// page itself shows.
type page struct {
	s     *Server
	nonce string
}

func newPage(s *Server) *page {
	var b [16]byte
	rand.Read(b[:])
	return &page{s: s, nonce: fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])}
}

// Nonce returns the nonce the page's links carry.
func (s *Server) Nonce() string { return s.page.nonce }

// parseQuery splits a query as mod_manager does: "k=v" pairs separated by
// '&', URL-unescaped; a pair without '=' is an error.
func parseQuery(raw string) (url.Values, error) {
	v := url.Values{}
	if raw == "" {
		return v, nil
	}
	for kv := range strings.SplitSeq(raw, "&") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("parameter %q has no value", kv)
		}
		k, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(val)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		v.Add(k, val)
	}
	return v, nil
}

func (p *page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		http.Error(w, "400 bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if subtle.ConstantTimeCompare([]byte(q.Get("nonce")), []byte(p.nonce)) != 1 {
		q = url.Values{}
	}
	if n, err := strconv.Atoi(q.Get("refresh")); q.Has("refresh") {
		if err != nil || n < 1 {
			n = 10
		}
		w.Header().Set("Refresh", strconv.Itoa(n))
	}
	xml := strings.Contains(r.Header.Get("Accept"), "text/xml")
	data := pageData{Release: p.s.release, Nonce: p.nonce}
	switch cmd := q.Get("Cmd"); cmd {
	case "":
	case "INFO", "DUMP":
		body, ctype, _ := p.s.simple(mcmp.Method(cmd), xml)
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write([]byte(body))
		return
	case "ENABLE-APP", "DISABLE-APP", "STOP-APP", "REMOVE-APP":
		out, err := p.command(r.Context(), mcmp.Method(cmd), q)
		data.Output = out
		if pe, ok := errors.AsType[*mcmp.ProtocolError](err); ok {
			data.Failed = pe.Mess
			w.Header().Set("Type", string(pe.Type))
			w.Header().Set("Mess", pe.Mess)
		}
	default:
		data.Failed = mcmp.MessUnsupported
	}
	snap := p.s.store.Load()
	data.Balancers = tableOf(snap).Balancers
	data.Groups = groups(snap, p.s.now().UnixNano())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := pageTemplate.Execute(w, data); err != nil {
		p.s.log.Error("render mod_cluster_manager", "err", err)
	}
}

// command runs a page command for Range CONTEXT (JVMRoute, Alias,
// Context), NODE (JVMRoute) or DOMAIN (Domain: every node of the domain).
func (p *page) command(ctx context.Context, cmd mcmp.Method, q url.Values) (string, error) {
	switch q.Get("Range") {
	case "CONTEXT":
		if q.Get("JVMRoute") == "" || q.Get("Alias") == "" || q.Get("Context") == "" {
			return "", &mcmp.ProtocolError{Type: mcmp.TypeSyntax, Mess: mcmp.MessNoContextAlias}
		}
		if pe := mcmp.CheckContext(q.Get("Context")); pe != nil {
			return "", pe
		}
		return p.s.app(ctx, &mcmp.AppRequest{Cmd: cmd, JVMRoute: q.Get("JVMRoute"),
			Aliases: []string{strings.ToLower(q.Get("Alias"))}, Contexts: []string{q.Get("Context")}})
	case "NODE":
		if q.Get("JVMRoute") == "" {
			return "", &mcmp.ProtocolError{Type: mcmp.TypeSyntax, Mess: mcmp.MessRouteEmpty}
		}
		return p.s.app(ctx, &mcmp.AppRequest{Cmd: cmd, NodeWide: true, JVMRoute: q.Get("JVMRoute")})
	case "DOMAIN":
		domain := q.Get("Domain")
		var errs []error
		for _, n := range p.s.store.Load().Nodes() {
			if n.Domain == domain && domain != "" && !n.Removed {
				if _, err := p.s.app(ctx, &mcmp.AppRequest{Cmd: cmd, NodeWide: true, JVMRoute: n.JVMRoute}); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if len(errs) > 0 {
			return "", errs[0]
		}
		return "", nil
	}
	return "", &mcmp.ProtocolError{Type: mcmp.TypeSyntax, Mess: mcmp.MessUnsupported}
}

type pageData struct {
	Release, Nonce string
	Output         string // text answer of a command, shown before the page
	Failed         string
	Balancers      []mcmp.TableBalancer
	Groups         []pageGroup
}

type pageGroup struct {
	Domain string
	Nodes  []pageNode
}

type pageNode struct {
	*registry.Node
	URL    string
	Status string // OK or NOTOK
	Load   int32
	Vhosts []pageVhost
	Flush  string
}

type pageVhost struct {
	ID       int
	Alias    string // the first alias, named in the context links
	Aliases  []string
	Contexts []pageContext
}

type pageContext struct {
	Path, State string
	Requests    int64
}

// groups returns the nodes grouped by domain (nodes without one first).
func groups(snap *registry.Snapshot, now int64) []pageGroup {
	nodes := slices.Clone(snap.Nodes())
	slices.SortStableFunc(nodes, func(a, b *registry.Node) int { return cmp.Compare(a.Domain, b.Domain) })
	var out []pageGroup
	for _, n := range nodes {
		if len(out) == 0 || out[len(out)-1].Domain != n.Domain {
			out = append(out, pageGroup{Domain: n.Domain})
		}
		pn := pageNode{Node: n, URL: n.Member().Name, Status: "OK", Load: n.Stats.Load.Load(), Flush: mcmp.FlushMode(n.FlushPackets).String()}
		if n.Renamed {
			shown := *n
			shown.JVMRoute, shown.Domain = removedName, ""
			pn.Node, pn.Load = &shown, 0
		}
		if n.Removed || n.Stats.Load.Load() < 0 || n.Member().InError(now) {
			pn.Status = "NOTOK"
		}
		var vhosts []int
		for _, h := range n.Hosts {
			if !slices.Contains(vhosts, h.Vhost) {
				vhosts = append(vhosts, h.Vhost)
			}
		}
		for _, c := range n.Contexts {
			if !slices.Contains(vhosts, c.Vhost) {
				vhosts = append(vhosts, c.Vhost)
			}
		}
		slices.Sort(vhosts)
		for _, v := range vhosts {
			pv := pageVhost{ID: v, Aliases: n.Aliases(v)}
			if len(pv.Aliases) > 0 {
				pv.Alias = pv.Aliases[0]
			}
			for _, c := range n.Contexts {
				if c.Vhost == v {
					pv.Contexts = append(pv.Contexts, pageContext{Path: c.Path, State: c.State.String(), Requests: c.Requests.Load()})
				}
			}
			pn.Vhosts = append(pn.Vhosts, pv)
		}
		out[len(out)-1].Nodes = append(out[len(out)-1].Nodes, pn)
	}
	return out
}
