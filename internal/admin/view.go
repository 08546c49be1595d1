package admin

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// BalancerView is what the console, the XML page and the API show of one
// balancer. Durations are whole seconds, as httpd shows them.
type BalancerView struct {
	Name             string       `json:"name"`
	Source           string       `json:"source"`
	LBMethod         string       `json:"lbmethod"`
	StickySession    []string     `json:"stickysession"`
	StickySessionSep string       `json:"stickysessionsep"`
	NoFailover       bool         `json:"nofailover"`
	MaxAttempts      int          `json:"maxattempts"`
	TimeoutSeconds   float64      `json:"timeout"`
	Paths            []string     `json:"paths"`
	Members          []MemberView `json:"members"`
	// Contexts are the MCMP contexts of the balancer's nodes (empty for
	// configured balancers).
	Contexts []ContextView `json:"contexts"`
	// Counters since start (see docs/metrics.md).
	StickyHits   uint64 `json:"sticky_hits"`
	StickyMisses uint64 `json:"sticky_misses"`
	Failovers    uint64 `json:"failovers"`
	Queued       uint64 `json:"queued"`
	Unavailable  uint64 `json:"unavailable"`
}

// MemberView is one member with its counters. Status holds the flag
// letters in effect (D S I H N, plus E while the member is in error);
// StatusText the httpd words ("Ok", "Err", "Dis"...).
type MemberView struct {
	Balancer   string `json:"balancer"`
	Name       string `json:"name"`
	Scheme     string `json:"scheme"`
	Hostname   string `json:"hostname"`
	Port       string `json:"port"`
	Route      string `json:"route"`
	Redirect   string `json:"redirect"`
	LoadFactor int    `json:"loadfactor"`
	LBSet      int    `json:"lbset"`
	Status     string `json:"status"`
	// State is one word for the member's condition, most severe first:
	// stopped, disabled, error, hcfail, draining, standby or ok.
	State       string `json:"state"`
	StatusText  string `json:"status_text"`
	Usable      bool   `json:"usable"`
	Elected     uint64 `json:"elected"`
	Busy        int64  `json:"busy"`
	Read        uint64 `json:"read"`
	Transferred uint64 `json:"transferred"`
	Errors      uint64 `json:"errors"`
	Retries     uint64 `json:"retries"`
	// StickyHits counts requests whose session route named this member
	// and that it answered.
	StickyHits               uint64  `json:"sticky_hits"`
	ErrorTime                string  `json:"error_time,omitempty"`
	RetrySeconds             float64 `json:"retry"`
	ConnectionTimeoutSeconds float64 `json:"connectiontimeout"`
	TimeoutSeconds           float64 `json:"timeout"`
	SMax                     int     `json:"smax"`
	TTLSeconds               float64 `json:"ttl"`
	// StatusSince is when the operator flags last changed (RFC 3339).
	StatusSince string `json:"status_since,omitempty"`
	// CheckedAt is when the active health check last ran (RFC 3339), and
	// CheckFailed whether that run failed; absent without a check.
	CheckedAt   string `json:"checked_at,omitempty"`
	CheckFailed bool   `json:"check_failed"`
	// Load is what an MCMP node last reported (-1 broken, 0 standby,
	// 1..100); absent for configured members.
	Load *int32 `json:"load,omitempty"`
	// Responses counts the member's responses by status class: [0] other,
	// [1] 1xx ... [5] 5xx.
	Responses [6]uint64 `json:"responses"`
}

// viewOf describes b at now; snap supplies the routes.
func viewOf(snap *registry.Snapshot, b *registry.Balancer, now time.Time) BalancerView {
	v := BalancerView{
		Name: b.Name, Source: b.Source.String(), LBMethod: b.LBMethod.String(),
		StickySession: b.StickySession, StickySessionSep: string(b.StickySessionSep),
		NoFailover: b.NoFailover, MaxAttempts: b.EffectiveMaxAttempts(), TimeoutSeconds: b.Timeout.Seconds(),
		Members: make([]MemberView, 0, len(b.Members)), Contexts: []ContextView{},
		StickyHits: b.Stats.StickyHits.Load(), StickyMisses: b.Stats.StickyMisses.Load(),
		Failovers: b.Stats.Failovers.Load(), Queued: b.Stats.Queued.Load(), Unavailable: b.Stats.Unavailable.Load(),
	}
	if v.StickySession == nil {
		v.StickySession = []string{}
	}
	for _, r := range snap.Routes() {
		if r.Balancer() == b {
			v.Paths = append(v.Paths, r.Path)
		}
	}
	for _, m := range b.Members {
		mv := memberView(m, now)
		mv.Balancer = b.Name
		if b.Source == registry.SourceMCMP {
			l := m.Stats.Load.Load()
			mv.Load = &l
		}
		v.Members = append(v.Members, mv)
	}
	if b.Source == registry.SourceMCMP {
		for _, n := range snap.Nodes() {
			if n.Balancer == b.Name && !n.Removed {
				v.Contexts = append(v.Contexts, contextViews(n)...)
			}
		}
	}
	return v
}

func memberView(m *registry.Member, now time.Time) MemberView {
	host, port, _ := net.SplitHostPort(m.URL.Host)
	mv := MemberView{
		Name: m.Name, Scheme: m.URL.Scheme, Hostname: host, Port: port,
		Route: m.Route, Redirect: m.Redirect, LoadFactor: m.LoadFactor, LBSet: m.LBSet,
		Usable:  m.Usable(now.UnixNano()),
		Elected: m.Stats.Elected.Load(), Busy: m.Stats.Busy.Load(),
		Read: m.Stats.Read.Load(), Transferred: m.Stats.Transferred.Load(),
		Errors: m.Stats.Errors.Load(), Retries: m.Stats.Retries.Load(), StickyHits: m.Stats.StickyHits.Load(),
		RetrySeconds: m.Retry.Seconds(), ConnectionTimeoutSeconds: m.ConnectionTimeout.Seconds(),
		TimeoutSeconds: m.Timeout.Seconds(), SMax: m.SMax, TTLSeconds: m.TTL.Seconds(),
	}
	mv.Status, mv.StatusText = status(m, now)
	mv.State = stateWord(m, now)
	if t := m.Stats.ErrorTime.Load(); t != 0 {
		mv.ErrorTime = time.Unix(0, t).UTC().Format(time.RFC3339)
	}
	if !m.StatusSince.IsZero() {
		mv.StatusSince = m.StatusSince.UTC().Format(time.RFC3339)
	}
	if t := m.Stats.CheckedAt.Load(); t != 0 {
		mv.CheckedAt = time.Unix(0, t).UTC().Format(time.RFC3339)
		mv.CheckFailed = m.Stats.CheckFailed.Load()
	}
	for i := range mv.Responses {
		mv.Responses[i] = m.Stats.Responses.Class(i)
	}
	return mv
}

// inError reports whether m shows as E: it failed and has not yet been
// retried successfully (httpd keeps "Err" until the retry happens).
func inError(m *registry.Member) bool {
	return m.Stats.ErrorTime.Load() != 0 && !m.Status.Has(registry.StatusIgnoreErrors)
}

// status returns the member's flags in effect as letters and as httpd's
// words, "Ok" first when the member takes requests.
func status(m *registry.Member, now time.Time) (letters, words string) {
	var l, w []string
	if m.Usable(now.UnixNano()) && !inError(m) {
		w = append(w, "Ok")
	}
	add := func(on bool, letter, word string) {
		if on {
			l = append(l, letter)
			w = append(w, word)
		}
	}
	s := m.Status
	add(m.Disabled(now.UnixNano()), "D", "Dis")
	add(s.Has(registry.StatusStopped), "S", "Stop")
	add(s.Has(registry.StatusIgnoreErrors), "I", "Ign")
	add(s.Has(registry.StatusHotStandby), "H", "Stby")
	add(s.Has(registry.StatusDrain), "N", "Drn")
	add(inError(m), "E", "Err")
	add(m.Stats.HCFail.Load(), "C", "HcFl")
	return strings.Join(l, ""), strings.Join(w, " ")
}

// stateWord names the member's most severe condition, for the console's
// colours: stopped, disabled, error, hcfail, draining, standby or ok.
func stateWord(m *registry.Member, now time.Time) string {
	switch {
	case m.Status.Has(registry.StatusStopped):
		return "stopped"
	case m.Disabled(now.UnixNano()):
		return "disabled"
	case inError(m):
		return "error"
	case m.Stats.HCFail.Load():
		return "hcfail"
	case m.Status.Has(registry.StatusDrain):
		return "draining"
	case m.Status.Has(registry.StatusHotStandby):
		return "standby"
	}
	return "ok"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
