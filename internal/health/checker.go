package health

import (
	"cmp"
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// Prober checks one member once. It returns nil when the member passes.
// It must honour ctx, which carries the check's timeout. Implementations
// must be safe for concurrent use.
type Prober interface {
	Probe(ctx context.Context, m *registry.Member) error
}

// ProberFunc adapts a function to Prober.
type ProberFunc func(ctx context.Context, m *registry.Member) error

func (f ProberFunc) Probe(ctx context.Context, m *registry.Member) error { return f(ctx, m) }

// CheckerOptions configures a Checker; zero values take the defaults.
type CheckerOptions struct {
	// Prober runs the checks; default NewProber().
	Prober Prober
	// Concurrency bounds the checks in flight; default 16.
	Concurrency int
	// Log receives C-flag changes; default discard.
	Log *slog.Logger
}

// Checker runs the members' active health checks (mod_proxy_hcheck) off the
// request path: each member with a Check is probed every Interval, the
// first time after a random part of it so that many members are not
// probed at once. Fails failures in a row set the member's C flag (it takes
// no requests), Passes successes in a row clear it. It writes only the
// members' Stats.
type Checker struct {
	store  *registry.Store
	probe  Prober
	slots  int
	log    *slog.Logger
	states map[*registry.Stats]*checkState // owned by Run's goroutine
}

type checkState struct {
	next          time.Time
	passes, fails int
	running       bool
}

type checkResult struct {
	m   *registry.Member
	err error
}

// NewChecker returns a checker for the members of store; Run starts it.
func NewChecker(store *registry.Store, opts CheckerOptions) *Checker {
	c := &Checker{
		store:  store,
		probe:  opts.Prober,
		slots:  cmp.Or(opts.Concurrency, 16),
		log:    cmp.Or(opts.Log, slog.New(slog.DiscardHandler)).With("component", "health"),
		states: map[*registry.Stats]*checkState{},
	}
	if c.probe == nil {
		c.probe = NewProber()
	}
	return c
}

// Run checks members until ctx is done; it waits for the checks in flight
// before it returns nil.
func (c *Checker) Run(ctx context.Context) error {
	results := make(chan checkResult)
	var wg sync.WaitGroup
	defer wg.Wait()
	running := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		snap := c.store.Load()
		now := time.Now()
		next := now.Add(time.Hour)
		live := map[*registry.Stats]bool{}
		for _, m := range members(snap) {
			live[m.Stats] = true
			st := c.states[m.Stats]
			if st == nil {
				st = &checkState{next: now.Add(time.Duration(rand.Int64N(int64(m.Check.Interval))))}
				c.states[m.Stats] = st
			}
			if st.running {
				continue
			}
			if !now.Before(st.next) && running < c.slots {
				st.running = true
				running++
				wg.Go(func() {
					pctx, cancel := context.WithTimeout(ctx, m.Check.Timeout)
					defer cancel()
					err := c.probe.Probe(pctx, m)
					select {
					case results <- checkResult{m, err}:
					case <-ctx.Done():
					}
				})
				continue
			}
			if st.next.Before(next) {
				next = st.next
			}
		}
		for s := range c.states {
			if !live[s] && !c.states[s].running {
				delete(c.states, s)
			}
		}
		timer.Reset(max(next.Sub(now), 0))
		select {
		case <-ctx.Done():
			return nil
		case r := <-results:
			running--
			c.record(r, time.Now())
		case <-timer.C:
		case <-snap.Superseded():
		}
	}
}

// members returns the members of snap that have an active check.
func members(snap *registry.Snapshot) []*registry.Member {
	var out []*registry.Member
	for _, b := range snap.Balancers() {
		for _, m := range b.Members {
			if m.Check != nil && m.Check.Method != registry.CheckNone && m.Check.Interval > 0 {
				out = append(out, m)
			}
		}
	}
	return out
}

// record counts a check result and moves the C flag.
func (c *Checker) record(r checkResult, now time.Time) {
	st := c.states[r.m.Stats]
	if st == nil {
		return
	}
	st.running = false
	st.next = now.Add(r.m.Check.Interval)
	s := r.m.Stats
	if r.err != nil {
		st.fails, st.passes = st.fails+1, 0
		if st.fails >= r.m.Check.Fails && !s.HCFail.Load() {
			s.HCFail.Store(true)
			c.log.Warn("health check failed; member out (C)", "member", r.m.Name, "route", r.m.Route,
				"hcmethod", r.m.Check.Method.String(), "fails", st.fails, "err", r.err)
		}
		return
	}
	st.passes, st.fails = st.passes+1, 0
	if st.passes >= r.m.Check.Passes && s.HCFail.Load() {
		s.HCFail.Store(false)
		s.RecoveredAt.Store(now.UnixNano())
		c.log.Info("health check passes again; member back", "member", r.m.Name, "route", r.m.Route, "passes", st.passes)
	}
}
