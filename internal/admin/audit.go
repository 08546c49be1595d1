package admin

import (
	"errors"
	"net/http"
	"strings"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

// change runs fn in one registry update (all or nothing; redirects of
// every balancer must still name a member's route), then writes one audit
// line per balancer and member that changed, with who asked, from where,
// and each setting before → after, and saves the state file. action names
// what was asked ("drain", "patch", "balancer-manager"...).
func (h *Handler) change(r *http.Request, action string, fn func(d *registry.Draft) error) error {
	for attempt := 0; ; attempt++ {
		err := h.changeOnce(r, action, fn)
		if errors.Is(err, registry.ErrStale) && attempt < maxStaleRetries {
			continue // another balancer changed it meanwhile: again, on the newer state
		}
		return err
	}
}

func (h *Handler) changeOnce(r *http.Request, action string, fn func(d *registry.Draft) error) error {
	var before, after []*registry.Balancer
	snap, err := h.store.Update(func(d *registry.Draft) error {
		before = d.Balancers()
		if err := fn(d); err != nil {
			return err
		}
		after = d.Balancers()
		for _, b := range after {
			if err := checkRedirects(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	h.auditBalancers(r, action, before, after)
	h.SaveState()
	return h.commitMembers(r.Context(), snap, before, after)
}

// auditBalancers logs the differences between two sorted balancer lists.
func (h *Handler) auditBalancers(r *http.Request, action string, before, after []*registry.Balancer) {
	old := map[string]*registry.Balancer{}
	for _, b := range before {
		old[b.Name] = b
	}
	for _, b := range after {
		ob := old[b.Name]
		if ob == b {
			continue
		}
		if ob == nil {
			h.auditLine(r, action, b.Name, "", "added balancer")
			continue
		}
		if c := diffFields(balancerFields, ob, b); len(c) > 0 {
			h.auditLine(r, action, b.Name, "", formatChanges(c))
		}
		for _, m := range b.Members {
			om := ob.Member(m.Name)
			switch {
			case om == nil:
				h.auditLine(r, action, b.Name, m.Name, "added member: "+formatChanges(diffFields(memberFields, &registry.Member{}, m)))
			case om != m:
				if c := diffFields(memberFields, om, m); len(c) > 0 {
					h.auditLine(r, action, b.Name, m.Name, formatChanges(c))
				}
			}
		}
		for _, om := range ob.Members {
			if b.Member(om.Name) == nil {
				h.auditLine(r, action, b.Name, om.Name, "removed member")
			}
		}
	}
}

// auditLine writes one audit record: who (token, certificate or
// anonymous), client (the peer address), action, balancer, member and what
// changed.
func (h *Handler) auditLine(r *http.Request, action, balancer, member, what string) {
	id := who(r)
	attrs := []any{"who", id.Name, "client", r.RemoteAddr, "action", action, "balancer", balancer}
	if member != "" {
		attrs = append(attrs, "member", member)
	}
	h.audit.Info("change", append(attrs, "changes", what)...)
}

// formatChanges writes changes as `loadfactor 1 → 3, status "" → "N"` in
// the fields' fixed order.
func formatChanges(cs []Change) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.Field + " " + quoteEmpty(c.Before) + " → " + quoteEmpty(c.After)
	}
	return strings.Join(parts, ", ")
}

func quoteEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return s
}
