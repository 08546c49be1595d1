// Package admin serves the admin listener: the live console (/), httpd's
// balancer-manager page (with its XML form and its edit forms), the REST
// API v1 (docs/api.md), Prometheus metrics (docs/metrics.md) and a health
// endpoint.
//
// Reads come from registry snapshots. Every change goes through
// registry.Store.Update and is all or nothing, is written to the audit log
// (who, client address, each setting before → after) and, with a state
// file, saved so that it survives a restart (see Diff). Requests whose
// Host does not name the listener, and changes sent from another site's
// page, are refused (see Guard). A balancer-manager change must carry the
// balancer's nonce, which only that page shows; an API change must be
// sent as application/json, which a foreign page cannot do without a CORS
// preflight this listener never approves. With tokens (or client
// certificates) configured, every request but /healthz must authenticate,
// and changes need the operator role; without them anything that can
// connect to the listener can use it, so it binds loopback by default.
package admin

import (
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// Options configures a Handler. The zero value works.
type Options struct {
	// Log receives one line per applied change; default: discard.
	Log *slog.Logger
	// Now returns the current time; default time.Now.
	Now func() time.Time
	// Version is shown on the pages; default "dev".
	Version string
	// Extra mounts more handlers on the admin listener by pattern (cmd adds
	// the mod_cluster_manager page here).
	Extra map[string]http.Handler
	// Pprof serves net/http/pprof under /debug/pprof/.
	Pprof bool
	// Listen is the listener's "host:port"; when its host is a name, that
	// name is accepted as Host (see Guard).
	Listen string
	// Hosts are more names the listener is reached by (admin.hosts); a
	// request with another Host name gets 403 (see Guard).
	Hosts []string
	// Tokens are the accepted bearer tokens (admin.tokens); with any, a
	// request without a valid one gets 401. Default none.
	Tokens []Token
	// CertRole is the role of a client that presents a certificate the
	// listener verified (admin.tls.client_ca); 0: certificates do not
	// authenticate.
	CertRole Role
	// Audit receives one line per change (who, client, action, balancer,
	// member, changes); default Log.
	Audit *slog.Logger
	// StatePath is the state file (admin.state_file) where runtime changes
	// to configured balancers are saved after each change; "" for none.
	StatePath string
	// Baseline returns the configured balancers as the configuration file
	// describes them, without runtime changes; Diff and the state file
	// compare with it. nil: no diff, no state file.
	Baseline func() []*registry.Balancer
	// CanonicalMember turns a member URL given to the API into the
	// member's name (cmd passes the configuration's rule); default
	// "scheme://host:port" as parsed.
	CanonicalMember func(string) (string, error)
	// Explain, if set, answers /api/v1/explain (see ExplainFunc).
	Explain ExplainFunc
	// MCMP, if set, feeds barkeep_mcmp_messages_total.
	MCMP *MessageCounts
	// Replicator, in a cluster of balancers, commits operators' member
	// and context changes to the other balancers; nil (default): this
	// balancer alone.
	Replicator registry.Replicator
}

// Handler serves the admin listener. Safe for concurrent use.
type Handler struct {
	store   *registry.Store
	log     *slog.Logger
	now     func() time.Time
	version string
	key     [32]byte // nonce key, random per process
	mux     *http.ServeMux
	guarded http.Handler // mux behind Guard and auth
	audit   *slog.Logger

	replicator registry.Replicator // nil: this balancer alone

	statePath string
	stateMu   sync.Mutex // serialises state file writes
	baseline  func() []*registry.Balancer
	canon     func(string) (string, error)
	explain   ExplainFunc
	extra     map[string]http.Handler
}

// New returns the admin handler for store.
func New(store *registry.Store, opts Options) *Handler {
	h := &Handler{
		store:   store,
		log:     cmp.Or(opts.Log, slog.New(slog.DiscardHandler)).With("component", "admin"),
		now:     opts.Now,
		version: cmp.Or(opts.Version, "dev"),
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.audit = cmp.Or(opts.Audit, h.log)
	h.replicator = opts.Replicator
	h.statePath, h.baseline, h.canon, h.explain, h.extra = opts.StatePath, opts.Baseline, opts.CanonicalMember, opts.Explain, opts.Extra
	rand.Read(h.key[:])

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{store: store, now: h.now, mcmp: opts.MCMP, version: h.version})

	h.mux = http.NewServeMux()
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	h.mux.HandleFunc("GET /balancer-manager", h.manager)
	h.mux.HandleFunc("POST /balancer-manager", h.manager)
	h.routeAPI()
	h.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if opts.Pprof {
		h.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		h.mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		h.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		h.mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		h.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	for pattern, handler := range opts.Extra {
		h.mux.Handle(pattern, handler)
	}
	h.routeConsole()
	h.guarded = Guard(newAuth(h.mux, opts.Tokens, opts.CertRole), opts.Listen, opts.Hosts)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	h.guarded.ServeHTTP(w, r)
}

// Nonce returns the nonce that authorises changes to the balancer named
// name: an HMAC of the name under a key drawn at process start.
func (h *Handler) Nonce(name string) string {
	m := hmac.New(sha256.New, h.key[:])
	m.Write([]byte(name))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

func (h *Handler) nonceOK(name, nonce string) bool {
	return nonce != "" && subtle.ConstantTimeCompare([]byte(h.Nonce(name)), []byte(nonce)) == 1
}
