package admin

import (
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// collector exports the registry's counters, read from the current
// snapshot at scrape time: the request path pays only the atomic adds on
// registry.Stats and registry.BalancerStats, never a metrics call. The
// names are documented in docs/metrics.md.
type collector struct {
	store   *registry.Store
	now     func() time.Time
	mcmp    *MessageCounts
	version string
}

var (
	memberLabels = []string{"balancer", "member", "route"}

	descElected   = prometheus.NewDesc("barkeep_member_requests_total", "Request attempts sent to the member (httpd's Elected).", memberLabels, nil)
	descErrors    = prometheus.NewDesc("barkeep_member_errors_total", "Failed attempts by class: connect, reset, timeout, response, status (failonstatus), unclassified.", append(memberLabels, "class"), nil)
	descRetries   = prometheus.NewDesc("barkeep_member_retries_total", "Times the member was tried again after an error period.", memberLabels, nil)
	descStickyHit = prometheus.NewDesc("barkeep_member_sticky_hits_total", "Requests whose session route named the member and that it answered.", memberLabels, nil)
	descInFlight  = prometheus.NewDesc("barkeep_member_in_flight", "Requests in flight to the member (httpd's Busy).", memberLabels, nil)
	descRead      = prometheus.NewDesc("barkeep_member_read_bytes_total", "Response bytes read from the member (httpd's From).", memberLabels, nil)
	descSent      = prometheus.NewDesc("barkeep_member_transferred_bytes_total", "Request body bytes sent to the member (httpd's To).", memberLabels, nil)
	descLatency   = prometheus.NewDesc("barkeep_member_response_seconds", "Time of attempts that got a response, from choosing the member to the end of its response.", memberLabels, nil)
	descResponses = prometheus.NewDesc("barkeep_member_responses_total", "The member's responses by status class (1xx..5xx).", append(memberLabels, "code"), nil)
	descUsable    = prometheus.NewDesc("barkeep_member_usable", "1 when the member may take requests, 0 when it is in error, disabled, stopped or failing its health check.", memberLabels, nil)
	descState     = prometheus.NewDesc("barkeep_member_state", "1 for the member's current state (ok, standby, draining, hcfail, error, disabled, stopped), 0 for the others.", append(memberLabels, "state"), nil)
	descFactor    = prometheus.NewDesc("barkeep_member_loadfactor", "The member's loadfactor (1..100).", memberLabels, nil)
	descLoad      = prometheus.NewDesc("barkeep_member_load", "The load an MCMP node last reported: -1 broken, 0 standby, 1..100 (MCMP members only).", memberLabels, nil)
	descInState   = prometheus.NewDesc("barkeep_member_status_since_seconds", "When the member's operator flags last changed, as a Unix time.", memberLabels, nil)
	descCheckAt   = prometheus.NewDesc("barkeep_member_check_timestamp_seconds", "When the active health check last ran, as a Unix time (members with a check that ran).", memberLabels, nil)
	descCheckOK   = prometheus.NewDesc("barkeep_member_check_up", "1 when the last active health check passed, 0 when it failed (members with a check that ran).", memberLabels, nil)

	balancerLabels   = []string{"balancer"}
	descStickyHits   = prometheus.NewDesc("barkeep_balancer_sticky_hits_total", "Requests whose session route's member took them.", balancerLabels, nil)
	descStickyMisses = prometheus.NewDesc("barkeep_balancer_sticky_misses_total", "Requests with a session route that did not go to that route's member.", balancerLabels, nil)
	descFailovers    = prometheus.NewDesc("barkeep_balancer_failovers_total", "Requests sent to another member after an attempt failed (one per retry).", balancerLabels, nil)
	descQueued       = prometheus.NewDesc("barkeep_balancer_queued_total", "Requests that waited for a usable member or a free slot.", balancerLabels, nil)
	descUnavailable  = prometheus.NewDesc("barkeep_balancer_unavailable_total", "Requests answered 503 because no member could take them.", balancerLabels, nil)
	descMembers      = prometheus.NewDesc("barkeep_balancer_members", "Members of the balancer.", balancerLabels, nil)

	descNodeContexts = prometheus.NewDesc("barkeep_node_contexts", "Contexts of an MCMP node by state (ENABLED, DISABLED, STOPPED).", []string{"balancer", "node", "state"}, nil)
	descNodeUp       = prometheus.NewDesc("barkeep_node_up", "1 while an MCMP node is registered and not removed.", []string{"balancer", "node"}, nil)
	descMCMP         = prometheus.NewDesc("barkeep_mcmp_messages_total", "MCMP messages received by type (CONFIG, STATUS, ...) and result (ok, syntax, mem, refused, error).", []string{"type", "result"}, nil)

	descVersion = prometheus.NewDesc("barkeep_registry_version", "Version of the registry snapshot; it increases with every change.", nil, nil)
	descBuild   = prometheus.NewDesc("barkeep_build_info", "Always 1; labels say which barkeep this is.", []string{"version", "goversion"}, nil)
)

var allDescs = []*prometheus.Desc{descElected, descErrors, descRetries, descStickyHit, descInFlight, descRead, descSent, descLatency, descResponses,
	descUsable, descState, descFactor, descLoad, descInState, descCheckAt, descCheckOK,
	descStickyHits, descStickyMisses, descFailovers, descQueued, descUnavailable, descMembers,
	descNodeContexts, descNodeUp, descMCMP, descVersion, descBuild}

// memberStates are the values of barkeep_member_state's state label.
var memberStates = []string{"ok", "standby", "draining", "hcfail", "error", "disabled", "stopped"}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	snap := c.store.Load()
	now := c.now()
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	gauge(descVersion, float64(snap.Version))
	gauge(descBuild, 1, c.version, runtime.Version())
	for _, b := range snap.Balancers() {
		bs := b.Stats
		counter(descStickyHits, bs.StickyHits.Load(), b.Name)
		counter(descStickyMisses, bs.StickyMisses.Load(), b.Name)
		counter(descFailovers, bs.Failovers.Load(), b.Name)
		counter(descQueued, bs.Queued.Load(), b.Name)
		counter(descUnavailable, bs.Unavailable.Load(), b.Name)
		gauge(descMembers, float64(len(b.Members)), b.Name)
		for _, m := range b.Members {
			c.collectMember(ch, b, m, now, gauge, counter)
		}
	}
	for _, n := range snap.Nodes() {
		if n.Removed {
			continue
		}
		gauge(descNodeUp, 1, n.Balancer, n.JVMRoute)
		var byState [4]int
		for _, x := range n.Contexts {
			if int(x.State) < len(byState) {
				byState[x.State]++
			}
		}
		for _, s := range []registry.ContextState{registry.ContextEnabled, registry.ContextDisabled, registry.ContextStopped} {
			gauge(descNodeContexts, float64(byState[s]), n.Balancer, n.JVMRoute, s.String())
		}
	}
	if c.mcmp != nil {
		c.mcmp.each(func(typ, result string, n uint64) { counter(descMCMP, n, typ, result) })
	}
}

func (c *collector) collectMember(ch chan<- prometheus.Metric, b *registry.Balancer, m *registry.Member, now time.Time,
	gauge func(*prometheus.Desc, float64, ...string), counter func(*prometheus.Desc, uint64, ...string)) {
	l := []string{b.Name, m.Name, m.Route}
	s := m.Stats
	with := func(extra string) []string { return append(l[:3:3], extra) }
	counter(descElected, s.Elected.Load(), l...)
	var classified uint64
	for _, cl := range registry.ErrorClasses() {
		n := s.ErrorsByClass.Get(cl)
		classified += n
		counter(descErrors, n, with(cl.String())...)
	}
	// Errors counted before the request path classified them.
	counter(descErrors, s.Errors.Load()-min(classified, s.Errors.Load()), with("unclassified")...)
	counter(descRetries, s.Retries.Load(), l...)
	counter(descStickyHit, s.StickyHits.Load(), l...)
	gauge(descInFlight, float64(s.Busy.Load()), l...)
	counter(descRead, s.Read.Load(), l...)
	counter(descSent, s.Transferred.Load(), l...)
	cum, count, sum := s.Latency.Read()
	buckets := make(map[float64]uint64, len(cum))
	for i, bound := range registry.LatencyBounds {
		buckets[bound] = cum[i]
	}
	ch <- prometheus.MustNewConstHistogram(descLatency, count, sum, buckets, l...)
	for k := 1; k <= 5; k++ {
		counter(descResponses, s.Responses.Class(k), with(strconv.Itoa(k)+"xx")...)
	}
	usable := 0.0
	if m.Usable(now.UnixNano()) {
		usable = 1
	}
	gauge(descUsable, usable, l...)
	state := stateWord(m, now)
	for _, st := range memberStates {
		v := 0.0
		if st == state {
			v = 1
		}
		gauge(descState, v, with(st)...)
	}
	gauge(descFactor, float64(m.LoadFactor), l...)
	if b.Source == registry.SourceMCMP {
		gauge(descLoad, float64(s.Load.Load()), l...)
	}
	if !m.StatusSince.IsZero() {
		gauge(descInState, float64(m.StatusSince.UnixNano())/1e9, l...)
	}
	if t := s.CheckedAt.Load(); t != 0 {
		gauge(descCheckAt, float64(t)/1e9, l...)
		up := 1.0
		if s.CheckFailed.Load() {
			up = 0
		}
		gauge(descCheckOK, up, l...)
	}
}

// MessageCounts counts MCMP messages by type and result for
// barkeep_mcmp_messages_total. Safe for concurrent use; the zero value is
// ready. cmd wraps the manager listener's handler with Wrap.
type MessageCounts struct {
	m sync.Map // "TYPE result" -> *atomic.Uint64
}

// Wrap counts every request next answers whose method isMCMP accepts:
// result "ok" for a 2xx answer, the MCMP error type in lower case
// ("syntax", "mem") when the answer carries one, "refused" for 403, else
// "error".
func (c *MessageCounts) Wrap(next http.Handler, isMCMP func(method string) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isMCMP(r.Method) {
			next.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		result := "error"
		switch t := strings.ToLower(w.Header().Get("Type")); {
		case rec.status/100 == 2:
			result = "ok"
		case t == "syntax" || t == "mem":
			result = t
		case rec.status == http.StatusForbidden:
			result = "refused"
		}
		c.Add(r.Method, result)
	})
}

// Add counts one message of type typ with result.
func (c *MessageCounts) Add(typ, result string) {
	k := typ + " " + result
	v, ok := c.m.Load(k)
	if !ok {
		v, _ = c.m.LoadOrStore(k, new(atomic.Uint64))
	}
	v.(*atomic.Uint64).Add(1)
}

// each calls fn for every type and result seen, in a fixed order.
func (c *MessageCounts) each(fn func(typ, result string, n uint64)) {
	var keys []string
	c.m.Range(func(k, _ any) bool {
		keys = append(keys, k.(string))
		return true
	})
	sort.Strings(keys)
	for _, k := range keys {
		v, _ := c.m.Load(k)
		typ, result, _ := strings.Cut(k, " ")
		fn(typ, result, v.(*atomic.Uint64).Load())
	}
}

// statusRecorder remembers the status a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Flush lets streaming answers through.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
