package demo

import (
	_ "embed"
	"html/template"
	"net/http"
	"sync/atomic"
)

//go:embed welcome.html
var welcomeHTML string

var welcomeTemplate = template.Must(template.New("welcome").Parse(welcomeHTML))

// Welcome is the demo's "/" page: what to try, with links to the pubs,
// the balancer-manager and the API. It answers GET and HEAD of "/" only
// (404 elsewhere). Safe for concurrent use; set the admin address with
// SetAdmin once the admin listener is bound.
type Welcome struct {
	admin atomic.Pointer[string]
}

// SetAdmin records the admin listener's host:port for the page's links.
func (w *Welcome) SetAdmin(hostPort string) { w.admin.Store(&hostPort) }

func (w *Welcome) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(rw, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		rw.Header().Set("Allow", "GET, HEAD")
		http.Error(rw, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	admin := ""
	if a := w.admin.Load(); a != nil {
		admin = *a
	}
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	welcomeTemplate.Execute(rw, map[string]string{"Admin": admin, "Host": r.Host})
}
