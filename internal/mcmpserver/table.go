package mcmpserver

import (
	"cmp"
	"slices"

	"github.com/barkeep-lb/barkeep/internal/registry"
	"github.com/barkeep-lb/barkeep/mcmp"
)

// removedName is what a node is listed as between the end of its
// WaitForRemove and the purge of its row (mod_cluster renames the row).
const removedName = "REMOVED"

// table returns what INFO and DUMP show, from the current snapshot.
func (s *Server) table() *mcmp.Table {
	return tableOf(s.store.Load())
}

func tableOf(snap *registry.Snapshot) *mcmp.Table {
	t := &mcmp.Table{}
	for _, b := range snap.Balancers() {
		if b.Cluster == nil {
			continue
		}
		t.Balancers = append(t.Balancers, mcmp.TableBalancer{
			ID: b.Cluster.ID, Name: b.Name, Sticky: b.Cluster.Sticky, Cookie: b.Cluster.Cookie, Path: b.Cluster.Path,
			Remove: b.StickySessionRemove, Force: b.NoFailover, Timeout: b.Timeout, MaxAttempts: b.MaxAttempts,
		})
	}
	slices.SortFunc(t.Balancers, func(a, b mcmp.TableBalancer) int { return cmp.Compare(a.ID, b.ID) })
	for _, n := range snap.Nodes() {
		st := n.Stats
		tn := mcmp.TableNode{
			ID: n.ID, JVMRoute: n.JVMRoute, Balancer: n.Balancer, Domain: n.Domain,
			Host: n.Host, Port: n.Port, Type: n.Type, FlushPackets: mcmp.FlushMode(n.FlushPackets),
			FlushWait: n.FlushWait, Ping: n.Ping, Smax: n.Smax, TTL: n.TTL, Timeout: n.Timeout,
			Elected: st.Elected.Load(), Read: st.Read.Load(), Transferred: st.Transferred.Load(),
			Connected: st.Busy.Load(), Load: int(st.Load.Load()),
		}
		if n.Renamed {
			tn.JVMRoute, tn.Domain, tn.Load = removedName, "", 0
		}
		t.Nodes = append(t.Nodes, tn)
		for _, h := range n.Hosts {
			t.Hosts = append(t.Hosts, mcmp.TableHost{ID: h.ID, Vhost: h.Vhost, Node: n.ID, Alias: h.Alias})
		}
		for _, c := range n.Contexts {
			t.Contexts = append(t.Contexts, mcmp.TableContext{ID: c.ID, Vhost: c.Vhost, Node: n.ID, Path: c.Path, Status: mcmp.ContextStatus(c.State)})
		}
	}
	slices.SortFunc(t.Hosts, func(a, b mcmp.TableHost) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(t.Contexts, func(a, b mcmp.TableContext) int { return cmp.Compare(a.ID, b.ID) })
	return t
}
