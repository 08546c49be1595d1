package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// routeAPI mounts the REST API v1 (docs/api.md).
func (h *Handler) routeAPI() {
	m := h.mux
	m.HandleFunc("GET /api/v1/balancers", h.apiBalancers)
	m.HandleFunc("GET /api/v1/balancers/{name}", h.apiBalancer)
	m.HandleFunc("PATCH /api/v1/balancers/{name}", h.apiPatchBalancer)
	m.HandleFunc("GET /api/v1/balancers/{name}/members", h.apiBalancerMembers)
	m.HandleFunc("POST /api/v1/balancers/{name}/members", h.apiAddMember)
	m.HandleFunc("GET /api/v1/balancers/{name}/members/{member}", h.apiMember)
	m.HandleFunc("PATCH /api/v1/balancers/{name}/members/{member}", h.apiPatchMember)
	m.HandleFunc("DELETE /api/v1/balancers/{name}/members/{member}", h.apiRemoveMember)
	m.HandleFunc("POST /api/v1/balancers/{name}/members/{member}/{action}", h.apiMemberAction)
	m.HandleFunc("GET /api/v1/members", h.apiMembers)
	m.HandleFunc("GET /api/v1/nodes", h.apiNodes)
	m.HandleFunc("GET /api/v1/nodes/{route}", h.apiNode)
	m.HandleFunc("GET /api/v1/contexts", h.apiContexts)
	m.HandleFunc("POST /api/v1/nodes/{route}/contexts/{id}/{action}", h.apiContextAction)
	m.HandleFunc("GET /api/v1/diff", h.apiDiff)
	m.HandleFunc("GET /api/v1/explain", h.apiExplain)
	m.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, http.StatusNotFound, "no such endpoint (see docs/api.md): "+r.Method+" "+r.URL.Path)
	})
}

func (h *Handler) views() []BalancerView {
	snap := h.store.Load()
	now := h.now()
	out := make([]BalancerView, 0, len(snap.Balancers()))
	for _, b := range snap.Balancers() {
		out = append(out, viewOf(snap, b, now))
	}
	return out
}

func (h *Handler) apiBalancers(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"version": h.store.Load().Version, "balancers": h.views()})
}

// balancerView answers the balancer named in the path, or a 404 problem.
func (h *Handler) balancerView(w http.ResponseWriter, r *http.Request) (BalancerView, bool) {
	snap := h.store.Load()
	b := snap.Balancer(r.PathValue("name"))
	if b == nil {
		writeError(w, r, fmt.Errorf("%w: %q", registry.ErrNoBalancer, r.PathValue("name")))
		return BalancerView{}, false
	}
	return viewOf(snap, b, h.now()), true
}

func (h *Handler) apiBalancer(w http.ResponseWriter, r *http.Request) {
	if v, ok := h.balancerView(w, r); ok {
		writeJSON(w, http.StatusOK, v)
	}
}

func (h *Handler) apiBalancerMembers(w http.ResponseWriter, r *http.Request) {
	if v, ok := h.balancerView(w, r); ok {
		writeJSON(w, http.StatusOK, map[string]any{"members": v.Members})
	}
}

func (h *Handler) apiMembers(w http.ResponseWriter, _ *http.Request) {
	out := []MemberView{}
	for _, b := range h.views() {
		out = append(out, b.Members...)
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": out})
}

// findMember returns the name of the member of b that key names: its route
// first, else its name (URL).
func findMember(b *registry.Balancer, key string) (string, error) {
	if b == nil {
		return "", registry.ErrNoBalancer
	}
	if m := b.ByRoute(key); m != nil {
		return m.Name, nil
	}
	if m := b.Member(key); m != nil {
		return m.Name, nil
	}
	return "", fmt.Errorf("%w: %q in balancer %q (give its route or URL)", registry.ErrNoMember, key, b.Name)
}

func (h *Handler) apiMember(w http.ResponseWriter, r *http.Request) {
	snap := h.store.Load()
	bal := r.PathValue("name")
	name, err := findMember(snap.Balancer(bal), r.PathValue("member"))
	if err != nil {
		writeError(w, r, noBalancer(err, bal))
		return
	}
	h.writeMember(w, bal, name, http.StatusOK)
}

func noBalancer(err error, bal string) error {
	if errors.Is(err, registry.ErrNoBalancer) {
		return fmt.Errorf("%w: %q", registry.ErrNoBalancer, bal)
	}
	return err
}

// writeMember answers the member's current view.
func (h *Handler) writeMember(w http.ResponseWriter, bal, name string, status int) {
	v := viewOf(h.store.Load(), h.store.Load().Balancer(bal), h.now())
	for _, m := range v.Members {
		if m.Name == name {
			writeJSON(w, status, m)
			return
		}
	}
	writeJSON(w, http.StatusOK, v) // removed meanwhile: the balancer
}

// readJSON decodes a change's body into v. Changes must be sent as
// application/json: a page of another site cannot send that without a
// CORS preflight, which this listener never approves (CSRF). An empty body
// leaves v as it is.
func readJSON(r *http.Request, v any) error {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" {
		return errUnsupportedMedia
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%w: read body: %w", ErrBadRequest, err)
	}
	if len(body) == 0 || v == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: body: %w", ErrBadRequest, err)
	}
	return nil
}

var errUnsupportedMedia = errors.New("admin: changes must be sent with Content-Type: application/json")

// write checks the request of a change (JSON body, console nonce when
// sent) and decodes its body into v; it answers the problem itself and
// reports false when the request is refused.
func (h *Handler) write(w http.ResponseWriter, r *http.Request, v any) bool {
	err := readJSON(r, v)
	if errors.Is(err, errUnsupportedMedia) {
		writeProblem(w, r, http.StatusUnsupportedMediaType, err.Error())
		return false
	}
	if err == nil {
		if n := r.Header.Get("X-Barkeep-Nonce"); n != "" && !h.nonceOK(consoleNonceName, n) {
			err = ErrNonce
		}
	}
	if err != nil {
		writeError(w, r, err)
		return false
	}
	return true
}

// memberActions are the status changes POST .../members/{m}/{action}
// makes: the flags set and the flags cleared.
var memberActions = map[string][2]registry.Status{
	"enable":  {0, registry.StatusDisabled | registry.StatusStopped | registry.StatusDrain | registry.StatusHotStandby},
	"disable": {registry.StatusDisabled, 0},
	"drain":   {registry.StatusDrain, 0},
	"standby": {registry.StatusHotStandby, 0},
	"stop":    {registry.StatusStopped, 0},
}

func (h *Handler) apiMemberAction(w http.ResponseWriter, r *http.Request) {
	action := r.PathValue("action")
	flags, ok := memberActions[action]
	if !ok {
		writeProblem(w, r, http.StatusNotFound, "unknown member action "+strconv.Quote(action)+" (want enable, disable, drain, standby or stop)")
		return
	}
	h.editMember(w, r, action, nil, func(m *registry.Member) error {
		m.Status = m.Status&^flags[1] | flags[0]
		return nil
	})
}

// MemberPatch is the body of PATCH /api/v1/balancers/{b}/members/{m}:
// the settings to change, each optional.
type MemberPatch struct {
	Status     *string `json:"status"`
	LoadFactor *int    `json:"loadfactor"`
	LBSet      *int    `json:"lbset"`
	Route      *string `json:"route"`
	Redirect   *string `json:"redirect"`
}

func (p *MemberPatch) apply(m *registry.Member) error {
	set := func(name string, v *string) error {
		if v == nil {
			return nil
		}
		return setField(memberFields, m, name, *v)
	}
	itoa := func(p *int) *string {
		if p == nil {
			return nil
		}
		s := strconv.Itoa(*p)
		return &s
	}
	return errors.Join(set("status", p.Status), set("loadfactor", itoa(p.LoadFactor)), set("lbset", itoa(p.LBSet)),
		set("route", p.Route), set("redirect", p.Redirect))
}

func (h *Handler) apiPatchMember(w http.ResponseWriter, r *http.Request) {
	var p MemberPatch
	h.editMember(w, r, "patch", &p, func(m *registry.Member) error {
		if err := p.apply(m); err != nil {
			return fmt.Errorf("%w: %w", ErrBadRequest, err)
		}
		return nil
	})
}

// editMember applies fn to the member named in the path, after write
// accepted the request (decoding the body into body), and answers the
// member's new state.
func (h *Handler) editMember(w http.ResponseWriter, r *http.Request, action string, body any, fn func(m *registry.Member) error) {
	if !h.write(w, r, body) {
		return
	}
	bal := r.PathValue("name")
	name, err := findMember(h.store.Load().Balancer(bal), r.PathValue("member"))
	if err == nil {
		now := h.now()
		err = h.change(r, action, func(d *registry.Draft) error {
			return d.EditMember(bal, name, func(m *registry.Member) error {
				before := m.Status
				if err := fn(m); err != nil {
					return err
				}
				markStatusChange(before, m, now)
				return nil
			})
		})
	}
	if err != nil {
		writeError(w, r, noBalancer(err, bal))
		return
	}
	h.writeMember(w, bal, name, http.StatusOK)
}

// BalancerPatch is the body of PATCH /api/v1/balancers/{b}: the settings
// to change as text, e.g. {"lbmethod": "bybusyness", "timeout": "5s"}.
type BalancerPatch map[string]string

func (h *Handler) apiPatchBalancer(w http.ResponseWriter, r *http.Request) {
	var p BalancerPatch
	if !h.write(w, r, &p) {
		return
	}
	bal := r.PathValue("name")
	err := h.change(r, "patch", func(d *registry.Draft) error {
		return d.EditBalancer(bal, func(b *registry.Balancer) error {
			var errs []error
			for _, f := range balancerFields { // fixed order
				if v, ok := p[f.name]; ok {
					errs = append(errs, f.set(b, v))
				}
			}
			for k := range p {
				if !hasField(k) {
					errs = append(errs, setField(balancerFields, b, k, "")) // names the known ones
				}
			}
			if err := errors.Join(errs...); err != nil {
				return fmt.Errorf("%w: %w", ErrBadRequest, err)
			}
			return nil
		})
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	h.apiBalancer(w, r)
}

func hasField(name string) bool {
	for _, f := range balancerFields {
		if f.name == name {
			return true
		}
	}
	return false
}

func (h *Handler) apiAddMember(w http.ResponseWriter, r *http.Request) {
	var spec MemberSpec
	if !h.write(w, r, &spec) {
		return
	}
	if spec.URL == "" {
		writeProblem(w, r, http.StatusBadRequest, `a new member needs "url": "scheme://host:port"`)
		return
	}
	bal := r.PathValue("name")
	var name string
	err := h.change(r, "add", func(d *registry.Draft) error {
		if err := addMember(d, bal, spec, h.now(), h.canon); err != nil {
			return err
		}
		b := d.Balancer(bal)
		name = b.Members[len(b.Members)-1].Name
		return nil
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	h.writeMember(w, bal, name, http.StatusCreated)
}

func (h *Handler) apiRemoveMember(w http.ResponseWriter, r *http.Request) {
	if !h.write(w, r, nil) {
		return
	}
	bal := r.PathValue("name")
	name, err := findMember(h.store.Load().Balancer(bal), r.PathValue("member"))
	if err == nil {
		err = h.change(r, "remove", func(d *registry.Draft) error { return removeMember(d, bal, name) })
	}
	if err != nil {
		writeError(w, r, noBalancer(err, bal))
		return
	}
	h.apiBalancer(w, r)
}

func (h *Handler) apiDiff(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, h.Diff())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
