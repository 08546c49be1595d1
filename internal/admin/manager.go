package admin

import (
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/barkeep-lb/barkeep/internal/registry"
)

//go:embed manager.html
var managerHTML string

var managerPage = template.Must(template.New("manager").Funcs(template.FuncMap{
	"size":    HumanSize,
	"seconds": func(s float64) string { return strconv.FormatFloat(s, 'f', -1, 64) },
	"join":    strings.Join,
	"split":   strings.Fields,
}).Parse(managerHTML))

// ErrNonce is the refusal of a change without the balancer's nonce.
var ErrNonce = errors.New("admin: nonce missing or wrong; nothing changed")

// pageData is what manager.html renders.
type pageData struct {
	Persist   bool // changes are kept in a state file
	Version   string
	Now       string
	Message   string
	Error     string
	Balancers []pageBalancer
	Edit      *pageBalancer // balancer selected with ?b=&nonce=
	EditM     *MemberView   // member selected with &w=
	Methods   []string
	Flags     []flagChoice
	now       time.Time
}

// InState says how long the member has had its flags, e.g. "3m 20s".
func (d *pageData) InState(m MemberView) string { return inState(d.now, m) }

// LastCheck gives the last health check's result and age, or "–".
func (d *pageData) LastCheck(m MemberView) string { return lastCheck(d.now, m) }

type pageBalancer struct {
	BalancerView
	Nonce string
	Link  string // ?b=...&nonce=...
}

type flagChoice struct {
	Param, Name string
	On          bool
}

// manager serves /balancer-manager: the page (GET), its XML form (?xml),
// and changes (POST, or GET with parameters as httpd accepts) authorised
// by the balancer's nonce.
func (h *Handler) manager(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	if r.Form.Has("xml") {
		h.managerXML(w)
		return
	}
	data := pageData{Version: h.version, Persist: h.statePath != ""}
	bal, member := r.Form.Get("b"), r.Form.Get("w")
	status := http.StatusOK
	if hasChanges(r.Form) {
		switch err := h.apply(r, bal, member, r.Form); {
		case errors.Is(err, ErrNonce):
			status, data.Error = http.StatusForbidden, err.Error()
		case err != nil:
			status, data.Error = http.StatusBadRequest, "nothing changed: "+err.Error()
		default:
			data.Message = "Changes applied to balancer " + bal
			if member != "" {
				data.Message += ", member " + member
			}
			if r.Method == http.MethodPost {
				// Post/redirect/get: a reload does not repeat the change.
				q := url.Values{"b": {bal}, "nonce": {h.Nonce(bal)}, "applied": {"1"}}
				if member != "" {
					q.Set("w", member)
				}
				http.Redirect(w, r, "/balancer-manager?"+q.Encode(), http.StatusSeeOther)
				return
			}
		}
	} else if r.Form.Has("applied") {
		data.Message = "Changes applied."
	}
	h.render(w, status, &data, bal, member, r.Form.Get("nonce"))
}

func (h *Handler) render(w http.ResponseWriter, status int, data *pageData, bal, member, nonce string) {
	now := h.now()
	data.now = now
	data.Now = now.UTC().Format(time.RFC1123)
	data.Methods = registry.LBMethodNames()
	for _, v := range h.views() {
		pb := pageBalancer{BalancerView: v, Nonce: h.Nonce(v.Name)}
		pb.Link = "?b=" + url.QueryEscape(v.Name) + "&nonce=" + pb.Nonce
		data.Balancers = append(data.Balancers, pb)
	}
	if bal != "" && h.nonceOK(bal, nonce) {
		for i := range data.Balancers {
			if data.Balancers[i].Name != bal {
				continue
			}
			data.Edit = &data.Balancers[i]
			for j := range data.Edit.Members {
				if m := &data.Edit.Members[j]; m.Name == member {
					data.EditM = m
					data.Flags = flagChoices(m.Status)
				}
			}
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := managerPage.Execute(w, data); err != nil {
		h.log.Error("render balancer-manager", "err", err)
	}
}

func flagChoices(status string) []flagChoice {
	return []flagChoice{
		{"w_status_I", "Ignore Errors", strings.Contains(status, "I")},
		{"w_status_N", "Draining Mode", strings.Contains(status, "N")},
		{"w_status_D", "Disabled", strings.Contains(status, "D")},
		{"w_status_H", "Hot Standby", strings.Contains(status, "H")},
		{"w_status_S", "Stopped", strings.Contains(status, "S")},
	}
}

// hasChanges reports whether the form asks for a change (httpd's w_* and
// b_* parameters).
func hasChanges(f url.Values) bool { return hasPrefix(f, "w_") || hasPrefix(f, "b_") }

// apply makes the changes in f to balancer bal (and member, if named) in
// one registry update, after checking the nonce, and writes the audit line.
func (h *Handler) apply(r *http.Request, bal, member string, f url.Values) error {
	if !h.nonceOK(bal, f.Get("nonce")) {
		return ErrNonce
	}
	if member == "" && hasPrefix(f, "w_") {
		return errors.New("member changes need w=<member URL>")
	}
	now := h.now()
	return h.change(r, "balancer-manager", func(d *registry.Draft) error {
		if err := d.EditBalancer(bal, func(b *registry.Balancer) error { return editBalancer(b, f) }); err != nil {
			return err
		}
		if member != "" {
			return d.EditMember(bal, member, func(m *registry.Member) error { return editMember(m, f, now) })
		}
		return nil
	})
}

func hasPrefix(f url.Values, p string) bool {
	for k := range f {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// managerMemberParams maps httpd's member parameters to the settings.
var managerMemberParams = [][2]string{{"w_lf", "loadfactor"}, {"w_ls", "lbset"}, {"w_wr", "route"}, {"w_rr", "redirect"}}

// editMember applies httpd's member parameters: w_lf loadfactor, w_ls
// lbset, w_wr route, w_rr redirect, w_status_X (X in I N D H S) 0 or 1.
func editMember(m *registry.Member, f url.Values, now time.Time) error {
	for _, p := range managerMemberParams {
		if f.Has(p[0]) {
			if err := setField(memberFields, m, p[1], f.Get(p[0])); err != nil {
				return err
			}
		}
	}
	before := m.Status
	for _, c := range "INDHS" {
		p := "w_status_" + string(c)
		if !f.Has(p) {
			continue
		}
		flag, _ := registry.StatusFlag(byte(c))
		on, err := boolText(p, f.Get(p))
		if err != nil {
			return err
		}
		if on {
			m.Status |= flag
		} else {
			m.Status &^= flag
		}
	}
	markStatusChange(before, m, now)
	return nil
}

// managerBalancerParams maps httpd's balancer parameters to the settings.
var managerBalancerParams = [][2]string{{"b_lbm", "lbmethod"}, {"b_tmo", "timeout"}, {"b_max", "maxattempts"}, {"b_sforce", "nofailover"}, {"b_ss", "stickysession"}}

// editBalancer applies httpd's balancer parameters: b_lbm lbmethod, b_tmo
// timeout (seconds or a duration), b_max maxattempts, b_sforce nofailover
// 0 or 1, b_ss stickysession names separated by '|' or ',' ("-" for none).
func editBalancer(b *registry.Balancer, f url.Values) error {
	for _, p := range managerBalancerParams {
		if f.Has(p[0]) {
			if err := setField(balancerFields, b, p[1], f.Get(p[0])); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkRedirects refuses a redirect naming no other member's route.
func checkRedirects(b *registry.Balancer) error {
	for _, m := range b.Members {
		if m.Redirect == "" {
			continue
		}
		i := slices.IndexFunc(b.Members, func(o *registry.Member) bool { return o.Route == m.Redirect })
		if i < 0 || b.Members[i] == m {
			return fmt.Errorf("member %s: redirect %q names no other member's route", m.Name, m.Redirect)
		}
	}
	return nil
}

// HumanSize formats a byte count n as httpd's apr_strfsize does: "512",
// "1.2K", "34M" (units of 1024 bytes).
func HumanSize(n uint64) string {
	const units = "KMGTPE"
	if n < 973 {
		return strconv.FormatUint(n, 10)
	}
	f := float64(n)
	i := -1
	for f >= 973 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if f < 9.95 {
		return strconv.FormatFloat(f, 'f', 1, 64) + string(units[i])
	}
	return strconv.FormatFloat(f, 'f', 0, 64) + string(units[i])
}
