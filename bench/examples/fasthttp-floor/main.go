// Command fasthttp-floor is the library floor for the harness: a minimal
// reverse proxy on github.com/valyala/fasthttp (its Server and one
// HostClient per backend), round robin over $BACKENDS, hop-by-hop headers
// removed, X-Forwarded-For added; no routes, sessions, health or retries.
// It shows what barkeep's request path costs above the HTTP library it is
// built on. Run it through the harness:
//
//	bench/run.sh all haproxy fasthttp-floor barkeep
package main

import (
	"log"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

var hopByHop = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Te", "Trailer", "Upgrade"}

func main() {
	listen := os.Getenv("LISTEN")
	var clients []*fasthttp.HostClient
	for _, b := range strings.Split(os.Getenv("BACKENDS"), ",") {
		clients = append(clients, &fasthttp.HostClient{Addr: b, MaxConns: 1024, MaxIdleConnDuration: 60 * time.Second,
			NoDefaultUserAgentHeader: true, DisablePathNormalizing: true})
	}
	if listen == "" || len(clients) == 0 {
		log.Fatal("need LISTEN and BACKENDS")
	}
	var n atomic.Uint64
	handler := func(ctx *fasthttp.RequestCtx) {
		req, resp := &ctx.Request, &ctx.Response
		for _, h := range hopByHop {
			req.Header.Del(h)
		}
		req.Header.Add("X-Forwarded-For", ctx.RemoteIP().String())
		hc := clients[(n.Add(1)-1)%uint64(len(clients))]
		if err := hc.Do(req, resp); err != nil {
			ctx.Error("502 Bad Gateway", fasthttp.StatusBadGateway)
			return
		}
		for _, h := range hopByHop {
			resp.Header.Del(h)
		}
	}
	srv := &fasthttp.Server{Handler: handler, NoDefaultServerHeader: true, NoDefaultContentType: true,
		IdleTimeout: 60 * time.Second, DisablePreParseMultipartForm: true}
	log.Fatal(srv.ListenAndServe(listen))
}
