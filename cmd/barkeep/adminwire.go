package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/barkeep-lb/barkeep/internal/admin"
	"github.com/barkeep-lb/barkeep/internal/config"
	"github.com/barkeep-lb/barkeep/internal/mcmpserver"
	"github.com/barkeep-lb/barkeep/internal/registry"
)

// loadRuntimeState reads admin.state_file: the runtime changes a previous
// run saved. A file that cannot be read as one is moved aside (with an
// ERROR line) so barkeep starts from the configuration alone.
func loadRuntimeState(path string, log *slog.Logger) admin.Diff {
	if path == "" {
		return admin.Diff{}
	}
	d, err := admin.LoadState(path)
	if err != nil {
		aside := path + ".corrupt." + time.Now().UTC().Format("20060102T150405Z")
		if rerr := os.Rename(path, aside); rerr != nil {
			log.Error("state file unreadable and not moved aside; starting from the configuration", "err", err, "rename", rerr)
		} else {
			log.Error("state file unreadable; moved aside, starting from the configuration", "err", err, "moved_to", aside)
		}
		return admin.Diff{}
	}
	if !d.Empty() {
		log.Info("runtime changes from the state file applied again", "state_file", path, "balancers", len(d.Balancers))
	}
	return d
}

// startAdmin binds the admin listener (HTTPS with admin.tls, requiring
// client certificates with admin.tls.client_ca) and serves the admin
// handler on it.
func (s *server) startAdmin(a config.Admin, extra map[string]http.Handler, version string) error {
	var tokens []admin.Token
	for _, t := range a.Tokens {
		role := admin.RoleRead
		if t.Role == "operator" {
			role = admin.RoleOperator
		}
		tokens = append(tokens, admin.Token{Name: t.Name, Secret: t.Token, Role: role})
	}
	var certRole admin.Role
	if a.TLS.ClientCA != "" {
		certRole = admin.RoleOperator
		if a.TLS.ClientRole == "read" {
			certRole = admin.RoleRead
		}
	}
	s.admin = admin.New(s.store, admin.Options{
		Log: s.log, Audit: s.log.With("component", "audit"), Version: version, Extra: extra, Pprof: a.Pprof,
		Listen: a.Listen, Hosts: a.Hosts, Tokens: tokens, CertRole: certRole,
		StatePath: a.StateFile, Baseline: func() []*registry.Balancer { return baselineOf(s.baseline.Load()) },
		CanonicalMember: config.MemberName, MCMP: &s.mcmpCounts, Replicator: s.replicator(),
		Explain: func(q admin.ExplainQuery) (any, error) { return s.proxy.Explain(q.Method, q.URL, q.Cookie) },
	})
	l, err := net.Listen("tcp", a.Listen)
	if err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	s.adminAddr = l.Addr().String()
	if a.TLS.Cert != "" {
		tc, err := mcmpserver.TLSConfig(a.TLS.Cert, a.TLS.Key, a.TLS.ClientCA)
		if err != nil {
			l.Close()
			return fmt.Errorf("admin.tls: %w", err)
		}
		l = tls.NewListener(l, tc)
	}
	s.listen(l, s.admin, s.cfg.Server.IdleTimeout)
	return nil
}
