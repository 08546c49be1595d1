package admin

import (
	"embed"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// consoleFS holds the console's page, script and style sheet: the console
// needs no file, build step or asset from outside the binary.
//
//go:embed console/console.html console/console.js console/console.css
var consoleFS embed.FS

var consolePage = template.Must(template.New("console.html").Funcs(template.FuncMap{
	"size": HumanSize,
	"join": strings.Join,
}).ParseFS(consoleFS, "console/console.html"))

// consoleNonceName is what the console's nonce is derived from: a name no
// balancer can have, so the console's nonce authorises no
// balancer-manager form and the other way round.
const consoleNonceName = "\x00console"

// consoleData is what console.html renders.
type consoleData struct {
	Version         string
	Now             string
	Nonce           string
	RegistryVersion uint64
	ClusterManager  bool
	Balancers       []BalancerView
	Actions         []string
	now             time.Time
}

// InState says how long the member has had its flags, e.g. "3m 20s".
func (d *consoleData) InState(m MemberView) string { return inState(d.now, m) }

// LastCheck gives the last health check's result and age, or "–".
func (d *consoleData) LastCheck(m MemberView) string { return lastCheck(d.now, m) }

// inState says how long before now the member's flags last changed, e.g.
// "3m 20s"; "" when unknown.
func inState(now time.Time, m MemberView) string {
	t, err := time.Parse(time.RFC3339, m.StatusSince)
	if err != nil {
		return ""
	}
	return shortDuration(now.Sub(t))
}

// lastCheck gives the member's last health check result and its age at
// now ("ok 5s ago", "failed 1m 2s ago"), or "–" without a check.
func lastCheck(now time.Time, m MemberView) string {
	t, err := time.Parse(time.RFC3339, m.CheckedAt)
	if err != nil {
		return "–"
	}
	res := "ok "
	if m.CheckFailed {
		res = "failed "
	}
	return res + shortDuration(now.Sub(t)) + " ago"
}

// shortDuration writes d as the console does: "42s", "3m 20s", "5h 2m",
// "2d 3h".
func shortDuration(d time.Duration) string {
	s := int64(max(d, 0) / time.Second)
	switch {
	case s < 60:
		return itoa(s) + "s"
	case s < 3600:
		return itoa(s/60) + "m " + itoa(s%60) + "s"
	case s < 86400:
		return itoa(s/3600) + "h " + itoa(s%3600/60) + "m"
	}
	return itoa(s/86400) + "d " + itoa(s%86400/3600) + "h"
}

// routeConsole mounts the console: the page at /, its balancer sections
// at /console/balancers (fetched when members come or go) and its script
// and style sheet.
func (h *Handler) routeConsole() {
	h.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { h.renderConsole(w, "console.html") })
	h.mux.HandleFunc("GET /console/balancers", func(w http.ResponseWriter, r *http.Request) { h.renderConsole(w, "balancers") })
	for name, ctype := range map[string]string{"console.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8"} {
		body, _ := consoleFS.ReadFile("console/" + name)
		h.mux.HandleFunc("GET /console/"+name, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", ctype)
			w.Header().Set("Cache-Control", "no-cache")
			w.Write(body)
		})
	}
}

func (h *Handler) renderConsole(w http.ResponseWriter, tmpl string) {
	now := h.now()
	_, cluster := h.extra["GET /mod_cluster_manager"]
	data := &consoleData{
		Version: h.version, Now: now.UTC().Format(time.RFC1123), Nonce: h.Nonce(consoleNonceName),
		RegistryVersion: h.store.Load().Version, ClusterManager: cluster, Balancers: h.views(),
		Actions: []string{"enable", "disable", "drain", "standby", "stop"}, now: now,
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	if err := consolePage.ExecuteTemplate(w, tmpl, data); err != nil {
		h.log.Error("render console", "err", err)
	}
}
