// Package demo holds the backends behind "barkeep demo": three pubs on
// loopback, each a tiny stateful web application with sessions the way a
// Tomcat with a jvmRoute has them, and the configuration that puts a
// balancer in front of them.
package demo

import (
	"bytes"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"text/template"
)

// Pub is a demo backend. On a first visit it sets JSESSIONID=<random>.<route>
// (Path=/bar) and counts visits per session:
//
//	You are in the Oak (route oak), visit 3
//
// A session id with another pub's route counts as a first visit, as on a
// Tomcat without session replication. Safe for concurrent use.
type Pub struct {
	Name  string // "The Oak"
	Route string // "oak", the jvmRoute

	mu     sync.Mutex
	visits map[string]int
}

// Pubs returns the three demo pubs: the Elm, the Oak and the Ash.
func Pubs() []*Pub {
	return []*Pub{
		{Name: "Elm", Route: "elm"},
		{Name: "Oak", Route: "oak"},
		{Name: "Ash", Route: "ash"},
	}
}

// maxSessions bounds the sessions a pub remembers; beyond it the oldest
// are forgotten (all of them: this is a demo).
const maxSessions = 10000

func (p *Pub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := ""
	if c, err := r.Cookie("JSESSIONID"); err == nil && strings.HasSuffix(c.Value, "."+p.Route) {
		id = c.Value
	}
	p.mu.Lock()
	if p.visits == nil || len(p.visits) >= maxSessions {
		p.visits = map[string]int{}
	}
	if _, known := p.visits[id]; !known {
		id = newSessionID(p.Route)
		http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: id, Path: "/bar", HttpOnly: true})
	}
	p.visits[id]++
	n := p.visits[id]
	p.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "You are in the %s (route %s), visit %d\n", p.Name, p.Route, n)
}

func newSessionID(route string) string {
	var b [12]byte
	rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:])) + "." + route
}

//go:embed demo.yaml
var configTemplate string

// Backend is a pub as the configuration sees it.
type Backend struct {
	URL, Route string
}

// Config returns the demo's barkeep configuration: a client listener on
// listen, the admin listener on admin, balancer barcrawl with the backends
// behind /bar, and balancer welcome with the one member welcome (a URL,
// the server of a Welcome page) behind "/".
func Config(listen, admin string, backends []Backend, welcome string) ([]byte, error) {
	t, err := template.New("demo").Parse(configTemplate)
	if err != nil {
		return nil, fmt.Errorf("parse demo configuration template: %w", err)
	}
	var b bytes.Buffer
	err = t.Execute(&b, map[string]any{"Listen": listen, "Admin": admin, "Backends": backends, "Welcome": welcome})
	if err != nil {
		return nil, fmt.Errorf("fill in demo configuration: %w", err)
	}
	return b.Bytes(), nil
}
