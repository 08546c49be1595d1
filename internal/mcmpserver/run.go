package mcmpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// Run does the manager's periodic work until ctx is done: every
// LBStatusRecalc it starts a new window of the cluster lbmethod for every
// node; every second it forgets nodes removed more than WaitForRemove ago
// and, with Persist set, writes the registry's MCMP state when it changed
// (and once more on the way out). It returns nil, or the error of the last
// write to the persist file.
func (s *Server) Run(ctx context.Context) error {
	recalc := time.NewTicker(s.recalc)
	defer recalc.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	saved := s.restored // what the persist file holds
	save := func() error {
		if s.persist == "" {
			return nil
		}
		snap := s.store.Load()
		if snap.Version == saved {
			return nil
		}
		if err := s.save(snap); err != nil {
			s.log.Error("persist MCMP registrations", "file", s.persist, "err", err)
			return err
		}
		saved = snap.Version
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return save()
		case <-recalc.C:
			for _, n := range s.store.Load().Nodes() {
				n.Stats.RecalcLBStatus()
			}
		case <-tick.C:
			s.expire()
			s.logHeldRefusals()
			save() //nolint:errcheck // logged; retried at the next tick
		}
	}
}

// expire forgets nodes whose WaitForRemove has passed since REMOVE-APP "/*".
func (s *Server) expire() {
	now := s.now()
	var due []string
	for _, n := range s.store.Load().Nodes() {
		if n.Removed && now.Sub(n.RemovedAt) >= s.waitForRemove {
			due = append(due, n.JVMRoute)
		}
	}
	if len(due) == 0 {
		return
	}
	_, err := s.store.Update(func(d *registry.Draft) error {
		for _, route := range due {
			// A CONFIG may have revived it meanwhile.
			if n := d.Node(route); n != nil && n.Removed {
				if err := d.DeleteNode(route); err != nil {
					return err
				}
				s.log.Info("node removed", "route", route)
			}
		}
		return nil
	})
	if err != nil {
		s.log.Error("remove nodes", "err", err)
	}
}

// persisted is the persist file's content: MCMP balancers and the nodes
// with their aliases and contexts. Loads and counters are not kept: nodes
// report their load again within one STATUS period.
type persisted struct {
	Balancers []persistedBalancer `json:"balancers"`
	Nodes     []persistedNode     `json:"nodes"`
}

type persistedBalancer struct {
	Name        string        `json:"name"`
	ID          int           `json:"id"`
	Sticky      bool          `json:"sticky"`
	Cookie      string        `json:"cookie"`
	Path        string        `json:"path"`
	Remove      bool          `json:"remove"`
	Force       bool          `json:"force"`
	WaitWorker  time.Duration `json:"wait_worker"`
	MaxAttempts int           `json:"max_attempts"`
}

type persistedNode struct {
	ID           int                  `json:"id"`
	JVMRoute     string               `json:"jvmroute"`
	Balancer     string               `json:"balancer"`
	Domain       string               `json:"domain"`
	Type         string               `json:"type"`
	Host         string               `json:"host"`
	Port         string               `json:"port"`
	Reversed     bool                 `json:"reversed"`
	FlushPackets uint8                `json:"flushpackets"`
	FlushWait    time.Duration        `json:"flushwait"`
	Ping         time.Duration        `json:"ping"`
	Smax         int                  `json:"smax"`
	TTL          time.Duration        `json:"ttl"`
	Timeout      time.Duration        `json:"timeout"`
	Hosts        []registry.HostAlias `json:"hosts"`
	Contexts     []persistedContext   `json:"contexts"`
}

type persistedContext struct {
	ID    int                   `json:"id"`
	Vhost int                   `json:"vhost"`
	Path  string                `json:"path"`
	State registry.ContextState `json:"state"`
}

// save writes snap's MCMP state to the persist file atomically (a
// temporary file renamed over it).
func (s *Server) save(snap *registry.Snapshot) error {
	var p persisted
	for _, b := range snap.Balancers() {
		if c := b.Cluster; c != nil {
			p.Balancers = append(p.Balancers, persistedBalancer{
				Name: b.Name, ID: c.ID, Sticky: c.Sticky, Cookie: c.Cookie, Path: c.Path,
				Remove: b.StickySessionRemove, Force: b.NoFailover, WaitWorker: b.Timeout, MaxAttempts: b.MaxAttempts,
			})
		}
	}
	for _, n := range snap.Nodes() {
		if n.Removed {
			continue
		}
		pn := persistedNode{
			ID: n.ID, JVMRoute: n.JVMRoute, Balancer: n.Balancer, Domain: n.Domain, Type: n.Type, Host: n.Host,
			Port: n.Port, Reversed: n.Reversed, FlushPackets: n.FlushPackets, FlushWait: n.FlushWait, Ping: n.Ping,
			Smax: n.Smax, TTL: n.TTL, Timeout: n.Timeout, Hosts: n.Hosts,
		}
		for _, c := range n.Contexts {
			pn.Contexts = append(pn.Contexts, persistedContext{ID: c.ID, Vhost: c.Vhost, Path: c.Path, State: c.State})
		}
		p.Nodes = append(p.Nodes, pn)
	}
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.persist), filepath.Base(s.persist)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.persist)
}

// Restore loads the persist file into the registry, in one update. A
// missing file is not an error (first start). Call it before serving.
func (s *Server) Restore() error {
	if s.persist == "" {
		return nil
	}
	data, err := os.ReadFile(s.persist)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read MCMP persist file: %w", err)
	}
	var p persisted
	if err := json.Unmarshal(data, &p); err != nil {
		return fmt.Errorf("read MCMP persist file %s: %w", s.persist, err)
	}
	_, err = s.store.Update(func(d *registry.Draft) error {
		for _, pb := range p.Balancers {
			if cur := d.Balancer(pb.Name); cur != nil && cur.Cluster == nil {
				return fmt.Errorf("balancer %q of the MCMP nodes is now a configured balancer; rename one of them", pb.Name)
			}
			b := &registry.Balancer{
				Name: pb.Name, Source: registry.SourceMCMP, LBMethod: registry.Cluster,
				StickySessionSep: '.', StickyCookieFirst: true, FailOnTimeout: true, NoFailover: pb.Force, StickySessionRemove: pb.Remove,
				MaxAttempts: pb.MaxAttempts, Timeout: pb.WaitWorker,
				Cluster: &registry.ClusterSettings{ID: pb.ID, Sticky: pb.Sticky, Cookie: pb.Cookie, Path: pb.Path},
			}
			if pb.Sticky {
				b.StickySession = []string{pb.Cookie, pb.Path}
			}
			if err := d.PutBalancer(b); err != nil {
				return err
			}
		}
		for _, pn := range p.Nodes {
			n := &registry.Node{
				ID: pn.ID, JVMRoute: pn.JVMRoute, Balancer: pn.Balancer, Domain: pn.Domain, Type: pn.Type,
				Host: pn.Host, Port: pn.Port, Reversed: pn.Reversed, FlushPackets: pn.FlushPackets,
				FlushWait: pn.FlushWait, Ping: pn.Ping, Smax: pn.Smax, TTL: pn.TTL, Timeout: pn.Timeout, Hosts: pn.Hosts,
			}
			for _, c := range pn.Contexts {
				n.Contexts = append(n.Contexts, registry.NewContext(c.ID, c.Vhost, c.Path, c.State))
			}
			if err := d.PutNode(n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("restore MCMP registrations from %s: %w", s.persist, err)
	}
	s.restored = s.store.Load().Version
	s.log.Info("MCMP registrations restored", "file", s.persist, "nodes", len(p.Nodes))
	return nil
}
