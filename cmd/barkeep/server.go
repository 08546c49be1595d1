package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/barkeep-lb/barkeep/internal/admin"
	"github.com/barkeep-lb/barkeep/internal/cluster"
	"github.com/barkeep-lb/barkeep/internal/config"
	"github.com/barkeep-lb/barkeep/internal/health"
	"github.com/barkeep-lb/barkeep/internal/mcmpserver"
	"github.com/barkeep-lb/barkeep/internal/proxy"
	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/mcmp"
)

// server is one running barkeep built from one configuration: the
// registry, the proxy and admin handlers and their listeners.
type server struct {
	log          *slog.Logger
	cfg          *config.Config
	store        *registry.Store
	proxy        *proxy.Handler
	access       *proxy.AccessLog
	accessCloser io.Closer
	accessFile   *logFile                        // nil unless the access log is a file; SIGUSR1 reopens it
	mcmp         *mcmpserver.Server              // nil without a manager listener
	advertiser   *mcmpserver.Advertiser          // nil without manager.advertise
	cluster      *cluster.Cluster                // nil without a cluster section
	cert         atomic.Pointer[tls.Certificate] // of the TLS client listeners; SIGHUP reloads it
	fronts       []clientListener                // client listeners
	servers      []*http.Server                  // admin and manager listeners
	listeners    []net.Listener
	clientAddrs  []string
	tlsAddrs     []string
	adminAddr    string
	managerAddr  string
	admin        *admin.Handler                // nil without an admin listener
	mcmpCounts   admin.MessageCounts           // MCMP messages by type and result, for /metrics
	baseline     atomic.Pointer[config.Config] // the configuration as loaded (ctl diff compares with it)
}

// clientListener is a client listener with the proxy server that serves it.
type clientListener struct {
	srv *proxy.Server
	l   net.Listener
}

type serverOptions struct {
	stdout    io.Writer // access log "-"
	stderr    io.Writer // barkeep's log
	logFormat string    // --log-format, overrides the file
	version   string
}

// newServer builds everything cfg describes and binds the listeners; it
// starts nothing. On error nothing stays open.
func newServer(cfg *config.Config, opts serverOptions) (_ *server, err error) {
	s := &server{cfg: cfg, log: newLogger(opts.stderr, cfg.Log, opts.logFormat), store: registry.NewStore()}
	defer func() {
		if err != nil {
			s.closeListeners()
		}
	}()
	s.baseline.Store(cfg)
	if _, err := applyConfig(s.store, cfg, time.Now(), loadRuntimeState(cfg.Admin.StateFile, s.log), s.log); err != nil {
		return nil, fmt.Errorf("load configuration into the registry: %w", err)
	}
	if s.cluster, err = s.newCluster(cfg); err != nil {
		return nil, err
	}
	s.access, s.accessCloser, s.accessFile, err = openAccessLog(cfg.AccessLog, opts.stdout)
	if err != nil {
		return nil, err
	}
	s.proxy = proxy.New(s.store, proxyOptions(cfg, s.log, s.access))
	plain := proxy.NewServer(s.proxy, s.frontOptions(nil))
	for _, addr := range cfg.Listen {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("client listener: %w", err)
		}
		s.fronts = append(s.fronts, clientListener{plain, l})
		s.clientAddrs = append(s.clientAddrs, l.Addr().String())
	}
	if err := s.listenTLS(cfg.TLS); err != nil {
		return nil, err
	}
	extra := map[string]http.Handler{}
	if cfg.Manager.Listen != "" {
		if err := s.startManager(cfg.Manager, opts.version); err != nil {
			return nil, err
		}
		extra["GET /mod_cluster_manager"] = s.mcmp.Page()
	}
	s.clusterAPI(extra)
	if cfg.Admin.Listen != "" {
		if err := s.startAdmin(cfg.Admin, extra, opts.version); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// listenTLS binds the TLS client listeners: HTTP/2 and HTTP/1.1 by ALPN,
// with the certificate held in s.cert so SIGHUP can replace it.
func (s *server) listenTLS(t config.TLS) error {
	if len(t.Listen) == 0 {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return fmt.Errorf("load TLS certificate: %w", err)
	}
	s.cert.Store(&cert)
	minVersion := uint16(tls.VersionTLS12)
	if t.MinVersion == "1.3" {
		minVersion = tls.VersionTLS13
	}
	srv := proxy.NewServer(s.proxy, s.frontOptions(&tls.Config{
		MinVersion:     minVersion,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.cert.Load(), nil },
	}))
	for _, addr := range t.Listen {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("TLS client listener: %w", err)
		}
		s.fronts = append(s.fronts, clientListener{srv, l})
		s.tlsAddrs = append(s.tlsAddrs, l.Addr().String())
	}
	return nil
}

// proxyOptions maps the configuration to the request path's options.
func proxyOptions(cfg *config.Config, log *slog.Logger, access *proxy.AccessLog) proxy.Options {
	sc := cfg.Server
	return proxy.Options{
		Log: log, AccessLog: access, UseAlias: cfg.Manager.UseAlias,
		Paths:           proxy.PathOptions{KeepSlashes: !sc.MergeSlashes, AllowEncodedSlashes: sc.AllowEncodedSlashes},
		MaxHeaderFields: sc.MaxHeaderFields, BufferBody: sc.BufferBody, HangDetect: sc.HangDetect,
		BodyRate: proxy.BodyRate{Timeout: sc.BodyTimeout, MinRate: cmp.Or(sc.BodyMinRate, -1)},
	}
}

// frontOptions are the client listeners' settings; tc is nil for
// cleartext listeners.
func (s *server) frontOptions(tc *tls.Config) proxy.ServerOptions {
	return proxy.ServerOptions{
		ReadHeaderTimeout: s.cfg.Server.ReadHeaderTimeout, IdleTimeout: s.cfg.Server.IdleTimeout,
		MaxHeaderBytes: s.cfg.Server.MaxHeaderBytes, TLS: tc, Log: s.log,
	}
}

// startManager builds the MCMP manager, restores its persisted nodes and
// binds its listener (TLS, with client certificates when configured).
func (s *server) startManager(m config.Manager, version string) error {
	var allow []netip.Prefix
	for _, a := range m.Allow {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return fmt.Errorf("manager.allow: %w", err)
		}
		allow = append(allow, p.Masked())
	}
	backends, err := mcmpserver.ParseBackends(m.AllowBackends)
	if err != nil {
		return fmt.Errorf("manager.%w", err)
	}
	stopAppWait := m.StopAppWait
	if stopAppWait == 0 {
		stopAppWait = -1 // the file's 0 is "answer at once"
	}
	s.mcmp = mcmpserver.New(s.store, mcmpserver.Options{
		Balancer: m.Balancer, Allow: allow, LBStatusRecalc: m.LBStatusRecalc, WaitForRemove: m.WaitForRemove,
		MaxMessageSize: m.MaxMessageSize, MaxNode: m.MaxNode, MaxHost: m.MaxHost, MaxContext: m.MaxContext,
		Persist: m.Persist, Release: mcmpRelease(version), Log: s.log,
		StopAppWait: stopAppWait, AllowBackends: backends, Listeners: s.ownAddrs, Replicator: s.replicator(),
		GuardPage: func(h http.Handler) http.Handler { return admin.Guard(h, m.Listen, s.cfg.Admin.Hosts) },
	})
	if err := s.mcmp.Restore(); err != nil {
		return err
	}
	l, err := net.Listen("tcp", m.Listen)
	if err != nil {
		return fmt.Errorf("manager listener: %w", err)
	}
	s.managerAddr = l.Addr().String()
	if m.TLS.Cert != "" {
		tc, err := mcmpserver.TLSConfig(m.TLS.Cert, m.TLS.Key, m.TLS.ClientCA)
		if err != nil {
			l.Close()
			return err
		}
		l = tls.NewListener(l, tc)
	}
	// Workers keep one connection open and send STATUS every 10 s: keep
	// idle connections well beyond that.
	s.listen(l, s.mcmpCounts.Wrap(s.mcmp, mcmp.IsMCMP), max(s.cfg.Server.IdleTimeout, 2*time.Minute))
	if a := m.Advertise; a != nil {
		protocol := "http"
		if m.TLS.Cert != "" {
			protocol = "https"
		}
		s.advertiser, err = mcmpserver.NewAdvertiser(mcmpserver.AdvertiseOptions{
			ManagerAddress: s.managerAddr, Protocol: protocol, Group: a.Group, Interval: a.Interval,
			SecurityKey: a.SecurityKey, ManagerURL: a.ManagerURL, Interface: a.Interface, Log: s.log,
		})
		if err != nil {
			return fmt.Errorf("manager.advertise: %w", err)
		}
	}
	return nil
}

// ownAddrs returns the addresses of barkeep's listeners, all bound by the
// time the manager serves: nodes may not register at one of them.
func (s *server) ownAddrs() []netip.AddrPort {
	out := make([]netip.AddrPort, 0, len(s.listeners)+len(s.fronts))
	add := func(l net.Listener) {
		if ap, err := netip.ParseAddrPort(l.Addr().String()); err == nil {
			out = append(out, ap)
		}
	}
	for _, l := range s.listeners {
		add(l)
	}
	for _, f := range s.fronts {
		add(f.l)
	}
	return out
}

// listen adds an HTTP server for h on l. net/http's own complaints about
// clients (bad requests, TLS noise) go to the debug log.
func (s *server) listen(l net.Listener, h http.Handler, idle time.Duration) {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true) // h2c from clients that ask for it
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.cfg.Server.ReadHeaderTimeout,
		IdleTimeout:       idle,
		MaxHeaderBytes:    s.cfg.Server.MaxHeaderBytes,
		Protocols:         &p,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.servers = append(s.servers, srv)
	s.listeners = append(s.listeners, l)
}

func (s *server) closeListeners() {
	for _, l := range s.listeners {
		l.Close()
	}
	for _, f := range s.fronts {
		f.l.Close()
	}
	if s.accessCloser != nil {
		s.accessCloser.Close()
	}
}

// run serves until ctx is done, reloading the configuration with load each
// time reload fires, then shuts down gracefully: the listeners stop
// accepting and in-flight requests get the configured shutdown_timeout.
func (s *server) run(ctx context.Context, reload <-chan struct{}, load func() (*config.Config, error)) error {
	bg, stopBackground := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, srv := range s.servers {
		l := s.listeners[i]
		wg.Go(func() {
			serve := srv.Serve
			if srv.TLSConfig != nil {
				serve = func(l net.Listener) error { return srv.ServeTLS(l, "", "") }
			}
			if err := serve(l); !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("listener failed", "addr", l.Addr().String(), "err", err)
			}
		})
	}
	for _, f := range s.fronts {
		wg.Go(func() {
			if err := f.srv.Serve(f.l); err != nil {
				s.log.Error("listener failed", "addr", f.l.Addr().String(), "err", err)
			}
		})
	}
	wg.Go(func() { s.proxy.Run(bg) })
	wg.Go(func() { health.NewChecker(s.store, health.CheckerOptions{Log: s.log}).Run(bg) })
	if s.mcmp != nil {
		wg.Go(func() { s.mcmp.Run(bg) })
	}
	if s.cluster != nil {
		wg.Go(func() {
			if err := s.cluster.Run(bg); err != nil {
				s.log.Error("cluster", "err", err)
			}
		})
	}
	if s.advertiser != nil {
		wg.Go(func() {
			if err := s.advertiser.Run(bg); err != nil {
				s.log.Error("advertise", "err", err)
			}
		})
	}
	if s.access != nil {
		wg.Go(func() {
			if err := s.access.Run(bg, s.log); err != nil {
				s.log.Error("access log", "err", err)
			}
		})
	}
	s.log.Info("barkeep started", "listen", strings.Join(s.clientAddrs, ","), "tls", strings.Join(s.tlsAddrs, ","),
		"admin", s.adminAddr, "manager", s.managerAddr,
		"balancers", len(s.store.Load().Balancers()))

	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-reload:
			s.reload(load)
		}
	}

	s.log.Info("shutting down", "grace", s.cfg.Server.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.Server.ShutdownTimeout)
	defer cancel()
	var sw sync.WaitGroup
	shut := map[*proxy.Server]bool{}
	for _, f := range s.fronts {
		if shut[f.srv] {
			continue
		}
		shut[f.srv] = true
		sw.Go(func() {
			if err := f.srv.Shutdown(sctx); err != nil {
				s.log.Warn("requests still in flight after the grace period; closing", "err", err)
			}
		})
	}
	for _, srv := range s.servers {
		sw.Go(func() {
			if err := srv.Shutdown(sctx); err != nil {
				s.log.Warn("requests still in flight after the grace period; closing", "err", err)
				srv.Close()
			}
		})
	}
	sw.Wait()
	stopBackground()
	wg.Wait()
	s.proxy.CloseIdleConnections()
	if s.accessCloser != nil {
		s.accessCloser.Close()
	}
	s.log.Info("stopped")
	return nil
}

// reload applies a new configuration, or keeps the running one if the new
// file has problems. Listener and log settings need a restart.
func (s *server) reload(load func() (*config.Config, error)) {
	c, err := load()
	if err != nil {
		var cerr *config.Error
		if errors.As(err, &cerr) {
			for _, p := range cerr.Problems {
				s.log.Error("configuration problem", "problem", p.Error())
			}
		}
		s.log.Error("configuration reload refused; the running configuration stays", "err", err)
		return
	}
	var runtime admin.Diff
	if s.admin != nil && s.cfg.Admin.StateFile != "" {
		// Kept changes (httpd's BalancerPersist): the operators' changes
		// against the configuration being replaced.
		runtime = s.admin.Diff()
	}
	snap, err := applyConfig(s.store, c, time.Now(), runtime, s.log)
	if err != nil {
		s.log.Error("configuration reload refused; the running configuration stays", "err", err)
		return
	}
	s.baseline.Store(c)
	if s.admin != nil {
		s.admin.SaveState() // the kept changes, against the new configuration
	}
	if len(s.tlsAddrs) > 0 {
		if cert, err := tls.LoadX509KeyPair(c.TLS.Cert, c.TLS.Key); err != nil {
			s.log.Error("TLS certificate not reloaded; the running one stays", "err", err)
		} else {
			s.cert.Store(&cert)
			s.log.Info("TLS certificate reloaded", "cert", c.TLS.Cert)
		}
	}
	if !slices.Equal(c.Listen, s.cfg.Listen) || !reflect.DeepEqual(c.Admin, s.cfg.Admin) || c.Server != s.cfg.Server ||
		c.Log != s.cfg.Log || c.AccessLog != s.cfg.AccessLog || !reflect.DeepEqual(c.Manager, s.cfg.Manager) ||
		!reflect.DeepEqual(c.Cluster, s.cfg.Cluster) ||
		!slices.Equal(c.TLS.Listen, s.cfg.TLS.Listen) || c.TLS.MinVersion != s.cfg.TLS.MinVersion {
		s.log.Warn("listen, tls.listen, tls.min_version, admin, manager, cluster, server, log and access_log settings changed; they take effect at the next restart")
	}
	s.log.Info("configuration reloaded", "version", snap.Version, "balancers", len(snap.Balancers()), "routes", len(snap.Routes()))
}
