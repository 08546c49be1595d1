package health

import (
	"cmp"
	"container/heap"
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
// members' Stats. Its loop costs O(log n) per check; it walks all members
// only when the registry changes.
type Checker struct {
	store  *registry.Store
	probe  Prober
	slots  int
	log    *slog.Logger
	states map[*registry.Stats]*checkState // owned by Run's goroutine
	due    dueHeap                         // states not running, by next check
}

// checkState is one member's schedule and counters.
type checkState struct {
	m             *registry.Member // latest published copy
	next          time.Time
	passes, fails int
	running       bool
	gone          bool // the member left the registry
	index         int  // in the heap; -1 when not in it
}

type checkResult struct {
	st  *checkState
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
	snap := c.store.Load()
	c.sync(snap, time.Now())
	for {
		now := time.Now()
		for running < c.slots && len(c.due) > 0 && !now.Before(c.due[0].next) {
			st := heap.Pop(&c.due).(*checkState)
			st.running = true
			running++
			m := st.m
			wg.Go(func() {
				pctx, cancel := context.WithTimeout(ctx, m.Check.Timeout)
				defer cancel()
				err := c.probe.Probe(pctx, m)
				select {
				case results <- checkResult{st, m, err}:
				case <-ctx.Done():
				}
			})
		}
		wait := time.Hour
		if len(c.due) > 0 && running < c.slots {
			wait = max(c.due[0].next.Sub(now), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case r := <-results:
			running--
			c.record(r, time.Now())
		case <-timer.C:
		case <-snap.Superseded():
			prev := snap
			snap = c.store.Load()
			if !snap.SameBalancers(prev) { // context changes leave members alone
				c.sync(snap, time.Now())
			}
		}
	}
}

// sync brings the schedule in line with snap: new members get a first
// check at a random point of their interval, changed ones their new
// settings, departed ones are dropped.
func (c *Checker) sync(snap *registry.Snapshot, now time.Time) {
	live := map[*registry.Stats]bool{}
	for _, b := range snap.Balancers() {
		for _, m := range b.Members {
			if m.Check == nil || m.Check.Method == registry.CheckNone || m.Check.Interval <= 0 {
				continue
			}
			live[m.Stats] = true
			st := c.states[m.Stats]
			if st == nil {
				st = &checkState{m: m, index: -1, next: now.Add(time.Duration(rand.Int64N(int64(m.Check.Interval))))}
				c.states[m.Stats] = st
				heap.Push(&c.due, st)
				continue
			}
			st.m = m
		}
	}
	for s, st := range c.states {
		if live[s] {
			continue
		}
		delete(c.states, s)
		st.gone = true
		if st.index >= 0 {
			heap.Remove(&c.due, st.index)
		}
	}
}

// record counts a check result, moves the C flag and schedules the next
// check.
func (c *Checker) record(r checkResult, now time.Time) {
	st := r.st
	st.running = false
	if st.gone {
		return
	}
	st.next = now.Add(st.m.Check.Interval)
	heap.Push(&c.due, st)
	s := r.m.Stats
	s.CheckedAt.Store(now.UnixNano())
	s.CheckFailed.Store(r.err != nil)
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

// dueHeap orders waiting checks by their next time.
type dueHeap []*checkState

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *dueHeap) Push(x any) {
	st := x.(*checkState)
	st.index = len(*h)
	*h = append(*h, st)
}
func (h *dueHeap) Pop() any {
	old := *h
	st := old[len(old)-1]
	old[len(old)-1] = nil
	st.index = -1
	*h = old[:len(old)-1]
	return st
}
