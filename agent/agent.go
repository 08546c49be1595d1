package agent

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/barkeep-lb/barkeep/mcmp"
)

// Options configures an Agent. Zero values take the defaults noted.
type Options struct {
	// Route is the node's JVMRoute, its identity on the balancers and in
	// session ids (Tomcat's jvmRoute); required, at most 63 characters.
	Route string
	// Backend is the address the balancers forward to,
	// scheme://host:port with scheme http, https, ajp or h2c; it gives
	// CONFIG's Type, Host and Port. Required.
	Backend string
	// Balancer names the balancer the node joins; default "": the
	// balancer's own default (manager.balancer, "mycluster").
	Balancer string
	// Domain is the node's load-balancing group (LBGroup); default "".
	Domain string
	// Aliases are the virtual-host names the contexts are served under;
	// default ["localhost"].
	Aliases []string
	// Contexts are the application paths, such as "/app" ("/" for ROOT);
	// default ["/"].
	Contexts []string
	// Proxies are manager listeners, "host:port" (http) or
	// "https://host:port"; at least one, or Advertise.
	Proxies []string
	// Advertise, when set, listens for balancers announcing themselves on
	// a multicast group and registers with each one heard.
	Advertise *AdvertiseOptions
	// Interval is the STATUS period; default 10s.
	Interval time.Duration
	// Metrics make up the load model; default one cpu metric. A Static
	// metric must be alone.
	Metrics []MetricSpec
	// History is how many earlier periods the load averages over; default
	// 9 (DefaultHistory); negative: none.
	History int
	// Decay weighs each period 1/Decay as much as the next; default 2.
	Decay float64
	// StopTimeout bounds the drain in Shutdown (stopContextTimeout);
	// default 10s.
	StopTimeout time.Duration
	// NodeTimeout is sent as CONFIG's Timeout: how long the balancer waits
	// for the backend's answer; default 0: not sent (the balancer's
	// default).
	NodeTimeout time.Duration
	// StickySessionForce answers 503 rather than failing over a sticky
	// session whose node is gone; default false (the Java worker sends
	// StickySessionForce=No).
	StickySessionForce bool
	// Check tells whether the backend answers; while it returns an error
	// the node reports Load -1. Default nil: always up.
	Check func(ctx context.Context) error
	// TLS configures https:// manager listeners; default the system roots.
	TLS *tls.Config
	// Transport carries the MCMP exchanges; default one http.Transport per
	// balancer with a single connection, as the Java worker keeps.
	Transport http.RoundTripper
	// Log receives registrations, refusals and drain progress; default
	// discard.
	Log *slog.Logger
}

// Agent registers one node with its balancers and keeps them informed.
// Create it with New, start Run, wrap the service's handler with
// Middleware, and call Shutdown before stopping the service. Safe for
// concurrent use.
type Agent struct {
	route, backendType, host, port string
	opts                           Options
	readers                        []metricReader
	static                         *int
	traffic                        traffic
	log                            *slog.Logger

	history History // owned by Run's goroutine
	load    atomic.Int32
	checked atomic.Bool // the last Check failed (for logging transitions)

	mu        sync.Mutex
	balancers map[string]*balancer // by base URL
	added     chan *balancer       // new balancers for Run; buffer 64

	draining atomic.Bool // DISABLE-APP instead of ENABLE-APP on registration
	stopped  atomic.Bool // after Shutdown: send nothing more
}

type metricReader struct {
	spec MetricSpec
	read reader
}

// New checks opts and returns an Agent; it starts nothing.
func New(opts Options) (*Agent, error) {
	a := &Agent{opts: opts, balancers: map[string]*balancer{}, added: make(chan *balancer, 64)}
	if err := a.setup(); err != nil {
		return nil, err
	}
	for _, p := range opts.Proxies {
		if _, err := a.AddProxy(p); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *Agent) setup() error {
	o := &a.opts
	a.log = cmp.Or(o.Log, slog.New(slog.DiscardHandler)).With("component", "agent", "route", o.Route)
	switch {
	case o.Route == "":
		return errors.New("agent: the node needs a route (JVMRoute)")
	case len(o.Route) > mcmp.MaxJVMRoute || strings.ContainsAny(o.Route, "<>\"'\r\n"):
		return fmt.Errorf("agent: route %q: at most %d characters, none of < > \" '", o.Route, mcmp.MaxJVMRoute)
	case len(o.Proxies) == 0 && o.Advertise == nil:
		return errors.New("agent: no balancer: give proxies (host:port of a manager listener) or advertise")
	}
	u, err := url.Parse(o.Backend)
	if err != nil || u.Host == "" || u.Port() == "" {
		return fmt.Errorf("agent: backend %q: want scheme://host:port", o.Backend)
	}
	switch u.Scheme {
	case "http", "https", "ajp", "h2c":
	default:
		return fmt.Errorf("agent: backend %q: scheme must be http, https, ajp or h2c", o.Backend)
	}
	a.route, a.backendType, a.host, a.port = o.Route, u.Scheme, u.Hostname(), u.Port()
	if strings.Contains(a.host, ":") {
		a.host = "[" + a.host + "]"
	}
	if len(o.Aliases) == 0 {
		o.Aliases = []string{"localhost"}
	}
	if len(o.Contexts) == 0 {
		o.Contexts = []string{"/"}
	}
	for _, c := range o.Contexts {
		if !strings.HasPrefix(c, "/") || len(c) > mcmp.MaxContext {
			return fmt.Errorf("agent: context %q: a path starting with /, at most %d characters", c, mcmp.MaxContext)
		}
	}
	for _, al := range o.Aliases {
		if al == "" || len(al) > mcmp.MaxAlias || strings.Contains(al, ",") {
			return fmt.Errorf("agent: alias %q: a host name of at most %d characters", al, mcmp.MaxAlias)
		}
	}
	o.Interval = cmp.Or(o.Interval, 10*time.Second)
	o.StopTimeout = cmp.Or(o.StopTimeout, 10*time.Second)
	if o.Interval < 0 || o.StopTimeout < 0 {
		return errors.New("agent: interval and stop timeout must be positive")
	}
	if o.Decay != 0 && o.Decay < 1 {
		return fmt.Errorf("agent: decay %v must be at least 1", o.Decay)
	}
	a.history = History{Size: o.History, Decay: o.Decay}
	return a.setupMetrics()
}

func (a *Agent) setupMetrics() error {
	specs := a.opts.Metrics
	if len(specs) == 0 {
		specs = []MetricSpec{{Kind: CPU}}
	}
	prom := &promScraper{client: &http.Client{Timeout: min(a.opts.Interval, 5*time.Second)}}
	start := time.Now()
	for i := range specs {
		m := specs[i]
		if err := m.check(); err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		if m.Kind == Static {
			if len(specs) > 1 {
				return errors.New("agent: a static metric must be the only one")
			}
			a.static = &m.Factor
			a.load.Store(int32(m.Factor))
			return nil
		}
		a.readers = append(a.readers, metricReader{spec: m, read: newReader(m, &a.traffic, prom, start)})
	}
	a.load.Store(1)
	return nil
}

// AddProxy adds a manager listener, "host:port" (http) or
// "http(s)://host:port", and reports whether it was new. A running Run
// registers with it at once.
func (a *Agent) AddProxy(addr string) (bool, error) {
	base := addr
	if !strings.Contains(addr, "://") {
		base = "http://" + addr
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Port() == "" || (u.Path != "" && u.Path != "/") {
		return false, fmt.Errorf("agent: proxy %q: want host:port or http(s)://host:port", addr)
	}
	base = u.Scheme + "://" + u.Host
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.balancers[base]; ok {
		return false, nil
	}
	tr := &http.Transport{
		MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, IdleConnTimeout: 2 * a.opts.Interval,
		TLSClientConfig: a.opts.TLS, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}
	var rt http.RoundTripper = tr
	if a.opts.Transport != nil {
		rt = a.opts.Transport
	}
	b := &balancer{addr: u.Host, base: base, wake: make(chan struct{}, 1),
		hc: &http.Client{Transport: rt, Timeout: 20 * time.Second}}
	b.wake <- struct{}{}
	a.balancers[base] = b
	select {
	case a.added <- b:
	default:
		a.log.Warn("too many new balancers at once; ignoring one", "proxy", base)
		delete(a.balancers, base)
		return false, nil
	}
	return true, nil
}

// Load is the Load of the last STATUS: 1..100, 0 for a static hot
// standby, -1 while the backend is down.
func (a *Agent) Load() int { return int(a.load.Load()) }

// Run measures the load every Interval and keeps every balancer
// informed, until ctx is done. It listens for advertise datagrams when
// Options.Advertise is set; it returns the listener's error if that cannot
// start, else nil. Call it once.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	errc := make(chan error, 1)
	if ad := a.opts.Advertise; ad != nil {
		l, err := a.listenAdvertise(*ad)
		if err != nil {
			return err
		}
		wg.Go(func() { errc <- l.run(ctx) })
	}
	a.measure(ctx)
	tick := time.NewTicker(a.opts.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if err != nil {
				a.log.Error("advertise listener stopped", "err", err)
			}
		case b := <-a.added:
			wg.Go(func() { a.talk(ctx, b) })
		case <-tick.C:
			a.measure(ctx)
			a.mu.Lock()
			for _, b := range a.balancers {
				select {
				case b.wake <- struct{}{}:
				default:
				}
			}
			a.mu.Unlock()
		}
	}
}

// measure computes this period's Load: -1 when Check fails, the static
// factor, or the load model's.
func (a *Agent) measure(ctx context.Context) {
	if a.opts.Check != nil {
		cctx, cancel := context.WithTimeout(ctx, min(a.opts.Interval, 5*time.Second))
		err := a.opts.Check(cctx)
		cancel()
		if err != nil {
			if !a.checked.Swap(true) {
				a.log.Warn("backend does not answer; reporting Load -1", "backend", a.opts.Backend, "err", err)
			}
			a.load.Store(-1)
			return
		}
		if a.checked.Swap(false) {
			a.log.Info("backend answers again", "backend", a.opts.Backend)
		}
	}
	if a.static != nil {
		a.load.Store(int32(*a.static))
		return
	}
	now := time.Now()
	samples := make([]Sample, 0, len(a.readers))
	for _, r := range a.readers {
		v, err := r.read(ctx, now)
		if err != nil {
			if !errors.Is(err, errNoSample) {
				a.log.Warn("metric not read; this period goes without it", "metric", r.spec.Kind, "err", err)
			}
			continue
		}
		samples = append(samples, Sample{Value: v, Capacity: r.spec.Capacity, Weight: r.spec.Weight})
	}
	l, ok := Combine(samples)
	switch {
	case ok:
		l = a.history.Add(l)
	case a.history.Len() == 0:
		a.load.Store(1) // nothing measured yet
		return
	default:
		l = a.history.Load()
	}
	a.load.Store(int32(Factor(l)))
}

// talk keeps one balancer informed: at each period (or retry) it sends
// STATUS, registering first when needed.
func (a *Agent) talk(ctx context.Context, b *balancer) {
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.wake:
			if retry != nil {
				continue // a retry is due sooner or later; periods wait for it
			}
		case <-retry:
		}
		retry = nil
		b.mu.Lock()
		if a.stopped.Load() {
			b.mu.Unlock()
			return
		}
		err := a.period(ctx, b)
		st, failures := b.state, b.failures
		b.mu.Unlock()
		switch {
		case st == stateDown:
			return
		case err != nil && ctx.Err() == nil:
			d := backoff(a.opts.Interval, failures)
			a.log.Warn("balancer exchange failed; registering again", "proxy", b.base, "retry_in", d, "err", err)
			retry = time.After(d)
		}
	}
}

// backoff is the wait before the n-th retry (n >= 1): a tenth of the
// interval, doubling, at most the interval.
func backoff(interval time.Duration, n int) time.Duration {
	d := interval / 10
	for i := 1; i < n && d < interval; i++ {
		d *= 2
	}
	return min(max(d, 10*time.Millisecond), interval)
}

// period makes one period's exchanges with b; b.mu is held.
func (a *Agent) period(ctx context.Context, b *balancer) error {
	var err error
	if b.state == stateReset {
		err = a.register(ctx, b)
	}
	if err == nil {
		err = a.status(ctx, b)
	}
	if err == nil {
		b.failures = 0
		return nil
	}
	b.failures++
	if pe, ok := errors.AsType[*mcmp.ProtocolError](err); ok && pe.Type == mcmp.TypeSyntax {
		b.state = stateDown
		a.log.Error("balancer refused a message as SYNTAX; not talking to it any more", "proxy", b.base, "mess", pe.Mess)
		return err
	}
	b.state = stateReset
	return err
}

// register sends INFO and the messages it shows are missing: REMOVE-APP
// for a stale registration, CONFIG, ENABLE-APP (DISABLE-APP while
// draining) for the contexts not in that state yet.
func (a *Agent) register(ctx context.Context, b *balancer) error {
	info, err := b.send(ctx, mcmp.Info, false, nil)
	if err != nil {
		return err
	}
	ni := parseInfo(info, a.route)
	if ni.known && a.stale(ni) {
		if _, err := b.send(ctx, mcmp.RemoveApp, true, a.routeParam()); err != nil {
			return err
		}
		ni = nodeInfo{}
	} else if ni.known {
		var obsolete []string
		for path := range ni.contexts {
			if !slices.Contains(a.opts.Contexts, path) {
				obsolete = append(obsolete, path)
			}
		}
		if len(obsolete) > 0 {
			slices.Sort(obsolete)
			if _, err := b.send(ctx, mcmp.RemoveApp, false, a.appParams(obsolete)); err != nil {
				return err
			}
		}
	}
	if _, err := b.send(ctx, mcmp.Config, false, a.configParams()); err != nil {
		return err
	}
	want, cmd := "ENABLED", mcmp.EnableApp
	if a.draining.Load() {
		want, cmd = "DISABLED", mcmp.DisableApp
	}
	var todo []string
	for _, c := range a.opts.Contexts {
		st := ni.contexts[c]
		if len(st) == 0 || slices.ContainsFunc(st, func(s string) bool { return s != want }) {
			todo = append(todo, c)
		}
	}
	if len(todo) > 0 {
		if _, err := b.send(ctx, cmd, false, a.appParams(todo)); err != nil {
			return err
		}
	}
	a.log.Info("registered", "proxy", b.base, "contexts", strings.Join(a.opts.Contexts, ","), "aliases", strings.Join(a.opts.Aliases, ","))
	b.state = stateOK
	return nil
}

// stale reports whether the balancer's registration of the node cannot be
// updated in place: other aliases (the Java worker's test), or another
// backend address.
func (a *Agent) stale(ni nodeInfo) bool {
	if ni.host != strings.Trim(a.host, "[]") && ni.host != a.host || ni.port != a.port || ni.typ != a.backendType {
		return true
	}
	want := slices.Sorted(slices.Values(a.opts.Aliases))
	for _, aliases := range ni.vhosts {
		if !slices.Equal(slices.Sorted(slices.Values(aliases)), want) {
			return true
		}
	}
	return false
}

// status sends this period's Load; a new balancer id (a restart) makes
// the node register again at once.
func (a *Agent) status(ctx context.Context, b *balancer) error {
	load := a.Load()
	body, err := b.send(ctx, mcmp.Status, false, []param{{"JVMRoute", a.route}, {"Load", strconv.Itoa(load)}})
	if err != nil {
		return err
	}
	id, st := statusID(body)
	if b.id != "" && id != b.id {
		a.log.Info("balancer restarted; registering again", "proxy", b.base)
		b.id = id
		if err := a.register(ctx, b); err != nil {
			return err
		}
		return a.status(ctx, b)
	}
	b.id = id
	if st == "NOTOK" {
		a.log.Debug("balancer could not reach the backend", "proxy", b.base)
	}
	return nil
}

func (a *Agent) routeParam() []param { return []param{{"JVMRoute", a.route}} }

func (a *Agent) appParams(contexts []string) []param {
	return []param{{"JVMRoute", a.route}, {"Alias", strings.Join(a.opts.Aliases, ",")}, {"Context", strings.Join(contexts, ",")}}
}

// configParams is CONFIG's body: JVMRoute first, then the other keys in
// the Java worker's (sorted) order.
func (a *Agent) configParams() []param {
	p := []param{{"JVMRoute", a.route}}
	if a.opts.Balancer != "" {
		p = append(p, param{"Balancer", a.opts.Balancer})
	}
	if a.opts.Domain != "" {
		p = append(p, param{"Domain", a.opts.Domain})
	}
	p = append(p, param{"Host", a.host}, param{"Port", a.port})
	if !a.opts.StickySessionForce {
		p = append(p, param{"StickySessionForce", "No"})
	}
	if t := a.opts.NodeTimeout; t > 0 {
		p = append(p, param{"Timeout", strconv.FormatInt(max(t.Milliseconds(), 1), 10) + "ms"})
	}
	return append(p, param{"Type", a.backendType})
}
