package mcmpserver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/mcmp"
)

// config applies a CONFIG in one registry update. It returns the answer to
// send: nil, a MEM refusal (nothing changed), or a GENERAL answer listing
// aliases or contexts that did not fit (the rest is registered).
func (s *Server) config(ctx context.Context, req *mcmp.ConfigRequest) error {
	var partial error
	err := s.replicated(ctx, func() (*registry.Snapshot, error) {
		snap, err := s.store.Update(func(d *registry.Draft) error {
			var err error
			partial, err = s.applyConfig(d, req)
			return err
		})
		if err != nil {
			return nil, asProtocolError(err, req.JVMRoute)
		}
		return snap, nil
	}, req.JVMRoute)
	if err != nil {
		return err
	}
	return partial
}

// asProtocolError turns an invariant violation the registry refused into
// the MEM answer for the node (it should not happen: the checks above
// mirror the registry's).
func asProtocolError(err error, route string) error {
	if _, ok := errors.AsType[*mcmp.ProtocolError](err); ok {
		return err
	}
	pe := mcmp.NodeTableFull(route)
	pe.Err = err
	return pe
}

// applyConfig is process_config: check the node against the registered
// ones, rewrite its balancer's record, register or update the node, add
// its aliases and contexts (STOPPED).
func (s *Server) applyConfig(d *registry.Draft, req *mcmp.ConfigRequest) (partial, err error) {
	bal := cmp.Or(req.Balancer, s.balancer)
	old := d.Node(req.JVMRoute)
	n := &registry.Node{
		JVMRoute: req.JVMRoute, Balancer: bal, Domain: req.Domain,
		Type: req.Type, Host: req.Host, Port: req.Port, Reversed: req.Reversed,
		FlushPackets: uint8(req.FlushPackets), FlushWait: req.FlushWait, Ping: req.Ping,
		Smax: req.Smax, TTL: req.TTL, Timeout: req.Timeout,
	}
	if old != nil && !old.Removed && !sameWorker(old, n) {
		return nil, mcmp.NodeExists(req.JVMRoute)
	}
	slot := -1
	if old != nil && old.Renamed {
		// Listed as REMOVED: no node has this route any more. This is a
		// new node, which takes over the row's slot on the same address.
		if err := d.DeleteNode(old.JVMRoute); err != nil {
			return nil, err
		}
		if nodeAddrEqual(old, n) {
			slot = old.ID
		}
		old = nil
	}
	for _, o := range d.NodesAt(n.Host, n.Port) {
		switch {
		case o.JVMRoute == n.JVMRoute:
		case !o.Removed && o.Balancer == bal && o.Member().Name == n.Member().Name:
			return nil, mcmp.WorkerExists()
		case o.Removed:
			// A node being removed on the same host:port, whatever its
			// type, gives up its slot (§3.1 step 3).
			slot = o.ID
			if err := d.DeleteNode(o.JVMRoute); err != nil {
				return nil, err
			}
		}
	}
	if err := s.putBalancer(d, bal, req); err != nil {
		return nil, err
	}
	switch {
	case old != nil:
		n.ID, n.Hosts, n.Contexts, n.Stats = old.ID, old.Hosts, old.Contexts, old.Stats
	case slot >= 0:
		n.ID = slot
	default:
		if d.NodeCount() >= s.maxNode {
			return nil, mcmp.NodeTableFull(req.JVMRoute)
		}
		n.ID = d.FreeNodeID()
	}
	var failures []string
	if len(req.Aliases) > 0 {
		n = n.Clone()
		_, _, failures = s.setContexts(d, n, req.Aliases, req.Contexts, registry.ContextStopped, false)
	}
	if err := d.PutNode(n); err != nil {
		return nil, err
	}
	if len(failures) > 0 {
		return &mcmp.ProtocolError{Type: mcmp.TypeGeneral, Mess: strings.Join(failures, ", ")}, nil
	}
	return nil, nil
}

func nodeAddrEqual(a, b *registry.Node) bool {
	return strings.EqualFold(strings.Trim(a.Host, "[]"), strings.Trim(b.Host, "[]")) && a.Port == b.Port
}

// sameWorker reports whether a CONFIG for a registered route keeps the
// fields that identify its worker (is_same_node).
func sameWorker(a, b *registry.Node) bool {
	return a.Balancer == b.Balancer && a.Host == b.Host && a.Port == b.Port && a.Type == b.Type &&
		a.Reversed == b.Reversed && a.Smax == b.Smax && a.TTL == b.TTL
}

// putBalancer creates the node's balancer or rewrites its record from the
// CONFIG: every sticky setting the message leaves out goes back to its
// default, as in the reference. Members and counters stay.
func (s *Server) putBalancer(d *registry.Draft, name string, req *mcmp.ConfigRequest) error {
	err := d.PutMCMPBalancer(registry.MCMPBalancer{
		Name: name, Sticky: req.StickySession, Cookie: req.StickySessionCookie, Path: req.StickySessionPath,
		Remove: req.StickySessionRemove, Force: req.StickySessionForce, WaitWorker: req.WaitWorker, MaxAttempts: req.MaxAttempts,
	}, s.maxHost)
	switch {
	case errors.Is(err, registry.ErrConfiguredBalancer):
		pe := mcmp.BalancerTableFull(req.JVMRoute)
		pe.Err = fmt.Errorf("balancer %q is configured in the file; MCMP nodes cannot join it", name)
		return pe
	case errors.Is(err, registry.ErrBalancerTableFull):
		return mcmp.BalancerTableFull(req.JVMRoute)
	}
	return err
}

// app applies a context-form or node-wide ENABLE-APP, DISABLE-APP,
// STOP-APP or REMOVE-APP, logs it and returns the answer body. A
// context-form STOP-APP that finds requests in flight waits up to
// StopAppWait (or until ctx is done) for them to end before it counts
// them: the Java worker asks again right after Tomcat's own count drops,
// before the response has left the balancer.
func (s *Server) app(ctx context.Context, req *mcmp.AppRequest) (string, error) {
	state := appState(req.Cmd)
	var touched []mcmp.AliasContexts
	var rows []*registry.Context
	err := s.replicated(ctx, func() (*registry.Snapshot, error) {
		snap, err := s.store.Update(func(d *registry.Draft) error {
			old := d.Node(req.JVMRoute)
			if old == nil || old.Removed {
				return mcmp.CantReadNode(req.JVMRoute)
			}
			n := old.Clone()
			if req.NodeWide {
				rows = s.nodeWide(n, req.Cmd, state)
			} else {
				touched, rows, _ = s.setContexts(d, n, req.Aliases, req.Contexts, state, req.Cmd == mcmp.RemoveApp)
			}
			return d.PutNode(n)
		})
		if err != nil {
			return nil, asProtocolError(err, req.JVMRoute)
		}
		return snap, nil
	}, req.JVMRoute)
	if err != nil {
		return "", err
	}
	inFlight := countInFlight(rows)
	if req.Cmd == mcmp.StopApp && !req.NodeWide && inFlight > 0 && s.stopAppWait > 0 {
		wctx, cancel := context.WithTimeout(ctx, s.stopAppWait)
		for _, c := range rows {
			c.AwaitIdle(wctx)
		}
		cancel()
		inFlight = countInFlight(rows)
	}
	if req.Cmd == mcmp.StopApp && !req.NodeWide && s.replicator != nil {
		// Requests to the context through the other balancers count too.
		inFlight += s.replicator.InFlight(ctx, req.JVMRoute, req.Aliases, req.Contexts)
	}
	s.logApp(req, inFlight)
	switch {
	case req.NodeWide:
		return "", nil
	case req.Cmd == mcmp.StopApp:
		return mcmp.StopAppResponse(req.JVMRoute, req.Aliases, req.Contexts, inFlight), nil
	}
	return mcmp.AppResponse(req.Cmd, req.JVMRoute, touched), nil
}

// countInFlight sums the requests in flight to rows, counting each row once
// (aliases sharing a vhost share its rows).
func countInFlight(rows []*registry.Context) int64 {
	var n int64
	counted := make(map[int]bool, len(rows))
	for _, c := range rows {
		if !counted[c.ID] {
			counted[c.ID] = true
			n += c.Requests.Load()
		}
	}
	return n
}

// logApp writes the one INFO line of an applied *-APP command.
func (s *Server) logApp(req *mcmp.AppRequest, inFlight int64) {
	msg := map[mcmp.Method]string{mcmp.EnableApp: "context enabled", mcmp.DisableApp: "context disabled",
		mcmp.StopApp: "context stopped", mcmp.RemoveApp: "context removed"}[req.Cmd]
	if req.NodeWide {
		msg = map[mcmp.Method]string{mcmp.EnableApp: "node contexts enabled", mcmp.DisableApp: "node contexts disabled",
			mcmp.StopApp: "node contexts stopped", mcmp.RemoveApp: "node removed; forgotten after wait_for_remove"}[req.Cmd]
		s.log.Info(msg, "route", req.JVMRoute, "requests", inFlight)
		return
	}
	s.log.Info(msg, "route", req.JVMRoute, "alias", strings.Join(req.Aliases, ","),
		"context", strings.Join(req.Contexts, ","), "requests", inFlight)
}

func appState(m mcmp.Method) registry.ContextState {
	switch m {
	case mcmp.EnableApp:
		return registry.ContextEnabled
	case mcmp.DisableApp:
		return registry.ContextDisabled
	}
	return registry.ContextStopped
}

// nodeWide applies a "/*" command to every context of n and returns the
// rows; REMOVE-APP drops them all with the aliases and marks the node
// removed.
func (s *Server) nodeWide(n *registry.Node, cmd mcmp.Method, state registry.ContextState) []*registry.Context {
	rows := n.Contexts
	if cmd == mcmp.RemoveApp {
		n.Hosts, n.Contexts = nil, nil
		n.Removed, n.RemovedAt = true, s.now()
		return rows
	}
	for i, c := range n.Contexts {
		nc := *c
		nc.State = state
		n.Contexts[i] = &nc
	}
	return n.Contexts
}

// setContexts sets contexts to state (or removes them) under the virtual
// host of aliases on node n, an unpublished copy. Aliases sent together
// share one virtual host: an alias the node has keeps its vhost, new ones
// join the vhost of the first known alias or a new one. It returns, per
// alias, the contexts touched; the context rows set (or removed); and, for rows that
// did not fit the tables, the reference's messages (a CONFIG answers them
// as GENERAL, the *-APP commands skip them silently).
func (s *Server) setContexts(d *registry.Draft, n *registry.Node, aliases, contexts []string,
	state registry.ContextState, remove bool) (touched []mcmp.AliasContexts, rows []*registry.Context, failures []string) {
	shared := 0
	for _, a := range aliases {
		if v := vhostOf(n, a); v != 0 {
			shared = v
			break
		}
	}
	if shared == 0 {
		for _, h := range n.Hosts {
			shared = max(shared, h.Vhost)
		}
		shared++
	}
	// Rows are counted and numbered across all nodes; n's rows are those of
	// the node it replaces plus the ones added here.
	hostRows, ctxRows := d.HostRows(), d.ContextRows()
	nextHost, nextCtx := 0, 0
	for _, a := range aliases {
		v := vhostOf(n, a)
		if v == 0 {
			if remove {
				continue
			}
			if hostRows >= s.maxHost {
				failures = append(failures, mcmp.HostNotInserted(n.JVMRoute, a))
				continue
			}
			id := d.FreeHostID(nextHost)
			hostRows, nextHost = hostRows+1, id+1
			n.Hosts = append(n.Hosts, registry.HostAlias{ID: id, Vhost: shared, Alias: a})
			v = shared
		}
		t := mcmp.AliasContexts{Alias: a}
		for _, path := range contexts {
			i := slices.IndexFunc(n.Contexts, func(c *registry.Context) bool { return c.Vhost == v && c.Path == path })
			switch {
			case remove:
				if i >= 0 {
					rows = append(rows, n.Contexts[i])
					n.Contexts = slices.Delete(n.Contexts, i, i+1)
				}
			case i >= 0:
				c := *n.Contexts[i]
				c.State = state
				n.Contexts[i] = &c
				rows = append(rows, &c)
			case ctxRows >= s.maxContext:
				failures = append(failures, mcmp.ContextNotInserted(n.JVMRoute, path, a))
				continue
			default:
				id := d.FreeContextID(nextCtx)
				ctxRows, nextCtx = ctxRows+1, id+1
				c := registry.NewContext(id, v, path, state)
				n.Contexts = append(n.Contexts, c)
				rows = append(rows, c)
			}
			t.Contexts = append(t.Contexts, path)
		}
		touched = append(touched, t)
	}
	if remove {
		n.Hosts = slices.DeleteFunc(n.Hosts, func(h registry.HostAlias) bool {
			return !slices.ContainsFunc(n.Contexts, func(c *registry.Context) bool { return c.Vhost == h.Vhost })
		})
	}
	slices.SortFunc(n.Hosts, func(a, b registry.HostAlias) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(n.Contexts, func(a, b *registry.Context) int { return cmp.Compare(a.ID, b.ID) })
	return touched, rows, failures
}

// vhostOf returns the virtual host of alias on n, or 0.
func vhostOf(n *registry.Node, alias string) int {
	for _, h := range n.Hosts {
		if h.Alias == alias {
			return h.Vhost
		}
	}
	return 0
}
