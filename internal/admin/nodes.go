package admin

import (
	"net/http"
	"time"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// NodeView is what the API shows of a node registered over MCMP.
type NodeView struct {
	ID          int           `json:"id"`
	JVMRoute    string        `json:"jvmroute"`
	Balancer    string        `json:"balancer"`
	Domain      string        `json:"domain"`
	URL         string        `json:"url"`
	Status      string        `json:"status"` // OK, NOTOK (in error or Load -1) or REMOVED
	Load        int32         `json:"load"`   // -1 broken, 0 standby, 1..100
	Elected     uint64        `json:"elected"`
	Busy        int64         `json:"busy"`
	Read        uint64        `json:"read"`
	Transferred uint64        `json:"transferred"`
	Errors      uint64        `json:"errors"`
	Vhosts      []VhostView   `json:"vhosts"`
	Contexts    []ContextView `json:"contexts"`
}

// VhostView is one virtual host of a node and its aliases.
type VhostView struct {
	ID      int      `json:"id"`
	Aliases []string `json:"aliases"`
}

// ContextView is one application context of a node; Requests counts the
// requests in flight to it.
type ContextView struct {
	Path     string `json:"path"`
	Vhost    int    `json:"vhost"`
	State    string `json:"state"`
	Requests int64  `json:"requests"`
}

func nodeView(n *registry.Node, now time.Time) NodeView {
	m := n.Member()
	v := NodeView{
		ID: n.ID, JVMRoute: n.JVMRoute, Balancer: n.Balancer, Domain: n.Domain, URL: m.Name,
		Status: "OK", Load: n.Stats.Load.Load(), Elected: n.Stats.Elected.Load(), Busy: n.Stats.Busy.Load(),
		Read: n.Stats.Read.Load(), Transferred: n.Stats.Transferred.Load(), Errors: n.Stats.Errors.Load(),
		Vhosts: []VhostView{}, Contexts: []ContextView{},
	}
	switch {
	case n.Removed:
		v.Status = "REMOVED"
	case v.Load < 0 || m.InError(now.UnixNano()):
		v.Status = "NOTOK"
	}
	for _, h := range n.Hosts {
		if len(v.Vhosts) == 0 || v.Vhosts[len(v.Vhosts)-1].ID != h.Vhost {
			v.Vhosts = append(v.Vhosts, VhostView{ID: h.Vhost, Aliases: n.Aliases(h.Vhost)})
		}
	}
	for _, c := range n.Contexts {
		v.Contexts = append(v.Contexts, ContextView{Path: c.Path, Vhost: c.Vhost, State: c.State.String(), Requests: c.Requests.Load()})
	}
	return v
}

func (h *Handler) apiNodes(w http.ResponseWriter, _ *http.Request) {
	snap := h.store.Load()
	now := h.now()
	nodes := make([]NodeView, 0, len(snap.Nodes()))
	for _, n := range snap.Nodes() {
		nodes = append(nodes, nodeView(n, now))
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": snap.Version, "nodes": nodes})
}

func (h *Handler) apiNode(w http.ResponseWriter, r *http.Request) {
	n := h.store.Load().Node(r.PathValue("route"))
	if n == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no node with JVMRoute " + r.PathValue("route")})
		return
	}
	writeJSON(w, http.StatusOK, nodeView(n, h.now()))
}
