package admin

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
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
	ID       int      `json:"id"`
	Node     string   `json:"node"` // the node's JVMRoute
	Balancer string   `json:"balancer"`
	Aliases  []string `json:"aliases"`
	Path     string   `json:"path"`
	Vhost    int      `json:"vhost"`
	State    string   `json:"state"`
	Requests int64    `json:"requests"`
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
	v.Contexts = append(v.Contexts, contextViews(n)...)
	return v
}

func contextViews(n *registry.Node) []ContextView {
	out := make([]ContextView, 0, len(n.Contexts))
	for _, c := range n.Contexts {
		aliases := n.Aliases(c.Vhost)
		if aliases == nil {
			aliases = []string{}
		}
		out = append(out, ContextView{ID: c.ID, Node: n.JVMRoute, Balancer: n.Balancer, Aliases: aliases,
			Path: c.Path, Vhost: c.Vhost, State: c.State.String(), Requests: c.Requests.Load()})
	}
	return out
}

var errNoNode = errors.New("admin: no such node")

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
		writeError(w, r, fmt.Errorf("%w with JVMRoute %q", errNoNode, r.PathValue("route")))
		return
	}
	writeJSON(w, http.StatusOK, nodeView(n, h.now()))
}

func (h *Handler) apiContexts(w http.ResponseWriter, _ *http.Request) {
	out := []ContextView{}
	for _, n := range h.store.Load().Nodes() {
		out = append(out, contextViews(n)...)
	}
	writeJSON(w, http.StatusOK, map[string]any{"contexts": out})
}

// contextActions are the states POST .../contexts/{id}/{action} sets, as
// mod_cluster_manager's Enable, Disable and Stop links do.
var contextActions = map[string]registry.ContextState{
	"enable": registry.ContextEnabled, "disable": registry.ContextDisabled, "stop": registry.ContextStopped,
}

// apiContextAction sets the state of one context of a node, named by its
// row id or its path (a path names every context of the node with that
// path, one per virtual host). The node's next ENABLE-APP, DISABLE-APP or
// STOP-APP sets it again: MCMP owns contexts, so these changes are not
// kept in the state file.
func (h *Handler) apiContextAction(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	state, ok := contextActions[action]
	if !ok {
		writeProblem(w, r, http.StatusNotFound, "unknown context action "+strconv.Quote(action)+" (want enable, disable or stop)")
		return
	}
	if !h.write(w, r, nil) {
		return
	}
	route, key := r.PathValue("route"), r.PathValue("id")
	var changed []ContextView
	var audits []string
	snap, err := h.store.Update(func(d *registry.Draft) error {
		n := d.Node(route)
		if n == nil || n.Removed {
			return fmt.Errorf("%w with JVMRoute %q", errNoNode, route)
		}
		nn := n.Clone()
		for i, c := range nn.Contexts {
			if strconv.Itoa(c.ID) != key && c.Path != key && c.Path != "/"+key {
				continue
			}
			cc := *c
			if cc.State != state {
				audits = append(audits, "context "+c.Path+" state "+c.State.String()+" → "+state.String())
			}
			cc.State = state
			nn.Contexts[i] = &cc
		}
		if err := d.PutNode(nn); err != nil {
			return err
		}
		for _, c := range contextViews(nn) {
			if strconv.Itoa(c.ID) == key || c.Path == key || c.Path == "/"+key {
				changed = append(changed, c)
			}
		}
		if len(changed) == 0 {
			return fmt.Errorf("%w: node %s has no context %q (give its id or path)", errNoNode, route, key)
		}
		return nil
	})
	if err == nil {
		err = h.commitNode(r.Context(), snap, route)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	n := h.store.Load().Node(route)
	for _, a := range audits {
		h.auditLine(r, "context "+action, n.Balancer, n.JVMRoute, a)
	}
	writeJSON(w, http.StatusOK, map[string]any{"contexts": changed})
}
