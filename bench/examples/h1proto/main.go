// Command h1proto holds three measurement prototypes for the harness. They
// answer one question: where does a Go proxy's CPU per request go, and how far
// would barkeep get by replacing pieces of net/http's HTTP/1.1 path? They are
// NOT product code: GET-shaped traffic only, no timeouts, no limits, no
// failover. Each one balances round robin over $BACKENDS and listens on
// $LISTEN, like bench/examples/goproxy:
//
//	h1proto transport  net/http server + httputil.ReverseProxy (as goproxy),
//	                   but a synchronous HTTP/1.1 RoundTripper instead of
//	                   http.Transport (no readLoop/writeLoop goroutines)
//	h1proto loop       as transport, and an own keep-alive server loop
//	                   (http.ReadRequest + a minimal ResponseWriter) instead
//	                   of http.Server; ReverseProxy stays the handler
//	h1proto floor      own server loop, own backend connections, no
//	                   net/http at all: the floor of an HTTP/1.1 proxy in Go
//
// CPUPROFILE=FILE writes a CPU profile of seconds 3..11 after start (inside
// the harness's measured window with its default WARMUP=2 DURATION=10).
//
// Through the harness: bench/run.sh all haproxy goproxy h1proto-transport
// h1proto-loop h1proto-floor barkeep (docs/performance.md has the numbers).
package main

import (
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: h1proto transport|loop|floor (reads LISTEN and BACKENDS)")
	}
	listen, backends := os.Getenv("LISTEN"), strings.Split(os.Getenv("BACKENDS"), ",")
	if listen == "" || backends[0] == "" {
		log.Fatal("need LISTEN and BACKENDS")
	}
	if f := os.Getenv("CPUPROFILE"); f != "" {
		go profile(f)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		log.Fatal(err)
	}
	switch os.Args[1] {
	case "transport":
		log.Fatal(http.Serve(ln, reverseProxy(backends)))
	case "loop":
		log.Fatal(serveLoop(ln, reverseProxy(backends)))
	case "floor":
		log.Fatal(serveFloor(ln, backends))
	default:
		log.Fatalf("unknown mode %q", os.Args[1])
	}
}

// reverseProxy is goproxy's handler with the synchronous transport.
func reverseProxy(backends []string) http.Handler {
	tr := &syncTransport{pools: map[string]*pool{}}
	var targets []*url.URL
	for _, b := range backends {
		targets = append(targets, &url.URL{Scheme: "http", Host: b})
		tr.pools[b] = &pool{addr: b}
	}
	var n atomic.Uint64
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(targets[(n.Add(1)-1)%uint64(len(targets))])
			pr.SetXForwarded()
		},
		Transport: tr,
	}
}

func profile(file string) {
	f, err := os.Create(file)
	if err != nil {
		log.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Fatal(err)
	}
	time.Sleep(8 * time.Second)
	pprof.StopCPUProfile()
	f.Close()
}
