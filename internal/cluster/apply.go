package cluster

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// errConfigured is returned for a registration whose balancer is a
// balancer of this node's configuration file.
var errConfigured = errors.New("cluster: balancer is configured on this node; MCMP nodes cannot join it")

// applyNode makes d hold the registration doc (nil: the key was deleted)
// for route, numbering rows as this balancer's manager would. now is used
// for removal times the document does not carry; purgeAfter is how long
// after its removal a node is still listed. Errors leave d unchanged for
// this node.
func applyNode(d *registry.Draft, route string, doc *nodeDoc, now time.Time, purgeAfter time.Duration) error {
	old := d.Node(route)
	if doc == nil {
		if old == nil {
			return nil
		}
		return d.DeleteNode(route)
	}
	if doc.State == stateRemoved {
		return applyRemoved(d, old, doc, now, purgeAfter)
	}
	if err := putBalancer(d, doc.Balancer); err != nil {
		return err
	}
	n := &registry.Node{
		JVMRoute: route, Balancer: doc.Balancer.Name, Domain: doc.Domain, Type: doc.Type, Host: doc.Host,
		Port: doc.Port, Reversed: doc.Reversed, FlushPackets: doc.Flush, FlushWait: doc.FlushW, Ping: doc.Ping,
		Smax: doc.Smax, TTL: doc.TTL, Timeout: doc.Timeout,
	}
	if old != nil && old.Renamed {
		if err := d.DeleteNode(route); err != nil {
			return err
		}
		old = nil
	}
	// A removed node on the same address gives up its slot, as with a
	// CONFIG received here.
	slot := -1
	for _, o := range d.NodesAt(n.Host, n.Port) {
		if o.JVMRoute != route && o.Removed {
			slot = o.ID
			if err := d.DeleteNode(o.JVMRoute); err != nil {
				return err
			}
		}
	}
	switch {
	case old != nil:
		n.ID, n.Stats = old.ID, old.Stats
	case slot >= 0:
		n.ID = slot
	default:
		n.ID = d.FreeNodeID()
	}
	setRows(d, n, old, doc)
	return d.PutNode(n)
}

// applyRemoved marks the node removed at the document's time, keeping its
// row listed until its purge time as the manager does; a node unknown
// here, or removed long enough ago, is not listed at all.
func applyRemoved(d *registry.Draft, old *registry.Node, doc *nodeDoc, now time.Time, purgeAfter time.Duration) error {
	at := time.UnixMilli(doc.StateSince)
	if doc.StateSince == 0 || at.After(now) {
		at = now
	}
	if old == nil || old.Renamed {
		return nil
	}
	if now.Sub(at) >= purgeAfter {
		return d.DeleteNode(old.JVMRoute)
	}
	if old.Removed {
		return nil
	}
	n := old.Clone()
	n.Hosts, n.Contexts = nil, nil
	n.Removed, n.RemovedAt = true, at
	return d.PutNode(n)
}

// setRows gives n the aliases and contexts of doc, keeping the row ids
// (and the in-flight counters) of old's rows that stay.
func setRows(d *registry.Draft, n, old *registry.Node, doc *nodeDoc) {
	var oldHosts []registry.HostAlias
	var oldCtx []*registry.Context
	if old != nil && !old.Removed {
		oldHosts, oldCtx = old.Hosts, old.Contexts
	}
	nextHost, nextCtx := 0, 0
	for _, v := range doc.Vhosts {
		for _, a := range v.Aliases {
			i := slices.IndexFunc(oldHosts, func(h registry.HostAlias) bool { return h.Vhost == v.ID && h.Alias == a })
			id := 0
			if i >= 0 {
				id = oldHosts[i].ID
			} else {
				id = d.FreeHostID(nextHost)
				for slices.ContainsFunc(oldHosts, func(h registry.HostAlias) bool { return h.ID == id }) {
					id = d.FreeHostID(id + 1)
				}
				nextHost = id + 1
			}
			n.Hosts = append(n.Hosts, registry.HostAlias{ID: id, Vhost: v.ID, Alias: a})
		}
	}
	for _, c := range doc.Contexts {
		state := contextState(c.State)
		i := slices.IndexFunc(oldCtx, func(o *registry.Context) bool { return o.Vhost == c.Vhost && o.Path == c.Path })
		if i >= 0 {
			row := oldCtx[i]
			if row.State != state {
				cp := *row
				cp.State = state
				row = &cp
			}
			n.Contexts = append(n.Contexts, row)
			continue
		}
		id := d.FreeContextID(nextCtx)
		for slices.ContainsFunc(oldCtx, func(o *registry.Context) bool { return o.ID == id }) {
			id = d.FreeContextID(id + 1)
		}
		nextCtx = id + 1
		n.Contexts = append(n.Contexts, registry.NewContext(id, c.Vhost, c.Path, state))
	}
	slices.SortFunc(n.Hosts, func(a, b registry.HostAlias) int { return a.ID - b.ID })
	slices.SortFunc(n.Contexts, func(a, b *registry.Context) int { return a.ID - b.ID })
}

// putBalancer creates the MCMP balancer of a registration or rewrites its
// record, keeping members and counters.
func putBalancer(d *registry.Draft, bd balancerDoc) error {
	cur := d.Balancer(bd.Name)
	if cur != nil && cur.Cluster == nil {
		return fmt.Errorf("%w: %q", errConfigured, bd.Name)
	}
	if cur != nil && balancerDocOf(cur) == bd {
		return nil
	}
	return d.PutMCMPBalancer(registry.MCMPBalancer{
		Name: bd.Name, Sticky: bd.Sticky, Cookie: bd.Cookie, Path: bd.Path,
		Remove: bd.Remove, Force: bd.Force, WaitWorker: bd.WaitWorker, MaxAttempts: bd.MaxAttempts,
	}, 0)
}

// applyMember sets an operator's member settings, if this balancer has
// the member; it reports whether anything changed.
func applyMember(d *registry.Draft, doc *memberDoc) (bool, error) {
	b := d.Balancer(doc.Balancer)
	if b == nil {
		return false, nil
	}
	m := b.Member(doc.Member)
	if m == nil || memberDocOf(doc.Balancer, m).sameContent(doc) {
		return false, nil
	}
	status, err := registry.ParseStatus(doc.Status)
	if err != nil {
		return false, err
	}
	return true, d.EditMember(doc.Balancer, doc.Member, func(m *registry.Member) error {
		if m.Status != status {
			m.StatusSince = time.UnixMilli(doc.Since)
		}
		m.LoadFactor, m.LBSet, m.Route, m.Redirect, m.Status = doc.LoadFactor, doc.LBSet, doc.Route, doc.Redirect, status
		return nil
	})
}
