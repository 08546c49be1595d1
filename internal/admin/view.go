package admin

import (
	"net"
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
}

// MemberView is one member with its counters. Status holds the flag
// letters in effect (D S I H N, plus E while the member is in error);
// StatusText the httpd words ("Ok", "Err", "Dis"...).
type MemberView struct {
	Name                     string  `json:"name"`
	Scheme                   string  `json:"scheme"`
	Hostname                 string  `json:"hostname"`
	Port                     string  `json:"port"`
	Route                    string  `json:"route"`
	Redirect                 string  `json:"redirect"`
	LoadFactor               int     `json:"loadfactor"`
	LBSet                    int     `json:"lbset"`
	Status                   string  `json:"status"`
	StatusText               string  `json:"status_text"`
	Usable                   bool    `json:"usable"`
	Elected                  uint64  `json:"elected"`
	Busy                     int64   `json:"busy"`
	Read                     uint64  `json:"read"`
	Transferred              uint64  `json:"transferred"`
	Errors                   uint64  `json:"errors"`
	Retries                  uint64  `json:"retries"`
	ErrorTime                string  `json:"error_time,omitempty"`
	RetrySeconds             float64 `json:"retry"`
	ConnectionTimeoutSeconds float64 `json:"connectiontimeout"`
	TimeoutSeconds           float64 `json:"timeout"`
	SMax                     int     `json:"smax"`
	TTLSeconds               float64 `json:"ttl"`
}

// viewOf describes b at now; snap supplies the routes.
func viewOf(snap *registry.Snapshot, b *registry.Balancer, now time.Time) BalancerView {
	v := BalancerView{
		Name: b.Name, Source: b.Source.String(), LBMethod: b.LBMethod.String(),
		StickySession: b.StickySession, StickySessionSep: string(b.StickySessionSep),
		NoFailover: b.NoFailover, MaxAttempts: b.EffectiveMaxAttempts(), TimeoutSeconds: b.Timeout.Seconds(),
		Members: make([]MemberView, 0, len(b.Members)),
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
		v.Members = append(v.Members, memberView(m, now))
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
		Errors: m.Stats.Errors.Load(), Retries: m.Stats.Retries.Load(),
		RetrySeconds: m.Retry.Seconds(), ConnectionTimeoutSeconds: m.ConnectionTimeout.Seconds(),
		TimeoutSeconds: m.Timeout.Seconds(), SMax: m.SMax, TTLSeconds: m.TTL.Seconds(),
	}
	mv.Status, mv.StatusText = status(m, now)
	if t := m.Stats.ErrorTime.Load(); t != 0 {
		mv.ErrorTime = time.Unix(0, t).UTC().Format(time.RFC3339)
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
