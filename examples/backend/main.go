// Command backend is the small application server the examples put behind
// barkeep: it answers every request with its name and what it saw, keeps
// sessions the way a Tomcat with a jvmRoute does (JSESSIONID=<id>.<name>),
// and has a health endpoint an operator can turn off and on.
//
//	go run ./examples/backend -listen 127.0.0.1:9001 -name node1
//	go run ./examples/backend -listen 127.0.0.1:9443 -name node1 -cert node1.crt -key node1.key
//
// Paths:
//
//	/health        200 "UP", or 503 "DOWN" after POST /health/down (POST /health/up undoes it)
//	anything else  200 "<name> <method> <path> proto=<HTTP/x> forwarded-proto=<X-Forwarded-Proto> visit=<n>"
package main

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9001", "address to listen on")
	name := flag.String("name", "node1", "name, also the route in session ids")
	cert := flag.String("cert", "", "PEM certificate: serve HTTPS (HTTP/2 and HTTP/1.1)")
	key := flag.String("key", "", "PEM key of -cert")
	flag.Parse()
	b := &backend{name: *name, visits: map[string]int{}}
	srv := &http.Server{Addr: *listen, Handler: b}
	log.Printf("backend %s on %s", *name, *listen)
	var err error
	if *cert != "" {
		err = srv.ListenAndServeTLS(*cert, *key)
	} else {
		err = srv.ListenAndServe()
	}
	log.Fatal(err)
}

type backend struct {
	name string
	down atomic.Bool
	mu   sync.Mutex
	// visits counts requests per session id; bounded by resetting.
	visits map[string]int
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/health/down" && r.Method == http.MethodPost:
		b.down.Store(true)
		fmt.Fprintln(w, "DOWN")
		return
	case r.URL.Path == "/health/up" && r.Method == http.MethodPost:
		b.down.Store(false)
		fmt.Fprintln(w, "UP")
		return
	case r.URL.Path == "/health":
		if b.down.Load() {
			http.Error(w, "DOWN", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "UP")
		return
	}
	id := ""
	if c, err := r.Cookie("JSESSIONID"); err == nil && strings.HasSuffix(c.Value, "."+b.name) {
		id = c.Value
	}
	b.mu.Lock()
	if len(b.visits) > 10000 {
		b.visits = map[string]int{}
	}
	if _, ok := b.visits[id]; !ok {
		var raw [8]byte
		rand.Read(raw[:])
		id = strings.ToUpper(hex.EncodeToString(raw[:])) + "." + b.name
		http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: id, Path: "/", HttpOnly: true})
	}
	b.visits[id]++
	n := b.visits[id]
	b.mu.Unlock()
	fmt.Fprintf(w, "%s %s %s proto=%s forwarded-proto=%s visit=%d\n", b.name, r.Method, r.URL.Path, r.Proto, r.Header.Get("X-Forwarded-Proto"), n)
}
