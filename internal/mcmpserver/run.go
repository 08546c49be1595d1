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
	"github.com/barkeep-lb/barkeep/mcmp"
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
	idle := map[*registry.Stats]idleFailures{}
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
			idle = s.removeDeadNodes(idle)
		case <-tick.C:
			s.expire()
			s.logHeldRefusals()
			save() //nolint:errcheck // logged; retried at the next tick
		}
	}
}

// expire runs the removal timeline of nodes removed by REMOVE-APP "/*"
// (MCMP.md §4.3): WaitForRemove after it the row is renamed REMOVED, and
// another WaitForRemove plus 10 s later it is purged and its slot freed.
func (s *Server) expire() {
	now := s.now()
	var rename, purge []string
	for _, n := range s.store.Load().Nodes() {
		switch age := now.Sub(n.RemovedAt); {
		case !n.Removed:
		case age >= s.purgeAfter():
			purge = append(purge, n.JVMRoute)
		case !n.Renamed && age >= s.waitForRemove:
			rename = append(rename, n.JVMRoute)
		}
	}
	if len(rename)+len(purge) == 0 {
		return
	}
	_, err := s.store.Update(func(d *registry.Draft) error {
		for _, route := range purge {
			// A CONFIG may have revived it meanwhile.
			if n := d.Node(route); n != nil && n.Removed {
				if err := d.DeleteNode(route); err != nil {
					return err
				}
				s.log.Info("node slot freed", "route", route, "id", n.ID)
			}
		}
		for _, route := range rename {
			if n := d.Node(route); n != nil && n.Removed && !n.Renamed {
				n = n.Clone()
				n.Renamed = true
				if err := d.PutNode(n); err != nil {
					return err
				}
				s.log.Info("node removed", "route", route, "id", n.ID)
			}
		}
		return nil
	})
	if err != nil {
		s.log.Error("remove nodes", "err", err)
	}
}

// maxIdleFailures is mod_proxy_cluster's limit of failed probes of an
// idle node (num_failure_idle): one more and the node is removed, about
// 5 minutes with the default LBStatusRecalc.
const maxIdleFailures = 60

// idleFailures follows one node between LBStatusRecalc windows.
type idleFailures struct {
	read  uint64 // Stats.Read at the last window
	fails int    // windows in a row the node was idle and in error
}

// removeDeadNodes counts, per node, the windows in a row in which it read
// nothing while its health checks failed (or it was in error), and marks
// the nodes past maxIdleFailures removed, as REMOVE-APP "/*" does, so
// that registrations of nodes that died do not stay forever (§4.2). It
// returns the counts for the next window.
func (s *Server) removeDeadNodes(prev map[*registry.Stats]idleFailures) map[*registry.Stats]idleFailures {
	nodes := s.store.Load().Nodes()
	next := make(map[*registry.Stats]idleFailures, len(nodes))
	var dead []string
	for _, n := range nodes {
		if n.Removed {
			continue
		}
		st := n.Stats
		w, read := prev[st], st.Read.Load()
		if read == w.read && (st.HCFail.Load() || st.ErrorTime.Load() != 0) {
			w.fails++
		} else {
			w.fails = 0
		}
		w.read = read
		if w.fails > maxIdleFailures {
			dead = append(dead, n.JVMRoute)
		}
		next[st] = w
	}
	if len(dead) == 0 {
		return next
	}
	_, err := s.store.Update(func(d *registry.Draft) error {
		for _, route := range dead {
			n := d.Node(route)
			if n == nil || n.Removed {
				continue
			}
			n = n.Clone()
			s.nodeWide(n, mcmp.RemoveApp, 0)
			if err := d.PutNode(n); err != nil {
				return err
			}
			s.log.Warn("node removed: its health checks failed and it served nothing", "route", route,
				"for", time.Duration(maxIdleFailures+1)*s.recalc)
		}
		return nil
	})
	if err != nil {
		s.log.Error("remove dead nodes", "err", err)
	} else if s.replicator != nil {
		if err := s.replicator.CommitNodes(context.Background(), s.store.Load(), dead...); err != nil {
			s.log.Warn("removal of dead nodes not committed to the cluster", "err", err)
		}
	}
	return next
}

// purgeAfter is how long after REMOVE-APP "/*" a node's slot is freed.
func (s *Server) purgeAfter() time.Duration { return 2*s.waitForRemove + 10*time.Second }

// persisted is the persist file's content: MCMP balancers and the nodes
// with their aliases, contexts and last reported load (kept until the
// node's next STATUS, so a restart does not make it a hot standby).
// Counters are not kept.
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
	Load         int32                `json:"load"`
}

type persistedContext struct {
	ID    int                   `json:"id"`
	Vhost int                   `json:"vhost"`
	Path  string                `json:"path"`
	State registry.ContextState `json:"state"`
}

// save writes snap's MCMP state to the persist file atomically: a
// temporary file in the same directory, synced, renamed over it, and the
// directory synced.
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
			Smax: n.Smax, TTL: n.TTL, Timeout: n.Timeout, Hosts: n.Hosts, Load: n.Stats.Load.Load(),
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
	if err := os.Rename(tmp.Name(), s.persist); err != nil {
		return err
	}
	if dir, err := os.Open(filepath.Dir(s.persist)); err == nil {
		dir.Sync() //nolint:errcheck // not every file system syncs directories
		dir.Close()
	}
	return nil
}

// Restore loads the persist file into the registry, in one update. A
// missing file is not an error (first start). A file that cannot be
// decoded or applied (cut short by a crash, edited by hand) is moved aside
// to <file>.corrupt-<UTC time>, logged at ERROR, and barkeep starts
// without MCMP nodes: workers register again at their next period, and
// the configured balancers and routes serve meanwhile. Call it before
// serving.
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
	err = json.Unmarshal(data, &p)
	if err == nil {
		err = s.restore(&p)
		if _, conflict := errors.AsType[*balancerConflict](err); conflict {
			return fmt.Errorf("restore MCMP registrations from %s: %w", s.persist, err)
		}
	}
	if err != nil {
		aside := s.persist + ".corrupt-" + s.now().UTC().Format("20060102T150405Z")
		if rerr := os.Rename(s.persist, aside); rerr != nil {
			return fmt.Errorf("MCMP persist file %s is unusable (%w) and could not be moved aside: %w", s.persist, err, rerr)
		}
		s.log.Error("MCMP persist file unusable; moved aside, starting without MCMP nodes (workers register again at their next period)",
			"file", s.persist, "moved_to", aside, "err", err)
		return nil
	}
	s.restored = s.store.Load().Version
	s.log.Info("MCMP registrations restored", "file", s.persist, "nodes", len(p.Nodes))
	return nil
}

// balancerConflict is a persisted MCMP balancer whose name the
// configuration now uses: the operator must rename one, the file is fine.
type balancerConflict struct{ name string }

func (e *balancerConflict) Error() string {
	return fmt.Sprintf("balancer %q of the MCMP nodes is now a configured balancer; rename one of them", e.name)
}

// restore applies p to the registry in one update.
func (s *Server) restore(p *persisted) error {
	_, err := s.store.Update(func(d *registry.Draft) error {
		for _, pb := range p.Balancers {
			if cur := d.Balancer(pb.Name); cur != nil && cur.Cluster == nil {
				return &balancerConflict{pb.Name}
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
				Stats: new(registry.Stats),
			}
			if pn.JVMRoute == "" || pn.Load < -1 || pn.Load > 100 {
				return fmt.Errorf("node %d: JVMRoute %q, load %d", pn.ID, pn.JVMRoute, pn.Load)
			}
			n.Stats.Load.Store(pn.Load)
			for _, c := range pn.Contexts {
				if pe := mcmp.CheckContext(c.Path); pe != nil || c.State < registry.ContextEnabled || c.State > registry.ContextStopped {
					return fmt.Errorf("node %s: context %q in state %d", pn.JVMRoute, c.Path, c.State)
				}
				n.Contexts = append(n.Contexts, registry.NewContext(c.ID, c.Vhost, c.Path, c.State))
			}
			if d.Node(pn.JVMRoute) != nil {
				return fmt.Errorf("node %s listed twice", pn.JVMRoute)
			}
			if err := d.PutNode(n); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}
