package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/barkeep-lb/barkeep/internal/admin"
	"github.com/barkeep-lb/barkeep/internal/config"
	"github.com/barkeep-lb/barkeep/internal/proxy"
	"github.com/barkeep-lb/barkeep/internal/registry"
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
	servers      []*http.Server
	listeners    []net.Listener
	clientAddrs  []string
	adminAddr    string
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
	if _, err := applyConfig(s.store, cfg, time.Now()); err != nil {
		return nil, fmt.Errorf("load configuration into the registry: %w", err)
	}
	s.access, s.accessCloser, err = openAccessLog(cfg.AccessLog, opts.stdout)
	if err != nil {
		return nil, err
	}
	s.proxy = proxy.New(s.store, proxy.Options{Log: s.log, AccessLog: s.access})
	for _, addr := range cfg.Listen {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("client listener: %w", err)
		}
		s.listen(l, s.proxy)
		s.clientAddrs = append(s.clientAddrs, l.Addr().String())
	}
	if cfg.Admin.Listen != "" {
		l, err := net.Listen("tcp", cfg.Admin.Listen)
		if err != nil {
			return nil, fmt.Errorf("admin listener: %w", err)
		}
		s.listen(l, admin.New(s.store, admin.Options{Log: s.log, Version: opts.version}))
		s.adminAddr = l.Addr().String()
	}
	return s, nil
}

// listen adds an HTTP server for h on l. net/http's own complaints about
// clients (bad requests, TLS noise) go to the debug log.
func (s *server) listen(l net.Listener, h http.Handler) {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true) // h2c from clients that ask for it
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.cfg.Server.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.Server.IdleTimeout,
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
			if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("listener failed", "addr", l.Addr().String(), "err", err)
			}
		})
	}
	wg.Go(func() { s.proxy.Run(bg) })
	if s.access != nil {
		wg.Go(func() {
			if err := s.access.Run(bg); err != nil {
				s.log.Error("access log", "err", err)
			}
		})
	}
	s.log.Info("barkeep started", "listen", strings.Join(s.clientAddrs, ","), "admin", s.adminAddr,
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
	snap, err := applyConfig(s.store, c, time.Now())
	if err != nil {
		s.log.Error("configuration reload refused; the running configuration stays", "err", err)
		return
	}
	if !slices.Equal(c.Listen, s.cfg.Listen) || c.Admin != s.cfg.Admin || c.Server != s.cfg.Server ||
		c.Log != s.cfg.Log || c.AccessLog != s.cfg.AccessLog {
		s.log.Warn("listen, admin, server, log and access_log settings changed; they take effect at the next restart")
	}
	s.log.Info("configuration reloaded", "version", snap.Version, "balancers", len(snap.Balancers()), "routes", len(snap.Routes()))
}
