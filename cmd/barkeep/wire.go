package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"regexp"
	"time"

	"github.com/barkeep-lb/barkeep/internal/admin"
	"github.com/barkeep-lb/barkeep/internal/config"
	"github.com/barkeep-lb/barkeep/internal/proxy"
	"github.com/barkeep-lb/barkeep/internal/registry"
)

// applyConfig replaces the configuration-owned balancers and the routes of
// store with those of c, in one update, then applies the operators'
// runtime changes (see admin.Diff; changes that no longer apply are
// logged and skipped). Members that stay (same balancer, same URL) keep
// their counters and error state.
func applyConfig(store *registry.Store, c *config.Config, now time.Time, runtime admin.Diff, log *slog.Logger) (*registry.Snapshot, error) {
	var skipped []error
	snap, err := store.Update(func(d *registry.Draft) error {
		keep := map[string]bool{}
		for _, cb := range c.Balancers {
			if cur := d.Balancer(cb.Name); cur != nil && cur.Source == registry.SourceMCMP {
				return fmt.Errorf("balancer %q was created by MCMP node registrations; give the configured one another name", cb.Name)
			}
			b, err := balancerOf(c, cb, now)
			if err != nil {
				return err
			}
			if err := d.PutBalancer(b); err != nil {
				return err
			}
			keep[b.Name] = true
		}
		for _, b := range d.Balancers() {
			if b.Source == registry.SourceConfig && !keep[b.Name] {
				d.DeleteBalancer(b.Name)
			}
		}
		routes := make([]*registry.Route, 0, len(c.Routes))
		for _, r := range c.Routes {
			routes = append(routes, routeOf(r))
		}
		d.SetRoutes(routes)
		skipped = admin.ApplyDiff(d, runtime, now, config.MemberName)
		return nil
	})
	if err == nil {
		for _, e := range skipped {
			log.Warn("runtime change not applied again", "err", e)
		}
	}
	return snap, err
}

// baselineOf returns the configured balancers of c as the file describes
// them, without runtime changes (what `barkeep ctl diff` compares with).
func baselineOf(c *config.Config) []*registry.Balancer {
	out := make([]*registry.Balancer, 0, len(c.Balancers))
	for _, cb := range c.Balancers {
		if b, err := balancerOf(c, cb, time.Time{}); err == nil {
			out = append(out, b)
		}
	}
	return out
}

func balancerOf(c *config.Config, cb config.Balancer, now time.Time) (*registry.Balancer, error) {
	method, err := registry.ParseLBMethod(string(cb.LBMethod))
	if err != nil {
		return nil, err
	}
	b := &registry.Balancer{
		Name: cb.Name, Source: registry.SourceConfig, LBMethod: method,
		StickySession: cb.StickySession, StickySessionSep: cb.StickySessionSep[0],
		NoFailover: cb.NoFailover, MaxAttempts: -1, Timeout: cb.Timeout, FailOnTimeout: cb.FailOnTimeout,
	}
	for _, s := range cb.FailOnStatus {
		ranges, err := config.ParseStatusRanges(s)
		if err != nil {
			return nil, fmt.Errorf("balancer %s: failonstatus: %w", cb.Name, err)
		}
		for _, r := range ranges {
			b.FailOnStatus.Add(r[0], r[1])
		}
	}
	if cb.MaxAttempts != nil {
		b.MaxAttempts = *cb.MaxAttempts
	}
	for i := range cb.Members {
		cm := &cb.Members[i]
		m, err := memberOf(*cm, now)
		if err != nil {
			return nil, fmt.Errorf("balancer %s: %w", cb.Name, err)
		}
		m.SlowStart = cb.SlowStart
		if cm.SlowStart != nil {
			m.SlowStart = *cm.SlowStart
		}
		if m.Check, err = checkOf(c.Check(&cb, cm)); err != nil {
			return nil, fmt.Errorf("balancer %s member %s: %w", cb.Name, m.Name, err)
		}
		b.Members = append(b.Members, m)
	}
	return b, nil
}

// checkOf converts a resolved health check; nil stays nil. A check's
// timeout is its interval, at most 10s.
func checkOf(c *config.Check) (*registry.HealthCheck, error) {
	if c == nil {
		return nil, nil
	}
	method, err := registry.ParseCheckMethod(string(c.Method))
	if err != nil {
		return nil, err
	}
	hc := &registry.HealthCheck{
		Method: method, URI: c.URI, Interval: c.Interval, Timeout: min(c.Interval, 10*time.Second),
		Passes: c.Passes, Fails: c.Fails, Body: c.Body,
	}
	for _, r := range c.Status {
		hc.Status.Add(r[0], r[1])
	}
	if c.BodyRegexp != "" {
		if hc.BodyRE, err = regexp.Compile(c.BodyRegexp); err != nil {
			return nil, err
		}
	}
	return hc, nil
}

func memberOf(cm config.Member, now time.Time) (*registry.Member, error) {
	name, err := config.MemberName(cm.URL)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(name)
	if err != nil {
		return nil, fmt.Errorf("member %s: %w", name, err)
	}
	status, err := registry.ParseStatus(string(cm.Status))
	if err != nil {
		return nil, fmt.Errorf("member %s: %w", name, err)
	}
	return &registry.Member{
		Name: name, URL: u, Route: cm.Route, Redirect: cm.Redirect,
		LoadFactor: cm.LoadFactor, LBSet: cm.LBSet, Status: status, StatusSince: now,
		Retry: cm.Retry, ConnectionTimeout: cm.ConnectionTimeout, Timeout: cm.Timeout,
		SMax: cm.SMax, TTL: cm.TTL, DisableReuse: cm.DisableReuse,
		Secret: cm.Secret, Ping: cm.Ping, FlushPackets: cm.FlushPackets, Max: cm.Max,
	}, nil
}

func routeOf(r config.Route) *registry.Route {
	path := config.CleanPath(r.Path)
	target := path
	if r.TargetPath != "" {
		target = config.CleanPath(r.TargetPath)
	}
	cookiePath := r.ReverseCookiePath
	if cookiePath != "" {
		cookiePath = config.CleanPath(cookiePath)
	}
	return &registry.Route{
		Path: path, Pass: r.Pass, BalancerName: r.Balancer, TargetPath: target,
		Reverse: r.Reverse, ReverseCookiePath: cookiePath, ReverseCookieDomain: r.ReverseCookieDomain,
		PreserveHost: r.PreserveHost,
	}
}

// newLogger builds barkeep's own log on w from the log section, unless the
// command line overrides the format.
func newLogger(w io.Writer, c config.Log, formatFlag string) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(c.Level)) // validated by config: debug, info, warn or error
	opts := &slog.HandlerOptions{Level: level}
	format := string(c.Format)
	if formatFlag != "" {
		format = formatFlag
	}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openAccessLog opens the access log the configuration names; nil, nil
// when it is off. The returned closer flushes nothing: the caller flushes
// the log first. The *logFile is nil unless the log is a file (which
// SIGUSR1 reopens).
func openAccessLog(c config.AccessLog, stdout io.Writer) (*proxy.AccessLog, io.Closer, *logFile, error) {
	format, err := proxy.ParseAccessLogFormat(string(c.Format))
	if err != nil {
		return nil, nil, nil, err
	}
	switch c.Path {
	case "off":
		return nil, nil, nil, nil
	case "-":
		return proxy.NewAccessLog(stdout, format), io.NopCloser(nil), nil, nil
	}
	f, err := openLogFile(c.Path)
	if err != nil {
		return nil, nil, nil, err
	}
	return proxy.NewAccessLog(f, format), f, f, nil
}
