// Package admin serves the admin listener: the balancer-manager console
// (httpd's page, with its XML form and its edit forms), the JSON API,
// Prometheus metrics and a health endpoint.
//
// Reads come from registry snapshots. Every change goes through
// registry.Store.Update and is all or nothing. A state-changing request
// must carry the balancer's nonce, which only the console page shows: a
// missing or wrong nonce changes nothing and says so (403). Requests whose
// Host does not name the listener, and changes sent from another site's
// page, are refused (see Guard). The listener authenticates nobody:
// anything that can connect to it can use it.
package admin

import (
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/pprof"
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
}

// Handler serves the admin listener. Safe for concurrent use.
type Handler struct {
	store   *registry.Store
	log     *slog.Logger
	now     func() time.Time
	version string
	key     [32]byte // nonce key, random per process
	mux     *http.ServeMux
	guarded http.Handler // mux behind Guard
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
	rand.Read(h.key[:])

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&collector{store: store, now: h.now})

	h.mux = http.NewServeMux()
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	h.mux.HandleFunc("GET /balancer-manager", h.manager)
	h.mux.HandleFunc("POST /balancer-manager", h.manager)
	h.mux.HandleFunc("GET /api/v1/balancers", h.apiBalancers)
	h.mux.HandleFunc("GET /api/v1/balancers/{name}", h.apiBalancer)
	h.mux.HandleFunc("GET /api/v1/nodes", h.apiNodes)
	h.mux.HandleFunc("GET /api/v1/nodes/{route}", h.apiNode)
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
	h.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/balancer-manager", http.StatusFound)
	})
	h.guarded = Guard(h.mux, opts.Listen, opts.Hosts)
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

func (h *Handler) views() []BalancerView {
	snap := h.store.Load()
	now := h.now()
	out := make([]BalancerView, 0, len(snap.Balancers()))
	for _, b := range snap.Balancers() {
		out = append(out, viewOf(snap, b, now))
	}
	return out
}

func (h *Handler) apiBalancers(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"version": h.store.Load().Version, "balancers": h.views()})
}

func (h *Handler) apiBalancer(w http.ResponseWriter, r *http.Request) {
	snap := h.store.Load()
	b := snap.Balancer(r.PathValue("name"))
	if b == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no balancer named " + r.PathValue("name")})
		return
	}
	writeJSON(w, http.StatusOK, viewOf(snap, b, h.now()))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
